"""The gRPC process's reads: the diary (one Core statement whatever the
range) and the class journal grid."""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from sqlalchemy import Date, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from kernel.db import PreparedRead

from journal.store.models import (
    REF, Assignment, AttendanceEntry, Enrolment, FinalMark, Lesson, Mark, Period, Person, SchoolClass, Subgroup,
    SubgroupMember, Subject, Year,
)


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
    return DIARY.rows(session.connection(), {"student": student_id, "school": school_id, "start": start, "end": end})


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
    """:func:`diary_rows`' statement, built once (:data:`DIARY`) (its bind parameters are
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


def teaches_class(session: Session, *, class_id: str, teacher_id: str) -> bool:
    """The teacher has an assignment in the class (any subject)."""
    return session.connection().execute(_grid_statements()["teaches"], {
        "class_id": class_id, "teacher_id": teacher_id}).scalar() > 0


def grid_class(session: Session, *, school_id: str, class_id: str):
    """Row ``(id, year_id, name, class_teacher_id)`` of the school's class, or None."""
    return session.connection().execute(_grid_statements()["class"], {
        "school_id": school_id, "class_id": class_id}).first()


def grid_period_on(session: Session, *, school_id: str, day: dt.date, year_id: str):
    """As :func:`journal.store.finals.period_on` of the year ``year_id``:
    ``(id, kind, starts_on, ends_on, year)`` where ``year`` has the year's
    ``id`` and ``name``; None when no period of that year contains ``day``."""
    row = session.connection().execute(_grid_statements()["period_on"], {
        "school_id": school_id, "day": day, "year_id": year_id}).first()
    if row is None:
        return None
    return row.id, row.kind, row.starts_on, row.ends_on, GridYear(row.year_id, row.year_name)


@dataclass(frozen=True)
class GridYear:
    id: str
    name: str


@functools.cache
def _grid_statements() -> dict:
    """The grid's Core statements, built once on first use (building and
    caching a statement's key costs more than running it on a small class)."""
    lesson, mark, attendance = Lesson.__table__, Mark.__table__, AttendanceEntry.__table__
    final, period, subject = FinalMark.__table__, Period.__table__, Subject.__table__
    enrolment, assignment = Enrolment.__table__, Assignment.__table__
    teacher, replaced, student = Person.__table__.alias("t"), Person.__table__.alias("r"), Person.__table__
    in_grid = and_(lesson.c.class_id == bindparam("class_id"), lesson.c.subject_id == bindparam("subject_id"),
                   lesson.c.date >= bindparam("start", type_=Date), lesson.c.date <= bindparam("end", type_=Date))
    hours = (select(func.max(assignment.c.hours_per_week))
             .where(assignment.c.class_id == bindparam("class_id"), assignment.c.subject_id == subject.c.id)
             .scalar_subquery())
    klass, year = SchoolClass.__table__, Year.__table__
    return {
        "teaches": select(func.count()).select_from(assignment).where(
            assignment.c.class_id == bindparam("class_id"), assignment.c.teacher_id == bindparam("teacher_id")),
        "class": select(klass.c.id, klass.c.year_id, klass.c.name, klass.c.class_teacher_id).where(
            klass.c.id == bindparam("class_id"), klass.c.school_id == bindparam("school_id")),
        "period_on": select(period.c.id, period.c.kind, period.c.starts_on, period.c.ends_on,
                            year.c.id.label("year_id"), year.c.name.label("year_name"))
        .select_from(period.join(year, year.c.id == period.c.year_id))
        .where(year.c.school_id == bindparam("school_id"), period.c.starts_on <= bindparam("day", type_=Date),
               period.c.ends_on >= bindparam("day", type_=Date), year.c.id == bindparam("year_id"))
        .order_by(year.c.archived, period.c.starts_on.desc()).limit(1),
        "students": select(enrolment.c.student_id, student.c.full_name)
        .select_from(enrolment.outerjoin(student, student.c.user_id == enrolment.c.student_id))
        .where(enrolment.c.class_id == bindparam("class_id"),
               enrolment.c.enrolled_on <= bindparam("end", type_=Date),
               or_(enrolment.c.left_on.is_(None), enrolment.c.left_on > bindparam("start", type_=Date)))
        .order_by(student.c.full_name, enrolment.c.student_id),
        "lessons": select(lesson.c.id, lesson.c.date, lesson.c.topic, lesson.c.lesson_type, lesson.c.work_type,
                          lesson.c.homework, lesson.c.teacher_id, lesson.c.subgroup_id, lesson.c.late,
                          lesson.c.overdue, lesson.c.substitute_for, teacher.c.full_name.label("teacher_name"),
                          replaced.c.full_name.label("replaced_name"))
        .select_from(lesson.outerjoin(teacher, teacher.c.user_id == lesson.c.teacher_id)
                     .outerjoin(replaced, replaced.c.user_id == lesson.c.substitute_for))
        .where(in_grid).order_by(lesson.c.date, lesson.c.entered_at, lesson.c.id),
        "marks": select(mark.c.id, mark.c.lesson_id, mark.c.student_id, mark.c.value, mark.c.kind, mark.c.weight,
                        mark.c.comment, mark.c.version)
        .select_from(mark.join(lesson, lesson.c.id == mark.c.lesson_id))
        .where(in_grid, mark.c.removed.is_(False)).order_by(lesson.c.date, mark.c.created_at, mark.c.id),
        "attendance": select(attendance.c.lesson_id, attendance.c.student_id, attendance.c.status,
                             attendance.c.version)
        .select_from(attendance.join(lesson, lesson.c.id == attendance.c.lesson_id))
        .where(in_grid).order_by(lesson.c.date, attendance.c.student_id),
        "finals": select(final.c.id, final.c.student_id, final.c.period_id, final.c.period_kind, final.c.value,
                         final.c.late)
        .where(final.c.class_id == bindparam("class_id"), final.c.subject_id == bindparam("subject_id"),
               final.c.period_id.in_(bindparam("period_ids", expanding=True)), final.c.superseded.is_(False))
        .order_by(final.c.entered_at),
        "periods": select(period.c.id, period.c.name, period.c.kind, period.c.starts_on, period.c.ends_on)
        .where(period.c.year_id == bindparam("year_id")).order_by(period.c.starts_on),
        "subject": select(subject.c.name, subject.c.emphasis, hours.label("hours"))
        .where(subject.c.id == bindparam("subject_id"), subject.c.school_id == bindparam("school_id")),
    }


