"""Lessons (R-J1, R-J5, R-J6) and marks: posting (R-J3, R-J4, R-J9),
correction and removal with their version chain (R-J7), a mark's history
and the tamper check."""
from __future__ import annotations

from kernel.context import CallContext
from kernel.events import utcnow
from kernel.idempotency import idempotent
from kernel.nameko import service_rpc

from journal import domain, errors, events, store
from journal import verify as tamper
from journal.entrypoints.base import KEYS


class LessonsAndMarks:
    """RPCs of lessons and marks."""

    @service_rpc
    @idempotent("record_lesson", **KEYS)
    def record_lesson(self, ctx, data, key):
        """Record a lesson (R-J1); flags late and overdue entries (R-J5).
        With ``idempotency_key`` a retry returns the first result."""
        actor = CallContext.from_rpc(ctx)
        spec = domain.lessons.validate_lesson(data, actor_id=actor.actor_id)
        config = self.settings
        with self._write(key) as s:
            found = store.structure.class_with_year(s, school_id=actor.school_id, class_id=spec.class_id)
            if found is None:
                raise errors.NotFound(errors.text("class_not_found"), details={"field": "class_id"})
            klass, year = found
            subject = store.structure.get_subject(s, school_id=actor.school_id, subject_id=spec.subject_id)
            if subject is None:
                raise errors.NotFound(errors.text("subject_not_found"), details={"field": "subject_id"})
            replaced = None if spec.substitute_for is None else store.structure.assigned_subgroups(
                s, teacher_id=spec.substitute_for, class_id=klass.id, subject_id=subject.id)
            domain.lessons.require_journal_access(
                actor, class_teacher_id=klass.class_teacher_id, subgroup_id=spec.subgroup_id,
                assigned_subgroups=store.structure.assigned_subgroups(
                    s, teacher_id=actor.actor_id, class_id=klass.id, subject_id=subject.id),
                replaced_subgroups=replaced)
            domain.structure.check_subgroup(s, klass.id, subject.id, spec.subgroup_id)
            domain.common.check_year_open(year.archived)
            domain.lessons.check_lesson_date(spec.date, store.structure.period_bounds(s, year_id=year.id))
            domain.lessons.check_homework_allowed(klass.grade, spec.homework)
            if replaced is not None:
                domain.lessons.check_substitute(replaced, spec.subgroup_id)
            now = utcnow()
            late, overdue = domain.lessons.entry_flags(spec.date, domain.common.school_today(now, config.timezone))
            lesson = store.lessons.add_lesson(s, school_id=actor.school_id, spec=spec, teacher_id=actor.actor_id,
                                              entered_at=now, late=late, overdue=overdue)
            payload = events.lesson_recorded(lesson, subject.name)
            self.outbox.add(s, events.LESSON_RECORDED, payload, ctx)
            result = {"id": lesson.id, **payload, "entered_at": now.isoformat()}
            del result["lesson_id"]
            key.remember(s, result)
        return result

    @service_rpc
    @idempotent("post_marks", **KEYS)
    def post_marks(self, ctx, lesson_id, marks, key):
        """Post marks for a lesson, all or nothing (R-J3, R-J4, R-J9); each
        mark starts its version chain (R-J7). With ``idempotency_key`` a
        retry (a double click) returns the first result and posts nothing."""
        actor = CallContext.from_rpc(ctx)
        lesson_id = domain.common.ident(lesson_id, "lesson_id")
        config = self.settings
        specs = domain.lessons.validate_marks(marks, allow_mark_1=config.allow_mark_1)
        with self._write_connection() as s:  # the key is read with the lesson; no ORM object
            lesson = domain.lessons.writable_lesson(s, actor, lesson_id, key)
            domain.lessons.check_marks_allowed(lesson.grade)
            now = utcnow()
            domain.lessons.check_lesson_happened(lesson.date, domain.common.school_today(now, config.timezone))
            domain.lessons.check_students_in_class([m.student_id for m in specs], lesson.enrolled)
            posted = store.lessons.new_marks(school_id=actor.school_id, lesson_id=lesson.id, specs=specs,
                                             author_id=actor.actor_id, at=now)
            # One packed message for the class (docs/events.md): 30 envelopes,
            # each unchanged, cost the broker and every consumer one delivery.
            outbox, event_rows, _ = self.outbox.prepare_many(
                [(events.MARK_POSTED, events.mark_posted(mark, lesson, lesson.subject_name)) for mark in posted],
                ctx, packed=True)
            result = {"marks": [{"id": m.id, "student_id": m.student_id, "value": m.value, "kind": m.kind,
                                 "weight": m.weight, "comment": m.comment} for m in posted]}
            # The marks, their versions, the outbox row and the key: one round trip.
            store.lessons.insert_marks(s, posted, also=[(outbox, event_rows), key.rows(result)])
        return result

    @service_rpc
    @idempotent("correct_mark", **KEYS)
    def correct_mark(self, ctx, mark_id, data, key):
        """Correct a mark (R-J7): a new version with who, when, old, new and
        the required reason; the old value stays in the history. Who may:
        :func:`kernel.access_rules.corrects_mark` (the teacher of the class
        and subject or the lesson's substitute, the deputy, the director,
        the admin)."""
        change = domain.lessons.validate_correction(data, allow_mark_1=self.settings.allow_mark_1)
        new = {}

        def check(old):
            new.update(domain.lessons.corrected_state(old, change))
            return change.reason

        def apply(mark):
            mark.value, mark.kind, mark.weight, mark.comment = new["value"], new["kind"], new["weight"], new["comment"]

        def event(mark, lesson, subject_name, old, reason, by):
            return events.MARK_CORRECTED, events.mark_corrected(mark, lesson, subject_name, old, reason, by)

        return self._change_mark(ctx, mark_id, check, apply, event, key)

    @service_rpc
    @idempotent("remove_mark", **KEYS)
    def remove_mark(self, ctx, mark_id, data, key):
        """Remove a mark (R-J7): a tombstone version with the reason, never a
        hard delete; the diary and the averages stop counting it."""
        reason = domain.lessons.validate_reason(data)

        def apply(mark):
            mark.removed = True

        def event(mark, lesson, subject_name, old, reason_, by):
            return events.MARK_REMOVED, events.mark_removed(mark, lesson, subject_name, reason_, by)

        return self._change_mark(ctx, mark_id, lambda old: reason, apply, event, key)

    def _change_mark(self, ctx, mark_id, check, apply, event, key):
        """Lock the mark, check who and what, apply the change, append the
        next version of its chain and publish ``event``; one transaction."""
        actor = CallContext.from_rpc(ctx)
        mark_id = domain.common.ident(mark_id, "mark_id")
        with self._write(key) as s:
            found = store.lessons.mark_for_update(s, school_id=actor.school_id, mark_id=mark_id)
            if found is None:
                raise errors.NotFound(errors.text("mark_not_found"), details={"field": "mark_id"})
            mark, lesson, klass, subject, year = found
            domain.lessons.require_may_change_mark(
                actor, assigned_subgroups=store.structure.assigned_subgroups(
                    s, teacher_id=actor.actor_id, class_id=lesson.class_id, subject_id=lesson.subject_id),
                subgroup_id=lesson.subgroup_id, lesson_teacher_id=lesson.teacher_id,
                lesson_substitute_for=lesson.substitute_for)
            domain.common.check_year_open(year.archived)
            domain.lessons.check_not_removed(mark.removed)
            old = store.lessons.mark_state(mark)
            reason = check(old)
            apply(mark)
            mark.version += 1
            now = utcnow()
            version = store.lessons.add_mark_version(s, mark=mark, by=actor.actor_id, at=now, reason=reason)
            type_, payload = event(mark, lesson, subject.name, old, reason, actor.actor_id)
            self.outbox.add(s, type_, payload, ctx)
            result = {"id": mark.id, "student_id": mark.student_id, "lesson_id": mark.lesson_id,
                      "value": mark.value, "kind": mark.kind, "weight": mark.weight, "comment": mark.comment,
                      "removed": mark.removed, "version": mark.version,
                      "old": {k: old[k] for k in ("value", "kind", "weight", "comment")},
                      "history": self._version_dict(version)}
            key.remember(s, result)
        return result

    @staticmethod
    def _version_dict(v) -> dict:
        return {"version": v.version, "value": v.value, "kind": v.kind, "weight": v.weight,
                "comment": v.comment, "removed": v.removed, "by": v.by, "at": v.at.isoformat(),
                "reason": v.reason, "hash": v.hash}

    @service_rpc
    def mark_history(self, ctx, mark_id):
        """Every version of a mark, oldest first, with who made it
        (``by_name``), and whether its chain verifies (R-J7); whose mark it is
        and on which lesson; staff of the school."""
        actor = CallContext.from_rpc(ctx)
        domain.lessons.require_staff(actor)
        mark_id = domain.common.ident(mark_id, "mark_id")
        with self.db.transaction() as s:
            mark = store.lessons.get_mark(s, school_id=actor.school_id, mark_id=mark_id)
            if mark is None:
                raise errors.NotFound(errors.text("mark_not_found"), details={"field": "mark_id"})
            versions = store.lessons.mark_versions(s, school_id=actor.school_id, mark_id=mark_id)
            chain = store.lessons.mark_chain(s, mark_id=mark_id)
            problems = domain.lessons.verify_mark(store.lessons.mark_state(mark), chain)
            lesson, klass, subject_name, _, _ = store.listing.lesson(s, school_id=actor.school_id,
                                                                     lesson_id=mark.lesson_id)
            names = store.listing.names(s, user_ids=[mark.student_id, *(v.by for v in versions)])
        items = [{**self._version_dict(v), "by_name": names.get(v.by)} for v in versions]
        return {"mark_id": mark_id, "verified": not problems, "problems": problems, "items": items,
                "student": {"id": mark.student_id, "full_name": names.get(mark.student_id, "")},
                "lesson": {"id": lesson.id, "date": lesson.date.isoformat(), "topic": lesson.topic,
                           "subject": {"id": lesson.subject_id, "name": subject_name},
                           "class": {"id": klass.id, "name": klass.name}}}

    @service_rpc
    def verify_journal(self, ctx):
        """Check every mark's and attendance entry's hash chain and current
        row of the school (tamper evidence, R-J7); admin, deputy, director."""
        actor = CallContext.from_rpc(ctx)
        domain.common.require_roles(actor, domain.common.ADMIN, domain.common.DEPUTY, "director")
        with self.db.transaction() as s:
            return tamper.check(s, school_id=actor.school_id, with_school=False)
