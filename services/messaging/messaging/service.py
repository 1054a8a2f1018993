"""nameko entrypoints of messaging: decode, call domain/store, encode.

Run with ``python -m kernel.runner messaging``.
"""
from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import logging
from collections import Counter as Tally

from prometheus_client import Counter
from sqlalchemy import event as sa_event

from kernel.db import Database
from kernel.batching import handles_batch, on_event_batch
from kernel.db import new_id
from kernel.nameko_ext import DeadLetters, EntrypointMetrics, Outbox, handles, on_event, service_rpc

from kernel.errors import Forbidden, NotFound

from messaging import domain, events, mail, policy, store, texts
from messaging.errors import ValidationError
from messaging.mailer import EMAILS, Mailer
from messaging.store import tables

log = logging.getLogger(__name__)

NOTIFICATIONS_CREATED = Counter(
    "messaging_notifications_created_total", "Notifications created, by kind", ["kind"])

MESSAGES_SENT = Counter("messaging_messages_sent_total", "Internal mail letters sent")
NEWS_POSTED = Counter("messaging_news_posted_total", "News items and announcements posted", ["kind"])

PROCESSED = tables["processed_events"]

# mark_posted comes in bursts (a teacher saves a lesson's marks, a class at
# once): batches of up to MARK_BATCH deliveries, cut MARK_BATCH_WAIT seconds
# after the first one arrived, at most MARK_BATCH_CONCURRENCY at a time
# (bench/notifications.py measured these).
MARK_BATCH = 200
MARK_BATCH_WAIT = 0.05
MARK_BATCH_CONCURRENCY = 4


class RecipientNotAllowed(Forbidden):
    """R-M1/R-A3: the sender may not write to (some of) the recipients."""
    code = "RECIPIENT_NOT_ALLOWED"
    message = texts.ERR_RECIPIENT


def _handler(producer_and_type):
    return on_event(*producer_and_type)


def _handles(handler_name):
    """kernel ``handles`` under the consumer name ``messaging.<handler_name>``."""
    return handles(f"messaging.{handler_name}", PROCESSED)


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


