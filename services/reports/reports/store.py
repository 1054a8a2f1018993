"""Reports' own read models (projections of other services' events) and the
queries report builders need.

Projections are written with insert-or-update on the natural id, so an
event applied twice, or two events about the same row handled at once by
two workers, leave one row and never a unique-key error. Every row carries
the ``school_id`` of the event that made it; every query filters by it.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (JSON, Boolean, Date, Float, Index, Integer, LargeBinary, String, UniqueConstraint, and_,
                        case, select)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from kernel.bulk import insert_rows
from kernel.db import UtcDateTime, dialect_insert
from kernel.events import kernel_tables

ID = String(36)


class Base(DeclarativeBase):
    pass


class Year(Base):
    __tablename__ = "years"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    school_id: Mapped[str] = mapped_column(ID, index=True)
    name: Mapped[str] = mapped_column(String(100))
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)


class Period(Base):
    __tablename__ = "periods"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    school_id: Mapped[str] = mapped_column(ID, index=True)
    year_id: Mapped[str] = mapped_column(ID, index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str | None] = mapped_column(String(20))
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)


class Subject(Base):
    __tablename__ = "subjects"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    school_id: Mapped[str] = mapped_column(ID, index=True)
    name: Mapped[str] = mapped_column(String(200))
    # R-F2: final marks need written works (Russian, literature, maths...)
    emphasis: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())


class SchoolClass(Base):
    __tablename__ = "classes"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    school_id: Mapped[str] = mapped_column(ID, index=True)
    year_id: Mapped[str | None] = mapped_column(ID, index=True)
    grade: Mapped[int | None] = mapped_column(Integer)
    letter: Mapped[str | None] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(50))
    class_teacher_id: Mapped[str | None] = mapped_column(ID)


class Enrolment(Base):
    __tablename__ = "enrolments"
    class_id: Mapped[str] = mapped_column(ID, primary_key=True)
    student_id: Mapped[str] = mapped_column(ID, primary_key=True)
    school_id: Mapped[str] = mapped_column(ID, index=True)
    order_no: Mapped[str | None] = mapped_column(String(50))
    enrolled_on: Mapped[dt.date | None] = mapped_column(Date)
    # set by student_transferred (out of this class) or student_left: the
    # first day out, the order and why (transferred, left, graduated)
    left_on: Mapped[dt.date | None] = mapped_column(Date)
    left_order_no: Mapped[str | None] = mapped_column(String(50))
    left_reason: Mapped[str | None] = mapped_column(String(20))


class Assignment(Base):
    __tablename__ = "teacher_assignments"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    school_id: Mapped[str] = mapped_column(ID, index=True)
    teacher_id: Mapped[str] = mapped_column(ID, index=True)
    class_id: Mapped[str] = mapped_column(ID, index=True)
    subject_id: Mapped[str] = mapped_column(ID)
    hours_per_week: Mapped[float | None] = mapped_column(Float)
    subgroup_id: Mapped[str | None] = mapped_column(ID)


class Mark(Base):
    __tablename__ = "marks"
    __table_args__ = (Index("ix_marks_class_date", "class_id", "date"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    school_id: Mapped[str] = mapped_column(ID)  # no index: migration 0004
    lesson_id: Mapped[str | None] = mapped_column(ID)
    student_id: Mapped[str] = mapped_column(ID)  # no index: migration 0003
    class_id: Mapped[str] = mapped_column(ID)
    subject_id: Mapped[str] = mapped_column(ID)
    date: Mapped[dt.date] = mapped_column(Date)
    value: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str | None] = mapped_column(String(30))
    weight: Mapped[int] = mapped_column(Integer)
    teacher_id: Mapped[str | None] = mapped_column(ID)
    posted_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    # the journal's version of the mark (1 = as posted); corrections and
    # removals only ever move it forward, whatever order their events arrive in
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    removed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())


class FinalMark(Base):
    """The current final mark of a student in a subject for a period, or for
    the year (``period_id`` is then the year's id): one row per student,
    subject and period, holding the newest version the journal posted."""
    __tablename__ = "final_marks"
    __table_args__ = (Index("ix_final_marks_class_period", "class_id", "period_id"),)
    student_id: Mapped[str] = mapped_column(ID, primary_key=True)
    subject_id: Mapped[str] = mapped_column(ID, primary_key=True)
    period_id: Mapped[str] = mapped_column(ID, primary_key=True)
    school_id: Mapped[str] = mapped_column(ID)
    class_id: Mapped[str] = mapped_column(ID)
    period_kind: Mapped[str | None] = mapped_column(String(20))
    final_mark_id: Mapped[str] = mapped_column(ID)
    value: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    # R-F3: entered more than the allowed days after the period's end
    late: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    teacher_id: Mapped[str | None] = mapped_column(ID)
    posted_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class Person(Base):
    __tablename__ = "people"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    school_id: Mapped[str] = mapped_column(ID, index=True)
    login: Mapped[str | None] = mapped_column(String(100))
    # None until user_created arrives (a roles_changed may overtake it)
    full_name: Mapped[str | None] = mapped_column(String(300))
    roles: Mapped[list] = mapped_column(JSON)
    roles_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    sex: Mapped[str | None] = mapped_column(String(10))


class ParentLink(Base):
    """A parent of a student (identity's ``parent_linked``)."""
    __tablename__ = "parent_links"
    student_id: Mapped[str] = mapped_column(ID, primary_key=True)
    parent_id: Mapped[str] = mapped_column(ID, primary_key=True)
    school_id: Mapped[str] = mapped_column(ID, index=True)


class Lesson(Base):
    """A lesson as recorded in the journal (``lesson_recorded``)."""
    __tablename__ = "lessons"
    __table_args__ = (Index("ix_lessons_class_date", "class_id", "date"),
                      Index("ix_lessons_school_date", "school_id", "date"))
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    school_id: Mapped[str] = mapped_column(ID)
    class_id: Mapped[str] = mapped_column(ID)
    subject_id: Mapped[str] = mapped_column(ID)
    teacher_id: Mapped[str] = mapped_column(ID)
    date: Mapped[dt.date] = mapped_column(Date)
    topic: Mapped[str | None] = mapped_column(String(500))
    lesson_type: Mapped[str | None] = mapped_column(String(100))
    work_type: Mapped[str | None] = mapped_column(String(100))
    has_homework: Mapped[bool] = mapped_column(Boolean)
    subgroup_id: Mapped[str | None] = mapped_column(ID)
    substitute_for: Mapped[str | None] = mapped_column(ID)
    late: Mapped[bool] = mapped_column(Boolean)
    overdue: Mapped[bool] = mapped_column(Boolean)
    imported: Mapped[bool] = mapped_column(Boolean)
    recorded_on: Mapped[dt.date | None] = mapped_column(Date)


class Attendance(Base):
    """The current attendance status of a student at a lesson: the newest
    ``attendance_recorded`` entry wins (by the event's time)."""
    __tablename__ = "attendance"
    __table_args__ = (Index("ix_attendance_class_date", "class_id", "date"),)
    lesson_id: Mapped[str] = mapped_column(ID, primary_key=True)
    student_id: Mapped[str] = mapped_column(ID, primary_key=True)
    school_id: Mapped[str] = mapped_column(ID)
    class_id: Mapped[str] = mapped_column(ID)
    subject_id: Mapped[str] = mapped_column(ID)
    date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class AttendanceCorrection(Base):
    """An attendance entry that changed a status recorded before (R-J7)."""
    __tablename__ = "attendance_corrections"
    event_id: Mapped[str] = mapped_column(ID, primary_key=True)
    student_id: Mapped[str] = mapped_column(ID, primary_key=True)
    school_id: Mapped[str] = mapped_column(ID)
    lesson_id: Mapped[str] = mapped_column(ID)
    class_id: Mapped[str] = mapped_column(ID, index=True)
    date: Mapped[dt.date] = mapped_column(Date)
    previous: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class Movement(Base):
    """A transfer, a departure or a graduation (``student_transferred``,
    ``student_left``) with its order number; admissions are the enrolments."""
    __tablename__ = "movements"
    id: Mapped[str] = mapped_column(ID, primary_key=True)  # the event's id
    school_id: Mapped[str] = mapped_column(ID, index=True)
    kind: Mapped[str] = mapped_column(String(20))
    student_id: Mapped[str] = mapped_column(ID)
    from_class_id: Mapped[str | None] = mapped_column(ID)
    to_class_id: Mapped[str | None] = mapped_column(ID)
    order_no: Mapped[str | None] = mapped_column(String(50))
    on: Mapped[dt.date] = mapped_column(Date)
    comment: Mapped[str | None] = mapped_column(String(500))


class Plan(Base):
    """A calendar-thematic plan (КТП, R-J8): hours planned for a class,
    subject and period."""
    __tablename__ = "plans"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    school_id: Mapped[str] = mapped_column(ID, index=True)
    class_id: Mapped[str] = mapped_column(ID)
    subject_id: Mapped[str] = mapped_column(ID)
    period_id: Mapped[str] = mapped_column(ID)
    teacher_id: Mapped[str | None] = mapped_column(ID)
    hours: Mapped[int] = mapped_column(Integer)
    topics: Mapped[int] = mapped_column(Integer)


class AccessDay(Base):
    """Requests and logins of a user on one day of the school's time zone (R-A6, R-R8)."""
    __tablename__ = "access_days"
    user_id: Mapped[str] = mapped_column(ID, primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    school_id: Mapped[str] = mapped_column(ID)
    actions: Mapped[int] = mapped_column(Integer)
    logins: Mapped[int] = mapped_column(Integer)


class AccessSeen(Base):
    """Ids of the access events counted in ``access_days``: a redelivered
    event is counted once."""
    __tablename__ = "access_seen"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    school_id: Mapped[str] = mapped_column(ID)
    day: Mapped[dt.date] = mapped_column(Date, index=True)


class ScheduledReport(Base):
    """A report the service produced by itself (the monthly R-R7) and handed
    to messaging through the outbox: one row per school, kind and month, so
    a second tick of the schedule sends nothing twice."""
    __tablename__ = "scheduled_reports"
    school_id: Mapped[str] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    produced_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    recipients: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)


class JournalArchive(Base):
    """A class journal of a closed school year as filed (R-D4): the PDF and
    the XLSX made on ``year_closed``, kept here as bytes so that the reports
    database's backup carries them (no files beside it to lose); one row per
    year and class, so a redelivered event stores nothing twice. Not a
    projection: a rebuild leaves it alone."""
    __tablename__ = "journal_archives"
    __table_args__ = (UniqueConstraint("year_id", "class_id", name="uq_journal_archives_year_class"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    school_id: Mapped[str] = mapped_column(ID, index=True)
    year_id: Mapped[str] = mapped_column(ID)
    year_name: Mapped[str | None] = mapped_column(String(100))
    class_id: Mapped[str] = mapped_column(ID)
    class_name: Mapped[str | None] = mapped_column(String(50))
    order_no: Mapped[str | None] = mapped_column(String(100))
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    xlsx: Mapped[bytes] = mapped_column(LargeBinary)
    pdf_size: Mapped[int] = mapped_column(Integer)
    xlsx_size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())



class ReportJob(Base):
    """A report's files made as a job (``Prefer: respond-async``): the
    report is built when the job is started (its access and its parameters
    answer at once) and kept in ``params``; the job, run from this
    service's own ``job_queued`` event, renders its PDF and XLSX into this
    row. Rendering writes nothing else, so a job a dead worker left running
    is simply run again."""
    __tablename__ = "report_jobs"
    __table_args__ = (Index("ix_report_jobs_school_created", "school_id", "created_at"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    school_id: Mapped[str] = mapped_column(ID)
    started_by: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))   # queued, running, done, failed
    done: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict | None] = mapped_column(JSON)
    result: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[dict | None] = mapped_column(JSON)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary)
    xlsx: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    started_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


tables = kernel_tables(Base.metadata)


# --- writing projections ------------------------------------------------------



def _upsert(session: Session, model, values: dict, *, keys: tuple[str, ...], update: tuple[str, ...] = ()):
    stmt = dialect_insert(session, model).values(**values)
    if update:
        stmt = stmt.on_conflict_do_update(index_elements=list(keys),
                                          set_={c: stmt.excluded[c] for c in update})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    session.execute(stmt)


def save_year(session: Session, *, school_id: str, year: dict, periods: list[dict]) -> None:
    """Project ``year_opened``: the year and its periods."""
    _upsert(session, Year, {**year, "school_id": school_id}, keys=("id",),
            update=("name", "starts_on", "ends_on"))
    for period in periods:
        _upsert(session, Period, {**period, "school_id": school_id, "year_id": year["id"]}, keys=("id",),
                update=("year_id", "name", "kind", "starts_on", "ends_on"))


def save_subject(session: Session, *, school_id: str, subject: dict) -> None:
    """Project ``subject_created``."""
    _upsert(session, Subject, {**subject, "school_id": school_id}, keys=("id",),
            update=tuple(k for k in ("name", "emphasis") if k in subject))


def save_class(session: Session, *, school_id: str, school_class: dict) -> None:
    """Project ``class_created``."""
    _upsert(session, SchoolClass, {**school_class, "school_id": school_id}, keys=("id",),
            update=("year_id", "grade", "letter", "name", "class_teacher_id"))


def save_enrolment(session: Session, *, school_id: str, enrolment: dict) -> None:
    """Project ``student_enrolled`` (one row per class and student)."""
    _upsert(session, Enrolment, {**enrolment, "school_id": school_id}, keys=("class_id", "student_id"),
            update=("order_no", "enrolled_on"))


def save_assignment(session: Session, *, school_id: str, assignment: dict) -> None:
    """Project ``teacher_assigned``."""
    _upsert(session, Assignment, {**assignment, "school_id": school_id}, keys=("id",),
            update=("teacher_id", "class_id", "subject_id", "hours_per_week", "subgroup_id"))


def save_mark(session: Session, *, school_id: str, mark: dict, posted_at: dt.datetime) -> None:
    """Project one ``mark_posted`` (see :func:`save_marks`)."""
    save_marks(session, [{**mark, "school_id": school_id, "posted_at": posted_at}])


def save_marks(session: Session, marks: list[dict]) -> None:
    """Project a batch of ``mark_posted``: each a mark (events.read_mark_posted)
    with its ``school_id`` and ``posted_at``. A mark id seen before (or twice
    in the batch) changes nothing: a correction will come as its own event,
    never as a second ``mark_posted``.

    The busiest projection (a class's marks are 30 events at once): one
    multi-row INSERT ... ON CONFLICT DO NOTHING (kernel.bulk.insert_rows), so
    neither the ORM nor SQLAlchemy's per-row parameter handling is paid per
    event."""
    if not marks:
        return
    insert_rows(session, (Mark.__table__, [{**mark, "version": 1, "removed": False} for mark in marks], ["id"]))


def apply_mark_change(session: Session, *, school_id: str, mark: dict, posted_at: dt.datetime,
                      fields: tuple[str, ...]) -> None:
    """Project ``mark_corrected`` / ``mark_removed`` (R-J7): the mark takes the
    new state when its version is newer than the one kept. Events of one mark
    travel on different queues, so a correction may come before its
    ``mark_posted``: the row is then created from the correction, and the late
    ``mark_posted`` (version 1) changes nothing."""
    values = {**mark, "school_id": school_id, "posted_at": posted_at}
    stmt = dialect_insert(session, Mark).values(**values)
    newer = stmt.excluded.version > Mark.version
    session.execute(stmt.on_conflict_do_update(
        index_elements=["id"],
        set_={c: case((newer, stmt.excluded[c]), else_=getattr(Mark, c)) for c in fields + ("version",)}))


def save_final_mark(session: Session, *, school_id: str, final: dict) -> None:
    """Project ``final_mark_posted`` (R-F1): the final mark replaces the one
    kept for its student, subject and period when its version is newer. A
    repost and the post it supersedes travel as separate messages, so they
    may arrive in either order; the older one arriving late changes nothing."""
    stmt = dialect_insert(session, FinalMark).values(**final, school_id=school_id)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["student_id", "subject_id", "period_id"],
        set_={c: stmt.excluded[c] for c in ("school_id", "class_id", "period_kind", "final_mark_id", "value",
                                              "version", "late", "teacher_id", "posted_at")},
        where=stmt.excluded.version > FinalMark.version))


