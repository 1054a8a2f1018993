"""The events reports consumes (docs/events.md) and their payload readers,
and the one it publishes (``report_ready``). Each reader turns one producer
payload into the plain values a projection stores, or raises
:class:`kernel.payloads.InvalidPayload` (a ``ValueError``), which the
kernel's ``handles`` wrapper turns into a dead letter instead of a
half-applied projection. Projections keep a user's roles sorted.
"""
from __future__ import annotations

import datetime as dt

from kernel import payloads
from kernel.payloads import InvalidPayload, date as _date, integer as _int, text as _text

JOURNAL = "journal"
IDENTITY = "identity"
GATEWAY = "gateway"

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
LESSON_RECORDED = "lesson_recorded"
ATTENDANCE_RECORDED = "attendance_recorded"
STUDENT_TRANSFERRED = "student_transferred"
STUDENT_LEFT = "student_left"
PLAN_CREATED = "plan_created"
YEAR_CLOSED = "year_closed"
# identity
USER_CREATED = "user_created"
ROLES_CHANGED = "roles_changed"
PARENT_LINKED = "parent_linked"
# gateway (R-A6): one per authenticated request and per successful login,
# usually grouped in one ``access_recorded_batch`` message
ACCESS_RECORDED = "access_recorded"
ACCESS_RECORDED_BATCH = "access_recorded_batch"
# the gateway's login route: a recorded request to it is a login
LOGIN_ROUTE = "/api/v1/auth/login"

ATTENDANCE_STATUSES = ("present", "absent", "excused", "ill", "late")
MOVEMENT_REASONS = ("left", "graduated")
SEXES = ("male", "female", "m", "f")


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
    emphasis = payload.get("emphasis")
    if emphasis is not None and not isinstance(emphasis, bool):
        raise InvalidPayload("payload.emphasis must be a boolean")
    return {"id": _text(payload, "subject_id"), "name": _text(payload, "name"), "emphasis": bool(emphasis)}


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
        "late": payloads.flag(payload, "late"),
        "teacher_id": _text(payload, "teacher_id", required=False),
    }


def read_user_created(payload: dict) -> dict:
    sex = _text(payload, "sex", required=False)
    if sex is not None and sex not in SEXES:
        raise InvalidPayload("payload.sex is not a known value")
    return {
        "id": _text(payload, "user_id"), "login": _text(payload, "login", required=False),
        "full_name": _text(payload, "full_name"),
        "roles": sorted(payloads.roles(payload, required=False)),
        "sex": {"m": "male", "f": "female"}.get(sex, sex),
    }


def read_roles_changed(payload: dict) -> dict:
    return {"id": _text(payload, "user_id"), "roles": sorted(payloads.roles(payload))}


def read_parent_linked(payload: dict) -> dict:
    return {"student_id": _text(payload, "student_id"), "parent_id": _text(payload, "parent_id")}


def read_lesson_recorded(payload: dict) -> dict:
    """A lesson as the journal recorded it: its type, work type, whether
    homework was given, the entry deadline flags (R-J5) and whether it was
    transcribed from paper (``imported``: counted apart in R-R7)."""
    homework = payload.get("homework")
    if homework is not None and not isinstance(homework, str):
        raise InvalidPayload("payload.homework must be a string")
    return {
        "id": _text(payload, "lesson_id"), "class_id": _text(payload, "class_id"),
        "subject_id": _text(payload, "subject_id"), "teacher_id": _text(payload, "teacher_id"),
        "date": _date(payload, "date"), "topic": _text(payload, "topic", required=False),
        "lesson_type": _text(payload, "lesson_type", required=False),
        "work_type": _text(payload, "work_type", required=False),
        "has_homework": bool(homework and homework.strip()),
        "subgroup_id": _text(payload, "subgroup_id", required=False),
        "substitute_for": _text(payload, "substitute_for", required=False),
        "late": payloads.flag(payload, "late"), "overdue": payloads.flag(payload, "overdue"),
        "imported": payloads.flag(payload, "imported"),
        "recorded_on": _date(payload, "recorded_on", required=False),
    }


