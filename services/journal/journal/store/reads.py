"""The gRPC process's reads: the diary (one Core statement whatever the
range) and the class journal grid."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session, aliased

from journal.store.models import (
    REF, Assignment, AttendanceEntry, Enrolment, FinalMark, Lesson, Mark, Period, Person, Subgroup,
    SubgroupMember, Subject,
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


def teaches_class(session: Session, *, class_id: str, teacher_id: str) -> bool:
    """The teacher has an assignment in the class (any subject)."""
    return session.scalar(select(func.count()).select_from(Assignment).where(
        Assignment.class_id == class_id, Assignment.teacher_id == teacher_id)) > 0


def grid_lessons(session: Session, *, class_id: str, subject_id: str, start: dt.date, end: dt.date) -> list:
    """Rows of the lessons' grid columns with ``teacher_name`` (who gave it)
    and ``replaced_name`` (whom they replaced, R-J6); a name is None when the
    people projection does not know that person. Plain rows, not entities:
    the grid only reads them."""
    teacher, replaced = aliased(Person), aliased(Person)
    return session.execute(
        select(Lesson.id, Lesson.date, Lesson.topic, Lesson.lesson_type, Lesson.work_type, Lesson.homework,
               Lesson.teacher_id, Lesson.subgroup_id, Lesson.late, Lesson.overdue, Lesson.substitute_for,
               teacher.full_name.label("teacher_name"), replaced.full_name.label("replaced_name"))
        .outerjoin(teacher, teacher.user_id == Lesson.teacher_id)
        .outerjoin(replaced, replaced.user_id == Lesson.substitute_for)
        .where(Lesson.class_id == class_id, Lesson.subject_id == subject_id, Lesson.date >= start,
               Lesson.date <= end)
        .order_by(Lesson.date, Lesson.entered_at, Lesson.id)).all()


def grid_marks(session: Session, *, class_id: str, subject_id: str, start: dt.date, end: dt.date) -> list:
    """Rows ``(id, lesson_id, student_id, value, kind, weight, comment, version)``."""
    return session.execute(
        select(Mark.id, Mark.lesson_id, Mark.student_id, Mark.value, Mark.kind, Mark.weight, Mark.comment,
               Mark.version).join(Lesson, Lesson.id == Mark.lesson_id)
        .where(Lesson.class_id == class_id, Lesson.subject_id == subject_id, Lesson.date >= start,
               Lesson.date <= end, Mark.removed.is_(False))
        .order_by(Lesson.date, Mark.created_at, Mark.id)).all()


def grid_attendance(session: Session, *, class_id: str, subject_id: str, start: dt.date, end: dt.date) -> list:
    """Rows ``(lesson_id, student_id, status, version)``."""
    return session.execute(
        select(AttendanceEntry.lesson_id, AttendanceEntry.student_id, AttendanceEntry.status,
               AttendanceEntry.version).join(Lesson, Lesson.id == AttendanceEntry.lesson_id)
        .where(Lesson.class_id == class_id, Lesson.subject_id == subject_id, Lesson.date >= start,
               Lesson.date <= end)
        .order_by(Lesson.date, AttendanceEntry.student_id)).all()


def grid_finals(session: Session, *, class_id: str, subject_id: str, period_ids) -> list:
    """Rows ``(id, student_id, period_id, period_kind, value, late)``."""
    return session.execute(select(
        FinalMark.id, FinalMark.student_id, FinalMark.period_id, FinalMark.period_kind, FinalMark.value,
        FinalMark.late).where(
        FinalMark.class_id == class_id, FinalMark.subject_id == subject_id,
        FinalMark.period_id.in_(list(period_ids)), FinalMark.superseded.is_(False))
        .order_by(FinalMark.entered_at)).all()


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
