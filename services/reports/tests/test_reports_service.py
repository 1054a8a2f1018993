"""The reports nameko service on the real RabbitMQ and PostgreSQL: journal and
identity events published to their exchanges build the projection, and the
progress RPC answers from it (R-R5)."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook
from sqlalchemy import create_engine, func, select

from kernel.db import new_id
from kernel.errors import InvalidContext, ServiceError
from kernel.events import utcnow
from reports.errors import ClassNotFound, NotAllowed, PeriodNotFound, PeriodNotInClassYear, ValidationError
from reports.store import Mark, Person, tables


def call(container, method, *args):
    with entrypoint_hook(container, method) as hook:
        return hook(*args)


def count(db_url, table_or_model, **where):
    engine = create_engine(db_url)
    try:
        table = getattr(table_or_model, "__table__", table_or_model)
        query = select(func.count()).select_from(table)
        for column, value in where.items():
            query = query.where(table.c[column] == value)
        with engine.connect() as conn:
            return conn.execute(query).scalar_one()
    finally:
        engine.dispose()


@pytest.fixture
def class_5a(school):
    """5А with two assigned subjects and three students, in a year with two quarters."""
    year = school.year()
    math, rus = school.subject("Математика"), school.subject("Русский язык")
    class_id = school.school_class(year["year_id"])
    school.assign(class_id, math)
    school.assign(class_id, rus)
    students = {name: school.student(class_id, name) for name in ("Сидоров Павел", "Алексеева Мария", "Ёжиков Илья")}
    return {"year": year, "q1": year["periods"][0], "q2": year["periods"][1], "class_id": class_id,
            "math": math, "rus": rus, "students": students}


def test_health(container):
    health = call(container, "health")
    assert (health["status"], health["service"], list(health["detail"])) == ("ok", "reports", ["selfcheck"])


def test_progress_from_journal_and_identity_events_R_R5(container, school, class_5a, ctx_for):
    c, s = class_5a, class_5a["students"]
    day = "2026-09-15"
    school.mark(c["class_id"], s["Алексеева Мария"], c["math"], day, 5)
    school.mark(c["class_id"], s["Алексеева Мария"], c["math"], "2026-09-16", 4, weight=2, kind="control")
    school.mark(c["class_id"], s["Алексеева Мария"], c["rus"], day, 5)
    school.mark(c["class_id"], s["Сидоров Павел"], c["math"], day, 4)
    school.mark(c["class_id"], s["Сидоров Павел"], c["math"], "2026-09-17", 3)   # 3.5 -> 4
    school.mark(c["class_id"], s["Сидоров Павел"], c["rus"], day, 2)
    # Ёжиков Илья has no marks

    report = call(container, "progress", ctx_for(school.school_id), c["class_id"], c["q1"]["id"])

    assert report["kind"] == "progress"
    assert report["class"] == {"id": c["class_id"], "name": "5А"}
    assert report["period"] == {"id": c["q1"]["id"], "name": "1 четверть",
                                "starts_on": "2026-09-01", "ends_on": "2026-10-26"}
    assert report["subjects"] == [{"id": c["math"], "name": "Математика"}, {"id": c["rus"], "name": "Русский язык"}]
    assert [r["full_name"] for r in report["students"]] == ["Алексеева Мария", "Ёжиков Илья", "Сидоров Павел"]
    alekseeva, ezhikov, sidorov = report["students"]
    assert alekseeva["subjects"][0] == {"subject_id": c["math"], "marks": [5, 4], "count": 2, "average": 4.5,
                                        "weighted_average": 4.33, "rounded": 4, "final": None, "counted": 4}
    assert alekseeva["average"] == 4.67              # (13/3 + 5) / 2
    assert sidorov["subjects"][0]["rounded"] == 4 and sidorov["subjects"][1]["rounded"] == 2
    assert ezhikov["average"] is None and all(x["count"] == 0 for x in ezhikov["subjects"])
    assert report["summary"] == {"students": 3, "pass_rate": 33.3, "quality": 33.3, "excellent": 0,
                                 "with_one_3": 0, "failing": 1, "without_marks": 1}
    assert report["basis"] == "current_averages"
    assert report["generated_at"].endswith("+00:00")
    json.dumps(report)  # the gateway gets it over AMQP as JSON


def test_duplicate_mark_posted_changes_nothing_R_R5(container, school, class_5a, ctx_for, publish, db_url):
    c = class_5a
    student = c["students"]["Сидоров Павел"]
    env = school.mark(c["class_id"], student, c["math"], "2026-09-15", 5)
    before = call(container, "progress", ctx_for(school.school_id), c["class_id"], c["q1"]["id"])

    publish.send(env)                                   # redelivery of the same event
    publish("journal", "mark_posted", {**env["payload"], "value": 2}, school.school_id)  # same mark id again

    after = call(container, "progress", ctx_for(school.school_id), c["class_id"], c["q1"]["id"])
    assert count(db_url, Mark) == 1
    # idempotent by the mark id itself, without a processed-event row per mark
    assert count(db_url, tables["processed_events"], consumer="reports.on_mark_posted") == 0
    row = next(r for r in after["students"] if r["id"] == student)
    assert row["subjects"][0]["marks"] == [5]
    assert {k: v for k, v in after.items() if k not in ("generated_at", "document")} == \
        {k: v for k, v in before.items() if k not in ("generated_at", "document")}


def test_mark_outside_the_period_is_not_counted_R_R5(container, school, class_5a, ctx_for):
    c = class_5a
    student = c["students"]["Сидоров Павел"]
    school.mark(c["class_id"], student, c["math"], "2026-08-31", 2)   # before the first quarter
    school.mark(c["class_id"], student, c["math"], "2026-09-01", 5)   # its first day
    school.mark(c["class_id"], student, c["math"], "2026-10-26", 4)   # its last day
    school.mark(c["class_id"], student, c["math"], "2026-11-09", 2)   # in the second quarter

    q1 = call(container, "progress", ctx_for(school.school_id), c["class_id"], c["q1"]["id"])
    row = next(r for r in q1["students"] if r["id"] == student)
    assert row["subjects"][0]["marks"] == [5, 4] and q1["summary"]["failing"] == 0

    q2 = call(container, "progress", ctx_for(school.school_id), c["class_id"], c["q2"]["id"])
    row = next(r for r in q2["students"] if r["id"] == student)
    assert row["subjects"][0]["marks"] == [2] and q2["summary"]["failing"] == 1

    year = call(container, "progress", ctx_for(school.school_id), c["class_id"], c["year"]["year_id"])
    row = next(r for r in year["students"] if r["id"] == student)
    assert year["period"]["name"] == "2026/2027" and row["subjects"][0]["marks"] == [5, 4, 2]


def test_another_schools_class_or_period_is_not_found(container, school, class_5a, ctx_for):
    c = class_5a
    with pytest.raises(ClassNotFound):
        call(container, "progress", ctx_for(new_id(), "admin"), c["class_id"], c["q1"]["id"])
    with pytest.raises(ClassNotFound):
        call(container, "progress", ctx_for(school.school_id), new_id(), c["q1"]["id"])
    with pytest.raises(PeriodNotFound):
        call(container, "progress", ctx_for(school.school_id), c["class_id"], new_id())


def test_period_of_another_year_is_refused(container, school, class_5a, ctx_for):
    other_year = school.year()
    with pytest.raises(PeriodNotInClassYear):
        call(container, "progress", ctx_for(school.school_id), class_5a["class_id"], other_year["periods"][0]["id"])


def test_parents_and_students_are_forbidden_R_A3(container, school, class_5a, ctx_for):
    c = class_5a
    for roles in (("parent",), ("student",)):
        with pytest.raises(NotAllowed):
            call(container, "progress", ctx_for(school.school_id, *roles), c["class_id"], c["q1"]["id"])
    with pytest.raises(InvalidContext):
        call(container, "progress", {"roles": ["admin"]}, c["class_id"], c["q1"]["id"])


def test_malformed_ids_are_validation_errors(container, school, ctx_for):
    for class_id, period_id in (("5А", new_id()), (new_id(), None), (42, new_id())):
        with pytest.raises(ValidationError):
            call(container, "progress", ctx_for(school.school_id), class_id, period_id)


def test_errors_reach_the_gateway_as_service_error_json(container, rabbit_config, school, class_5a, ctx_for):
    """Over AMQP, as the gateway calls it: kind/code/message survive for its error table."""
    with ServiceRpcProxy("reports", rabbit_config) as reports:
        health = reports.health()
        assert (health["status"], health["service"]) == ("ok", "reports")
        with pytest.raises(RemoteError) as err:
            reports.progress(ctx_for(school.school_id, "parent"), class_5a["class_id"], class_5a["q1"]["id"])
        assert ServiceError.parse(err.value.value) == {
            "kind": "forbidden", "code": "FORBIDDEN", "message": "Отчёты доступны администрации, классным руководителям и учителям",
            "details": {}}
        report = reports.progress(ctx_for(school.school_id, "class_teacher"), class_5a["class_id"],
                                  class_5a["q1"]["id"])
        assert report["summary"]["students"] == 3


def test_malformed_event_is_dead_lettered_and_the_service_goes_on(container, school, class_5a, ctx_for, db_url):
    c = class_5a
    student = c["students"]["Сидоров Павел"]
    bad = school.mark_payload(c["class_id"], student, c["math"], "2026-09-15", "five")
    env = school.journal("mark_posted", bad)
    assert count(db_url, tables["dead_letters"], event_id=env["id"]) == 1
    school.mark(c["class_id"], student, c["math"], "2026-09-16", 5)
    report = call(container, "progress", ctx_for(school.school_id), c["class_id"], c["q1"]["id"])
    row = next(r for r in report["students"] if r["id"] == student)
    assert row["subjects"][0]["marks"] == [5]


def test_late_user_created_keeps_roles_from_an_earlier_handled_change(container, school, db_url):
    """roles_changed may overtake user_created; the newest roles win (R-A5 grants)."""
    user_id = new_id()
    school.identity("roles_changed", {"user_id": user_id, "roles": ["deputy"], "before": ["teacher"]})
    school.identity("user_created", {"user_id": user_id, "login": "orlova", "full_name": "Орлова Вера",
                                     "roles": ["teacher"], "email": None, "birth_date": None, "sex": None},
                    occurred_at=(utcnow() - dt.timedelta(minutes=1)).isoformat())
    engine = create_engine(db_url)
    with engine.connect() as conn:
        person = conn.execute(select(Person.full_name, Person.roles).where(Person.id == user_id)).one()
    engine.dispose()
    assert person.full_name == "Орлова Вера" and person.roles == ["deputy"]


def _marks_of(report, student_id):
    row = next(r for r in report["students"] if r["id"] == student_id)
    return [m for subject in row["subjects"] for m in subject["marks"]]


def test_corrected_and_removed_marks_change_the_report_R_J7(container, school, class_5a, ctx_for, publish):
    """A correction replaces the mark's value, a removal takes it out of the
    report; a stale version (redelivered or overtaken) changes nothing."""
    c = class_5a
    student = c["students"]["Сидоров Павел"]
    posted = school.mark(c["class_id"], student, c["math"], "2026-09-15", 2)["payload"]
    other = school.mark(c["class_id"], student, c["math"], "2026-09-16", 4)["payload"]
    school.journal("mark_corrected", {**posted, "value": 5, "version": 2, "reason": "ошибка ввода",
                                      "old": {"value": 2, "kind": "oral", "weight": 1, "comment": None},
                                      "corrected_by": new_id()})
    school.journal("mark_corrected", {**posted, "value": 3, "version": 2, "reason": "повтор",
                                      "old": {}, "corrected_by": new_id()})  # same version again: ignored
    report = call(container, "progress", ctx_for(school.school_id), c["class_id"], c["q1"]["id"])
    assert sorted(_marks_of(report, student)) == [4, 5]

    school.journal("mark_removed", {k: other[k] for k in ("mark_id", "lesson_id", "student_id", "class_id",
                                                          "subject_id", "subject_name", "date")}
                   | {"version": 2, "old_value": 4, "reason": "не тот ученик", "removed_by": new_id()})
    report = call(container, "progress", ctx_for(school.school_id), c["class_id"], c["q1"]["id"])
    assert _marks_of(report, student) == [5]


def test_a_correction_overtaking_its_mark_posted_wins_R_J7(container, school, class_5a, ctx_for, publish):
    """Events of one mark travel on different queues: the late mark_posted
    (version 1) must not undo a correction (version 2) that came first."""
    c = class_5a
    student = c["students"]["Алексеева Мария"]
    payload = school.mark_payload(c["class_id"], student, c["math"], "2026-09-20", 3)
    school.journal("mark_corrected", {**payload, "value": 4, "version": 2, "reason": "пересдача",
                                      "old": {"value": 3}, "corrected_by": new_id()})
    school.journal("mark_posted", payload)
    report = call(container, "progress", ctx_for(school.school_id), c["class_id"], c["q1"]["id"])
    assert _marks_of(report, student) == [4]


def test_final_marks_are_the_basis_once_posted_R_R5_R_F1(container, school, class_5a, ctx_for, publish, db_url):
    """Journal's marks and final marks through the broker: the open period
    counts the rounded current averages; once final marks are posted they
    count, a repost supersedes the previous one whatever order they arrive
    in, and a student with a final 2 is failing although their current
    average rounds to 3."""
    c, s = class_5a, class_5a["students"]
    q1 = c["q1"]["id"]
    for value, day in ((2, "2026-09-15"), (3, "2026-09-16"), (4, "2026-09-17")):   # 3.00 -> 3
        school.mark(c["class_id"], s["Сидоров Павел"], c["math"], day, value)
    school.mark(c["class_id"], s["Сидоров Павел"], c["rus"], "2026-09-15", 4)
    school.mark(c["class_id"], s["Алексеева Мария"], c["math"], "2026-09-15", 5)
    school.mark(c["class_id"], s["Алексеева Мария"], c["math"], "2026-09-16", 4)        # 4.5 -> 5
    school.mark(c["class_id"], s["Алексеева Мария"], c["rus"], "2026-09-15", 5)
    school.mark(c["class_id"], s["Ёжиков Илья"], c["math"], "2026-09-15", 3)

    open_period = call(container, "progress", ctx_for(school.school_id), c["class_id"], q1)
    assert open_period["basis"] == "current_averages"
    assert open_period["summary"] == {"students": 3, "pass_rate": 100.0, "quality": 33.3, "excellent": 1,
                                      "with_one_3": 2, "failing": 0, "without_marks": 0}

    first = school.final_payload(c["class_id"], s["Сидоров Павел"], c["math"], q1, 3, version=1)
    repost = school.final_payload(c["class_id"], s["Сидоров Павел"], c["math"], q1, 2, version=2)
    school.journal("final_mark_posted", repost)
    env = school.journal("final_mark_posted", first)         # the superseded one arrives late: ignored
    publish.send(env)                                         # and a redelivery changes nothing
    school.final(c["class_id"], s["Сидоров Павел"], c["rus"], q1, 4)
    school.final(c["class_id"], s["Алексеева Мария"], c["math"], q1, 5)
    school.final(c["class_id"], s["Алексеева Мария"], c["rus"], q1, 5)
    # Ёжиков Илья: no final mark yet

    closed = call(container, "progress", ctx_for(school.school_id), c["class_id"], q1)
    assert closed["basis"] == "final_marks"
    sidorov = next(r for r in closed["students"] if r["id"] == s["Сидоров Павел"])
    assert [(x["rounded"], x["final"], x["counted"]) for x in sidorov["subjects"]] == [(3, 2, 2), (4, 4, 4)]
    ezhikov = next(r for r in closed["students"] if r["id"] == s["Ёжиков Илья"])
    assert [(x["final"], x["counted"]) for x in ezhikov["subjects"]] == [(None, 3), (None, None)]
    assert closed["summary"] == {"students": 3, "pass_rate": 66.7, "quality": 33.3, "excellent": 1,
                                 "with_one_3": 1, "failing": 1, "without_marks": 0}
    assert closed["finals"] == {"posted": 4, "missing": 2, "students_missing": 1, "subjects_missing": 2}
    assert count(db_url, tables["processed_events"], consumer="reports.on_final_mark_posted") == 5
    assert count(db_url, tables["dead_letters"]) == 0

    # the quarter's final marks are not the second quarter's, nor the year's
    for other in (c["q2"]["id"], c["year"]["year_id"]):
        assert call(container, "progress", ctx_for(school.school_id), c["class_id"], other)["basis"] == \
            "current_averages"
    # the year's own final marks make the year's basis
    school.final(c["class_id"], s["Сидоров Павел"], c["math"], c["year"]["year_id"], 2, period_kind="year")
    year = call(container, "progress", ctx_for(school.school_id), c["class_id"], c["year"]["year_id"])
    assert year["basis"] == "final_marks" and year["summary"]["failing"] == 1


def test_a_malformed_final_mark_is_dead_lettered_R_F1(container, school, class_5a, ctx_for, db_url):
    c = class_5a
    bad = school.final_payload(c["class_id"], c["students"]["Сидоров Павел"], c["math"], c["q1"]["id"], 7)
    env = school.journal("final_mark_posted", bad)
    assert count(db_url, tables["dead_letters"], event_id=env["id"]) == 1
    report = call(container, "progress", ctx_for(school.school_id), c["class_id"], c["q1"]["id"])
    assert report["basis"] == "current_averages"
