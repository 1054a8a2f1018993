"""Notifications, notification settings and the e-mail queue."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session

from kernel.events import utcnow
from kernel.db import dialect_insert, new_id

from messaging import domain
from messaging.store.models import Email, Notification, NotificationSetting

# -- notifications -----------------------------------------------------------

def add_notifications(session: Session, *, school_id: str, source_event_id: str | None, drafts,
                      now: dt.datetime | None = None) -> list:
    """Store ``drafts``; returns those actually created (a draft whose
    (recipient, source event, kind) exists already is skipped)."""
    return [draft for _, draft in add_notifications_with_ids(
        session, school_id=school_id, source_event_id=source_event_id, drafts=drafts, now=now)]


def add_notifications_with_ids(session: Session, *, school_id: str, source_event_id: str | None, drafts,
                               now: dt.datetime | None = None) -> list[tuple[str, object]]:
    """Like :func:`add_notifications`, with the new notification ids:
    ``[(id, draft)]`` of those actually created."""
    now = now or utcnow()
    created = []
    for draft in drafts:
        notification_id = new_id()
        result = session.execute(dialect_insert(session, Notification).values(
            id=notification_id, school_id=school_id, recipient_id=draft.recipient_id, kind=draft.kind,
            title=draft.title, body=draft.body, data=draft.data, source_event_id=source_event_id,
            created_at=now,
        ).on_conflict_do_nothing(index_elements=["recipient_id", "source_event_id", "kind"]))
        if result.rowcount:
            created.append((notification_id, draft))
    return created


def insert_notifications(session: Session, rows: list[dict]) -> set[str]:
    """Store notification ``rows`` (dicts of the columns) in one INSERT ...
    ON CONFLICT DO NOTHING (an executemany that SQLAlchemy sends as one
    multi-row statement per 1,000 rows, compiled once and cached); the ids
    of those actually created (a row whose (recipient, source event, kind)
    exists is skipped)."""
    if not rows:
        return set()
    table = Notification.__table__
    stmt = (dialect_insert(session, table).on_conflict_do_nothing(index_elements=["recipient_id", "source_event_id", "kind"])
            .returning(table.c.id))
    return set(session.connection().execute(stmt, rows).scalars())


def list_notifications(session: Session, *, school_id: str, recipient_id: str, limit: int,
                       after: tuple[dt.datetime, str] | None = None) -> list[Notification]:
    """Up to ``limit`` notifications of one person, newest first, strictly
    after the keyset position ``after`` = (created_at, id)."""
    query = select(Notification).where(
        Notification.recipient_id == recipient_id, Notification.school_id == school_id)
    if after is not None:
        at, last_id = after
        query = query.where(or_(Notification.created_at < at,
                                and_(Notification.created_at == at, Notification.id < last_id)))
    query = query.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)
    return list(session.scalars(query))


def mark_read(session: Session, *, school_id: str, recipient_id: str, ids, now: dt.datetime | None = None) -> int:
    """Mark unread notifications of one person read; the number changed."""
    if not ids:
        return 0
    result = session.execute(update(Notification).where(
        Notification.id.in_(list(ids)), Notification.recipient_id == recipient_id,
        Notification.school_id == school_id, Notification.read_at.is_(None),
    ).values(read_at=now or utcnow()).execution_options(synchronize_session=False))
    return result.rowcount

# -- settings and the e-mail queue -------------------------------------------

def get_setting(session: Session, *, user_id: str) -> NotificationSetting | None:
    return session.get(NotificationSetting, user_id)


def save_setting(session: Session, *, school_id: str, user_id: str, email_mode: str,
                 digest_time: str) -> NotificationSetting:
    now = utcnow()
    stmt = dialect_insert(session, NotificationSetting).values(
        user_id=user_id, school_id=school_id, email_mode=email_mode, digest_time=digest_time, updated_at=now)
    session.execute(stmt.on_conflict_do_update(index_elements=["user_id"], set_={
        "email_mode": stmt.excluded.email_mode, "digest_time": stmt.excluded.digest_time,
        "updated_at": stmt.excluded.updated_at}))
    return session.execute(select(NotificationSetting).where(NotificationSetting.user_id == user_id)
                           .execution_options(populate_existing=True)).scalar_one()


def queue_email(session: Session, *, school_id: str, recipient_id: str, address: str, kind: str,
                subject: str, text_body: str, html_body: str, notification_id: str | None = None,
                digest_key: str | None = None, now: dt.datetime | None = None) -> bool:
    """Queue one e-mail; False when its notification/digest has one already."""
    now = now or utcnow()
    key = "notification_id" if notification_id else "digest_key"
    result = session.execute(dialect_insert(session, Email).values(
        id=new_id(), school_id=school_id, recipient_id=recipient_id, address=address, kind=kind,
        notification_id=notification_id, digest_key=digest_key, subject=subject, text_body=text_body,
        html_body=html_body, status="queued", attempts=0, next_attempt_at=now, created_at=now,
    ).on_conflict_do_nothing(index_elements=[key]))
    return bool(result.rowcount)


def queue_instant_emails(session: Session, rows: list[dict], *, now: dt.datetime | None = None) -> int:
    """Queue one instant e-mail per row (``school_id, recipient_id, address,
    subject, text_body, html_body, notification_id``) in one statement; the
    number queued (a notification that has its e-mail already gets no
    second one)."""
    if not rows:
        return 0
    now = now or utcnow()
    table = Email.__table__
    values = [{**row, "id": new_id(), "kind": "instant", "digest_key": None, "status": "queued", "attempts": 0,
               "next_attempt_at": now, "created_at": now} for row in rows]
    stmt = dialect_insert(session, table).on_conflict_do_nothing(index_elements=["notification_id"]).returning(table.c.id)
    return len(session.connection().execute(stmt, values).all())


def due_emails(session: Session, *, now: dt.datetime, limit: int) -> list[Email]:
    """Queued e-mails whose time has come, locked for this sender."""
    query = (select(Email).where(Email.status == "queued", Email.next_attempt_at <= now)
             .order_by(Email.next_attempt_at, Email.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def queue_stats(session: Session, *, now: dt.datetime) -> tuple[int, float, dt.datetime | None]:
    """(queued e-mails, age in seconds of the oldest queued one, when the
    next one is due or None)."""
    count, oldest, due = session.execute(select(func.count(Email.id), func.min(Email.created_at),
                                                func.min(Email.next_attempt_at))
                                         .where(Email.status == "queued")).one()
    lag = (now - domain.as_utc(oldest)).total_seconds() if oldest is not None else 0.0
    return int(count), max(0.0, lag), due


def digest_candidates(session: Session, *, today: dt.date) -> list[NotificationSetting]:
    """Daily-digest settings that have not had today's digest yet (locked,
    so two mailers never build the same digest)."""
    query = select(NotificationSetting).where(
        NotificationSetting.email_mode == "daily",
        or_(NotificationSetting.last_digest_on.is_(None), NotificationSetting.last_digest_on < today))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def digest_items(session: Session, *, recipient_id: str, since: dt.datetime, until: dt.datetime) -> list[Notification]:
    """Notifications of one person in (since, until] not already e-mailed one by one."""
    emailed = exists().where(Email.notification_id == Notification.id)
    return list(session.scalars(select(Notification).where(
        Notification.recipient_id == recipient_id, Notification.created_at > since,
        Notification.created_at <= until, ~emailed).order_by(Notification.created_at, Notification.id)))
