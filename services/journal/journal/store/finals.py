"""Queries of final marks, the forecast and the students at risk: periods,
a student's class, hours, marks of a period, the current final mark."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from kernel.db import new_id
from journal.store.models import (
    Assignment, Enrolment, FinalMark, Lesson, Mark, Period, Person, SchoolClass, Year,
)
from journal.store.structure import get_year


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


def class_subject_hours(session: Session, *, class_id: str, subject_id: str | None = None) -> dict[str, float]:
    query = (select(Assignment.subject_id, func.max(Assignment.hours_per_week))
             .where(Assignment.class_id == class_id).group_by(Assignment.subject_id))
    if subject_id is not None:
        query = query.where(Assignment.subject_id == subject_id)
    return {s: float(h) for s, h in session.execute(query)}


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


def class_marks(session: Session, *, class_id: str, start: dt.date, end: dt.date, subject_id: str | None = None):
    """``(student_id, subject_id, value, weight, kind)`` of a class's current
    marks (of one subject when ``subject_id`` is given)."""
    query = (select(Mark.student_id, Lesson.subject_id, Mark.value, Mark.weight, Mark.kind)
             .join(Lesson, Lesson.id == Mark.lesson_id)
             .where(Lesson.class_id == class_id, Mark.removed.is_(False), Lesson.date >= start, Lesson.date <= end))
    if subject_id is not None:
        query = query.where(Lesson.subject_id == subject_id)
    return [tuple(r) for r in session.execute(query)]


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
