"""Projections of other services' facts (people, parent links, subjects,
classes, enrolments, subgroups, teacher assignments) and the relations
read from them (who is whose parent, who teaches a class).

They are written with insert-or-update statements, because handlers of
different queues may touch the same row at the same time and a plain INSERT
would turn that race into a poison message."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ARRAY, String, any_, bindparam, delete, or_, select
from sqlalchemy.orm import Session

from kernel.events import utcnow
from kernel.db import dialect_insert

from messaging import domain
from messaging.store.models import Enrolment, NotificationSetting, ParentLink, Person, SchoolClass, SubgroupMember, Subject, TeacherAssignment

# -- people ----------------------------------------------------------------

def _locked_person(session: Session, user_id: str, now: dt.datetime) -> Person:
    # Create the row if missing without racing another handler, then lock it
    # so the read-decide-write below is not interleaved.
    session.execute(dialect_insert(session, Person).values(
        user_id=user_id, roles=[], updated_at=now).on_conflict_do_nothing(index_elements=["user_id"]))
    return session.execute(
        select(Person).where(Person.user_id == user_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one()


def save_user_created(session: Session, *, user_id: str, school_id: str | None, full_name: str,
                      roles, as_of: dt.datetime, email: str | None = None) -> Person:
    """Project identity's user_created (tolerates an earlier roles_changed)."""
    now = utcnow()
    person = _locked_person(session, user_id, now)
    person.full_name = full_name
    person.email = email or person.email
    person.school_id = school_id or person.school_id
    if domain.is_newer(as_of, person.roles_as_of):
        person.roles, person.roles_as_of = list(roles), as_of
    person.updated_at = now
    session.flush()
    return person


def save_roles(session: Session, *, user_id: str, school_id: str | None, roles, as_of: dt.datetime) -> Person:
    """Project identity's roles_changed; an older change never overwrites a newer one."""
    now = utcnow()
    person = _locked_person(session, user_id, now)
    person.school_id = person.school_id or school_id
    if domain.is_newer(as_of, person.roles_as_of):
        person.roles, person.roles_as_of = list(roles), as_of
    person.updated_at = now
    session.flush()
    return person


def get_person(session: Session, *, user_id: str) -> Person | None:
    return session.get(Person, user_id)

# -- parent links, subjects, classes, enrolments ----------------------------

def save_parent_link(session: Session, *, school_id: str, student_id: str, parent_id: str,
                     relation: str | None) -> None:
    stmt = dialect_insert(session, ParentLink).values(
        student_id=student_id, parent_id=parent_id, school_id=school_id, relation=relation, linked_at=utcnow())
    session.execute(stmt.on_conflict_do_update(
        index_elements=["student_id", "parent_id"], set_={"relation": stmt.excluded.relation}))


def parent_ids(session: Session, *, school_id: str, student_id: str) -> list[str]:
    """The parents linked to ``student_id`` in ``school_id``."""
    return list(session.scalars(
        select(ParentLink.parent_id).where(ParentLink.student_id == student_id, ParentLink.school_id == school_id)
        .order_by(ParentLink.parent_id)))


def save_subject(session: Session, *, school_id: str, subject_id: str, name: str) -> None:
    stmt = dialect_insert(session, Subject).values(subject_id=subject_id, school_id=school_id, name=name)
    session.execute(stmt.on_conflict_do_update(index_elements=["subject_id"], set_={"name": stmt.excluded.name}))


def subject_name(session: Session, *, subject_id: str) -> str | None:
    return session.scalar(select(Subject.name).where(Subject.subject_id == subject_id))


def subject_names(session: Session, *, subject_ids) -> dict:
    """``{subject_id: name}`` of the known ones of ``subject_ids``."""
    ids = list(set(subject_ids))
    if not ids:
        return {}
    return dict(session.execute(select(Subject.subject_id, Subject.name).where(Subject.subject_id.in_(ids))).all())


def save_class(session: Session, *, school_id: str, class_id: str, year_id: str | None, grade: int | None,
               letter: str | None, name: str, class_teacher_id: str | None) -> None:
    values = dict(year_id=year_id, grade=grade, letter=letter, name=name, class_teacher_id=class_teacher_id)
    stmt = dialect_insert(session, SchoolClass).values(class_id=class_id, school_id=school_id, **values)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["class_id"], set_={k: getattr(stmt.excluded, k) for k in values}))


