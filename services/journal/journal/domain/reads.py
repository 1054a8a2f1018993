"""Rules of the list reads (API.md "Reads the portal and scripts need"):
who may read what (the journal's second check after identity's decision at
the gateway), the query values, the pages and the items' shape."""
from __future__ import annotations

import datetime as dt

from kernel import paging
from kernel.context import CallContext

from journal import errors
from journal.domain.common import ADMINISTRATION, TEACHING_ROLES, ident, parse_date
from journal.domain.lessons import is_staff

# attendance history (R-J7): the administration only
HISTORY_READERS = ADMINISTRATION
SOURCES = ("assignment", "substitution", "timetable")  # GET /me/classes, strongest first


def page(items, key, query) -> dict:
    """A page of ``items`` (:func:`kernel.paging.page`) for the query's
    ``limit`` and ``cursor``; 400 naming the field when either is bad."""
    query = query or {}
    try:
        return paging.page(items, key, limit=query.get("limit"), cursor=query.get("cursor"))
    except paging.BadPage as exc:
        raise _bad_page(exc) from None


def lesson_page_bounds(query) -> tuple[int, tuple | None]:
    """``(limit, after)`` of a page of a class's lessons, the cursor read as
    ``(date, entered_at, id)`` for the database (:func:`lesson_key`)."""
    return _bounds(query, lambda key: (dt.date.fromisoformat(key[0]), _aware(key[1]), _text(key[2])))


def history_page_bounds(query) -> tuple[int, tuple | None]:
    """``(limit, after)`` of a page of an attendance history, the cursor read
    as ``(lesson date, lesson id, version)`` (:func:`history_key`)."""
    return _bounds(query, lambda key: (dt.date.fromisoformat(key[0]), _text(key[1]), _whole(key[2])))


def _bounds(query, read) -> tuple[int, tuple | None]:
    try:
        limit = paging.check_limit(query.get("limit"))
        key = paging.decode_cursor(query.get("cursor"), 3)
        if key is None:
            return limit, None
        try:
            return limit, read(key)
        except (TypeError, ValueError):
            raise paging.BadPage("cursor") from None
    except paging.BadPage as exc:
        raise _bad_page(exc) from None


def _aware(value) -> dt.datetime:
    at = dt.datetime.fromisoformat(value)
    if at.tzinfo is None:
        raise ValueError(value)
    return at


def _text(value) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def _whole(value) -> int:
    if not isinstance(value, int):
        raise TypeError(value)
    return value


def _bad_page(exc: paging.BadPage) -> errors.ValidationError:
    return errors.ValidationError(errors.text(f"page_{exc.field}", max=paging.limits.LIST_LIMIT_MAX),
                                  details={"field": exc.field})


