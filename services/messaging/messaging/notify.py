"""Storing notifications: one INSERT for a whole batch of events, and in the
same transaction one e-mail for each new notification whose recipient wants
instant e-mail; counted in metrics only once committed."""
from __future__ import annotations

import datetime as dt
from collections import Counter as Tally

from prometheus_client import Counter
from sqlalchemy import event as sa_event

from kernel.db import new_id

from messaging import mail, store
from messaging.mailer import EMAILS, wake

NOTIFICATIONS_CREATED = Counter(
    "messaging_notifications_created_total", "Notifications created, by kind", ["kind"])


def _count_after_commit(session, created, emails: int = 0) -> None:
    # Count only what was committed: a rolled-back transaction created nothing.
    kinds = Tally(draft.kind for draft in created)
    if not kinds and not emails:
        return

    def _inc(_session):
        for kind, n in kinds.items():
            NOTIFICATIONS_CREATED.labels(kind).inc(n)
        if emails:
            EMAILS.labels("queued").inc(emails)
            wake()  # the mailer sends them now

    sa_event.listen(session, "after_commit", _inc, once=True)


def notify(session, *, school_id: str, source_event_id: str | None, drafts) -> list:
    """Store ``drafts`` and, in the same transaction, queue one e-mail for
    each new notification whose recipient wants instant e-mail and has an
    address (an event handled twice makes neither twice). Returns the
    created drafts."""
    return notify_many(session, [(school_id, source_event_id, drafts)])


def notify_many(session, batches, *, known: dict | None = None) -> list:
    """:func:`notify` for several events at once: ``batches`` is
    ``[(school_id, source_event_id, drafts)]``. A fixed number of statements
    whatever the number of events: one INSERT of all notifications, one
    query for the recipients' addresses and settings (none when the caller
    passes them as ``known``, see :func:`messaging.store.contacts`), one
    INSERT of the e-mails. Returns the created drafts in the order given."""
    now = dt.datetime.now(dt.timezone.utc)
    rows, order = [], []
    for school_id, source_event_id, drafts in batches:
        for draft in drafts:
            notification_id = new_id()
            rows.append({"id": notification_id, "school_id": school_id, "recipient_id": draft.recipient_id,
                         "kind": draft.kind, "title": draft.title, "body": draft.body, "data": draft.data,
                         "source_event_id": source_event_id, "created_at": now, "read_at": None})
            order.append((notification_id, school_id, draft))
    if not rows:
        return []
    new_ids = store.insert_notifications(session, rows)
    created = [item for item in order if item[0] in new_ids]
    if known is None:
        known = store.contacts(session, ids={draft.recipient_id for _, _, draft in created})
    emails = []
    for notification_id, school_id, draft in created:
        person = known.get(draft.recipient_id)
        if person is None or person.school_id != school_id or not person.email or person.email_mode != "instant":
            continue
        subject, text_body, html_body = mail.render_instant(draft.title, draft.body)
        emails.append({"school_id": school_id, "recipient_id": draft.recipient_id, "address": person.email,
                       "subject": subject, "text_body": text_body, "html_body": html_body,
                       "notification_id": notification_id, "last_error": None, "sent_at": None})
    queued = store.queue_instant_emails(session, emails, now=now)
    drafts_created = [draft for _, _, draft in created]
    _count_after_commit(session, drafts_created, queued)
    return drafts_created
