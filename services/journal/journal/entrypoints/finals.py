"""Final marks with their evidence and warnings (R-F1..R-F3), the forecast
and the students at risk (R-F4)."""
from __future__ import annotations

from kernel import access_rules
from kernel.context import CallContext
from kernel.events import utcnow
from kernel.idempotency import idempotent
from kernel.nameko import service_rpc

from journal import domain, errors, events, store
from journal.entrypoints.base import KEYS


class FinalsAndForecasts:
    """RPCs of final marks and forecasts."""

    @service_rpc
    @idempotent("post_final_mark", **KEYS)
    def post_final_mark(self, ctx, data, key):
        """A final mark for a period or the year (R-F1) with its evidence and
        warnings (R-F2), late after the 2-day deadline (R-F3). Posting again
        supersedes the previous final mark (kept)."""
        actor = CallContext.from_rpc(ctx)
        config = self.settings
        spec = domain.finals.validate_final(data, allow_mark_1=config.allow_mark_1)
        with self._write(key) as s:
            period = store.finals.period_or_year(s, school_id=actor.school_id, period_id=spec.period_id)
            if period is None:
                raise errors.PeriodNotFound(details={"field": "period_id"})
            period_id, kind, starts_on, ends_on, year = period
            subject = store.structure.get_subject(s, school_id=actor.school_id, subject_id=spec.subject_id)
            if subject is None:
                raise errors.NotFound(errors.text("subject_not_found"), details={"field": "subject_id"})
            klass = store.finals.class_of_student_in_year(s, student_id=spec.student_id, year_id=year.id)
            if klass is None:
                raise errors.StudentNotInClass(details={"field": "student_id", "student_ids": [spec.student_id]})
            # the teacher assigned to the subject (API.md), not the class teacher as such:
            # unlike lessons and marks (R-J6), a final mark is the subject teacher's decision
            if access_rules.posts_final(actor.roles, assigned=store.structure.assigned_subgroups(
                    s, teacher_id=actor.actor_id, class_id=klass.id, subject_id=subject.id)) is not None:
                raise errors.NotAssignedForFinal()
            domain.common.check_year_open(year.archived)
            domain.lessons.check_marks_allowed(klass.grade)
            now = utcnow()
            today = domain.common.school_today(now, config.timezone)
            required = domain.finals.required_marks(
                store.finals.hours_per_week(s, class_id=klass.id, subject_id=subject.id),
                low=config.final_min_marks_low, high=config.final_min_marks_high)
            rows = store.finals.student_marks(s, school_id=actor.school_id, student_id=spec.student_id,
                                              start=starts_on, end=ends_on, subject_id=subject.id)
            written_needed = domain.finals.written_required(subject.emphasis, min_written=config.final_min_written)
            ev = domain.finals.evidence([(v, w, k) for _, v, w, k in rows], required, emphasis=subject.emphasis,
                                        written_needed=written_needed)
            late = domain.finals.is_late(ends_on, today)
            warns = domain.finals.warnings(spec.value, ev, late=late)
            previous = store.finals.current_final(s, student_id=spec.student_id, subject_id=subject.id,
                                                  period_id=period_id)
            if previous is not None:
                previous.superseded = True
            final = store.finals.add_final_mark(
                s, school_id=actor.school_id, student_id=spec.student_id, subject_id=subject.id,
                class_id=klass.id, period_id=period_id, period_kind=kind, value=spec.value,
                version=(previous.version + 1) if previous else 1, evidence=ev, warnings=warns, late=late,
                teacher_id=actor.actor_id, entered_at=now, superseded=False)
            self.outbox.add(s, events.FINAL_MARK_POSTED, events.final_mark_posted(final), ctx)
            result = {"id": final.id, "student_id": final.student_id, "subject_id": final.subject_id,
                      "period_id": period_id, "period_kind": kind, "value": final.value,
                      "version": final.version, "evidence": ev, "warnings": warns, "late": late}
            key.remember(s, result)
        return result

    @service_rpc
    def forecast(self, ctx, student_id, period_id=None):
        """R-F4: per subject, the final mark the current marks point to and
        how sure that is. Who may read is decided by the gateway (the same
        as the diary: the student, their parents, staff)."""
        actor = CallContext.from_rpc(ctx)
        student_id = domain.common.ident(student_id, "student_id")
        config = self.settings
        today = domain.common.school_today(utcnow(), config.timezone)
        with self.db.transaction() as s:
            if store.structure.get_person(s, school_id=actor.school_id, user_id=student_id) is None:
                raise errors.NotFound(errors.text("student_not_found"), details={"field": "student_id"})
            pid, kind, starts_on, ends_on, year = domain.finals.period_for(
                s, actor, period_id, today, store.finals.year_of_student_on(s, student_id=student_id, day=today))
            klass = store.finals.class_of_student_in_year(s, student_id=student_id, year_id=year.id)
            hours = store.finals.class_subject_hours(s, class_id=klass.id) if klass else {}
            by_subject = domain.finals.group_marks(store.finals.student_marks(
                s, school_id=actor.school_id, student_id=student_id, start=starts_on, end=ends_on))
            emphasis = store.structure.subject_emphasis(s, school_id=actor.school_id,
                                                        subject_ids=set(hours) | set(by_subject))
            names = store.listing.subject_names(s, school_id=actor.school_id, subject_ids=set(hours) | set(by_subject))
        items = []
        for subject_id in sorted(set(hours) | set(by_subject)):
            required = domain.finals.required_marks(hours.get(subject_id), low=config.final_min_marks_low,
                                                    high=config.final_min_marks_high)
            items.append({"subject_id": subject_id, "subject": names.get(subject_id, ""),
                          **self._forecast(by_subject.get(subject_id, []), required,
                                           emphasis.get(subject_id, False))})
        return {"student_id": student_id, "period_id": pid, "period_kind": kind, "items": items}

    @service_rpc
    def students_at_risk(self, ctx, class_id, period_id=None, subject_id=None):
        """R-F4: the class's students whose forecast in a subject is 2, who
        have too few marks to be graded, or who lack the written works of an
        emphasised subject (R-F2); staff of the school. ``subject_id``: that
        subject only (a journal page shows one)."""
        actor = CallContext.from_rpc(ctx)
        domain.lessons.require_staff(actor)
        class_id = domain.common.ident(class_id, "class_id")
        if subject_id is not None:
            subject_id = domain.common.ident(subject_id, "subject_id")
        config = self.settings
        today = domain.common.school_today(utcnow(), config.timezone)
        with self.db.transaction() as s:
            klass = store.structure.get_class(s, school_id=actor.school_id, class_id=class_id)
            if klass is None:
                raise errors.NotFound(errors.text("class_not_found"), details={"field": "class_id"})
            pid, kind, starts_on, ends_on, year = domain.finals.period_for(s, actor, period_id, today, klass.year_id)
            hours = store.finals.class_subject_hours(s, class_id=klass.id, subject_id=subject_id)
            students = store.finals.students_of_class(s, class_id=klass.id, start=starts_on, end=ends_on)
            rows = store.finals.class_marks(s, class_id=klass.id, start=starts_on, end=ends_on, subject_id=subject_id)
            emphasis = store.structure.subject_emphasis(s, school_id=actor.school_id,
                                                        subject_ids=set(hours) | {r[1] for r in rows})
        by_subject: dict = {}
        for student_id, subject_id, value, weight, kind_ in rows:
            by_subject.setdefault(subject_id, {}).setdefault(student_id, []).append((value, weight, kind_))
        ids = [student_id for student_id, _ in students]
        risks = {subject_id: domain.finals.subject_risks(
            by_subject.get(subject_id, {}), ids, hours_per_week=hours.get(subject_id),
            emphasis=emphasis.get(subject_id, False), low=config.final_min_marks_low,
            high=config.final_min_marks_high, min_written=config.final_min_written)
            for subject_id in sorted(set(hours) | set(by_subject))}
        items = []
        for student_id, full_name in students:
            subjects = [{"subject_id": subject_id, **found[student_id]}
                        for subject_id, found in risks.items() if student_id in found]
            if subjects:
                items.append({"student_id": student_id, "full_name": full_name, "subjects": subjects})
        return {"class_id": class_id, "period_id": pid, "items": items}

    def _forecast(self, marks_, required, emphasis):
        return domain.finals.forecast(marks_, required, emphasis=emphasis,
                                      written_needed=domain.finals.written_required(
            emphasis, min_written=self.settings.final_min_written))
