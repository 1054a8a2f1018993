"""The people reads: the school's users (``GET /users``, identity decides
whom the caller may list), the people the caller may write to
(``GET /messages/recipients``) and one news item (``GET /news/{id}``,
messaging decides both). gateway.guard has authenticated the caller,
checked who may ever use the route and validated the query first."""
from __future__ import annotations

from flask import Blueprint, jsonify

from gateway import openapi
from gateway.context import call_ctx, current_clients
from gateway.validation import query_params

bp = Blueprint("api_people_reads", __name__, url_prefix=openapi.API_PREFIX)


@bp.get("/users")
def list_users():
    q = query_params()
    return jsonify(current_clients().rpc("identity", "list_users", call_ctx(), q.get("q"), q.get("role"),
                                         q["limit"], q.get("cursor")))


@bp.get("/messages/recipients")
def list_recipients():
    q = query_params()
    return jsonify(current_clients().rpc("messaging", "recipients", call_ctx(), q.get("q"), q["limit"],
                                         q.get("cursor")))


@bp.get("/news/<id>")
def get_news(id):
    return jsonify(current_clients().rpc("messaging", "get_news", call_ctx(), id))
