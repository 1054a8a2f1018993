"""Rules of corrections (R-J7), attendance (R-J2) and the tamper check of the
mark version chain. Pure Python like :mod:`journal.domain`: plain values in,
plain values (or an error of :mod:`journal.errors`) out."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Sequence

from kernel import limits

from journal import domain, errors
from journal.domain import Actor, _invalid
from kernel import access_rules

# --- corrections and removals (R-J7) ----------------------------------------

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
    data = domain.require_mapping(data, "data")
    return domain.text(data.get("reason"), "reason", max_len=MAX_REASON)


def validate_correction(data, *, allow_mark_1: bool) -> Correction:
    """Decode ``correct_mark`` data: a reason and at least one of value,
    kind, weight, comment."""
    data = domain.require_mapping(data, "data")
    reason = validate_reason(data)
    value = domain.mark_value(data["value"], allow_mark_1=allow_mark_1) if "value" in data else None
    kind = data.get("kind")
    if kind is not None and kind not in domain.MARK_KINDS:
        raise _invalid("kind", "Вид работы: " + ", ".join(domain.MARK_KINDS))
    weight = (domain.integer(data.get("weight"), "weight", low=domain.MIN_WEIGHT, high=domain.MAX_WEIGHT)
              if data.get("weight") is not None else None)
    comment_given = "comment" in data
    comment = (domain.text(data.get("comment"), "comment", required=False, max_len=limits.MARK_COMMENT)
               if comment_given else None)
    if domain.is_exempt_entry(comment):
        raise errors.ExemptNotAllowed(details={"field": "comment"})
    if value is None and kind is None and weight is None and not comment_given:
        raise _invalid("value", "Укажите новую отметку (value), вид, вес или комментарий")
    return Correction(value, kind, weight, comment, comment_given, reason)


def require_may_change_mark(actor: Actor, *, assigned_subgroups, subgroup_id: str | None,
                            lesson_teacher_id: str | None, lesson_substitute_for: str | None) -> None:
    """R-J7, :func:`kernel.access_rules.corrects_mark` (the rule identity's
    central decision applies too): the admin, the director, the deputy; a
    teacher who teaches the class and subject (``assigned_subgroups``: their
    assignments there) or who gave that lesson as a substitute. 403 otherwise."""
    refusal = access_rules.corrects_mark(
        actor.roles, assigned=assigned_subgroups, subgroup_id=subgroup_id,
        substituted=lesson_substitute_for is not None and lesson_teacher_id == actor.actor_id)
    if refusal is not None:
        raise errors.NotAllowed("Исправлять отметку может учитель, который ведёт этот предмет в классе "
                                "(или заменял на этом уроке), завуч или директор")


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


def is_staff(actor: Actor) -> bool:
    """Anyone of the school who is not only a student or a parent."""
    return bool(actor.roles - STAFF_EXCLUDED)


def require_staff(actor: Actor) -> None:
    if not is_staff(actor):
        raise errors.NotAllowed()


# --- the tamper check --------------------------------------------------------

def state_problems(current: dict, last_content: dict | None) -> list[str]:
    """Differences between a ``marks`` row and its last version's content:
    a row edited behind the service's back (the chain alone would not see
    an edit of the current-state row)."""
    if last_content is None:
        return ["no_versions"]
    fields = ("value", "kind", "weight", "comment", "removed", "lesson_id", "student_id")
    problems = [f for f in fields if current.get(f) != last_content.get(f)]
    if current.get("version") != last_content.get("version"):
        problems.append("version")
    return problems


def verify_mark(current: dict, versions: Sequence[tuple[dict, str, str]]) -> list[str]:
    """Every problem of one mark: ``chain`` (a version edited, removed or
    re-hashed out of order) and the current-state fields that disagree."""
    problems = [] if domain.verify_chain(versions) else ["chain"]
    problems += state_problems(current, versions[-1][0] if versions else None)
    return problems


def attendance_content(*, attendance_id: str, version: int, lesson_id: str, student_id: str, status: str,
                       previous: str | None, by: str, at: dt.datetime, reason: str | None) -> dict:
    """What one version of an attendance entry says: what its hash covers
    (the same chain as a mark's, :func:`journal.domain.chain_hash`)."""
    return {"attendance_id": attendance_id, "version": version, "lesson_id": lesson_id,
            "student_id": student_id, "status": status, "previous": previous, "by": by,
            "at": domain.utc_iso(at), "reason": reason}


def verify_attendance(current: dict, versions: Sequence[tuple[dict, str, str]]) -> list[str]:
    """Every problem of one attendance entry, like :func:`verify_mark`:
    ``chain``, ``no_versions``, or the fields of the ``attendance`` row
    (``status``, ``version``) that disagree with its last version."""
    problems = [] if domain.verify_chain(versions) else ["chain"]
    if not versions:
        return problems + ["no_versions"]
    last = versions[-1][0]
    problems += [f for f in ("status", "lesson_id", "student_id", "version") if current.get(f) != last.get(f)]
    return problems


# --- attendance (R-J2, R-J7) -------------------------------------------------

ATTENDANCE_STATUSES = ("present", "absent", "excused", "ill", "late")
MAX_ATTENDANCE_ENTRIES = limits.ATTENDANCE_ENTRIES


@dataclass(frozen=True)
class AttendanceInput:
    entries: tuple          # ((student_id, status), ...)
    reason: str | None


def validate_attendance(data) -> AttendanceInput:
    """Decode ``record_attendance`` data: one entry per student."""
    data = domain.require_mapping(data, "data")
    items = data.get("entries")
    if not isinstance(items, list) or not items:
        raise _invalid("entries", "Передайте непустой список отметок посещаемости")
    if len(items) > MAX_ATTENDANCE_ENTRIES:
        raise _invalid("entries", f"Не больше {MAX_ATTENDANCE_ENTRIES} записей за один запрос")
    seen, entries = set(), []
    for i, item in enumerate(items):
        item = domain.require_mapping(item, f"entries[{i}]")
        student_id = domain.ident(item.get("student_id"), f"entries[{i}].student_id")
        status = item.get("status")
        if status not in ATTENDANCE_STATUSES:
            raise _invalid(f"entries[{i}].status", "Посещаемость: " + ", ".join(ATTENDANCE_STATUSES))
        if student_id in seen:
            raise _invalid(f"entries[{i}].student_id", "Ученик указан дважды")
        seen.add(student_id)
        entries.append((student_id, status))
    reason = domain.text(data.get("reason"), "reason", required=False, max_len=MAX_REASON)
    return AttendanceInput(tuple(entries), reason)


def attendance_changes(entries, current: dict) -> list[tuple[str, str, str | None]]:
    """``(student_id, status, previous)`` for every entry that is new or
    differs from ``current`` ({student_id: status}); unchanged ones drop out."""
    return [(s, status, current.get(s)) for s, status in entries if current.get(s) != status]


def check_attendance_correction(actor: Actor, *, class_teacher_id: str | None, lesson_date: dt.date,
                                today: dt.date, reason: str | None) -> None:
    """Changing an existing attendance entry (R-J2, R-J7): a reason is
    required, and :func:`kernel.access_rules.corrects_attendance` decides
    when: the lesson's keepers within the entry grace (R-J5, 3 days), the
    class teacher within the weekly correction window, the admin always."""
    if not reason:
        raise _invalid("reason", "Укажите причину исправления посещаемости")
    refusal = access_rules.corrects_attendance(actor.roles, class_teacher=domain.is_class_teacher(
        actor, class_teacher_id), lesson_date=lesson_date, today=today)
    if refusal == access_rules.CLASS_TEACHER_WINDOW:
        raise errors.CorrectionClosed(
            "Классный руководитель исправляет посещаемость за текущую и прошлую неделю",
            details={"date": lesson_date.isoformat()})
    if refusal is not None:
        raise errors.CorrectionClosed(details={"date": lesson_date.isoformat()})
