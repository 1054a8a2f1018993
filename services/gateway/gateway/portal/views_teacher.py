"""The teacher's pages: "my classes", the class journal of a subject and
period (students × lessons with marks and attendance, the final-marks
column with its evidence and warnings, late and overdue lessons), a new
lesson, marks and attendance of a lesson entered in the grid, a mark's
correction with its reason and history, and the plan's coverage.

Every write is one journal call with an Idempotency-Key: the form carries
a key made when the page was drawn, and teacher.js makes a fresh one per
edit, so a double click or a resent request posts once. Every page asks
the central decision of the API route serving the same data first."""
from __future__ import annotations

import datetime as dt
import re
import uuid

from flask import current_app, g, jsonify, redirect, render_template, request, url_for

from ejournal.journal.v1 import journal_pb2

from gateway import errors
from gateway.api_journal_marks import class_journal_json
from gateway.context import call_ctx, current_clients
from gateway.errors import ApiError
from gateway.portal import bp, core
from gateway.portal.grid_rows import MARK_VALUES, heads_html, rows_html
from gateway.portal.helpers import profile, ru_date
from gateway.portal.texts import ATTENDANCE, MARK_KINDS, T

ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
KEY = re.compile(r"^[A-Za-z0-9._:-]{8,100}$")
LIST_LIMIT = 200
LESSON_TYPES = ("урок", "контрольная работа", "лабораторная работа", "практическая работа", "самостоятельная работа",
                "урок повторения", "экскурсия")
WRITTEN_KINDS = ("control", "written", "lab", "practical", "test")
def rpc(method: str, *args, service: str = "journal", **kwargs):
    return current_clients().rpc(service, method, call_ctx(), *args, **kwargs)


def ident(value, required: bool = True) -> str | None:
    """A well-formed id from the request, or the 404 page."""
    if not value:
        if required:
            raise ApiError(404, "NOT_FOUND")
        return None
    if not ID.match(value):
        raise ApiError(404, "NOT_FOUND")
    return value


def today() -> dt.date:
    return dt.datetime.now(current_app.config["SETTINGS"].timezone).date()


def new_key() -> str:
    return uuid.uuid4().hex


def form_key() -> str:
    """The Idempotency-Key the form was drawn (or teacher.js edited) with."""
    key = request.form.get("key", "")
    if not KEY.match(key):
        raise ApiError(400, "VALIDATION_ERROR", T["bad_key"])
    return key


def wants_json() -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


def my_classes() -> list[dict]:
    """The signed-in teacher's classes, subjects and subgroups (GET /me/classes), once per request."""
    found = g.get("portal_my_classes")
    if found is not None:
        return found
    core.allow("GET /me/classes")
    items, cursor = [], None
    while True:
        query = {"limit": LIST_LIMIT, **({"cursor": cursor} if cursor else {})}
        answer = rpc("list_my_classes", query)
        items += answer["items"]
        cursor = answer.get("next_cursor")
        if not cursor:
            g.portal_my_classes = items
            return items


def class_teacher_of() -> list[str]:
    """The ids of the classes the signed-in user is the class teacher of."""
    return [c["id"] for c in profile()["classes"] if c["role"] == "class_teacher"]


# -- my classes ------------------------------------------------------------------------------------

@bp.get("/teaching")
@core.page
def teaching():
    rows = my_classes()
    classes: dict = {}
    for row in rows:
        entry = classes.setdefault(row["class"]["id"], {"class": row["class"], "subjects": []})
        entry["subjects"].append(row)
    own = set(class_teacher_of())
    return render_template("portal/teacher/classes.html", classes=list(classes.values()), own=own,
                           own_only=[c for c in own if c not in classes])


# -- the class journal -----------------------------------------------------------------------------

def _day(iso: str) -> str:
    """A period's bound in its select, "7 ноября" (the year is the select's last choice)."""
    return ru_date(iso).rsplit(" ", 1)[0]


def _periods(grid: dict) -> list[dict]:
    """The choices of the period select: the class's year's periods, then the whole year."""
    year = grid["year"]
    if not year["id"]:
        return []
    choices = [{"id": p["id"], "label": f"{p['name']} ({_day(p['starts_on'])} — {_day(p['ends_on'])})"}
               for p in year["periods"]]
    return [*choices, {"id": year["id"], "label": f"Весь год ({year['name']})"}]


