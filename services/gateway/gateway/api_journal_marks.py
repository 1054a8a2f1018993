"""REST views of the journal's corrections (R-J7), attendance (R-J2), final
marks and forecasts (R-F) and the tamper check; OpenAPI in
:mod:`gateway.openapi_journal_marks`. Rules and access live in the journal;
the gateway asks identity only where the journal cannot know (a parent's
child). Every write passes the client's ``Idempotency-Key`` through."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from gateway import openapi
from gateway.api import authorize
from gateway.auth import login_required
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
@login_required
def correct_mark(id):
    return jsonify(journal("correct_mark", id, json_body(), **idempotency()))


@bp.delete("/marks/<id>")
@login_required
def remove_mark(id):
    journal("remove_mark", id, json_body(), **idempotency())
    return "", 204


@bp.get("/marks/<id>/history")
@login_required
def mark_history(id):
    history = journal("mark_history", id)
    response = jsonify(history["items"])
    response.headers["X-Chain-Verified"] = "true" if history["verified"] else "false"
    return response


@bp.get("/journal/verify")
@login_required
def verify_journal():
    return jsonify(journal("verify_journal"))


@bp.put("/lessons/<id>/attendance")
@login_required
def record_attendance(id):
    return jsonify(journal("record_attendance", id, json_body(), **idempotency()))


@bp.put("/final-marks")
@login_required
def post_final_mark():
    return jsonify(journal("post_final_mark", json_body(), **idempotency()))


@bp.get("/students/<id>/forecast")
@login_required
def forecast(id):
    q = query_params()
    authorize("diary.read", "student", id)  # who may see the diary may see its forecast
    return jsonify(journal("forecast", id, q.get("period_id"))["items"])


@bp.get("/classes/<id>/at-risk")
@login_required
def students_at_risk(id):
    q = query_params()
    authorize("report.read", "class", id)
    return jsonify(journal("students_at_risk", id, q.get("period_id")))
