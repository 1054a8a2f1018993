"""The school year over time: transfers and departures (R-S3), the
movement history, the year close with promotion (R-S4), the timetable
(R-S6) and the calendar-thematic plans with their coverage (R-J8)."""
from __future__ import annotations

from kernel import access_rules
from kernel.context import CallContext
from kernel.events import utcnow
from kernel.nameko import service_rpc

from journal import domain, errors, events, store
from journal.entrypoints.jobs import NO_PROGRESS


class MovementsAndTimetable:
    """RPCs of movement, year close, timetable and plans."""

    @service_rpc
    def transfer_student(self, ctx, student_id, data):
        """Move a student to another class of the same year by order (R-S3);
        the old stay is closed, a new one opened: history is kept. Admin."""
        actor = CallContext.from_rpc(ctx)
        domain.common.require_roles(actor, domain.common.ADMIN)
        student_id = domain.common.ident(student_id, "student_id")
        spec = domain.movements.validate_transfer(data)
        with self._write() as s:
            found = store.structure.class_with_year(s, school_id=actor.school_id, class_id=spec.to_class_id)
            if found is None:
                raise errors.NotFound(errors.text("class_not_found"), details={"field": "to_class_id"})
            target, year = found
            domain.common.check_year_open(year.archived)
            store.structure.lock_person(s, user_id=student_id)
            stays = [(e, c) for e, c, y in store.movements.open_enrolment_of(s, school_id=actor.school_id,
                                                                    student_id=student_id) if y.id == year.id]
            if not stays:
                domain.movements.not_enrolled(s, actor, student_id)
            old, klass = stays[0]
            domain.movements.check_transfer_target(from_class_id=klass.id, to_class_id=target.id,
                                                   from_year_id=klass.year_id, to_year_id=target.year_id)
            domain.movements.check_movement_date(spec.on, enrolled_on=old.enrolled_on, year_starts_on=year.starts_on,
                                                 year_ends_on=year.ends_on)
            store.movements.close_enrolment(old, on=spec.on, order_no=spec.order_no,
                                            reason=domain.movements.LEFT_TRANSFERRED)
            admission = domain.structure.EnrolmentSpec(student_id=student_id, order_no=spec.order_no, on=spec.on)
            new = store.structure.add_enrolment(s, school_id=actor.school_id, class_id=target.id, spec=admission)
            payload = events.student_transferred(old, new)
            self.outbox.add(s, events.STUDENT_TRANSFERRED, payload, ctx)
            # the new stay is an admission too: consumers that follow student_enrolled
            # (identity's "current class") stay right without knowing transfers
            self.outbox.add(s, events.STUDENT_ENROLLED, events.student_enrolled(new), ctx)
        return payload

    @service_rpc
    def record_departure(self, ctx, student_id, data):
        """A student leaves the school by order (R-S3): the open stay is
        closed with the order, nothing is deleted. Admin."""
        actor = CallContext.from_rpc(ctx)
        domain.common.require_roles(actor, domain.common.ADMIN)
        student_id = domain.common.ident(student_id, "student_id")
        spec = domain.movements.validate_departure(data)
        with self._write() as s:
            store.structure.lock_person(s, user_id=student_id)
            stays = store.movements.open_enrolment_of(s, school_id=actor.school_id, student_id=student_id)
            if not stays:
                domain.movements.not_enrolled(s, actor, student_id)
            current = [(stay, year) for stay, _klass, year in stays if year.starts_on <= spec.on <= year.ends_on]
            if not current:
                _stay, _klass, year = stays[-1]
                # raises: the date is in no open stay's year
                domain.movements.check_movement_date(spec.on, enrolled_on=_stay.enrolled_on,
                                                     year_starts_on=year.starts_on, year_ends_on=year.ends_on)
            payloads = []
            for stay, _klass, year in stays:
                if (stay, year) in current:
                    domain.movements.check_movement_date(spec.on, enrolled_on=stay.enrolled_on,
                                                         year_starts_on=year.starts_on, year_ends_on=year.ends_on)
                    store.movements.close_enrolment(stay, on=spec.on, order_no=spec.order_no,
                                                    reason=domain.movements.LEFT_DEPARTED)
                elif stay.enrolled_on > spec.on:
                    # already admitted to a later year (promotion): that stay never begins
                    store.movements.close_enrolment(stay, on=stay.enrolled_on, order_no=spec.order_no,
                                                    reason=domain.movements.LEFT_DEPARTED)
                else:
                    continue
                payload = events.student_left(stay, spec.reason)
                self.outbox.add(s, events.STUDENT_LEFT, payload, ctx)
                payloads.append(payload)
        return payloads[-1]

    @service_rpc
    def list_movements(self, ctx, student_id):
        """A student's admissions, transfers and departures, oldest first
        (R-S3 history); staff of the school."""
        actor = CallContext.from_rpc(ctx)
        domain.common.require_roles(actor, *domain.common.STRUCTURE_READERS)
        student_id = domain.common.ident(student_id, "student_id")
        with self.db.transaction() as s:
            rows = store.movements.movements(s, school_id=actor.school_id, student_id=student_id)
        if not rows:
            raise errors.NotFound(errors.text("student_not_found"), details={"field": "student_id"})
        return {"student_id": student_id, "items": [{
            "class_id": c.id, "class_name": c.name, "year_id": c.year_id, "order_no": e.order_no,
            "enrolled_on": e.enrolled_on.isoformat(), "left_on": e.left_on.isoformat() if e.left_on else None,
            "left_order_no": e.left_order_no, "left_reason": e.left_reason} for e, c in rows]}

    @service_rpc
    def close_year(self, ctx, year_id, data):
        """Close a year by order (R-S4): archive it (read-only from now on)
        and, with ``promote``, move every student one grade up into the next
        open year (classes created as needed), graduates leave, the held
        back repeat the grade. Before the year's last day (the school's
        date) only with ``early: true`` (422 YEAR_NOT_ENDED otherwise). One
        transaction; the answer is the summary."""
        return self._close_year(ctx, year_id, data, NO_PROGRESS)

    def _close_year(self, ctx, year_id, data, progress) -> dict:
        """:meth:`close_year`, telling ``progress`` how far it is; a job ends
        (``progress.complete``) in the close's own transaction."""
        actor = CallContext.from_rpc(ctx)
        domain.common.require_roles(actor, domain.common.ADMIN)
        year_id = domain.common.ident(year_id, "year_id")
        spec = domain.movements.validate_close(data)
        with self._write() as s:
            summary = self._close(s, actor, ctx, year_id, spec, progress=progress.inside(s))
            progress.inside(s)("archiving", 1, 1)
            progress.complete(s, summary)
        return summary

    @service_rpc
    def preview_year_close(self, ctx, year_id, data):
        """What :meth:`close_year` with ``data`` would do, written nowhere:
        the very same close runs in a transaction that is rolled back. The
        summary's ``created_classes`` have no ids (none is made);
        ``ends_on`` and ``early_required`` (today is before the year's last
        day: the close needs ``early``) tell the order what to say. The
        same refusals as the close (409 YEAR_ALREADY_CLOSED, 422
        NO_NEXT_YEAR ...), except YEAR_NOT_ENDED. Admin."""
        actor = CallContext.from_rpc(ctx)
        domain.common.require_roles(actor, domain.common.ADMIN)
        year_id = domain.common.ident(year_id, "year_id")
        data = dict(domain.common.require_mapping(data, "data"))
        data.setdefault("order_no", "-")
        data["early"] = True
        spec = domain.movements.validate_close(data)
        try:
            with self._write() as s:
                raise _RolledBack(self._close(s, actor, ctx, year_id, spec, publish=False))
        except _RolledBack as done:
            summary, made = done.summary, {c["id"] for c in done.created}
        summary.pop("order_no", None)
        summary["archived"] = False
        summary["created_classes"] = [{"id": None, "name": c["name"]} for c in summary["created_classes"]]
        summary["classes"] = [{**row, "to_class_id": None if row["to_class_id"] in made else row["to_class_id"]}
                              for row in summary["classes"]]
        return summary

    def _close(self, s, actor, ctx, year_id, spec, publish: bool = True, progress=NO_PROGRESS) -> dict:
        """The year close in the caller's transaction (R-S4): the summary."""
        progress("checking", 0, 1)
        year = store.movements.lock_year(s, school_id=actor.school_id, year_id=year_id)
        if year is None:
            raise errors.NotFound(errors.text("year_not_found"), details={"field": "year_id"})
        if year.archived:
            raise errors.YearAlreadyClosed(details={"year_id": year.id})
        today = domain.common.school_today(utcnow(), self.settings.timezone)
        early_required = today < year.ends_on
        domain.movements.check_year_ended(year.ends_on, today, early=spec.early)
        if spec.next_year_id and store.structure.get_year(s, school_id=actor.school_id,
                                                          year_id=spec.next_year_id) is None:
            raise errors.NotFound(errors.text("year_not_found"), details={"field": "next_year_id"})
        stays = store.movements.open_stays_of_year(s, year_id=year.id)
        domain.movements.check_held_back_known(spec.held_back, [e.student_id for e, _ in stays])
        summary = {"year_id": year.id, "order_no": spec.order_no, "archived": True, "next_year_id": None,
                   "promoted": 0, "graduated": 0, "held_back": 0, "already_enrolled": 0,
                   "created_classes": [], "classes": []}
        if spec.promote:
            promoted, published = domain.movements.promote(s, school_id=actor.school_id, year=year, spec=spec,
                                                            stays=stays, progress=progress)
            summary.update(promoted)
            if publish:
                for type_, payload in published:
                    self.outbox.add(s, type_, payload, ctx)
        if not publish:
            summary["ends_on"], summary["early_required"] = year.ends_on.isoformat(), early_required
            return summary
        year.archived = True
        closure = store.YearClosure(year_id=year.id, school_id=actor.school_id, order_no=spec.order_no,
                                    closed_by=actor.actor_id, closed_at=utcnow(),
                                    next_year_id=summary["next_year_id"], summary=summary)
        s.add(closure)
        s.flush()
        self.outbox.add(s, events.YEAR_CLOSED, events.year_closed(closure), ctx)
        return summary

    @service_rpc
    def set_timetable(self, ctx, class_id, data):
        """Replace a class's week in a period (R-S6); the scheduler, admin.
        A teacher or a room in two places at once is refused (409
        TIMETABLE_CONFLICT with every clash in ``details.conflicts``)."""
        actor = CallContext.from_rpc(ctx)
        domain.common.require_roles(actor, domain.common.ADMIN, domain.common.SCHEDULER)
        class_id = domain.common.ident(class_id, "class_id")
        spec = domain.movements.validate_timetable(data)
        for teacher_id in sorted({slot.teacher_id for slot in spec.slots}):
            teacher = self._person(actor, ctx, teacher_id, "teacher_id")
            domain.common.require_role(teacher.roles, domain.common.TEACHING_ROLES, field="teacher_id")
        with self._write() as s:
            found = store.structure.class_with_year(s, school_id=actor.school_id, class_id=class_id)
            if found is None:
                raise errors.NotFound(errors.text("class_not_found"), details={"field": "class_id"})
            klass, year = found
            period = store.structure.get_period(s, school_id=actor.school_id, period_id=spec.period_id)
            if period is None or period.year_id != year.id:
                raise errors.NotFound(errors.text("period_not_in_class_year"), details={"field": "period_id"})
            domain.common.check_year_open(year.archived)
            unknown = {slot.subject_id for slot in spec.slots} - store.structure.subject_ids_known(
                s, school_id=actor.school_id, subject_ids=[slot.subject_id for slot in spec.slots])
            if unknown:
                raise errors.NotFound(errors.text("subject_not_found"),
                                      details={"field": "subject_id", "ids": sorted(unknown)})
            domain.movements.check_slot_subgroups(spec.slots, store.structure.subgroups_of_class(s, class_id=klass.id))
            store.movements.lock_timetable(s, period_id=period.id)
            domain.movements.check_timetable(klass.id, spec.slots,
                                             store.movements.busy_slots(s, period_id=period.id,
                                                                        exclude_class_id=klass.id))
            rows = store.movements.replace_timetable(s, school_id=actor.school_id, class_id=klass.id,
                                                     period_id=period.id,
                                                     slots=spec.slots)
            payload = events.timetable_set(klass.id, period.id, rows)
            self.outbox.add(s, events.TIMETABLE_SET, payload, ctx)
        return payload

    @service_rpc
    def get_timetable(self, ctx, class_id, period_id):
        """A class's week in a period (R-S6): staff of the school; a student
        their own class's, a parent their child's (R-A3; identity knows the
        children: its access decision is asked)."""
        actor = CallContext.from_rpc(ctx)
        staff = actor.has(*domain.common.STRUCTURE_READERS, domain.common.SCHEDULER)
        family = not staff and actor.has("student", "parent")
        if not family:
            domain.common.require_roles(actor, *domain.common.STRUCTURE_READERS, domain.common.SCHEDULER)
        class_id = domain.common.ident(class_id, "class_id")
        period_id = domain.common.ident(period_id, "period_id")
        child_class = False
        if family and actor.has("parent"):
            answer = self._identity("authorize", ctx, "timetable.read", "class", class_id)
            child_class = bool(answer.get("allowed")) and answer.get("reason") != "deferred"
        with self.db.transaction() as s:
            found = store.structure.class_with_year(s, school_id=actor.school_id, class_id=class_id)
            period = store.structure.get_period(s, school_id=actor.school_id, period_id=period_id)
            if found is not None and family and not child_class:
                own = store.finals.class_of_student_in_year(s, student_id=actor.actor_id, year_id=found[1].id)
                if own is None or own.id != class_id:
                    found = None  # not yours: not found
            if found is None:
                raise errors.NotFound(errors.text("class_not_found"), details={"field": "class_id"})
            if period is None or period.year_id != found[1].id:
                raise errors.NotFound(errors.text("period_not_in_class_year"), details={"field": "period_id"})
            rows = store.movements.timetable_of(s, class_id=class_id, period_id=period_id)
            return events.timetable_set(class_id, period_id, rows)

    @service_rpc
    def create_plan(self, ctx, data):
        """A calendar-thematic plan (КТП, R-J8) of a class, subject and
        period; the teacher assigned there, the deputy or admin. One plan
        per class, subject and period (409 otherwise)."""
        actor = CallContext.from_rpc(ctx)
        spec = domain.movements.validate_plan(data)
        with self._write() as s:
            found = store.structure.class_with_year(s, school_id=actor.school_id, class_id=spec.class_id)
            if found is None:
                raise errors.NotFound(errors.text("class_not_found"), details={"field": "class_id"})
            klass, year = found
            if store.structure.get_subject(s, school_id=actor.school_id, subject_id=spec.subject_id) is None:
                raise errors.NotFound(errors.text("subject_not_found"), details={"field": "subject_id"})
            if access_rules.enters_plan(actor.roles, assigned=store.structure.assigned_subgroups(
                    s, teacher_id=actor.actor_id, class_id=klass.id, subject_id=spec.subject_id)) is not None:
                raise errors.NotAssigned()
            period = store.structure.get_period(s, school_id=actor.school_id, period_id=spec.period_id)
            if period is None or period.year_id != year.id:
                raise errors.NotFound(errors.text("period_not_in_class_year"), details={"field": "period_id"})
            domain.common.check_year_open(year.archived)
            if store.movements.plan_exists(s, class_id=klass.id, subject_id=spec.subject_id, period_id=period.id):
                raise errors.AlreadyExists(errors.text("plan_exists"))
            plan = store.movements.add_plan(s, school_id=actor.school_id, spec=spec, teacher_id=actor.actor_id)
            payload = events.plan_created(plan, spec.topics)
            self.outbox.add(s, events.PLAN_CREATED, payload, ctx)
        return {"id": plan.id, **{k: v for k, v in payload.items() if k != "plan_id"}}

    @service_rpc
    def plan_coverage(self, ctx, period_id, class_id=None, teacher_id=None):
        """Programme coverage (R-J8): per plan of the period, lessons taught
        vs hours planned, and whether the class is behind today. The
        administration sees all; a class teacher their class; a teacher
        their own plans."""
        actor = CallContext.from_rpc(ctx)
        period_id = domain.common.ident(period_id, "period_id")
        class_id = domain.common.ident(class_id, "class_id", required=False)
        teacher_id = domain.common.ident(teacher_id, "teacher_id", required=False)
        with self.db.transaction() as s:
            if not actor.has(*domain.common.ADMINISTRATION):
                klass = store.structure.get_class(s, school_id=actor.school_id, class_id=class_id) if class_id else None
                own_class = klass is not None and klass.class_teacher_id == actor.actor_id
                if not own_class:
                    if not actor.has(*domain.common.TEACHING_ROLES) or teacher_id not in (None, actor.actor_id):
                        raise errors.NotAllowed()
                    teacher_id = actor.actor_id
            period, rows = store.movements.plans_for_coverage(s, school_id=actor.school_id, period_id=period_id,
                                                              class_id=class_id, teacher_id=teacher_id)
        if period is None:
            raise errors.NotFound(errors.text("period_not_found"), details={"field": "period_id"})
        today = domain.common.school_today(utcnow(), self.settings.timezone)
        items = [{"plan_id": plan.id, "class_id": plan.class_id, "class_name": class_name,
                  "subject_id": plan.subject_id, "subject_name": subject_name, "teacher_id": plan.teacher_id,
                  **domain.movements.coverage(planned_hours=plan.hours, taught=taught, period_start=period.starts_on,
                                              period_end=period.ends_on, today=today)}
                 for plan, class_name, subject_name, taught in rows]
        return {"period_id": period.id, "items": items}


class _RolledBack(Exception):
    """Ends a preview's transaction (rolled back) with its summary."""

    def __init__(self, summary: dict):
        super().__init__("preview")
        self.summary = summary
        self.created = list(summary.get("created_classes") or [])
