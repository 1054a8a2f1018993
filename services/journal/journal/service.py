"""The journal's nameko entrypoints: decode, call the rules and the store,
encode. Every write commits its data and its events together (outbox)."""
from __future__ import annotations

import logging
from contextlib import contextmanager

import eventlet
from nameko.exceptions import RemoteError, UnknownService
from nameko.extensions import DependencyProvider
from nameko.rpc import RpcProxy, rpc
from sqlalchemy.exc import IntegrityError

from journal import domain, errors, events, finals, marks, store
from journal import settings as journal_settings
from journal.store import tables
from kernel.db import Database
from kernel.errors import ServiceError
from kernel import idempotency
from kernel.events import utcnow
from kernel.nameko_ext import DeadLetters, EntrypointMetrics, Outbox, handles, on_event

log = logging.getLogger(__name__)

SERVICE_NAME = "journal"

# A ServiceError is an answer, not a fault: nameko logs it as a warning.
journal_rpc = rpc(expected_exceptions=ServiceError)


class Settings(DependencyProvider):
    """The journal's settings (:mod:`journal.settings`), read once at start."""

    def setup(self):
        self.value = journal_settings.load(self.container.config)

    def get_dependency(self, worker_ctx):
        return self.value


@contextmanager
def _writing(db):
    """A write transaction; a unique-constraint race reads as 409."""
    try:
        with db.transaction() as session:
            yield session
    except IntegrityError as exc:
        log.info("integrity error on write: %s", exc.orig)
        raise errors.AlreadyExists() from None