def save_user(session: Session, *, school_id: str, user: dict, at: dt.datetime) -> None:
    """Project ``user_created``: names always, roles unless a later
    ``roles_changed`` got here first."""
    stmt = dialect_insert(session, Person).values(
        id=user["id"], school_id=school_id, login=user["login"], full_name=user["full_name"],
        roles=user["roles"], roles_at=at, sex=user.get("sex"))
    newer = stmt.excluded.roles_at >= Person.roles_at
    session.execute(stmt.on_conflict_do_update(index_elements=["id"], set_={
        "login": stmt.excluded.login,
        "sex": stmt.excluded.sex,
        "full_name": stmt.excluded.full_name,
        "roles": case((newer, stmt.excluded.roles), else_=Person.roles),
        "roles_at": case((newer, stmt.excluded.roles_at), else_=Person.roles_at),
    }))


def save_roles(session: Session, *, school_id: str, user_id: str, roles: list[str], at: dt.datetime) -> None:
    """Project ``roles_changed``; an older change arriving late is ignored."""
    stmt = dialect_insert(session, Person).values(id=user_id, school_id=school_id, roles=roles, roles_at=at)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["id"], set_={"roles": stmt.excluded.roles, "roles_at": stmt.excluded.roles_at},
        where=stmt.excluded.roles_at >= Person.roles_at))