def _evidence(marks: list) -> dict:
    """Count, weighted average and written works of a student's marks (GridMark messages)."""
    count = len(marks)
    weights = sum(m.weight for m in marks)
    weighted = round(sum(m.value * m.weight for m in marks) / weights, 2) if weights else None
    return {"count": count, "weighted": weighted, "written": sum(1 for m in marks if m.kind in WRITTEN_KINDS)}


def grid_context(class_id: str, subject_id: str, period_id: str | None, lesson_id: str | None) -> dict:
    """The grid's rows and cells."""
    p = g.principal
    reply = current_clients().journal.GetClassJournal(journal_pb2.ClassJournalRequest(
        school_id=p.school_id, class_id=class_id, subject_id=subject_id, period_id=period_id or "",
        viewer_id=p.user_id, viewer_roles=list(p.roles)))
    grid = class_journal_json(reply, entries=False)
    lessons = sorted(grid["lessons"], key=lambda l: l["date"])
    cells: dict = {}  # (student, lesson) -> the journal's GridMark and GridAttendance messages, read as they are
    by_student: dict = {}
    for m in reply.marks:
        student = m.student_id
        found = cells.get(key := (student, m.lesson_id))
        if found is None:
            cells[key] = {"marks": [m], "attendance": None}
        else:
            found["marks"].append(m)
        found = by_student.get(student)
        if found is None:
            by_student[student] = [m]
        else:
            found.append(m)
    for a in reply.attendance:
        found = cells.get(key := (a.student_id, a.lesson_id))
        if found is None:
            cells[key] = {"marks": [], "attendance": a}
        else:
            found["attendance"] = a
    finals = {f["student_id"]: f for f in grid["finals"]}
    rows = []
    for s in grid["students"]:
        rows.append({"student": s, "evidence": _evidence(by_student.get(s["id"], [])), "final": finals.get(s["id"])})
    editing = next((l for l in lessons if l["id"] == lesson_id), None) or (lessons[-1] if lessons else None)
    mark_base = url_for("portal.mark", mark_id="-")[:-1]
    column = url_for("portal.journal", class_id=class_id, subject=subject_id, period=period_id)
    risks = {r["student_id"]: r for r in grid["at_risk"]}  # R-F4, the warnings of the final-marks column
    for row in rows:
        row["risk"] = risks.get(row["student"]["id"])
    return {"grid": grid, "lessons": lessons, "cells": cells, "rows": rows, "editing": editing,
            "mark_base": mark_base, "column": column}


@bp.get("/teaching/classes/<class_id>/journal")
@core.page
def journal(class_id):
    class_id = ident(class_id)
    subject_id = ident(request.args.get("subject"))
    period_id = ident(request.args.get("period"), required=False)
    lesson_id = ident(request.args.get("lesson"), required=False)
    core.allow("GET /classes/{id}/journal", class_id, subject_id=subject_id)
    context = grid_context(class_id, subject_id, period_id, lesson_id)
    grid = context["grid"]
    here = url_for("portal.journal", class_id=class_id, subject=subject_id, period=period_id, lesson=lesson_id)
    sess = core.current_session()
    if sess.get("journal") != here:  # where a mark's page leads back to (the grid's links stay short)
        sess.put("journal", here)
    keys = {"lesson": new_key(), "marks": new_key(), "attendance": new_key(), "final": new_key()}
    head = heads_html(context["lessons"], context["editing"], context["column"])
    body = rows_html(context["rows"], context["lessons"], context["cells"], context["editing"], context["mark_base"],
                     final_action=url_for("portal.final_mark", class_id=class_id) if grid["period_id"] else None,
                     csrf=sess.csrf(), final_key=keys["final"], subject_id=subject_id, period_id=grid["period_id"],
                     period_arg=period_id)
    return render_template(
        "portal/teacher/journal.html", **context, head=head, body=body, class_id=class_id, subject_id=subject_id,
        class_name=grid["class_name"] or "Класс", subject_name=grid["subject_name"] or "Предмет",
        periods=_periods(grid),
        today=today().isoformat(), lesson_types=LESSON_TYPES, kinds=MARK_KINDS, keys=keys,
        form=core.current_session().take("lesson_form") or {})


@bp.get("/teaching/classes/<class_id>/plan")
@core.page
def plan(class_id):
    """The plan's coverage of a subject in a period (GET /plans/coverage):
    its own page, so the grid does not wait for it."""
    class_id = ident(class_id)
    subject_id = ident(request.args.get("subject"))
    period_id = ident(request.args.get("period"))
    core.allow("GET /plans/coverage", class_id)
    items = [c for c in rpc("plan_coverage", period_id, class_id, None)["items"] if c["subject_id"] == subject_id]
    return render_template("portal/teacher/plan.html", coverage=items, names=items[0] if items else None,
                           journal=url_for("portal.journal", class_id=class_id, subject=subject_id,
                                           period=ident(request.args.get("back_period"), required=False)))


