"""Events identity publishes (docs/events.md, producer "identity") with their
payload builders, and the journal events it consumes."""
from __future__ import annotations

import datetime as dt

PRODUCER = "identity"

USER_CREATED = "user_created"
ROLES_CHANGED = "roles_changed"  # published by the later "Identity and access" issue
PARENT_LINKED = "parent_linked"
CONSENT_RECORDED = "consent_recorded"
SESSIONS_REVOKED = "sessions_revoked"

# Consumed from the gateway (R-A6).
GATEWAY = "gateway"
ACCESS_RECORDED = "access_recorded"

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
