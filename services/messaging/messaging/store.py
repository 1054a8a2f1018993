"""Persistence of messaging: SQLAlchemy models and queries.

Projections of other services' facts (people, parent links, subjects,
classes, enrolments) are written with insert-or-update statements, because
handlers of different queues may touch the same row at the same time and a
plain INSERT would turn that race into a poison message. Queries are
functions with keyword-only arguments that take the session.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON, Date, DateTime, Index, Integer, MetaData, String, Text, UniqueConstraint, and_, or_, select,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from kernel.db import new_id
from kernel.events import kernel_tables

from messaging import domain

# Named constraints: Alembic can then alter them later (SQLite batch mode too).
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TZ = DateTime(timezone=True)


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


def _insert(session: Session, model):
    """The dialect's INSERT, which knows ON CONFLICT (PostgreSQL, SQLite)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the two supported databases
        raise NotImplementedError(f"messaging does not support {dialect}")
    return insert(model)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# -- people ----------------------------------------------------------------

def _locked_person(session: Session, user_id: str, now: dt.datetime) -> Person:
    # Create the row if missing without racing another handler, then lock it
    # so the read-decide-write below is not interleaved.
    session.execute(_insert(session, Person).values(
        user_id=user_id, roles=[], updated_at=now).on_conflict_do_nothing(index_elements=["user_id"]))
    return session.execute(
        select(Person).where(Person.user_id == user_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one()


def save_user_created(session: Session, *, user_id: str, school_id: str | None, full_name: str,
                      roles, as_of: dt.datetime) -> Person:
    """Project identity's user_created (tolerates an earlier roles_changed)."""
    now = _utcnow()
    person = _locked_person(session, user_id, now)
    person.full_name = full_name
    person.school_id = school_id or person.school_id
    if domain.is_newer(as_of, person.roles_as_of):
        person.roles, person.roles_as_of = list(roles), as_of
    person.updated_at = now
    session.flush()
    return person


def save_roles(session: Session, *, user_id: str, school_id: str | None, roles, as_of: dt.datetime) -> Person:
    """Project identity's roles_changed; an older change never overwrites a newer one."""
    now = _utcnow()
    person = _locked_person(session, user_id, now)
    person.school_id = person.school_id or school_id
    if domain.is_newer(as_of, person.roles_as_of):
        person.roles, person.roles_as_of = list(roles), as_of
    person.updated_at = now
    session.flush()
    return person


def get_person(session: Session, *, user_id: str) -> Person | None:
    return session.get(Person, user_id)


# -- parent links, subjects, classes, enrolments ----------------------------

def save_parent_link(session: Session, *, school_id: str, student_id: str, parent_id: str,
                     relation: str | None) -> None:
    stmt = _insert(session, ParentLink).values(
        student_id=student_id, parent_id=parent_id, school_id=school_id, relation=relation, linked_at=_utcnow())
    session.execute(stmt.on_conflict_do_update(
        index_elements=["student_id", "parent_id"], set_={"relation": stmt.excluded.relation}))


def parent_ids(session: Session, *, school_id: str, student_id: str) -> list[str]:
    """The parents linked to ``student_id`` in ``school_id``."""
    return list(session.scalars(
        select(ParentLink.parent_id).where(ParentLink.student_id == student_id, ParentLink.school_id == school_id)
        .order_by(ParentLink.parent_id)))


def save_subject(session: Session, *, school_id: str, subject_id: str, name: str) -> None:
    stmt = _insert(session, Subject).values(subject_id=subject_id, school_id=school_id, name=name)
    session.execute(stmt.on_conflict_do_update(index_elements=["subject_id"], set_={"name": stmt.excluded.name}))


def subject_name(session: Session, *, subject_id: str) -> str | None:
    return session.scalar(select(Subject.name).where(Subject.subject_id == subject_id))


def save_class(session: Session, *, school_id: str, class_id: str, year_id: str | None, grade: int | None,
               letter: str | None, name: str, class_teacher_id: str | None) -> None:
    values = dict(year_id=year_id, grade=grade, letter=letter, name=name, class_teacher_id=class_teacher_id)
    stmt = _insert(session, SchoolClass).values(class_id=class_id, school_id=school_id, **values)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["class_id"], set_={k: getattr(stmt.excluded, k) for k in values}))


def save_enrolment(session: Session, *, school_id: str, student_id: str, class_id: str,
                   order_no: str | None, enrolled_on: dt.date | None) -> None:
    stmt = _insert(session, Enrolment).values(
        student_id=student_id, class_id=class_id, school_id=school_id, order_no=order_no, enrolled_on=enrolled_on)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["student_id", "class_id"],
        set_={"order_no": stmt.excluded.order_no, "enrolled_on": stmt.excluded.enrolled_on}))


# -- notifications -----------------------------------------------------------

def add_notifications(session: Session, *, school_id: str, source_event_id: str | None, drafts,
                      now: dt.datetime | None = None) -> list:
    """Store ``drafts``; returns those actually created (a draft whose
    (recipient, source event, kind) exists already is skipped)."""
    now = now or _utcnow()
    created = []
    for draft in drafts:
        result = session.execute(_insert(session, Notification).values(
            id=new_id(), school_id=school_id, recipient_id=draft.recipient_id, kind=draft.kind,
            title=draft.title, body=draft.body, data=draft.data, source_event_id=source_event_id,
            created_at=now,
        ).on_conflict_do_nothing(index_elements=["recipient_id", "source_event_id", "kind"]))
        if result.rowcount:
            created.append(draft)
    return created


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
    ).values(read_at=now or _utcnow()).execution_options(synchronize_session=False))
    return result.rowcount
