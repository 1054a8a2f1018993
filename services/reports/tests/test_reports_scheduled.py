"""The monthly journal-keeping monitoring (R-R7) produced by the service on
the first school day of the next month, as a PDF for the deputy directors'
and directors' inboxes: a ``report_ready`` event in the outbox, in the
transaction that records it as produced.

The PDF renderer (reports.render) is built apart; until it is part of the
service these tests stand in for it with a function that returns bytes,
and check everything up to and after that call."""
from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from nameko.testing.services import entrypoint_hook
from sqlalchemy import create_engine, select

from kernel.db import new_id
from reports import documents, schedule, store

YEARS = [{"starts_on": dt.date(2026, 9, 1), "ends_on": dt.date(2027, 5, 31)}]


@pytest.mark.parametrize("today, due", [
    (dt.date(2026, 10, 1), "2026-09"),   # Thursday: the first school day of October
    (dt.date(2026, 10, 15), "2026-09"),  # later in the month: still due (a missed tick catches up)
    (dt.date(2026, 9, 1), None),         # August had no school day
    (dt.date(2026, 11, 1), None),        # Sunday; the first school day is Monday 2 November
    (dt.date(2026, 11, 2), "2026-10"),
    (dt.date(2027, 5, 3), "2027-04"),    # Monday 3 May
    (dt.date(2027, 6, 1), "2027-05"),    # after the year: May's on the first weekday of June
    (dt.date(2027, 7, 1), None),         # June had no school day
])
def test_due_month(today, due):
    assert schedule.due_month(today, YEARS) == due


def outbox(db_url):
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return [json.loads(r.body) for r in conn.execute(select(store.tables["outbox"]))]
    finally:
        engine.dispose()


def test_the_monthly_monitoring_goes_to_deputies_and_directors_once(container, school, db_url, monkeypatch):
    year = school.year()
    class_id = school.school_class(year["year_id"])
    deputy, director, teacher = new_id(), new_id(), new_id()
    for user_id, name, roles in ((deputy, "Громова Лидия", ["deputy"]), (director, "Орлов Пётр", ["director"]),
                                 (teacher, "Фёдоров Антон", ["teacher"])):
        school.identity("user_created", {"user_id": user_id, "login": "u" + user_id[:6], "full_name": name,
                                         "roles": roles, "email": None, "birth_date": None, "sex": None})
    school.student(class_id, "Алексеева Мария")
    rendered = []

    def render(report, fmt):  # stands in for reports.render.render (see the module's docstring)
        rendered.append((report["kind"], report["month"], fmt, report["document"]["title"]))
        return b"%PDF-1.7 monitoring"

    monkeypatch.setattr(documents, "render_bytes", render)
    with entrypoint_hook(container, "deliver_scheduled") as deliver:
        assert deliver("2026-09-30") == []  # September: nothing due yet
        [produced] = deliver("2026-10-01")
        assert deliver("2026-10-02") == []  # produced once
    assert produced == {"school_id": school.school_id, "month": "2026-09",
                        "recipients": sorted([deputy, director]), "size": 19}
    assert rendered == [("journal-monitoring", "2026-09", "pdf", "Мониторинг ведения электронного журнала")]
    [event] = [e for e in outbox(db_url) if e["type"] == "report_ready"]
    payload = event["payload"]
    assert (event["producer"], event["school_id"]) == ("reports", school.school_id)
    assert payload["recipient_ids"] == sorted([deputy, director]) and payload["month"] == "2026-09"
    assert payload["subject"] == "Мониторинг ведения электронного журнала за сентябрь 2026"
    assert "во вложении" in payload["body"]
    attachment = payload["attachment"]
    assert base64.b64decode(attachment["content_base64"]) == b"%PDF-1.7 monitoring"
    assert (attachment["content_type"], attachment["size"]) == ("application/pdf", 19)
    assert attachment["name"].endswith(".pdf") and "Мониторинг" in attachment["name"]


def test_a_pdf_that_cannot_be_made_records_nothing_and_the_next_tick_tries_again(container, school, db_url,
                                                                             monkeypatch):
    school.year()

    def no_renderer(report, fmt):
        raise ValueError("document.sections[0]: malformed")

    monkeypatch.setattr(documents, "render_bytes", no_renderer)
    with entrypoint_hook(container, "deliver_scheduled") as deliver:
        assert deliver("2026-10-01") == []
    assert [e for e in outbox(db_url) if e["type"] == "report_ready"] == []
    monkeypatch.setattr(documents, "render_bytes", lambda report, fmt: b"%PDF")
    with entrypoint_hook(container, "deliver_scheduled") as deliver:
        assert [p["month"] for p in deliver("2026-10-01")] == ["2026-09"]
