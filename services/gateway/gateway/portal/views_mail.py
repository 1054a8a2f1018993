"""Internal mail: inbox and sent, a letter with its thread, writing (and
answering) with attachments, downloading an attachment. Who may write to
whom is messaging's rule; the central decision is asked per recipient as
``POST /messages`` does. Recipients are picked from the people one may
write to (``GET /messages/recipients``): a search field and a list with
role and class, a plain form without script (its "find" button redraws the
form, keeping what was chosen and written); portal.js searches as one types."""
from __future__ import annotations

import base64
import re
from urllib.parse import quote

from flask import Response, g, redirect, render_template, request, url_for

from kernel import limits

from gateway.context import call_ctx, current_clients
from gateway.errors import ApiError
from gateway.openapi_messaging import MAX_ATTACHMENT_BYTES
from gateway.portal import bp, core
from gateway.portal.texts import ROLE_NAMES, T
from gateway.validation import problems

PAGE_SIZE = 20
RECIPIENTS_SHOWN = 50
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
    return render_template("portal/letter.html", message=message, thread=message.get("thread", []),
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


def _label(person: dict) -> str:
    """"Full name — role, class" of a recipient."""
    role = ROLE_NAMES.get(person.get("role") or "", person.get("role") or "")
    klass = (person.get("class") or {}).get("name")
    return person["full_name"] + (f" — {role}" if role else "") + (f", {klass}" if klass else "")


def _recipients(q: str | None, leave_out=()) -> dict:
    """The people one may write to whose name matches ``q`` (GET /messages/recipients), first page."""
    core.allow("GET /messages/recipients")
    if q is not None and len(q) > limits.LIST_QUERY:
        q = q[:limits.LIST_QUERY]
    answer = _rpc("recipients", q or None, RECIPIENTS_SHOWN, None)
    people = [{"id": p["id"], "label": _label(p)} for p in answer["items"]
              if p["id"] not in leave_out and p["id"] != g.principal.user_id]
    return {"people": people, "more": bool(answer.get("next_cursor")), "q": q or ""}


def _chosen(form: dict) -> list[dict]:
    return [{"id": i, "label": form.get("who", {}).get(i) or i} for i in form.get("to") or []]


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
    chosen = _chosen(form)
    found = _recipients(form.get("q", request.args.get("q")), {c["id"] for c in chosen})
    return render_template("portal/compose.html", message=message, original=original, reply_to=reply_to,
                           found=found, form=form, subject=subject or "", chosen=chosen,
                           max_kb=MAX_ATTACHMENT_BYTES // 1024), status


@bp.get("/mail/recipients")
@core.page
def recipients():
    """The list of the compose form alone, for portal.js's search as one types."""
    core.allow("POST /messages")
    leave_out = {i for i in request.args.getlist("chosen") if ID.match(i)}
    return render_template("portal/_recipients.html", found=_recipients(request.args.get("q"), leave_out))


@bp.get("/mail/new")
@core.page
def compose():
    core.allow("POST /messages")
    return _compose()


@bp.post("/mail/new")
@core.page
def send():
    to = list(dict.fromkeys(request.form.getlist("to")))
    wrong = [t for t in to if not ID.match(t)]
    if wrong:
        raise ApiError(400, "VALIDATION_ERROR", T["bad_recipient"])
    form = {"reply_to": request.form.get("reply_to", ""), "subject": request.form.get("subject", ""),
            "body": request.form.get("body", ""), "q": request.form.get("q", ""), "to": to,
            "who": {i: request.form.get(f"who-{i}", "")[:300] for i in to}}
    if request.form.get("do") == "search":  # the form's "find" button: the same form, other people listed
        return _compose(None, 200, form)
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
            return _compose(T["recipient_refused"].format(form["who"].get(recipient) or recipient), 400, form)
    try:
        sent = _rpc("send_message", data)
    except Exception as exc:  # noqa: BLE001
        return _compose(core.message_of(exc), 400, form)
    core.current_session().put("notice", T["sent"])
    return redirect(url_for("portal.letter", id=sent["id"]), 303)
