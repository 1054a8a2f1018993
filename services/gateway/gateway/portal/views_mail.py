"""Internal mail: inbox and sent, a letter with its thread, writing (and
answering) with attachments, downloading an attachment. Who may write to
whom is messaging's rule; the central decision is asked per recipient as
``POST /messages`` does. There is no read of the people one may write to
yet: recipients are chosen among the people of one's correspondence, or
by id."""
from __future__ import annotations

import base64
import re
from urllib.parse import quote

from flask import Response, g, redirect, render_template, request, url_for

from gateway.context import call_ctx, current_clients
from gateway.errors import ApiError
from gateway.openapi_messaging import MAX_ATTACHMENT_BYTES
from gateway.portal import bp, core
from gateway.portal.texts import T
from gateway.validation import problems

PAGE_SIZE = 20
THREAD_SCAN = 100
ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def _rpc(method: str, *args):
    return current_clients().rpc("messaging", method, call_ctx(), *args)


def _cursor():
    cursor = request.args.get("cursor") or None
    if cursor is not None and len(cursor) > 200:
        raise ApiError(400, "VALIDATION_ERROR")
    return cursor


@bp.get("/mail")
@core.page
def mail():
    core.allow("GET /messages")
    folder = request.args.get("folder", "inbox")
    if folder not in ("inbox", "sent"):
        raise ApiError(404, "NOT_FOUND")
    answer = _rpc("list_messages", folder, PAGE_SIZE, _cursor())
    return render_template("portal/mail.html", folder=folder, items=answer["items"],
                           more_url=url_for("portal.mail", folder=folder, cursor=answer["next_cursor"])
                           if answer["next_cursor"] else None)


@bp.get("/mail/<id>")
@core.page
def letter(id):
    core.allow("GET /messages/{id}", id)
    message = _rpc("get_message", id)
    thread = []
    for folder in ("inbox", "sent"):
        for item in _rpc("list_messages", folder, THREAD_SCAN, None)["items"]:
            if item["thread_id"] == message["thread_id"] and item["id"] != message["id"]:
                thread.append(item)
    thread.sort(key=lambda m: m["created_at"])
    return render_template("portal/letter.html", message=message, thread=thread,
                           mine=message["sender_id"] == g.principal.user_id)


@bp.get("/mail/<id>/attachments/<attachment_id>")
@core.page
def attachment(id, attachment_id):
    core.allow("GET /messages/{id}/attachments/{attachment_id}", id)
    found = _rpc("get_attachment", id, attachment_id)
    # always a download, never rendered in the portal's origin (as the API answers it)
    response = Response(base64.b64decode(found["content_base64"]), mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(found['name'])}"
    return response


def _correspondents() -> list[dict]:
    """The people of the first pages of one's inbox and sent letters
    (there is no read of the allowed recipients yet)."""
    people = {}
    for item in _rpc("list_messages", "inbox", THREAD_SCAN, None)["items"]:
        people.setdefault(item["sender_id"], item.get("sender_name") or item["sender_id"])
    for item in _rpc("list_messages", "sent", THREAD_SCAN, None)["items"]:
        for r in item.get("recipients") or []:
            people.setdefault(r["id"], r.get("name") or r["id"])
    people.pop(g.principal.user_id, None)
    return sorted(({"id": k, "name": v} for k, v in people.items()), key=lambda p: p["name"])


def _compose(message=None, status=200, form=None):
    form = form or {}
    reply_to = form.get("reply_to") or request.args.get("reply_to") or ""
    original = None
    if reply_to:
        core.allow("GET /messages/{id}", reply_to)
        original = _rpc("get_message", reply_to)
    subject = form.get("subject")
    if subject is None and original is not None:
        subject = original["subject"] if original["subject"].startswith("Re:") else "Re: " + original["subject"]
    return render_template("portal/compose.html", message=message, original=original, reply_to=reply_to,
                           people=_correspondents(), form=form, subject=subject or "",
                           chosen=set(form.get("known") or []), max_kb=MAX_ATTACHMENT_BYTES // 1024), status


@bp.get("/mail/new")
@core.page
def compose():
    core.allow("POST /messages")
    return _compose()


@bp.post("/mail/new")
@core.page
def send():
    form = {"reply_to": request.form.get("reply_to", ""), "subject": request.form.get("subject", ""),
            "body": request.form.get("body", ""), "ids": request.form.get("ids", ""),
            "known": request.form.getlist("known")}
    typed = [t for t in re.split(r"[\s,;]+", form["ids"]) if t]
    wrong = [t for t in typed if not ID.match(t)]
    if wrong:
        return _compose(T["bad_recipient"].format(", ".join(wrong[:3])[:200]), 400, form)
    to = list(dict.fromkeys([*form["known"], *typed]))
    if not to and not form["reply_to"]:
        return _compose(T["no_recipients"], 400, form)
    files, total = [], 0
    for upload in request.files.getlist("attachments"):
        if not upload or not upload.filename:
            continue
        content = upload.read()
        total += len(content)
        files.append({"name": upload.filename[:255], "content_type": (upload.mimetype or None),
                      "content_base64": base64.b64encode(content).decode()})
    if total > MAX_ATTACHMENT_BYTES:
        return _compose(T["attachment_too_large"].format(MAX_ATTACHMENT_BYTES // 1024), 400, form)
    data = {"to": to, "subject": form["subject"].strip(), "body": form["body"].strip()}
    if form["reply_to"]:
        data["reply_to"] = form["reply_to"]
    if files:
        data["attachments"] = files
    found = problems("SendMessageRequest", data)
    if found:
        return _compose(core.message_of(ApiError(400, "VALIDATION_ERROR", details={"problems": found})), 400, form)
    for recipient in to:  # the central decision, each recipient (as POST /messages)
        try:
            core.allow("POST /messages", recipient)
        except ApiError as exc:
            if exc.status not in (403, 404):
                raise
            return _compose(T["recipient_refused"].format(recipient), 400, form)
    try:
        sent = _rpc("send_message", data)
    except Exception as exc:  # noqa: BLE001
        return _compose(core.message_of(exc), 400, form)
    core.current_session().put("notice", T["sent"])
    return redirect(url_for("portal.letter", id=sent["id"]), 303)
