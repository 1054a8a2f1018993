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

from journal import domain, errors, events, store
from journal import settings as journal_settings
from journal.store import tables
from kernel.db import Database
from kernel.errors import ServiceError
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
    def record_lesson(self, ctx, data):
        """Record a lesson (R-J1); flags late and overdue entries (R-J5)."""
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
        return result

    @journal_rpc
    def post_marks(self, ctx, lesson_id, marks):
        """Post marks for a lesson, all or nothing (R-J3, R-J4, R-J9); each
        mark starts its version chain (R-J7)."""
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
            for mark in posted:
                self.outbox.add(s, events.MARK_POSTED, events.mark_posted(mark, lesson, subject.name), ctx)
        return {"marks": [{"id": m.id, "student_id": m.student_id, "value": m.value, "kind": m.kind,
                           "weight": m.weight, "comment": m.comment} for m in posted]}

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
