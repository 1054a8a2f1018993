"""Internal mail (R-M1): sending a letter (who may write to whom is
:mod:`messaging.policy`), the inbox and sent folders, a letter and its
attachments."""
from __future__ import annotations

import base64

from prometheus_client import Counter
from sqlalchemy import event as sa_event

from kernel.context import CallContext
from kernel.errors import NotFound
from kernel import payloads
from kernel.nameko import service_rpc

from messaging import domain, events, policy, store, texts
from messaging.entrypoints import handled, on, roles_of
from messaging.errors import RecipientNotAllowed, ValidationError
from messaging.notify import notify

MESSAGES_SENT = Counter("messaging_messages_sent_total", "Internal mail letters sent")


def related_teachers(session, school_id, actor_id, roles) -> set:
    """The subject and class teachers of a parent's children or of a
    student's own classes (``related_teachers`` of :func:`messaging.policy.may_write`)."""
    roles = set(roles)
    students = []
    if "parent" in roles:
        students += store.children_of(session, school_id=school_id, parent_id=actor_id)
    if "student" in roles:
        students.append(actor_id)
    classes = store.classes_of(session, school_id=school_id, student_ids=students)
    return store.teachers_of_classes(session, school_id=school_id, class_ids=classes)


class Mail:

    @on(events.REPORT_READY)
    @handled("on_report_ready")
    def on_report_ready(self, session, envelope):
        """A report reports produced by itself (the monthly R-R7 monitoring):
        a letter with the file attached to the recipients it names (the
        school's deputy directors and directors), from the envelope's actor
        (reports' own id), with a notification (and an instant e-mail for
        those who chose it) and ``message_sent`` like any letter."""
        ready = events.parse_report_ready(envelope)
        school_id = payloads.school_id(envelope)
        sender_id = envelope.get("actor_id") or "reports"
        to = list(ready.recipient_ids)
        message = store.add_message(session, school_id=school_id, sender_id=sender_id, recipients=to,
                                    subject=ready.subject, body=ready.body, thread_id=None, reply_to_id=None,
                                    attachments=[ready.attachment])
        drafts = domain.message_notifications(message_id=message.id, thread_id=message.thread_id,
                                              sender_name=texts.SYSTEM_SENDER, subject=ready.subject, recipients=to)
        notify(session, school_id=school_id, source_event_id=envelope["id"], drafts=drafts)
        self.outbox.add(session, events.MESSAGE_SENT,
                        events.message_sent(message, recipient_ids=to, has_attachments=True),
                        {"actor_id": sender_id, "school_id": school_id, "roles": [],
                         "correlation_id": envelope.get("correlation_id")})

    @service_rpc
    def send_message(self, ctx, data):
        """Send a letter: ``{to:[user_id], subject, body, reply_to?, to_parents_of_class?,
        attachments?}`` -> ``{id, thread_id, recipients}``. Any refused recipient
        refuses the whole letter (403 RECIPIENT_NOT_ALLOWED, nothing sent)."""
        who = CallContext.from_rpc(ctx)
        actor_id, school_id = who.actor_id, who.school_id
        msg = domain.check_message(data)
        with self.db.transaction() as session:
            sender = store.get_person(session, user_id=actor_id)
            # The roles of the projection are the truth of messaging; the
            # token's roles help only until user_created has arrived.
            roles = roles_of(sender, who)
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
            related = related_teachers(session, school_id, actor_id, roles)
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
                            who.as_dict())
            sa_event.listen(session, "after_commit", lambda _s: MESSAGES_SENT.inc(), once=True)
            return {"id": message.id, "thread_id": message.thread_id, "recipients": to}

    def _names(self, session, school_id, ids) -> dict:
        return {k: p.full_name for k, p in store.people(session, school_id=school_id, ids=set(ids)).items()}

    @service_rpc
    def list_messages(self, ctx, folder="inbox", limit=domain.DEFAULT_LIMIT, cursor=None):
        """The caller's inbox or sent folder, newest first."""
        who = CallContext.from_rpc(ctx)
        actor_id, school_id = who.actor_id, who.school_id
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
                item["recipients"] = [{"id": r.recipient_id, "read_at": domain.iso(r.read_at)} for r in recipients[m.id]]
                items.append(item)
        return {"items": items, "next_cursor": next_cursor}

    @staticmethod
    def _summary(m, names, *, read: bool) -> dict:
        return {"id": m.id, "thread_id": m.thread_id, "reply_to": m.reply_to_id, "sender_id": m.sender_id,
                "sender_name": names.get(m.sender_id), "subject": m.subject, "created_at": domain.iso(m.created_at),
                "read": read}

    @service_rpc
    def get_message(self, ctx, message_id):
        """One letter for its sender or a recipient (404 for anyone else);
        opening it as a recipient records the read receipt. ``thread``: the
        other letters of its thread the caller sent or received, oldest
        first (at most ``domain.THREAD_LIMIT``)."""
        who = CallContext.from_rpc(ctx)
        actor_id, school_id = who.actor_id, who.school_id
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
                 **({"read_at": domain.iso(r.read_at)} if m.sender_id == actor_id else {})} for r in recipients]
            item["attachments"] = [{"id": a.id, "name": a.name, "content_type": a.content_type, "size": a.size}
                                   for a in store.attachments_of(session, message_id=m.id)]
            others = [t for t in store.thread_of(session, school_id=school_id, thread_id=m.thread_id,
                                                 user_id=actor_id, limit=domain.THREAD_LIMIT + 1) if t.id != m.id]
            names.update(self._names(session, school_id, [t.sender_id for t in others if t.sender_id not in names]))
            item["thread"] = [{k: v for k, v in self._summary(t, names, read=False).items() if k != "read"}
                              for t in others[:domain.THREAD_LIMIT]]
            return item

    @service_rpc
    def get_attachment(self, ctx, message_id, attachment_id):
        """``{name, content_type, content_base64}`` for a participant of the letter."""
        who = CallContext.from_rpc(ctx)
        actor_id, school_id = who.actor_id, who.school_id
        session = self.db.session
        m = store.get_message(session, school_id=school_id, message_id=str(message_id)[:64])
        if m is None or not store.is_participant(session, message=m, user_id=actor_id):
            raise NotFound(texts.ERR_NOT_FOUND)
        a = store.get_attachment(session, message_id=m.id, attachment_id=str(attachment_id)[:64])
        if a is None:
            raise NotFound(texts.ERR_NOT_FOUND)
        return {"name": a.name, "content_type": a.content_type, "content_base64": base64.b64encode(a.content).decode()}
