"""REST views of the list reads (API.md "Reads the portal and scripts
need"): years, subjects, classes, a class's students (with their families
from identity for the class teacher and the administration), a teacher's
classes, a class's lessons, one lesson, a student's attendance history
(R-J7) and final marks (R-F1). gateway.guard has asked the central access
decision and validated the query; the journal checks again and cuts the
pages (``{items, next_cursor}``)."""
from __future__ import annotations

from flask import Blueprint, jsonify

from gateway import openapi
from gateway.context import call_ctx, current_clients
from gateway.validation import query_params

bp = Blueprint("api_journal_reads", __name__, url_prefix=openapi.API_PREFIX)


def _rpc(method: str, *args):
    return current_clients().rpc("journal", method, call_ctx(), *args)


def _query() -> dict:
    """The validated query, without absent values (the journal's defaults apply)."""
    return {k: v for k, v in query_params().items() if v is not None}


@bp.get("/years")
def list_years():
    return jsonify(_rpc("list_years", _query()))


@bp.get("/subjects")
def list_subjects():
    return jsonify(_rpc("list_subjects", _query()))


@bp.get("/classes")
def list_classes():
    return jsonify(_rpc("list_classes", _query()))


@bp.get("/classes/<id>/students")
def list_class_students(id):
    page = _rpc("list_class_students", id, _query())
    families = page.pop("families", False)
    if families and page["items"]:
        # parents, consent, sex and birth date are identity's: asked for this page's students only
        found = current_clients().rpc("identity", "class_families", call_ctx(), id,
                                      [item["id"] for item in page["items"]])
        for item in page["items"]:
            family = found.get(item["id"]) or {}
            item["sex"] = family.get("sex")
            item["birth_date"] = family.get("birth_date")
            item["parents"] = family.get("parents", [])
    return jsonify(page)


@bp.get("/me/classes")
def list_my_classes():
    return jsonify(_rpc("list_my_classes", _query()))


@bp.get("/classes/<id>/lessons")
def list_class_lessons(id):
    return jsonify(_rpc("list_class_lessons", id, _query()))


@bp.get("/lessons/<id>")
def get_lesson(id):
    return jsonify(_rpc("get_lesson", id))


@bp.get("/lessons/<id>/attendance-history")
def lesson_attendance_history(id):
    return jsonify(_rpc("lesson_attendance_history", id, _query()))


@bp.get("/students/<id>/attendance-history")
def attendance_history(id):
    return jsonify(_rpc("attendance_history", id, _query()))


@bp.get("/students/<id>/final-marks")
def student_final_marks(id):
    return jsonify(_rpc("student_final_marks", id, _query()))
