"""Who may write what in the journal (R-A3, R-S5, R-J2, R-J6, R-J7, R-F1,
R-J8), written once.

Two services enforce these rules: identity's central access decision
(``identity.decisions.POLICY``, asked by the gateway before every journal
write) and the journal's own checks (``journal.domain``). Services never
import each other, so the rules live here and both call the same functions,
each with facts gathered from its own data (identity from its projections
of the journal's events, the journal from its tables). A rule changed here
changes on both sides; ``tests/test_access_matrix.py`` asks both for every
cell of the journal's write routes and fails when they disagree.

Pure functions over plain values: who acts (their roles) and booleans or
subgroup lists about the class, the lesson or the mark. Each returns None
when the write is allowed, or a short reason (``ROLE``, ``NOT_ASSIGNED``,
...) that each side turns into its own answer (identity: 403; the journal:
its error with a Russian message). Whether the resource exists and belongs
to the caller's school is each side's own business, before these rules.
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable

ADMIN, DIRECTOR, DEPUTY = "admin", "director", "deputy"
CLASS_TEACHER, TEACHER = "class_teacher", "teacher"
TEACHING_ROLES = frozenset({TEACHER, CLASS_TEACHER})

# Who may ever do each thing; the relation to the class, subject or lesson
# decides among them.
JOURNAL_KEEPERS = frozenset({ADMIN, CLASS_TEACHER, TEACHER})        # lessons, marks, attendance
MARK_CORRECTORS = frozenset({ADMIN, DIRECTOR, DEPUTY, CLASS_TEACHER, TEACHER})
FINAL_WRITERS = frozenset({ADMIN, CLASS_TEACHER, TEACHER})
PLAN_WRITERS = frozenset({ADMIN, DEPUTY, CLASS_TEACHER, TEACHER})
CLASS_SPLITTERS = frozenset({ADMIN, DEPUTY, CLASS_TEACHER})          # subgroups
ENROLLERS = frozenset({ADMIN, CLASS_TEACHER})                        # admission, student import

# R-J5: the journal is filled on the day of the lesson, or within 3 days.
ENTRY_GRACE_DAYS = 3

# Reasons of a refusal.
ROLE = "role"                          # the role never allows it
NOT_ASSIGNED = "not_assigned"          # no assignment, class or lesson of theirs covers it
NOT_CLASS_TEACHER = "not_class_teacher"
CLASS_TEACHER_WINDOW = "class_teacher_window"  # attendance older than the class teacher's week
GRACE_OVER = "grace_over"              # attendance older than the entry grace


def covers(assigned: Iterable[str | None], subgroup_id: str | None) -> bool:
    """Whether assignments with these subgroups (None: the whole class)
    cover a lesson of ``subgroup_id``: a whole-class assignment covers every
    subgroup, a subgroup one only its own (R-S5)."""
    return any(group is None or group == subgroup_id for group in assigned)


def keeps_journal(roles: Iterable[str], *, class_teacher: bool, assigned: Iterable[str | None],
                  subgroup_id: str | None, gave_lesson: bool = False,
                  replaced: Iterable[str | None] | None = None) -> str | None:
    """A lesson, its marks and its attendance (R-A3, R-J6): the admin; the
    class's class teacher; a teacher whose assignment in the class and
    subject covers the lesson's subgroup; the teacher who gave that very
    lesson (``gave_lesson``: a substitute keeps the lesson they gave); and,
    for a new lesson recorded as a substitution, a teacher replacing someone
    whose assignment covers it (``replaced``: the replaced teacher's
    assignments there; None when the lesson names no substitution)."""
    roles = frozenset(roles)
    if not roles & JOURNAL_KEEPERS:
        return ROLE
    if ADMIN in roles or class_teacher or covers(assigned, subgroup_id) or gave_lesson:
        return None
    if replaced is not None and roles & TEACHING_ROLES and covers(replaced, subgroup_id):
        return None
    return NOT_ASSIGNED


def corrects_mark(roles: Iterable[str], *, assigned: Iterable[str | None], subgroup_id: str | None,
                  substituted: bool) -> str | None:
    """Correcting or removing a mark (R-J7): the admin, the director and the
    deputy any mark of the school; a teacher who teaches that class and
    subject (an assignment covering the lesson's subgroup) or who gave that
    very lesson as a substitute (``substituted``). Being the mark's author
    is not enough by itself, and the class teacher as such corrects
    attendance, not marks."""
    roles = frozenset(roles)
    if not roles & MARK_CORRECTORS:
        return ROLE
    if roles & {ADMIN, DIRECTOR, DEPUTY}:
        return None
    if covers(assigned, subgroup_id) or substituted:
        return None
    return NOT_ASSIGNED


def correction_window_start(today: dt.date) -> dt.date:
    """The class teacher's weekly correction of attendance (R-J2) covers
    the current and the previous school week (Monday to Sunday)."""
    return today - dt.timedelta(days=today.weekday() + 7)


def corrects_attendance(roles: Iterable[str], *, class_teacher: bool, lesson_date: dt.date,
                        today: dt.date) -> str | None:
    """Changing an attendance entry already made (R-J2, R-J7), for someone
    who keeps that lesson (:func:`keeps_journal`): the admin always; the
    class's class teacher within the current and the previous week; the
    lesson's other keepers within the entry grace (R-J5, 3 days)."""
    if ADMIN in frozenset(roles):
        return None
    if class_teacher:
        return None if lesson_date >= correction_window_start(today) else CLASS_TEACHER_WINDOW
    return None if (today - lesson_date).days <= ENTRY_GRACE_DAYS else GRACE_OVER


def posts_final(roles: Iterable[str], *, assigned: Iterable[str | None]) -> str | None:
    """A final mark (R-F1): the admin, or a teacher assigned to that subject
    in the student's class (any subgroup). Not the class teacher as such: a
    final mark is the subject teacher's decision."""
    roles = frozenset(roles)
    if not roles & FINAL_WRITERS:
        return ROLE
    if ADMIN in roles or any(True for _ in assigned):
        return None
    return NOT_ASSIGNED


def enters_plan(roles: Iterable[str], *, assigned: Iterable[str | None]) -> str | None:
    """A thematic plan (R-J8): the admin and the deputy, or a teacher
    assigned to that subject in the class (any subgroup)."""
    roles = frozenset(roles)
    if not roles & PLAN_WRITERS:
        return ROLE
    if roles & {ADMIN, DEPUTY} or any(True for _ in assigned):
        return None
    return NOT_ASSIGNED


def splits_class(roles: Iterable[str], *, class_teacher: bool) -> str | None:
    """Subgroups (R-S5): the admin and the deputy any class, the class
    teacher their own."""
    roles = frozenset(roles)
    if not roles & CLASS_SPLITTERS:
        return ROLE
    if roles & {ADMIN, DEPUTY} or class_teacher:
        return None
    return NOT_CLASS_TEACHER


def enrols(roles: Iterable[str], *, class_teacher: bool) -> str | None:
    """Admitting students to a class, one by one or from a file (R-S2): the
    admin any class, the class teacher their own."""
    roles = frozenset(roles)
    if not roles & ENROLLERS:
        return ROLE
    if ADMIN in roles or class_teacher:
        return None
    return NOT_CLASS_TEACHER
