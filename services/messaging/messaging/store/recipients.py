"""The people of a school in a stable order (full name, id) from a
position, and the classes that tell them apart in a list of recipients."""
from __future__ import annotations

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from messaging.store.models import Enrolment, ParentLink, Person, SchoolClass


def people_after(session: Session, *, school_id: str, after: tuple | None, limit: int) -> list[Person]:
    """At most ``limit`` people of the school after the sort key ``after``
    (``(full_name, user_id)``; a person without a name sorts as "")."""
    name = func.coalesce(Person.full_name, "")
    query = select(Person).where(Person.school_id == school_id)
    if after is not None:
        last_name, last_id = after
        query = query.where(or_(name > last_name, and_(name == last_name, Person.user_id > last_id)))
    return list(session.scalars(query.order_by(name, Person.user_id).limit(limit)))


def classes_of_people(session: Session, *, school_id: str, ids) -> dict:
    """``{user_id: SchoolClass}`` for ``ids``: a student's class, a parent's
    child's class, the class a class teacher leads (the first by name)."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    found: dict = {}

    def add(pairs):
        for user_id, klass in sorted(pairs, key=lambda p: (p[1].name, p[1].class_id)):
            found.setdefault(user_id, klass)

    add(session.execute(select(Enrolment.student_id, SchoolClass).join(
        SchoolClass, SchoolClass.class_id == Enrolment.class_id).where(
        Enrolment.student_id.in_(ids), Enrolment.school_id == school_id)).all())
    add(session.execute(select(ParentLink.parent_id, SchoolClass).join(
        Enrolment, Enrolment.student_id == ParentLink.student_id).join(
        SchoolClass, SchoolClass.class_id == Enrolment.class_id).where(
        ParentLink.parent_id.in_(ids), ParentLink.school_id == school_id)).all())
    add(session.execute(select(SchoolClass.class_teacher_id, SchoolClass).where(
        SchoolClass.class_teacher_id.in_(ids), SchoolClass.school_id == school_id)).all())
    return found
