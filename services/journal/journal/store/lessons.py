"""Queries of lessons and marks: the one-statement context of a lesson
write, the marks' single round trip, corrections and the version chains."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import bindparam, func, literal_column, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from kernel.bulk import insert_rows
from kernel.db import PreparedRead, connection_of, new_id
from kernel.idempotency import IdempotentCall
from journal.domain.chain import GENESIS_HASH, chain_hash, version_content
from journal.store.models import (
    Assignment, Enrolment, Lesson, Mark, MarkVersion, SchoolClass, Subject, Year, idempotency_keys,
)


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


def _lesson_write_statement():
    """Built once, on first use. Its literals are SQL text, not bind values
    (a prepared statement's parameters are the named ones only)."""
    lesson, klass, subject, year = (Lesson.__table__, SchoolClass.__table__, Subject.__table__, Year.__table__)
    assignment, enrolment = Assignment.__table__, Enrolment.__table__
    comma, empty = literal_column("','"), literal_column("''")
    subgroups = (select(func.aggregate_strings(func.coalesce(assignment.c.subgroup_id, empty), comma))
                 .where(assignment.c.teacher_id == bindparam("teacher_id"),
                        assignment.c.class_id == lesson.c.class_id, assignment.c.subject_id == lesson.c.subject_id)
                 .scalar_subquery())
    enrolled = (select(func.aggregate_strings(enrolment.c.student_id, comma))
                .where(enrolment.c.class_id == lesson.c.class_id, enrolment.c.enrolled_on <= lesson.c.date,
                       or_(enrolment.c.left_on.is_(None), enrolment.c.left_on > lesson.c.date))
                .scalar_subquery())
    keys = idempotency_keys
    key_row = (keys.c.school_id == bindparam("key_school_id"), keys.c.actor_id == bindparam("key_actor_id"),
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


# Planned once per connection on PostgreSQL and read past SQLAlchemy's
# execution context: it runs before every class's marks and attendance.
_LESSON_WRITE = PreparedRead("journal_lesson_write", _lesson_write_statement)


def lesson_write_context(session: Session | Connection, *, school_id: str, lesson_id: str, teacher_id: str,
                         key: IdempotentCall | None = None) -> LessonWriteContext | None:
    """The lesson (in the school), its class, subject and year, the
    teacher's assignments there, the class's students on the lesson's day
    and the stored row of the call's Idempotency-Key ``key`` (none without
    one), in one round trip (a class's marks are the busiest write: P2;
    attendance reads the same); None when the school has no such lesson."""
    key = key or IdempotentCall()
    row = _LESSON_WRITE.first(connection_of(session), {
        "lesson_id": lesson_id, "school_id": school_id, "teacher_id": teacher_id,
        "key_school_id": key.school_id, "key_actor_id": key.actor_id, "key": key.key})
    if row is None:
        return None
    (id_, class_id, subject_id, date, subgroup_id, lesson_teacher_id, grade, class_teacher_id, subject_name, archived,
     subgroups, enrolled, key_fingerprint, key_result) = row
    return LessonWriteContext(
        id=id_, class_id=class_id, subject_id=subject_id, date=date, subgroup_id=subgroup_id,
        teacher_id=lesson_teacher_id, grade=grade, class_teacher_id=class_teacher_id, subject_name=subject_name,
        archived=bool(archived),
        assigned_subgroups=[s or None for s in subgroups.split(",")] if subgroups is not None else [],
        enrolled=frozenset(enrolled.split(",")) if enrolled else frozenset(),
        key_fingerprint=key_fingerprint, key_result=key_result)


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


def insert_marks(session: Session | Connection, marks: list[PostedMark], *, also=()) -> None:
    """Insert ``marks`` and the version 1 of each, the first link of its
    hash chain, and then the ``(table, rows)`` of ``also`` (the outbox row,
    the Idempotency-Key): on PostgreSQL one round trip whatever the number
    of marks (kernel.bulk.insert_rows), no ORM unit of work."""
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
            "at": mark.created_at, "reason": None, "prev_hash": GENESIS_HASH,
            "hash": chain_hash(content, GENESIS_HASH)})
    if isinstance(session, Session):
        session.flush()  # anything the session still holds goes first (e.g. the lesson of this request)
    # The versions after the marks they reference.
    rows = [{"id": m.id, "school_id": m.school_id, "lesson_id": m.lesson_id, "student_id": m.student_id,
             "value": m.value, "kind": m.kind, "weight": m.weight, "comment": m.comment, "author_id": m.author_id,
             "created_at": m.created_at, "removed": m.removed, "version": m.version}
            for m in marks]  # not dataclasses.asdict: it deep-copies every value
    insert_rows(session, (Mark.__table__, rows), (MarkVersion.__table__, versions), *also)


def mark_chain(session: Session, *, mark_id: str) -> list[tuple[dict, str, str]]:
    """A mark's versions as ``(content, prev_hash, hash)`` for
    :func:`journal.domain.chain.verify_chain`."""
    mark = session.get(Mark, mark_id)
    if mark is None:
        return []
    versions = session.scalars(select(MarkVersion).where(MarkVersion.mark_id == mark_id)
                               .order_by(MarkVersion.version))
    return [(version_content(mark_id=v.mark_id, version=v.version, lesson_id=mark.lesson_id,
                             student_id=mark.student_id, value=v.value, kind=v.kind, weight=v.weight,
                             comment=v.comment, removed=v.removed, by=v.by, at=v.at, reason=v.reason),
             v.prev_hash, v.hash) for v in versions]


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
