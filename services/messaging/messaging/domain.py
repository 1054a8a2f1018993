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


def as_utc(value: dt.datetime) -> dt.datetime:
    """An aware UTC datetime (SQLite hands back naive UTC values)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


# -- RPC arguments -------------------------------------------------------

def check_ctx(ctx) -> tuple[str, str]:
    """``(actor_id, school_id)`` of the call context, or VALIDATION_ERROR."""
    if not isinstance(ctx, dict):
        raise ValidationError(texts.ERR_CTX, details={"field": "ctx"})
    actor_id, school_id = ctx.get("actor_id"), ctx.get("school_id")
    for name, value in (("actor_id", actor_id), ("school_id", school_id)):
        if not isinstance(value, str) or not value:
            raise ValidationError(texts.ERR_CTX, details={"field": f"ctx.{name}"})
    return actor_id, school_id


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