class Service:
    name = "messaging"

    db = Database()
    outbox = Outbox(tables)
    dead_letters = DeadLetters(tables)
    metrics = EntrypointMetrics()
    mailer = Mailer()

    @service_rpc
    def health(self):
        """Liveness of the nameko process."""
        return {"status": "ok", "service": self.name}

    # -- RPC -----------------------------------------------------------------

    @service_rpc
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

    @service_rpc
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
                                full_name=user.full_name, roles=user.roles, as_of=events.occurred_at(envelope),
                                email=user.email)

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

    @_handler(events.STUDENT_TRANSFERRED)
    @_handles("on_student_transferred")
    def on_student_transferred(self, session, envelope):
        """The old class's homework and the old class's teachers are no longer
        the family's (R-A3); the new class arrives as ``student_enrolled``."""
        e = events.parse_student_transferred(envelope)
        store.end_enrolment(session, school_id=events.school_id(envelope), student_id=e.student_id,
                            class_id=e.class_id, on=e.on)

    @_handler(events.STUDENT_LEFT)
    @_handles("on_student_left")
    def on_student_left(self, session, envelope):
        e = events.parse_student_left(envelope)
        store.end_enrolment(session, school_id=events.school_id(envelope), student_id=e.student_id,
                            class_id=e.class_id, on=e.on)

    # -- notifications -----------------------------------------------------------

    @on_event_batch(*events.MARK_POSTED, max_batch=MARK_BATCH, max_wait=MARK_BATCH_WAIT,
                    concurrency=MARK_BATCH_CONCURRENCY)
    @handles_batch("messaging.on_mark_posted", None)
    def on_mark_posted(self, session, envelopes):
        """Notify each marked student's linked parents (see
        :func:`messaging.domain.mark_notifications` for who and when). Marks
        come in batches (kernel.batching): a class's marks of one lesson cost
        a few statements in one transaction, not a transaction each.

        No processed-event rows (30 a class): the effect is idempotent by
        itself. A notification is unique per (recipient, source event,
        kind) and its e-mail per notification, so a redelivered event
        creates and sends nothing twice."""
        marks = [(env, events.parse_mark_posted(env), events.school_id(env)) for env in envelopes]
        parents = store.parents_by_student(session, pairs={(school, m.student_id) for _, m, school in marks})
        marks = [item for item in marks if parents[(item[2], item[1].student_id)]]
        if not marks:
            return
        # One query for the students' names and the parents' addresses and settings.
        known = store.contacts(session, ids={m.student_id for _, m, _ in marks}
                               | {p for _, m, school in marks for p in parents[(school, m.student_id)]})
        subjects = store.subject_names(session, subject_ids={m.subject_id for _, m, _ in marks if not m.subject_name})
        batches = []
        for env, mark, school_id in marks:
            student = known.get(mark.student_id)
            drafts = domain.mark_notifications(
                mark, parents[(school_id, mark.student_id)], student_name=student.full_name if student else None,
                subject_name=mark.subject_name or subjects.get(mark.subject_id))
            batches.append((school_id, env["id"], drafts))
        notify_many(session, batches, known=known)

    @_handler(events.SUBGROUP_CREATED)
    @_handles("on_subgroup_created")
    def on_subgroup_created(self, session, envelope):
        g = events.parse_subgroup_created(envelope)
        store.save_subgroup(session, school_id=events.school_id(envelope), subgroup_id=g.subgroup_id,
                            class_id=g.class_id, student_ids=g.student_ids)

    @_handler(events.TEACHER_ASSIGNED)
    @_handles("on_teacher_assigned")
    def on_teacher_assigned(self, session, envelope):
        a = events.parse_teacher_assigned(envelope)
        store.save_assignment(session, school_id=events.school_id(envelope), assignment_id=a.assignment_id,
                              teacher_id=a.teacher_id, class_id=a.class_id, subject_id=a.subject_id)

    @_handler(events.ATTENDANCE_RECORDED)
    @_handles("on_attendance_recorded")
    def on_attendance_recorded(self, session, envelope):
        """Notify the parents of each student marked absent or late."""
        att = events.parse_attendance_recorded(envelope)
        school_id = events.school_id(envelope)
        missing = [e.student_id for e in att.entries if e.status not in domain.PRESENT_STATUSES]
        if not missing:
            return
        parents = store.parents_of_students(session, school_id=school_id, student_ids=missing)
        names = {p.user_id: p.full_name for p in store.people(session, school_id=school_id, ids=missing).values()}
        subject = att.subject_name or store.subject_name(session, subject_id=att.subject_id)
        att = dataclasses.replace(att, subject_name=subject)
        drafts = domain.absence_notifications(att, parents, names)
        notify(session, school_id=school_id, source_event_id=envelope["id"], drafts=drafts)

    @_handler(events.LESSON_RECORDED)
    @_handles("on_lesson_recorded")
    def on_lesson_recorded(self, session, envelope):
        """New homework: notify the parents of the class's students, or of the
        subgroup's students for a subgroup's lesson (R-S5). A late or overdue
        entry (R-J5): notify the deputies, directors and the class teacher."""
        lesson = events.parse_lesson_recorded(envelope)
        if lesson.imported:
            # Transcribed from the paper journal (POST /imports/lessons): its
            # homework is long done and its lateness was the paper's; telling
            # families and staff now would only be noise.
            return
        school_id = events.school_id(envelope)
        subject = lesson.subject_name or store.subject_name(session, subject_id=lesson.subject_id)
        drafts = []
        if (lesson.homework or "").strip():
            if lesson.subgroup_id:
                # R-S5: a subgroup's lesson is its students' only. A subgroup
                # messaging has not heard of notifies nobody: better no message
                # than one to families whose children were not in the lesson.
                students = store.subgroup_students(session, school_id=school_id,
                                                   subgroup_id=lesson.subgroup_id) or []
                if not students:
                    log.warning("homework of lesson %s: subgroup %s unknown, no family notified",
                                lesson.lesson_id, lesson.subgroup_id)
            else:
                students = store.students_of_class(session, school_id=school_id, class_id=lesson.class_id)
            by_student = store.parents_of_students(session, school_id=school_id, student_ids=students)
            parents = [p for ps in by_student.values() for p in ps]
            drafts += domain.homework_notifications(lesson, parents, subject_name=subject)
        if lesson.late or lesson.overdue:
            klass = store.get_class(session, school_id=school_id, class_id=lesson.class_id)
            staff = [p.user_id for p in store.school_people(session, school_id=school_id)
                     if domain.LATE_ENTRY_ROLES & set(p.roles or ())]
            if klass is not None and klass.class_teacher_id:
                staff.append(klass.class_teacher_id)
            drafts += domain.late_entry_notifications(lesson, staff, subject_name=subject,
                                                      class_name=klass.name if klass else None)
        if drafts:
            notify(session, school_id=school_id, source_event_id=envelope["id"], drafts=drafts)

    @_handler(events.FINAL_MARK_POSTED)
    @_handles("on_final_mark_posted")
    def on_final_mark_posted(self, session, envelope):
        """A final mark entered late (R-F3): notify the deputies, directors
        and the class teacher. Families are not notified of final marks here."""
        final = events.parse_final_mark_posted(envelope)
        if not final.late:
            return
        school_id = events.school_id(envelope)
        klass = store.get_class(session, school_id=school_id, class_id=final.class_id)
        staff = [p.user_id for p in store.school_people(session, school_id=school_id)
                 if domain.LATE_ENTRY_ROLES & set(p.roles or ())]
        if klass is not None and klass.class_teacher_id:
            staff.append(klass.class_teacher_id)
        student = store.people(session, school_id=school_id, ids=[final.student_id]).get(final.student_id)
        drafts = domain.late_final_mark_notifications(
            final, staff, subject_name=store.subject_name(session, subject_id=final.subject_id),
            class_name=klass.name if klass else None, student_name=student.full_name if student else None)
        if drafts:
            notify(session, school_id=school_id, source_event_id=envelope["id"], drafts=drafts)

    # -- internal mail (R-M1) --------------------------------------------------

    def _related_teachers(self, session, school_id, actor_id, roles) -> set:
        roles = set(roles)
        students = []
        if "parent" in roles:
            students += store.children_of(session, school_id=school_id, parent_id=actor_id)
        if "student" in roles:
            students.append(actor_id)
        classes = store.classes_of(session, school_id=school_id, student_ids=students)
        return store.teachers_of_classes(session, school_id=school_id, class_ids=classes)

    @service_rpc
    def send_message(self, ctx, data):
        """Send a letter: ``{to:[user_id], subject, body, reply_to?, to_parents_of_class?,
        attachments?}`` -> ``{id, thread_id, recipients}``. Any refused recipient
        refuses the whole letter (403 RECIPIENT_NOT_ALLOWED, nothing sent)."""
        actor_id, school_id = domain.check_ctx(ctx)
        msg = domain.check_message(data)
        with self.db.transaction() as session:
            sender = store.get_person(session, user_id=actor_id)
            # The roles of the projection are the truth of messaging; the
            # token's roles help only until user_created has arrived.
            roles = list(sender.roles) if sender is not None and sender.roles else list(ctx.get("roles") or [])
            thread_id, reply_author = None, None
            if msg.reply_to:
                original = store.get_message(session, school_id=school_id, message_id=msg.reply_to)
                if original is None or not store.is_participant(session, message=original, user_id=actor_id):
                    raise NotFound(texts.ERR_NOT_FOUND, details={"field": "reply_to"})
                thread_id, reply_author = original.thread_id, original.sender_id
            to = list(msg.to) or ([reply_author] if reply_author and reply_author != actor_id else [])
            if msg.to_parents_of_class:
                klass = store.get_class(session, school_id=school_id, class_id=msg.to_parents_of_class)
                if klass is None or not policy.may_write_to_class_parents(
                        sender_id=actor_id, sender_roles=roles, class_teacher_id=klass.class_teacher_id):
                    raise RecipientNotAllowed(texts.ERR_CLASS_PARENTS,
                                              details={"to_parents_of_class": msg.to_parents_of_class})
                students = store.students_of_class(session, school_id=school_id, class_id=klass.class_id)
                for parents in store.parents_of_students(session, school_id=school_id, student_ids=students).values():
                    to.extend(parents)
            to = [t for t in dict.fromkeys(to) if t != actor_id]
            if not to:
                raise ValidationError(texts.ERR_VALIDATION, details={"field": "to"})
            known = store.people(session, school_id=school_id, ids=to)
            related = self._related_teachers(session, school_id, actor_id, roles)
            refused = [t for t in to if not policy.may_write(
                sender_id=actor_id, sender_roles=roles, recipient_id=t,
                recipient_roles=known[t].roles if t in known else None, related_teachers=related,
                reply_to_sender=reply_author)]
            if refused:
                raise RecipientNotAllowed(details={"refused": refused})
            message = store.add_message(session, school_id=school_id, sender_id=actor_id, recipients=to,
                                        subject=msg.subject, body=msg.body, thread_id=thread_id,
                                        reply_to_id=msg.reply_to, attachments=msg.attachments)
            drafts = domain.message_notifications(
                message_id=message.id, thread_id=message.thread_id,
                sender_name=sender.full_name if sender else None, subject=msg.subject, recipients=to)
            notify(session, school_id=school_id, source_event_id=message.id, drafts=drafts)
            # Who may read the letter, for identity's access decision (in the
            # letter's transaction: no letter without its event, no event without it).
            self.outbox.add(session, events.MESSAGE_SENT,
                            events.message_sent(message, recipient_ids=to, has_attachments=bool(msg.attachments)),
                            {"actor_id": actor_id, "school_id": school_id,
                             "correlation_id": ctx.get("correlation_id") if isinstance(ctx.get("correlation_id"), str) else None})
            sa_event.listen(session, "after_commit", lambda _s: MESSAGES_SENT.inc(), once=True)
            return {"id": message.id, "thread_id": message.thread_id, "recipients": to}

    def _names(self, session, school_id, ids) -> dict:
        return {k: p.full_name for k, p in store.people(session, school_id=school_id, ids=set(ids)).items()}

    @service_rpc
    def list_messages(self, ctx, folder="inbox", limit=domain.DEFAULT_LIMIT, cursor=None):
        """The caller's inbox or sent folder, newest first."""
        actor_id, school_id = domain.check_ctx(ctx)
        folder = domain.check_folder(folder)
        limit = domain.check_limit(limit)
        after = domain.decode_cursor(cursor)
        session = self.db.session
        if folder == "inbox":
            rows = store.inbox(session, school_id=school_id, user_id=actor_id, limit=limit + 1, after=after)
            next_cursor = None
            if len(rows) > limit:
                rows = rows[:limit]
                next_cursor = domain.encode_cursor(rows[-1][0].created_at, rows[-1][0].id)
            names = self._names(session, school_id, [m.sender_id for m, _ in rows])
            items = [self._summary(m, names, read=read_at is not None) for m, read_at in rows]
        else:
            rows = store.sent(session, school_id=school_id, user_id=actor_id, limit=limit + 1, after=after)
            rows, next_cursor = domain.page(rows, limit)
            recipients = store.recipients_of(session, message_ids=[m.id for m in rows])
            names = self._names(session, school_id, [m.sender_id for m in rows])
            items = []
            for m in rows:
                item = self._summary(m, names, read=True)
                item["recipients"] = [{"id": r.recipient_id, "read_at": _iso(r.read_at)} for r in recipients[m.id]]
                items.append(item)
        return {"items": items, "next_cursor": next_cursor}

    @staticmethod
    def _summary(m, names, *, read: bool) -> dict:
        return {"id": m.id, "thread_id": m.thread_id, "reply_to": m.reply_to_id, "sender_id": m.sender_id,
                "sender_name": names.get(m.sender_id), "subject": m.subject, "created_at": _iso(m.created_at),
                "read": read}

    @service_rpc
    def get_message(self, ctx, message_id):
        """One letter for its sender or a recipient (404 for anyone else);
        opening it as a recipient records the read receipt."""
        actor_id, school_id = domain.check_ctx(ctx)
        if not isinstance(message_id, str) or not 0 < len(message_id) <= 64:
            raise NotFound(texts.ERR_NOT_FOUND)
        with self.db.transaction() as session:
            m = store.get_message(session, school_id=school_id, message_id=message_id)
            if m is None or not store.is_participant(session, message=m, user_id=actor_id):
                raise NotFound(texts.ERR_NOT_FOUND)
            store.mark_message_read(session, message_id=m.id, recipient_id=actor_id)
            recipients = store.recipients_of(session, message_ids=[m.id])[m.id]
            names = self._names(session, school_id, [m.sender_id, *(r.recipient_id for r in recipients)])
            item = self._summary(m, names, read=True)
            item["body"] = m.body
            # Read receipts are the sender's to see; a recipient sees who else got it.
            item["recipients"] = [
                {"id": r.recipient_id, "name": names.get(r.recipient_id),
                 **({"read_at": _iso(r.read_at)} if m.sender_id == actor_id else {})} for r in recipients]
            item["attachments"] = [{"id": a.id, "name": a.name, "content_type": a.content_type, "size": a.size}
                                   for a in store.attachments_of(session, message_id=m.id)]
            return item

    @service_rpc
    def get_attachment(self, ctx, message_id, attachment_id):
        """``{name, content_type, content_base64}`` for a participant of the letter."""
        actor_id, school_id = domain.check_ctx(ctx)
        session = self.db.session
        m = store.get_message(session, school_id=school_id, message_id=str(message_id)[:64])
        if m is None or not store.is_participant(session, message=m, user_id=actor_id):
            raise NotFound(texts.ERR_NOT_FOUND)
        a = store.get_attachment(session, message_id=m.id, attachment_id=str(attachment_id)[:64])
        if a is None:
            raise NotFound(texts.ERR_NOT_FOUND)
        return {"name": a.name, "content_type": a.content_type, "content_base64": base64.b64encode(a.content).decode()}

    # -- news and announcements (R-M4) ------------------------------------------

    @service_rpc
    def post_news(self, ctx, data):
        """Post news or an announcement; notifies its audience."""
        actor_id, school_id = domain.check_ctx(ctx)
        news = domain.check_news(data)
        with self.db.transaction() as session:
            author = store.get_person(session, user_id=actor_id)
            roles = list(author.roles) if author is not None and author.roles else list(ctx.get("roles") or [])
            kind = news.kind or policy.default_kind(roles)
            if not policy.may_post(kind, roles):
                raise Forbidden(texts.ERR_NEWS_ROLE, details={"kind": kind})
            if news.class_id and store.get_class(session, school_id=school_id, class_id=news.class_id) is None:
                raise NotFound(texts.ERR_NOT_FOUND, details={"field": "audience.class_id"})
            item = store.add_news(session, school_id=school_id, author_id=actor_id, kind=kind, audience=news.audience,
                                  class_id=news.class_id, title=news.title, body=news.body, links=news.links)
            audience = self._audience(session, school_id, news.audience, news.class_id) - {actor_id}
            drafts = domain.news_notifications(news_id=item.id, kind=kind, title=news.title, recipients=sorted(audience))
            notify(session, school_id=school_id, source_event_id=item.id, drafts=drafts)
            sa_event.listen(session, "after_commit", lambda _s: NEWS_POSTED.labels(kind).inc(), once=True)
            return self._news_view(item)

    def _audience(self, session, school_id, audience, class_id) -> set:
        if audience == "school":
            return {p.user_id for p in store.school_people(session, school_id=school_id)}
        if audience == "staff":
            return {p.user_id for p in store.school_people(session, school_id=school_id) if policy.is_staff(p.roles)}
        students = store.students_of_class(session, school_id=school_id, class_id=class_id)
        parents = {p for ps in store.parents_of_students(session, school_id=school_id, student_ids=students).values()
                   for p in ps}
        if audience == "parents":
            return parents
        return set(students) | parents

    @staticmethod
    def _news_view(item) -> dict:
        audience = {"school": {"school": True}, "staff": {"staff": True}, "class": {"class_id": item.class_id},
                    "parents": {"parents_of_class": item.class_id}}[item.audience]
        return {"id": item.id, "kind": item.kind, "title": item.title, "body": item.body, "links": item.links or [],
                "audience": audience, "author_id": item.author_id, "created_at": _iso(item.created_at)}

    @service_rpc
    def list_news(self, ctx, limit=domain.DEFAULT_LIMIT, cursor=None):
        """The news addressed to the caller (see :func:`messaging.policy.news_visible`), newest first."""
        from sqlalchemy import and_, or_

        actor_id, school_id = domain.check_ctx(ctx)
        limit = domain.check_limit(limit)
        after = domain.decode_cursor(cursor)
        session = self.db.session
        me = store.get_person(session, user_id=actor_id)
        roles = set(me.roles if me is not None and me.roles else (ctx.get("roles") or []))
        children = store.children_of(session, school_id=school_id, parent_id=actor_id)
        children_classes = set(store.classes_of(session, school_id=school_id, student_ids=children))
        my_classes = set(store.classes_of(session, school_id=school_id, student_ids=[actor_id]))
        taught = store.classes_taught_by(session, school_id=school_id, teacher_id=actor_id)
        N = store.NewsItem
        conditions = [N.audience == "school", N.author_id == actor_id]
        if roles & policy.STAFF:
            conditions.append(N.audience == "staff")
        if roles & policy.SCHOOL_WIDE_READERS:
            conditions.append(N.audience.in_(["class", "parents"]))
        else:
            conditions.append(and_(N.audience.in_(["class", "parents"]), N.class_id.in_(taught | children_classes)))
            conditions.append(and_(N.audience == "class", N.class_id.in_(my_classes)))
        rows = store.list_news(session, school_id=school_id, visible=or_(*conditions), limit=limit + 1, after=after)
        rows, next_cursor = domain.page(rows, limit)
        return {"items": [self._news_view(r) for r in rows], "next_cursor": next_cursor}

    # -- settings -----------------------------------------------------------------

    @service_rpc
    def get_notification_settings(self, ctx):
        actor_id, school_id = domain.check_ctx(ctx)
        setting = store.get_setting(self.db.session, user_id=actor_id)
        return _settings_view(setting)

    @service_rpc
    def set_notification_settings(self, ctx, data):
        """``{email: off|instant|daily, digest_time?: "HH:MM"}`` (school time)."""
        actor_id, school_id = domain.check_ctx(ctx)
        mode, digest_time = domain.check_settings(data)
        with self.db.transaction() as session:
            current = store.get_setting(session, user_id=actor_id)
            digest_time = digest_time or (current.digest_time if current else domain.DEFAULT_DIGEST_TIME)
            setting = store.save_setting(session, school_id=school_id, user_id=actor_id, email_mode=mode,
                                         digest_time=digest_time)
            return _settings_view(setting)


def _iso(value):
    return domain.as_utc(value).isoformat() if value is not None else None


def _settings_view(setting) -> dict:
    if setting is None:
        return {"email": domain.DEFAULT_EMAIL_MODE, "digest_time": domain.DEFAULT_DIGEST_TIME}
    return {"email": setting.email_mode, "digest_time": setting.digest_time}