def grid_students(session: Session, *, class_id: str, start: dt.date, end: dt.date) -> list[tuple[str, str]]:
    """``(student id, name)`` of the students in the class at some day of
    ``start..end``, by name (as :func:`journal.store.finals.students_of_class`)."""
    seen, out = set(), []
    for student_id, name in session.connection().execute(
            _grid_statements()["students"], {"class_id": class_id, "start": start, "end": end}):
        if student_id not in seen:
            seen.add(student_id)
            out.append((student_id, name or ""))
    return out


def grid_lessons(session: Session, *, class_id: str, subject_id: str, start: dt.date, end: dt.date) -> list:
    """Rows of the lessons' grid columns with ``teacher_name`` (who gave it)
    and ``replaced_name`` (whom they replaced, R-J6); a name is None when the
    people projection does not know that person. Plain rows, not entities:
    the grid only reads them."""
    return session.connection().execute(_grid_statements()["lessons"], {
        "class_id": class_id, "subject_id": subject_id, "start": start, "end": end}).all()


def grid_marks(session: Session, *, class_id: str, subject_id: str, start: dt.date, end: dt.date) -> list:
    """Rows ``(id, lesson_id, student_id, value, kind, weight, comment, version)``."""
    return session.connection().execute(_grid_statements()["marks"], {
        "class_id": class_id, "subject_id": subject_id, "start": start, "end": end}).all()


def grid_attendance(session: Session, *, class_id: str, subject_id: str, start: dt.date, end: dt.date) -> list:
    """Rows ``(lesson_id, student_id, status, version)``."""
    return session.connection().execute(_grid_statements()["attendance"], {
        "class_id": class_id, "subject_id": subject_id, "start": start, "end": end}).all()


def grid_finals(session: Session, *, class_id: str, subject_id: str, period_ids) -> list:
    """Rows ``(id, student_id, period_id, period_kind, value, late)``."""
    return session.connection().execute(_grid_statements()["finals"], {
        "class_id": class_id, "subject_id": subject_id, "period_ids": list(period_ids)}).all()


def grid_periods(session: Session, *, year_id: str) -> list:
    """Rows ``(id, name, kind, starts_on, ends_on)`` of the year's periods in order."""
    return session.connection().execute(_grid_statements()["periods"], {"year_id": year_id}).all()


def grid_subject(session: Session, *, school_id: str, class_id: str, subject_id: str):
    """``(name, emphasis, hours per week in the class or None)`` of the
    school's subject, or None."""
    row = session.connection().execute(_grid_statements()["subject"], {
        "school_id": school_id, "class_id": class_id, "subject_id": subject_id}).first()
    if row is None:
        return None
    return row[0], bool(row[1]), None if row[2] is None else float(row[2])


def year_periods(session: Session, *, year_id: str) -> list[Period]:
    """The year's periods in order."""
    return list(session.scalars(select(Period).where(Period.year_id == year_id).order_by(Period.starts_on)))


def subject_name_emphasis(session: Session, *, school_id: str, subject_id: str) -> tuple[str, bool] | None:
    """The school's subject's name and R-F2 emphasis, or None."""
    row = session.execute(select(Subject.name, Subject.emphasis).where(
        Subject.id == subject_id, Subject.school_id == school_id)).first()
    return None if row is None else (row[0], bool(row[1]))


def mark_counts(session: Session) -> list[tuple]:
    """``(school_id, class_id, period_id, marks)``: the marks that count (not
    removed) of each class in each period of its year, by the lesson's date;
    what reports' self-check compares its projection with."""
    from journal.store.models import SchoolClass
    rows = session.execute(
        select(Mark.school_id, Lesson.class_id, Period.id, func.count(Mark.id))
        .join(Lesson, Lesson.id == Mark.lesson_id)
        .join(SchoolClass, SchoolClass.id == Lesson.class_id)
        .join(Period, and_(Period.year_id == SchoolClass.year_id, Lesson.date >= Period.starts_on,
                           Lesson.date <= Period.ends_on))
        .where(Mark.removed.is_(False))
        .group_by(Mark.school_id, Lesson.class_id, Period.id)).all()
    return [tuple(r) for r in rows]


DIARY = PreparedRead("journal_diary_rows", _diary_statement)
