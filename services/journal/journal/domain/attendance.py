"""Rules of attendance (R-J2): the statuses, what a request may carry, which
entries change and who may correct an entry when. Pure: plain values in,
plain values (or an error of :mod:`journal.errors`) out."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Sequence

from kernel import access_rules, limits
from kernel.context import CallContext

from journal import errors
from journal.domain.chain import verify_chain
from journal.domain.common import _invalid, ident, is_class_teacher, require_mapping, text
from journal.domain.lessons import MAX_REASON


ATTENDANCE_STATUSES = ("present", "absent", "excused", "ill", "late")
MAX_ATTENDANCE_ENTRIES = limits.ATTENDANCE_ENTRIES


@dataclass(frozen=True)
class AttendanceInput:
    entries: tuple          # ((student_id, status), ...)
    reason: str | None


def validate_attendance(data) -> AttendanceInput:
    """Decode ``record_attendance`` data: one entry per student."""
    data = require_mapping(data, "data")
    items = data.get("entries")
    if not isinstance(items, list) or not items:
        raise _invalid("entries", errors.text("attendance_entries_empty"))
    if len(items) > MAX_ATTENDANCE_ENTRIES:
        raise _invalid("entries", errors.text("attendance_entries_too_many",
                                              max_attendance_entries=MAX_ATTENDANCE_ENTRIES))
    seen, entries = set(), []
    for i, item in enumerate(items):
        item = require_mapping(item, f"entries[{i}]")
        student_id = ident(item.get("student_id"), f"entries[{i}].student_id")
        status = item.get("status")
        if status not in ATTENDANCE_STATUSES:
            raise _invalid(f"entries[{i}].status", errors.text("attendance_status",
                                                               statuses=", ".join(ATTENDANCE_STATUSES)))
        if student_id in seen:
            raise _invalid(f"entries[{i}].student_id", errors.text("student_twice"))
        seen.add(student_id)
        entries.append((student_id, status))
    reason = text(data.get("reason"), "reason", required=False, max_len=MAX_REASON)
    return AttendanceInput(tuple(entries), reason)


def attendance_changes(entries, current: dict) -> list[tuple[str, str, str | None]]:
    """``(student_id, status, previous)`` for every entry that is new or
    differs from ``current`` ({student_id: status}); unchanged ones drop out."""
    return [(s, status, current.get(s)) for s, status in entries if current.get(s) != status]


def check_attendance_correction(actor: CallContext, *, class_teacher_id: str | None, lesson_date: dt.date,
                                today: dt.date, reason: str | None) -> None:
    """Changing an existing attendance entry (R-J2, R-J7): a reason is
    required, and :func:`kernel.access_rules.corrects_attendance` decides
    when: the lesson's keepers within the entry grace (R-J5, 3 days), the
    class teacher within the weekly correction window, the admin always."""
    if not reason:
        raise _invalid("reason", errors.text("attendance_reason_required"))
    refusal = access_rules.corrects_attendance(actor.roles, class_teacher=is_class_teacher(
        actor, class_teacher_id), lesson_date=lesson_date, today=today)
    if refusal == access_rules.CLASS_TEACHER_WINDOW:
        raise errors.CorrectionClosed(
            errors.text("attendance_class_teacher_window"),
            details={"date": lesson_date.isoformat()})
    if refusal is not None:
        raise errors.CorrectionClosed(details={"date": lesson_date.isoformat()})


def verify_attendance(current: dict, versions: Sequence[tuple[dict, str, str]]) -> list[str]:
    """Every problem of one attendance entry, like :func:`journal.domain.lessons.verify_mark`:
    ``chain``, ``no_versions``, or the fields of the ``attendance`` row
    (``status``, ``version``) that disagree with its last version."""
    problems = [] if verify_chain(versions) else ["chain"]
    if not versions:
        return problems + ["no_versions"]
    last = versions[-1][0]
    problems += [f for f in ("status", "lesson_id", "student_id", "version") if current.get(f) != last.get(f)]
    return problems
