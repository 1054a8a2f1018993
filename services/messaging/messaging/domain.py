"""The rules of messaging, pure Python (no broker, no database).

Who is notified of what and with which words; validation of RPC arguments;
the opaque keyset cursor of notification lists.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass, field

from messaging import texts
from messaging.errors import ValidationError

KIND_MARK = "mark"

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
THREAD_LIMIT = 100  # the other letters of a thread shown with one letter
MAX_IDS = 500


@dataclass(frozen=True)
class NotificationDraft:
    """A notification before it is stored (the store adds id, school, times)."""
    recipient_id: str
    kind: str
    title: str
    body: str
    data: dict = field(default_factory=dict)


# -- texts ---------------------------------------------------------------

def format_date(value: dt.date) -> str:
    """A date as Russians write it: DD.MM.YYYY."""
    return value.strftime("%d.%m.%Y")


def format_mark_value(value) -> str:
    """The mark as shown to a person (5, "4+", "н"...)."""
    return str(value).strip()


def mark_body(*, student_name: str | None, value, subject_name: str | None, date: dt.date) -> str:
    """"Иванов Пётр: оценка 5 по предмету «Математика» за 12.10.2026"."""
    return texts.MARK_BODY.format(
        student=(student_name or "").strip() or texts.UNKNOWN_STUDENT,
        value=format_mark_value(value),
        subject=(subject_name or "").strip() or texts.UNKNOWN_SUBJECT,
        date=format_date(date),
    )


def mark_notifications(mark, parent_ids, *, student_name: str | None,
                       subject_name: str | None) -> list[NotificationDraft]:
    """One "new mark" notification per parent linked to the marked student.

    ``mark`` is an :class:`messaging.events.MarkPosted`; ``parent_ids`` the
    parents known from ``parent_linked`` *when the mark is handled*. A link
    that arrives after the mark (events from different producers are not
    ordered) does not notify that older mark: parents then see it in the
    diary, and a late "new mark" message would be misleading anyway.
    No one else (the student, teachers, other parents) is notified.
    """
    name = subject_name or mark.subject_name
    body = mark_body(student_name=student_name, value=mark.value, subject_name=name, date=mark.date)
    data = {
        "mark_id": mark.mark_id, "lesson_id": mark.lesson_id, "student_id": mark.student_id,
        "subject_id": mark.subject_id, "value": mark.value, "date": mark.date.isoformat(),
    }
    recipients = [p for p in dict.fromkeys(parent_ids) if p and p != mark.student_id]
    return [NotificationDraft(recipient_id=p, kind=KIND_MARK, title=texts.MARK_TITLE, body=body, data=dict(data))
            for p in recipients]


# -- projections ---------------------------------------------------------

def is_newer(event_at: dt.datetime, known_at: dt.datetime | None) -> bool:
    """Whether a fact stamped ``event_at`` should replace one stamped
    ``known_at``: queues are not ordered, so the latest occurrence wins, not
    the latest delivery (a tie goes to the one delivered last)."""
    return known_at is None or as_utc(event_at) >= as_utc(known_at)


def iso(value: dt.datetime | None) -> str | None:
    """An aware UTC ISO-8601 text of ``value`` (None stays None)."""
    return as_utc(value).isoformat() if value is not None else None


def as_utc(value: dt.datetime) -> dt.datetime:
    """An aware UTC datetime (SQLite hands back naive UTC values)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


# -- RPC arguments -------------------------------------------------------

def check_limit(limit) -> int:
    """A page size in 1..100. A string of digits is accepted because the
    gateway may pass the query parameter through unchanged."""
    if isinstance(limit, str) and limit.strip().isdigit():
        limit = int(limit.strip())
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(texts.ERR_LIMIT, details={"field": "limit"})
    return limit


def encode_cursor(created_at: dt.datetime, notification_id: str) -> str:
    """The opaque position after ``(created_at, id)`` in newest-first order."""
    raw = json.dumps([as_utc(created_at).isoformat(timespec="microseconds"), notification_id],
                     separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor) -> tuple[dt.datetime, str] | None:
    """``(created_at, id)`` of a cursor from :func:`encode_cursor`; None for
    the first page; VALIDATION_ERROR for anything else."""
    if cursor is None or cursor == "":
        return None
    bad = ValidationError(texts.ERR_CURSOR, details={"field": "cursor"})
    if not isinstance(cursor, str) or len(cursor) > 200:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, notification_id = json.loads(raw.decode())
        if not isinstance(created, str) or not isinstance(notification_id, str) or not notification_id:
            raise ValueError(cursor)
        at = dt.datetime.fromisoformat(created)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        raise bad from None
    if at.tzinfo is None:
        raise bad
    return as_utc(at), notification_id


