"""Queries of movement (stays in classes), year close, the timetable and
the calendar-thematic plans."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kernel.db import new_id
from kernel.events import utcnow
from journal.store.models import (
    Enrolment, Lesson, Period, Plan, PlanTopic, SchoolClass, Subject, TimetableSlot, Year,
)
from journal.store.structure import get_period


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


def lock_timetable(session: Session, *, period_id: str) -> None:
    """Serialise timetable writes of one period: two schedulers placing one
    teacher in two classes at once would each see a free slot. The period's
    row is the lock (no-op on SQLite)."""
    session.execute(select(Period.id).where(Period.id == period_id).with_for_update())


def busy_slots(session: Session, *, period_id: str, exclude_class_id: str):
    """Other classes' slots in the period, as ``journal.domain.movements.BusySlot``."""
    from journal.domain.movements import BusySlot
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


def timetable_of(session: Session, *, class_id: str, period_id: str) -> list[TimetableSlot]:
    """The class's week in the period, by weekday and lesson number."""
    return list(session.scalars(select(TimetableSlot).where(
        TimetableSlot.class_id == class_id, TimetableSlot.period_id == period_id)
        .order_by(TimetableSlot.weekday, TimetableSlot.number, TimetableSlot.subgroup_id)))


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
