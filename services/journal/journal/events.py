"""The journal's events: type names and payload builders (docs/events.md).

A payload only ever gains fields within one version; changing or removing a
field is a new version. Dates are ``YYYY-MM-DD``.
"""
from __future__ import annotations

from journal.domain.common import hours_value

PRODUCER = "journal"

YEAR_OPENED = "year_opened"
SUBJECT_CREATED = "subject_created"
SUBJECT_UPDATED = "subject_updated"
CLASS_CREATED = "class_created"
STUDENT_ENROLLED = "student_enrolled"
TEACHER_ASSIGNED = "teacher_assigned"
LESSON_RECORDED = "lesson_recorded"
MARK_POSTED = "mark_posted"

# consumed from identity
IDENTITY = "identity"
USER_CREATED = "user_created"
ROLES_CHANGED = "roles_changed"


# Builders take store rows (or anything with the same attributes) and
# return exactly the payloads of docs/events.md.

def _day(value) -> str | None:
    return value.isoformat() if value is not None else None


def period_payload(period) -> dict:
    return {"id": period.id, "name": period.name, "kind": period.kind,
            "starts_on": _day(period.starts_on), "ends_on": _day(period.ends_on)}


def year_opened(year, periods) -> dict:
    return {"year_id": year.id, "name": year.name, "starts_on": _day(year.starts_on),
            "ends_on": _day(year.ends_on), "periods": [period_payload(p) for p in periods]}


def subject_created(subject) -> dict:
    return {"subject_id": subject.id, "name": subject.name, "emphasis": subject.emphasis}


def subject_updated(subject) -> dict:
    """The subject's state after a change (R-F2 ``emphasis``)."""
    return {"subject_id": subject.id, "name": subject.name, "emphasis": subject.emphasis}


def class_created(klass) -> dict:
    return {"class_id": klass.id, "year_id": klass.year_id, "grade": klass.grade, "letter": klass.letter,
            "name": klass.name, "class_teacher_id": klass.class_teacher_id}


def student_enrolled(enrolment) -> dict:
    return {"student_id": enrolment.student_id, "class_id": enrolment.class_id,
            "order_no": enrolment.order_no, "on": _day(enrolment.enrolled_on)}


def teacher_assigned(assignment) -> dict:
    return {"assignment_id": assignment.id, "teacher_id": assignment.teacher_id,
            "class_id": assignment.class_id, "subject_id": assignment.subject_id,
            "hours_per_week": hours_value(assignment.hours_per_week), "subgroup_id": assignment.subgroup_id}


def lesson_recorded(lesson, subject_name: str) -> dict:
    return {"lesson_id": lesson.id, "class_id": lesson.class_id, "subject_id": lesson.subject_id,
            "subject_name": subject_name, "teacher_id": lesson.teacher_id, "date": _day(lesson.date),
            "topic": lesson.topic, "lesson_type": lesson.lesson_type, "work_type": lesson.work_type,
            "homework": lesson.homework, "subgroup_id": lesson.subgroup_id,
            "substitute_for": lesson.substitute_for, "late": lesson.late, "overdue": lesson.overdue,
            "imported": bool(lesson.imported), "recorded_on": _day(lesson.recorded_on)}


def mark_posted(mark, lesson, subject_name: str) -> dict:
    """``teacher_id`` is who posted the mark (its author)."""
    return {"mark_id": mark.id, "lesson_id": lesson.id, "student_id": mark.student_id,
            "class_id": lesson.class_id, "subject_id": lesson.subject_id, "subject_name": subject_name,
            "date": _day(lesson.date), "value": mark.value, "kind": mark.kind, "weight": mark.weight,
            "comment": mark.comment, "teacher_id": mark.author_id}


# --- school structure over the year -----------------------------------------

STUDENT_TRANSFERRED = "student_transferred"
STUDENT_LEFT = "student_left"
YEAR_CLOSED = "year_closed"
SUBGROUP_CREATED = "subgroup_created"
TIMETABLE_SET = "timetable_set"
PLAN_CREATED = "plan_created"
STUDENTS_IMPORTED = "students_imported"
# the journal's own: a job to run (journal.entrypoints.jobs), consumed by the journal only
JOB_QUEUED = "job_queued"


