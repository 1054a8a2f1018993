"""Identity's session, password, people and audit routes: the
views only call identity (gateway.guard authenticated and validated first);
identity decides."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from ejournal.identity.v1 import identity_pb2

from gateway import convert, openapi
from gateway.context import call_ctx, current_clients
from gateway.validation import json_body, query_params

bp = Blueprint("api_identity", __name__, url_prefix=openapi.API_PREFIX)


@bp.post("/auth/refresh")
def refresh():
    body = json_body()
    reply = current_clients().identity.Refresh(identity_pb2.RefreshRequest(
        refresh_token=body["refresh_token"], client_address=request.remote_addr or ""))
    return jsonify(convert.token_pair(reply))


@bp.post("/auth/logout")
def logout():
    body = json_body()
    current_clients().identity.Logout(identity_pb2.LogoutRequest(
        refresh_token=body["refresh_token"], user_id=g.principal.user_id))
    return "", 204


@bp.put("/me/password")
def change_password():
    body = json_body()
    # the session it is changed in goes on; every other one ends (ASVS 3.3.3)
    current_clients().rpc("identity", "change_password", call_ctx(), body["old_password"], body["new_password"],
                          keep_session=g.principal.session_id or None)
    return "", 204


@bp.post("/me/totp")
def begin_totp():
    return jsonify(current_clients().rpc("identity", "begin_totp", call_ctx())), 201


@bp.post("/me/totp/confirm")
def confirm_totp():
    body = json_body()
    return jsonify(current_clients().rpc("identity", "confirm_totp", call_ctx(), body["code"]))


@bp.get("/users/<id>")
def get_user(id):
    return jsonify(current_clients().rpc("identity", "get_user", call_ctx(), id))


@bp.put("/users/<id>/roles")
def set_roles(id):
    body = json_body()
    return jsonify(current_clients().rpc("identity", "set_roles", call_ctx(), id, body["roles"]))


@bp.post("/users/<id>/unlock")
def unlock_login(id):
    return jsonify(current_clients().rpc("identity", "unlock_login", call_ctx(), id))


@bp.post("/users/<id>/password-reset")
def reset_password(id):
    # the new password is on this answer only (never logged: the access log keeps no bodies)
    return jsonify(current_clients().rpc("identity", "reset_password", call_ctx(), id))


@bp.get("/audit")
def list_audit():
    q = query_params()
    return jsonify(current_clients().rpc("identity", "list_audit", call_ctx(), q.get("target_id"),
                                         q.get("action"), q["limit"], from_date=q.get("from"), to_date=q.get("to")))


@bp.get("/access-log")
def list_access():
    q = query_params()
    return jsonify(current_clients().rpc("identity", "list_access", call_ctx(), q.get("user_id"), q.get("from"),
                                         q.get("to"), q["limit"]))


@bp.get("/activity")
def activity():
    q = query_params()
    return jsonify(current_clients().rpc("identity", "activity", call_ctx(), q["month"]))