def check_ids(ids) -> list[str]:
    """Notification ids to act on: a list (at most 500) of non-empty strings."""
    bad = ValidationError(texts.ERR_IDS.format(max=MAX_IDS), details={"field": "ids"})
    if not isinstance(ids, (list, tuple)) or len(ids) > MAX_IDS:
        raise bad
    if not all(isinstance(i, str) and 0 < len(i) <= 64 for i in ids):
        raise bad
    return list(dict.fromkeys(ids))


# -- views ---------------------------------------------------------------

def notification_view(*, id: str, kind: str, title: str, body: str, data, created_at: dt.datetime,
                      read_at: dt.datetime | None) -> dict:
    """One item of ``list_notifications`` (JSON-able)."""
    return {
        "id": id, "kind": kind, "title": title, "body": body, "data": data or {},
        "created_at": as_utc(created_at).isoformat(), "read": read_at is not None,
    }


def page(rows: list, limit: int) -> tuple[list, str | None]:
    """Split ``limit + 1`` fetched rows (objects with ``created_at`` and
    ``id``) into the page and the cursor of the next one (None at the end)."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor(last.created_at, last.id)


# -- notifications of attendance, homework, mail and news ------------------

KIND_ABSENCE = "absence"
KIND_HOMEWORK = "homework"
KIND_MESSAGE = "message"
KIND_NEWS = "news"
KIND_LATE_ENTRY = "late_entry"
KIND_LATE_FINAL_MARK = "late_final_mark"
KIND_BACKUP_DRILL = "backup_drill_failed"
ADMIN_ROLE = "admin"
# Staff told about late journal entries (R-J5; they answer for R-R7).
LATE_ENTRY_ROLES = frozenset({"deputy", "director"})

# Attendance statuses that are not worth a message to the family.
PRESENT_STATUSES = frozenset({"present", "", "was"})


def absence_notifications(att, parents_by_student: dict, names: dict) -> list[NotificationDraft]:
    """One notification per parent of each student marked absent or late
    (``att`` is an :class:`messaging.events.AttendanceRecorded`)."""
    drafts = []
    for entry in att.entries:
        if entry.status in PRESENT_STATUSES:
            continue
        status = texts.ATTENDANCE_STATUS.get(entry.status, entry.status)
        body = texts.ABSENCE_BODY.format(
            student=(names.get(entry.student_id) or "").strip() or texts.UNKNOWN_STUDENT, status=status,
            subject=(att.subject_name or "").strip() or texts.UNKNOWN_SUBJECT, date=format_date(att.date))
        data = {"lesson_id": att.lesson_id, "class_id": att.class_id, "subject_id": att.subject_id,
                "student_id": entry.student_id, "status": entry.status, "date": att.date.isoformat()}
        for parent in dict.fromkeys(parents_by_student.get(entry.student_id, ())):
            if parent and parent != entry.student_id:
                drafts.append(NotificationDraft(recipient_id=parent, kind=KIND_ABSENCE, title=texts.ABSENCE_TITLE,
                                                body=body, data=dict(data)))
    return drafts


def homework_notifications(lesson, parent_ids, *, subject_name: str | None) -> list[NotificationDraft]:
    """"New homework" for the parents of the lesson's class (``lesson`` is a
    :class:`messaging.events.LessonRecorded` with homework)."""
    homework = (lesson.homework or "").strip()
    if not homework:
        return []
    short = homework if len(homework) <= 300 else homework[:299] + "…"
    body = texts.HOMEWORK_BODY.format(subject=(subject_name or "").strip() or texts.UNKNOWN_SUBJECT,
                                      date=format_date(lesson.date), homework=short)
    data = {"lesson_id": lesson.lesson_id, "class_id": lesson.class_id, "subject_id": lesson.subject_id,
            "date": lesson.date.isoformat()}
    return [NotificationDraft(recipient_id=p, kind=KIND_HOMEWORK, title=texts.HOMEWORK_TITLE, body=body,
                              data=dict(data)) for p in dict.fromkeys(parent_ids) if p]


def late_entry_notifications(lesson, recipients, *, subject_name: str | None,
                             class_name: str | None) -> list[NotificationDraft]:
    """R-J5: a lesson entered late (not on its day) or overdue (after three
    days) is told to the school's deputies/directors and the class teacher."""
    if not (lesson.late or lesson.overdue):
        return []
    how = texts.LATE_ENTRY_HOW["overdue" if lesson.overdue else "late"]
    body = texts.LATE_ENTRY_BODY.format(subject=(subject_name or "").strip() or texts.UNKNOWN_SUBJECT,
                                        klass=(class_name or "").strip() or texts.UNKNOWN_CLASS,
                                        date=format_date(lesson.date), how=how)
    data = {"lesson_id": lesson.lesson_id, "class_id": lesson.class_id, "subject_id": lesson.subject_id,
            "date": lesson.date.isoformat(), "late": lesson.late, "overdue": lesson.overdue}
    return [NotificationDraft(recipient_id=r, kind=KIND_LATE_ENTRY, title=texts.LATE_ENTRY_TITLE, body=body,
                              data=dict(data)) for r in dict.fromkeys(recipients) if r]


