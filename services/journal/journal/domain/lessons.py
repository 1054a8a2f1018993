"""Rules of lessons (R-J1, R-J4..R-J6), marks (R-J3, R-J9), their
corrections and removals (R-J7) and the diary's week. Pure functions of plain
values, and :func:`writable_lesson`, which reads the session it is given."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from kernel import access_rules, limits
from kernel.context import CallContext
from kernel.idempotency import IdempotentCall

from journal import errors, store
from journal.domain.chain import state_problems, verify_chain
from journal.domain.common import (
    ADMINISTRATION, _invalid, check_year_open, ident, integer, is_class_teacher, parse_date,
    require_mapping, text,
)


MARK_KINDS = ("oral", "test", "control", "homework", "lab", "practical", "written")
DEFAULT_MARK_KIND = "oral"
DEFAULT_WEIGHT = 1
MIN_WEIGHT, MAX_WEIGHT = 1, 5
MAX_MARK = 5
ENTRY_GRACE_DAYS = access_rules.ENTRY_GRACE_DAYS  # R-J5: filled on the day, or within 3 days
MAX_DIARY_DAYS = 92            # one quarter: bounds the cost of one diary read
MAX_MARKS_PER_REQUEST = limits.MARKS_PER_REQUEST
# "осв", "осв.", "освобождён(а)" as a whole word; "освоил тему" is a real comment.
_EXEMPT_RE = re.compile(r"^осв(?:\.|обожд[а-яё]*\.?)?(?=$|[\s.,;:!?()])")


def require_journal_access(actor: CallContext, *, class_teacher_id: str | None, assigned_subgroups: Iterable[str | None],
                           subgroup_id: str | None, lesson_teacher_id: str | None = None,
                           replaced_subgroups: Iterable[str | None] | None = None) -> None:
    """Lessons, marks, attendance (R-A3, R-S5, R-J6): the rule is
    :func:`kernel.access_rules.keeps_journal`, the one identity's central
    decision applies too; 403 NOT_ASSIGNED when it refuses.
    ``assigned_subgroups``: the subgroup of each of the actor's assignments
    for the class and subject (None = the whole class);
    ``lesson_teacher_id``: who gave the lesson written to;
    ``replaced_subgroups``: for a new lesson naming ``substitute_for``, the
    replaced teacher's assignments there."""
    refusal = access_rules.keeps_journal(
        actor.roles, class_teacher=is_class_teacher(actor, class_teacher_id), assigned=assigned_subgroups,
        subgroup_id=subgroup_id, gave_lesson=lesson_teacher_id is not None and lesson_teacher_id == actor.actor_id,
        replaced=replaced_subgroups)
    if refusal is not None:
        raise errors.NotAssigned()


@dataclass(frozen=True)
class LessonSpec:
    class_id: str
    subject_id: str
    date: dt.date
    topic: str
    lesson_type: str
    work_type: str | None
    homework: str | None
    subgroup_id: str | None
    substitute_for: str | None


def validate_lesson(data, *, actor_id: str) -> LessonSpec:
    """Decode ``record_lesson`` data; the topic is required (R-J1)."""
    data = require_mapping(data, "data")
    spec = LessonSpec(
        class_id=ident(data.get("class_id"), "class_id"),
        subject_id=ident(data.get("subject_id"), "subject_id"),
        date=parse_date(data.get("date"), "date"),
        topic=text(data.get("topic"), "topic", max_len=limits.LESSON_TOPIC),
        lesson_type=text(data.get("lesson_type"), "lesson_type", max_len=limits.LESSON_TYPE),
        work_type=text(data.get("work_type"), "work_type", required=False, max_len=limits.LESSON_WORK_TYPE),
        homework=text(data.get("homework"), "homework", required=False, max_len=limits.LESSON_HOMEWORK),
        subgroup_id=ident(data.get("subgroup_id"), "subgroup_id", required=False),
        substitute_for=ident(data.get("substitute_for"), "substitute_for", required=False),
    )
    if spec.substitute_for is not None and spec.substitute_for == actor_id:
        raise _invalid("substitute_for", errors.text("substitute_self"))
    return spec


def check_lesson_date(day: dt.date, periods: Iterable[tuple]) -> None:
    """A lesson date lies inside one of the year's periods ``(starts_on, ends_on)``."""
    if not any(start <= day <= end for start, end in periods):
        raise errors.LessonOutsidePeriod(details={"date": day.isoformat()})


def check_substitute(assigned_subgroups: Iterable[str | None], subgroup_id: str | None) -> None:
    """R-J6: the teacher being replaced must be the one who teaches that lesson."""
    if not access_rules.covers(assigned_subgroups, subgroup_id):
        raise errors.SubstituteNotAssigned(details={"field": "substitute_for"})


def check_homework_allowed(grade: int, homework: str | None) -> None:
    """R-J4: no homework in grade 1."""
    if grade == 1 and homework:
        raise errors.NoHomeworkInGrade1()


