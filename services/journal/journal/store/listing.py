"""Queries of the list reads (API.md "Reads the portal and scripts need"):
years and periods, subjects, classes with their size, a class's students
and subgroups, a teacher's classes, a class's lessons, one lesson with its
marks and attendance, a student's attendance history and final marks.
Every query is scoped to the caller's school; :mod:`kernel.paging` cuts
the pages."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, and_, bindparam, case, func, literal, null, or_, select, union_all
from sqlalchemy.orm import Session, aliased

from kernel.db import PreparedRead

from journal.store.models import (
    REF,     Assignment, AttendanceEntry, AttendanceVersion, Enrolment, FinalMark, Lesson, Mark, Period, Person,
    SchoolClass, Subgroup, SubgroupMember, Subject, TimetableSlot, Year,
)


def years_with_periods(session: Session, *, school_id: str) -> list[tuple[Year, list[Period]]]:
    years = list(session.scalars(select(Year).where(Year.school_id == school_id)))
    periods: dict[str, list[Period]] = {}
    if years:
        for period in session.scalars(select(Period).where(Period.year_id.in_([y.id for y in years]))
                                      .order_by(Period.starts_on, Period.id)):
            periods.setdefault(period.year_id, []).append(period)
    return [(year, periods.get(year.id, [])) for year in years]


def subjects(session: Session, *, school_id: str) -> list[Subject]:
    return list(session.scalars(select(Subject).where(Subject.school_id == school_id)))


def classes(session: Session, *, school_id: str, year_id: str | None,
            today: dt.date) -> list[tuple[SchoolClass, str | None, int]]:
    """``(class, class teacher's name, students in it today)``."""
    teacher = aliased(Person)
    size = (select(func.count(Enrolment.id)).where(
        Enrolment.class_id == SchoolClass.id, Enrolment.enrolled_on <= today,
        or_(Enrolment.left_on.is_(None), Enrolment.left_on > today)).correlate(SchoolClass).scalar_subquery())
    query = (select(SchoolClass, teacher.full_name, size)
             .outerjoin(teacher, teacher.user_id == SchoolClass.class_teacher_id)
             .where(SchoolClass.school_id == school_id))
    if year_id is not None:
        query = query.where(SchoolClass.year_id == year_id)
    return [tuple(row) for row in session.execute(query)]


def students_now(session: Session, *, class_id: str, today: dt.date) -> list[tuple[str, str]]:
    """``(student id, name)`` of the class's students today; before the
    year starts (or after it ends) those of its latest stays."""
    rows = session.execute(
        select(Enrolment.student_id, Person.full_name, Enrolment.enrolled_on, Enrolment.left_on)
        .outerjoin(Person, Person.user_id == Enrolment.student_id)
        .where(Enrolment.class_id == class_id)).all()
    current = [(sid, name) for sid, name, on, left in rows
               if on <= today and (left is None or left > today)]
    if current or not rows:
        return _unique(current)
    # nobody today: before the first admission day, the admitted ones; after the year, those who stayed
    return _unique([(sid, name) for sid, name, on, left in rows if left is None])


def _unique(rows):
    seen, out = set(), []
    for sid, name in rows:
        if sid not in seen:
            seen.add(sid)
            out.append((sid, name or ""))
    return out


def subgroups_of_students(session: Session, *, class_id: str) -> dict[str, list[tuple[Subgroup, str]]]:
    """Each student's subgroups in the class: ``(subgroup, subject name)``."""
    result: dict[str, list] = {}
    for member, subgroup, subject_name in session.execute(
            select(SubgroupMember.student_id, Subgroup, Subject.name)
            .join(Subgroup, Subgroup.id == SubgroupMember.subgroup_id)
            .join(Subject, Subject.id == Subgroup.subject_id)
            .where(Subgroup.class_id == class_id)
            .order_by(Subject.name, Subgroup.name)):
        result.setdefault(member, []).append((subgroup, subject_name))
    return result


def teacher_classes(session: Session, *, school_id: str, teacher_id: str):
    """What the teacher teaches in the classes of open years: rows
    ``(source, class, subject, subgroup id, subgroup name)`` from their
    assignments, the lessons they gave as a substitute (R-J6) and their
    timetable slots (R-S6)."""
    subgroup = aliased(Subgroup)
    open_year = select(Year.id).where(Year.school_id == school_id, Year.archived.is_(False))
    sources = (
        ("assignment", Assignment, Assignment.teacher_id == teacher_id),
        ("substitution", Lesson, (Lesson.teacher_id == teacher_id) & Lesson.substitute_for.is_not(None)),
        ("timetable", TimetableSlot, TimetableSlot.teacher_id == teacher_id),
    )
    rows = []
    for source, model, condition in sources:
        query = (select(SchoolClass, Subject, model.subgroup_id, subgroup.name).distinct()
                 .join(SchoolClass, SchoolClass.id == model.class_id)
                 .join(Subject, Subject.id == model.subject_id)
                 .outerjoin(subgroup, subgroup.id == model.subgroup_id)
                 .where(condition, model.school_id == school_id, SchoolClass.year_id.in_(open_year)))
        rows += [(source, *row) for row in session.execute(query)]
    return rows


def class_lessons(session: Session, *, class_id: str, subject_id: str | None, start: dt.date | None,
                  end: dt.date | None, after: tuple | None = None, limit: int | None = None):
    """``(lesson, subject name, teacher's name, replaced teacher's name)`` by
    date, entry time and id; only those after ``after`` (``(date,
    entered_at, id)``, a page's cursor) and at most ``limit`` when given."""
    teacher, replaced = aliased(Person), aliased(Person)
    query = (select(Lesson, Subject.name, teacher.full_name, replaced.full_name)
             .join(Subject, Subject.id == Lesson.subject_id)
             .outerjoin(teacher, teacher.user_id == Lesson.teacher_id)
             .outerjoin(replaced, replaced.user_id == Lesson.substitute_for)
             .where(Lesson.class_id == class_id))
    if subject_id is not None:
        query = query.where(Lesson.subject_id == subject_id)
    if start is not None:
        query = query.where(Lesson.date >= start)
    if end is not None:
        query = query.where(Lesson.date <= end)
    if after is not None:
        day, entered, lesson_id = after
        query = query.where(or_(Lesson.date > day, and_(Lesson.date == day, or_(
            Lesson.entered_at > entered, and_(Lesson.entered_at == entered, Lesson.id > lesson_id)))))
    query = query.order_by(Lesson.date, Lesson.entered_at, Lesson.id)
    if limit is not None:
        query = query.limit(limit)
    return [tuple(row) for row in session.execute(query)]


def lesson(session: Session, *, school_id: str, lesson_id: str):
    """``(lesson, class, subject name, teacher's name, replaced teacher's
    name)`` or None."""
    teacher, replaced = aliased(Person), aliased(Person)
    row = session.execute(
        select(Lesson, SchoolClass, Subject.name, teacher.full_name, replaced.full_name)
        .join(SchoolClass, SchoolClass.id == Lesson.class_id)
        .join(Subject, Subject.id == Lesson.subject_id)
        .outerjoin(teacher, teacher.user_id == Lesson.teacher_id)
        .outerjoin(replaced, replaced.user_id == Lesson.substitute_for)
        .where(Lesson.id == lesson_id, Lesson.school_id == school_id)).first()
    return tuple(row) if row is not None else None


def lesson_marks(session: Session, *, lesson_id: str) -> list[Mark]:
    return list(session.scalars(select(Mark).where(Mark.lesson_id == lesson_id, Mark.removed.is_(False))
                                .order_by(Mark.created_at, Mark.id)))


def lesson_attendance(session: Session, *, lesson_id: str) -> list[AttendanceEntry]:
    return list(session.scalars(select(AttendanceEntry).where(AttendanceEntry.lesson_id == lesson_id)
                                .order_by(AttendanceEntry.student_id)))


def names(session: Session, *, user_ids) -> dict[str, str]:
    ids = [i for i in set(user_ids) if i]
    if not ids:
        return {}
    return dict(session.execute(select(Person.user_id, Person.full_name).where(Person.user_id.in_(ids))).all())


def attendance_history(session: Session, *, school_id: str, student_id: str, start: dt.date | None,
                       end: dt.date | None, after: tuple | None = None, limit: int | None = None):
    """Every version of the student's attendance (R-J7): rows
    ``(version, lesson, subject name, name of who set it)`` by lesson date,
    lesson id and version; only those after ``after`` (``(date, lesson id,
    version)``, a page's cursor) and at most ``limit`` when given."""
    query = (select(AttendanceVersion, Lesson, Subject.name, Person.full_name)
             .join(AttendanceEntry, AttendanceEntry.id == AttendanceVersion.attendance_id)
             .join(Lesson, Lesson.id == AttendanceEntry.lesson_id)
             .join(Subject, Subject.id == Lesson.subject_id)
             .outerjoin(Person, Person.user_id == AttendanceVersion.by)
             .where(AttendanceEntry.student_id == student_id, AttendanceEntry.school_id == school_id))
    if start is not None:
        query = query.where(Lesson.date >= start)
    if end is not None:
        query = query.where(Lesson.date <= end)
    if after is not None:
        day, lesson_id, version = after
        query = query.where(or_(Lesson.date > day, and_(Lesson.date == day, or_(
            Lesson.id > lesson_id, and_(Lesson.id == lesson_id, AttendanceVersion.version > version)))))
    query = query.order_by(Lesson.date, Lesson.id, AttendanceVersion.version)
    if limit is not None:
        query = query.limit(limit)
    return [tuple(row) for row in session.execute(query)]


def lesson_attendance_history(session: Session, *, lesson_id: str, after: tuple | None = None,
                              limit: int | None = None):
    """Every version of a lesson's attendance (R-J7): rows ``(version,
    student id, student name, name of who set it)`` by student name, student
    id and version; only those after ``after`` (``(name, student id,
    version)``, a page's cursor) and at most ``limit`` when given."""
    student = aliased(Person)
    name = func.coalesce(student.full_name, "")
    query = (select(AttendanceVersion, AttendanceEntry.student_id, name, Person.full_name)
             .join(AttendanceEntry, AttendanceEntry.id == AttendanceVersion.attendance_id)
             .outerjoin(student, student.user_id == AttendanceEntry.student_id)
             .outerjoin(Person, Person.user_id == AttendanceVersion.by)
             .where(AttendanceEntry.lesson_id == lesson_id))
    if after is not None:
        after_name, student_id, version = after
        query = query.where(or_(name > after_name, and_(name == after_name, or_(
            AttendanceEntry.student_id > student_id,
            and_(AttendanceEntry.student_id == student_id, AttendanceVersion.version > version)))))
    query = query.order_by(name, AttendanceEntry.student_id, AttendanceVersion.version)
    if limit is not None:
        query = query.limit(limit)
    return [tuple(row) for row in session.execute(query)]


def final_marks(session: Session, *, school_id: str, student_id: str, year: Year):
    """The student's current final marks of the year: rows ``(final mark,
    subject name)``."""
    return [tuple(row) for row in session.execute(
        select(FinalMark, Subject.name).join(Subject, Subject.id == FinalMark.subject_id)
        .join(SchoolClass, SchoolClass.id == FinalMark.class_id)
        .where(FinalMark.student_id == student_id, FinalMark.school_id == school_id,
               FinalMark.superseded.is_(False), SchoolClass.year_id == year.id))]


def periods_of_year(session: Session, *, year_id: str) -> list[Period]:
    return list(session.scalars(select(Period).where(Period.year_id == year_id).order_by(Period.starts_on)))


def subject_names(session: Session, *, school_id: str, subject_ids) -> dict[str, str]:
    ids = list(set(subject_ids))
    if not ids:
        return {}
    return dict(session.execute(select(Subject.id, Subject.name).where(
        Subject.school_id == school_id, Subject.id.in_(ids))).all())


def latest_year_of_student(session: Session, *, school_id: str, student_id: str) -> str | None:
    """The year of the student's latest class (by admission), or None."""
    return session.scalar(
        select(SchoolClass.year_id).join(Enrolment, Enrolment.class_id == SchoolClass.id)
        .where(Enrolment.student_id == student_id, SchoolClass.school_id == school_id)
        .order_by(Enrolment.enrolled_on.desc(), Enrolment.created_at.desc()).limit(1))



# The diary's extra statement (final marks and timetable) runs on every diary read: a Core
# statement built once with bind parameters (``student``, ``school``, ``day``), no ORM rows,
# prepared once per connection on PostgreSQL (planning it cost more than running it).
def _diary_statement():
    return union_all(_finals_statement(), _timetable_statement())


DIARY_EXTRAS = PreparedRead("journal_diary_extras", _diary_statement)


def _student_year(student, school, day):
    """A scalar subquery: the year of the student's class on ``day``, else of
    their latest class."""
    e, c = Enrolment.__table__, SchoolClass.__table__
    stay = select(c.c.year_id).select_from(e.join(c, c.c.id == e.c.class_id)).where(
        e.c.student_id == student, c.c.school_id == school)
    on_day = stay.where(e.c.enrolled_on <= day, or_(e.c.left_on.is_(None), e.c.left_on > day))
    latest = stay.order_by(e.c.enrolled_on.desc(), e.c.created_at.desc()).limit(1)
    return func.coalesce(on_day.order_by(e.c.enrolled_on.desc()).limit(1).scalar_subquery(),
                         latest.scalar_subquery())


def _binds():
    return (bindparam("student", type_=REF), bindparam("school", type_=REF), bindparam("day", type_=Date))


def _finals_statement():
    student, school, day = _binds()
    f, sub, c, p, y = (FinalMark.__table__, Subject.__table__, SchoolClass.__table__, Period.__table__,
                       Year.__table__)
    return (
        select(literal("f").label("tag"), f.c.period_id.label("a"), func.coalesce(p.c.name, y.c.name, "").label("b"),
               f.c.period_kind.label("c"), f.c.subject_id, sub.c.name.label("subject"), f.c.value.label("n1"),
               case((f.c.late, 1), else_=0).label("n2"), p.c.starts_on.label("start"))
        .select_from(f.join(sub, sub.c.id == f.c.subject_id).join(c, c.c.id == f.c.class_id)
                     .outerjoin(p, p.c.id == f.c.period_id).outerjoin(y, y.c.id == f.c.period_id))
        .where(f.c.student_id == student, f.c.school_id == school, f.c.superseded.is_(False),
               c.c.year_id == _student_year(student, school, day)))


def _timetable_statement():
    student, school, day = _binds()
    e, c, p = Enrolment.__table__, SchoolClass.__table__, Period.__table__
    t, sub, person, sm = TimetableSlot.__table__, Subject.__table__, Person.__table__, SubgroupMember.__table__
    klass = (select(e.c.class_id).where(
        e.c.student_id == student, e.c.school_id == school, e.c.enrolled_on <= day,
        or_(e.c.left_on.is_(None), e.c.left_on > day))
        .order_by(e.c.enrolled_on.desc()).limit(1).scalar_subquery())
    # the period containing the day, else (a holiday) the latest one begun before it
    period = (select(p.c.id).select_from(p.join(c, c.c.year_id == p.c.year_id))
              .where(c.c.id == klass, p.c.starts_on <= day)
              .order_by(p.c.starts_on.desc()).limit(1).scalar_subquery())
    groups = select(sm.c.subgroup_id).where(sm.c.student_id == student)
    return (
        select(literal("t").label("tag"), t.c.teacher_id.label("a"), person.c.full_name.label("b"),
               t.c.room.label("c"), t.c.subject_id, sub.c.name.label("subject"), t.c.weekday.label("n1"),
               t.c.number.label("n2"), null().label("start"))
        .select_from(t.join(sub, sub.c.id == t.c.subject_id).outerjoin(person, person.c.user_id == t.c.teacher_id))
        .where(t.c.class_id == klass, t.c.period_id == period,
               or_(t.c.subgroup_id.is_(None), t.c.subgroup_id.in_(groups))))


def diary_extras(session: Session, *, school_id: str, student_id: str, day: dt.date):
    """What the diary carries beside its lessons, in one statement:

    - the final marks (R-F1): the student's current ones of the year of
      their class on ``day`` (else of their latest class), in period order
      (the year's own mark last), then by subject; rows ``(period_id, period
      name, period_kind, subject_id, subject name, value, late)``;
    - the timetable (R-S6): the week of the student's class on ``day`` in
      the period containing it, or the latest begun before it, the whole
      class's slots and those of the student's subgroups, by weekday and
      number; rows ``(weekday, number, subject_id, subject name, teacher_id,
      teacher's name, room)``.

    Returns ``(finals, timetable)``."""
    rows = DIARY_EXTRAS.rows(session.connection(), {"student": student_id, "school": school_id, "day": day})
    # columns: tag, a, b, c, subject_id, subject, n1, n2, start
    finals = sorted((r for r in rows if r[0] == "f"),
                    key=lambda r: (r[8] is None, r[8] or dt.date.min, r[5], r[4]))
    slots = sorted((r for r in rows if r[0] == "t"), key=lambda r: (r[6], r[7], r[5]))
    return ([(r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7])) for r in finals],
            [(r[6], r[7], r[4], r[5], r[1], r[2], r[3]) for r in slots])