def save_enrolment(session: Session, *, school_id: str, student_id: str, class_id: str,
                   order_no: str | None, enrolled_on: dt.date | None) -> None:
    stmt = dialect_insert(session, Enrolment).values(
        student_id=student_id, class_id=class_id, school_id=school_id, order_no=order_no, enrolled_on=enrolled_on)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["student_id", "class_id"],
        set_={"order_no": stmt.excluded.order_no, "enrolled_on": stmt.excluded.enrolled_on}))


def end_enrolment(session: Session, *, school_id: str, student_id: str, class_id: str,
                  on: dt.date | None) -> int:
    """The student left ``class_id`` (transfer or departure): drop the
    enrolment, unless it began on or after ``on`` -- then it is a later
    return to that class whose ``student_enrolled`` overtook this event
    (each event type has its own queue, so their order is not guaranteed)."""
    stmt = delete(Enrolment).where(Enrolment.student_id == student_id, Enrolment.class_id == class_id,
                                   Enrolment.school_id == school_id)
    if on is not None:
        stmt = stmt.where(or_(Enrolment.enrolled_on.is_(None), Enrolment.enrolled_on < on))
    return session.execute(stmt).rowcount


def save_subgroup(session: Session, *, school_id: str, subgroup_id: str, class_id: str, student_ids) -> None:
    """Project subgroup_created: its members (a replay adds nothing twice)."""
    rows = [{"subgroup_id": subgroup_id, "student_id": s, "school_id": school_id, "class_id": class_id}
            for s in dict.fromkeys(student_ids)]
    if rows:
        session.execute(dialect_insert(session, SubgroupMember).values(rows)
                        .on_conflict_do_nothing(index_elements=["subgroup_id", "student_id"]))


def subgroup_students(session: Session, *, school_id: str, subgroup_id: str) -> list[str] | None:
    """The students of a subgroup, or None when messaging has not heard of it."""
    students = list(session.scalars(select(SubgroupMember.student_id).where(
        SubgroupMember.subgroup_id == subgroup_id, SubgroupMember.school_id == school_id)
        .order_by(SubgroupMember.student_id)))
    return students or None

# -- relations behind the who-may-write table (R-A3) ---------------------------

def save_assignment(session: Session, *, school_id: str, assignment_id: str, teacher_id: str, class_id: str,
                    subject_id: str | None) -> None:
    values = dict(teacher_id=teacher_id, class_id=class_id, subject_id=subject_id)
    stmt = dialect_insert(session, TeacherAssignment).values(assignment_id=assignment_id, school_id=school_id, **values)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["assignment_id"], set_={k: getattr(stmt.excluded, k) for k in values}))


def people(session: Session, *, school_id: str, ids) -> dict:
    """``{user_id: Person}`` of those of ``ids`` known in ``school_id``."""
    ids = list(ids)
    if not ids:
        return {}
    rows = session.scalars(select(Person).where(Person.user_id.in_(ids), Person.school_id == school_id))
    return {p.user_id: p for p in rows}


@dataclass(frozen=True)
class Contact:
    """What notifying someone needs: their school, name, address and e-mail mode."""
    user_id: str
    school_id: str | None
    full_name: str | None
    email: str | None
    email_mode: str


