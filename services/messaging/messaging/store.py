"""Persistence of messaging: SQLAlchemy models and queries.

Projections of other services' facts (people, parent links, subjects,
classes, enrolments) are written with insert-or-update statements, because
handlers of different queues may touch the same row at the same time and a
plain INSERT would turn that race into a poison message. Queries are
functions with keyword-only arguments that take the session.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import (
    ARRAY, JSON, Date, Index, Integer, LargeBinary, MetaData, String, Text, UniqueConstraint, and_, any_,
    bindparam, exists, delete, func, or_, select, update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from kernel.db import UtcDateTime, dialect_insert, new_id
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




def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# -- people ----------------------------------------------------------------

def _locked_person(session: Session, user_id: str, now: dt.datetime) -> Person:
    # Create the row if missing without racing another handler, then lock it
    # so the read-decide-write below is not interleaved.
    session.execute(dialect_insert(session, Person).values(
        user_id=user_id, roles=[], updated_at=now).on_conflict_do_nothing(index_elements=["user_id"]))
    return session.execute(
        select(Person).where(Person.user_id == user_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one()


def save_user_created(session: Session, *, user_id: str, school_id: str | None, full_name: str,
                      roles, as_of: dt.datetime, email: str | None = None) -> Person:
    """Project identity's user_created (tolerates an earlier roles_changed)."""
    now = _utcnow()
    person = _locked_person(session, user_id, now)
    person.full_name = full_name
    person.email = email or person.email
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
    stmt = dialect_insert(session, ParentLink).values(
        student_id=student_id, parent_id=parent_id, school_id=school_id, relation=relation, linked_at=_utcnow())
    session.execute(stmt.on_conflict_do_update(
        index_elements=["student_id", "parent_id"], set_={"relation": stmt.excluded.relation}))


def parent_ids(session: Session, *, school_id: str, student_id: str) -> list[str]:
    """The parents linked to ``student_id`` in ``school_id``."""
    return list(session.scalars(
        select(ParentLink.parent_id).where(ParentLink.student_id == student_id, ParentLink.school_id == school_id)
        .order_by(ParentLink.parent_id)))


def save_subject(session: Session, *, school_id: str, subject_id: str, name: str) -> None:
    stmt = dialect_insert(session, Subject).values(subject_id=subject_id, school_id=school_id, name=name)
    session.execute(stmt.on_conflict_do_update(index_elements=["subject_id"], set_={"name": stmt.excluded.name}))


def subject_name(session: Session, *, subject_id: str) -> str | None:
    return session.scalar(select(Subject.name).where(Subject.subject_id == subject_id))


def subject_names(session: Session, *, subject_ids) -> dict:
    """``{subject_id: name}`` of the known ones of ``subject_ids``."""
    ids = list(set(subject_ids))
    if not ids:
        return {}
    return dict(session.execute(select(Subject.subject_id, Subject.name).where(Subject.subject_id.in_(ids))).all())


def save_class(session: Session, *, school_id: str, class_id: str, year_id: str | None, grade: int | None,
               letter: str | None, name: str, class_teacher_id: str | None) -> None:
    values = dict(year_id=year_id, grade=grade, letter=letter, name=name, class_teacher_id=class_teacher_id)
    stmt = dialect_insert(session, SchoolClass).values(class_id=class_id, school_id=school_id, **values)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["class_id"], set_={k: getattr(stmt.excluded, k) for k in values}))


def save_enrolment(session: Session, *, school_id: str, student_id: str, class_id: str,
                   order_no: str | None, enrolled_on: dt.date | None) -> None:
    stmt = dialect_insert(session, Enrolment).values(
        student_id=student_id, class_id=class_id, school_id=school_id, order_no=order_no, enrolled_on=enrolled_on)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["student_id", "class_id"],
        set_={"order_no": stmt.excluded.order_no, "enrolled_on": stmt.excluded.enrolled_on}))


def end_enrolment(session: Session, *, school_id: str, student_id: str, class_id: str,
                  on: dt.date | None) -> int:
    """The student left ``class_id`` (transfer or departure): drop the
    enrolment, unless it began on or after ``on`` -- then it is a later
    return to that class whose ``student_enrolled`` overtook this event
    (each event type has its own queue, so their order is not guaranteed)."""
    stmt = delete(Enrolment).where(Enrolment.student_id == student_id, Enrolment.class_id == class_id,
                                   Enrolment.school_id == school_id)
    if on is not None:
        stmt = stmt.where(or_(Enrolment.enrolled_on.is_(None), Enrolment.enrolled_on < on))
    return session.execute(stmt).rowcount


