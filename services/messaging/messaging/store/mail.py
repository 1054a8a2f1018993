"""Internal mail: letters, their recipients (read receipts) and attachments."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from kernel.events import utcnow
from kernel.db import new_id

from messaging.store.models import Attachment, Message, MessageRecipient

# -- mail ----------------------------------------------------------------------

def add_message(session: Session, *, school_id: str, sender_id: str, recipients, subject: str, body: str,
                thread_id: str | None, reply_to_id: str | None, attachments=(),
                now: dt.datetime | None = None) -> Message:
    now = now or utcnow()
    message_id = new_id()
    message = Message(id=message_id, school_id=school_id, sender_id=sender_id, thread_id=thread_id or message_id,
                      reply_to_id=reply_to_id, subject=subject, body=body, created_at=now)
    session.add(message)
    for recipient_id in recipients:
        session.add(MessageRecipient(message_id=message_id, recipient_id=recipient_id, school_id=school_id,
                                     created_at=now))
    for a in attachments:
        session.add(Attachment(id=new_id(), message_id=message_id, name=a["name"], content_type=a["content_type"],
                               size=len(a["content"]), content=a["content"]))
    session.flush()
    return message


def get_message(session: Session, *, school_id: str, message_id: str) -> Message | None:
    m = session.get(Message, message_id)
    return m if m is not None and m.school_id == school_id else None


def recipients_of(session: Session, *, message_ids) -> dict:
    """``{message_id: [MessageRecipient, ...]}``."""
    message_ids = list(message_ids)
    out: dict = {m: [] for m in message_ids}
    if message_ids:
        for r in session.scalars(select(MessageRecipient).where(MessageRecipient.message_id.in_(message_ids))
                                 .order_by(MessageRecipient.recipient_id)):
            out[r.message_id].append(r)
    return out


def attachments_of(session: Session, *, message_id: str) -> list[Attachment]:
    return list(session.scalars(select(Attachment).where(Attachment.message_id == message_id)
                                .order_by(Attachment.name, Attachment.id)))


def get_attachment(session: Session, *, message_id: str, attachment_id: str) -> Attachment | None:
    a = session.get(Attachment, attachment_id)
    return a if a is not None and a.message_id == message_id else None


def mark_message_read(session: Session, *, message_id: str, recipient_id: str, now: dt.datetime | None = None) -> bool:
    result = session.execute(update(MessageRecipient).where(
        MessageRecipient.message_id == message_id, MessageRecipient.recipient_id == recipient_id,
        MessageRecipient.read_at.is_(None)).values(read_at=now or utcnow())
        .execution_options(synchronize_session=False))
    return bool(result.rowcount)


def inbox(session: Session, *, school_id: str, user_id: str, limit: int, after=None) -> list:
    """``[(Message, read_at)]`` addressed to ``user_id``, newest first."""
    query = (select(Message, MessageRecipient.read_at)
             .join(MessageRecipient, MessageRecipient.message_id == Message.id)
             .where(MessageRecipient.recipient_id == user_id, MessageRecipient.school_id == school_id))
    if after is not None:
        at, last_id = after
        query = query.where(or_(Message.created_at < at, and_(Message.created_at == at, Message.id < last_id)))
    return list(session.execute(query.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit)))


def sent(session: Session, *, school_id: str, user_id: str, limit: int, after=None) -> list[Message]:
    query = select(Message).where(Message.sender_id == user_id, Message.school_id == school_id)
    if after is not None:
        at, last_id = after
        query = query.where(or_(Message.created_at < at, and_(Message.created_at == at, Message.id < last_id)))
    return list(session.scalars(query.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit)))


def thread_of(session: Session, *, school_id: str, thread_id: str, user_id: str, limit: int) -> list[Message]:
    """The letters of a thread that ``user_id`` sent or received, oldest first, at most ``limit``."""
    received = select(MessageRecipient.message_id).where(MessageRecipient.recipient_id == user_id)
    return list(session.scalars(
        select(Message).where(Message.school_id == school_id, Message.thread_id == thread_id,
                              or_(Message.sender_id == user_id, Message.id.in_(received)))
        .order_by(Message.created_at, Message.id).limit(limit)))


def is_participant(session: Session, *, message: Message, user_id: str) -> bool:
    if message.sender_id == user_id:
        return True
    return session.get(MessageRecipient, (message.id, user_id)) is not None
