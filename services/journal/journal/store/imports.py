"""Queries of the imports: students enrolled elsewhere, lessons
transcribed from the paper journal."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from kernel.db import new_id
from journal.store.models import Enrolment, Lesson, SchoolClass


def enrolled_elsewhere(session: Session, *, year_id: str, class_id: str, student_ids) -> dict[str, str]:
    """``{student_id: class name}`` of those studying in another class of the year."""
    ids = list(set(student_ids))
    if not ids:
        return {}
    return dict(session.execute(
        select(Enrolment.student_id, SchoolClass.name).join(SchoolClass, SchoolClass.id == Enrolment.class_id)
        .where(SchoolClass.year_id == year_id, SchoolClass.id != class_id, Enrolment.student_id.in_(ids),
               Enrolment.left_on.is_(None))).all())


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
