"""The REST views of ``/api/v1`` (API.md): decode, call the owning service,
answer. No rules live here. Before a view runs, gateway.guard has
authenticated the caller, asked identity's central access decision (or
checked who may ever use the route), refused broken text and validated the
query and body against the OpenAPI document; the owning services check
access again.
"""
from __future__ import annotations

import datetime as dt

from flask import current_app, Blueprint, Response, g, jsonify, request, stream_with_context

from ejournal.identity.v1 import identity_pb2
from ejournal.journal.v1 import journal_pb2
from ejournal.reports.v1 import reports_pb2

from gateway import convert, openapi, report_files
from gateway.context import call_ctx, current_clients
from gateway.errors import ApiError
from gateway.messages import text
from gateway.validation import json_body, query_params, validation_error

bp = Blueprint("api", __name__, url_prefix=openapi.API_PREFIX)

# how long a report (a school's spreadsheet included) may take to build and send
REPORT_TIMEOUT = 120.0


def idempotency() -> dict:
    """The client's Idempotency-Key for the RPC (gateway.api_journal_marks)."""
    from gateway.api_journal_marks import idempotency as passed_through
    return passed_through()


def created(payload, status: int = 201):
    return jsonify(payload), status


# -- auth and people (identity) -------------------------------------------------

@bp.post("/auth/login")
def login():
    body = json_body()
    reply = current_clients().identity.Login(identity_pb2.LoginRequest(
        login=body["login"], password=body["password"], client_address=request.remote_addr or "",
        totp_code=body.get("totp_code") or ""))
    g.logged_in = (reply.user_id, reply.school_id, tuple(reply.roles))  # for the access log (R-A6)
    return jsonify(convert.token_pair(reply))


@bp.get("/me")
def me():
    reply = current_clients().identity.GetProfile(identity_pb2.ProfileRequest(user_id=g.principal.user_id))
    return jsonify(convert.profile(reply))


@bp.post("/users")
def create_user():
    body = json_body()
    return created(current_clients().rpc("identity", "create_user", call_ctx(), body))


@bp.post("/students/<id>/parents")
def link_parent(id):
    body = json_body()
    return created(current_clients().rpc("identity", "link_parent", call_ctx(), id,
                                         body["parent_id"], body["relation"]))


@bp.put("/parents/<id>/consent")
def record_consent(id):
    body = json_body()
    return jsonify(current_clients().rpc("identity", "record_consent", call_ctx(), id,
                                         body["given"], body["signed_on"]))


# -- school structure and the journal (journal) ---------------------------------

@bp.post("/years")
def open_year():
    return created(current_clients().rpc("journal", "open_year", call_ctx(), json_body()))


@bp.post("/subjects")
def create_subject():
    return created(current_clients().rpc("journal", "create_subject", call_ctx(), json_body()))


@bp.post("/classes")
def create_class():
    return created(current_clients().rpc("journal", "create_class", call_ctx(), json_body()))


@bp.post("/classes/<id>/students")
def enroll_student(id):
    body = json_body()
    return created(current_clients().rpc("journal", "enroll_student", call_ctx(), id, body))


@bp.post("/assignments")
def assign_teacher():
    body = json_body()
    return created(current_clients().rpc("journal", "assign_teacher", call_ctx(), body))


@bp.post("/lessons")
def record_lesson():
    body = json_body()
    return created(current_clients().rpc("journal", "record_lesson", call_ctx(), body, **idempotency()))


@bp.put("/lessons/<id>/marks")
def post_marks(id):
    body = json_body()
    return jsonify(current_clients().rpc("journal", "post_marks", call_ctx(), id, body["marks"], **idempotency()))


@bp.get("/students/<id>/diary")
def diary(id):
    q = query_params()
    # "this week" is the school's week, not the server's (UTC) one
    today = dt.datetime.now(current_app.config["SETTINGS"].timezone).date()
    span = convert.diary_range(q.get("from"), q.get("to"), today)
    if isinstance(span, str):
        raise validation_error([{"field": "from", "message": text(span)}])
    first, last = span
    # no dates: the journal picks the week (the current one, or the latest with lessons when it is empty)
    default = not q.get("from") and not q.get("to")
    reply = current_clients().journal.GetDiary(journal_pb2.DiaryRequest(
        student_id=id, school_id=g.principal.school_id,
        from_date="" if default else first.isoformat(), to_date="" if default else last.isoformat()))
    return jsonify(convert.diary(reply, first, last))


# -- messaging, reports, backups ------------------------------------------------

@bp.get("/notifications")
def notifications():
    q = query_params()
    return jsonify(current_clients().rpc("messaging", "list_notifications", call_ctx(),
                                         q["limit"], q.get("cursor")))