def query_of(value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise errors.ValidationError(errors.text("field_not_object", field="query"), details={"field": "query"})
    return value


def date_range(query: dict) -> tuple[dt.date | None, dt.date | None]:
    """``from`` and ``to`` (both optional); ``to`` before ``from`` is 400."""
    start = parse_date(query.get("from"), "from", required=False)
    end = parse_date(query.get("to"), "to", required=False)
    if start is not None and end is not None and end < start:
        raise errors.ValidationError(errors.text("range_reversed"), details={"field": "to"})
    return start, end


def optional_id(query: dict, field: str) -> str | None:
    return ident(query.get(field), field, required=False)


def require_staff(actor: CallContext) -> None:
    if not is_staff(actor):
        raise errors.NotAllowed()


def sees_class(actor: CallContext, *, class_teacher_id: str | None, teaches: bool) -> bool:
    """A class's students and lessons: the administration, its class
    teacher, a teacher assigned to it (the class journal's rule)."""
    return actor.has(*ADMINISTRATION) or class_teacher_id == actor.actor_id or teaches


def sees_families(actor: CallContext, *, class_teacher_id: str | None) -> bool:
    """Parents and their consent in a class list: the class teacher and the
    administration (R-A2, R-A4)."""
    return actor.has(*ADMINISTRATION) or class_teacher_id == actor.actor_id


def may_list_own_classes(actor: CallContext) -> bool:
    return actor.has(*TEACHING_ROLES, *ADMINISTRATION)


def person(user_id: str | None, name: str | None) -> dict | None:
    if not user_id:
        return None
    return {"id": user_id, "full_name": name or ""}


def year_item(year, periods) -> dict:
    return {"id": year.id, "name": year.name, "starts_on": year.starts_on.isoformat(),
            "ends_on": year.ends_on.isoformat(), "closed": bool(year.archived),
            "periods": [{"id": p.id, "name": p.name, "kind": p.kind, "starts_on": p.starts_on.isoformat(),
                         "ends_on": p.ends_on.isoformat()} for p in periods]}


def lesson_item(lesson, subject_name, teacher_name, replaced_name) -> dict:
    return {
        "id": lesson.id, "class_id": lesson.class_id, "subject": {"id": lesson.subject_id, "name": subject_name},
        "date": lesson.date.isoformat(), "topic": lesson.topic, "lesson_type": lesson.lesson_type,
        "work_type": lesson.work_type, "homework": lesson.homework, "subgroup_id": lesson.subgroup_id,
        "teacher": person(lesson.teacher_id, teacher_name),
        "substitute_for": person(lesson.substitute_for, replaced_name),
        "entered_at": lesson.entered_at.isoformat(), "late": bool(lesson.late), "overdue": bool(lesson.overdue),
        "imported": bool(lesson.imported),
        "recorded_on": lesson.recorded_on.isoformat() if lesson.recorded_on else None,
    }


def lesson_key(item: dict) -> tuple:
    return (item["date"], item["entered_at"], item["id"])


def my_classes(rows) -> list[dict]:
    """One item per class, subject and subgroup, with the strongest source
    (an assignment before a substitution before a timetable slot)."""
    best: dict[tuple, dict] = {}
    for source, klass, subject, subgroup_id, subgroup_name in rows:
        key = (klass.id, subject.id, subgroup_id)
        known = best.get(key)
        if known is not None and SOURCES.index(known["source"]) <= SOURCES.index(source):
            continue
        best[key] = {"class": {"id": klass.id, "name": klass.name, "year_id": klass.year_id},
                     "subject": {"id": subject.id, "name": subject.name},
                     "subgroup": {"id": subgroup_id, "name": subgroup_name or ""} if subgroup_id else None,
                     "source": source, "_grade": klass.grade, "_letter": klass.letter}
    return list(best.values())


def my_class_key(item: dict) -> tuple:
    return (item["_grade"], item["_letter"], item["subject"]["name"], item["subject"]["id"],
            (item["subgroup"] or {}).get("id") or "", item["class"]["id"])


def public(page_: dict) -> dict:
    """A page without the items' sort-only fields (``_`` prefixed)."""
    return {"items": [{k: v for k, v in item.items() if not k.startswith("_")} for item in page_["items"]],
            "next_cursor": page_["next_cursor"]}


def history_item(version, lesson, subject_name, by_name) -> dict:
    return {"lesson": {"id": lesson.id, "date": lesson.date.isoformat(),
                       "subject": {"id": lesson.subject_id, "name": subject_name}},
            "version": version.version, "old": version.previous, "new": version.status,
            "by": person(version.by, by_name), "at": version.at.isoformat(), "reason": version.reason}


def history_key(item: dict) -> tuple:
    return (item["lesson"]["date"], item["lesson"]["id"], item["version"])


def lesson_history_item(version, student_id, student_name, by_name) -> dict:
    return {"student": person(student_id, student_name), "version": version.version, "old": version.previous,
            "new": version.status, "by": person(version.by, by_name), "at": version.at.isoformat(),
            "reason": version.reason}


def lesson_history_key(item: dict) -> tuple:
    return (item["student"]["full_name"], item["student"]["id"], item["version"])


def lesson_history_page_bounds(query) -> tuple[int, tuple | None]:
    """``(limit, after)`` of a page of a lesson's attendance history, the
    cursor read as ``(student name, student id, version)``."""
    return _bounds(query, lambda key: (_text(key[0]), _text(key[1]), _whole(key[2])))


def final_item(final, subject_name, period_names: dict) -> dict:
    return {"id": final.id, "period": {"id": final.period_id, "name": period_names.get(final.period_id, ""),
                                       "kind": final.period_kind},
            "subject": {"id": final.subject_id, "name": subject_name}, "value": final.value,
            "late": bool(final.late), "version": final.version, "entered_at": final.entered_at.isoformat()}


def final_key(item: dict, period_order: dict) -> tuple:
    return (period_order.get(item["period"]["id"], len(period_order)), item["subject"]["name"],
            item["subject"]["id"])
