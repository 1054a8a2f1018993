"""Events identity publishes (docs/events.md, producer "identity") with their
payload builders, and the journal events it consumes."""
from __future__ import annotations

import datetime as dt
import re

from kernel import payloads

PRODUCER = "identity"

USER_CREATED = "user_created"
ROLES_CHANGED = "roles_changed"
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


def letter(payload: dict) -> tuple[str, str, list]:
    """``(message_id, sender_id, recipient_ids)`` of a ``message_sent``
    payload; InvalidPayload (a ValueError) for a malformed one (dead-lettered).
    Ids longer than their column are refused, not cut."""
    message_id, sender_id = payloads.texts(payload, "message_id", "sender_id", max_len=36)
    recipients = payloads.strings(payload, "recipient_ids", non_empty=True, max_len=36)
    return message_id, sender_id, list(recipients)


_BROKEN_TEXT = re.compile("[\x00\ud800-\udfff]")


def access_row(envelope: dict) -> dict:
    """The ``access_log`` row of one ``access_recorded`` envelope; InvalidPayload
    (a ValueError) for a malformed one (it is dead-lettered, never dropped silently). Texts
    longer than their column are cut, ids longer than theirs are refused."""
    payload = payloads.payload(envelope)
    event_id = payloads.text(envelope, "id", max_len=36, where="envelope")
    user_id = payloads.text(payload, "user_id", max_len=36)
    method, route = payloads.texts(payload, "method", "route")
    school_id = payloads.text(envelope, "school_id", required=False, max_len=36, where="envelope")
    status = payloads.integer(payload, "status")
    roles = payloads.strings(payload, "roles", required=False)
    at = payloads.occurred_at(envelope)
    resource_id = payloads.text(payload, "resource_id", required=False)
    address = payloads.text(payload, "address", required=False)
    correlation_id = payloads.text(envelope, "correlation_id", required=False, where="envelope")
    fields = {"user_id": user_id, "school_id": school_id, "method": method, "route": route, "resource_id": resource_id,
             "address": address, "correlation_id": correlation_id, "roles": "".join(roles)}
    for name, value in fields.items():
        if value and _BROKEN_TEXT.search(value):
            # PostgreSQL refuses NUL in text; a lone surrogate is not UTF-8
            raise payloads.InvalidPayload(f"{name} holds a NUL or a lone surrogate")
    return {"id": event_id, "school_id": school_id, "user_id": user_id, "roles": list(roles),
            "method": method[:10], "route": route[:200], "resource_id": resource_id and resource_id[:64],
            "status": status, "address": address and address[:64],
            "correlation_id": correlation_id and correlation_id[:64], "at": at}
