"""The journal's tables as SQLAlchemy models (migrations/ creates them).

Every row that belongs to a school carries ``school_id``. The queries are in
the other modules of this package, one per aggregate."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, MetaData, Numeric, SmallInteger,
    String, Text, UniqueConstraint, false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kernel.db import UtcDateTime, new_id
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
    from journal.domain.finals import default_emphasis  # the rules import the store
    return default_emphasis(context.get_current_parameters().get("name") or "")


class Subject(Base):
    __tablename__ = "subjects"
    __table_args__ = (UniqueConstraint("school_id", "name"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    school_id: Mapped[str] = mapped_column(REF, index=True)
    name: Mapped[str] = mapped_column(String(100))
    # R-F2 emphasis (written, lab and practical works required for a final
    # mark); by default from the name (domain.finals.default_emphasis). Added by
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
    # why the stay ended (journal.domain.movements.LEFT_*); added by migration 0002_structure
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
    # transcribed from the paper journal by the admin (journal.domain.imports):
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
    + ``prev_hash``), see :func:`journal.domain.chain.chain_hash`."""
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


idempotency_keys = idempotency_table(Base.metadata)


class Job(Base):
    """Long work (a student import, a year close) run by the journal's own
    ``job_queued`` event, readable by any gateway worker while it runs.
    ``params`` (the request, the upload included) is cleared when the job
    ends; ``result`` or ``error`` (the API's error body) is kept."""
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_school_created", "school_id", "created_at"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(32))
    school_id: Mapped[str] = mapped_column(REF)
    started_by: Mapped[str] = mapped_column(REF)
    status: Mapped[str] = mapped_column(String(16))   # queued, running, done, failed
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    stage: Mapped[str] = mapped_column(String(32))
    ctx: Mapped[dict] = mapped_column(JSON)
    params: Mapped[dict | None] = mapped_column(JSON)
    result: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


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
    :func:`journal.domain.chain.attendance_content`; hashes added by migration
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
