"""Events identity publishes (docs/events.md, producer "identity") with their
payload builders, and the journal events it consumes."""
from __future__ import annotations

import datetime as dt
import re

PRODUCER = "identity"

USER_CREATED = "user_created"
ROLES_CHANGED = "roles_changed"  # published by the later "Identity and access" issue
PARENT_LINKED = "parent_linked"
CONSENT_RECORDED = "consent_recorded"
SESSIONS_REVOKED = "sessions_revoked"

# Consumed from the gateway (R-A6).
GATEWAY = "gateway"
ACCESS_RECORDED = "access_recorded"
# The gateway groups its access events: one message carries several unchanged
# ``access_recorded`` envelopes in ``payload.events`` (docs/events.md).
ACCESS_RECORDED_BATCH = "access_recorded_batch"

# Consumed from the journal.
JOURNAL = "journal"
CLASS_CREATED = "class_created"
STUDENT_ENROLLED = "student_enrolled"
TEACHER_ASSIGNED = "teacher_assigned"
LESSON_RECORDED = "lesson_recorded"
MARK_POSTED = "mark_posted"
YEAR_OPENED = "year_opened"
STUDENT_LEFT = "student_left"
STUDENT_TRANSFERRED = "student_transferred"

# Consumed from messaging: who takes part in a letter (message.read).
MESSAGING = "messaging"
MESSAGE_SENT = "message_sent"


def _date(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def user_created(user) -> dict:
    """``{user_id, login, full_name, roles, email, birth_date, sex}``"""
    return {
        "user_id": user.id, "login": user.login, "full_name": user.full_name, "roles": list(user.roles),
        "email": user.email, "birth_date": _date(user.birth_date), "sex": user.sex,
    }


def parent_linked(link) -> dict:
    """``{student_id, parent_id, relation}``"""
    return {"student_id": link.student_id, "parent_id": link.parent_id, "relation": link.relation}


def consent_recorded(consent) -> dict:
    """``{parent_id, given, signed_on}``"""
    return {"parent_id": consent.parent_id, "given": bool(consent.given), "signed_on": _date(consent.signed_on)}


def require(payload: dict, *names: str) -> list:
    """The named payload fields; a missing or non-string one makes the event
    poison (the handler raises, the kernel dead-letters it)."""
    values = []
    for name in names:
        value = payload.get(name)
        if not isinstance(value, str) or not value:
            raise ValueError(f"payload field {name!r} missing or not a string")
        values.append(value)
    return values


def optional(payload: dict, name: str) -> str | None:
    value = payload.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"payload field {name!r} is not a string")
    return value


def optional_date(payload: dict, name: str) -> dt.date | None:
    value = optional(payload, name)
    return dt.date.fromisoformat(value) if value else None


def letter(payload: dict) -> tuple[str, str, list]:
    """``(message_id, sender_id, recipient_ids)`` of a ``message_sent``
    payload; ValueError for a malformed one (dead-lettered). Ids longer than
    their column are refused, not cut."""
    message_id, sender_id = require(payload, "message_id", "sender_id")
    recipients = payload.get("recipient_ids")
    if not isinstance(recipients, list) or not recipients or not all(isinstance(r, str) and r for r in recipients):
        raise ValueError("payload field 'recipient_ids' is not a non-empty list of strings")
    for value in (message_id, sender_id, *recipients):
        if len(value) > 36:
            raise ValueError("an id of the letter is longer than 36 characters")
    return message_id, sender_id, recipients


_BROKEN_TEXT = re.compile("[\x00\ud800-\udfff]")


def access_row(envelope: dict) -> dict:
    """The ``access_log`` row of one ``access_recorded`` envelope; ValueError
    for a malformed one (it is dead-lettered, never dropped silently). Texts
    longer than their column are cut, ids longer than theirs are refused."""
    payload = envelope.get("payload")
    if not isinstance(payload, dict):
        raise ValueError("event payload is not an object")
    event_id = envelope.get("id")
    if not isinstance(event_id, str) or not event_id or len(event_id) > 36:
        raise ValueError("event id missing or longer than 36 characters")
    user_id, method, route = require(payload, "user_id", "method", "route")
    school_id = envelope.get("school_id") or None
    for name, value in (("user_id", user_id), ("school_id", school_id)):
        if value is not None and (not isinstance(value, str) or len(value) > 36):
            raise ValueError(f"{name} is not a string of at most 36 characters")
    status = payload.get("status")
    if not isinstance(status, int) or isinstance(status, bool):
        raise ValueError("payload field 'status' is not an integer")
    roles = payload.get("roles") or []
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise ValueError("payload field 'roles' is not a list of strings")
    occurred = envelope.get("occurred_at")
    if not isinstance(occurred, str):
        raise ValueError("event occurred_at is not a string")
    at = dt.datetime.fromisoformat(occurred)
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.timezone.utc)
    resource_id, address = optional(payload, "resource_id"), optional(payload, "address")
    correlation_id = envelope.get("correlation_id")
    if correlation_id is not None and not isinstance(correlation_id, str):
        raise ValueError("event correlation_id is not a string")
    texts = {"user_id": user_id, "school_id": school_id, "method": method, "route": route, "resource_id": resource_id,
             "address": address, "correlation_id": correlation_id, "roles": "".join(roles)}
    for name, value in texts.items():
        if value and _BROKEN_TEXT.search(value):
            # PostgreSQL refuses NUL in text; a lone surrogate is not UTF-8
            raise ValueError(f"{name} holds a NUL or a lone surrogate")
    return {"id": event_id, "school_id": school_id, "user_id": user_id, "roles": list(roles),
            "method": method[:10], "route": route[:200], "resource_id": resource_id and resource_id[:64],
            "status": status, "address": address and address[:64],
            "correlation_id": (correlation_id or None) and correlation_id[:64], "at": at}
