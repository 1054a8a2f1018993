"""The school's directory (``GET /users``): users of a school in a stable
order (full name, id) from a position, the families of a class teacher's
classes, and which logins are locked by throttling."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from identity import domain
from identity.store.models import ClassTeacher, LoginFailure, ParentLink, StudentClass, User


def users_after(session: Session, *, school_id: str, after: tuple | None, limit: int,
                ids: frozenset | None = None) -> list[User]:
    """At most ``limit`` users of the school after the sort key ``after``
    (``(full_name, id)``), by full name then id; only ``ids`` when given."""
    query = select(User).where(User.school_id == school_id)
    if ids is not None:
        if not ids:
            return []
        query = query.where(User.id.in_(sorted(ids)))
    if after is not None:
        name, last_id = after
        query = query.where(or_(User.full_name > name, and_(User.full_name == name, User.id > last_id)))
    return list(session.scalars(query.order_by(User.full_name, User.id).limit(limit)))


def families_of_class_teacher(session: Session, *, school_id: str, teacher_id: str) -> frozenset:
    """The ids of the students of the classes ``teacher_id`` leads (identity's
    projection of the journal's classes and enrolments) and of their parents."""
    classes = select(ClassTeacher.class_id).where(ClassTeacher.teacher_id == teacher_id,
                                                  ClassTeacher.school_id == school_id)
    students = set(session.scalars(select(StudentClass.student_id).where(
        StudentClass.class_id.in_(classes), StudentClass.school_id == school_id)))
    if not students:
        return frozenset()
    parents = set(session.scalars(select(ParentLink.parent_id).where(
        ParentLink.student_id.in_(sorted(students)), ParentLink.school_id == school_id)))
    return frozenset(students | parents)


def locked_logins(session: Session, *, users, now: dt.datetime) -> set[str]:
    """The ids of ``users`` whose logins are held back by throttling now:
    :data:`identity.domain.FREE_FAILURES` failed logins or more within the
    throttle window (what ``POST /users/{id}/unlock`` clears)."""
    keys = {"login:" + domain.login_key(u.login): u.id for u in users}
    if not keys:
        return set()
    rows = session.execute(
        select(LoginFailure.key, func.count(LoginFailure.id))
        .where(LoginFailure.key.in_(sorted(keys)), LoginFailure.at >= now - domain.THROTTLE_WINDOW)
        .group_by(LoginFailure.key))
    return {keys[key] for key, count in rows if count >= domain.FREE_FAILURES}
