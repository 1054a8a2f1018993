"""The pages of parents and students: the diary by week, final marks and
the forecast, the timetable, notifications and news. A parent with several
children picks one (``?child=``); every page asks the central access
decision of the API route serving the same data first, so another child's
diary is the 404 page."""
from __future__ import annotations

import datetime as dt

from flask import current_app, g, render_template, request, url_for

from ejournal.journal.v1 import journal_pb2

from gateway import convert
from gateway.context import call_ctx, current_clients
from gateway.errors import ApiError
from gateway.portal import bp, core
from gateway.portal.helpers import profile
from gateway.portal.texts import T, WEEKDAYS

PAGE_SIZE = 20
FINALS_PAGE = 200


def _children() -> list[dict]:
    """The students this user looks after: a parent's children, a student themself."""
    me = profile()
    if g.principal.has("parent") and me["children"]:
        return me["children"]
    if g.principal.has("student"):
        own = next((c["id"] for c in me["classes"] if c["role"] == "student"), None)
        return [{"id": me["id"], "full_name": me["full_name"], "class_id": own}]
    return me["children"]


def _child() -> dict:
    """The student of this page: ``?child=`` (the central decision says
    whether it may be seen), else the one chosen last, else the first."""
    children = _children()
    sess = core.current_session()
    asked = request.args.get("child")
    if asked:
        if len(asked) > 64:
            raise ApiError(404, "NOT_FOUND")
        chosen = next((c for c in children if c["id"] == asked), None) or {"id": asked, "full_name": "",
                                                                           "class_id": None}
    else:
        chosen = next((c for c in children if c["id"] == sess.get("child")), None) or (
            children[0] if children else None)
    if chosen is None:
        raise ApiError(404, "NOT_FOUND")
    core.allow("GET /students/{id}/diary", chosen["id"])
    if asked and len(children) > 1 and sess.get("child") != asked:
        sess.put("child", asked)
    return chosen


def _family_context(child: dict, endpoint: str) -> dict:
    return {"child": child, "children": _children(), "switch_endpoint": endpoint}


def _today() -> dt.date:
    return dt.datetime.now(current_app.config["SETTINGS"].timezone).date()


def _diary(student_id: str, first: dt.date | None, last: dt.date | None) -> dict:
    reply = current_clients().journal.GetDiary(journal_pb2.DiaryRequest(
        student_id=student_id, school_id=g.principal.school_id,
        from_date=first.isoformat() if first else "", to_date=last.isoformat() if last else ""))
    monday, sunday = convert.week_of(_today())
    return convert.diary(reply, first or monday, last or sunday)


@bp.get("/diary")
@core.page
def diary():
    child = _child()
    week = request.args.get("week")
    first = last = None
    if week:
        try:
            first, last = convert.week_of(dt.date.fromisoformat(week))
        except ValueError:
            raise ApiError(400, "VALIDATION_ERROR", T["bad_week"]) from None
    found = _diary(child["id"], first, last)  # no week: the latest week with entries
    monday, sunday = convert.week_of(dt.date.fromisoformat(found["from"]))
    days = {d["date"]: d["lessons"] for d in found["days"]}
    week_days = [(monday + dt.timedelta(days=i)) for i in range(7)]
    shown = [(day, days.get(day.isoformat(), [])) for day in week_days if day.weekday() < 5 or days.get(day.isoformat())]
    return render_template("portal/diary.html", **_family_context(child, "portal.diary"), monday=monday,
                           sunday=sunday, days=shown, prev_week=(monday - dt.timedelta(days=7)).isoformat(),
                           next_week=(monday + dt.timedelta(days=7)).isoformat(),
                           this_week=convert.week_of(_today())[0].isoformat(), empty=not found["days"])


def _subject_names(diary: dict, finals: list[dict]) -> dict:
    """Subject id -> name, from what the diary and the final marks already carry."""
    names = {t["subject_id"]: t["subject"] for t in diary["timetable"]}
    names.update((f["subject"]["id"], f["subject"]["name"]) for f in [*diary["finals"], *finals])
    names.update((lesson["subject_id"], lesson["subject"]) for day in diary["days"] for lesson in day["lessons"])
    return names


def _finals(student_id: str) -> list[dict]:
    """The year's final marks (GET /students/{id}/final-marks), every page of them."""
    core.allow("GET /students/{id}/final-marks", student_id)
    items, cursor = [], None
    while True:
        query = {"limit": FINALS_PAGE, **({"cursor": cursor} if cursor else {})}
        answer = current_clients().rpc("journal", "student_final_marks", call_ctx(), student_id, query)
        items += answer["items"]
        cursor = answer.get("next_cursor")
        if not cursor:
            return items


def finals_table(finals: list[dict]) -> tuple[list[dict], list[dict]]:
    """(periods in the year's order, rows by subject name with each period's final mark)."""
    periods, rows = {}, {}
    for f in finals:  # the read answers in period order
        periods.setdefault(f["period"]["id"], f["period"])
        row = rows.setdefault(f["subject"]["id"], {"subject": f["subject"]["name"], "marks": {}})
        row["marks"][f["period"]["id"]] = f
    return list(periods.values()), sorted(rows.values(), key=lambda r: r["subject"] or "")


@bp.get("/results")
@core.page
def results():
    child = _child()
    finals = _finals(child["id"])
    core.allow("GET /students/{id}/forecast", child["id"])
    forecast = current_clients().rpc("journal", "forecast", call_ctx(), child["id"], None)
    names = _subject_names(_diary(child["id"], *convert.week_of(_today())), finals)
    # the forecast names its subjects; the diary's and the finals' names fill in where it does not
    rows = sorted(({**item, "subject": item.get("subject") or names.get(item["subject_id"])}
                   for item in forecast["items"]),
                  key=lambda r: (r["subject"] is None, r["subject"] or ""))
    periods, final_rows = finals_table(finals)
    return render_template("portal/results.html", **_family_context(child, "portal.results"), forecast=forecast,
                           rows=rows, periods=periods, final_rows=final_rows)


@bp.get("/timetable")
@core.page
def timetable():
    child = _child()
    slots = []
    if child.get("class_id"):  # the diary of this week carries its class's timetable
        slots = _diary(child["id"], *convert.week_of(_today()))["timetable"]
    by_day = {}
    for slot in sorted(slots, key=lambda s: (s["weekday"], s["number"])):
        by_day.setdefault(slot["weekday"], []).append(slot)
    days = [(WEEKDAYS[d - 1] if 1 <= d <= 7 else str(d), rows) for d, rows in sorted(by_day.items())]
    return render_template("portal/timetable.html", **_family_context(child, "portal.timetable"), days=days,
                           has_class=bool(child.get("class_id")))


@bp.get("/notifications")
@core.page
def notifications():
    core.allow("GET /notifications")
    cursor = request.args.get("cursor") or None
    answer = current_clients().rpc("messaging", "list_notifications", call_ctx(), PAGE_SIZE, cursor)
    return render_template("portal/notifications.html", items=answer["items"], next_cursor=answer["next_cursor"],
                           more_url=url_for("portal.notifications", cursor=answer["next_cursor"])
                           if answer["next_cursor"] else None)


@bp.get("/news")
@core.page
def news():
    core.allow("GET /news")
    cursor = request.args.get("cursor") or None
    answer = current_clients().rpc("messaging", "list_news", call_ctx(), PAGE_SIZE, cursor)
    return render_template("portal/news.html", items=answer["items"],
                           more_url=url_for("portal.news", cursor=answer["next_cursor"])
                           if answer["next_cursor"] else None)
