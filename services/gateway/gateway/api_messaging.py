"""REST views of messaging (API.md "Messaging and news"): internal mail,
news and announcements, notification settings. gateway.guard has
authenticated the caller, asked identity's central decision for every route
about one resource (each recipient, a letter: docs/contracts.md "Access
decisions") and validated the request before a view runs; the view passes
the verified caller as ``ctx``. Messaging
keeps its own rules (who may write to whom, who reads which letter, who
sees which news) and checks them again.
"""
from __future__ import annotations

import base64
from urllib.parse import quote

from flask import Blueprint, Response, jsonify

from gateway import openapi
from gateway.context import call_ctx, current_clients
from gateway.validation import json_body, query_params

bp = Blueprint("api_messaging", __name__, url_prefix=openapi.API_PREFIX)


def _rpc(method: str, *args):
    return current_clients().rpc("messaging", method, call_ctx(), *args)


@bp.post("/messages")
def send_message():
    body = json_body()
    return jsonify(_rpc("send_message", body)), 201


@bp.get("/messages")
def list_messages():
    q = query_params()
    return jsonify(_rpc("list_messages", q["folder"], q["limit"], q.get("cursor")))


@bp.get("/messages/<id>")
def get_message(id):
    return jsonify(_rpc("get_message", id))


@bp.get("/messages/<id>/attachments/<attachment_id>")
def get_attachment(id, attachment_id):
    found = _rpc("get_attachment", id, attachment_id)
    # Always a download, never rendered by the browser: an uploaded HTML
    # file must not run in the portal's origin.
    response = Response(base64.b64decode(found["content_base64"]), mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(found['name'])}"
    response.headers["X-Original-Content-Type"] = found["content_type"]
    return response


@bp.get("/me/notification-settings")
def get_notification_settings():
    return jsonify(_rpc("get_notification_settings"))


@bp.put("/me/notification-settings")
def set_notification_settings():
    return jsonify(_rpc("set_notification_settings", json_body()))


@bp.post("/news")
def post_news():
    return jsonify(_rpc("post_news", json_body())), 201


@bp.get("/news")
def list_news():
    q = query_params()
    return jsonify(_rpc("list_news", q["limit"], q.get("cursor")))