def save_parent_link(session: Session, *, school_id: str, link: dict) -> None:
    """Project ``parent_linked``."""
    _upsert(session, ParentLink, {**link, "school_id": school_id}, keys=("student_id", "parent_id"))


LESSON_FIELDS = ("class_id", "subject_id", "teacher_id", "date", "topic", "lesson_type", "work_type",
                 "has_homework", "subgroup_id", "substitute_for", "late", "overdue", "imported", "recorded_on")


def save_lesson(session: Session, *, school_id: str, lesson: dict) -> None:
    """Project ``lesson_recorded`` (the lesson's state as recorded)."""
    values = {**lesson, "school_id": school_id}
    if values.get("topic"):
        values["topic"] = values["topic"][:500]
    _upsert(session, Lesson, values, keys=("id",), update=LESSON_FIELDS)


def save_attendance(session: Session, *, school_id: str, event_id: str, at: dt.datetime, lesson: dict,
                    entries: list[dict], reason: str | None) -> None:
    """Project ``attendance_recorded``: each entry becomes the student's
    status at the lesson unless a newer event set it already; an entry with
    a ``previous`` status is kept as a correction (once per event)."""
    for entry in entries:
        stmt = dialect_insert(session, Attendance).values(
            lesson_id=lesson["lesson_id"], student_id=entry["student_id"], school_id=school_id,
            class_id=lesson["class_id"], subject_id=lesson["subject_id"], date=lesson["date"],
            status=entry["status"], at=at)
        session.execute(stmt.on_conflict_do_update(
            index_elements=["lesson_id", "student_id"],
            set_={"status": stmt.excluded.status, "at": stmt.excluded.at},
            where=stmt.excluded.at >= Attendance.at))
        if entry.get("previous") is not None:
            _upsert(session, AttendanceCorrection, {
                "event_id": event_id, "student_id": entry["student_id"], "school_id": school_id,
                "lesson_id": lesson["lesson_id"], "class_id": lesson["class_id"], "date": lesson["date"],
                "previous": entry["previous"], "status": entry["status"],
                "reason": (reason or None) and reason[:500], "at": at}, keys=("event_id", "student_id"))