def save_subgroup(session: Session, *, school_id: str, subgroup_id: str, class_id: str, student_ids) -> None:
    """Project subgroup_created: its members (a replay adds nothing twice)."""
    rows = [{"subgroup_id": subgroup_id, "student_id": s, "school_id": school_id, "class_id": class_id}
            for s in dict.fromkeys(student_ids)]
    if rows:
        session.execute(dialect_insert(session, SubgroupMember).values(rows)
                        .on_conflict_do_nothing(index_elements=["subgroup_id", "student_id"]))


def subgroup_students(session: Session, *, school_id: str, subgroup_id: str) -> list[str] | None:
    """The students of a subgroup, or None when messaging has not heard of it."""
    students = list(session.scalars(select(SubgroupMember.student_id).where(
        SubgroupMember.subgroup_id == subgroup_id, SubgroupMember.school_id == school_id)
        .order_by(SubgroupMember.student_id)))
    return students or None


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
    now = now or _utcnow()
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
    ).values(read_at=now or _utcnow()).execution_options(synchronize_session=False))
    return result.rowcount


# -- relations behind the who-may-write table (R-A3) ---------------------------

def save_assignment(session: Session, *, school_id: str, assignment_id: str, teacher_id: str, class_id: str,
                    subject_id: str | None) -> None:
    values = dict(teacher_id=teacher_id, class_id=class_id, subject_id=subject_id)
    stmt = dialect_insert(session, TeacherAssignment).values(assignment_id=assignment_id, school_id=school_id, **values)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["assignment_id"], set_={k: getattr(stmt.excluded, k) for k in values}))


def people(session: Session, *, school_id: str, ids) -> dict:
    """``{user_id: Person}`` of those of ``ids`` known in ``school_id``."""
    ids = list(ids)
    if not ids:
        return {}
    rows = session.scalars(select(Person).where(Person.user_id.in_(ids), Person.school_id == school_id))
    return {p.user_id: p for p in rows}


@dataclass(frozen=True)
class Contact:
    """What notifying someone needs: their school, name, address and e-mail mode."""
    user_id: str
    school_id: str | None
    full_name: str | None
    email: str | None
    email_mode: str


