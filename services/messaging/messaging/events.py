"""The events messaging consumes and publishes (see docs/events.md) and their
payload schemas.

Messaging publishes ``message_sent`` (who may read a letter, for identity's
access decision; never the subject or the body). Every parser here is pure: it takes an
envelope (already checked by ``kernel.events.validate_envelope``) and returns a
small frozen record or raises :class:`kernel.payloads.InvalidPayload`,
which the kernel's ``handles`` turns into a dead letter.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from kernel import payloads
from kernel.payloads import InvalidPayload, date as _date, payload as _payload, roles as _roles, text as _text

# (producer, type) of every consumed event.
USER_CREATED = ("identity", "user_created")
ROLES_CHANGED = ("identity", "roles_changed")
PARENT_LINKED = ("identity", "parent_linked")
SUBJECT_CREATED = ("journal", "subject_created")
CLASS_CREATED = ("journal", "class_created")
STUDENT_ENROLLED = ("journal", "student_enrolled")
STUDENT_TRANSFERRED = ("journal", "student_transferred")
STUDENT_LEFT = ("journal", "student_left")
MARK_POSTED = ("journal", "mark_posted")
TEACHER_ASSIGNED = ("journal", "teacher_assigned")
LESSON_RECORDED = ("journal", "lesson_recorded")
ATTENDANCE_RECORDED = ("journal", "attendance_recorded")
FINAL_MARK_POSTED = ("journal", "final_mark_posted")
SUBGROUP_CREATED = ("journal", "subgroup_created")
# a report reports produced by itself, to be delivered as a letter (R-R7)
REPORT_READY = ("reports", "report_ready")
BACKUP_DRILL_FAILED = ("backup", "backup_drill_failed")

# Published through the outbox (producer "messaging").
MESSAGE_SENT = "message_sent"


def _iso(value: dt.datetime) -> str:
    if value.tzinfo is None:  # the store writes UTC
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).isoformat()


def message_sent(message, *, recipient_ids, has_attachments: bool) -> dict:
    """``{message_id, sender_id, recipient_ids, thread_id, reply_to, has_attachments, sent_at}``:
    who takes part in a letter, nothing of what it says (the subject, the
    body and the attachments stay in messaging)."""
    return {"message_id": message.id, "sender_id": message.sender_id, "recipient_ids": list(recipient_ids),
            "thread_id": message.thread_id, "reply_to": message.reply_to_id,
            "has_attachments": bool(has_attachments), "sent_at": _iso(message.created_at)}


@dataclass(frozen=True)
class UserCreated:
    user_id: str
    full_name: str
    roles: tuple
    email: str | None = None


def parse_user_created(env: dict) -> UserCreated:
    p = _payload(env)
    email = _text(p, "email", required=False)
    if email is not None and (len(email) > 254 or "@" not in email or any(c.isspace() for c in email)):
        email = None  # a bad address only costs the e-mail, not the projection
    return UserCreated(user_id=_text(p, "user_id"), full_name=_text(p, "full_name"), roles=_roles(p),
                       email=email)


@dataclass(frozen=True)
class RolesChanged:
    user_id: str
    roles: tuple


def parse_roles_changed(env: dict) -> RolesChanged:
    p = _payload(env)
    return RolesChanged(user_id=_text(p, "user_id"), roles=_roles(p))


@dataclass(frozen=True)
class ParentLinked:
    student_id: str
    parent_id: str
    relation: str | None


def parse_parent_linked(env: dict) -> ParentLinked:
    p = _payload(env)
    link = ParentLinked(student_id=_text(p, "student_id"), parent_id=_text(p, "parent_id"),
                        relation=_text(p, "relation", required=False))
    if link.student_id == link.parent_id:
        raise InvalidPayload("a person cannot be their own parent")
    return link


@dataclass(frozen=True)
class SubjectCreated:
    subject_id: str
    name: str


def parse_subject_created(env: dict) -> SubjectCreated:
    p = _payload(env)
    return SubjectCreated(subject_id=_text(p, "subject_id"), name=_text(p, "name"))


@dataclass(frozen=True)
class ClassCreated:
    class_id: str
    year_id: str | None
    grade: int | None
    letter: str | None
    name: str
    class_teacher_id: str | None


def parse_class_created(env: dict) -> ClassCreated:
    p = _payload(env)
    grade = p.get("grade")
    if grade is not None and (isinstance(grade, bool) or not isinstance(grade, int)):
        raise InvalidPayload("payload.grade must be an integer")
    return ClassCreated(
        class_id=_text(p, "class_id"), year_id=_text(p, "year_id", required=False), grade=grade,
        letter=_text(p, "letter", required=False), name=_text(p, "name"),
        class_teacher_id=_text(p, "class_teacher_id", required=False))


@dataclass(frozen=True)
class StudentEnrolled:
    student_id: str
    class_id: str
    order_no: str | None
    on: dt.date | None


def parse_student_enrolled(env: dict) -> StudentEnrolled:
    p = _payload(env)
    order_no = p.get("order_no")
    if isinstance(order_no, bool) or (order_no is not None and not isinstance(order_no, (str, int))):
        raise InvalidPayload("payload.order_no must be a string")
    return StudentEnrolled(
        student_id=_text(p, "student_id"), class_id=_text(p, "class_id"),
        order_no=None if order_no in (None, "") else str(order_no), on=_date(p, "on", required=False))


@dataclass(frozen=True)
class MarkPosted:
    mark_id: str
    lesson_id: str
    student_id: str
    subject_id: str
    subject_name: str | None
    date: dt.date
    value: object  # int or str (the journal's scale); formatted by the domain


def parse_mark_posted(env: dict) -> MarkPosted:
    p = _payload(env)
    value = p.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, str)) or value == "":
        raise InvalidPayload("payload.value must be an integer or a string")
    return MarkPosted(
        mark_id=_text(p, "mark_id"), lesson_id=_text(p, "lesson_id"),
        student_id=_text(p, "student_id"), subject_id=_text(p, "subject_id"),
        subject_name=_text(p, "subject_name", required=False), date=_date(p, "date"), value=value)


@dataclass(frozen=True)
class TeacherAssigned:
    assignment_id: str
    teacher_id: str
    class_id: str
    subject_id: str | None


def parse_teacher_assigned(env: dict) -> TeacherAssigned:
    p = _payload(env)
    return TeacherAssigned(assignment_id=_text(p, "assignment_id"), teacher_id=_text(p, "teacher_id"),
                           class_id=_text(p, "class_id"), subject_id=_text(p, "subject_id", required=False))


@dataclass(frozen=True)
class LessonRecorded:
    lesson_id: str
    class_id: str
    subject_id: str
    subject_name: str | None
    date: dt.date
    homework: str | None
    late: bool = False
    overdue: bool = False
    subgroup_id: str | None = None
    imported: bool = False


def parse_lesson_recorded(env: dict) -> LessonRecorded:
    p = _payload(env)
    homework = p.get("homework")
    if homework is not None and not isinstance(homework, str):
        raise InvalidPayload("payload.homework must be a string")
    return LessonRecorded(lesson_id=_text(p, "lesson_id"), class_id=_text(p, "class_id"),
                          subject_id=_text(p, "subject_id"), subject_name=_text(p, "subject_name", required=False),
                          date=_date(p, "date"), homework=homework, late=payloads.flag(p, "late"),
                          overdue=payloads.flag(p, "overdue"), subgroup_id=_text(p, "subgroup_id", required=False),
                          imported=payloads.flag(p, "imported"))


@dataclass(frozen=True)
class StudentLeftClass:
    """``student_transferred`` (from ``from_class_id``) or ``student_left``
    (from ``class_id``): the student is no longer in ``class_id`` from ``on``."""
    student_id: str
    class_id: str
    on: dt.date | None


def parse_student_transferred(env: dict) -> StudentLeftClass:
    p = _payload(env)
    return StudentLeftClass(student_id=_text(p, "student_id"), class_id=_text(p, "from_class_id"),
                            on=_date(p, "on", required=False))


def parse_student_left(env: dict) -> StudentLeftClass:
    p = _payload(env)
    return StudentLeftClass(student_id=_text(p, "student_id"), class_id=_text(p, "class_id"),
                            on=_date(p, "on", required=False))


@dataclass(frozen=True)
class SubgroupCreated:
    subgroup_id: str
    class_id: str
    subject_id: str
    student_ids: tuple


def parse_subgroup_created(env: dict) -> SubgroupCreated:
    p = _payload(env)
    return SubgroupCreated(subgroup_id=_text(p, "subgroup_id"), class_id=_text(p, "class_id"),
                           subject_id=_text(p, "subject_id"), student_ids=payloads.strings(p, "student_ids"))


@dataclass(frozen=True)
class AttendanceEntry:
    student_id: str
    status: str


@dataclass(frozen=True)
class AttendanceRecorded:
    lesson_id: str
    class_id: str
    subject_id: str
    subject_name: str | None
    date: dt.date
    entries: tuple


def parse_attendance_recorded(env: dict) -> AttendanceRecorded:
    p = _payload(env)
    entries = p.get("entries")
    if not isinstance(entries, list):
        raise InvalidPayload("payload.entries must be a list")
    parsed = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise InvalidPayload(f"payload.entries[{i}] must be an object")
        parsed.append(AttendanceEntry(student_id=_text(e, "student_id", where=f"payload.entries[{i}]"),
                                      status=_text(e, "status", where=f"payload.entries[{i}]")))
    return AttendanceRecorded(lesson_id=_text(p, "lesson_id"), class_id=_text(p, "class_id"),
                              subject_id=_text(p, "subject_id"), subject_name=_text(p, "subject_name", required=False),
                              date=_date(p, "date"), entries=tuple(parsed))


@dataclass(frozen=True)
class FinalMarkPosted:
    final_mark_id: str
    student_id: str
    subject_id: str
    class_id: str
    period_kind: str
    value: int
    late: bool


def parse_final_mark_posted(env: dict) -> FinalMarkPosted:
    p = _payload(env)
    late = payloads.flag(p, "late", required=True)
    value = payloads.integer(p, "value")
    return FinalMarkPosted(final_mark_id=_text(p, "final_mark_id"), student_id=_text(p, "student_id"),
                           subject_id=_text(p, "subject_id"), class_id=_text(p, "class_id"),
                           period_kind=_text(p, "period_kind", required=False) or "", value=value, late=late)


# the largest report file a letter of reports carries (a school's monthly PDF is far smaller)
MAX_REPORT_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class ReportReady:
    recipient_ids: tuple
    subject: str
    body: str
    attachment: dict  # {name, content_type, content: bytes}


def parse_report_ready(env: dict) -> ReportReady:
    """``{kind, month, recipient_ids, subject, body, attachment: {name,
    content_type, size, content_base64}}``: the file must decode to ``size``
    bytes, at most :data:`MAX_REPORT_BYTES`."""
    import base64
    import binascii
    p = _payload(env)
    recipients = payloads.strings(p, "recipient_ids", non_empty=True, max_len=36)
    subject, body = _text(p, "subject", max_len=300), _text(p, "body", max_len=20000)
    a = p.get("attachment")
    if not isinstance(a, dict):
        raise InvalidPayload("payload.attachment must be an object")
    name = _text(a, "name", max_len=255, where="attachment")
    content_type = _text(a, "content_type", max_len=100, where="attachment")
    size = payloads.integer(a, "size", low=0, high=MAX_REPORT_BYTES, where="attachment")
    try:
        content = base64.b64decode(_text(a, "content_base64", where="attachment"), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidPayload("attachment.content_base64 is not base64") from None
    if len(content) != size:
        raise InvalidPayload("attachment.size does not match its content")
    return ReportReady(recipient_ids=tuple(recipients), subject=subject, body=body,
                       attachment={"name": name, "content_type": content_type, "content": content})


@dataclass(frozen=True)
class BackupDrillFailed:
    backup_id: str
    detail: str


def parse_backup_drill_failed(env: dict) -> BackupDrillFailed:
    """A restore drill failed (backup): the administrators are told."""
    p = _payload(env)
    return BackupDrillFailed(backup_id=_text(p, "backup_id"), detail=_text(p, "detail", required=False) or "")