def save_movement(session: Session, *, school_id: str, event_id: str, movement: dict) -> None:
    """Project ``student_transferred`` / ``student_left``: the movement, and
    the class the student leaves marks the enrolment closed from ``on``."""
    _upsert(session, Movement, {**movement, "id": event_id, "school_id": school_id}, keys=("id",))
    if movement.get("from_class_id"):
        stmt = dialect_insert(session, Enrolment).values(
            class_id=movement["from_class_id"], student_id=movement["student_id"], school_id=school_id,
            left_on=movement["on"], left_order_no=movement["order_no"], left_reason=movement["kind"])
        session.execute(stmt.on_conflict_do_update(
            index_elements=["class_id", "student_id"],
            set_={c: stmt.excluded[c] for c in ("left_on", "left_order_no", "left_reason")}))


def save_plan(session: Session, *, school_id: str, plan: dict) -> None:
    """Project ``plan_created``."""
    _upsert(session, Plan, {**plan, "school_id": school_id}, keys=("id",),
            update=("class_id", "subject_id", "period_id", "teacher_id", "hours", "topics"))


_ACCESS_STATEMENTS: dict = {}


def _access_statements(session: Session):
    """save_access's two statements for this database, built once: Core
    inserts of the tables (no ORM bulk insert per batch) with RETURNING, so
    that a batch of any size is one multi-row statement of one compiled form."""
    name = session.get_bind().dialect.name
    found = _ACCESS_STATEMENTS.get(name)
    if found is None:
        seen, days = AccessSeen.__table__, AccessDay.__table__
        add_seen = (dialect_insert(session, seen).on_conflict_do_nothing(index_elements=[seen.c.id])
                    .returning(seen.c.id))
        upsert = dialect_insert(session, days)
        upsert = upsert.on_conflict_do_update(index_elements=[days.c.user_id, days.c.day], set_={
            "actions": days.c.actions + upsert.excluded.actions,
            "logins": days.c.logins + upsert.excluded.logins}).returning(days.c.user_id)
        found = _ACCESS_STATEMENTS[name] = (add_seen, upsert)
    return found