def contacts(session: Session, *, ids) -> dict:
    """``{user_id: Contact}`` of those of ``ids`` known at all, with their
    e-mail setting (the default when they have none): one query."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    rows = session.execute(
        select(Person.user_id, Person.school_id, Person.full_name, Person.email, NotificationSetting.email_mode)
        .outerjoin(NotificationSetting, NotificationSetting.user_id == Person.user_id)
        .where(Person.user_id.in_(ids)))
    return {r[0]: Contact(r[0], r[1], r[2], r[3], r[4] or domain.DEFAULT_EMAIL_MODE) for r in rows}


def children_of(session: Session, *, school_id: str, parent_id: str) -> list[str]:
    return list(session.scalars(select(ParentLink.student_id).where(
        ParentLink.parent_id == parent_id, ParentLink.school_id == school_id)))


def classes_of(session: Session, *, school_id: str, student_ids) -> list[str]:
    student_ids = list(student_ids)
    if not student_ids:
        return []
    return list(session.scalars(select(Enrolment.class_id).where(
        Enrolment.student_id.in_(student_ids), Enrolment.school_id == school_id).distinct()))


def teachers_of_classes(session: Session, *, school_id: str, class_ids) -> set[str]:
    """Subject teachers and class teachers of ``class_ids``."""
    class_ids = list(class_ids)
    if not class_ids:
        return set()
    subject = session.scalars(select(TeacherAssignment.teacher_id).where(
        TeacherAssignment.class_id.in_(class_ids), TeacherAssignment.school_id == school_id))
    head = session.scalars(select(SchoolClass.class_teacher_id).where(
        SchoolClass.class_id.in_(class_ids), SchoolClass.school_id == school_id))
    return {t for t in [*subject, *head] if t}


def get_class(session: Session, *, school_id: str, class_id: str) -> SchoolClass | None:
    c = session.get(SchoolClass, class_id)
    return c if c is not None and c.school_id == school_id else None


def students_of_class(session: Session, *, school_id: str, class_id: str) -> list[str]:
    return list(session.scalars(select(Enrolment.student_id).where(
        Enrolment.class_id == class_id, Enrolment.school_id == school_id).order_by(Enrolment.student_id)))


def parents_of_students(session: Session, *, school_id: str, student_ids) -> dict:
    """``{student_id: [parent_id, ...]}``."""
    student_ids = list(student_ids)
    out: dict = {s: [] for s in student_ids}
    if not student_ids:
        return out
    for student_id, parent_id in session.execute(select(ParentLink.student_id, ParentLink.parent_id).where(
            ParentLink.student_id.in_(student_ids), ParentLink.school_id == school_id)
            .order_by(ParentLink.parent_id)):
        out[student_id].append(parent_id)
    return out


def parents_by_student(session: Session, *, pairs) -> dict:
    """``{(school_id, student_id): [parent_id, ...]}`` for the (school,
    student) ``pairs`` of a batch of events, in one query."""
    pairs = set(pairs)
    out: dict = {pair: [] for pair in pairs}
    if not pairs:
        return out
    students = sorted({student for _, student in pairs})
    connection = session.connection()
    # Core, one bound list: a batch asks for 30 to 300 students, and the ORM
    # statement with an IN of literal values cost a third of the consumer's
    # CPU per class (coercing and rendering every value)
    statement = _PARENTS_ANY if connection.dialect.name == "postgresql" else _PARENTS_IN
    for school_id, student_id, parent_id in connection.execute(statement, {"students": students}):
        if (school_id, student_id) in out:
            out[(school_id, student_id)].append(parent_id)
    return out


_LINKS = ParentLink.__table__
_PARENTS = select(_LINKS.c.school_id, _LINKS.c.student_id, _LINKS.c.parent_id).order_by(_LINKS.c.parent_id)
# PostgreSQL: ``student_id = ANY(%(students)s)``, the list as one array
# parameter; elsewhere an expanding IN.
_PARENTS_ANY = _PARENTS.where(_LINKS.c.student_id == any_(bindparam("students", type_=ARRAY(String(36)))))
_PARENTS_IN = _PARENTS.where(_LINKS.c.student_id.in_(bindparam("students", expanding=True)))


def school_people(session: Session, *, school_id: str) -> list[Person]:
    return list(session.scalars(select(Person).where(Person.school_id == school_id).order_by(Person.user_id)))


def people_with_role(session: Session, *, role: str, school_id: str | None = None) -> list[Person]:
    """Everyone with ``role`` (of one school, or of every school)."""
    query = select(Person).order_by(Person.school_id, Person.user_id)
    if school_id is not None:
        query = query.where(Person.school_id == school_id)
    return [p for p in session.scalars(query) if role in (p.roles or ())]


def classes_taught_by(session: Session, *, school_id: str, teacher_id: str) -> set[str]:
    subject = session.scalars(select(TeacherAssignment.class_id).where(
        TeacherAssignment.teacher_id == teacher_id, TeacherAssignment.school_id == school_id))
    head = session.scalars(select(SchoolClass.class_id).where(
        SchoolClass.class_teacher_id == teacher_id, SchoolClass.school_id == school_id))
    return {*subject, *head}