def _journal_url(class_id: str, subject_id: str, lesson_id: str | None = None, anchor: str | None = None) -> str:
    period = request.form.get("period") or None
    return url_for("portal.journal", class_id=class_id, subject=subject_id,
                   period=period if period and ID.match(period) else None, lesson=lesson_id,
                   _anchor=anchor)


@bp.post("/teaching/classes/<class_id>/lessons")
@core.page
def new_lesson(class_id):
    class_id = ident(class_id)
    subject_id = ident(request.form.get("subject"))
    core.allow("POST /lessons", class_id, subject_id=subject_id)
    fields = ("date", "topic", "lesson_type", "work_type", "homework")
    form = {f: request.form.get(f, "").strip() for f in fields}
    data = {"class_id": class_id, "subject_id": subject_id, **{f: v for f, v in form.items() if v}}
    sess = core.current_session()
    try:
        lesson = rpc("record_lesson", data, idempotency_key=form_key())
    except Exception as exc:  # noqa: BLE001 - a refusal is shown beside the form
        sess.put("notice", core.message_of(exc))
        sess.put("lesson_form", form)
        return redirect(_journal_url(class_id, subject_id, anchor="lesson-form"), 303)
    sess.put("notice", T["lesson_recorded"])
    return redirect(_journal_url(class_id, subject_id, lesson["id"], anchor="grid"), 303)


def _answer(ok: bool, message: str, class_id: str, subject_id: str, lesson_id: str, **extra):
    if wants_json():
        return jsonify({"ok": ok, "message": message, **extra}), 200 if ok else 400
    core.current_session().put("notice", message)
    return redirect(_journal_url(class_id, subject_id, lesson_id, anchor="grid"), 303)


@bp.post("/teaching/lessons/<lesson_id>/marks")
@core.page
def lesson_marks(lesson_id):
    lesson_id = ident(lesson_id)
    class_id, subject_id = ident(request.form.get("class")), ident(request.form.get("subject"))
    core.allow("PUT /lessons/{id}/marks", lesson_id)
    kind = request.form.get("kind") or "oral"
    weight = request.form.get("weight") or "1"
    marks = []
    for name, value in request.form.items():
        if name.startswith("mark-") and value:
            student_id = ident(name[5:])
            if not value.isdigit() or not weight.isdigit():
                return _answer(False, T["bad_mark"], class_id, subject_id, lesson_id)
            marks.append({"student_id": student_id, "value": int(value), "kind": kind, "weight": int(weight)})
    if not marks:
        return _answer(False, T["no_marks"], class_id, subject_id, lesson_id)
    try:
        posted = rpc("post_marks", lesson_id, marks, idempotency_key=form_key())
    except Exception as exc:  # noqa: BLE001
        return _answer(False, core.message_of(exc), class_id, subject_id, lesson_id)
    items = posted.get("marks") if isinstance(posted, dict) else posted
    return _answer(True, T["marks_saved"].format(len(marks)), class_id, subject_id, lesson_id,
                   marks=[{"id": m["id"], "student_id": m["student_id"], "value": m["value"],
                           "url": url_for("portal.mark", mark_id=m["id"])} for m in (items or [])])


@bp.post("/teaching/lessons/<lesson_id>/attendance")
@core.page
def lesson_attendance(lesson_id):
    lesson_id = ident(lesson_id)
    class_id, subject_id = ident(request.form.get("class")), ident(request.form.get("subject"))
    core.allow("PUT /lessons/{id}/attendance", lesson_id)
    return save_attendance(lesson_id, lambda ok, message, **extra: _answer(
        ok, message, class_id, subject_id, lesson_id, **extra))


def save_attendance(lesson_id: str, answer):
    """A lesson's attendance form (``att-<student>`` with ``was-<student>``)
    as one journal write with the form's Idempotency-Key; only the changed
    entries are sent. ``answer(ok, message, **extra)`` makes the reply."""
    entries = []
    for name, value in request.form.items():
        if name.startswith("att-") and value:
            student_id = ident(name[4:])
            if value not in ATTENDANCE:
                return answer(False, T["bad_status"])
            if value != request.form.get(f"was-{student_id}"):
                entries.append({"student_id": student_id, "status": value})
    if not entries:
        return answer(True, T["nothing_changed"], saved=0)
    data = {"entries": entries}
    reason = request.form.get("reason", "").strip()
    if reason:
        data["reason"] = reason
    try:
        rpc("record_attendance", lesson_id, data, idempotency_key=form_key())
    except Exception as exc:  # noqa: BLE001
        return answer(False, core.message_of(exc))
    return answer(True, T["attendance_saved"].format(len(entries)), saved=len(entries), entries=entries)


