"""REST views of the journal's corrections (R-J7), attendance (R-J2), final
marks and forecasts (R-F) and the tamper check; OpenAPI in
:mod:`gateway.openapi_journal_marks`. gateway.guard asks the central access
decision (identity) before a view runs; the journal keeps its own checks. Every
write passes the client's ``Idempotency-Key`` through."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from ejournal.journal.v1 import journal_pb2

from gateway import openapi
from gateway.context import call_ctx, current_clients
from gateway.validation import json_body, query_params

bp = Blueprint("api_journal_marks", __name__, url_prefix=openapi.API_PREFIX)

IDEMPOTENCY_HEADER = "Idempotency-Key"


def idempotency() -> dict:
    """``{"idempotency_key": ...}`` when the client sent one (the journal
    checks its form), else nothing, so calls without it stay unchanged."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    return {"idempotency_key": key} if key else {}


def journal(method: str, *args, **kwargs):
    return current_clients().rpc("journal", method, call_ctx(), *args, **kwargs)


@bp.patch("/marks/<id>")
def correct_mark(id):
    body = json_body()
    return jsonify(journal("correct_mark", id, body, **idempotency()))


@bp.delete("/marks/<id>")
def remove_mark(id):
    body = json_body()
    journal("remove_mark", id, body, **idempotency())
    return "", 204


@bp.get("/marks/<id>/history")
def mark_history(id):
    history = journal("mark_history", id)
    response = jsonify(history["items"])
    response.headers["X-Chain-Verified"] = "true" if history["verified"] else "false"
    return response


@bp.get("/journal/verify")
def verify_journal():
    return jsonify(journal("verify_journal"))


@bp.put("/lessons/<id>/attendance")
def record_attendance(id):
    body = json_body()
    return jsonify(journal("record_attendance", id, body, **idempotency()))


@bp.put("/final-marks")
def post_final_mark():
    body = json_body()
    return jsonify(journal("post_final_mark", body, **idempotency()))


@bp.get("/students/<id>/forecast")
def forecast(id):
    q = query_params()
    return jsonify(journal("forecast", id, q.get("period_id"))["items"])


@bp.get("/classes/<id>/at-risk")
def students_at_risk(id):
    q = query_params()
    return jsonify(journal("students_at_risk", id, q.get("period_id")))


def class_journal_json(reply, entries: bool = True) -> dict:
    """journal ``ClassJournal`` as API.md's grid (empty strings become null);
    without its marks and attendance unless ``entries`` (the portal's grid
    draws those from the reply itself)."""
    grid = {
        "class_id": reply.class_id, "subject_id": reply.subject_id, "period_id": reply.period_id,
        "starts_on": reply.starts_on, "ends_on": reply.ends_on,
        "class_name": reply.class_name, "subject_name": reply.subject_name or None,
        "year": {"id": reply.year_id, "name": reply.year_name, "periods": [
            {"id": p.id, "name": p.name, "kind": p.kind, "starts_on": p.starts_on, "ends_on": p.ends_on}
            for p in reply.periods]},
        "students": [{"id": s.id, "full_name": s.full_name} for s in reply.students],
        "lessons": [{"id": l.id, "date": l.date, "topic": l.topic, "lesson_type": l.lesson_type,
                     "work_type": l.work_type or None, "homework": l.homework or None, "teacher_id": l.teacher_id,
                     "teacher": {"id": l.teacher_id, "full_name": l.teacher_name or None},
                     "substitute_for": ({"id": l.substitute_for, "full_name": l.substitute_for_name or None}
                                        if l.substitute_for else None),
                     "subgroup_id": l.subgroup_id or None, "late": l.late, "overdue": l.overdue}
                    for l in reply.lessons],
        "finals": [{"id": f.id, "student_id": f.student_id, "period_id": f.period_id, "period_kind": f.period_kind,
                    "value": f.value, "late": f.late} for f in reply.finals],
        "at_risk": [{"student_id": r.student_id, "reasons": list(r.reasons), "predicted": r.predicted or None,
                     "marks_count": r.marks_count, "required": r.required, "written_works": r.written_works,
                     "written_required": r.written_required} for r in reply.at_risk],
    }
    if entries:
        grid["marks"] = [{"id": m.id, "lesson_id": m.lesson_id, "student_id": m.student_id, "value": m.value,
                          "kind": m.kind, "weight": m.weight, "comment": m.comment or None, "version": m.version}
                         for m in reply.marks]
        grid["attendance"] = [{"lesson_id": a.lesson_id, "student_id": a.student_id, "status": a.status,
                               "version": a.version} for a in reply.attendance]
    return grid


@bp.get("/classes/<id>/journal")
def class_journal(id):
    q = query_params()
    p = g.principal
    reply = current_clients().journal.GetClassJournal(journal_pb2.ClassJournalRequest(
        school_id=p.school_id, class_id=id, subject_id=q["subject_id"], period_id=q.get("period_id") or "",
        viewer_id=p.user_id, viewer_roles=list(p.roles)))
    return jsonify(class_journal_json(reply))
