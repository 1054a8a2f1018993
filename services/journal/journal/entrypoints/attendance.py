"""Attendance of a lesson (R-J2) and its corrections."""
from __future__ import annotations

from kernel.context import CallContext
from kernel.events import utcnow
from kernel.idempotency import idempotent
from kernel.nameko import service_rpc

from journal import domain, events, store
from journal.entrypoints.base import KEYS


class Attendance:
    """RPCs of attendance."""

    @service_rpc
    @idempotent("record_attendance", **KEYS)
    def record_attendance(self, ctx, lesson_id, data, key):
        """Attendance of a lesson (R-J2): present/absent/excused/ill/late per
        student. A change of an existing entry is a correction (R-J7): a new
        version with who, when, old, new and the reason; the lesson's teacher
        corrects within 3 days, the class teacher within the current and the
        previous week, the admin always. Unchanged entries are left alone."""
        actor = CallContext.from_rpc(ctx)
        lesson_id = domain.common.ident(lesson_id, "lesson_id")
        given = domain.attendance.validate_attendance(data)
        config = self.settings
        with self._write() as s:  # the key is read with the lesson
            lesson = domain.lessons.writable_lesson(s, actor, lesson_id, key)
            now = utcnow()
            today = domain.common.school_today(now, config.timezone)
            domain.lessons.check_lesson_happened(lesson.date, today)
            domain.lessons.check_students_in_class([sid for sid, _ in given.entries], lesson.enrolled, field="entries")
            current = store.attendance.attendance_of_lesson(s, lesson_id=lesson.id, lock=True)
            changes = domain.attendance.attendance_changes(given.entries, {k: v.status for k, v in current.items()})
            if any(previous is not None for _, _, previous in changes):
                domain.attendance.check_attendance_correction(actor, class_teacher_id=lesson.class_teacher_id,
                                                              lesson_date=lesson.date, today=today, reason=given.reason)
            store.attendance.save_attendance(s, school_id=actor.school_id, lesson_id=lesson.id, changes=changes,
                                             current=current, by=actor.actor_id, at=now, reason=given.reason)
            if changes:
                self.outbox.add(s, events.ATTENDANCE_RECORDED,
                                events.attendance_recorded(lesson, lesson.subject_name, changes, given.reason), ctx)
            entries = store.attendance.attendance_of_lesson(s, lesson_id=lesson.id)
            result = {"lesson_id": lesson.id, "changed": len(changes),
                      "entries": [{"student_id": e.student_id, "status": e.status, "version": e.version}
                                  for e in sorted(entries.values(), key=lambda e: e.student_id)]}
            key.remember(s, result)
        return result