def late_final_mark_notifications(final, recipients, *, subject_name: str | None, class_name: str | None,
                                  student_name: str | None) -> list[NotificationDraft]:
    """R-F3: a final mark entered after the 2-day deadline is told to the
    school's deputies/directors and the class teacher (who answer for R-R7)."""
    if not final.late:
        return []
    body = texts.LATE_FINAL_BODY.format(
        subject=(subject_name or "").strip() or texts.UNKNOWN_SUBJECT,
        klass=(class_name or "").strip() or texts.UNKNOWN_CLASS,
        student=(student_name or "").strip() or texts.UNKNOWN_STUDENT,
        period=texts.LATE_FINAL_PERIOD.get(final.period_kind, texts.LATE_FINAL_OTHER_PERIOD))
    data = {"final_mark_id": final.final_mark_id, "student_id": final.student_id, "class_id": final.class_id,
            "subject_id": final.subject_id, "period_kind": final.period_kind}
    return [NotificationDraft(recipient_id=r, kind=KIND_LATE_FINAL_MARK, title=texts.LATE_FINAL_TITLE, body=body,
                              data=dict(data)) for r in dict.fromkeys(recipients) if r]


def message_notifications(*, message_id: str, thread_id: str, sender_name: str | None, subject: str,
                          recipients) -> list[NotificationDraft]:
    body = texts.MESSAGE_BODY.format(sender=(sender_name or "").strip() or texts.UNKNOWN_SENDER, subject=subject)
    return [NotificationDraft(recipient_id=r, kind=KIND_MESSAGE, title=texts.MESSAGE_TITLE, body=body,
                              data={"message_id": message_id, "thread_id": thread_id}) for r in recipients]


def news_notifications(*, news_id: str, kind: str, title: str, recipients) -> list[NotificationDraft]:
    return [NotificationDraft(recipient_id=r, kind=KIND_NEWS, title=texts.NEWS_TITLE.get(kind, texts.NEWS_TITLE["news"]),
                              body=texts.NEWS_BODY.format(title=title), data={"news_id": news_id, "kind": kind})
            for r in recipients]


# -- RPC arguments of mail, news and settings ---------------------------------

MAX_RECIPIENTS = 200
MAX_SUBJECT = 300
MAX_BODY = 20000
MAX_ATTACHMENTS = 10
MAX_ATTACHMENT_BYTES = 512 * 1024  # in total per letter; base64 keeps the request under 1 MiB
EMAIL_MODES = ("off", "instant", "daily")
DEFAULT_EMAIL_MODE = "instant"
DEFAULT_DIGEST_TIME = "18:00"
NEWS_KINDS = ("news", "announcement")


def _bad(field_name: str, message: str = texts.ERR_VALIDATION) -> ValidationError:
    return ValidationError(message, details={"field": field_name})