@bp.get("/reports/<kind>")
def report(kind):
    """Any report kind as JSON, PDF or XLSX, streamed from reports' document
    stream (gRPC ``Reports/Document``): the first chunk names the file; the
    rest of the bytes follow as they come."""
    if kind not in openapi.REPORT_KINDS:
        raise ApiError(404, "NOT_FOUND")
    q = query_params()
    p = g.principal
    request_ = reports_pb2.DocumentRequest(
        actor_id=p.user_id, school_id=p.school_id or "", roles=list(p.roles), kind=kind, format=q["format"],
        **{name: q.get(name) or "" for name in ("class_id", "period_id", "year_id", "month")})
    stream = current_clients().reports.Document(request_, timeout=REPORT_TIMEOUT)
    first = next(stream)  # a refused report fails here, as an error of the table
    return report_files.response(first, stream, attachment=q["format"] != "json")


@bp.post("/reports/<kind>/files")
def start_report_files(kind):
    """The report's PDF and XLSX made as a job (202; GET /jobs/{id}, then
    GET /jobs/{id}/files/{format})."""
    from gateway.api_journal_structure import job_started

    if kind not in openapi.REPORT_KINDS:
        raise ApiError(404, "NOT_FOUND")
    q = query_params()
    params = {name: q.get(name) or None for name in ("class_id", "period_id", "year_id", "month")}
    return job_started(current_clients().rpc("reports", "start_report_files", call_ctx(), kind, params))


@bp.get("/jobs/<id>/files/<fmt>")
def job_file(id, fmt):
    """A done report job's file, as an attachment."""
    if fmt not in ("pdf", "xlsx"):
        raise ApiError(404, "NOT_FOUND")
    return report_files.archive_response(current_clients().rpc("reports", "job_file", call_ctx(), id, fmt))


@bp.get("/classes/<id>/parents-activity")
def parents_activity(id):
    """R-A6: which parents of the class used the system in a week (reports)."""
    return jsonify(current_clients().rpc("reports", "parents_activity", call_ctx(), id,
                                         query_params().get("week")))


@bp.get("/archives")
def list_archives():
    """The year-end class journals (R-D4) the reports service keeps."""
    q = query_params()
    return jsonify(current_clients().rpc("reports", "list_archives", call_ctx(), q.get("year_id")))


@bp.get("/archives/<id>/file")
def archive_file(id):
    """One archived journal's PDF or XLSX, as an attachment."""
    return report_files.archive_response(
        current_clients().rpc("reports", "archive_file", call_ctx(), id, query_params()["format"]))


@bp.post("/backups")
def request_backup():
    return created(current_clients().rpc("backup", "request_backup", call_ctx()), 202)


@bp.get("/backups")
def list_backups():
    return jsonify(current_clients().rpc("backup", "list_backups", call_ctx()))


@bp.get("/backups/schedule")
def backup_schedule():
    return jsonify(current_clients().rpc("backup", "backup_schedule", call_ctx()))


# A drill restores a whole archive into scratch databases: seconds for a
# school, more than the default RPC timeout allows.
DRILL_TIMEOUT = 600.0


@bp.post("/backups/<id>/restore-drill")
def restore_drill(id):
    return jsonify(current_clients().rpc("backup", "restore_drill", call_ctx(), id, timeout=DRILL_TIMEOUT))


ARCHIVE_CHUNK = 1024 * 1024


@bp.get("/backups/<id>/archive")
def download_backup(id):
    """The archive as stored (encrypted), streamed from the backup worker:
    the backup service checks the caller and issues a one-time ticket, the
    worker serves the file to it (R-D1: a copy on the administrator's computer)."""
    import requests

    clients = current_clients()
    ticket = clients.rpc("backup", "archive_ticket", call_ctx(), id)
    try:
        upstream = clients.worker_archive(ticket["backup_id"], ticket["ticket"])
    except requests.RequestException:
        raise ApiError(503, "SERVICE_UNAVAILABLE") from None
    if upstream.status_code != 200:
        status = upstream.status_code
        upstream.close()
        if status == 404:
            raise ApiError(404, "NOT_FOUND")
        raise ApiError(503, "SERVICE_UNAVAILABLE")

    def body():
        try:
            yield from upstream.iter_content(ARCHIVE_CHUNK)
        finally:
            upstream.close()

    response = Response(stream_with_context(body()), mimetype="application/octet-stream")
    response.headers["Content-Length"] = upstream.headers.get("Content-Length", "")
    response.headers["Content-Disposition"] = f'attachment; filename="{ticket["file_name"]}"'
    if ticket.get("sha256"):
        response.headers["X-Archive-SHA256"] = ticket["sha256"]
    return response


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(openapi.document())
