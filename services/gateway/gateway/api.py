"""The REST views of ``/api/v1`` (API.md): authenticate, validate against
the OpenAPI document, call the owning service, answer. No rules live here;
access is decided centrally by identity (Authorize, asked by every resource
route through :func:`authorize`) and again by the owning services.
"""
from __future__ import annotations

import collections
import datetime as dt
import threading
import time

from flask import current_app, Blueprint, g, jsonify, request

from ejournal.identity.v1 import identity_pb2
from ejournal.journal.v1 import journal_pb2

from gateway import convert, openapi
from gateway.auth import login_required, require_role
from gateway.context import call_ctx, current_clients
from gateway.errors import ApiError
from gateway.messages import text
from gateway.validation import json_body, query_params, validation_error

bp = Blueprint("api", __name__, url_prefix=openapi.API_PREFIX)

# Report kinds served now; the rest of API.md's kinds answer 422 until built.
AVAILABLE_REPORTS = {"progress"}


def idempotency() -> dict:
    """The client's Idempotency-Key for the RPC (gateway.api_journal_marks)."""
    from gateway.api_journal_marks import idempotency as passed_through
    return passed_through()


def created(payload, status: int = 201):
    return jsonify(payload), status


class DecisionCache:
    """Identity's recent access decisions, so a page's burst of requests
    asks once. Entries live ``max_age`` seconds at most (default 2 s): a
    relationship that ends (consent withdrawn, a child moved to another
    class) stops granting access within that bound. At most ``size``
    entries, oldest dropped first."""

    invalidator = None  # gateway.invalidation.Invalidator: clears on relationship events

    def __init__(self, size: int = 10000, max_age: float = 2.0, clock=time.monotonic):
        self.size, self.max_age, self._clock = size, max_age, clock
        self._lock = threading.Lock()
        self._entries: collections.OrderedDict = collections.OrderedDict()

    def get(self, key):
        if self.invalidator is not None:
            self.invalidator.ensure_started()  # in the worker, after the fork
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self._clock() >= entry[1]:
                del self._entries[key]
                return None
            return entry[0]

    def put(self, key, decision) -> None:
        with self._lock:
            self._entries[key] = (decision, self._clock() + self.max_age)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self, *_event) -> None:
        """Forget every decision (also the relationship-event callback)."""
        with self._lock:
            self._entries.clear()


DECISIONS = "ejournal.gateway.decisions"


def authorize(action: str, resource_type: str, resource_id, **context) -> None:
    """Ask identity whether the caller may do ``action`` on the resource;
    404 or 403 if not (docs/contracts.md "Access decisions": not yours looks
    like not found). ``context`` names what else the action touches (e.g.
    ``subject_id``). Every resource route asks before calling the owning
    service, which keeps its own checks. A "deferred" answer (identity has
    not heard of that journal resource yet) leaves the decision to the
    owner and is not cached."""
    if not isinstance(resource_id, str) or not resource_id:
        return  # the owner answers the validation error (a resource id is required there)
    p = g.principal
    context = {k: v for k, v in context.items() if isinstance(v, str) and v}
    cache = current_app.extensions.get(DECISIONS)
    key = (p.user_id, p.school_id, tuple(sorted(p.roles)), action, resource_type, resource_id,
           tuple(sorted(context.items())))
    decision = cache.get(key) if cache is not None else None
    if decision is None:
        reply = current_clients().identity.Authorize(identity_pb2.AuthorizeRequest(
            subject_id=p.user_id, school_id=p.school_id, roles=list(p.roles), action=action,
            resource_type=resource_type, resource_id=resource_id, context=context))
        decision = (bool(reply.allowed), reply.denial)
        if cache is not None and reply.reason != "deferred":
            cache.put(key, decision)
    allowed, denial = decision
    if allowed:
        return
    if denial == "forbidden":
        raise ApiError(403, "FORBIDDEN")
    raise ApiError(404, "NOT_FOUND")  # "not_found", and anything unexpected: reveal nothing


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
@login_required
def me():
    reply = current_clients().identity.GetProfile(identity_pb2.ProfileRequest(user_id=g.principal.user_id))
    return jsonify(convert.profile(reply))


@bp.post("/users")
@login_required
def create_user():
    body = json_body()
    return created(current_clients().rpc("identity", "create_user", call_ctx(), body))