def save_access(session: Session, accesses: list[dict]) -> int:
    """Count access events (:func:`reports.events.read_access`) into
    ``access_days``; an event id counted before is skipped. The number of
    events counted now."""
    if not accesses:
        return 0
    add_seen, add_days = _access_statements(session)
    unique = list({a["id"]: a for a in accesses}.values())
    fresh = set(session.execute(add_seen, [
        {"id": a["id"], "school_id": a["school_id"], "day": a["day"]} for a in unique]).scalars())
    counts: dict[tuple, list] = {}
    for a in unique:
        if a["id"] in fresh:
            # a day's row keeps the school it was first counted for
            count = counts.setdefault((a["user_id"], a["day"]), [a["school_id"], 0, 0])
            count[1] += 1
            count[2] += int(a["login"])
    if counts:  # one statement for the batch: a row per (user, day), as the conflict target needs
        session.execute(add_days, [
            {"user_id": user_id, "day": day, "school_id": school_id, "actions": actions, "logins": logins}
            for (user_id, day), (school_id, actions, logins) in sorted(counts.items())]).all()
    return len(fresh)


# --- queries -------------------------------------------------------------------

def get_class(session: Session, *, school_id: str, class_id: str) -> dict | None:
    """The class ``{id, name, year_id, grade, letter, class_teacher_id}`` of this school."""
    row = session.execute(select(SchoolClass).where(
        SchoolClass.id == class_id, SchoolClass.school_id == school_id)).scalar_one_or_none()
    if row is None:
        return None
    return {"id": row.id, "name": row.name, "year_id": row.year_id, "grade": row.grade,
            "letter": row.letter, "class_teacher_id": row.class_teacher_id}


def get_period(session: Session, *, school_id: str, period_id: str) -> dict | None:
    """A period ``{id, name, kind, year_id, starts_on, ends_on}`` of this school;
    a year id gives the whole year as one period (kind ``"year"``)."""
    period = session.execute(select(Period).where(
        Period.id == period_id, Period.school_id == school_id)).scalar_one_or_none()
    if period is not None:
        return {"id": period.id, "name": period.name, "kind": period.kind, "year_id": period.year_id,
                "starts_on": period.starts_on, "ends_on": period.ends_on}
    year = session.execute(select(Year).where(
        Year.id == period_id, Year.school_id == school_id)).scalar_one_or_none()
    if year is not None:
        return {"id": year.id, "name": year.name, "kind": "year", "year_id": year.id,
                "starts_on": year.starts_on, "ends_on": year.ends_on}
    return None


def class_students(session: Session, *, school_id: str, class_id: str) -> list[dict]:
    """Students enrolled in the class: ``[{id, full_name, enrolled_on, left_on}]``."""
    rows = session.execute(
        select(Enrolment.student_id, Enrolment.enrolled_on, Enrolment.left_on, Person.full_name)
        .outerjoin(Person, and_(Person.id == Enrolment.student_id, Person.school_id == school_id))
        .where(Enrolment.class_id == class_id, Enrolment.school_id == school_id)
        .order_by(Enrolment.student_id)
    ).all()
    return [{"id": r.student_id, "full_name": r.full_name, "enrolled_on": r.enrolled_on, "left_on": r.left_on}
            for r in rows]


def class_marks(session: Session, *, school_id: str, class_id: str, starts_on: dt.date,
                ends_on: dt.date) -> list[dict]:
    """The class's marks dated ``starts_on``..``ends_on``, in the order they were
    given: ``[{id, student_id, subject_id, date, value, weight, kind}]``."""
    rows = session.execute(
        select(Mark.id, Mark.student_id, Mark.subject_id, Mark.date, Mark.value, Mark.weight, Mark.kind)
        .where(Mark.school_id == school_id, Mark.class_id == class_id, Mark.removed.is_(False),
               Mark.date >= starts_on, Mark.date <= ends_on)
        .order_by(Mark.date, Mark.posted_at, Mark.id)
    ).all()
    return [dict(r._mapping) for r in rows]