def entry_flags(lesson_date: dt.date, entry_date: dt.date) -> tuple[bool, bool]:
    """R-J5: ``(late, overdue)``: entered after the lesson's day; more than
    3 days after it. Both dates are the school's local dates."""
    lag = (entry_date - lesson_date).days
    return lag > 0, lag > ENTRY_GRACE_DAYS


@dataclass(frozen=True)
class MarkSpec:
    student_id: str
    value: int
    kind: str
    weight: int
    comment: str | None


def is_exempt_entry(value) -> bool:
    """R-J9: "осв." (exempt) in any spelling."""
    return isinstance(value, str) and bool(_EXEMPT_RE.match(value.strip().lower()))


def mark_value(value, *, allow_mark_1: bool) -> int:
    """An integer mark 2..5 (1..5 when the school allows 1), R-J3."""
    if is_exempt_entry(value):
        raise errors.ExemptNotAllowed(details={"value": value})
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    low = 1 if allow_mark_1 else 2
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_MARK:
        raise errors.InvalidMark(
            errors.text("mark_value_range", low=low, max_mark=MAX_MARK),
            details={"value": value if isinstance(value, (int, float, str)) else None, "min": low, "max": MAX_MARK})
    return value


def validate_mark(item, index: int, *, allow_mark_1: bool) -> MarkSpec:
    """One entry of a ``post_marks`` request."""
    where = f"marks[{index}]"
    item = require_mapping(item, where)
    student_id = ident(item.get("student_id"), f"{where}.student_id")
    value = mark_value(item.get("value"), allow_mark_1=allow_mark_1)
    kind = item.get("kind") or DEFAULT_MARK_KIND
    if kind not in MARK_KINDS:
        raise _invalid(f"{where}.kind", errors.text("mark_kind", kinds=", ".join(MARK_KINDS)))
    weight = integer(item.get("weight"), f"{where}.weight", low=MIN_WEIGHT, high=MAX_WEIGHT,
                     default=DEFAULT_WEIGHT)
    comment = text(item.get("comment"), f"{where}.comment", required=False, max_len=limits.MARK_COMMENT)
    if is_exempt_entry(comment):
        raise errors.ExemptNotAllowed(details={"field": f"{where}.comment"})
    return MarkSpec(student_id, value, kind, weight, comment)


def validate_marks(items, *, allow_mark_1: bool) -> list[MarkSpec]:
    """Every entry of a ``post_marks`` request, or the first error (all or nothing)."""
    if not isinstance(items, list) or not items:
        raise _invalid("marks", errors.text("marks_empty"))
    if len(items) > MAX_MARKS_PER_REQUEST:
        raise _invalid("marks", errors.text("marks_too_many", max_marks_per_request=MAX_MARKS_PER_REQUEST))
    return [validate_mark(item, i, allow_mark_1=allow_mark_1) for i, item in enumerate(items)]


def check_marks_allowed(grade: int) -> None:
    """R-J4: no marks in grade 1."""
    if grade == 1:
        raise errors.NoMarksInGrade1()


def check_lesson_happened(lesson_date: dt.date, today: dt.date) -> None:
    """A mark is for work done: not for a lesson that is still to come."""
    if lesson_date > today:
        raise errors.LessonInFuture(details={"date": lesson_date.isoformat()})


def check_students_in_class(student_ids: Iterable[str], enrolled: Iterable[str], *, field: str = "marks") -> None:
    """Every student must be enrolled in the lesson's class on its date
    (422 STUDENT_NOT_IN_CLASS naming the list ``field`` and the students)."""
    enrolled = set(enrolled)
    missing = sorted({s for s in student_ids if s not in enrolled})
    if missing:
        raise errors.StudentNotInClass(details={"field": field, "student_ids": missing})


def week_bounds(day: dt.date) -> tuple[dt.date, dt.date]:
    """Monday..Sunday of the week containing ``day``."""
    monday = day - dt.timedelta(days=day.weekday())
    return monday, monday + dt.timedelta(days=6)


def diary_range(from_text: str | None, to_text: str | None, today: dt.date) -> tuple[dt.date, dt.date]:
    """The diary's inclusive range: the current week by default, one end
    given = that week-long window, at most :data:`MAX_DIARY_DAYS` days."""
    start = parse_date(from_text, "from_date", required=False)
    end = parse_date(to_text, "to_date", required=False)
    if start is None and end is None:
        start, end = week_bounds(today)
    elif end is None:
        end = start + dt.timedelta(days=6)
    elif start is None:
        start = end - dt.timedelta(days=6)
    if end < start:
        raise _invalid("to_date", errors.text("range_reversed"))
    if (end - start).days + 1 > MAX_DIARY_DAYS:
        raise _invalid("to_date", errors.text("diary_range_too_long", max_diary_days=MAX_DIARY_DAYS))
    return start, end


MAX_REASON = limits.REASON


@dataclass(frozen=True)
class Correction:
    """What a PATCH asks to change (None = keep) and why."""
    value: int | None
    kind: str | None
    weight: int | None
    comment: str | None
    comment_given: bool
    reason: str