class Service:
    name = SERVICE_NAME

    db = Database()
    outbox = Outbox(tables)
    dead_letters = DeadLetters(tables)
    metrics = EntrypointMetrics()
    settings = Settings()
    identity = RpcProxy("identity")

    @journal_rpc
    def health(self):
        """Liveness of the nameko process."""
        return {"status": "ok", "service": SERVICE_NAME}

    # --- school structure (admin) -------------------------------------------

    @journal_rpc
    def open_year(self, ctx, data):
        """Open a school year with its periods (R-S1); admin."""
        actor = domain.actor_from_ctx(ctx)
        domain.require_roles(actor, domain.ADMIN)
        spec = domain.validate_year(data)
        with _writing(self.db) as s:
            if store.year_name_taken(s, school_id=actor.school_id, name=spec.name):
                raise errors.AlreadyExists("Учебный год с таким названием уже открыт", details={"field": "name"})
            year, periods = store.add_year(s, school_id=actor.school_id, spec=spec)
            payload = events.year_opened(year, periods)
            self.outbox.add(s, events.YEAR_OPENED, payload, ctx)
        return {"id": year.id, "name": payload["name"], "starts_on": payload["starts_on"],
                "ends_on": payload["ends_on"], "periods": payload["periods"]}

    @journal_rpc
    def create_subject(self, ctx, data):
        """Add a subject, unique by name within the school; admin."""
        actor = domain.actor_from_ctx(ctx)
        domain.require_roles(actor, domain.ADMIN)
        name = domain.validate_subject(data)
        with _writing(self.db) as s:
            if store.subject_name_taken(s, school_id=actor.school_id, name=name):
                raise errors.AlreadyExists("Такой предмет уже есть", details={"field": "name"})
            subject = store.add_subject(s, school_id=actor.school_id, name=name)
            self.outbox.add(s, events.SUBJECT_CREATED, events.subject_created(subject), ctx)
        return {"id": subject.id, "name": subject.name}

    @journal_rpc
    def create_class(self, ctx, data):
        """Add a class ("5А") to an open year with its class teacher; admin."""
        actor = domain.actor_from_ctx(ctx)
        domain.require_roles(actor, domain.ADMIN)
        spec = domain.validate_class(data)
        teacher = self._person(actor, ctx, spec.class_teacher_id, "class_teacher_id")
        domain.require_role(teacher.roles, domain.TEACHING_ROLES, field="class_teacher_id")
        with _writing(self.db) as s:
            year = store.get_year(s, school_id=actor.school_id, year_id=spec.year_id)
            if year is None:
                raise errors.NotFound("Учебный год не найден", details={"field": "year_id"})
            domain.check_year_open(year.archived)
            if store.class_exists(s, year_id=year.id, grade=spec.grade, letter=spec.letter):
                raise errors.AlreadyExists(f"Класс {spec.name} уже есть в этом учебном году",
                                           details={"field": "letter"})
            klass = store.add_class(s, school_id=actor.school_id, spec=spec)
            payload = events.class_created(klass)
            self.outbox.add(s, events.CLASS_CREATED, payload, ctx)
        return {"id": klass.id, "name": klass.name, "year_id": klass.year_id, "grade": klass.grade,
                "letter": klass.letter, "class_teacher_id": klass.class_teacher_id}

    @journal_rpc
    def enroll_student(self, ctx, class_id, data):
        """Admit a student to a class by order (R-S2, R-S3); admin or the
        class's class teacher."""
        actor = domain.actor_from_ctx(ctx)
        class_id = domain.ident(class_id, "class_id")
        spec = domain.validate_enrolment(data)
        with self.db.transaction() as s:
            found = store.class_with_year(s, school_id=actor.school_id, class_id=class_id)
        if found is None:
            raise errors.NotFound("Класс не найден", details={"field": "class_id"})
        if not domain.may_enrol(actor, found[0].class_teacher_id):
            raise errors.NotAllowed("Зачислять может администратор или классный руководитель этого класса")
        student = self._person(actor, ctx, spec.student_id, "student_id")
        domain.require_role(student.roles, {domain.STUDENT}, field="student_id")
        with _writing(self.db) as s:
            klass, year = store.class_with_year(s, school_id=actor.school_id, class_id=class_id)
            domain.check_year_open(year.archived)
            domain.check_date_in_year(spec.on, year.starts_on, year.ends_on, "on")
            store.lock_person(s, user_id=spec.student_id)
            current = store.open_enrolment_in_year(s, student_id=spec.student_id, year_id=year.id)
            if current is not None:
                raise errors.AlreadyEnrolled(details={"class_id": current.class_id})
            enrolment = store.add_enrolment(s, school_id=actor.school_id, class_id=klass.id, spec=spec)
            payload = events.student_enrolled(enrolment)
            self.outbox.add(s, events.STUDENT_ENROLLED, payload, ctx)
        return payload

    @journal_rpc
    def assign_teacher(self, ctx, data):
        """Assign a teacher to a class and subject (optionally a subgroup); admin, deputy."""
        actor = domain.actor_from_ctx(ctx)
        domain.require_roles(actor, domain.ADMIN, domain.DEPUTY)
        spec = domain.validate_assignment(data)
        with self.db.transaction() as s:
            klass = store.get_class(s, school_id=actor.school_id, class_id=spec.class_id)
            subject = store.get_subject(s, school_id=actor.school_id, subject_id=spec.subject_id)
        if klass is None:
            raise errors.NotFound("Класс не найден", details={"field": "class_id"})
        if subject is None:
            raise errors.NotFound("Предмет не найден", details={"field": "subject_id"})
        teacher = self._person(actor, ctx, spec.teacher_id, "teacher_id")
        domain.require_role(teacher.roles, domain.TEACHING_ROLES, field="teacher_id")
        with _writing(self.db) as s:
            klass, year = store.class_with_year(s, school_id=actor.school_id, class_id=spec.class_id)
            domain.check_year_open(year.archived)
            if store.assignment_exists(s, teacher_id=spec.teacher_id, class_id=spec.class_id,
                                       subject_id=spec.subject_id, subgroup_id=spec.subgroup_id):
                raise errors.AlreadyExists("Учитель уже назначен на этот предмет в этом классе")
            assignment = store.add_assignment(s, school_id=actor.school_id, spec=spec)
            payload = events.teacher_assigned(assignment)
            self.outbox.add(s, events.TEACHER_ASSIGNED, payload, ctx)
        return {"id": assignment.id, **{k: payload[k] for k in (
            "teacher_id", "class_id", "subject_id", "hours_per_week", "subgroup_id")}}

    # --- the journal ---------------------------------------------------------

    @journal_rpc
    def record_lesson(self, ctx, data, idempotency_key=None):
        """Record a lesson (R-J1); flags late and overdue entries (R-J5).
        With ``idempotency_key`` a retry returns the first result."""
        return self._idempotent(ctx, idempotency_key, "record_lesson", [data],
                                lambda remember: self._record_lesson(ctx, data, remember))

    def _record_lesson(self, ctx, data, remember):
        actor = domain.actor_from_ctx(ctx)
        spec = domain.validate_lesson(data, actor_id=actor.actor_id)
        config = self.settings
        with _writing(self.db) as s:
            found = store.class_with_year(s, school_id=actor.school_id, class_id=spec.class_id)
            if found is None:
                raise errors.NotFound("Класс не найден", details={"field": "class_id"})
            klass, year = found
            subject = store.get_subject(s, school_id=actor.school_id, subject_id=spec.subject_id)
            if subject is None:
                raise errors.NotFound("Предмет не найден", details={"field": "subject_id"})
            domain.require_journal_access(
                actor, class_teacher_id=klass.class_teacher_id, subgroup_id=spec.subgroup_id,
                assigned_subgroups=store.assigned_subgroups(
                    s, teacher_id=actor.actor_id, class_id=klass.id, subject_id=subject.id))
            domain.check_year_open(year.archived)
            domain.check_lesson_date(spec.date, store.period_bounds(s, year_id=year.id))
            domain.check_homework_allowed(klass.grade, spec.homework)
            if spec.substitute_for is not None:
                domain.check_substitute(store.assigned_subgroups(
                    s, teacher_id=spec.substitute_for, class_id=klass.id, subject_id=subject.id),
                    spec.subgroup_id)
            now = utcnow()
            late, overdue = domain.entry_flags(spec.date, domain.school_today(now, config.timezone))
            lesson = store.add_lesson(s, school_id=actor.school_id, spec=spec, teacher_id=actor.actor_id,
                                      entered_at=now, late=late, overdue=overdue)
            payload = events.lesson_recorded(lesson, subject.name)
            self.outbox.add(s, events.LESSON_RECORDED, payload, ctx)
            result = {"id": lesson.id, **payload, "entered_at": now.isoformat()}
            del result["lesson_id"]
            remember(s, result)
        return result

    @journal_rpc
    def post_marks(self, ctx, lesson_id, marks, idempotency_key=None):
        """Post marks for a lesson, all or nothing (R-J3, R-J4, R-J9); each
        mark starts its version chain (R-J7). With ``idempotency_key`` a
        retry (a double click) returns the first result and posts nothing."""
        return self._idempotent(ctx, idempotency_key, "post_marks", [lesson_id, marks],
                                lambda remember: self._post_marks(ctx, lesson_id, marks, remember))

    def _post_marks(self, ctx, lesson_id, marks, remember):
        actor = domain.actor_from_ctx(ctx)
        lesson_id = domain.ident(lesson_id, "lesson_id")
        config = self.settings
        specs = domain.validate_marks(marks, allow_mark_1=config.allow_mark_1)
        with _writing(self.db) as s:
            found = store.lesson_context(s, school_id=actor.school_id, lesson_id=lesson_id)
            if found is None:
                raise errors.NotFound("Урок не найден", details={"field": "lesson_id"})
            lesson, klass, subject, year = found
            domain.require_journal_access(
                actor, class_teacher_id=klass.class_teacher_id, subgroup_id=lesson.subgroup_id,
                assigned_subgroups=store.assigned_subgroups(
                    s, teacher_id=actor.actor_id, class_id=klass.id, subject_id=subject.id))
            domain.check_year_open(year.archived)
            domain.check_marks_allowed(klass.grade)
            now = utcnow()
            domain.check_lesson_happened(lesson.date, domain.school_today(now, config.timezone))
            student_ids = [m.student_id for m in specs]
            domain.check_students_in_class(student_ids, store.students_enrolled_on(
                s, class_id=klass.id, student_ids=student_ids, day=lesson.date))
            posted = store.add_marks(s, school_id=actor.school_id, lesson_id=lesson.id, specs=specs,
                                     author_id=actor.actor_id, at=now)
            self.outbox.add_many(s, [(events.MARK_POSTED, events.mark_posted(mark, lesson, subject.name))
                                     for mark in posted], ctx)
            result = {"marks": [{"id": m.id, "student_id": m.student_id, "value": m.value, "kind": m.kind,
                                 "weight": m.weight, "comment": m.comment} for m in posted]}
            remember(s, result)
        return result

    # --- identity's events feed the people projection ------------------------

    @on_event(events.IDENTITY, events.USER_CREATED)
    @handles("journal.user_created", tables["processed_events"])
    def on_user_created(self, session, envelope):
        """Keep the person (name, roles) an RPC may reference later."""
        self._apply_person(session, envelope)

    @on_event(events.IDENTITY, events.ROLES_CHANGED)
    @handles("journal.roles_changed", tables["processed_events"])
    def on_roles_changed(self, session, envelope):
        """Keep a person's roles current (events may arrive out of order)."""
        self._apply_person(session, envelope)

    @staticmethod
    def _apply_person(session, envelope):
        facts = domain.person_from_event(envelope)
        if facts is None:
            return
        store.save_person(session, user_id=facts.user_id, school_id=facts.school_id, at=facts.at,
                          full_name=facts.full_name, roles=list(facts.roles) if facts.roles is not None else None)

    # --- helpers -------------------------------------------------------------

    def _person(self, actor, ctx, user_id, field):
        """The person from the projection, else from identity (the event may
        not have arrived yet), stored for next time. Another school's user
        is NOT_FOUND."""
        not_found = errors.NotFound("Пользователь не найден", details={"field": field, "id": user_id})
        with self.db.transaction() as s:
            person = s.get(store.Person, user_id)
        if person is not None:
            if person.school_id != actor.school_id:
                raise not_found
            return person
        user = self._fetch_user(ctx, user_id, not_found)
        school_id = user.get("school_id") or actor.school_id
        roles = user.get("roles") or []
        if school_id != actor.school_id or not isinstance(roles, list):
            raise not_found
        with self.db.transaction() as s:
            return store.save_person(s, user_id=user_id, school_id=school_id, at=utcnow(),
                                     full_name=str(user.get("full_name") or ""), roles=roles)

    def _fetch_user(self, ctx, user_id, not_found):
        """identity's ``get_user`` with a deadline; its NOT_FOUND is ours."""
        timeout = eventlet.Timeout(self.settings.identity_timeout)
        try:
            user = self.identity.get_user(ctx, user_id)
        except eventlet.Timeout as exc:
            if exc is not timeout:
                raise
            raise errors.Unavailable(details={"service": "identity"}) from None
        except UnknownService:  # identity is not running
            raise errors.Unavailable(details={"service": "identity"}) from None
        except RemoteError as exc:
            parsed = ServiceError.parse(exc.value) or {}
            if exc.exc_type == "NotFound" or parsed.get("kind") in ("not_found", "forbidden"):
                raise not_found from None
            log.warning("identity.get_user failed: %s %s", exc.exc_type, exc.value)
            raise errors.Unavailable(details={"service": "identity"}) from None
        finally:
            timeout.cancel()
        if not isinstance(user, dict):
            raise errors.Unavailable(details={"service": "identity"})
        return user

    # === corrections, attendance, final marks (issue 4, part B) ==============

    def _idempotent(self, ctx, key, operation, request, write):
        """Run ``write(remember)`` once per Idempotency-Key (API.md): a key
        seen before returns the stored first result; ``remember(session,
        result)`` stores it in the write's own transaction. Two concurrent
        calls with one key: the second loses on the key's primary key, rolls
        back entirely and answers the first one's result."""
        key = idempotency.check_key(key)
        if key is None:
            return write(lambda session, result: None)
        actor = domain.actor_from_ctx(ctx)
        ids = {"school_id": actor.school_id, "actor_id": actor.actor_id, "key": key,
               "operation": operation, "request": request}

        def lookup():
            with self.db.transaction() as s:
                return idempotency.lookup(s, store.idempotency_keys, **ids)

        found = lookup()
        if found is not None:
            return found
        try:
            return write(lambda session, result: idempotency.remember(
                session, store.idempotency_keys, **ids, result=result))
        except errors.AlreadyExists:
            found = lookup()
            if found is not None:
                return found
            raise

    @staticmethod
    def _version_dict(v) -> dict:
        return {"version": v.version, "value": v.value, "kind": v.kind, "weight": v.weight,
                "comment": v.comment, "removed": v.removed, "by": v.by, "at": v.at.isoformat(),
                "reason": v.reason, "hash": v.hash}

    def _change_mark(self, ctx, mark_id, check, apply, event, remember):
        """Lock the mark, check who and what, apply the change, append the
        next version of its chain and publish ``event``; one transaction."""
        actor = domain.actor_from_ctx(ctx)
        mark_id = domain.ident(mark_id, "mark_id")
        with _writing(self.db) as s:
            found = store.mark_for_update(s, school_id=actor.school_id, mark_id=mark_id)
            if found is None:
                raise errors.NotFound("Отметка не найдена", details={"field": "mark_id"})
            mark, lesson, klass, subject, year = found
            marks.require_may_change_mark(actor, mark.author_id)
            domain.check_year_open(year.archived)
            marks.check_not_removed(mark.removed)
            old = store.mark_state(mark)
            reason = check(old)
            apply(mark)
            mark.version += 1
            now = utcnow()
            version = store.add_mark_version(s, mark=mark, by=actor.actor_id, at=now, reason=reason)
            type_, payload = event(mark, lesson, subject.name, old, reason, actor.actor_id)
            self.outbox.add(s, type_, payload, ctx)
            result = {"id": mark.id, "student_id": mark.student_id, "lesson_id": mark.lesson_id,
                      "value": mark.value, "kind": mark.kind, "weight": mark.weight, "comment": mark.comment,
                      "removed": mark.removed, "version": mark.version,
                      "old": {k: old[k] for k in ("value", "kind", "weight", "comment")},
                      "history": self._version_dict(version)}
            remember(s, result)
        return result

    @journal_rpc
    def correct_mark(self, ctx, mark_id, data, idempotency_key=None):
        """Correct a mark (R-J7): a new version with who, when, old, new and
        the required reason; the old value stays in the history. The
        author, a deputy or the admin."""
        change = marks.validate_correction(data, allow_mark_1=self.settings.allow_mark_1)
        new = {}

        def check(old):
            new.update(marks.corrected_state(old, change))
            return change.reason

        def apply(mark):
            mark.value, mark.kind, mark.weight, mark.comment = new["value"], new["kind"], new["weight"], new["comment"]

        def event(mark, lesson, subject_name, old, reason, by):
            return events.MARK_CORRECTED, events.mark_corrected(mark, lesson, subject_name, old, reason, by)

        return self._idempotent(ctx, idempotency_key, "correct_mark", [mark_id, data], lambda remember:
                                self._change_mark(ctx, mark_id, check, apply, event, remember))

    @journal_rpc
    def remove_mark(self, ctx, mark_id, data, idempotency_key=None):
        """Remove a mark (R-J7): a tombstone version with the reason, never a
        hard delete; the diary and the averages stop counting it."""
        reason = marks.validate_reason(data)

        def apply(mark):
            mark.removed = True

        def event(mark, lesson, subject_name, old, reason_, by):
            return events.MARK_REMOVED, events.mark_removed(mark, lesson, subject_name, reason_, by)

        return self._idempotent(ctx, idempotency_key, "remove_mark", [mark_id, data], lambda remember:
                                self._change_mark(ctx, mark_id, lambda old: reason, apply, event, remember))

    @journal_rpc
    def mark_history(self, ctx, mark_id):
        """Every version of a mark, oldest first, and whether its chain
        verifies (R-J7); staff of the school."""
        actor = domain.actor_from_ctx(ctx)
        marks.require_staff(actor)
        mark_id = domain.ident(mark_id, "mark_id")
        with self.db.transaction() as s:
            mark = store.get_mark(s, school_id=actor.school_id, mark_id=mark_id)
            if mark is None:
                raise errors.NotFound("Отметка не найдена", details={"field": "mark_id"})
            versions = store.mark_versions(s, school_id=actor.school_id, mark_id=mark_id)
            chain = store.mark_chain(s, mark_id=mark_id)
            problems = marks.verify_mark(store.mark_state(mark), chain)
        return {"mark_id": mark_id, "verified": not problems, "problems": problems,
                "items": [self._version_dict(v) for v in versions]}

    @journal_rpc
    def verify_journal(self, ctx):
        """Check every mark's hash chain and current row of the school
        (tamper evidence, R-J7); admin, deputy, director."""
        actor = domain.actor_from_ctx(ctx)
        domain.require_roles(actor, domain.ADMIN, domain.DEPUTY, "director")
        checked, broken = 0, []
        with self.db.transaction() as s:
            for state, chain in store.chains(s, school_id=actor.school_id):
                checked += 1
                problems = marks.verify_mark(state, chain)
                if problems:
                    broken.append({"mark_id": state["mark_id"], "problems": problems})
        return {"ok": not broken, "checked": checked, "broken": broken[:1000], "broken_count": len(broken)}

    @journal_rpc
    def record_attendance(self, ctx, lesson_id, data, idempotency_key=None):
        """Attendance of a lesson (R-J2): present/absent/excused/ill/late per
        student. A change of an existing entry is a correction (R-J7): a new
        version with who, when, old, new and the reason; the lesson's teacher
        corrects within 3 days, the class teacher within the current and the
        previous week, the admin always. Unchanged entries are left alone."""
        return self._idempotent(ctx, idempotency_key, "record_attendance", [lesson_id, data],
                                lambda remember: self._record_attendance(ctx, lesson_id, data, remember))

    def _record_attendance(self, ctx, lesson_id, data, remember):
        actor = domain.actor_from_ctx(ctx)
        lesson_id = domain.ident(lesson_id, "lesson_id")
        given = marks.validate_attendance(data)
        config = self.settings
        with _writing(self.db) as s:
            found = store.lesson_context(s, school_id=actor.school_id, lesson_id=lesson_id)
            if found is None:
                raise errors.NotFound("Урок не найден", details={"field": "lesson_id"})
            lesson, klass, subject, year = found
            domain.require_journal_access(
                actor, class_teacher_id=klass.class_teacher_id, subgroup_id=lesson.subgroup_id,
                assigned_subgroups=store.assigned_subgroups(
                    s, teacher_id=actor.actor_id, class_id=klass.id, subject_id=subject.id))
            domain.check_year_open(year.archived)
            now = utcnow()
            today = domain.school_today(now, config.timezone)
            domain.check_lesson_happened(lesson.date, today)
            student_ids = [sid for sid, _ in given.entries]
            domain.check_students_in_class(student_ids, store.students_enrolled_on(
                s, class_id=klass.id, student_ids=student_ids, day=lesson.date))
            current = store.attendance_of_lesson(s, lesson_id=lesson.id, lock=True)
            changes = marks.attendance_changes(given.entries, {k: v.status for k, v in current.items()})
            if any(previous is not None for _, _, previous in changes):
                marks.check_attendance_correction(actor, class_teacher_id=klass.class_teacher_id,
                                                  lesson_date=lesson.date, today=today, reason=given.reason)
            store.save_attendance(s, school_id=actor.school_id, lesson_id=lesson.id, changes=changes,
                                  current=current, by=actor.actor_id, at=now, reason=given.reason)
            if changes:
                self.outbox.add(s, events.ATTENDANCE_RECORDED,
                                events.attendance_recorded(lesson, subject.name, changes, given.reason), ctx)
            entries = store.attendance_of_lesson(s, lesson_id=lesson.id)
            result = {"lesson_id": lesson.id, "changed": len(changes),
                      "entries": [{"student_id": e.student_id, "status": e.status, "version": e.version}
                                  for e in sorted(entries.values(), key=lambda e: e.student_id)]}
            remember(s, result)
        return result

    @journal_rpc
    def post_final_mark(self, ctx, data, idempotency_key=None):
        """A final mark for a period or the year (R-F1) with its evidence and
        warnings (R-F2), late after the 2-day deadline (R-F3). Posting again
        supersedes the previous final mark (kept)."""
        return self._idempotent(ctx, idempotency_key, "post_final_mark", [data],
                                lambda remember: self._post_final_mark(ctx, data, remember))

    def _post_final_mark(self, ctx, data, remember):
        actor = domain.actor_from_ctx(ctx)
        config = self.settings
        spec = finals.validate_final(data, allow_mark_1=config.allow_mark_1)
        with _writing(self.db) as s:
            period = store.period_or_year(s, school_id=actor.school_id, period_id=spec.period_id)
            if period is None:
                raise errors.PeriodNotFound(details={"field": "period_id"})
            period_id, kind, starts_on, ends_on, year = period
            subject = store.get_subject(s, school_id=actor.school_id, subject_id=spec.subject_id)
            if subject is None:
                raise errors.NotFound("Предмет не найден", details={"field": "subject_id"})
            klass = store.class_of_student_in_year(s, student_id=spec.student_id, year_id=year.id)
            if klass is None:
                raise errors.StudentNotInClass(details={"student_ids": [spec.student_id]})
            domain.require_journal_access(
                actor, class_teacher_id=klass.class_teacher_id, subgroup_id=None,
                assigned_subgroups=[None] if store.assigned_subgroups(
                    s, teacher_id=actor.actor_id, class_id=klass.id, subject_id=subject.id) else [])
            domain.check_year_open(year.archived)
            domain.check_marks_allowed(klass.grade)
            now = utcnow()
            today = domain.school_today(now, config.timezone)
            required = finals.required_marks(
                store.hours_per_week(s, class_id=klass.id, subject_id=subject.id),
                low=config.final_min_marks_low, high=config.final_min_marks_high)
            rows = store.student_marks(s, school_id=actor.school_id, student_id=spec.student_id,
                                       start=starts_on, end=ends_on, subject_id=subject.id)
            ev = finals.evidence([(v, w, k) for _, v, w, k in rows], required)
            late = finals.is_late(ends_on, today)
            warns = finals.warnings(spec.value, ev, late=late)
            previous = store.current_final(s, student_id=spec.student_id, subject_id=subject.id,
                                           period_id=period_id)
            if previous is not None:
                previous.superseded = True
            final = store.add_final_mark(
                s, school_id=actor.school_id, student_id=spec.student_id, subject_id=subject.id,
                class_id=klass.id, period_id=period_id, period_kind=kind, value=spec.value,
                version=(previous.version + 1) if previous else 1, evidence=ev, warnings=warns, late=late,
                teacher_id=actor.actor_id, entered_at=now, superseded=False)
            self.outbox.add(s, events.FINAL_MARK_POSTED, events.final_mark_posted(final), ctx)
            result = {"id": final.id, "student_id": final.student_id, "subject_id": final.subject_id,
                      "period_id": period_id, "period_kind": kind, "value": final.value,
                      "version": final.version, "evidence": ev, "warnings": warns, "late": late}
            remember(s, result)
        return result

    def _period_for(self, s, actor, period_id, today):
        """The named period (or year), or the school's period containing today."""
        if period_id:
            period = store.period_or_year(s, school_id=actor.school_id, period_id=domain.ident(period_id, "period_id"))
            if period is None:
                raise errors.PeriodNotFound(details={"field": "period_id"})
            return period
        period = store.period_on(s, school_id=actor.school_id, day=today)
        if period is None:
            raise errors.PeriodNotFound("Сегодня не идёт ни один учебный период; укажите period_id",
                                        details={"field": "period_id"})
        return period

    @journal_rpc
    def forecast(self, ctx, student_id, period_id=None):
        """R-F4: per subject, the final mark the current marks point to and
        how sure that is. Who may read is decided by the gateway (the same
        as the diary: the student, their parents, staff)."""
        actor = domain.actor_from_ctx(ctx)
        student_id = domain.ident(student_id, "student_id")
        config = self.settings
        today = domain.school_today(utcnow(), config.timezone)
        with self.db.transaction() as s:
            if store.get_person(s, school_id=actor.school_id, user_id=student_id) is None:
                raise errors.NotFound("Ученик не найден", details={"field": "student_id"})
            pid, kind, starts_on, ends_on, year = self._period_for(s, actor, period_id, today)
            klass = store.class_of_student_in_year(s, student_id=student_id, year_id=year.id)
            hours = store.class_subject_hours(s, class_id=klass.id) if klass else {}
            by_subject = finals.group_marks(store.student_marks(
                s, school_id=actor.school_id, student_id=student_id, start=starts_on, end=ends_on))
        items = []
        for subject_id in sorted(set(hours) | set(by_subject)):
            required = finals.required_marks(hours.get(subject_id), low=config.final_min_marks_low,
                                             high=config.final_min_marks_high)
            items.append({"subject_id": subject_id,
                          **finals.forecast(by_subject.get(subject_id, []), required)})
        return {"student_id": student_id, "period_id": pid, "period_kind": kind, "items": items}

    @journal_rpc
    def students_at_risk(self, ctx, class_id, period_id=None):
        """R-F4: the class's students whose forecast in a subject is 2 or who
        have too few marks to be graded (R-F2); staff of the school."""
        actor = domain.actor_from_ctx(ctx)
        marks.require_staff(actor)
        class_id = domain.ident(class_id, "class_id")
        config = self.settings
        today = domain.school_today(utcnow(), config.timezone)
        with self.db.transaction() as s:
            klass = store.get_class(s, school_id=actor.school_id, class_id=class_id)
            if klass is None:
                raise errors.NotFound("Класс не найден", details={"field": "class_id"})
            pid, kind, starts_on, ends_on, year = self._period_for(s, actor, period_id, today)
            hours = store.class_subject_hours(s, class_id=klass.id)
            students = store.students_of_class(s, class_id=klass.id, start=starts_on, end=ends_on)
            rows = store.class_marks(s, class_id=klass.id, start=starts_on, end=ends_on)
        by_student: dict = {}
        for student_id, subject_id, value, weight, kind_ in rows:
            by_student.setdefault(student_id, {}).setdefault(subject_id, []).append((value, weight, kind_))
        items = []
        for student_id, full_name in students:
            subjects = []
            for subject_id in sorted(set(hours) | set(by_student.get(student_id, {}))):
                required = finals.required_marks(hours.get(subject_id), low=config.final_min_marks_low,
                                                 high=config.final_min_marks_high)
                fc = finals.forecast(by_student.get(student_id, {}).get(subject_id, []), required)
                reasons = finals.risk_reasons(fc)
                if reasons:
                    subjects.append({"subject_id": subject_id, "reasons": reasons, **fc})
            if subjects:
                items.append({"student_id": student_id, "full_name": full_name, "subjects": subjects})
        return {"class_id": class_id, "period_id": pid, "items": items}