def class_final_marks(session: Session, *, school_id: str, class_id: str, period_id: str) -> list[dict]:
    """The class's current final marks for ``period_id`` (a period or a year):
    ``[{student_id, subject_id, value}]``."""
    rows = session.execute(
        select(FinalMark.student_id, FinalMark.subject_id, FinalMark.value)
        .where(FinalMark.school_id == school_id, FinalMark.class_id == class_id, FinalMark.period_id == period_id)
        .order_by(FinalMark.student_id, FinalMark.subject_id)
    ).all()
    return [dict(r._mapping) for r in rows]


def class_subjects(session: Session, *, school_id: str, class_id: str, starts_on: dt.date,
                   ends_on: dt.date, period_id: str | None = None) -> list[dict]:
    """Subjects assigned to the class, marked in it between the dates or, with
    ``period_id``, with a final mark of the class for that period:
    ``[{id, name, assigned}]`` (name None if ``subject_created`` is not here yet)."""
    assigned = set(session.execute(select(Assignment.subject_id).where(
        Assignment.school_id == school_id, Assignment.class_id == class_id)).scalars())
    marked = set(session.execute(select(Mark.subject_id).distinct().where(
        Mark.school_id == school_id, Mark.class_id == class_id,
        Mark.date >= starts_on, Mark.date <= ends_on)).scalars())
    if period_id is not None:
        marked |= set(session.execute(select(FinalMark.subject_id).distinct().where(
            FinalMark.school_id == school_id, FinalMark.class_id == class_id,
            FinalMark.period_id == period_id)).scalars())
    ids = assigned | marked
    names = dict(session.execute(select(Subject.id, Subject.name).where(
        Subject.school_id == school_id, Subject.id.in_(ids))).all()) if ids else {}
    return [{"id": i, "name": names.get(i), "assigned": i in assigned} for i in sorted(ids)]



# --- queries of the report kinds (R-R1..R-R9) --------------------------------------

def _dicts(session: Session, query) -> list[dict]:
    return [dict(r._mapping) for r in session.execute(query).all()]


def _in(column, ids):
    return column.in_(sorted(ids)) if ids is not None else True


def get_year(session: Session, *, school_id: str, year_id: str) -> dict | None:
    year = session.execute(select(Year).where(Year.id == year_id, Year.school_id == school_id)).scalar_one_or_none()
    if year is None:
        return None
    return {"id": year.id, "name": year.name, "starts_on": year.starts_on, "ends_on": year.ends_on}


def years_covering(session: Session, *, school_id: str, first: dt.date, last: dt.date) -> list[str]:
    """Ids of the school's years with at least one day in ``first..last``."""
    return list(session.execute(select(Year.id).where(
        Year.school_id == school_id, Year.starts_on <= last, Year.ends_on >= first)).scalars())


def year_periods(session: Session, *, school_id: str, year_ids) -> dict:
    """``{period_id: {id, name, kind, year_id, starts_on, ends_on}}``."""
    rows = _dicts(session, select(Period.id, Period.name, Period.kind, Period.year_id, Period.starts_on,
                                  Period.ends_on).where(Period.school_id == school_id, _in(Period.year_id, year_ids)))
    return {r["id"]: r for r in rows}


def school_classes(session: Session, *, school_id: str, year_ids=None, class_ids=None) -> list[dict]:
    return _dicts(session, select(SchoolClass.id, SchoolClass.name, SchoolClass.year_id, SchoolClass.grade,
                                  SchoolClass.letter, SchoolClass.class_teacher_id)
                  .where(SchoolClass.school_id == school_id, _in(SchoolClass.year_id, year_ids),
                         _in(SchoolClass.id, class_ids)))


def enrolments_of(session: Session, *, school_id: str, class_ids) -> list[dict]:
    return _dicts(session, select(Enrolment.class_id, Enrolment.student_id, Enrolment.order_no,
                                  Enrolment.enrolled_on, Enrolment.left_on, Enrolment.left_order_no,
                                  Enrolment.left_reason)
                  .where(Enrolment.school_id == school_id, _in(Enrolment.class_id, class_ids)))


def people_of(session: Session, *, school_id: str, ids=None) -> dict:
    """``{id: {full_name, roles, sex}}`` of the school (or of ``ids``)."""
    rows = _dicts(session, select(Person.id, Person.full_name, Person.roles, Person.sex)
                  .where(Person.school_id == school_id, _in(Person.id, ids)))
    return {r["id"]: {"full_name": r["full_name"], "roles": r["roles"] or [], "sex": r["sex"]} for r in rows}


def subjects_of(session: Session, *, school_id: str) -> dict:
    rows = _dicts(session, select(Subject.id, Subject.name, Subject.emphasis).where(Subject.school_id == school_id))
    return {r["id"]: r for r in rows}