@bp.post("/students/<id>/parents")
@login_required
def link_parent(id):
    body = json_body()
    authorize("student.link_parent", "student", id)
    return created(current_clients().rpc("identity", "link_parent", call_ctx(), id,
                                         body["parent_id"], body["relation"]))


@bp.put("/parents/<id>/consent")
@login_required
def record_consent(id):
    body = json_body()
    authorize("parent.consent", "user", id)
    return jsonify(current_clients().rpc("identity", "record_consent", call_ctx(), id,
                                         body["given"], body["signed_on"]))


# -- school structure and the journal (journal) ---------------------------------

@bp.post("/years")
@login_required
def open_year():
    return created(current_clients().rpc("journal", "open_year", call_ctx(), json_body()))


@bp.post("/subjects")
@login_required
def create_subject():
    return created(current_clients().rpc("journal", "create_subject", call_ctx(), json_body()))


@bp.post("/classes")
@login_required
def create_class():
    return created(current_clients().rpc("journal", "create_class", call_ctx(), json_body()))


@bp.post("/classes/<id>/students")
@login_required
def enroll_student(id):
    body = json_body()
    authorize("class.enrol", "class", id)
    return created(current_clients().rpc("journal", "enroll_student", call_ctx(), id, body))


@bp.post("/assignments")
@login_required
def assign_teacher():
    body = json_body()
    authorize("class.assign", "class", body.get("class_id"))
    return created(current_clients().rpc("journal", "assign_teacher", call_ctx(), body))


@bp.post("/lessons")
@login_required
def record_lesson():
    body = json_body()
    authorize("lesson.write", "class", body.get("class_id"), subject_id=body.get("subject_id"),
              subgroup_id=body.get("subgroup_id"), substitute_for=body.get("substitute_for"))
    return created(current_clients().rpc("journal", "record_lesson", call_ctx(), body, **idempotency()))


@bp.put("/lessons/<id>/marks")
@login_required
def post_marks(id):
    body = json_body()
    authorize("lesson.marks", "lesson", id)
    return jsonify(current_clients().rpc("journal", "post_marks", call_ctx(), id, body["marks"], **idempotency()))


@bp.get("/students/<id>/diary")
@login_required
def diary(id):
    q = query_params()
    # "this week" is the school's week, not the server's (UTC) one
    today = dt.datetime.now(current_app.config["SETTINGS"].timezone).date()
    span = convert.diary_range(q.get("from"), q.get("to"), today)
    if isinstance(span, str):
        raise validation_error([{"field": "from", "message": text(span)}])
    first, last = span
    authorize("diary.read", "student", id)
    reply = current_clients().journal.GetDiary(journal_pb2.DiaryRequest(
        student_id=id, school_id=g.principal.school_id,
        from_date=first.isoformat(), to_date=last.isoformat()))
    return jsonify(convert.diary(reply))


# -- messaging, reports, backups ------------------------------------------------

@bp.get("/notifications")
@login_required
def notifications():
    q = query_params()
    return jsonify(current_clients().rpc("messaging", "list_notifications", call_ctx(),
                                         q["limit"], q.get("cursor")))


@bp.get("/reports/<kind>")
@login_required
def report(kind):
    if kind not in openapi.REPORT_KINDS:
        raise ApiError(404, "NOT_FOUND")
    q = query_params()
    if kind not in AVAILABLE_REPORTS:
        raise ApiError(422, "REPORT_NOT_AVAILABLE", details={"kind": kind})
    if q["format"] != "json":
        raise ApiError(422, "FORMAT_NOT_AVAILABLE", details={"format": q["format"]})
    missing = [name for name in ("class_id", "period_id") if not q.get(name)]
    if missing:
        raise validation_error([{"field": name, "message": text("problem.required")} for name in missing])
    authorize("report.read", "class", q["class_id"])
    return jsonify(current_clients().rpc("reports", "progress", call_ctx(), q["class_id"], q["period_id"]))


@bp.post("/backups")
@login_required
def request_backup():
    require_role("admin")
    return created(current_clients().rpc("backup", "request_backup", call_ctx()), 202)


@bp.get("/backups")
@login_required
def list_backups():
    require_role("admin")
    return jsonify(current_clients().rpc("backup", "list_backups", call_ctx()))


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(openapi.document())
