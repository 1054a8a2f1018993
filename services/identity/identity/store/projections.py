"""Projections of the journal's and messaging's facts and the facts of an
access decision read from them (:func:`access_facts`)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from kernel.db import dialect_insert, insert_rows
from kernel.events import utcnow

from identity import decisions
from identity.store.models import (
    ClassTeacher, LessonRef, LetterParticipant, MarkRef, StudentClass, TeacherAssignment, YearRef,
)
from identity.store.users import children_of, consent_given, get_parent_link, get_user


# --- projections ---------------------------------------------------------------

def upsert_class(session: Session, *, class_id: str, school_id: str, teacher_id: str | None,
                 name: str | None, year_id: str | None) -> ClassTeacher:
    row = session.get(ClassTeacher, class_id)
    if row is None:
        row = ClassTeacher(class_id=class_id, school_id=school_id)
        session.add(row)
    row.teacher_id, row.name, row.year_id, row.updated_at = teacher_id, name, year_id, utcnow()
    session.flush()
    return row


def upsert_student_class(session: Session, *, student_id: str, school_id: str, class_id: str,
                         since: dt.date | None) -> StudentClass:
    """Record a student's class; an older enrolment delivered late does not
    replace a newer one."""
    row = session.get(StudentClass, student_id)
    if row is None:
        row = StudentClass(student_id=student_id, school_id=school_id, class_id=class_id, since=since,
                           updated_at=utcnow())
        session.add(row)
    elif row.since is None or since is None or since >= row.since:
        row.school_id, row.class_id, row.since, row.updated_at = school_id, class_id, since, utcnow()
    session.flush()
    return row


def upsert_assignment(session: Session, *, assignment_id: str, school_id: str, teacher_id: str,
                      class_id: str, subject_id: str, subgroup_id: str | None) -> TeacherAssignment:
    row = session.get(TeacherAssignment, assignment_id)
    if row is None:
        row = TeacherAssignment(id=assignment_id, school_id=school_id)
        session.add(row)
    row.teacher_id, row.class_id, row.subject_id = teacher_id, class_id, subject_id
    row.subgroup_id, row.updated_at = subgroup_id, utcnow()
    session.flush()
    return row


def class_of_student(session: Session, *, student_id: str) -> str | None:
    row = session.get(StudentClass, student_id)
    return row.class_id if row else None


def classes_of_class_teacher(session: Session, *, teacher_id: str) -> list[str]:
    return list(session.scalars(select(ClassTeacher.class_id).where(ClassTeacher.teacher_id == teacher_id)
                                .order_by(ClassTeacher.name, ClassTeacher.class_id)))


def class_school(session: Session, *, class_id: str) -> str | None:
    """The school of a class, from whichever journal event told us about it first."""
    for column, key in ((ClassTeacher.school_id, ClassTeacher.class_id),
                        (TeacherAssignment.school_id, TeacherAssignment.class_id),
                        (StudentClass.school_id, StudentClass.class_id)):
        school_id = session.scalars(select(column).where(key == class_id).limit(1)).first()
        if school_id:
            return school_id
    return None


def upsert_lesson(session: Session, *, lesson_id: str, school_id: str, class_id: str, subject_id: str,
                  teacher_id: str | None, subgroup_id: str | None, substitute_for: str | None) -> None:
    row = session.get(LessonRef, lesson_id)
    if row is None:
        row = LessonRef(lesson_id=lesson_id, school_id=school_id)
        session.add(row)
    row.school_id, row.class_id, row.subject_id = school_id, class_id, subject_id
    row.teacher_id, row.subgroup_id, row.substitute_for = teacher_id, subgroup_id, substitute_for
    session.flush()


def add_letter(session: Session, *, message_id: str, school_id: str, sender_id: str, recipient_ids) -> None:
    """The participants of one letter; a letter already kept (a redelivered
    event) or a participant already kept gains nothing (letters never change
    their participants)."""
    rows = [{"message_id": message_id, "user_id": sender_id, "school_id": school_id, "is_sender": True}]
    rows += [{"message_id": message_id, "user_id": r, "school_id": school_id, "is_sender": False}
             for r in dict.fromkeys(recipient_ids) if r != sender_id]
    table = LetterParticipant.__table__
    session.execute(dialect_insert(session, table).on_conflict_do_nothing(
        index_elements=[table.c.message_id, table.c.user_id]), rows)


def letter_facts(session: Session, *, message_id: str, subject_id: str) -> decisions.Facts:
    """A letter identity has not seen is ``known=False`` (messaging decides)."""
    school_id = session.scalars(select(LetterParticipant.school_id).where(
        LetterParticipant.message_id == message_id).limit(1)).first()
    if school_id is None:
        return decisions.Facts(known=False)
    participant = session.get(LetterParticipant, (message_id, subject_id)) is not None
    return decisions.Facts(exists=True, school_id=school_id, participant=participant)


def add_mark_refs(session: Session, rows: list[dict]) -> None:
    """mark_posted in bulk: a mark already kept keeps its first author (a
    redelivery or a correction never changes it). Sorted by id, so two
    batches holding the same marks wait for each other, never deadlock."""
    if not rows:
        return
    table = MarkRef.__table__
    rows = sorted({r["mark_id"]: r for r in reversed(rows)}.values(), key=lambda r: r["mark_id"])
    insert_rows(session, (table, rows, ["mark_id"]))  # one multi-row INSERT ... ON CONFLICT DO NOTHING


def upsert_year(session: Session, *, year_id: str, school_id: str) -> None:
    if session.get(YearRef, year_id) is None:
        session.add(YearRef(year_id=year_id, school_id=school_id))
    session.flush()


def end_student_class(session: Session, *, student_id: str, class_id: str, on: dt.date | None) -> bool:
    """student_left: the student is in no class of the school any more,
    unless a later enrolment (into the next year) already replaced it."""
    row = session.get(StudentClass, student_id)
    if row is None or row.class_id != class_id:
        return False
    if on is not None and row.since is not None and row.since >= on:
        return False
    session.delete(row)
    session.flush()
    return True


def assignments_in(session: Session, *, teacher_id: str, class_id: str | None) -> frozenset:
    """``{(subject_id, subgroup_id)}`` of a teacher's assignments in a class."""
    if not class_id:
        return frozenset()
    return frozenset(session.execute(select(TeacherAssignment.subject_id, TeacherAssignment.subgroup_id).where(
        TeacherAssignment.teacher_id == teacher_id, TeacherAssignment.class_id == class_id)).all())