def assignments_of(session: Session, *, school_id: str, class_ids) -> list[dict]:
    return _dicts(session, select(Assignment.teacher_id, Assignment.class_id, Assignment.subject_id,
                                  Assignment.hours_per_week)
                  .where(Assignment.school_id == school_id, _in(Assignment.class_id, class_ids)))


def marks_of(session: Session, *, school_id: str, class_ids, first: dt.date, last: dt.date) -> list[dict]:
    """Marks that count (not removed) of the classes dated ``first..last``,
    in the order they were given."""
    return _dicts(session, select(Mark.id, Mark.student_id, Mark.class_id, Mark.subject_id, Mark.date, Mark.value,
                                  Mark.weight, Mark.kind, Mark.teacher_id)
                  .where(Mark.school_id == school_id, _in(Mark.class_id, class_ids), Mark.removed.is_(False),
                         Mark.date >= first, Mark.date <= last)
                  .order_by(Mark.date, Mark.posted_at, Mark.id))


def finals_of(session: Session, *, school_id: str, class_ids, period_ids=None) -> list[dict]:
    return _dicts(session, select(FinalMark.student_id, FinalMark.subject_id, FinalMark.class_id,
                                  FinalMark.period_id, FinalMark.value, FinalMark.late, FinalMark.teacher_id,
                                  FinalMark.posted_at)
                  .where(FinalMark.school_id == school_id, _in(FinalMark.class_id, class_ids),
                         _in(FinalMark.period_id, period_ids)))


def lessons_of(session: Session, *, school_id: str, class_ids, first: dt.date, last: dt.date) -> list[dict]:
    return _dicts(session, select(Lesson.id, Lesson.class_id, Lesson.subject_id, Lesson.teacher_id, Lesson.date,
                                  Lesson.lesson_type, Lesson.work_type, Lesson.has_homework, Lesson.subgroup_id,
                                  Lesson.substitute_for, Lesson.late, Lesson.overdue, Lesson.imported)
                  .where(Lesson.school_id == school_id, _in(Lesson.class_id, class_ids),
                         Lesson.date >= first, Lesson.date <= last).order_by(Lesson.date, Lesson.id))


def attendance_of(session: Session, *, school_id: str, class_ids, first: dt.date, last: dt.date) -> list[dict]:
    return _dicts(session, select(Attendance.lesson_id, Attendance.student_id, Attendance.class_id,
                                  Attendance.subject_id, Attendance.date, Attendance.status)
                  .where(Attendance.school_id == school_id, _in(Attendance.class_id, class_ids),
                         Attendance.date >= first, Attendance.date <= last))


def corrections_of(session: Session, *, school_id: str, class_ids, first: dt.date, last: dt.date) -> list[dict]:
    return _dicts(session, select(AttendanceCorrection.student_id, AttendanceCorrection.lesson_id,
                                  AttendanceCorrection.date, AttendanceCorrection.previous,
                                  AttendanceCorrection.status)
                  .where(AttendanceCorrection.school_id == school_id, _in(AttendanceCorrection.class_id, class_ids),
                         AttendanceCorrection.date >= first, AttendanceCorrection.date <= last))


def movements_of(session: Session, *, school_id: str, first: dt.date, last: dt.date) -> list[dict]:
    return _dicts(session, select(Movement.kind, Movement.student_id, Movement.from_class_id, Movement.to_class_id,
                                  Movement.order_no, Movement.on, Movement.comment)
                  .where(Movement.school_id == school_id, Movement.on >= first, Movement.on <= last))


def plans_of(session: Session, *, school_id: str, class_ids) -> list[dict]:
    return _dicts(session, select(Plan.class_id, Plan.subject_id, Plan.period_id, Plan.teacher_id, Plan.hours)
                  .where(Plan.school_id == school_id, _in(Plan.class_id, class_ids)))


def parent_links_of(session: Session, *, school_id: str) -> list[dict]:
    return _dicts(session, select(ParentLink.student_id, ParentLink.parent_id).where(ParentLink.school_id == school_id))


def access_of(session: Session, *, school_id: str, first: dt.date, last: dt.date) -> list[dict]:
    return _dicts(session, select(AccessDay.user_id, AccessDay.day, AccessDay.actions, AccessDay.logins)
                  .where(AccessDay.school_id == school_id, AccessDay.day >= first, AccessDay.day <= last))


def mark_counts(session: Session) -> list[tuple]:
    """``(school_id, class_id, period_id, marks)`` of the projection, counted
    the journal's way (journal.store.reads.mark_counts): marks not removed,
    per class and period of the class's year by the mark's date."""
    from sqlalchemy import func
    rows = session.execute(
        select(Mark.school_id, Mark.class_id, Period.id, func.count(Mark.id))
        .join(SchoolClass, SchoolClass.id == Mark.class_id)
        .join(Period, and_(Period.year_id == SchoolClass.year_id, Mark.date >= Period.starts_on,
                           Mark.date <= Period.ends_on))
        .where(Mark.removed.is_(False))
        .group_by(Mark.school_id, Mark.class_id, Period.id)).all()
    return [tuple(r) for r in rows]


