"""OpenAPI paths and schemas of messaging (mail, news, notification
settings); merged into :mod:`gateway.openapi` by :func:`register`."""
from __future__ import annotations

MAX_ATTACHMENT_BYTES = 512 * 1024  # messaging.domain.MAX_ATTACHMENT_BYTES


def register(requests: dict, responses: dict, paths: dict) -> None:
    """Add this module's schemas and paths (called once by gateway.openapi,
    whose helpers are imported here lazily to avoid an import cycle)."""
    from gateway.openapi import API_PREFIX as P, ID, _closed, _nullable, _op, _open, _path_id, _query

    text = {"type": "string", "minLength": 1}
    page = [_query("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}),
            _query("cursor", {"type": "string", "minLength": 1, "maxLength": 200})]
    # Nested objects are inlined: REQUEST_SCHEMAS holds request bodies.
    attachment = _closed({
        "name": {**text, "maxLength": 255},
        "content_type": _nullable({"type": "string", "maxLength": 100}),
        "content_base64": {"type": "string", "maxLength": (MAX_ATTACHMENT_BYTES * 4) // 3 + 4,
                           "contentEncoding": "base64"},
    }, ["name", "content_base64"])
    link = _closed({"title": {**text, "maxLength": 300},
                    "url": {**text, "maxLength": 2000, "pattern": r"^(https?://|/)"}}, ["title", "url"])
    requests.update({
        "SendMessageRequest": _closed({
            "to": {"type": "array", "items": ID, "maxItems": 200, "uniqueItems": True},
            "subject": {**text, "maxLength": 300},
            "body": {**text, "maxLength": 20000},
            "reply_to": _nullable(ID),
            "to_parents_of_class": _nullable(ID),
            "attachments": {"type": "array", "items": attachment,
                            "maxItems": 10},
        }, ["subject", "body"],
            "R-M1. `to` may be empty in a reply (then the author of `reply_to` is the recipient) or with "
            "`to_parents_of_class` (the class teacher or the administration writes to every parent of the "
            f"class, R-M3). Attachments: at most {MAX_ATTACHMENT_BYTES // 1024} KiB together."),
        "NotificationSettingsRequest": _closed({
            "email": {"enum": ["off", "instant", "daily"]},
            "digest_time": {"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
                            "description": "HH:MM, school time, for daily"},
        }, ["email"]),
        "PostNewsRequest": _closed({
            "title": {**text, "maxLength": 300},
            "body": {**text, "maxLength": 20000},
            "kind": _nullable({"enum": ["news", "announcement"]}),
            "audience": {"oneOf": [
                _closed({"school": {"const": True}}, ["school"]),
                _closed({"staff": {"const": True}}, ["staff"]),
                _closed({"class_id": ID}, ["class_id"]),
                _closed({"parents_of_class": ID}, ["parents_of_class"]),
            ]},
            "links": {"type": "array", "items": link, "maxItems": 20},
        }, ["title", "body", "audience"],
            "R-M4. kind defaults to news for the news editor, announcement otherwise."),
    })
    recipient = _open({"id": {"type": "string"}, "name": {"type": ["string", "null"]},
                       "read_at": {"type": ["string", "null"], "description": "Only for the sender"}}, ["id"])
    summary = {"id": {"type": "string"}, "thread_id": {"type": "string"}, "reply_to": {"type": ["string", "null"]},
               "sender_id": {"type": "string"}, "sender_name": {"type": ["string", "null"]},
               "subject": {"type": "string"}, "created_at": {"type": "string"}, "read": {"type": "boolean"}}
    news = _open({"id": {"type": "string"}, "kind": {"type": "string"}, "title": {"type": "string"},
                  "body": {"type": "string"}, "links": {"type": "array"}, "audience": {"type": "object"},
                  "author_id": {"type": "string"}, "created_at": {"type": "string"},
                  "published_at": {"type": "string"},
                  "author": _open({"id": {"type": "string"}, "full_name": {"type": ["string", "null"]}})},
                 ["id", "title", "body", "links", "audience", "published_at", "author"])
    responses.update({
        "SentMessage": _open({"id": {"type": "string"}, "thread_id": {"type": "string"},
                              "recipients": {"type": "array", "items": {"type": "string"}}}),
        "MessageList": _open({"items": {"type": "array", "items": _open(
            {**summary, "recipients": {"type": "array", "items": recipient}}, list(summary))},
            "next_cursor": {"type": ["string", "null"]}}),
        "Message": _open({**summary, "body": {"type": "string"}, "recipients": {"type": "array", "items": recipient},
                          "attachments": {"type": "array", "items": _open({
                              "id": {"type": "string"}, "name": {"type": "string"},
                              "content_type": {"type": "string"}, "size": {"type": "integer"}})},
                          "thread": {"type": "array", "description": "The other letters of its thread the caller "
                                     "sent or received, oldest first (at most 100)",
                                     "items": _open({k: v for k, v in summary.items() if k != "read"},
                                                    [k for k in summary if k != "read"])}}),
        "NotificationSettings": _open({"email": {"enum": ["off", "instant", "daily"]},
                                       "digest_time": {"type": "string"}}),
        "News": news,
        "NewsList": _open({"items": {"type": "array", "items": news}, "next_cursor": {"type": ["string", "null"]}}),
    })
    paths.update({
        f"{P}/messages": {
            "post": _op("send_message", "Написать сообщение", "messaging", body="SendMessageRequest",
                        ok=(201, "SentMessage", "Sent"), errors=(400, 403, 404),
                        description="403 RECIPIENT_NOT_ALLOWED (details.refused lists them) when the rules of "
                                    "R-M1/R-A3 forbid a recipient; then nothing is sent. 404: reply_to is not "
                                    "a letter of yours. 400 ATTACHMENT_TOO_LARGE."),
            "get": _op("list_messages", "Входящие или отправленные", "messaging", params=[
                _query("folder", {"enum": ["inbox", "sent"], "default": "inbox"}), *page],
                ok=(200, "MessageList", "Newest first; sent letters carry read receipts"), errors=(400,)),
        },
        f"{P}/messages/{{id}}": {"get": _op(
            "get_message", "Сообщение", "messaging", params=[_path_id()], ok=(200, "Message", "The letter"),
            errors=(404,), description="Sender and recipients only; opening it as a recipient marks it read.")},
        f"{P}/messages/{{id}}/attachments/{{attachment_id}}": {"get": {
            **_op("get_message_attachment", "Вложение", "messaging",
                  params=[_path_id(), _path_id("attachment_id")], errors=(404,)),
            "responses": {
                "200": {"description": "The file, as a download",
                        "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                            "format": "binary"}}}},
                **{c: {"$ref": f"#/components/responses/{n}"} for c, n in
                   (("400", "BadRequest"), ("401", "Unauthorized"), ("404", "NotFound"), ("500", "InternalError"),
                    ("503", "ServiceUnavailable"))}}}},
        f"{P}/me/notification-settings": {
            "get": _op("get_notification_settings", "Мои настройки уведомлений", "messaging",
                       ok=(200, "NotificationSettings", "Current settings (default instant)")),
            "put": _op("set_notification_settings", "Изменить настройки уведомлений", "messaging",
                       body="NotificationSettingsRequest", ok=(200, "NotificationSettings", "Saved"),
                       errors=(400,), description="R-M2: e-mail off, instant, or a daily digest at digest_time."),
        },
        f"{P}/news": {
            "post": _op("post_news", "Опубликовать новость или объявление", "messaging", body="PostNewsRequest",
                        ok=(201, "News", "Posted; its audience is notified"), errors=(400, 403, 404),
                        description="news: news_editor, director, deputy; announcement: secretary, director, "
                                    "deputy (R-M4)."),
            "get": _op("list_news", "Новости и объявления", "messaging", params=page,
                       ok=(200, "NewsList", "What is addressed to the caller, newest first")),
        },
    })
