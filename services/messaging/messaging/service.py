"""nameko entrypoints of messaging: decode, call domain/store, encode.

Run with ``python -m kernel.runner messaging``.
"""
from __future__ import annotations

from collections import Counter as Tally

from nameko.rpc import rpc
from prometheus_client import Counter
from sqlalchemy import event as sa_event

from kernel.db import Database
from kernel.nameko_ext import DeadLetters, EntrypointMetrics, Outbox, handles, on_event

from messaging import domain, events, store
from messaging.store import tables

NOTIFICATIONS_CREATED = Counter(
    "messaging_notifications_created_total", "Notifications created, by kind", ["kind"])

PROCESSED = tables["processed_events"]


def _handler(producer_and_type):
    return on_event(*producer_and_type)


def _handles(handler_name):
    """kernel ``handles`` under the consumer name ``messaging.<handler_name>``."""
    return handles(f"messaging.{handler_name}", PROCESSED)


def _count_after_commit(session, created) -> None:
    # Count only what was committed: a rolled-back transaction created nothing.
    kinds = Tally(draft.kind for draft in created)
    if not kinds:
        return

    def _inc(_session):
        for kind, n in kinds.items():
            NOTIFICATIONS_CREATED.labels(kind).inc(n)

    sa_event.listen(session, "after_commit", _inc, once=True)


class Service:
    name = "messaging"

    db = Database()
    outbox = Outbox(tables)
    dead_letters = DeadLetters(tables)
    metrics = EntrypointMetrics()

    @rpc
    def health(self):
        """Liveness of the nameko process."""
        return {"status": "ok", "service": self.name}

    # -- RPC -----------------------------------------------------------------

    @rpc
    def list_notifications(self, ctx, limit=domain.DEFAULT_LIMIT, cursor=None):
        """The caller's notifications, newest first:
        ``{items: [{id, kind, title, body, data, created_at, read}], next_cursor}``.
        ``limit`` 1..100; ``cursor`` is the ``next_cursor`` of the previous page."""
        actor_id, school_id = domain.check_ctx(ctx)
        limit = domain.check_limit(limit)
        after = domain.decode_cursor(cursor)
        rows = store.list_notifications(self.db.session, school_id=school_id, recipient_id=actor_id,
                                        limit=limit + 1, after=after)
        rows, next_cursor = domain.page(rows, limit)
        items = [domain.notification_view(id=r.id, kind=r.kind, title=r.title, body=r.body, data=r.data,
                                          created_at=r.created_at, read_at=r.read_at) for r in rows]
        return {"items": items, "next_cursor": next_cursor}

    @rpc
    def mark_notifications_read(self, ctx, ids):
        """Mark the caller's notifications ``ids`` read: ``{updated: n}``
        (other people's ids and already read ones are not counted)."""
        actor_id, school_id = domain.check_ctx(ctx)
        ids = domain.check_ids(ids)
        with self.db.transaction() as session:
            updated = store.mark_read(session, school_id=school_id, recipient_id=actor_id, ids=ids)
        return {"updated": updated}

    # -- projections -----------------------------------------------------------

    @_handler(events.USER_CREATED)
    @_handles("on_user_created")
    def on_user_created(self, session, envelope):
        user = events.parse_user_created(envelope)
        store.save_user_created(session, user_id=user.user_id, school_id=envelope.get("school_id") or None,
                                full_name=user.full_name, roles=user.roles, as_of=events.occurred_at(envelope))

    @_handler(events.ROLES_CHANGED)
    @_handles("on_roles_changed")
    def on_roles_changed(self, session, envelope):
        change = events.parse_roles_changed(envelope)
        store.save_roles(session, user_id=change.user_id, school_id=envelope.get("school_id") or None,
                         roles=change.roles, as_of=events.occurred_at(envelope))

    @_handler(events.PARENT_LINKED)
    @_handles("on_parent_linked")
    def on_parent_linked(self, session, envelope):
        link = events.parse_parent_linked(envelope)
        store.save_parent_link(session, school_id=events.school_id(envelope), student_id=link.student_id,
                               parent_id=link.parent_id, relation=link.relation)

    @_handler(events.SUBJECT_CREATED)
    @_handles("on_subject_created")
    def on_subject_created(self, session, envelope):
        subject = events.parse_subject_created(envelope)
        store.save_subject(session, school_id=events.school_id(envelope), subject_id=subject.subject_id,
                           name=subject.name)

    @_handler(events.CLASS_CREATED)
    @_handles("on_class_created")
    def on_class_created(self, session, envelope):
        c = events.parse_class_created(envelope)
        store.save_class(session, school_id=events.school_id(envelope), class_id=c.class_id, year_id=c.year_id,
                         grade=c.grade, letter=c.letter, name=c.name, class_teacher_id=c.class_teacher_id)

    @_handler(events.STUDENT_ENROLLED)
    @_handles("on_student_enrolled")
    def on_student_enrolled(self, session, envelope):
        e = events.parse_student_enrolled(envelope)
        store.save_enrolment(session, school_id=events.school_id(envelope), student_id=e.student_id,
                             class_id=e.class_id, order_no=e.order_no, enrolled_on=e.on)

    # -- notifications -----------------------------------------------------------

    @_handler(events.MARK_POSTED)
    @_handles("on_mark_posted")
    def on_mark_posted(self, session, envelope):
        """Notify the marked student's linked parents (see
        :func:`messaging.domain.mark_notifications` for who and when)."""
        mark = events.parse_mark_posted(envelope)
        school_id = events.school_id(envelope)
        parents = store.parent_ids(session, school_id=school_id, student_id=mark.student_id)
        if not parents:
            return
        student = store.get_person(session, user_id=mark.student_id)
        drafts = domain.mark_notifications(
            mark, parents, student_name=student.full_name if student else None,
            subject_name=mark.subject_name or store.subject_name(session, subject_id=mark.subject_id))
        created = store.add_notifications(session, school_id=school_id, source_event_id=envelope["id"],
                                          drafts=drafts)
        _count_after_commit(session, created)