def school_years(session: Session) -> dict:
    """``{school_id: [{id, starts_on, ends_on}]}`` of every school reports knows."""
    out: dict = {}
    for row in session.execute(select(Year.school_id, Year.id, Year.starts_on, Year.ends_on)).all():
        out.setdefault(row.school_id, []).append({"id": row.id, "starts_on": row.starts_on, "ends_on": row.ends_on})
    return out


def people_with_roles(session: Session, *, school_id: str, roles) -> list[str]:
    """Ids of the school's people holding any of ``roles``, sorted."""
    wanted = set(roles)
    return sorted(r.id for r in session.execute(select(Person.id, Person.roles).where(Person.school_id == school_id))
                  if wanted & set(r.roles or []))


def claim_scheduled(session: Session, *, school_id: str, kind: str, month: str, at: dt.datetime, recipients: int,
                    size: int) -> bool:
    """Record a scheduled report as produced; False when it already was."""
    stmt = dialect_insert(session, ScheduledReport).values(school_id=school_id, kind=kind, month=month,
                                                           produced_at=at, recipients=recipients, size=size)
    return bool(session.execute(stmt.on_conflict_do_nothing().returning(ScheduledReport.school_id)).first())


def scheduled(session: Session, *, school_id: str, kind: str, month: str) -> bool:
    return session.execute(select(ScheduledReport.school_id).where(
        ScheduledReport.school_id == school_id, ScheduledReport.kind == kind,
        ScheduledReport.month == month)).first() is not None


def mark_sums(session: Session, *, school_id: str, class_ids, first: dt.date, last: dt.date) -> dict:
    """``{class_id: {(student_id, subject_id): (count, sum of values, sum of
    value x weight, sum of weights)}}`` of the marks that count dated
    ``first..last``: one GROUP BY for a whole school's sheet."""
    from sqlalchemy import func
    m = Mark.__table__.c
    # Core rows (no ORM row processing: 15,000 groups for a school)
    rows = session.connection().execute(
        select(m.class_id, m.student_id, m.subject_id, func.count(), func.sum(m.value),
               func.sum(m.value * m.weight), func.sum(m.weight))
        .where(m.school_id == school_id, _in(m.class_id, class_ids), m.removed.is_(False),
               m.date >= first, m.date <= last)
        .group_by(m.class_id, m.student_id, m.subject_id)).all()
    out: dict = {}
    for class_id, student_id, subject_id, count, total, weighted, weights in rows:
        out.setdefault(class_id, {})[(student_id, subject_id)] = (int(count), int(total), int(weighted), int(weights))
    return out


def school_subjects(session: Session, *, school_id: str, class_ids, marked: dict,
                    period_id: str | None) -> dict:
    """:func:`class_subjects` for many classes at once: ``{class_id: [{id,
    name, assigned}]}``; ``marked`` ``{class_id: {subject_id}}`` are the
    subjects with marks in the span (from :func:`mark_sums`)."""
    assigned: dict = {}
    for class_id, subject_id in session.execute(select(Assignment.class_id, Assignment.subject_id).where(
            Assignment.school_id == school_id, _in(Assignment.class_id, class_ids))).all():
        assigned.setdefault(class_id, set()).add(subject_id)
    marked = {c: set(subjects) for c, subjects in marked.items()}
    if period_id is not None:
        for class_id, subject_id in session.execute(select(FinalMark.class_id, FinalMark.subject_id).distinct().where(
                FinalMark.school_id == school_id, _in(FinalMark.class_id, class_ids),
                FinalMark.period_id == period_id)).all():
            marked.setdefault(class_id, set()).add(subject_id)
    names = dict(session.execute(select(Subject.id, Subject.name).where(Subject.school_id == school_id)).all())
    return {c: [{"id": i, "name": names.get(i), "assigned": i in assigned.get(c, set())}
                for i in sorted(assigned.get(c, set()) | marked.get(c, set()))] for c in class_ids}


def school_students(session: Session, *, school_id: str, class_ids) -> dict:
    """:func:`class_students` for many classes: ``{class_id: [...]}``."""
    rows = session.execute(
        select(Enrolment.class_id, Enrolment.student_id, Enrolment.enrolled_on, Enrolment.left_on, Person.full_name)
        .outerjoin(Person, and_(Person.id == Enrolment.student_id, Person.school_id == school_id))
        .where(Enrolment.school_id == school_id, _in(Enrolment.class_id, class_ids))
        .order_by(Enrolment.student_id)).all()
    out: dict = {c: [] for c in class_ids}
    for r in rows:
        out.setdefault(r.class_id, []).append({"id": r.student_id, "full_name": r.full_name,
                                               "enrolled_on": r.enrolled_on, "left_on": r.left_on})
    return out


def month_mark_counts(session: Session, *, school_id: str, class_ids, first: dt.date, last: dt.date) -> dict:
    """``{(class_id, student_id): marks}`` that count, dated ``first..last``."""
    from sqlalchemy import func
    m = Mark.__table__.c
    rows = session.connection().execute(
        select(m.class_id, m.student_id, func.count())
        .where(m.school_id == school_id, _in(m.class_id, class_ids), m.removed.is_(False),
               m.date >= first, m.date <= last)
        .group_by(m.class_id, m.student_id)).all()
    return {(c, s): int(n) for c, s, n in rows}
