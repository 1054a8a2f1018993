"""Rules of the historical import of lessons: a school that moves from the
paper journal to this one mid-year transcribes the lessons already held
(R-J1) without making every one of them look like a late electronic entry.

What keeps the entry deadline (R-J5) honest for everyone else:
- only the admin imports, never a teacher (403 otherwise);
- every imported lesson says so in its record (``imported``) and in its
  ``lesson_recorded`` event, with ``recorded_on``, the day the entry was made
  in the paper journal as the paper says, and ``entered_at`` is still the
  real moment of the import;
- late and overdue are computed from ``recorded_on`` exactly as R-J5 computes
  them from the entry day, so a paper entry made late is still late;
- only lessons before today: today's lesson is entered in this journal;
- the teacher named must exist in the school and be allowed to keep that
  journal (assigned to the class and subject, its class teacher, or the
  substitute of one who is), like a teacher entering it.

Pure Python like :mod:`journal.domain`.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from journal import domain, errors
from journal.domain import _invalid
from kernel.errors import ServiceError

MAX_LESSONS = 1000


@dataclass(frozen=True)
class ImportedLesson:
    row: int                  # the index in ``lessons``
    teacher_id: str
    spec: domain.LessonSpec
    recorded_on: dt.date


def at_row(row: int, exc: ServiceError) -> ServiceError:
    """The same error, saying which lesson of the request it is about."""
    details = dict(exc.details or {})
    if "field" in details:
        details["field"] = f"lessons[{row}].{details['field']}"
    details["row"] = row
    return type(exc)(exc.message, code=exc.code, details=details)


def validate_import(data) -> list[ImportedLesson]:
    """Decode ``import_lessons`` data: ``{lessons: [{teacher_id, recorded_on,
    ...the fields of POST /lessons}]}``; every lesson is checked before any
    is written."""
    data = domain.require_mapping(data, "data")
    items = data.get("lessons")
    if not isinstance(items, list) or not items:
        raise _invalid("lessons", "Передайте непустой список уроков")
    if len(items) > MAX_LESSONS:
        raise _invalid("lessons", f"Не больше {MAX_LESSONS} уроков за один запрос")
    out = []
    for row, item in enumerate(items):
        try:
            item = domain.require_mapping(item, "item")
            teacher_id = domain.ident(item.get("teacher_id"), "teacher_id")
            spec = domain.validate_lesson(item, actor_id=teacher_id)
            recorded_on = domain.parse_date(item.get("recorded_on"), "recorded_on")
        except ServiceError as exc:
            raise at_row(row, exc) from None
        out.append(ImportedLesson(row, teacher_id, spec, recorded_on))
    return out


def check_dates(lesson_date: dt.date, recorded_on: dt.date, today: dt.date) -> tuple[bool, bool]:
    """Only past lessons, entered on paper on or after their day and not in
    the future; ``(late, overdue)`` by R-J5 from the paper entry's day."""
    if lesson_date >= today:
        raise _invalid("date", "Из бумажного журнала переносятся только прошедшие уроки; "
                               "сегодняшний урок записывается в электронный журнал как обычно")
    if recorded_on < lesson_date:
        raise _invalid("recorded_on", "Запись в бумажном журнале не может быть раньше урока")
    if recorded_on > today:
        raise _invalid("recorded_on", "Дата записи в бумажном журнале не может быть в будущем")
    return domain.entry_flags(lesson_date, recorded_on)


def require_teacher(teacher_id: str, roles, *, class_teacher_id: str | None, assigned_subgroups,
                    subgroup_id: str | None, replaced_subgroups=None) -> None:
    """The teacher named keeps this journal (R-A3, R-S5), as if they entered
    it themselves (:func:`journal.domain.require_journal_access`): ``roles``
    are theirs; ``replaced_subgroups`` when the lesson names ``substitute_for``."""
    teacher = domain.Actor(teacher_id, "-", frozenset(roles or ()))
    try:
        domain.require_journal_access(teacher, class_teacher_id=class_teacher_id, subgroup_id=subgroup_id,
                                      assigned_subgroups=assigned_subgroups, replaced_subgroups=replaced_subgroups)
    except errors.NotAssigned:
        raise errors.NotAssigned("Учитель не ведёт этот предмет в этом классе",
                                 details={"field": "teacher_id"}) from None
