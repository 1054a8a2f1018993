"""Queries of the school's structure: years, periods, subjects, classes,
the people projection, enrolment, assignments and subgroups."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kernel.db import new_id
from kernel.events import utcnow
from journal.store.models import (
    Assignment, Enrolment, Period, Person, SchoolClass, Subgroup, SubgroupMember, Subject, Year,
)


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


def get_period(session: Session, *, school_id: str, period_id: str) -> Period | None:
    """The school's period, or None."""
    return session.scalar(select(Period).where(Period.id == period_id, Period.school_id == school_id))


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


def subject_ids_known(session: Session, *, school_id: str, subject_ids) -> set[str]:
    """Which of ``subject_ids`` are the school's subjects."""
    ids = list(set(subject_ids))
    if not ids:
        return set()
    return set(session.scalars(select(Subject.id).where(Subject.school_id == school_id, Subject.id.in_(ids))))


def subject_emphasis(session: Session, *, school_id: str, subject_ids) -> dict[str, bool]:
    """``{subject_id: emphasis}`` of the school's subjects among ``subject_ids``."""
    ids = list(subject_ids)
    if not ids:
        return {}
    return dict(session.execute(select(Subject.id, Subject.emphasis).where(
        Subject.school_id == school_id, Subject.id.in_(ids))).all())


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


def lock_person(session: Session, *, user_id: str) -> None:
    """Serialise writes about one person (two admissions of one student at
    once would both see "not enrolled yet"). No-op on SQLite."""
    session.execute(select(Person.user_id).where(Person.user_id == user_id).with_for_update())


def open_enrolment_in_year(session: Session, *, student_id: str, year_id: str) -> Enrolment | None:
    """The student's current (not left) enrolment in any class of the year."""
    return session.scalar(select(Enrolment).join(SchoolClass, SchoolClass.id == Enrolment.class_id).where(
        Enrolment.student_id == student_id, SchoolClass.year_id == year_id, Enrolment.left_on.is_(None)))


def add_enrolment(session: Session, *, school_id: str, class_id: str, spec) -> Enrolment:
    """Insert an open enrolment from an ``EnrolmentSpec``."""
    enrolment = Enrolment(id=new_id(), school_id=school_id, student_id=spec.student_id, class_id=class_id,
                          order_no=spec.order_no, enrolled_on=spec.on)
    session.add(enrolment)
    session.flush()
    return enrolment


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