def read_attendance_recorded(payload: dict) -> dict:
    """``{lesson: {...}, entries: [{student_id, status, previous}]}``; an
    entry with a ``previous`` status is a correction (R-J7)."""
    entries = payload.get("entries")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise InvalidPayload("payload.entries must be a list of objects")
    read = []
    for entry in entries:
        status = _text(entry, "status", where="entry")
        previous = _text(entry, "previous", required=False, where="entry")
        if status not in ATTENDANCE_STATUSES or (previous is not None and previous not in ATTENDANCE_STATUSES):
            raise InvalidPayload("entry.status must be one of " + ", ".join(ATTENDANCE_STATUSES))
        read.append({"student_id": _text(entry, "student_id", where="entry"), "status": status,
                     "previous": previous})
    return {"lesson": {"lesson_id": _text(payload, "lesson_id"), "class_id": _text(payload, "class_id"),
                       "subject_id": _text(payload, "subject_id"), "date": _date(payload, "date")},
            "reason": _text(payload, "reason", required=False), "entries": read}


def read_student_transferred(payload: dict) -> dict:
    return {"kind": "transferred", "student_id": _text(payload, "student_id"),
            "from_class_id": _text(payload, "from_class_id"), "to_class_id": _text(payload, "to_class_id"),
            "order_no": _text(payload, "order_no", required=False), "on": _date(payload, "on"),
            "comment": None}


def read_student_left(payload: dict) -> dict:
    reason = _text(payload, "reason", required=False) or "left"
    if reason not in MOVEMENT_REASONS:
        raise InvalidPayload("payload.reason must be left or graduated")
    return {"kind": reason, "student_id": _text(payload, "student_id"),
            "from_class_id": _text(payload, "class_id"), "to_class_id": None,
            "order_no": _text(payload, "order_no", required=False), "on": _date(payload, "on"),
            "comment": _text(payload, "comment", required=False)}


def read_plan_created(payload: dict) -> dict:
    topics = payload.get("topics") or []
    if not isinstance(topics, list) or not all(isinstance(t, dict) for t in topics):
        raise InvalidPayload("payload.topics must be a list of objects")
    return {"id": _text(payload, "plan_id"), "class_id": _text(payload, "class_id"),
            "subject_id": _text(payload, "subject_id"), "period_id": _text(payload, "period_id"),
            "teacher_id": _text(payload, "teacher_id", required=False),
            "hours": _int(payload, "hours", low=0, high=10000),
            "topics": len(topics)}


def read_year_closed(payload: dict) -> dict:
    """``{year_id, order_no}`` of a closed school year."""
    return {"year_id": _text(payload, "year_id"), "order_no": _text(payload, "order_no", required=False)}


def read_access(env: dict, tz: dt.tzinfo = dt.timezone.utc) -> dict:
    """One ``access_recorded`` envelope -> ``{id, school_id, user_id, day,
    login}``: a request of a user on a day of the school's time zone ``tz``
    (a parent's Monday 01:00 in Moscow is Monday, not Sunday), a login when
    it is a successful request to the login route. An event of no school (a
    login refused before its school was known) is refused too."""
    payload = payloads.payload(env)
    status = _int(payload, "status", low=100, high=599)
    route = _text(payload, "route")
    method = _text(payload, "method")
    return {"id": _text(env, "id", max_len=36, where="envelope"), "school_id": payloads.school_id(env),
            "user_id": _text(payload, "user_id", max_len=36), "day": payloads.occurred_at(env).astimezone(tz).date(),
            "login": method == "POST" and route == LOGIN_ROUTE and status < 400}


# --- published (producer "reports", through the outbox) -----------------------------

REPORTS = "reports"
REPORT_READY = "report_ready"
# the service's own: a report's files to make (reports.jobs), consumed by reports only
JOB_QUEUED = "job_queued"


def report_ready(*, kind: str, month: str, recipient_ids: list[str], subject: str, body: str, filename: str,
                 content_type: str, content: bytes) -> dict:
    """A report the service produced by itself, for messaging to deliver as
    a letter with the file attached (base64) to ``recipient_ids``."""
    import base64
    return {"kind": kind, "month": month, "recipient_ids": list(recipient_ids), "subject": subject, "body": body,
            "attachment": {"name": filename, "content_type": content_type, "size": len(content),
                           "content_base64": base64.b64encode(content).decode("ascii")}}
