"""The class teacher's pages: the class list with each student's parents
and their consent, the week's attendance of every subject with its
correction (a reason per correction), and a letter to all parents of the
class (one ``POST /messages`` with ``to_parents_of_class``). The same
central decisions as the API routes serving the same data."""
from __future__ import annotations

import datetime as dt

from flask import jsonify, redirect, render_template, request, url_for

from gateway import convert
from gateway.errors import ApiError
from gateway.portal import bp, core
from gateway.portal.texts import ATTENDANCE, PARENTS_WEEK, T
from gateway.portal.views_teacher import (
    LIST_LIMIT, ident, new_key, rpc, save_attendance, today, wants_json,
)
from gateway.validation import problems


def _students(class_id: str) -> tuple[str, list[dict]]:
    """The class's name and today's students, with their parents and
    consent when the caller may see them (GET /classes/{id}/students)."""
    core.allow("GET /classes/{id}/students", class_id)
    page = rpc("list_class_students", class_id, {"limit": LIST_LIMIT})
    items = page["items"]
    if page.get("families") and items:
        found = rpc("class_families", class_id, [i["id"] for i in items], service="identity")
        for item in items:
            item["parents"] = (found.get(item["id"]) or {}).get("parents", [])
    return (page.get("class") or {}).get("name") or "Класс", items


@bp.get("/teaching/class/<class_id>")
@core.page
def class_page(class_id):
    class_id = ident(class_id)
    class_name, students = _students(class_id)
    return render_template("portal/teacher/class.html", class_id=class_id, class_name=class_name,
                           students=students, families=any("parents" in s for s in students))


# -- the week's attendance ---------------------------------------------------------------------------

def _week() -> tuple[dt.date, dt.date]:
    asked = request.values.get("week")
    try:
        return convert.week_of(dt.date.fromisoformat(asked) if asked else today())
    except ValueError:
        raise ApiError(400, "VALIDATION_ERROR", T["bad_week"]) from None


@bp.get("/teaching/class/<class_id>/attendance")
@core.page
def class_attendance(class_id):
    class_id = ident(class_id)
    monday, sunday = _week()
    lesson_id = ident(request.args.get("lesson"), required=False)
    class_name, students = _students(class_id)
    core.allow("GET /classes/{id}/lessons", class_id)
    lessons = rpc("list_class_lessons", class_id, {"from": monday.isoformat(), "to": sunday.isoformat(),
                                                   "limit": LIST_LIMIT})["items"]
    status: dict = {}
    for lesson in lessons:
        core.allow("GET /lessons/{id}", lesson["id"])
        for entry in rpc("get_lesson", lesson["id"])["attendance"]:
            status[(entry["student"]["id"], lesson["id"])] = entry["status"]
    editing = next((l for l in lessons if l["id"] == lesson_id), None)
    return render_template(
        "portal/teacher/attendance.html", class_id=class_id, class_name=class_name, students=students,
        lessons=lessons, status=status, editing=editing, monday=monday, sunday=sunday, statuses=ATTENDANCE,
        prev_week=(monday - dt.timedelta(days=7)).isoformat(), next_week=(monday + dt.timedelta(days=7)).isoformat(),
        key=new_key())


@bp.get("/teaching/class/<class_id>/parents-activity")
@core.page
def class_parents_activity(class_id):
    """R-A6: which parents of the class came in the week (reports), with
    links to the weeks around it and to the monthly report."""
    class_id = ident(class_id)
    monday, _ = _week()
    core.allow("GET /classes/{id}/parents-activity", class_id)
    found = rpc("parents_activity", class_id, monday.isoformat(), service="reports")
    monday = dt.date.fromisoformat(found["week"]["starts_on"])
    totals = found["totals"]
    return render_template(
        "portal/teacher/parents_activity.html", class_id=class_id,
        class_name=(found.get("class") or {}).get("name") or "Класс", parents=found["parents"],
        monday=monday, sunday=dt.date.fromisoformat(found["week"]["ends_on"]), texts=PARENTS_WEEK,
        totals_line=PARENTS_WEEK["totals"].format(totals["active"], totals["parents"]),
        month=monday.strftime("%Y-%m"),
        prev_week=(monday - dt.timedelta(days=7)).isoformat(), next_week=(monday + dt.timedelta(days=7)).isoformat())


@bp.post("/teaching/class/<class_id>/attendance/<lesson_id>")
@core.page
def correct_attendance(class_id, lesson_id):
    class_id, lesson_id = ident(class_id), ident(lesson_id)
    core.allow("PUT /lessons/{id}/attendance", lesson_id)
    monday, _ = _week()
    back = url_for("portal.class_attendance", class_id=class_id, week=monday.isoformat(), lesson=lesson_id)

    def answer(ok: bool, message: str, **extra):
        if wants_json():
            return jsonify({"ok": ok, "message": message, **extra}), 200 if ok else 400
        core.current_session().put("notice", message)
        return redirect(back, 303)

    return save_attendance(lesson_id, answer)


# -- a letter to all parents of the class --------------------------------------------------------------

def _letter_page(class_id: str, message: str | None = None, status: int = 200, form: dict | None = None):
    class_name, students = _students(class_id)
    parents = {p["id"]: p["full_name"] for s in students for p in s.get("parents", [])}
    return render_template("portal/teacher/letter.html", class_id=class_id, class_name=class_name,
                           parents=sorted(parents.values()), message=message, form=form or {}), status


@bp.get("/teaching/class/<class_id>/letter")
@core.page
def class_letter(class_id):
    class_id = ident(class_id)
    core.allow("POST /messages")
    return _letter_page(class_id)


@bp.post("/teaching/class/<class_id>/letter")
@core.page
def send_class_letter(class_id):
    class_id = ident(class_id)
    core.allow("POST /messages")
    form = {"subject": request.form.get("subject", "").strip(), "body": request.form.get("body", "").strip()}
    data = {"to": [], "to_parents_of_class": class_id, **form}
    found = problems("SendMessageRequest", data)
    if found:
        return _letter_page(class_id, core.message_of(ApiError(400, "VALIDATION_ERROR",
                                                               details={"problems": found})), 400, form)
    try:
        sent = rpc("send_message", data, service="messaging")
    except Exception as exc:  # noqa: BLE001
        return _letter_page(class_id, core.message_of(exc), 400, form)
    count = len(sent.get("recipients") or []) if isinstance(sent, dict) else 0
    core.current_session().put("notice", T["letter_sent"].format(count))
    return redirect(url_for("portal.letter", id=sent["id"]), 303)
