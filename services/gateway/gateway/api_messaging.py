"""REST views of messaging (API.md "Messaging and news"): internal mail,
news and announcements, notification settings. The gateway authenticates,
validates against the OpenAPI document, asks identity's central decision
for every route about one resource (a recipient, a letter: docs/contracts.md
"Access decisions") and passes the verified caller as ``ctx``. Messaging
keeps its own rules (who may write to whom, who reads which letter, who
sees which news) and checks them again.
"""
from __future__ import annotations

import base64
from urllib.parse import quote

from flask import Blueprint, Response, jsonify

from gateway import openapi
from gateway.api import authorize
from gateway.auth import login_required
from gateway.context import call_ctx, current_clients
from gateway.validation import json_body, query_params

bp = Blueprint("api_messaging", __name__, url_prefix=openapi.API_PREFIX)


def _rpc(method: str, *args):
    return current_clients().rpc("messaging", method, call_ctx(), *args)


@bp.post("/messages")
@login_required
def send_message():
    body = json_body()
    for recipient in body.get("to") or ():  # a letter stays within the writer's school
        authorize("message.send", "user", recipient)
    return jsonify(_rpc("send_message", body)), 201


@bp.get("/messages")
@login_required
def list_messages():
    q = query_params()
    return jsonify(_rpc("list_messages", q["folder"], q["limit"], q.get("cursor")))


@bp.get("/messages/<id>")
@login_required
def get_message(id):
    authorize("message.read", "message", id)  # its sender and recipients only
    return jsonify(_rpc("get_message", id))


@bp.get("/messages/<id>/attachments/<attachment_id>")
@login_required
def get_attachment(id, attachment_id):
    authorize("message.read", "message", id)  # who may read the letter may download its attachments
    found = _rpc("get_attachment", id, attachment_id)
    # Always a download, never rendered by the browser: an uploaded HTML
    # file must not run in the portal's origin.
    response = Response(base64.b64decode(found["content_base64"]), mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(found['name'])}"
    response.headers["X-Original-Content-Type"] = found["content_type"]
    return response


@bp.get("/me/notification-settings")
@login_required
def get_notification_settings():
    return jsonify(_rpc("get_notification_settings"))


@bp.put("/me/notification-settings")
@login_required
def set_notification_settings():
    return jsonify(_rpc("set_notification_settings", json_body()))


@bp.post("/news")
@login_required
def post_news():
    return jsonify(_rpc("post_news", json_body())), 201


@bp.get("/news")
@login_required
def list_news():
    q = query_params()
    return jsonify(_rpc("list_news", q["limit"], q.get("cursor")))
