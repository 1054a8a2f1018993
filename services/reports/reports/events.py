"""The events reports consumes (docs/events.md) and their payload readers.

Reports publishes no events of its own yet. Each reader turns one producer
payload into the plain values a projection stores, or raises
:class:`kernel.payloads.InvalidPayload` (a ``ValueError``), which the
kernel's ``handles`` wrapper turns into a dead letter instead of a
half-applied projection. Projections keep a user's roles sorted.
"""
from __future__ import annotations

from kernel import payloads
from kernel.payloads import InvalidPayload, date as _date, integer as _int, text as _text

JOURNAL = "journal"
IDENTITY = "identity"

# journal
YEAR_OPENED = "year_opened"
SUBJECT_CREATED = "subject_created"
CLASS_CREATED = "class_created"
STUDENT_ENROLLED = "student_enrolled"
TEACHER_ASSIGNED = "teacher_assigned"
MARK_POSTED = "mark_posted"
MARK_CORRECTED = "mark_corrected"
MARK_REMOVED = "mark_removed"
FINAL_MARK_POSTED = "final_mark_posted"
# identity
USER_CREATED = "user_created"
ROLES_CHANGED = "roles_changed"


def source(env: dict) -> dict:
    """School and time of an envelope: every projected row carries both."""
    return {"school_id": payloads.school_id(env), "occurred_at": payloads.occurred_at(env)}


def read_year_opened(payload: dict) -> dict:
    """``{year: {...}, periods: [{...}]}`` from a ``year_opened`` payload."""
    year = {
        "id": _text(payload, "year_id"), "name": _text(payload, "name"),
        "starts_on": _date(payload, "starts_on"), "ends_on": _date(payload, "ends_on"),
    }
    periods = payload.get("periods") or []
    if not isinstance(periods, list) or not all(isinstance(p, dict) for p in periods):
        raise InvalidPayload("payload.periods must be a list of objects")
    return {"year": year, "periods": [{
        "id": _text(p, "id"), "name": _text(p, "name"), "kind": _text(p, "kind", required=False),
        "starts_on": _date(p, "starts_on"), "ends_on": _date(p, "ends_on"),
    } for p in periods]}


def read_subject_created(payload: dict) -> dict:
    return {"id": _text(payload, "subject_id"), "name": _text(payload, "name")}


def read_class_created(payload: dict) -> dict:
    grade = _int(payload, "grade", default=0, low=0, high=12) or None
    letter = _text(payload, "letter", required=False)
    name = _text(payload, "name", required=False) or f"{grade or ''}{letter or ''}"
    if not name:
        raise InvalidPayload("payload.name is required")
    return {
        "id": _text(payload, "class_id"), "year_id": _text(payload, "year_id", required=False),
        "grade": grade, "letter": letter, "name": name,
        "class_teacher_id": _text(payload, "class_teacher_id", required=False),
    }


def read_student_enrolled(payload: dict) -> dict:
    return {
        "student_id": _text(payload, "student_id"), "class_id": _text(payload, "class_id"),
        "order_no": _text(payload, "order_no", required=False),
        "enrolled_on": _date(payload, "on", required=False),
    }


def read_teacher_assigned(payload: dict) -> dict:
    hours = payload.get("hours_per_week")
    if hours is not None and (isinstance(hours, bool) or not isinstance(hours, (int, float))):
        raise InvalidPayload("payload.hours_per_week must be a number")
    return {
        "id": _text(payload, "assignment_id"), "teacher_id": _text(payload, "teacher_id"),
        "class_id": _text(payload, "class_id"), "subject_id": _text(payload, "subject_id"),
        "hours_per_week": hours, "subgroup_id": _text(payload, "subgroup_id", required=False),
    }


def read_mark_posted(payload: dict) -> dict:
    return {
        "id": _text(payload, "mark_id"), "lesson_id": _text(payload, "lesson_id", required=False),
        "student_id": _text(payload, "student_id"), "class_id": _text(payload, "class_id"),
        "subject_id": _text(payload, "subject_id"), "date": _date(payload, "date"),
        "value": _int(payload, "value", low=1, high=5),
        "kind": _text(payload, "kind", required=False),
        # journal may leave the weight out when it is the default (API.md: 1..5, default 1)
        "weight": _int(payload, "weight", default=1, low=1, high=100),
        "teacher_id": _text(payload, "teacher_id", required=False),
    }


def read_mark_corrected(payload: dict) -> dict:
    """The new state of a corrected mark (its fields as in ``mark_posted``)."""
    return {**read_mark_posted(payload), "version": _int(payload, "version", low=2), "removed": False}


def read_mark_removed(payload: dict) -> dict:
    """A removed mark: a tombstone that no longer counts. Its last value is
    kept so that a removal arriving before its ``mark_posted`` still makes a
    complete row."""
    return {
        "id": _text(payload, "mark_id"), "lesson_id": _text(payload, "lesson_id", required=False),
        "student_id": _text(payload, "student_id"), "class_id": _text(payload, "class_id"),
        "subject_id": _text(payload, "subject_id"), "date": _date(payload, "date"),
        "value": _int(payload, "old_value", low=1, high=5), "weight": 1,
        "version": _int(payload, "version", low=2), "removed": True,
    }


def read_final_mark_posted(payload: dict) -> dict:
    """A final mark for a period or the year (``period_id`` is then the year's
    id). A repost for the same student, subject and period has a higher
    ``version`` and supersedes the previous one."""
    return {
        "final_mark_id": _text(payload, "final_mark_id"), "student_id": _text(payload, "student_id"),
        "subject_id": _text(payload, "subject_id"), "class_id": _text(payload, "class_id"),
        "period_id": _text(payload, "period_id"),
        "period_kind": _text(payload, "period_kind", required=False),
        "value": _int(payload, "value", low=1, high=5),
        "version": _int(payload, "version", low=1),
    }


def read_user_created(payload: dict) -> dict:
    return {
        "id": _text(payload, "user_id"), "login": _text(payload, "login", required=False),
        "full_name": _text(payload, "full_name"),
        "roles": sorted(payloads.roles(payload, required=False)),
    }


def read_roles_changed(payload: dict) -> dict:
    return {"id": _text(payload, "user_id"), "roles": sorted(payloads.roles(payload))}