@bp.post("/teaching/classes/<class_id>/finals")
@core.page
def final_mark(class_id):
    class_id = ident(class_id)
    subject_id, student_id = ident(request.form.get("subject")), ident(request.form.get("student"))
    period_id = ident(request.form.get("period_id"))
    core.allow("PUT /final-marks", student_id, subject_id=subject_id)
    value = request.form.get("value", "")
    if not value.isdigit():
        return _answer(False, T["bad_mark"], class_id, subject_id, None)
    data = {"student_id": student_id, "subject_id": subject_id, "period_id": period_id, "value": int(value)}
    try:
        posted = rpc("post_final_mark", data, idempotency_key=form_key())
    except Exception as exc:  # noqa: BLE001
        return _answer(False, core.message_of(exc), class_id, subject_id, None)
    warnings = "; ".join(w["message"] for w in posted.get("warnings") or [])
    message = T["final_saved"].format(posted["value"]) + (f" {T['final_warnings']} {warnings}." if warnings else "")
    return _answer(True, message, class_id, subject_id, None, value=posted["value"],
                   warnings=[w["message"] for w in posted.get("warnings") or []])


# -- a mark: its correction and history -------------------------------------------------------------

def _back() -> str | None:
    """Where "back to the journal" leads: the ``back`` asked, else the journal last shown."""
    target = request.values.get("back") or core.current_session().get("journal")
    return core.safe_next(target) if target else None


def _mark_page(mark_id: str, message: str | None = None, status: int = 200, form: dict | None = None):
    core.allow("GET /marks/{id}/history", mark_id)
    history = rpc("mark_history", mark_id)
    current = history["items"][-1] if history["items"] else None
    return render_template("portal/teacher/mark.html", mark_id=mark_id, history=history, current=current,
                           message=message, form=form or {}, back=_back(), key=new_key(),
                           remove_key=new_key(), mark_values=MARK_VALUES, kinds=MARK_KINDS), status


@bp.get("/teaching/marks/<mark_id>")
@core.page
def mark(mark_id):
    return _mark_page(ident(mark_id))


@bp.post("/teaching/marks/<mark_id>")
@core.page
def correct_mark(mark_id):
    mark_id = ident(mark_id)
    core.allow("PATCH /marks/{id}", mark_id)
    form = {f: request.form.get(f, "").strip() for f in ("value", "kind", "weight", "comment", "reason")}
    data = {"reason": form["reason"]}
    if form["value"]:
        if not form["value"].isdigit():
            return _mark_page(mark_id, T["bad_mark"], 400, form)
        data["value"] = int(form["value"])
    if form["kind"]:
        data["kind"] = form["kind"]
    if form["weight"]:
        if not form["weight"].isdigit():
            return _mark_page(mark_id, T["bad_mark"], 400, form)
        data["weight"] = int(form["weight"])
    if "comment" in request.form:
        data["comment"] = form["comment"] or None
    try:
        rpc("correct_mark", mark_id, data, idempotency_key=form_key())
    except Exception as exc:  # noqa: BLE001
        return _mark_page(mark_id, core.message_of(exc), 400, form)
    core.current_session().put("notice", T["mark_corrected"])
    back = _back()
    return redirect(url_for("portal.mark", mark_id=mark_id, back=back), 303)


@bp.post("/teaching/marks/<mark_id>/remove")
@core.page
def remove_mark(mark_id):
    """Cancel a mark with a reason (R-J7): a version of its history, never a deletion."""
    mark_id = ident(mark_id)
    core.allow("DELETE /marks/{id}", mark_id)
    reason = request.form.get("reason", "").strip()
    try:
        rpc("remove_mark", mark_id, {"reason": reason}, idempotency_key=form_key())
    except Exception as exc:  # noqa: BLE001 - a refusal is shown on the mark's page
        return _mark_page(mark_id, core.message_of(exc), 400, {"remove_reason": reason})
    core.current_session().put("notice", T["mark_removed"])
    return redirect(url_for("portal.mark", mark_id=mark_id, back=_back()), 303)