def contacts(session: Session, *, ids) -> dict:
    """``{user_id: Contact}`` of those of ``ids`` known at all, with their
    e-mail setting (the default when they have none): one query."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    rows = session.execute(
        select(Person.user_id, Person.school_id, Person.full_name, Person.email, NotificationSetting.email_mode)
        .outerjoin(NotificationSetting, NotificationSetting.user_id == Person.user_id)
        .where(Person.user_id.in_(ids)))
    return {r[0]: Contact(r[0], r[1], r[2], r[3], r[4] or domain.DEFAULT_EMAIL_MODE) for r in rows}


def children_of(session: Session, *, school_id: str, parent_id: str) -> list[str]:
    return list(session.scalars(select(ParentLink.student_id).where(
        ParentLink.parent_id == parent_id, ParentLink.school_id == school_id)))


def classes_of(session: Session, *, school_id: str, student_ids) -> list[str]:
    student_ids = list(student_ids)
    if not student_ids:
        return []
    return list(session.scalars(select(Enrolment.class_id).where(
        Enrolment.student_id.in_(student_ids), Enrolment.school_id == school_id).distinct()))


def teachers_of_classes(session: Session, *, school_id: str, class_ids) -> set[str]:
    """Subject teachers and class teachers of ``class_ids``."""
    class_ids = list(class_ids)
    if not class_ids:
        return set()
    subject = session.scalars(select(TeacherAssignment.teacher_id).where(
        TeacherAssignment.class_id.in_(class_ids), TeacherAssignment.school_id == school_id))
    head = session.scalars(select(SchoolClass.class_teacher_id).where(
        SchoolClass.class_id.in_(class_ids), SchoolClass.school_id == school_id))
    return {t for t in [*subject, *head] if t}


def get_class(session: Session, *, school_id: str, class_id: str) -> SchoolClass | None:
    c = session.get(SchoolClass, class_id)
    return c if c is not None and c.school_id == school_id else None


def students_of_class(session: Session, *, school_id: str, class_id: str) -> list[str]:
    return list(session.scalars(select(Enrolment.student_id).where(
        Enrolment.class_id == class_id, Enrolment.school_id == school_id).order_by(Enrolment.student_id)))


def parents_of_students(session: Session, *, school_id: str, student_ids) -> dict:
    """``{student_id: [parent_id, ...]}``."""
    student_ids = list(student_ids)
    out: dict = {s: [] for s in student_ids}
    if not student_ids:
        return out
    for student_id, parent_id in session.execute(select(ParentLink.student_id, ParentLink.parent_id).where(
            ParentLink.student_id.in_(student_ids), ParentLink.school_id == school_id)
            .order_by(ParentLink.parent_id)):
        out[student_id].append(parent_id)
    return out


def parents_by_student(session: Session, *, pairs) -> dict:
    """``{(school_id, student_id): [parent_id, ...]}`` for the (school,
    student) ``pairs`` of a batch of events, in one query."""
    pairs = set(pairs)
    out: dict = {pair: [] for pair in pairs}
    if not pairs:
        return out
    students = sorted({student for _, student in pairs})
    connection = session.connection()
    # Core, one bound list: a batch asks for 30 to 300 students, and the ORM
    # statement with an IN of literal values cost a third of the consumer's
    # CPU per class (coercing and rendering every value)
    statement = _PARENTS_ANY if connection.dialect.name == "postgresql" else _PARENTS_IN
    for school_id, student_id, parent_id in connection.execute(statement, {"students": students}):
        if (school_id, student_id) in out:
            out[(school_id, student_id)].append(parent_id)
    return out


_LINKS = ParentLink.__table__
_PARENTS = select(_LINKS.c.school_id, _LINKS.c.student_id, _LINKS.c.parent_id).order_by(_LINKS.c.parent_id)
# PostgreSQL: ``student_id = ANY(%(students)s)``, the list as one array
# parameter; elsewhere an expanding IN.
_PARENTS_ANY = _PARENTS.where(_LINKS.c.student_id == any_(bindparam("students", type_=ARRAY(String(36)))))
_PARENTS_IN = _PARENTS.where(_LINKS.c.student_id.in_(bindparam("students", expanding=True)))


def school_people(session: Session, *, school_id: str) -> list[Person]:
    return list(session.scalars(select(Person).where(Person.school_id == school_id).order_by(Person.user_id)))


def classes_taught_by(session: Session, *, school_id: str, teacher_id: str) -> set[str]:
    subject = session.scalars(select(TeacherAssignment.class_id).where(
        TeacherAssignment.teacher_id == teacher_id, TeacherAssignment.school_id == school_id))
    head = session.scalars(select(SchoolClass.class_id).where(
        SchoolClass.class_teacher_id == teacher_id, SchoolClass.school_id == school_id))
    return {*subject, *head}


# -- mail ----------------------------------------------------------------------

def add_message(session: Session, *, school_id: str, sender_id: str, recipients, subject: str, body: str,
                thread_id: str | None, reply_to_id: str | None, attachments=(),
                now: dt.datetime | None = None) -> Message:
    now = now or _utcnow()
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
        MessageRecipient.read_at.is_(None)).values(read_at=now or _utcnow())
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


def is_participant(session: Session, *, message: Message, user_id: str) -> bool:
    if message.sender_id == user_id:
        return True
    return session.get(MessageRecipient, (message.id, user_id)) is not None


# -- news ----------------------------------------------------------------------

def add_news(session: Session, *, school_id: str, author_id: str, kind: str, audience: str,
             class_id: str | None, title: str, body: str, links, now: dt.datetime | None = None) -> NewsItem:
    item = NewsItem(id=new_id(), school_id=school_id, author_id=author_id, kind=kind, audience=audience,
                    class_id=class_id, title=title, body=body, links=list(links), created_at=now or _utcnow())
    session.add(item)
    session.flush()
    return item


def list_news(session: Session, *, school_id: str, visible, limit: int, after=None) -> list[NewsItem]:
    """News of the school matching the SQL condition ``visible``, newest first."""
    query = select(NewsItem).where(NewsItem.school_id == school_id, visible)
    if after is not None:
        at, last_id = after
        query = query.where(or_(NewsItem.created_at < at, and_(NewsItem.created_at == at, NewsItem.id < last_id)))
    return list(session.scalars(query.order_by(NewsItem.created_at.desc(), NewsItem.id.desc()).limit(limit)))


# -- settings and the e-mail queue -------------------------------------------

def get_setting(session: Session, *, user_id: str) -> NotificationSetting | None:
    return session.get(NotificationSetting, user_id)


def save_setting(session: Session, *, school_id: str, user_id: str, email_mode: str,
                 digest_time: str) -> NotificationSetting:
    now = _utcnow()
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
    now = now or _utcnow()
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
    now = now or _utcnow()
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


def queue_stats(session: Session, *, now: dt.datetime) -> tuple[int, float]:
    """(queued e-mails, age in seconds of the oldest queued one)."""
    count, oldest = session.execute(select(func.count(Email.id), func.min(Email.created_at))
                                    .where(Email.status == "queued")).one()
    lag = (now - domain.as_utc(oldest)).total_seconds() if oldest is not None else 0.0
    return int(count), max(0.0, lag)


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
