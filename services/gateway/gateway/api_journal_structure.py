"""REST views of the school's structure over the year (API.md "School
structure"): student movement, year close, subgroups, the
timetable, the thematic plan and its coverage, the bulk student import.
The year close and the import run as a job with ``Prefer: respond-async``
(202, then ``GET /jobs/{id}``).
Same helpers and the same rules as :mod:`gateway.api`: gateway.guard has
asked the central access decision; decode, call the journal (which checks
again), answer."""
from __future__ import annotations

import base64

from flask import Blueprint, jsonify, request

from gateway import openapi
from gateway.context import call_ctx, current_clients
from gateway.errors import ApiError
from gateway.validation import json_body, query_params

bp = Blueprint("api_journal_structure", __name__, url_prefix=openapi.API_PREFIX)

# What an upload may be: the journal reads both (journal.imports).
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UPLOAD_TYPES = ("text/csv", XLSX_TYPE, "application/octet-stream")


def _rpc(method: str, *args):
    return current_clients().rpc("journal", method, call_ctx(), *args)


def respond_async() -> bool:
    """Whether the caller prefers a job to a waiting answer (RFC 7240
    ``Prefer: respond-async``)."""
    prefs = request.headers.get("Prefer", "").replace(";", ",").split(",")
    return any(p.split("=", 1)[0].strip().lower() == "respond-async" for p in prefs)


def job_started(answer: dict):
    """202 ``{job_id, status}`` with the job's address in ``Location``."""
    response = jsonify({"job_id": answer["job_id"], "status": answer["status"]})
    response.status_code = 202
    response.headers["Location"] = f"{openapi.API_PREFIX}/jobs/{answer['job_id']}"
    response.headers["Preference-Applied"] = "respond-async"
    return response


def job_of(id: str) -> dict:
    """A job of the journal's (an import, a year close) or else of the
    reports' (a report's files): the two keep their own; each answers 404
    for a job it does not have or the caller may not see."""
    from gateway import errors

    try:
        return _rpc("get_job", id)
    except Exception as exc:  # noqa: BLE001 - only the journal's 404 is asked further
        found = errors.map_exception(exc)
        if found is None or found.status != 404:
            raise
    return current_clients().rpc("reports", "get_job", call_ctx(), id)


@bp.get("/jobs/<id>")
def get_job(id):
    return jsonify(job_of(id))


@bp.patch("/subjects/<id>")
def update_subject(id):
    return jsonify(_rpc("update_subject", id, json_body()))


@bp.post("/years/<id>/close")
def close_year(id):
    body = json_body()
    if respond_async():
        return job_started(_rpc("start_close_year", id, body))
    return jsonify(_rpc("close_year", id, body))


@bp.get("/years/<id>/close-preview")
def preview_year_close(id):
    q = query_params()
    data = {"promote": q["promote"] == "true", **({"next_year_id": q["next_year_id"]} if q.get("next_year_id") else {})}
    return jsonify(_rpc("preview_year_close", id, data))


@bp.post("/students/<id>/transfer")
def transfer_student(id):
    body = json_body()
    return jsonify(_rpc("transfer_student", id, body))


@bp.post("/students/<id>/departure")
def record_departure(id):
    body = json_body()
    return jsonify(_rpc("record_departure", id, body))


@bp.get("/students/<id>/movements")
def list_movements(id):
    return jsonify(_rpc("list_movements", id))


@bp.post("/classes/<id>/subgroups")
def create_subgroup(id):
    body = json_body()
    return jsonify(_rpc("create_subgroup", id, body)), 201


@bp.put("/classes/<id>/timetable")
def set_timetable(id):
    body = json_body()
    return jsonify(_rpc("set_timetable", id, body))


@bp.get("/classes/<id>/timetable")
def get_timetable(id):
    period_id = query_params()["period_id"]
    return jsonify(_rpc("get_timetable", id, period_id))


@bp.post("/plans")
def create_plan():
    body = json_body()
    return jsonify(_rpc("create_plan", body)), 201


@bp.get("/plans/coverage")
def plan_coverage():
    q = query_params()
    return jsonify(_rpc("plan_coverage", q["period_id"], q.get("class_id"), q.get("teacher_id")))


def _upload() -> tuple[bytes, str]:
    """The uploaded file and its name: a multipart ``file`` field, or the
    raw body (``curl --data-binary @students.xlsx``)."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ApiError(400, "VALIDATION_ERROR", details={"problems": [
                {"field": "file", "message": "Приложите файл CSV или XLSX в поле «file»"}]})
        return upload.read(), upload.filename or ""
    if request.mimetype not in UPLOAD_TYPES:
        raise ApiError(400, "VALIDATION_ERROR", details={"problems": [
            {"field": "(body)", "message": "Ожидается файл CSV или XLSX"}]})
    return request.get_data(), ""


@bp.post("/imports/lessons")
def import_lessons():
    from gateway.api_journal_marks import idempotency
    # up to 1000 lessons and their events in one transaction: longer than one ordinary call
    return jsonify(current_clients().rpc("journal", "import_lessons", call_ctx(), json_body(), timeout=60,
                                         **idempotency()))


@bp.post("/imports/students")
def import_students():
    q = query_params()
    content, filename = _upload()
    if not content:
        raise ApiError(400, "VALIDATION_ERROR", details={"problems": [
            {"field": "file", "message": "Файл пуст"}]})
    upload = {"content_b64": base64.b64encode(content).decode("ascii"), "filename": filename,
              "class_id": q["class_id"], "order_no": q["order_no"], "on": q["on"]}
    if respond_async():
        return job_started(_rpc("start_import_students", upload))
    # identity creates the accounts one by one: the import may take longer than one ordinary call
    return jsonify(current_clients().rpc("journal", "import_students", call_ctx(), upload, timeout=120))