def family_classes(session: Session, *, subject_id: str) -> frozenset:
    """The subject's own class (a student) and their children's (a parent
    whose consent is given): the classes whose timetable is theirs (R-A3)."""
    found = set()
    own = class_of_student(session, student_id=subject_id)
    if own:
        found.add(own)
    children = children_of(session, parent_id=subject_id)
    if children and consent_given(session, parent_id=subject_id):
        found |= {class_of_student(session, student_id=c.id) for c in children}
    return frozenset(found - {None})


def _class_facts(session: Session, *, subject_id: str, class_id: str, school_id: str, class_teacher_of,
                 **extra) -> decisions.Facts:
    assignments = assignments_in(session, teacher_id=subject_id, class_id=class_id)
    return decisions.Facts(exists=True, school_id=school_id, class_ids=frozenset([class_id]),
                        class_teacher_of=class_teacher_of, assignments=assignments,
                        teaches=frozenset([class_id]) if assignments else frozenset(), **extra)


def access_facts(session: Session, *, subject_id: str, resource: decisions.Resource,
                 context: dict | None = None) -> decisions.Facts:
    """Everything :func:`identity.decisions.decide` needs about ``resource``.
    Lessons, marks, years and classes come from the journal's events, letters
    from messaging's: one not seen yet is ``known=False`` (its owner decides),
    and so is a mark whose lesson has not been seen yet (who gave that lesson
    decides who may correct it). ``context`` (the request's other ids): a new
    lesson's ``substitute_for`` brings the replaced teacher's assignments."""
    context = context or {}
    if resource.type == "message":
        return letter_facts(session, message_id=resource.id, subject_id=subject_id)
    class_teacher_of = frozenset(classes_of_class_teacher(session, teacher_id=subject_id))
    if resource.type == "class":
        school_id = class_school(session, class_id=resource.id)
        if school_id is None:
            return decisions.Facts(known=False)
        replaced = context.get("substitute_for")
        return _class_facts(session, subject_id=subject_id, class_id=resource.id, school_id=school_id,
                            class_teacher_of=class_teacher_of,
                            family_classes=family_classes(session, subject_id=subject_id),
                            replaced_assignments=assignments_in(session, teacher_id=replaced, class_id=resource.id)
                            if isinstance(replaced, str) and replaced else frozenset())
    if resource.type == "lesson":
        lesson = session.get(LessonRef, resource.id)
        if lesson is None:
            return decisions.Facts(known=False)
        return _class_facts(session, subject_id=subject_id, class_id=lesson.class_id, school_id=lesson.school_id,
                            class_teacher_of=class_teacher_of, item_subject_id=lesson.subject_id,
                            item_subgroup_id=lesson.subgroup_id, lesson_teacher_id=lesson.teacher_id,
                            lesson_substitute_for=lesson.substitute_for)
    if resource.type == "mark":
        mark = session.get(MarkRef, resource.id)
        lesson = session.get(LessonRef, mark.lesson_id) if mark is not None and mark.lesson_id else None
        if mark is None or lesson is None:
            return decisions.Facts(known=False)
        return _class_facts(session, subject_id=subject_id, class_id=mark.class_id, school_id=mark.school_id,
                            class_teacher_of=class_teacher_of, item_subject_id=lesson.subject_id,
                            item_subgroup_id=lesson.subgroup_id, lesson_teacher_id=lesson.teacher_id,
                            lesson_substitute_for=lesson.substitute_for)
    if resource.type == "year":
        year = session.get(YearRef, resource.id)
        if year is None:
            return decisions.Facts(known=False)
        return decisions.Facts(exists=True, school_id=year.school_id)
    if resource.type not in ("student", "user"):
        return decisions.Facts()
    user = get_user(session, user_id=resource.id)
    if user is None:
        return decisions.Facts()
    roles = frozenset(user.roles or ())
    class_ids = set()
    if "student" in roles:
        own = class_of_student(session, student_id=user.id)
        if own:
            class_ids.add(own)
    if "parent" in roles:
        for child in children_of(session, parent_id=user.id):
            own = class_of_student(session, student_id=child.id)
            if own:
                class_ids.add(own)
    parent_of = get_parent_link(session, student_id=user.id, parent_id=subject_id) is not None
    own_class = class_of_student(session, student_id=user.id) if "student" in roles else None
    assignments = assignments_in(session, teacher_id=subject_id, class_id=own_class)
    return decisions.Facts(
        exists=True, school_id=user.school_id, roles=roles, parent_of=parent_of,
        consent_given=consent_given(session, parent_id=subject_id) if parent_of else False,
        class_ids=frozenset(class_ids), class_teacher_of=class_teacher_of,
        created_by_subject=bool(user.created_by) and user.created_by == subject_id,
        assignments=assignments, teaches=frozenset([own_class]) if assignments else frozenset(),
    )


def students_of_class(session: Session, *, class_id: str) -> list[str]:
    return list(session.scalars(select(StudentClass.student_id).where(StudentClass.class_id == class_id)))