def _str(data: dict, name: str, *, max_len: int, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise _bad(name)
    return value.strip()


def _id_or_none(data: dict, name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        raise _bad(name)
    return value


@dataclass(frozen=True)
class MessageInput:
    to: tuple
    subject: str
    body: str
    reply_to: str | None
    to_parents_of_class: str | None
    attachments: tuple


def check_message(data) -> MessageInput:
    """The body of ``send_message``; an attachment is ``{name, content_type,
    content_base64}`` and all of them together at most 512 KiB."""
    if not isinstance(data, dict):
        raise _bad("(body)")
    to = data.get("to", [])
    if not isinstance(to, list) or len(to) > MAX_RECIPIENTS or not all(
            isinstance(t, str) and 0 < len(t) <= 64 for t in to):
        raise _bad("to")
    reply_to = _id_or_none(data, "reply_to")
    to_class = _id_or_none(data, "to_parents_of_class")
    if not to and not reply_to and not to_class:
        raise _bad("to")
    files = data.get("attachments") or []
    if not isinstance(files, list) or len(files) > MAX_ATTACHMENTS:
        raise _bad("attachments")
    attachments, total = [], 0
    for i, f in enumerate(files):
        if not isinstance(f, dict):
            raise _bad(f"attachments[{i}]")
        name = _str(f, "name", max_len=255)
        content_type = f.get("content_type") or "application/octet-stream"
        if not isinstance(content_type, str) or len(content_type) > 100:
            raise _bad(f"attachments[{i}].content_type")
        raw = f.get("content_base64")
        try:
            content = base64.b64decode(raw, validate=True) if isinstance(raw, str) else None
        except (binascii.Error, ValueError):
            content = None
        if content is None:
            raise _bad(f"attachments[{i}].content_base64")
        total += len(content)
        if total > MAX_ATTACHMENT_BYTES:
            raise ValidationError(texts.ERR_ATTACHMENT_SIZE.format(max=MAX_ATTACHMENT_BYTES // 1024),
                                  code="ATTACHMENT_TOO_LARGE",
                                  details={"field": "attachments", "max_bytes": MAX_ATTACHMENT_BYTES})
        attachments.append({"name": name, "content_type": content_type, "content": content})
    return MessageInput(to=tuple(dict.fromkeys(to)), subject=_str(data, "subject", max_len=MAX_SUBJECT),
                        body=_str(data, "body", max_len=MAX_BODY), reply_to=reply_to,
                        to_parents_of_class=to_class, attachments=tuple(attachments))


def check_folder(folder) -> str:
    if folder not in ("inbox", "sent"):
        raise ValidationError(texts.ERR_FOLDER, details={"field": "folder"})
    return folder


def check_digest_time(value) -> str:
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
        raise _bad("digest_time")
    try:
        dt.time.fromisoformat(value)
    except ValueError:
        raise _bad("digest_time") from None
    return value


def check_settings(data) -> tuple[str, str | None]:
    """``(email_mode, digest_time or None)`` of PUT /me/notification-settings."""
    if not isinstance(data, dict):
        raise _bad("(body)")
    mode = data.get("email")
    if mode not in EMAIL_MODES:
        raise _bad("email")
    time_ = data.get("digest_time")
    return mode, None if time_ is None else check_digest_time(time_)


@dataclass(frozen=True)
class NewsInput:
    kind: str | None
    audience: str
    class_id: str | None
    title: str
    body: str
    links: tuple


def check_news(data) -> NewsInput:
    """``{title, body, audience: {school: true}|{staff: true}|{class_id}|{parents_of_class},
    kind?, links?: [{title, url}]}``."""
    if not isinstance(data, dict):
        raise _bad("(body)")
    kind = data.get("kind")
    if kind is not None and kind not in NEWS_KINDS:
        raise _bad("kind")
    aud = data.get("audience")
    if not isinstance(aud, dict) or len(aud) != 1:
        raise _bad("audience")
    if aud.get("school") is True:
        audience, class_id = "school", None
    elif aud.get("staff") is True:
        audience, class_id = "staff", None
    elif "class_id" in aud:
        audience, class_id = "class", _id_or_none(aud, "class_id")
    elif "parents_of_class" in aud:
        audience, class_id = "parents", _id_or_none(aud, "parents_of_class")
    else:
        raise _bad("audience")
    if audience in ("class", "parents") and not class_id:
        raise _bad("audience")
    links = data.get("links") or []
    if not isinstance(links, list) or len(links) > 20:
        raise _bad("links")
    clean = []
    for i, link in enumerate(links):
        if not isinstance(link, dict):
            raise _bad(f"links[{i}]")
        url = _str(link, "url", max_len=2000)
        if not url.lower().startswith(("https://", "http://", "/")):
            raise _bad(f"links[{i}].url")  # no javascript: links in the portal
        clean.append({"title": _str(link, "title", max_len=300), "url": url})
    return NewsInput(kind=kind, audience=audience, class_id=class_id, title=_str(data, "title", max_len=300),
                     body=_str(data, "body", max_len=MAX_BODY), links=tuple(clean))


def backup_drill_notifications(drill, admins) -> list[NotificationDraft]:
    """R-D2: a backup that failed its restore drill is told to the
    administrators, who answer for the backups."""
    body = texts.BACKUP_DRILL_BODY.format(backup_id=drill.backup_id, detail=drill.detail.strip())
    return [NotificationDraft(recipient_id=r, kind=KIND_BACKUP_DRILL, title=texts.BACKUP_DRILL_TITLE, body=body,
                              data={"backup_id": drill.backup_id}) for r in dict.fromkeys(admins) if r]
