"""messaging's tables: the projections of other services' facts, notifications,
letters, news, settings and the e-mail queue (with the kernel's outbox,
processed events and dead letters)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Date, Index, Integer, LargeBinary, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kernel.db import UtcDateTime
from kernel.events import kernel_tables


# Named constraints: Alembic can then alter them later (SQLite batch mode too).
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TZ = UtcDateTime()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


tables = kernel_tables(Base.metadata)


class Person(Base):
    """Someone known from identity's events (any role)."""
    __tablename__ = "people"

    user_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # Null only until user_created arrives (roles_changed may come first).
    school_id: Mapped[str | None] = mapped_column(String(36), index=True)
    full_name: Mapped[str | None] = mapped_column(String(300))
    # Where e-mail notifications go (user_created.email); null: no e-mail.
    email: Mapped[str | None] = mapped_column(String(254))
    roles: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    # occurred_at of the event that set ``roles``: the newest fact wins.
    roles_as_of: Mapped[dt.datetime | None] = mapped_column(TZ)
    updated_at: Mapped[dt.datetime] = mapped_column(TZ, nullable=False)


class ParentLink(Base):
    """A parent (legal representative) of a student, from parent_linked."""
    __tablename__ = "parent_links"

    student_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    parent_id: Mapped[str] = mapped_column(String(36), primary_key=True, index=True)
    school_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    relation: Mapped[str | None] = mapped_column(String(40))
    linked_at: Mapped[dt.datetime] = mapped_column(TZ, nullable=False)


class Subject(Base):
    __tablename__ = "subjects"

    subject_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    school_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)


class SchoolClass(Base):
    __tablename__ = "classes"

    class_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    school_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    year_id: Mapped[str | None] = mapped_column(String(36))
    grade: Mapped[int | None] = mapped_column(Integer)
    letter: Mapped[str | None] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(40), nullable=False)
    class_teacher_id: Mapped[str | None] = mapped_column(String(36), index=True)


class Enrolment(Base):
    __tablename__ = "enrolments"

    student_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    class_id: Mapped[str] = mapped_column(String(36), primary_key=True, index=True)
    school_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    order_no: Mapped[str | None] = mapped_column(String(60))
    enrolled_on: Mapped[dt.date | None] = mapped_column(Date)


class SubgroupMember(Base):
    """A student of a subgroup (journal's subgroup_created, R-S5): homework
    of a subgroup's lesson goes to these students' parents only."""
    __tablename__ = "subgroup_members"

    subgroup_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    student_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    school_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    class_id: Mapped[str] = mapped_column(String(36), nullable=False)


class Notification(Base):
    """Something a person should know about (new mark; later news, mail...)."""
    __tablename__ = "notifications"
    __table_args__ = (
        # One event makes at most one notification of a kind per person,
        # even when two workers handle a redelivered event at once.
        UniqueConstraint("recipient_id", "source_event_id", "kind"),
        # The keyset order of list_notifications.
        Index("ix_notifications_recipient_created", "recipient_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    school_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    recipient_id: Mapped[str] = mapped_column(String(36), nullable=False)
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    data: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    # Null for notifications that do not come from an event (e.g. later, mail).
    source_event_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[dt.datetime] = mapped_column(TZ, nullable=False)
    read_at: Mapped[dt.datetime | None] = mapped_column(TZ)


class TeacherAssignment(Base):
    """Who teaches which subject in which class (journal's teacher_assigned):
    the relation behind R-A3's "the child's teachers"."""
    __tablename__ = "teacher_assignments"

    assignment_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    school_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    teacher_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    class_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    subject_id: Mapped[str | None] = mapped_column(String(36))


class Message(Base):
    """One letter of internal mail (R-M1); replies share the thread id."""
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_sender_created", "sender_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    school_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    sender_id: Mapped[str] = mapped_column(String(36), nullable=False)
    thread_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    reply_to_id: Mapped[str | None] = mapped_column(String(36))
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(TZ, nullable=False)


class MessageRecipient(Base):
    """A recipient of a letter and when they opened it (the read receipt)."""
    __tablename__ = "message_recipients"
    __table_args__ = (Index("ix_message_recipients_recipient_created", "recipient_id", "created_at"),)

    message_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    recipient_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    school_id: Mapped[str] = mapped_column(String(36), nullable=False)
    # The letter's time, copied so that the inbox is one index range.
    created_at: Mapped[dt.datetime] = mapped_column(TZ, nullable=False)
    read_at: Mapped[dt.datetime | None] = mapped_column(TZ)


class Attachment(Base):
    """A file attached to a letter (size-limited by the domain)."""
    __tablename__ = "message_attachments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class NewsItem(Base):
    """School news or an announcement (R-M4) with its audience."""
    __tablename__ = "news"
    __table_args__ = (Index("ix_news_school_created", "school_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    school_id: Mapped[str] = mapped_column(String(36), nullable=False)
    author_id: Mapped[str] = mapped_column(String(36), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)        # news | announcement
    audience: Mapped[str] = mapped_column(String(20), nullable=False)    # school | class | parents | staff
    class_id: Mapped[str | None] = mapped_column(String(36))
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    links: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(TZ, nullable=False)


class NotificationSetting(Base):
    """How a person wants e-mail (R-M2); no row means the default (instant)."""
    __tablename__ = "notification_settings"

    user_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    school_id: Mapped[str] = mapped_column(String(36), nullable=False)
    email_mode: Mapped[str] = mapped_column(String(10), nullable=False)  # off | instant | daily
    digest_time: Mapped[str] = mapped_column(String(5), nullable=False)  # HH:MM, school time
    # The school day of the last digest, and the time it covered up to.
    last_digest_on: Mapped[dt.date | None] = mapped_column(Date)
    last_digest_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    updated_at: Mapped[dt.datetime] = mapped_column(TZ, nullable=False)


class Email(Base):
    """The outgoing e-mail queue: queued -> sent, or -> failed for good."""
    __tablename__ = "emails"
    __table_args__ = (Index("ix_emails_status_next", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    school_id: Mapped[str] = mapped_column(String(36), nullable=False)
    recipient_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    address: Mapped[str] = mapped_column(String(254), nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)  # instant | digest
    # One e-mail per notification, one digest per person and day, even when
    # an event or a mailer tick runs twice.
    notification_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    digest_key: Mapped[str | None] = mapped_column(String(60), unique=True)
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    text_body: Mapped[str] = mapped_column(Text, nullable=False)
    html_body: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False)  # queued | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(TZ, nullable=False)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(TZ, nullable=False)
    sent_at: Mapped[dt.datetime | None] = mapped_column(TZ)
