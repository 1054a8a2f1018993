"""The journal's persistence: SQLAlchemy models and queries.

Queries are functions taking the session and keyword-only arguments, so the
same code serves nameko workers, the gRPC process and tests. Every row that
belongs to a school carries ``school_id``; every lookup by id is scoped to the
caller's school so an id from another school reads as "not found".
"""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from sqlalchemy import (
    JSON, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, MetaData, Numeric,
    SmallInteger, String, Text, UniqueConstraint, and_, bindparam, false, func, or_, select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, aliased, mapped_column

from journal import finals
from journal.domain import GENESIS_HASH, chain_hash, version_content
from journal.marks import attendance_content
from kernel.db import UtcDateTime, insert_rows, new_id
from kernel.events import kernel_tables, utcnow
from kernel.idempotency import idempotency_table

ID = String(36)        # ids this service creates (uuid4)
REF = String(64)       # ids of people, owned by identity: opaque

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


tables = kernel_tables(Base.metadata)


class Year(Base):
    __tablename__ = "years"
    __table_args__ = (UniqueConstraint("school_id", "name"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    school_id: Mapped[str] = mapped_column(REF, index=True)
    name: Mapped[str] = mapped_column(String(40))
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Period(Base):
    __tablename__ = "periods"
    __table_args__ = (CheckConstraint("kind IN ('quarter', 'trimester', 'half_year')", name="kind"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    school_id: Mapped[str] = mapped_column(REF)
    year_id: Mapped[str] = mapped_column(ForeignKey("years.id"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(20))
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)


def _default_emphasis(context) -> bool:
    return finals.default_emphasis(context.get_current_parameters().get("name") or "")


class Subject(Base):
    __tablename__ = "subjects"
    __table_args__ = (UniqueConstraint("school_id", "name"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    school_id: Mapped[str] = mapped_column(REF, index=True)
    name: Mapped[str] = mapped_column(String(100))
    # R-F2 emphasis (written, lab and practical works required for a final
    # mark); by default from the name (finals.default_emphasis). Added by
    # migration 0004_journal_rules.
    emphasis: Mapped[bool] = mapped_column(Boolean, default=_default_emphasis, server_default=false())


class SchoolClass(Base):
    __tablename__ = "classes"
    __table_args__ = (
        UniqueConstraint("year_id", "grade", "letter"),
        CheckConstraint("grade BETWEEN 1 AND 11", name="grade"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    school_id: Mapped[str] = mapped_column(REF, index=True)
    year_id: Mapped[str] = mapped_column(ForeignKey("years.id"), index=True)
    grade: Mapped[int] = mapped_column(SmallInteger)
    letter: Mapped[str] = mapped_column(String(3))
    name: Mapped[str] = mapped_column(String(8))
    class_teacher_id: Mapped[str | None] = mapped_column(REF, index=True)


class Enrolment(Base):
    """One stay of a student in a class; movement closes it (``left_on``,
    the first day out) and opens another, so history is kept (R-S3)."""
    __tablename__ = "enrolments"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    school_id: Mapped[str] = mapped_column(REF)
    student_id: Mapped[str] = mapped_column(REF, index=True)
    class_id: Mapped[str] = mapped_column(ForeignKey("classes.id"), index=True)
    order_no: Mapped[str] = mapped_column(String(64))
    enrolled_on: Mapped[dt.date] = mapped_column(Date)
    left_on: Mapped[dt.date | None] = mapped_column(Date)
    left_order_no: Mapped[str | None] = mapped_column(String(64))
    # why the stay ended (journal.structure.LEFT_*); added by migration 0002_structure
    left_reason: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Person(Base):
    """The journal's projection of identity's users (user_created,
    roles_changed, or a get_user fallback). ``source_at`` is when the data
    was true at the source, so an older event never overwrites a newer one."""
    __tablename__ = "people"

    user_id: Mapped[str] = mapped_column(REF, primary_key=True)
    school_id: Mapped[str] = mapped_column(REF, index=True)
    full_name: Mapped[str] = mapped_column(String(300), default="")
    roles: Mapped[list] = mapped_column(JSON, default=list)
    source_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    roles_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class Assignment(Base):
    __tablename__ = "assignments"
    __table_args__ = (Index("ix_assignments_class_subject", "class_id", "subject_id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    school_id: Mapped[str] = mapped_column(REF)
    teacher_id: Mapped[str] = mapped_column(REF, index=True)
    class_id: Mapped[str] = mapped_column(ForeignKey("classes.id"))
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"))
    hours_per_week: Mapped[float] = mapped_column(Numeric(4, 1))
    # No subgroup table yet (later issue): an opaque id, None = the whole class.
    subgroup_id: Mapped[str | None] = mapped_column(REF)


class Lesson(Base):
    __tablename__ = "lessons"
    __table_args__ = (Index("ix_lessons_class_date", "class_id", "date"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    school_id: Mapped[str] = mapped_column(REF)
    class_id: Mapped[str] = mapped_column(ForeignKey("classes.id"))
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"))
    teacher_id: Mapped[str] = mapped_column(REF, index=True)
    date: Mapped[dt.date] = mapped_column(Date)
    topic: Mapped[str] = mapped_column(Text)
    lesson_type: Mapped[str] = mapped_column(String(100))
    work_type: Mapped[str | None] = mapped_column(String(100))
    homework: Mapped[str | None] = mapped_column(Text)
    subgroup_id: Mapped[str | None] = mapped_column(REF)
    substitute_for: Mapped[str | None] = mapped_column(REF)
    entered_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    late: Mapped[bool] = mapped_column(Boolean)
    overdue: Mapped[bool] = mapped_column(Boolean)
    # transcribed from the paper journal by the admin (journal.history_import):
    # ``recorded_on`` is the paper entry's day, which decides late/overdue.
    # Added by migration 0005_journal_rules_import.
    imported: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    recorded_on: Mapped[dt.date | None] = mapped_column(Date)


class Mark(Base):
    """The current state of a mark; its history is in :class:`MarkVersion`.
    Corrections add a version and update this row; nothing is deleted (R-J7)."""
    __tablename__ = "marks"
    __table_args__ = (
        Index("ix_marks_student_lesson", "student_id", "lesson_id"),
        CheckConstraint("value BETWEEN 1 AND 5", name="value"),
        CheckConstraint("weight BETWEEN 1 AND 5", name="weight"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    school_id: Mapped[str] = mapped_column(REF)
    lesson_id: Mapped[str] = mapped_column(ForeignKey("lessons.id"), index=True)
    student_id: Mapped[str] = mapped_column(REF)
    value: Mapped[int] = mapped_column(SmallInteger)
    kind: Mapped[str] = mapped_column(String(20))
    weight: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    author_id: Mapped[str] = mapped_column(REF)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)


class MarkVersion(Base):
    """One link of a mark's hash chain: ``hash`` = sha256(canonical content
    + ``prev_hash``), see :func:`journal.domain.chain_hash`."""
    __tablename__ = "mark_versions"

    mark_id: Mapped[str] = mapped_column(ForeignKey("marks.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[str] = mapped_column(REF)
    value: Mapped[int] = mapped_column(SmallInteger)
    kind: Mapped[str] = mapped_column(String(20))
    weight: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    by: Mapped[str] = mapped_column(REF)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


# --- years, periods, subjects, classes ---------------------------------------

def get_year(session: Session, *, school_id: str, year_id: str) -> Year | None:
    """The school's year, or None."""
    return session.scalar(select(Year).where(Year.id == year_id, Year.school_id == school_id))


def year_name_taken(session: Session, *, school_id: str, name: str) -> bool:
    """Whether the school already has a year of that name (any case)."""
    return session.scalar(select(func.count()).select_from(Year).where(
        Year.school_id == school_id, func.lower(Year.name) == name.lower())) > 0


def add_year(session: Session, *, school_id: str, spec) -> tuple[Year, list[Period]]:
    """Insert a year and its periods (sorted by start) from a ``YearSpec``."""
    year = Year(id=new_id(), school_id=school_id, name=spec.name, starts_on=spec.starts_on,
                ends_on=spec.ends_on, archived=False)
    session.add(year)
    session.flush()
    periods = [Period(id=new_id(), school_id=school_id, year_id=year.id, name=p.name, kind=p.kind,
                      starts_on=p.starts_on, ends_on=p.ends_on)
               for p in sorted(spec.periods, key=lambda p: p.starts_on)]
    session.add_all(periods)
    session.flush()
    return year, periods


def period_bounds(session: Session, *, year_id: str) -> list[tuple[dt.date, dt.date]]:
    """``(starts_on, ends_on)`` of the year's periods, in order."""
    return [tuple(r) for r in session.execute(
        select(Period.starts_on, Period.ends_on).where(Period.year_id == year_id).order_by(Period.starts_on))]


def get_subject(session: Session, *, school_id: str, subject_id: str, lock: bool = False) -> Subject | None:
    """The school's subject, or None (``lock``: the row locked for an update)."""
    query = select(Subject).where(Subject.id == subject_id, Subject.school_id == school_id)
    return session.scalar(query.with_for_update() if lock else query)


def subject_name_taken(session: Session, *, school_id: str, name: str) -> bool:
    """Whether the school already has a subject of that name (any case)."""
    return session.scalar(select(func.count()).select_from(Subject).where(
        Subject.school_id == school_id, func.lower(Subject.name) == name.lower())) > 0


def add_subject(session: Session, *, school_id: str, name: str, emphasis: bool | None = None) -> Subject:
    """Insert a subject; ``emphasis`` None = the default for its name."""
    subject = Subject(id=new_id(), school_id=school_id, name=name)
    if emphasis is not None:
        subject.emphasis = emphasis
    session.add(subject)
    session.flush()
    return subject


def get_class(session: Session, *, school_id: str, class_id: str) -> SchoolClass | None:
    """The school's class, or None."""
    return session.scalar(select(SchoolClass).where(
        SchoolClass.id == class_id, SchoolClass.school_id == school_id))


def class_with_year(session: Session, *, school_id: str, class_id: str) -> tuple[SchoolClass, Year] | None:
    """``(class, its year)`` for the school's class, or None."""
    row = session.execute(select(SchoolClass, Year).join(Year, Year.id == SchoolClass.year_id).where(
        SchoolClass.id == class_id, SchoolClass.school_id == school_id)).first()
    return (row[0], row[1]) if row else None


def class_exists(session: Session, *, year_id: str, grade: int, letter: str) -> bool:
    """Whether the year already has that grade and letter."""
    return session.scalar(select(func.count()).select_from(SchoolClass).where(
        SchoolClass.year_id == year_id, SchoolClass.grade == grade, SchoolClass.letter == letter)) > 0


def add_class(session: Session, *, school_id: str, spec) -> SchoolClass:
    """Insert a class from a ``ClassSpec``."""
    klass = SchoolClass(id=new_id(), school_id=school_id, year_id=spec.year_id, grade=spec.grade,
                        letter=spec.letter, name=spec.name, class_teacher_id=spec.class_teacher_id)
    session.add(klass)
    session.flush()
    return klass


# --- people (projection of identity) -----------------------------------------

def get_person(session: Session, *, school_id: str, user_id: str) -> Person | None:
    """The person if known in that school, else None."""
    return session.scalar(select(Person).where(Person.user_id == user_id, Person.school_id == school_id))


def save_person(session: Session, *, user_id: str, school_id: str, at: dt.datetime,
                full_name: str | None = None, roles: list | None = None) -> Person:
    """Insert or update a person from a source that was true at ``at``.
    Name and roles each move only forward in time, so events may arrive in
    any order. ``None`` leaves a field as it is."""
    person = session.get(Person, user_id, with_for_update=True)
    if person is None:
        person = Person(user_id=user_id, school_id=school_id, full_name=full_name or "",
                        roles=sorted(set(roles or [])), source_at=at, roles_at=at)
        try:
            with session.begin_nested():
                session.add(person)
        except IntegrityError:  # inserted concurrently: update that row instead
            if person in session:
                session.expunge(person)
            return save_person(session, user_id=user_id, school_id=school_id, at=at,
                               full_name=full_name, roles=roles)
        return person
    if full_name is not None and (not person.full_name or _not_older(at, person.source_at)):
        person.full_name = full_name
        person.source_at = at
    if roles is not None and _not_older(at, person.roles_at):
        person.roles = sorted(set(roles))
        person.roles_at = at
    session.flush()
    return person


def _not_older(at: dt.datetime, than: dt.datetime) -> bool:
    def utc(v):
        return v.replace(tzinfo=dt.timezone.utc) if v.tzinfo is None else v
    return utc(at) >= utc(than)


# --- enrolment ---------------------------------------------------------------

def open_enrolment_in_year(session: Session, *, student_id: str, year_id: str) -> Enrolment | None:
    """The student's current (not left) enrolment in any class of the year."""
    return session.scalar(select(Enrolment).join(SchoolClass, SchoolClass.id == Enrolment.class_id).where(
        Enrolment.student_id == student_id, SchoolClass.year_id == year_id, Enrolment.left_on.is_(None)))


def lock_person(session: Session, *, user_id: str) -> None:
    """Serialise writes about one person (two admissions of one student at
    once would both see "not enrolled yet"). No-op on SQLite."""
    session.execute(select(Person.user_id).where(Person.user_id == user_id).with_for_update())


def add_enrolment(session: Session, *, school_id: str, class_id: str, spec) -> Enrolment:
    """Insert an open enrolment from an ``EnrolmentSpec``."""
    enrolment = Enrolment(id=new_id(), school_id=school_id, student_id=spec.student_id, class_id=class_id,
                          order_no=spec.order_no, enrolled_on=spec.on)
    session.add(enrolment)
    session.flush()
    return enrolment


# --- assignments -------------------------------------------------------------

def assigned_subgroups(session: Session, *, teacher_id: str, class_id: str, subject_id: str) -> list[str | None]:
    """The subgroup of each of the teacher's assignments for class+subject
    (None = the whole class); empty when not assigned."""
    return list(session.scalars(select(Assignment.subgroup_id).where(
        Assignment.teacher_id == teacher_id, Assignment.class_id == class_id,
        Assignment.subject_id == subject_id)))


def assignment_exists(session: Session, *, teacher_id: str, class_id: str, subject_id: str,
                      subgroup_id: str | None) -> bool:
    """Whether exactly this assignment (same subgroup) exists."""
    sub = Assignment.subgroup_id.is_(None) if subgroup_id is None else Assignment.subgroup_id == subgroup_id
    return session.scalar(select(func.count()).select_from(Assignment).where(
        Assignment.teacher_id == teacher_id, Assignment.class_id == class_id,
        Assignment.subject_id == subject_id, sub)) > 0


def add_assignment(session: Session, *, school_id: str, spec) -> Assignment:
    """Insert an assignment from an ``AssignmentSpec``."""
    assignment = Assignment(id=new_id(), school_id=school_id, teacher_id=spec.teacher_id,
                            class_id=spec.class_id, subject_id=spec.subject_id,
                            hours_per_week=spec.hours_per_week, subgroup_id=spec.subgroup_id)
    session.add(assignment)
    session.flush()
    return assignment


# --- lessons and marks -------------------------------------------------------

def add_lesson(session: Session, *, school_id: str, spec, teacher_id: str, entered_at: dt.datetime,
               late: bool, overdue: bool) -> Lesson:
    """Insert a lesson from a ``LessonSpec``."""
    lesson = Lesson(
        id=new_id(), school_id=school_id, class_id=spec.class_id, subject_id=spec.subject_id,
        teacher_id=teacher_id, date=spec.date, topic=spec.topic, lesson_type=spec.lesson_type,
        work_type=spec.work_type, homework=spec.homework, subgroup_id=spec.subgroup_id,
        substitute_for=spec.substitute_for, entered_at=entered_at, late=late, overdue=overdue)
    session.add(lesson)
    session.flush()
    return lesson


def add_imported_lesson(session: Session, *, school_id: str, spec, teacher_id: str, entered_at: dt.datetime,
                        recorded_on: dt.date, late: bool, overdue: bool) -> Lesson:
    """Insert a lesson transcribed from the paper journal (``imported``)."""
    lesson = Lesson(
        id=new_id(), school_id=school_id, class_id=spec.class_id, subject_id=spec.subject_id,
        teacher_id=teacher_id, date=spec.date, topic=spec.topic, lesson_type=spec.lesson_type,
        work_type=spec.work_type, homework=spec.homework, subgroup_id=spec.subgroup_id,
        substitute_for=spec.substitute_for, entered_at=entered_at, late=late, overdue=overdue,
        imported=True, recorded_on=recorded_on)
    session.add(lesson)
    return lesson


def lesson_context(session: Session, *, school_id: str, lesson_id: str):
    """``(lesson, class, subject, year)`` of a lesson in the school, or None."""
    row = session.execute(
        select(Lesson, SchoolClass, Subject, Year)
        .join(SchoolClass, SchoolClass.id == Lesson.class_id)
        .join(Subject, Subject.id == Lesson.subject_id)
        .join(Year, Year.id == SchoolClass.year_id)
        .where(Lesson.id == lesson_id, Lesson.school_id == school_id)).first()
    return tuple(row) if row else None


@dataclass(frozen=True)
class LessonWriteContext:
    """What writing marks or attendance for a lesson checks, read in one
    statement (:func:`lesson_write_context`)."""
    id: str                 # the lesson's
    class_id: str
    subject_id: str
    date: dt.date
    subgroup_id: str | None
    teacher_id: str         # who gave the lesson (a substitute too)
    grade: int
    class_teacher_id: str | None
    subject_name: str
    archived: bool
    assigned_subgroups: list    # the teacher's assignments for the class and subject (None = whole class)
    enrolled: frozenset         # the students in the class on the lesson's day
    key_fingerprint: str | None = None  # the Idempotency-Key's stored row, if asked and seen
    key_result: str | None = None


@functools.cache
def _lesson_write_statement():
    """Built once, on first use (it reads idempotency_keys, defined below)."""
    lesson, klass, subject, year = (Lesson.__table__, SchoolClass.__table__, Subject.__table__, Year.__table__)
    assignment, enrolment = Assignment.__table__, Enrolment.__table__
    subgroups = (select(func.aggregate_strings(func.coalesce(assignment.c.subgroup_id, ""), ","))
                 .where(assignment.c.teacher_id == bindparam("teacher_id"),
                        assignment.c.class_id == lesson.c.class_id, assignment.c.subject_id == lesson.c.subject_id)
                 .scalar_subquery())
    enrolled = (select(func.aggregate_strings(enrolment.c.student_id, ","))
                .where(enrolment.c.class_id == lesson.c.class_id, enrolment.c.enrolled_on <= lesson.c.date,
                       or_(enrolment.c.left_on.is_(None), enrolment.c.left_on > lesson.c.date))
                .scalar_subquery())
    keys = idempotency_keys
    key_row = (keys.c.school_id == bindparam("school_id"), keys.c.actor_id == bindparam("teacher_id"),
               keys.c.key == bindparam("key"))
    key_fingerprint = select(keys.c.fingerprint).where(*key_row).scalar_subquery()
    key_result = select(keys.c.result).where(*key_row).scalar_subquery()
    return (select(lesson.c.id, lesson.c.class_id, lesson.c.subject_id, lesson.c.date, lesson.c.subgroup_id,
                   lesson.c.teacher_id, klass.c.grade, klass.c.class_teacher_id, subject.c.name, year.c.archived,
                   subgroups.label("subgroups"), enrolled.label("enrolled"),
                   key_fingerprint.label("key_fingerprint"), key_result.label("key_result"))
            .join_from(lesson, klass, klass.c.id == lesson.c.class_id)
            .join(subject, subject.c.id == lesson.c.subject_id)
            .join(year, year.c.id == klass.c.year_id)
            .where(lesson.c.id == bindparam("lesson_id"), lesson.c.school_id == bindparam("school_id")))


def lesson_write_context(session: Session, *, school_id: str, lesson_id: str, teacher_id: str,
                         key: str | None = None) -> LessonWriteContext | None:
    """The lesson (in the school), its class, subject and year, the
    teacher's assignments there, the class's students on the lesson's day
    and the stored row of the teacher's Idempotency-Key ``key``, in one
    round trip (a class's marks are the busiest write: P2; attendance reads
    the same); None when the school has no such lesson."""
    row = session.connection().execute(
        _lesson_write_statement(), {"lesson_id": lesson_id, "school_id": school_id, "teacher_id": teacher_id, "key": key}).first()
    if row is None:
        return None
    return LessonWriteContext(
        id=row.id, class_id=row.class_id, subject_id=row.subject_id, date=row.date, subgroup_id=row.subgroup_id,
        teacher_id=row.teacher_id, grade=row.grade, class_teacher_id=row.class_teacher_id, subject_name=row.name,
        archived=bool(row.archived),
        assigned_subgroups=[s or None for s in row.subgroups.split(",")] if row.subgroups is not None else [],
        enrolled=frozenset(row.enrolled.split(",")) if row.enrolled else frozenset(),
        key_fingerprint=row.key_fingerprint, key_result=row.key_result)


@dataclass
class PostedMark:
    """A mark as :func:`insert_marks` inserts it (the columns of ``marks``)."""
    id: str
    school_id: str
    lesson_id: str
    student_id: str
    value: int
    kind: str
    weight: int
    comment: str | None
    author_id: str
    created_at: dt.datetime
    removed: bool = False
    version: int = 1


def new_marks(*, school_id: str, lesson_id: str, specs, author_id: str, at: dt.datetime) -> list[PostedMark]:
    """The marks ``specs`` describe, with their ids, before
    :func:`insert_marks` (their events can be built first)."""
    return [PostedMark(id=new_id(), school_id=school_id, lesson_id=lesson_id, student_id=spec.student_id,
                       value=spec.value, kind=spec.kind, weight=spec.weight, comment=spec.comment,
                       author_id=author_id, created_at=at) for spec in specs]


def insert_marks(session: Session, marks: list[PostedMark], *, also=()) -> None:
    """Insert ``marks`` and the version 1 of each, the first link of its
    hash chain, and then the ``(table, rows)`` of ``also`` (the outbox row,
    the Idempotency-Key): on PostgreSQL one round trip whatever the number
    of marks (kernel.db.insert_rows), no ORM unit of work."""
    if not marks:
        return
    versions = []
    for mark in marks:
        content = version_content(
            mark_id=mark.id, version=1, lesson_id=mark.lesson_id, student_id=mark.student_id, value=mark.value,
            kind=mark.kind, weight=mark.weight, comment=mark.comment, removed=False, by=mark.author_id,
            at=mark.created_at, reason=None)
        versions.append({
            "mark_id": mark.id, "version": 1, "school_id": mark.school_id, "value": mark.value, "kind": mark.kind,
            "weight": mark.weight, "comment": mark.comment, "removed": False, "by": mark.author_id,
            "at": mark.created_at, "reason": None, "prev_hash": GENESIS_HASH, "hash": chain_hash(content, GENESIS_HASH)})
    session.flush()  # anything the session still holds goes first (e.g. the lesson of this request)
    # The versions after the marks they reference.
    rows = [{"id": m.id, "school_id": m.school_id, "lesson_id": m.lesson_id, "student_id": m.student_id,
             "value": m.value, "kind": m.kind, "weight": m.weight, "comment": m.comment, "author_id": m.author_id,
             "created_at": m.created_at, "removed": m.removed, "version": m.version}
            for m in marks]  # not dataclasses.asdict: it deep-copies every value
    insert_rows(session, (Mark.__table__, rows), (MarkVersion.__table__, versions), *also)


def mark_chain(session: Session, *, mark_id: str) -> list[tuple[dict, str, str]]:
    """A mark's versions as ``(content, prev_hash, hash)`` for
    :func:`journal.domain.verify_chain`."""
    mark = session.get(Mark, mark_id)
    if mark is None:
        return []
    versions = session.scalars(select(MarkVersion).where(MarkVersion.mark_id == mark_id)
                               .order_by(MarkVersion.version))
    return [(version_content(mark_id=v.mark_id, version=v.version, lesson_id=mark.lesson_id,
                             student_id=mark.student_id, value=v.value, kind=v.kind, weight=v.weight,
                             comment=v.comment, removed=v.removed, by=v.by, at=v.at, reason=v.reason),
             v.prev_hash, v.hash) for v in versions]


# --- the diary: one query whatever the range -----------------------------------

def diary_rows(session: Session, *, school_id: str, student_id: str, start: dt.date, end: dt.date):
    """The student's diary for ``start..end`` in one Core query (no ORM
    objects): the gateway's hottest read.

    Rows start from the person, so an unknown student (or one of another
    school) gives no row at all and a known one without lessons gives one row
    whose lesson columns are NULL. Otherwise there is one row per lesson of a
    class the student was in on that lesson's date (an EXISTS, so two stays in
    one class never double a lesson), and per mark of the student on it (not
    removed), with the student's attendance status; sorted by date, subject,
    entry time and id, then the marks by creation. A subgroup's lesson is for
    its members (R-S5); a lesson naming a subgroup the journal does not keep
    (an opaque id from before subgroups existed) is shown to the whole class.

    Columns: ``known, lesson_id, date, subject_id, subject, topic, homework,
    lesson_type, attendance, mark_id, value, kind, weight, comment``."""
    global _DIARY
    if _DIARY is None:
        _DIARY = _diary_statement()
    return session.connection().execute(
        _DIARY, {"student": student_id, "school": school_id, "start": start, "end": end}).all()


_DIARY = None


def latest_diary_date(session: Session, *, school_id: str, student_id: str, before: dt.date) -> dt.date | None:
    """The date of the student's latest lesson before ``before`` (the
    lessons :func:`diary_rows` shows), or None."""
    student, school = bindparam("student", type_=REF), bindparam("school", type_=REF)
    l = Lesson.__table__
    query = select(func.max(l.c.date)).where(
        l.c.school_id == school, l.c.date < bindparam("before", type_=Date), *_diary_lesson_filter(student))
    return session.connection().execute(query, {"student": student_id, "school": school_id,
                                                "before": before}).scalar()


def _diary_lesson_filter(student) -> tuple:
    """Which lessons are the student's: of a class they were in on the
    lesson's date (an EXISTS), and of their subgroup or the whole class."""
    l, e = Lesson.__table__, Enrolment.__table__
    sg, sm = Subgroup.__table__, SubgroupMember.__table__
    enrolled = select(e.c.id).where(
        e.c.class_id == l.c.class_id, e.c.student_id == student, e.c.enrolled_on <= l.c.date,
        or_(e.c.left_on.is_(None), e.c.left_on > l.c.date)).exists()
    member = l.c.subgroup_id.in_(select(sm.c.subgroup_id).where(sm.c.student_id == student))
    kept = select(sg.c.id).where(sg.c.id == l.c.subgroup_id).exists()
    return enrolled, or_(l.c.subgroup_id.is_(None), member, ~kept)


def _diary_statement():
    """:func:`diary_rows`' statement, built once (its bind parameters are
    ``student``, ``school``, ``start``, ``end``)."""
    student, school = bindparam("student", type_=REF), bindparam("school", type_=REF)
    start, end = bindparam("start", type_=Date), bindparam("end", type_=Date)
    p, l, s = Person.__table__, Lesson.__table__, Subject.__table__
    a, m = AttendanceEntry.__table__, Mark.__table__
    enrolled, visible = _diary_lesson_filter(student)
    lessons = (
        l.join(s, s.c.id == l.c.subject_id)
        .outerjoin(a, and_(a.c.lesson_id == l.c.id, a.c.student_id == student))
        .outerjoin(m, and_(m.c.lesson_id == l.c.id, m.c.student_id == student, m.c.school_id == school,
                           m.c.removed.is_(False)))
    )
    on = and_(l.c.school_id == school, l.c.date >= start, l.c.date <= end, enrolled, visible)
    return (
        select(p.c.user_id.label("known"), l.c.id.label("lesson_id"), l.c.date, l.c.subject_id,
               s.c.name.label("subject"), l.c.topic, l.c.homework, l.c.lesson_type, a.c.status.label("attendance"),
               m.c.id.label("mark_id"), m.c.value, m.c.kind, m.c.weight, m.c.comment)
        .select_from(p.outerjoin(lessons, on))
        .where(p.c.user_id == student, p.c.school_id == school)
        .order_by(l.c.date, s.c.name, l.c.entered_at, l.c.id, m.c.created_at, m.c.id)
    )


def diary_marks(session: Session, *, school_id: str, student_id: str, start: dt.date,
                end: dt.date) -> dict[str, list[Mark]]:
    """The student's marks (not removed) on lessons in ``start..end``, by lesson id."""
    query = (
        select(Mark).join(Lesson, Lesson.id == Mark.lesson_id)
        .where(Mark.student_id == student_id, Mark.school_id == school_id, Mark.removed.is_(False),
               Lesson.date >= start, Lesson.date <= end)
        .order_by(Mark.created_at, Mark.id)
    )
    result: dict[str, list[Mark]] = {}
    for mark in session.scalars(query):
        result.setdefault(mark.lesson_id, []).append(mark)
    return result


# === school structure over the year (issue 4, part A) ========================
# Models and queries of journal.structure and journal.imports; migration 0002_structure.

class Subgroup(Base):
    """A part of a class for one subject (R-S5)."""
    __tablename__ = "subgroups"
    __table_args__ = (UniqueConstraint("class_id", "subject_id", "name"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    school_id: Mapped[str] = mapped_column(REF)
    class_id: Mapped[str] = mapped_column(ForeignKey("classes.id"), index=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"))
    name: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class SubgroupMember(Base):
    __tablename__ = "subgroup_members"

    subgroup_id: Mapped[str] = mapped_column(ForeignKey("subgroups.id"), primary_key=True)
    student_id: Mapped[str] = mapped_column(REF, primary_key=True, index=True)


class TimetableSlot(Base):
    """One lesson of a class's week in a period (R-S6)."""
    __tablename__ = "timetable_slots"
    __table_args__ = (Index("ix_timetable_slots_period_when", "period_id", "weekday", "number"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    school_id: Mapped[str] = mapped_column(REF)
    class_id: Mapped[str] = mapped_column(ForeignKey("classes.id"), index=True)
    period_id: Mapped[str] = mapped_column(ForeignKey("periods.id"))
    weekday: Mapped[int] = mapped_column(SmallInteger)
    number: Mapped[int] = mapped_column(SmallInteger)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"))
    teacher_id: Mapped[str] = mapped_column(REF)
    room: Mapped[str | None] = mapped_column(String(30))
    subgroup_id: Mapped[str | None] = mapped_column(ForeignKey("subgroups.id"))


class Plan(Base):
    """A calendar-thematic plan (КТП) of one class, subject and period (R-J8)."""
    __tablename__ = "plans"
    __table_args__ = (UniqueConstraint("class_id", "subject_id", "period_id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    school_id: Mapped[str] = mapped_column(REF)
    class_id: Mapped[str] = mapped_column(ForeignKey("classes.id"), index=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"))
    period_id: Mapped[str] = mapped_column(ForeignKey("periods.id"))
    teacher_id: Mapped[str] = mapped_column(REF, index=True)
    hours: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class PlanTopic(Base):
    __tablename__ = "plan_topics"

    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    hours: Mapped[int] = mapped_column(Integer)


class YearClosure(Base):
    """The order that closed a year and what it did (R-S4)."""
    __tablename__ = "year_closures"

    year_id: Mapped[str] = mapped_column(ForeignKey("years.id"), primary_key=True)
    school_id: Mapped[str] = mapped_column(REF)
    order_no: Mapped[str] = mapped_column(String(64))
    closed_by: Mapped[str] = mapped_column(REF)
    closed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    next_year_id: Mapped[str | None] = mapped_column(ID)
    summary: Mapped[dict] = mapped_column(JSON)


# --- movement (R-S3) ------------------------------------------------------------

def open_enrolment_of(session: Session, *, school_id: str, student_id: str):
    """``(enrolment, class, year)`` of the student's open stays in open years,
    newest first (a student studies in one class of one open year)."""
    return [tuple(r) for r in session.execute(
        select(Enrolment, SchoolClass, Year)
        .join(SchoolClass, SchoolClass.id == Enrolment.class_id).join(Year, Year.id == SchoolClass.year_id)
        .where(Enrolment.student_id == student_id, Enrolment.school_id == school_id,
               Enrolment.left_on.is_(None), Year.archived.is_(False))
        .order_by(Enrolment.enrolled_on.desc()))]


def close_enrolment(enrolment: Enrolment, *, on: dt.date, order_no: str, reason: str) -> None:
    """End a stay: ``on`` is the first day out; the row stays (history)."""
    enrolment.left_on = on
    enrolment.left_order_no = order_no
    enrolment.left_reason = reason


def movements(session: Session, *, school_id: str, student_id: str) -> list[tuple[Enrolment, SchoolClass]]:
    """Every stay of a student, oldest first (R-S3 history)."""
    return [tuple(r) for r in session.execute(
        select(Enrolment, SchoolClass).join(SchoolClass, SchoolClass.id == Enrolment.class_id)
        .where(Enrolment.student_id == student_id, Enrolment.school_id == school_id)
        .order_by(Enrolment.enrolled_on, Enrolment.created_at))]


# --- year close (R-S4) ------------------------------------------------------------

def lock_year(session: Session, *, school_id: str, year_id: str) -> Year | None:
    """The year, locked: two closes of one year run one after the other."""
    return session.scalar(select(Year).where(Year.id == year_id, Year.school_id == school_id).with_for_update())


def school_years(session: Session, *, school_id: str) -> list[tuple[str, dt.date, bool]]:
    """``(id, starts_on, archived)`` of every year of the school."""
    return [tuple(r) for r in session.execute(
        select(Year.id, Year.starts_on, Year.archived).where(Year.school_id == school_id))]


def open_stays_of_year(session: Session, *, year_id: str) -> list[tuple[Enrolment, SchoolClass]]:
    """Every open stay in the year's classes."""
    return [tuple(r) for r in session.execute(
        select(Enrolment, SchoolClass).join(SchoolClass, SchoolClass.id == Enrolment.class_id)
        .where(SchoolClass.year_id == year_id, Enrolment.left_on.is_(None))
        .order_by(SchoolClass.grade, SchoolClass.letter, Enrolment.student_id))]


def classes_of_year(session: Session, *, year_id: str) -> dict[tuple[int, str], SchoolClass]:
    """The year's classes by ``(grade, letter)``."""
    return {(c.grade, c.letter): c for c in session.scalars(select(SchoolClass).where(SchoolClass.year_id == year_id))}


def students_with_open_stay(session: Session, *, year_id: str) -> set[str]:
    """Students already studying in the year (not promoted twice)."""
    return set(session.scalars(select(Enrolment.student_id).join(SchoolClass, SchoolClass.id == Enrolment.class_id)
                               .where(SchoolClass.year_id == year_id, Enrolment.left_on.is_(None))))


# --- subgroups (R-S5) -----------------------------------------------------------

def students_in_class_now(session: Session, *, class_id: str) -> set[str]:
    """Students with an open stay in the class."""
    return set(session.scalars(select(Enrolment.student_id).where(
        Enrolment.class_id == class_id, Enrolment.left_on.is_(None))))


def grouped_students(session: Session, *, class_id: str, subject_id: str) -> dict[str, str]:
    """``{student_id: subgroup name}`` for the class's subgroups of the subject."""
    return dict(session.execute(
        select(SubgroupMember.student_id, Subgroup.name).join(Subgroup, Subgroup.id == SubgroupMember.subgroup_id)
        .where(Subgroup.class_id == class_id, Subgroup.subject_id == subject_id)).all())


def add_subgroup(session: Session, *, school_id: str, class_id: str, spec) -> Subgroup:
    """Insert a subgroup and its members from a ``SubgroupSpec``."""
    subgroup = Subgroup(id=new_id(), school_id=school_id, class_id=class_id, subject_id=spec.subject_id,
                        name=spec.name, created_at=utcnow())
    session.add(subgroup)
    session.flush()
    session.add_all([SubgroupMember(subgroup_id=subgroup.id, student_id=s) for s in spec.student_ids])
    session.flush()
    return subgroup


def subgroups_of_class(session: Session, *, class_id: str) -> dict[str, str]:
    """``{subgroup_id: subject_id}`` of the class."""
    return dict(session.execute(select(Subgroup.id, Subgroup.subject_id).where(Subgroup.class_id == class_id)).all())


# --- the timetable (R-S6) -------------------------------------------------------

def get_period(session: Session, *, school_id: str, period_id: str) -> Period | None:
    """The school's period, or None."""
    return session.scalar(select(Period).where(Period.id == period_id, Period.school_id == school_id))


def lock_timetable(session: Session, *, period_id: str) -> None:
    """Serialise timetable writes of one period: two schedulers placing one
    teacher in two classes at once would each see a free slot. The period's
    row is the lock (no-op on SQLite)."""
    session.execute(select(Period.id).where(Period.id == period_id).with_for_update())


def busy_slots(session: Session, *, period_id: str, exclude_class_id: str):
    """Other classes' slots in the period, as ``journal.structure.BusySlot``."""
    from journal.structure import BusySlot
    rows = session.execute(
        select(TimetableSlot, SchoolClass.name).join(SchoolClass, SchoolClass.id == TimetableSlot.class_id)
        .where(TimetableSlot.period_id == period_id, TimetableSlot.class_id != exclude_class_id))
    return [BusySlot(s.class_id, name, s.weekday, s.number, s.teacher_id, s.room) for s, name in rows]


def replace_timetable(session: Session, *, school_id: str, class_id: str, period_id: str, slots) -> list[TimetableSlot]:
    """The class's week in the period becomes ``slots`` (``SlotSpec``)."""
    session.execute(TimetableSlot.__table__.delete().where(
        TimetableSlot.class_id == class_id, TimetableSlot.period_id == period_id))
    rows = [TimetableSlot(id=new_id(), school_id=school_id, class_id=class_id, period_id=period_id,
                          weekday=s.weekday, number=s.number, subject_id=s.subject_id, teacher_id=s.teacher_id,
                          room=s.room, subgroup_id=s.subgroup_id)
            for s in sorted(slots, key=lambda s: (s.weekday, s.number, s.subgroup_id or ""))]
    session.add_all(rows)
    session.flush()
    return rows


def subject_ids_known(session: Session, *, school_id: str, subject_ids) -> set[str]:
    """Which of ``subject_ids`` are the school's subjects."""
    ids = list(set(subject_ids))
    if not ids:
        return set()
    return set(session.scalars(select(Subject.id).where(Subject.school_id == school_id, Subject.id.in_(ids))))


# --- plans (R-J8) ---------------------------------------------------------------

def plan_exists(session: Session, *, class_id: str, subject_id: str, period_id: str) -> bool:
    return session.scalar(select(func.count()).select_from(Plan).where(
        Plan.class_id == class_id, Plan.subject_id == subject_id, Plan.period_id == period_id)) > 0


def add_plan(session: Session, *, school_id: str, spec, teacher_id: str) -> Plan:
    """Insert a plan and its topics from a ``PlanSpec``."""
    plan = Plan(id=new_id(), school_id=school_id, class_id=spec.class_id, subject_id=spec.subject_id,
                period_id=spec.period_id, teacher_id=teacher_id, hours=spec.hours, created_at=utcnow())
    session.add(plan)
    session.flush()
    session.add_all([PlanTopic(plan_id=plan.id, number=t.number, title=t.title, hours=t.hours) for t in spec.topics])
    session.flush()
    return plan


def plans_for_coverage(session: Session, *, school_id: str, period_id: str, class_id: str | None = None,
                       teacher_id: str | None = None):
    """``(plan, class name, subject name, taught lessons)`` of the period's
    plans; taught = lessons of the class and subject inside the period
    (a substitute's lessons count: the programme was covered)."""
    period = get_period(session, school_id=school_id, period_id=period_id)
    if period is None:
        return None, []
    taught = (select(func.count()).select_from(Lesson).where(
        Lesson.class_id == Plan.class_id, Lesson.subject_id == Plan.subject_id,
        Lesson.date >= period.starts_on, Lesson.date <= period.ends_on).correlate(Plan).scalar_subquery())
    query = (select(Plan, SchoolClass.name, Subject.name, taught)
             .join(SchoolClass, SchoolClass.id == Plan.class_id).join(Subject, Subject.id == Plan.subject_id)
             .where(Plan.school_id == school_id, Plan.period_id == period_id)
             .order_by(SchoolClass.grade, SchoolClass.letter, Subject.name))
    if class_id is not None:
        query = query.where(Plan.class_id == class_id)
    if teacher_id is not None:
        query = query.where(Plan.teacher_id == teacher_id)
    return period, [tuple(r) for r in session.execute(query)]


# --- the student import (R-S2) ---------------------------------------------------

def enrolled_elsewhere(session: Session, *, year_id: str, class_id: str, student_ids) -> dict[str, str]:
    """``{student_id: class name}`` of those studying in another class of the year."""
    ids = list(set(student_ids))
    if not ids:
        return {}
    return dict(session.execute(
        select(Enrolment.student_id, SchoolClass.name).join(SchoolClass, SchoolClass.id == Enrolment.class_id)
        .where(SchoolClass.year_id == year_id, SchoolClass.id != class_id, Enrolment.student_id.in_(ids),
               Enrolment.left_on.is_(None))).all())


def timetable_of(session: Session, *, class_id: str, period_id: str) -> list[TimetableSlot]:
    """The class's week in the period, by weekday and lesson number."""
    return list(session.scalars(select(TimetableSlot).where(
        TimetableSlot.class_id == class_id, TimetableSlot.period_id == period_id)
        .order_by(TimetableSlot.weekday, TimetableSlot.number, TimetableSlot.subgroup_id)))
# === corrections, attendance, final marks, idempotency (issue 4, part B) ======

idempotency_keys = idempotency_table(Base.metadata)


class AttendanceEntry(Base):
    """The current attendance of one student at one lesson; every change is
    a new :class:`AttendanceVersion` (R-J7), this row only mirrors the last."""
    __tablename__ = "attendance"
    __table_args__ = (
        UniqueConstraint("lesson_id", "student_id"),
        CheckConstraint("status IN ('present', 'absent', 'excused', 'ill', 'late')", name="status"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    school_id: Mapped[str] = mapped_column(REF)
    lesson_id: Mapped[str] = mapped_column(ForeignKey("lessons.id"))
    student_id: Mapped[str] = mapped_column(REF, index=True)
    status: Mapped[str] = mapped_column(String(10))
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_by: Mapped[str] = mapped_column(REF)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class AttendanceVersion(Base):
    """Who set which status when, and why (R-J7); one link of the entry's
    hash chain like :class:`MarkVersion` (content:
    :func:`journal.marks.attendance_content`; hashes added by migration
    0004_journal_rules, older rows backfilled)."""
    __tablename__ = "attendance_versions"

    attendance_id: Mapped[str] = mapped_column(ForeignKey("attendance.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[str] = mapped_column(REF)
    status: Mapped[str] = mapped_column(String(10))
    previous: Mapped[str | None] = mapped_column(String(10))
    by: Mapped[str] = mapped_column(REF)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class FinalMark(Base):
    """A final mark for a period or the year (``period_id`` is then the
    year's id, ``period_kind`` "year"). A new post for the same student,
    subject and period supersedes the previous row; rows are never deleted."""
    __tablename__ = "final_marks"
    __table_args__ = (
        Index("ix_final_marks_student_subject_period", "student_id", "subject_id", "period_id"),
        CheckConstraint("value BETWEEN 1 AND 5", name="value"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    school_id: Mapped[str] = mapped_column(REF)
    student_id: Mapped[str] = mapped_column(REF)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"))
    class_id: Mapped[str] = mapped_column(ForeignKey("classes.id"), index=True)
    period_id: Mapped[str] = mapped_column(ID)
    period_kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[int] = mapped_column(SmallInteger)
    version: Mapped[int] = mapped_column(Integer, default=1)
    evidence: Mapped[dict] = mapped_column(JSON)
    warnings: Mapped[list] = mapped_column(JSON)
    late: Mapped[bool] = mapped_column(Boolean)
    teacher_id: Mapped[str] = mapped_column(REF)
    entered_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)


# --- corrections (R-J7) ---

def mark_for_update(session: Session, *, school_id: str, mark_id: str):
    """``(mark, lesson, class, subject, year)`` with the mark row locked, so
    two corrections of one mark take turns; None when not the school's."""
    mark = session.scalar(select(Mark).where(Mark.id == mark_id, Mark.school_id == school_id)
                          .with_for_update())
    if mark is None:
        return None
    return (mark, *lesson_context(session, school_id=school_id, lesson_id=mark.lesson_id))


def mark_state(mark: Mark) -> dict:
    return {"value": mark.value, "kind": mark.kind, "weight": mark.weight, "comment": mark.comment,
            "removed": mark.removed, "lesson_id": mark.lesson_id, "student_id": mark.student_id,
            "version": mark.version}


def add_mark_version(session: Session, *, mark: Mark, by: str, at: dt.datetime, reason: str) -> MarkVersion:
    """Append the mark's current fields as its next version, chained to the
    previous one. The caller has already updated ``mark`` (and locked it)."""
    prev = session.scalar(select(MarkVersion.hash).where(
        MarkVersion.mark_id == mark.id, MarkVersion.version == mark.version - 1))
    content = version_content(
        mark_id=mark.id, version=mark.version, lesson_id=mark.lesson_id, student_id=mark.student_id,
        value=mark.value, kind=mark.kind, weight=mark.weight, comment=mark.comment, removed=mark.removed,
        by=by, at=at, reason=reason)
    version = MarkVersion(mark_id=mark.id, version=mark.version, school_id=mark.school_id, value=mark.value,
                          kind=mark.kind, weight=mark.weight, comment=mark.comment, removed=mark.removed,
                          by=by, at=at, reason=reason, prev_hash=prev or GENESIS_HASH,
                          hash=chain_hash(content, prev or GENESIS_HASH))
    session.add(version)
    session.flush()
    return version


def mark_versions(session: Session, *, school_id: str, mark_id: str) -> list[MarkVersion]:
    return list(session.scalars(select(MarkVersion).where(
        MarkVersion.mark_id == mark_id, MarkVersion.school_id == school_id).order_by(MarkVersion.version)))


def get_mark(session: Session, *, school_id: str, mark_id: str) -> Mark | None:
    return session.scalar(select(Mark).where(Mark.id == mark_id, Mark.school_id == school_id))


def _join_chains(owners, versions, owner_id_of, content):
    """Join two streams ordered by owner id -- the rows (marks, attendance
    entries) and their versions -- into ``(row, [(content, prev_hash,
    hash)])`` without a query per row."""
    versions = iter(versions)
    pending = next(versions, None)
    for owner in owners:
        chain = []
        while pending is not None and owner_id_of(pending) < owner.id:
            pending = next(versions, None)  # a version without its row: FK forbids; skip
        while pending is not None and owner_id_of(pending) == owner.id:
            chain.append((content(owner, pending), pending.prev_hash, pending.hash))
            pending = next(versions, None)
        yield owner, chain


def chains(session: Session, *, school_id: str | None = None, batch: int = 2000):
    """Every mark with its chain, as ``(state, [(content, prev_hash, hash)])``,
    streamed in mark-id order (two ordered scans, no per-mark query)."""
    marks_q = select(Mark).order_by(Mark.id)
    versions_q = select(MarkVersion).order_by(MarkVersion.mark_id, MarkVersion.version)
    if school_id is not None:
        marks_q = marks_q.where(Mark.school_id == school_id)
        versions_q = versions_q.where(MarkVersion.school_id == school_id)

    def content(mark, v):
        return version_content(
            mark_id=v.mark_id, version=v.version, lesson_id=mark.lesson_id, student_id=mark.student_id,
            value=v.value, kind=v.kind, weight=v.weight, comment=v.comment, removed=v.removed, by=v.by,
            at=v.at, reason=v.reason)

    for mark, chain in _join_chains(session.scalars(marks_q.execution_options(yield_per=batch)),
                                    session.scalars(versions_q.execution_options(yield_per=batch)),
                                    lambda v: v.mark_id, content):
        yield mark_state(mark) | {"mark_id": mark.id, "school_id": mark.school_id}, chain


# --- attendance (R-J2) ---

def attendance_of_lesson(session: Session, *, lesson_id: str, lock: bool = False) -> dict[str, AttendanceEntry]:
    query = select(AttendanceEntry).where(AttendanceEntry.lesson_id == lesson_id)
    if lock:
        query = query.with_for_update()
    return {a.student_id: a for a in session.scalars(query)}


def save_attendance(session: Session, *, school_id: str, lesson_id: str, changes, current: dict, by: str,
                    at: dt.datetime, reason: str | None) -> list[AttendanceEntry]:
    """Apply ``changes`` ``[(student_id, status, previous)]``: a new entry
    or a new version of an existing one."""
    saved, changed = [], []
    for student_id, status, previous in changes:
        entry = current.get(student_id)
        if entry is None:
            entry = AttendanceEntry(id=new_id(), school_id=school_id, lesson_id=lesson_id, student_id=student_id,
                                    status=status, version=1, updated_by=by, updated_at=at)
            session.add(entry)
        else:
            entry.status, entry.version, entry.updated_by, entry.updated_at = status, entry.version + 1, by, at
            changed.append(entry.id)
        saved.append((entry, previous))
    session.flush()
    # the previous links of the corrected entries, in one query
    prev_hashes = dict(session.execute(
        select(AttendanceVersion.attendance_id, AttendanceVersion.hash)
        .join(AttendanceEntry, and_(AttendanceEntry.id == AttendanceVersion.attendance_id,
                                    AttendanceVersion.version == AttendanceEntry.version - 1))
        .where(AttendanceVersion.attendance_id.in_(changed))).all()) if changed else {}
    for entry, previous in saved:
        prev = prev_hashes.get(entry.id, GENESIS_HASH)
        content = attendance_content(
            attendance_id=entry.id, version=entry.version, lesson_id=entry.lesson_id, student_id=entry.student_id,
            status=entry.status, previous=previous, by=by, at=at, reason=reason)
        session.add(AttendanceVersion(attendance_id=entry.id, version=entry.version, school_id=school_id,
                                      status=entry.status, previous=previous, by=by, at=at, reason=reason,
                                      prev_hash=prev, hash=chain_hash(content, prev)))
    session.flush()
    return [entry for entry, _ in saved]


def attendance_state(entry: AttendanceEntry) -> dict:
    return {"status": entry.status, "version": entry.version, "lesson_id": entry.lesson_id,
            "student_id": entry.student_id}


def attendance_chains(session: Session, *, school_id: str | None = None, batch: int = 2000):
    """Every attendance entry with its chain, as ``(state, [(content,
    prev_hash, hash)])``, streamed in id order like :func:`chains`. The
    content takes the lesson and the student from the entry's row, so
    moving an entry to another lesson or student breaks its chain."""
    entries_q = select(AttendanceEntry).order_by(AttendanceEntry.id)
    versions_q = select(AttendanceVersion).order_by(AttendanceVersion.attendance_id, AttendanceVersion.version)
    if school_id is not None:
        entries_q = entries_q.where(AttendanceEntry.school_id == school_id)
        versions_q = versions_q.where(AttendanceVersion.school_id == school_id)

    def content(entry, v):
        return attendance_content(
            attendance_id=v.attendance_id, version=v.version, lesson_id=entry.lesson_id,
            student_id=entry.student_id, status=v.status, previous=v.previous, by=v.by, at=v.at,
            reason=v.reason)

    for entry, chain in _join_chains(session.scalars(entries_q.execution_options(yield_per=batch)),
                                     session.scalars(versions_q.execution_options(yield_per=batch)),
                                     lambda v: v.attendance_id, content):
        yield attendance_state(entry) | {"attendance_id": entry.id, "school_id": entry.school_id}, chain


def subject_emphasis(session: Session, *, school_id: str, subject_ids) -> dict[str, bool]:
    """``{subject_id: emphasis}`` of the school's subjects among ``subject_ids``."""
    ids = list(subject_ids)
    if not ids:
        return {}
    return dict(session.execute(select(Subject.id, Subject.emphasis).where(
        Subject.school_id == school_id, Subject.id.in_(ids))).all())


# --- final marks and forecasts (R-F) ---

def period_or_year(session: Session, *, school_id: str, period_id: str):
    """``(id, kind, starts_on, ends_on, year)`` of a period, or of a whole
    year when ``period_id`` is a year's id; None when not the school's."""
    row = session.execute(select(Period, Year).join(Year, Year.id == Period.year_id).where(
        Period.id == period_id, Year.school_id == school_id)).first()
    if row is not None:
        period, year = row
        return period.id, period.kind, period.starts_on, period.ends_on, year
    year = get_year(session, school_id=school_id, year_id=period_id)
    if year is None:
        return None
    return year.id, "year", year.starts_on, year.ends_on, year


def year_of_student_on(session: Session, *, student_id: str, day: dt.date) -> str | None:
    """The year of the class the student is in on ``day`` (None: in none)."""
    return session.scalar(
        select(SchoolClass.year_id).join(Enrolment, Enrolment.class_id == SchoolClass.id)
        .where(Enrolment.student_id == student_id, Enrolment.enrolled_on <= day,
               or_(Enrolment.left_on.is_(None), Enrolment.left_on > day))
        .order_by(Enrolment.enrolled_on.desc(), Enrolment.created_at.desc()).limit(1))


def class_of_student_in_year(session: Session, *, student_id: str, year_id: str) -> SchoolClass | None:
    """The student's latest class of that year (a transfer moves them)."""
    return session.scalar(
        select(SchoolClass).join(Enrolment, Enrolment.class_id == SchoolClass.id)
        .where(Enrolment.student_id == student_id, SchoolClass.year_id == year_id)
        .order_by(Enrolment.enrolled_on.desc(), Enrolment.created_at.desc()).limit(1))


def hours_per_week(session: Session, *, class_id: str, subject_id: str) -> float | None:
    hours = session.scalar(select(func.max(Assignment.hours_per_week)).where(
        Assignment.class_id == class_id, Assignment.subject_id == subject_id))
    return float(hours) if hours is not None else None


def student_marks(session: Session, *, school_id: str, student_id: str, start: dt.date, end: dt.date,
                  subject_id: str | None = None) -> list[tuple[str, int, int, str]]:
    """``(subject_id, value, weight, kind)`` of the student's current marks
    (not removed) on lessons in ``start..end``."""
    query = (select(Lesson.subject_id, Mark.value, Mark.weight, Mark.kind)
             .join(Lesson, Lesson.id == Mark.lesson_id)
             .where(Mark.school_id == school_id, Mark.student_id == student_id, Mark.removed.is_(False),
                    Lesson.date >= start, Lesson.date <= end)
             .order_by(Lesson.date, Mark.created_at))
    if subject_id is not None:
        query = query.where(Lesson.subject_id == subject_id)
    return [tuple(r) for r in session.execute(query)]


def class_marks(session: Session, *, class_id: str, start: dt.date, end: dt.date):
    """``(student_id, subject_id, value, weight, kind)`` of a class's current marks."""
    return [tuple(r) for r in session.execute(
        select(Mark.student_id, Lesson.subject_id, Mark.value, Mark.weight, Mark.kind)
        .join(Lesson, Lesson.id == Mark.lesson_id)
        .where(Lesson.class_id == class_id, Mark.removed.is_(False), Lesson.date >= start, Lesson.date <= end))]


def class_subject_hours(session: Session, *, class_id: str) -> dict[str, float]:
    return {s: float(h) for s, h in session.execute(
        select(Assignment.subject_id, func.max(Assignment.hours_per_week))
        .where(Assignment.class_id == class_id).group_by(Assignment.subject_id))}


def students_of_class(session: Session, *, class_id: str, start: dt.date, end: dt.date) -> list[Person | str]:
    """Students in the class at some day of ``start..end``, by name."""
    rows = session.execute(
        select(Enrolment.student_id, Person.full_name)
        .outerjoin(Person, Person.user_id == Enrolment.student_id)
        .where(Enrolment.class_id == class_id, Enrolment.enrolled_on <= end,
               or_(Enrolment.left_on.is_(None), Enrolment.left_on > start))
        .order_by(Person.full_name, Enrolment.student_id))
    seen, out = set(), []
    for student_id, name in rows:
        if student_id not in seen:
            seen.add(student_id)
            out.append((student_id, name or ""))
    return out


def current_final(session: Session, *, student_id: str, subject_id: str, period_id: str) -> FinalMark | None:
    return session.scalar(select(FinalMark).where(
        FinalMark.student_id == student_id, FinalMark.subject_id == subject_id,
        FinalMark.period_id == period_id, FinalMark.superseded.is_(False)).with_for_update())


def add_final_mark(session: Session, **fields) -> FinalMark:
    final = FinalMark(id=new_id(), **fields)
    session.add(final)
    session.flush()
    return final


def period_on(session: Session, *, school_id: str, day: dt.date, year_id: str | None = None):
    """Like :func:`period_or_year` for the school's period containing ``day``
    (of an open year first), or None; of the year ``year_id`` when given (a
    class's or a student's own year: two years of a school may overlap)."""
    query = select(Period, Year).join(Year, Year.id == Period.year_id).where(
        Year.school_id == school_id, Period.starts_on <= day, Period.ends_on >= day)
    if year_id is not None:
        query = query.where(Year.id == year_id)
    row = session.execute(query.order_by(Year.archived, Period.starts_on.desc()).limit(1)).first()
    if row is None:
        return None
    period, year = row
    return period.id, period.kind, period.starts_on, period.ends_on, year


# --- the class journal grid (served over gRPC) ---

def may_view_class_journal(session: Session, *, klass: SchoolClass, viewer_id: str, roles) -> bool:
    """The administration, the class teacher, or a teacher assigned to the class."""
    if set(roles or ()) & {"admin", "deputy", "director"}:
        return True
    if klass.class_teacher_id == viewer_id:
        return True
    return session.scalar(select(func.count()).select_from(Assignment).where(
        Assignment.class_id == klass.id, Assignment.teacher_id == viewer_id)) > 0


def grid_lessons(session: Session, *, class_id: str, subject_id: str, start: dt.date,
                 end: dt.date) -> list[tuple[Lesson, str | None, str | None]]:
    """``(lesson, name of who gave it, name of whom they replaced)`` (R-J6);
    a name is None when the people projection does not know that person."""
    teacher, replaced = aliased(Person), aliased(Person)
    return [tuple(row) for row in session.execute(
        select(Lesson, teacher.full_name, replaced.full_name)
        .outerjoin(teacher, teacher.user_id == Lesson.teacher_id)
        .outerjoin(replaced, replaced.user_id == Lesson.substitute_for)
        .where(Lesson.class_id == class_id, Lesson.subject_id == subject_id, Lesson.date >= start,
               Lesson.date <= end)
        .order_by(Lesson.date, Lesson.entered_at, Lesson.id))]


def grid_marks(session: Session, *, class_id: str, subject_id: str, start: dt.date, end: dt.date) -> list[Mark]:
    return list(session.scalars(
        select(Mark).join(Lesson, Lesson.id == Mark.lesson_id)
        .where(Lesson.class_id == class_id, Lesson.subject_id == subject_id, Lesson.date >= start,
               Lesson.date <= end, Mark.removed.is_(False))
        .order_by(Lesson.date, Mark.created_at, Mark.id)))


def grid_attendance(session: Session, *, class_id: str, subject_id: str, start: dt.date,
                    end: dt.date) -> list[AttendanceEntry]:
    return list(session.scalars(
        select(AttendanceEntry).join(Lesson, Lesson.id == AttendanceEntry.lesson_id)
        .where(Lesson.class_id == class_id, Lesson.subject_id == subject_id, Lesson.date >= start,
               Lesson.date <= end)
        .order_by(Lesson.date, AttendanceEntry.student_id)))


def grid_finals(session: Session, *, class_id: str, subject_id: str, period_ids) -> list[FinalMark]:
    return list(session.scalars(select(FinalMark).where(
        FinalMark.class_id == class_id, FinalMark.subject_id == subject_id,
        FinalMark.period_id.in_(list(period_ids)), FinalMark.superseded.is_(False))
        .order_by(FinalMark.entered_at)))


def year_period_ids(session: Session, *, year_id: str) -> list[str]:
    return list(session.scalars(select(Period.id).where(Period.year_id == year_id)))