def validate_reason(data) -> str:
    """Every change of the journal states its reason (R-J7)."""
    data = require_mapping(data, "data")
    return text(data.get("reason"), "reason", max_len=MAX_REASON)


def validate_correction(data, *, allow_mark_1: bool) -> Correction:
    """Decode ``correct_mark`` data: a reason and at least one of value,
    kind, weight, comment."""
    data = require_mapping(data, "data")
    reason = validate_reason(data)
    value = mark_value(data["value"], allow_mark_1=allow_mark_1) if "value" in data else None
    kind = data.get("kind")
    if kind is not None and kind not in MARK_KINDS:
        raise _invalid("kind", errors.text("mark_kind", kinds=", ".join(MARK_KINDS)))
    weight = (integer(data.get("weight"), "weight", low=MIN_WEIGHT, high=MAX_WEIGHT)
              if data.get("weight") is not None else None)
    comment_given = "comment" in data
    comment = (text(data.get("comment"), "comment", required=False, max_len=limits.MARK_COMMENT)
               if comment_given else None)
    if is_exempt_entry(comment):
        raise errors.ExemptNotAllowed(details={"field": "comment"})
    if value is None and kind is None and weight is None and not comment_given:
        raise _invalid("value", errors.text("correction_empty"))
    return Correction(value, kind, weight, comment, comment_given, reason)


def require_may_change_mark(actor: CallContext, *, assigned_subgroups, subgroup_id: str | None,
                            lesson_teacher_id: str | None, lesson_substitute_for: str | None) -> None:
    """R-J7, :func:`kernel.access_rules.corrects_mark` (the rule identity's
    central decision applies too): the admin, the director, the deputy; a
    teacher who teaches the class and subject (``assigned_subgroups``: their
    assignments there) or who gave that lesson as a substitute. 403 otherwise."""
    refusal = access_rules.corrects_mark(
        actor.roles, assigned=assigned_subgroups, subgroup_id=subgroup_id,
        substituted=lesson_substitute_for is not None and lesson_teacher_id == actor.actor_id)
    if refusal is not None:
        raise errors.NotAllowed(errors.text("correction_not_allowed"))


def check_not_removed(removed: bool) -> None:
    if removed:
        raise errors.MarkRemoved()


def corrected_state(current: dict, change: Correction) -> dict:
    """The mark's fields after ``change``; 422 NOTHING_CHANGED when equal."""
    new = {
        "value": change.value if change.value is not None else current["value"],
        "kind": change.kind if change.kind is not None else current["kind"],
        "weight": change.weight if change.weight is not None else current["weight"],
        "comment": change.comment if change.comment_given else current["comment"],
    }
    if all(new[k] == current[k] for k in new):
        raise errors.NothingChanged()
    return new


STAFF_EXCLUDED = frozenset({"student", "parent"})


def is_staff(actor: CallContext) -> bool:
    """Anyone of the school who is not only a student or a parent."""
    return bool(actor.roles - STAFF_EXCLUDED)


def require_staff(actor: CallContext) -> None:
    if not is_staff(actor):
        raise errors.NotAllowed()


def verify_mark(current: dict, versions: Sequence[tuple[dict, str, str]]) -> list[str]:
    """Every problem of one mark: ``chain`` (a version edited, removed or
    re-hashed out of order) and the current-state fields that disagree."""
    problems = [] if verify_chain(versions) else ["chain"]
    problems += state_problems(current, versions[-1][0] if versions else None)
    return problems


def writable_lesson(s: Session | Connection, actor: CallContext, lesson_id: str, key: IdempotentCall):
    """The lesson the actor may write to (R-A3, R-J6) in a year still open,
    with what its checks need, read in one statement together with the row
    of the call's Idempotency-Key (:func:`journal.store.lessons.lesson_write_context`).
    A stored first result wins over the checks
    (:class:`kernel.idempotency.Replayed`); NOT_FOUND, FORBIDDEN or
    YEAR_CLOSED otherwise. Marks and attendance both start here."""
    lesson = store.lessons.lesson_write_context(s, school_id=actor.school_id, lesson_id=lesson_id,
                                                teacher_id=actor.actor_id, key=key)
    if lesson is None:
        key.replay(s)  # the lesson is gone: a first result still wins
        raise errors.NotFound(errors.text("lesson_not_found"), details={"field": "lesson_id"})
    key.replay_stored(lesson.key_fingerprint, lesson.key_result)
    require_journal_access(actor, class_teacher_id=lesson.class_teacher_id, subgroup_id=lesson.subgroup_id,
                           assigned_subgroups=lesson.assigned_subgroups, lesson_teacher_id=lesson.teacher_id)
    check_year_open(lesson.archived)
    return lesson


def may_view_class_journal(s: Session, *, klass, viewer_id: str, roles) -> bool:
    """The class journal grid: the administration, the class teacher, or a
    teacher assigned to the class."""
    if set(roles or ()) & set(ADMINISTRATION):
        return True
    if klass.class_teacher_id == viewer_id:
        return True
    return store.reads.teaches_class(s, class_id=klass.id, teacher_id=viewer_id)
