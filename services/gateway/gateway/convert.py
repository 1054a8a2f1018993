"""Pure helpers of the views: protobuf replies to the API's JSON shapes and
the diary's date range. No Flask, no I/O."""
from __future__ import annotations

import datetime as dt

MAX_DIARY_DAYS = 92  # the journal's own limit (inclusive days)


def token_pair(reply) -> dict:
    """identity ``TokenPair`` as the login answer (API.md)."""
    return {
        "access_token": reply.access_token,
        "refresh_token": reply.refresh_token,
        "token_type": "Bearer",
        "expires_in": reply.expires_in,
        "user": {"id": reply.user_id, "roles": list(reply.roles)},
    }


def profile(reply) -> dict:
    """identity ``Profile`` as ``GET /me`` (empty class ids become null)."""
    return {
        "id": reply.id,
        "login": reply.login,
        "full_name": reply.full_name,
        "roles": list(reply.roles),
        "children": [{"id": c.id, "full_name": c.full_name, "class_id": c.class_id or None}
                     for c in reply.children],
        "classes": [{"id": c.id, "role": c.role} for c in reply.classes],
    }


def diary(reply, first: dt.date, last: dt.date) -> dict:
    """journal ``Diary`` as ``GET /students/{id}/diary`` ("" attendance and
    room are null); ``from``/``to`` the range the journal answered (``first``/``last``,
    the one asked, if it does not say)."""
    return {
        "student_id": reply.student_id,
        "from": reply.from_date or first.isoformat(),
        "to": reply.to_date or last.isoformat(),
        "days": [{
            "date": day.date,
            "lessons": [{
                "lesson_id": lesson.lesson_id,
                "subject_id": lesson.subject_id,
                "subject": lesson.subject,
                "topic": lesson.topic,
                "homework": lesson.homework,
                "lesson_type": lesson.lesson_type,
                "marks": [{"id": m.id, "value": m.value, "kind": m.kind, "weight": m.weight,
                           "comment": m.comment} for m in lesson.marks],
                "attendance": lesson.attendance or None,
            } for lesson in day.lessons],
        } for day in reply.days],
        # the year's current final marks (R-F1) and the class's week (R-S6)
        "finals": [{"period": {"id": f.period_id, "name": f.period, "kind": f.period_kind},
                    "subject": {"id": f.subject_id, "name": f.subject}, "value": f.value, "late": f.late}
                   for f in reply.finals],
        "timetable": [{"weekday": t.weekday, "number": t.number, "subject_id": t.subject_id, "subject": t.subject,
                       "teacher_id": t.teacher_id, "teacher": t.teacher, "room": t.room or None}
                      for t in reply.timetable],
    }


def week_of(day: dt.date) -> tuple[dt.date, dt.date]:
    """Monday..Sunday of ``day``'s week."""
    monday = day - dt.timedelta(days=day.weekday())
    return monday, monday + dt.timedelta(days=6)


def diary_range(start: str | None, end: str | None, today: dt.date) -> tuple[dt.date, dt.date] | str:
    """The diary's (from, to), inclusive, from already-validated YYYY-MM-DD
    strings or None; a problem key of gateway.messages if the range is bad.

    Neither given: the current week (the journal answers the latest week
    with lessons instead when it is empty); one given: a week from/to it.
    """
    week = dt.timedelta(days=6)
    first = dt.date.fromisoformat(start) if start else None
    last = dt.date.fromisoformat(end) if end else None
    if first is None and last is None:
        first, last = week_of(today)
    elif first is None:
        first = last - week
    elif last is None:
        last = first + week
    if first > last:
        return "problem.date_order"
    if (last - first).days >= MAX_DIARY_DAYS:
        return "problem.date_range"
    return first, last