def student_transferred(old, new) -> dict:
    """``old``/``new``: the closed and the opened stay."""
    return {"student_id": new.student_id, "from_class_id": old.class_id, "to_class_id": new.class_id,
            "order_no": new.order_no, "on": _day(new.enrolled_on)}


def student_left(enrolment, comment: str | None = None) -> dict:
    """``reason``: left (the school) or graduated (year close); ``comment``
    is the departure's free text (where to, why)."""
    return {"student_id": enrolment.student_id, "class_id": enrolment.class_id,
            "order_no": enrolment.left_order_no, "on": _day(enrolment.left_on), "reason": enrolment.left_reason,
            "comment": comment}


def year_closed(closure) -> dict:
    return {"year_id": closure.year_id, "order_no": closure.order_no, "next_year_id": closure.next_year_id,
            **{k: closure.summary[k] for k in ("promoted", "graduated", "held_back")}}


def subgroup_created(subgroup, student_ids) -> dict:
    return {"subgroup_id": subgroup.id, "class_id": subgroup.class_id, "subject_id": subgroup.subject_id,
            "name": subgroup.name, "student_ids": list(student_ids)}


def slot_payload(slot) -> dict:
    return {"weekday": slot.weekday, "number": slot.number, "subject_id": slot.subject_id,
            "teacher_id": slot.teacher_id, "room": slot.room, "subgroup_id": slot.subgroup_id}


def timetable_set(class_id: str, period_id: str, slots) -> dict:
    return {"class_id": class_id, "period_id": period_id, "slots": [slot_payload(s) for s in slots]}


def plan_created(plan, topics) -> dict:
    return {"plan_id": plan.id, "class_id": plan.class_id, "subject_id": plan.subject_id,
            "period_id": plan.period_id, "teacher_id": plan.teacher_id, "hours": plan.hours,
            "topics": [{"number": t.number, "title": t.title, "hours": t.hours} for t in topics]}
# --- corrections, attendance, final marks ---------------------------------

MARK_CORRECTED = "mark_corrected"
MARK_REMOVED = "mark_removed"
ATTENDANCE_RECORDED = "attendance_recorded"
FINAL_MARK_POSTED = "final_mark_posted"


def _mark_base(mark, lesson, subject_name: str) -> dict:
    return {"mark_id": mark.id, "lesson_id": lesson.id, "student_id": mark.student_id,
            "class_id": lesson.class_id, "subject_id": lesson.subject_id, "subject_name": subject_name,
            "date": _day(lesson.date), "version": mark.version}


def mark_corrected(mark, lesson, subject_name: str, old: dict, reason: str, by: str) -> dict:
    """The mark's new state (same fields as mark_posted), the old one and why."""
    return {**_mark_base(mark, lesson, subject_name), "value": mark.value, "kind": mark.kind,
            "weight": mark.weight, "comment": mark.comment,
            "old": {k: old[k] for k in ("value", "kind", "weight", "comment")},
            "reason": reason, "corrected_by": by}


def mark_removed(mark, lesson, subject_name: str, reason: str, by: str) -> dict:
    return {**_mark_base(mark, lesson, subject_name), "old_value": mark.value, "reason": reason,
            "removed_by": by}


def attendance_recorded(lesson, subject_name: str, changes, reason: str | None) -> dict:
    """One event per request: only the entries that are new or changed."""
    return {"lesson_id": lesson.id, "class_id": lesson.class_id, "subject_id": lesson.subject_id,
            "subject_name": subject_name, "date": _day(lesson.date), "reason": reason,
            "entries": [{"student_id": s, "status": status, "previous": previous}
                        for s, status, previous in changes]}


def final_mark_posted(final) -> dict:
    return {"final_mark_id": final.id, "student_id": final.student_id, "subject_id": final.subject_id,
            "class_id": final.class_id, "period_id": final.period_id, "period_kind": final.period_kind,
            "value": final.value, "version": final.version, "late": final.late,
            "evidence": final.evidence, "warnings": [w["code"] for w in final.warnings],
            "teacher_id": final.teacher_id}
