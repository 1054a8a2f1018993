"""The journal's nameko entrypoints: decode, call the rules and the store,
encode. Every write commits its data and its events together (outbox)."""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
from contextlib import contextmanager

import eventlet
from nameko.exceptions import RemoteError, UnknownService
from nameko.extensions import DependencyProvider
from nameko.timer import timer
from sqlalchemy.exc import IntegrityError

from journal import domain, errors, events, finals, imports, marks, store, structure
from journal import history_import
from journal import verify as tamper
from journal import settings as journal_settings
from journal.store import tables
from kernel.db import Database
from kernel.errors import ServiceError
from kernel import access_rules, idempotency
from kernel.events import utcnow
from kernel.nameko_ext import DeadLetters, EntrypointMetrics, Outbox, RpcProxy, handles, on_event, service_rpc

log = logging.getLogger(__name__)

SERVICE_NAME = "journal"

SCHEDULER = "scheduler"
ADMINISTRATION = ("admin", "director", "deputy")
# who reads the school's structure (movement history): staff, not families
STRUCTURE_READERS = ADMINISTRATION + ("secretary", "class_teacher", "teacher")


def _not_enrolled(s, actor, student_id: str):
    """A movement of a student with no open stay: 422 NOT_ENROLLED for a
    student this school has had; 404 for an id it never had (a student of
    another school is "not yours", API.md)."""
    if not store.movements(s, school_id=actor.school_id, student_id=student_id):
        raise errors.NotFound("Ученик не найден", details={"field": "student_id"})
    raise errors.NotEnrolled(details={"student_id": student_id})

def _check_subgroup(s, class_id: str, subject_id: str, subgroup_id: str | None, field: str = "subgroup_id"):
    """A subgroup a write names is one of the class's for that subject (R-S5): 404 otherwise."""
    if subgroup_id is not None and store.subgroups_of_class(s, class_id=class_id).get(subgroup_id) != subject_id:
        raise errors.NotFound("Подгруппа не найдена в этом классе по этому предмету", details={"field": field})


# how often old Idempotency-Key answers are deleted (the retention is a setting)
IDEMPOTENCY_PURGE_SECONDS = 3600


class Settings(DependencyProvider):
    """The journal's settings (:mod:`journal.settings`), read once at start."""

    def setup(self):
        self.value = journal_settings.load(self.container.config)

    def get_dependency(self, worker_ctx):
        return self.value


class _Replayed(Exception):
    """An Idempotency-Key seen before: its stored first result."""

    def __init__(self, result):
        super().__init__("replayed")
        self.result = result


class _Remember:
    """``remember(session, result)``: what an idempotent write calls to
    store its result under the Idempotency-Key, in its own transaction
    (nothing without a key)."""

    def __init__(self, ids: dict | None):
        self.ids = ids

    def __call__(self, session, result) -> None:
        if self.ids is not None:
            idempotency.remember(session, store.idempotency_keys, **self.ids, result=result)

    @property
    def key(self) -> str | None:
        return self.ids["key"] if self.ids is not None else None

    def stored(self, session) -> dict | None:
        """The key's stored first result, read now (None: unseen, or no key)."""
        return idempotency.lookup(session, store.idempotency_keys, **self.ids) if self.ids is not None else None

    def replay(self, session) -> None:
        """Raise :class:`_Replayed` when the key holds a first result already."""
        found = self.stored(session)
        if found is not None:
            raise _Replayed(found)

    def replay_from(self, stored_fingerprint, stored_result) -> None:
        """:meth:`replay` for a key row the caller read in a statement of its
        own."""
        if self.ids is not None:
            found = idempotency.stored_answer(stored_fingerprint, stored_result, key=self.ids["key"],
                                              operation=self.ids["operation"], request=self.ids["request"])
            if found is not None:
                raise _Replayed(found)

    def rows(self, result) -> tuple:
        """The same as ``(table, rows)`` for kernel.db.insert_rows."""
        if self.ids is None:
            return store.idempotency_keys, []
        return store.idempotency_keys, [idempotency.key_row(**self.ids, result=result)]


@contextmanager
def _writing(db, replay=None):
    """A write transaction; a unique-constraint race reads as 409.
    ``replay(session)`` (:meth:`_Remember.replay`), when given, looks an
    Idempotency-Key's first result up as the transaction's first statement
    (no transaction of its own) and ends the write with :class:`_Replayed`
    when it finds one."""
    try:
        with db.transaction() as session:
            if replay is not None:
                replay(session)
            yield session
    except IntegrityError as exc:
        log.info("integrity error on write: %s", exc.orig)
        raise errors.AlreadyExists() from None


def _writable_lesson(s, actor, lesson_id, remember):
    """The lesson the actor may write to (R-A3, R-J6) in a year still open,
    with what its checks need, read in one statement together with the
    Idempotency-Key's stored row (store.lesson_write_context; the caller's
    transaction is ``self._write(own_lookup=True)``). A stored first result
    wins over the checks (:class:`_Replayed`); NOT_FOUND, FORBIDDEN or
    YEAR_CLOSED otherwise. Marks and attendance both start here."""
    lesson = store.lesson_write_context(s, school_id=actor.school_id, lesson_id=lesson_id,
                                        teacher_id=actor.actor_id, key=remember.key)
    if lesson is None:
        remember.replay(s)  # the lesson is gone: a first result still wins
        raise errors.NotFound("Урок не найден", details={"field": "lesson_id"})
    remember.replay_from(lesson.key_fingerprint, lesson.key_result)
    domain.require_journal_access(actor, class_teacher_id=lesson.class_teacher_id, subgroup_id=lesson.subgroup_id,
                                  assigned_subgroups=lesson.assigned_subgroups, lesson_teacher_id=lesson.teacher_id)
    domain.check_year_open(lesson.archived)
    return lesson


class Service:
    name = SERVICE_NAME

    db = Database()
    outbox = Outbox(tables)
    dead_letters = DeadLetters(tables)
    metrics = EntrypointMetrics()
    settings = Settings()
    # requests to identity expire with the journal's own wait for them
    identity = RpcProxy("identity", timeout=lambda config: journal_settings.load(config).identity_timeout)

    @service_rpc
    def health(self):
        """Liveness of the nameko process."""
        return {"status": "ok", "service": SERVICE_NAME}

    # --- school structure (admin) -------------------------------------------

    @service_rpc
    def open_year(self, ctx, data):
        """Open a school year with its periods (R-S1); admin."""
        actor = domain.actor_from_ctx(ctx)
        domain.require_roles(actor, domain.ADMIN)
        spec = domain.validate_year(data)
        with self._write() as s:
            if store.year_name_taken(s, school_id=actor.school_id, name=spec.name):
                raise errors.AlreadyExists("Учебный год с таким названием уже открыт", details={"field": "name"})
            year, periods = store.add_year(s, school_id=actor.school_id, spec=spec)
            payload = events.year_opened(year, periods)
            self.outbox.add(s, events.YEAR_OPENED, payload, ctx)
        return {"id": year.id, "name": payload["name"], "starts_on": payload["starts_on"],
                "ends_on": payload["ends_on"], "periods": payload["periods"]}

    @service_rpc
    def create_subject(self, ctx, data):
        """Add a subject, unique by name within the school; admin. ``emphasis``
        (R-F2) defaults from the name (:func:`journal.finals.default_emphasis`)."""
        actor = domain.actor_from_ctx(ctx)
        domain.require_roles(actor, domain.ADMIN)
        name = domain.validate_subject(data)
        emphasis = finals.validate_emphasis(data)
        with self._write() as s:
            if store.subject_name_taken(s, school_id=actor.school_id, name=name):
                raise errors.AlreadyExists("Такой предмет уже есть", details={"field": "name"})
            subject = store.add_subject(s, school_id=actor.school_id, name=name, emphasis=emphasis)
            self.outbox.add(s, events.SUBJECT_CREATED, events.subject_created(subject), ctx)
        return {"id": subject.id, "name": subject.name, "emphasis": subject.emphasis}

    @service_rpc
    def create_class(self, ctx, data):
        """Add a class ("5А") to an open year with its class teacher; admin."""
        actor = domain.actor_from_ctx(ctx)
        domain.require_roles(actor, domain.ADMIN)
        spec = domain.validate_class(data)
        teacher = self._person(actor, ctx, spec.class_teacher_id, "class_teacher_id")
        domain.require_role(teacher.roles, domain.TEACHING_ROLES, field="class_teacher_id")
        with self._write() as s:
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

    @service_rpc
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
        with self._write() as s:
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

    @service_rpc
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
        with self._write() as s:
            klass, year = store.class_with_year(s, school_id=actor.school_id, class_id=spec.class_id)
            domain.check_year_open(year.archived)
            _check_subgroup(s, klass.id, spec.subject_id, spec.subgroup_id)
            if store.assignment_exists(s, teacher_id=spec.teacher_id, class_id=spec.class_id,
                                       subject_id=spec.subject_id, subgroup_id=spec.subgroup_id):
                raise errors.AlreadyExists("Учитель уже назначен на этот предмет в этом классе")
            assignment = store.add_assignment(s, school_id=actor.school_id, spec=spec)
            payload = events.teacher_assigned(assignment)
            self.outbox.add(s, events.TEACHER_ASSIGNED, payload, ctx)
        return {"id": assignment.id, **{k: payload[k] for k in (
            "teacher_id", "class_id", "subject_id", "hours_per_week", "subgroup_id")}}

    # --- the journal ---------------------------------------------------------

    @service_rpc
    def record_lesson(self, ctx, data, idempotency_key=None):
        """Record a lesson (R-J1); flags late and overdue entries (R-J5).
        With ``idempotency_key`` a retry returns the first result."""
        return self._idempotent(ctx, idempotency_key, "record_lesson", [data],
                                lambda remember: self._record_lesson(ctx, data, remember))

    def _record_lesson(self, ctx, data, remember):
        actor = domain.actor_from_ctx(ctx)
        spec = domain.validate_lesson(data, actor_id=actor.actor_id)
        config = self.settings
        with self._write() as s:
            found = store.class_with_year(s, school_id=actor.school_id, class_id=spec.class_id)
            if found is None:
                raise errors.NotFound("Класс не найден", details={"field": "class_id"})
            klass, year = found
            subject = store.get_subject(s, school_id=actor.school_id, subject_id=spec.subject_id)
            if subject is None:
                raise errors.NotFound("Предмет не найден", details={"field": "subject_id"})
            replaced = None if spec.substitute_for is None else store.assigned_subgroups(
                s, teacher_id=spec.substitute_for, class_id=klass.id, subject_id=subject.id)
            domain.require_journal_access(
                actor, class_teacher_id=klass.class_teacher_id, subgroup_id=spec.subgroup_id,
                assigned_subgroups=store.assigned_subgroups(
                    s, teacher_id=actor.actor_id, class_id=klass.id, subject_id=subject.id),
                replaced_subgroups=replaced)
            _check_subgroup(s, klass.id, subject.id, spec.subgroup_id)
            domain.check_year_open(year.archived)
            domain.check_lesson_date(spec.date, store.period_bounds(s, year_id=year.id))
            domain.check_homework_allowed(klass.grade, spec.homework)
            if replaced is not None:
                domain.check_substitute(replaced, spec.subgroup_id)
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

    @service_rpc
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
        with self._write(own_lookup=True) as s:
            lesson = _writable_lesson(s, actor, lesson_id, remember)
            domain.check_marks_allowed(lesson.grade)
            now = utcnow()
            domain.check_lesson_happened(lesson.date, domain.school_today(now, config.timezone))
            domain.check_students_in_class([m.student_id for m in specs], lesson.enrolled)
            posted = store.new_marks(school_id=actor.school_id, lesson_id=lesson.id, specs=specs,
                                     author_id=actor.actor_id, at=now)
            # One packed message for the class (docs/events.md): 30 envelopes,
            # each unchanged, cost the broker and every consumer one delivery.
            outbox, event_rows, _ = self.outbox.prepare_many(
                [(events.MARK_POSTED, events.mark_posted(mark, lesson, lesson.subject_name)) for mark in posted],
                ctx, packed=True)
            result = {"marks": [{"id": m.id, "student_id": m.student_id, "value": m.value, "kind": m.kind,
                                 "weight": m.weight, "comment": m.comment} for m in posted]}
            # The marks, their versions, the outbox row and the key: one round trip.
            store.insert_marks(s, posted, also=[(outbox, event_rows), remember.rows(result)])
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

    # === school structure over the year (issue 4, part A; journal.structure) ===

    @service_rpc
    def transfer_student(self, ctx, student_id, data):
        """Move a student to another class of the same year by order (R-S3);
        the old stay is closed, a new one opened: history is kept. Admin."""
        actor = domain.actor_from_ctx(ctx)
        domain.require_roles(actor, domain.ADMIN)
        student_id = domain.ident(student_id, "student_id")
        spec = structure.validate_transfer(data)
        with self._write() as s:
            found = store.class_with_year(s, school_id=actor.school_id, class_id=spec.to_class_id)
            if found is None:
                raise errors.NotFound("Класс не найден", details={"field": "to_class_id"})
            target, year = found
            domain.check_year_open(year.archived)
            store.lock_person(s, user_id=student_id)
            stays = [(e, c) for e, c, y in store.open_enrolment_of(s, school_id=actor.school_id,
                                                                    student_id=student_id) if y.id == year.id]
            if not stays:
                _not_enrolled(s, actor, student_id)
            old, klass = stays[0]
            structure.check_transfer_target(from_class_id=klass.id, to_class_id=target.id,
                                            from_year_id=klass.year_id, to_year_id=target.year_id)
            structure.check_movement_date(spec.on, enrolled_on=old.enrolled_on, year_starts_on=year.starts_on,
                                          year_ends_on=year.ends_on)
            store.close_enrolment(old, on=spec.on, order_no=spec.order_no, reason=structure.LEFT_TRANSFERRED)
            new = store.add_enrolment(s, school_id=actor.school_id, class_id=target.id, spec=domain.EnrolmentSpec(
                student_id=student_id, order_no=spec.order_no, on=spec.on))
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
        actor = domain.actor_from_ctx(ctx)
        domain.require_roles(actor, domain.ADMIN)
        student_id = domain.ident(student_id, "student_id")
        spec = structure.validate_departure(data)
        with self._write() as s:
            store.lock_person(s, user_id=student_id)
            stays = store.open_enrolment_of(s, school_id=actor.school_id, student_id=student_id)
            if not stays:
                _not_enrolled(s, actor, student_id)
            current = [(stay, year) for stay, _klass, year in stays if year.starts_on <= spec.on <= year.ends_on]
            if not current:
                _stay, _klass, year = stays[-1]
                structure.check_movement_date(spec.on, enrolled_on=_stay.enrolled_on, year_starts_on=year.starts_on,
                                              year_ends_on=year.ends_on)  # raises: the date is in no open stay's year
            payloads = []
            for stay, _klass, year in stays:
                if (stay, year) in current:
                    structure.check_movement_date(spec.on, enrolled_on=stay.enrolled_on,
                                                  year_starts_on=year.starts_on, year_ends_on=year.ends_on)
                    store.close_enrolment(stay, on=spec.on, order_no=spec.order_no, reason=structure.LEFT_DEPARTED)
                elif stay.enrolled_on > spec.on:
                    # already admitted to a later year (promotion): that stay never begins
                    store.close_enrolment(stay, on=stay.enrolled_on, order_no=spec.order_no,
                                          reason=structure.LEFT_DEPARTED)
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
        actor = domain.actor_from_ctx(ctx)
        domain.require_roles(actor, *STRUCTURE_READERS)
        student_id = domain.ident(student_id, "student_id")
        with self.db.transaction() as s:
            rows = store.movements(s, school_id=actor.school_id, student_id=student_id)
        if not rows:
            raise errors.NotFound("Ученик не найден", details={"field": "student_id"})
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
        actor = domain.actor_from_ctx(ctx)
        domain.require_roles(actor, domain.ADMIN)
        year_id = domain.ident(year_id, "year_id")
        spec = structure.validate_close(data)
        with self._write() as s:
            year = store.lock_year(s, school_id=actor.school_id, year_id=year_id)
            if year is None:
                raise errors.NotFound("Учебный год не найден", details={"field": "year_id"})
            if year.archived:
                raise errors.YearAlreadyClosed(details={"year_id": year.id})
            structure.check_year_ended(year.ends_on, domain.school_today(utcnow(), self.settings.timezone),
                                       early=spec.early)
            if spec.next_year_id and store.get_year(s, school_id=actor.school_id, year_id=spec.next_year_id) is None:
                raise errors.NotFound("Учебный год не найден", details={"field": "next_year_id"})
            stays = store.open_stays_of_year(s, year_id=year.id)
            structure.check_held_back_known(spec.held_back, [e.student_id for e, _ in stays])
            summary = {"year_id": year.id, "order_no": spec.order_no, "archived": True, "next_year_id": None,
                       "promoted": 0, "graduated": 0, "held_back": 0, "already_enrolled": 0,
                       "created_classes": [], "classes": []}
            if spec.promote:
                summary.update(self._promote(s, ctx, actor, year, spec, stays))
            year.archived = True
            closure = store.YearClosure(year_id=year.id, school_id=actor.school_id, order_no=spec.order_no,
                                        closed_by=actor.actor_id, closed_at=utcnow(),
                                        next_year_id=summary["next_year_id"], summary=summary)
            s.add(closure)
            s.flush()
            self.outbox.add(s, events.YEAR_CLOSED, events.year_closed(closure), ctx)
        return summary

    def _promote(self, s, ctx, actor, year, spec, stays) -> dict:
        """The promotion part of :meth:`close_year`, inside its transaction."""
        next_id = spec.next_year_id or structure.pick_next_year(
            year.ends_on, store.school_years(s, school_id=actor.school_id))
        next_year = store.get_year(s, school_id=actor.school_id, year_id=next_id) if next_id else None
        if next_year is None or next_year.archived or next_year.starts_on <= year.ends_on:
            raise errors.NoNextYear(details={"field": "next_year_id"})
        by_student = {(e.student_id, c.id): (e, c) for e, c in stays}
        moves = structure.plan_promotion([(e.student_id, c.id, c.grade, c.letter) for e, c in stays], spec.held_back)
        targets = store.classes_of_year(s, year_id=next_year.id)
        already = store.students_with_open_stay(s, year_id=next_year.id)
        first_day_out = year.ends_on + dt.timedelta(days=1)
        counts = {structure.LEFT_PROMOTED: 0, structure.LEFT_GRADUATED: 0, structure.LEFT_HELD_BACK: 0}
        created, per_class, skipped = [], {}, 0
        for move in moves:
            stay, klass = by_student[(move.student_id, move.from_class_id)]
            store.close_enrolment(stay, on=first_day_out, order_no=spec.order_no, reason=move.outcome)
            counts[move.outcome] += 1
            if move.outcome == structure.LEFT_GRADUATED:
                self.outbox.add(s, events.STUDENT_LEFT, events.student_left(stay), ctx)
                continue
            if move.student_id in already:
                skipped += 1  # admitted to next year by hand already: that order stands
                continue
            target = targets.get((move.to_grade, move.letter))
            if target is None:
                # the class teacher follows a promoted class; a class made only for the held back has none yet
                teacher = klass.class_teacher_id if move.outcome == structure.LEFT_PROMOTED else None
                target = store.add_class(s, school_id=actor.school_id, spec=domain.ClassSpec(
                    year_id=next_year.id, grade=move.to_grade, letter=move.letter, class_teacher_id=teacher))
                targets[(move.to_grade, move.letter)] = target
                created.append({"id": target.id, "name": target.name})
                self.outbox.add(s, events.CLASS_CREATED, events.class_created(target), ctx)
            new = store.add_enrolment(s, school_id=actor.school_id, class_id=target.id, spec=domain.EnrolmentSpec(
                student_id=move.student_id, order_no=spec.order_no, on=next_year.starts_on))
            self.outbox.add(s, events.STUDENT_ENROLLED, events.student_enrolled(new), ctx)
            row = per_class.setdefault((klass.id, target.id), {
                "from_class_id": klass.id, "from": klass.name, "to_class_id": target.id, "to": target.name,
                "students": 0})
            row["students"] += 1
        return {"next_year_id": next_year.id, "promoted": counts[structure.LEFT_PROMOTED],
                "graduated": counts[structure.LEFT_GRADUATED], "held_back": counts[structure.LEFT_HELD_BACK],
                "already_enrolled": skipped, "created_classes": created, "classes": list(per_class.values())}

    @service_rpc
    def create_subgroup(self, ctx, class_id, data):
        """Split a class for a subject (R-S5); deputy, the class's class
        teacher, admin. A student is in at most one subgroup per subject."""
        actor = domain.actor_from_ctx(ctx)
        class_id = domain.ident(class_id, "class_id")
        spec = structure.validate_subgroup(data)
        with self._write() as s:
            found = store.class_with_year(s, school_id=actor.school_id, class_id=class_id)
            if found is None:
                raise errors.NotFound("Класс не найден", details={"field": "class_id"})
            klass, year = found
            if access_rules.splits_class(actor.roles, class_teacher=domain.is_class_teacher(
                    actor, klass.class_teacher_id)) is not None:
                raise errors.NotAllowed("Делить класс на подгруппы может завуч или классный руководитель")
            if store.get_subject(s, school_id=actor.school_id, subject_id=spec.subject_id) is None:
                raise errors.NotFound("Предмет не найден", details={"field": "subject_id"})
            domain.check_year_open(year.archived)
            structure.check_subgroup_members(
                spec.student_ids, in_class=store.students_in_class_now(s, class_id=klass.id),
                already_grouped=store.grouped_students(s, class_id=klass.id, subject_id=spec.subject_id))
            subgroup = store.add_subgroup(s, school_id=actor.school_id, class_id=klass.id, spec=spec)
            payload = events.subgroup_created(subgroup, spec.student_ids)
            self.outbox.add(s, events.SUBGROUP_CREATED, payload, ctx)
        return {"id": subgroup.id, **{k: v for k, v in payload.items() if k != "subgroup_id"}}

    @service_rpc
    def set_timetable(self, ctx, class_id, data):
        """Replace a class's week in a period (R-S6); the scheduler, admin.
        A teacher or a room in two places at once is refused (409
        TIMETABLE_CONFLICT with every clash in ``details.conflicts``)."""
        actor = domain.actor_from_ctx(ctx)
        domain.require_roles(actor, domain.ADMIN, SCHEDULER)
        class_id = domain.ident(class_id, "class_id")
        spec = structure.validate_timetable(data)
        for teacher_id in sorted({slot.teacher_id for slot in spec.slots}):
            teacher = self._person(actor, ctx, teacher_id, "teacher_id")
            domain.require_role(teacher.roles, domain.TEACHING_ROLES, field="teacher_id")
        with self._write() as s:
            found = store.class_with_year(s, school_id=actor.school_id, class_id=class_id)
            if found is None:
                raise errors.NotFound("Класс не найден", details={"field": "class_id"})
            klass, year = found
            period = store.get_period(s, school_id=actor.school_id, period_id=spec.period_id)
            if period is None or period.year_id != year.id:
                raise errors.NotFound("Период не найден в учебном году класса", details={"field": "period_id"})
            domain.check_year_open(year.archived)
            unknown = {slot.subject_id for slot in spec.slots} - store.subject_ids_known(
                s, school_id=actor.school_id, subject_ids=[slot.subject_id for slot in spec.slots])
            if unknown:
                raise errors.NotFound("Предмет не найден", details={"field": "subject_id", "ids": sorted(unknown)})
            structure.check_slot_subgroups(spec.slots, store.subgroups_of_class(s, class_id=klass.id))
            store.lock_timetable(s, period_id=period.id)
            structure.check_timetable(klass.id, spec.slots,
                                      store.busy_slots(s, period_id=period.id, exclude_class_id=klass.id))
            rows = store.replace_timetable(s, school_id=actor.school_id, class_id=klass.id, period_id=period.id,
                                           slots=spec.slots)
            payload = events.timetable_set(klass.id, period.id, rows)
            self.outbox.add(s, events.TIMETABLE_SET, payload, ctx)
        return payload

    @service_rpc
    def get_timetable(self, ctx, class_id, period_id):
        """A class's week in a period (R-S6): staff of the school; a student
        their own class's, a parent their child's (R-A3; identity knows the
        children: its access decision is asked)."""
        actor = domain.actor_from_ctx(ctx)
        family = not actor.has(*STRUCTURE_READERS, SCHEDULER) and actor.has("student", "parent")
        if not family:
            domain.require_roles(actor, *STRUCTURE_READERS, SCHEDULER)
        class_id = domain.ident(class_id, "class_id")
        period_id = domain.ident(period_id, "period_id")
        child_class = False
        if family and actor.has("parent"):
            answer = self._identity("authorize", ctx, "timetable.read", "class", class_id)
            child_class = bool(answer.get("allowed")) and answer.get("reason") != "deferred"
        with self.db.transaction() as s:
            found = store.class_with_year(s, school_id=actor.school_id, class_id=class_id)
            period = store.get_period(s, school_id=actor.school_id, period_id=period_id)
            if found is not None and family and not child_class:
                own = store.class_of_student_in_year(s, student_id=actor.actor_id, year_id=found[1].id)
                if own is None or own.id != class_id:
                    found = None  # not yours: not found
            if found is None:
                raise errors.NotFound("Класс не найден", details={"field": "class_id"})
            if period is None or period.year_id != found[1].id:
                raise errors.NotFound("Период не найден в учебном году класса", details={"field": "period_id"})
            rows = store.timetable_of(s, class_id=class_id, period_id=period_id)
            return events.timetable_set(class_id, period_id, rows)

    @service_rpc
    def create_plan(self, ctx, data):
        """A calendar-thematic plan (КТП, R-J8) of a class, subject and
        period; the teacher assigned there, the deputy or admin. One plan
        per class, subject and period (409 otherwise)."""
        actor = domain.actor_from_ctx(ctx)
        spec = structure.validate_plan(data)
        with self._write() as s:
            found = store.class_with_year(s, school_id=actor.school_id, class_id=spec.class_id)
            if found is None:
                raise errors.NotFound("Класс не найден", details={"field": "class_id"})
            klass, year = found
            if store.get_subject(s, school_id=actor.school_id, subject_id=spec.subject_id) is None:
                raise errors.NotFound("Предмет не найден", details={"field": "subject_id"})
            if access_rules.enters_plan(actor.roles, assigned=store.assigned_subgroups(
                    s, teacher_id=actor.actor_id, class_id=klass.id, subject_id=spec.subject_id)) is not None:
                raise errors.NotAssigned()
            period = store.get_period(s, school_id=actor.school_id, period_id=spec.period_id)
            if period is None or period.year_id != year.id:
                raise errors.NotFound("Период не найден в учебном году класса", details={"field": "period_id"})
            domain.check_year_open(year.archived)
            if store.plan_exists(s, class_id=klass.id, subject_id=spec.subject_id, period_id=period.id):
                raise errors.AlreadyExists("План по этому предмету в этом классе на этот период уже есть")
            plan = store.add_plan(s, school_id=actor.school_id, spec=spec, teacher_id=actor.actor_id)
            payload = events.plan_created(plan, spec.topics)
            self.outbox.add(s, events.PLAN_CREATED, payload, ctx)
        return {"id": plan.id, **{k: v for k, v in payload.items() if k != "plan_id"}}

    @service_rpc
    def plan_coverage(self, ctx, period_id, class_id=None, teacher_id=None):
        """Programme coverage (R-J8): per plan of the period, lessons taught
        vs hours planned, and whether the class is behind today. The
        administration sees all; a class teacher their class; a teacher
        their own plans."""
        actor = domain.actor_from_ctx(ctx)
        period_id = domain.ident(period_id, "period_id")
        class_id = domain.ident(class_id, "class_id", required=False)
        teacher_id = domain.ident(teacher_id, "teacher_id", required=False)
        with self.db.transaction() as s:
            if not actor.has(*ADMINISTRATION):
                klass = store.get_class(s, school_id=actor.school_id, class_id=class_id) if class_id else None
                own_class = klass is not None and klass.class_teacher_id == actor.actor_id
                if not own_class:
                    if not actor.has(*domain.TEACHING_ROLES) or teacher_id not in (None, actor.actor_id):
                        raise errors.NotAllowed()
                    teacher_id = actor.actor_id
            period, rows = store.plans_for_coverage(s, school_id=actor.school_id, period_id=period_id,
                                                    class_id=class_id, teacher_id=teacher_id)
        if period is None:
            raise errors.NotFound("Период не найден", details={"field": "period_id"})
        today = domain.school_today(utcnow(), self.settings.timezone)
        items = [{"plan_id": plan.id, "class_id": plan.class_id, "class_name": class_name,
                  "subject_id": plan.subject_id, "subject_name": subject_name, "teacher_id": plan.teacher_id,
                  **structure.coverage(planned_hours=plan.hours, taught=taught, period_start=period.starts_on,
                                       period_end=period.ends_on, today=today)}
                 for plan, class_name, subject_name, taught in rows]
        return {"period_id": period.id, "items": items}

    # --- bulk import of students with parents (R-S2; journal.imports) ----------

    @service_rpc
    def import_students(self, ctx, upload):
        """Import students with their parents from a CSV or XLSX file into a
        class (R-S2): admin or the class's class teacher.

        ``upload`` = ``{content_b64, filename, class_id, order_no, on}``.
        Every bad row is reported (``errors: [{row, message}]``) and then
        nothing is written anywhere. Otherwise identity creates the missing
        accounts (``create_user``) and links parents (``link_parent``), and
        the journal enrols the students in one transaction. A second import
        of the same file finds everything in place and changes nothing.

        Across services this is not one transaction: if identity or the
        journal fails half-way, accounts created so far stay in identity and
        the answer is 503 ``IMPORT_INCOMPLETE``; importing the same file
        again completes the work (every step is idempotent by login). The
        initial passwords of accounts created by a failed run are not shown
        again: those accounts need a password reset."""
        actor = domain.actor_from_ctx(ctx)
        upload = domain.require_mapping(upload, "upload")
        class_id = domain.ident(upload.get("class_id"), "class_id")
        admission = domain.EnrolmentSpec(student_id="-", order_no=domain.text(upload.get("order_no"), "order_no",
                                                                                max_len=64),
                                         on=domain.parse_date(upload.get("on"), "on"))
        with self.db.transaction() as s:
            found = store.class_with_year(s, school_id=actor.school_id, class_id=class_id)
        if found is None:
            raise errors.NotFound("Класс не найден", details={"field": "class_id"})
        klass, year = found
        if not domain.may_enrol(actor, klass.class_teacher_id):
            raise errors.NotAllowed("Загружать учеников может администратор или классный руководитель этого класса")
        domain.check_year_open(year.archived)
        domain.check_date_in_year(admission.on, year.starts_on, year.ends_on, "on")
        try:
            content = base64.b64decode(upload.get("content_b64") or "", validate=True)
            rows, problems = imports.parse_rows(imports.read_table(content))
        except (ValueError, binascii.Error) as exc:
            message = str(exc) if isinstance(exc, imports.FileRejected) else "Файл повреждён"
            raise errors.ValidationError(message, details={"field": "file"}) from None
        problems += imports.check_consistency(rows)
        logins = {}
        for row in rows:
            logins.setdefault(row.login.casefold(), row.student())
            logins.setdefault(row.parent_login.casefold(), row.parent())
        keys = sorted(logins)
        answers = self._identity("resolve_users", ctx, [logins[k] for k in keys]) if keys else []
        resolved = dict(zip(keys, answers))
        existing_ids = [a["id"] for a in answers if a["status"] == "existing"]
        with self.db.transaction() as s:
            elsewhere = store.enrolled_elsewhere(s, year_id=year.id, class_id=klass.id, student_ids=existing_ids)
        problems += imports.check_resolution(rows, resolved, enrolled_elsewhere=elsewhere)
        if problems:
            return {"applied": False, "created": 0, "updated": 0, "unchanged": 0, "credentials": [],
                    "errors": sorted(problems, key=lambda p: p["row"])}
        return self._apply_import(ctx, actor, klass, admission, rows, resolved)

    def _apply_import(self, ctx, actor, klass, admission, rows, resolved) -> dict:
        """The writing half of :meth:`import_students`; input already checked."""
        ids, credentials, made = {}, [], set()
        try:
            for row in rows:
                for key, data in ((row.login.casefold(), row.student()), (row.parent_login.casefold(), row.parent())):
                    if key in ids:
                        continue
                    if resolved[key]["status"] == "existing":
                        ids[key] = resolved[key]["id"]
                        continue
                    created = self._identity("create_user", ctx, data)
                    ids[key] = created["id"]
                    made.add(key)
                    credentials.append({"row": row.number, "login": created["login"],
                                        "initial_password": created["initial_password"]})
            linked = set()
            for row in rows:
                key, pkey = row.login.casefold(), row.parent_login.casefold()
                if ids[pkey] not in resolved[key].get("parent_ids", []):
                    self._identity("link_parent", ctx, ids[key], ids[pkey], row.relation)
                    linked.add(row.number)
            with self._write() as s:
                klass, year = store.class_with_year(s, school_id=actor.school_id, class_id=klass.id)
                domain.check_year_open(year.archived)
                now = utcnow()
                for row in rows:
                    for key, name, role in ((row.login.casefold(), row.full_name, "student"),
                                            (row.parent_login.casefold(), row.parent_full_name, "parent")):
                        if key in made:  # identity's user_created may not have arrived yet
                            store.save_person(s, user_id=ids[key], school_id=actor.school_id, at=now,
                                              full_name=name, roles=[role])
                student_ids = sorted({ids[r.login.casefold()] for r in rows})
                for student_id in student_ids:
                    store.lock_person(s, user_id=student_id)
                here = store.students_in_class_now(s, class_id=klass.id)
                enrolled = set()
                for student_id in student_ids:
                    if student_id in here:
                        continue
                    if store.open_enrolment_in_year(s, student_id=student_id, year_id=year.id) is not None:
                        raise errors.AlreadyEnrolled(details={"student_id": student_id})
                    enrolment = store.add_enrolment(s, school_id=actor.school_id, class_id=klass.id, spec=domain.EnrolmentSpec(
                        student_id=student_id, order_no=admission.order_no, on=admission.on))
                    self.outbox.add(s, events.STUDENT_ENROLLED, events.student_enrolled(enrolment), ctx)
                    enrolled.add(student_id)
                result = imports_summary(rows, ids, made, linked, enrolled)
                self.outbox.add(s, events.STUDENTS_IMPORTED, {
                    "class_id": klass.id, "order_no": admission.order_no, "on": admission.on.isoformat(),
                    "created": result["created"], "updated": result["updated"], "unchanged": result["unchanged"],
                    "student_ids": student_ids}, ctx)
        except errors.Unavailable as exc:
            raise errors.ImportIncomplete(details={**exc.details, "accounts_created": len(made)}) from None
        return {"applied": True, **result, "credentials": credentials, "errors": []}

    def _identity(self, method, *args):
        """One identity RPC with the settings' deadline; identity's own
        refusal is passed on as is, silence is 503."""
        timeout = eventlet.Timeout(self.settings.identity_timeout)
        try:
            return getattr(self.identity, method)(*args)
        except eventlet.Timeout as exc:
            if exc is not timeout:
                raise
            raise errors.Unavailable(details={"service": "identity"}) from None
        except UnknownService:
            raise errors.Unavailable(details={"service": "identity"}) from None
        except RemoteError as exc:
            parsed = ServiceError.parse(exc.value)
            if parsed and parsed["kind"] == "forbidden":
                raise errors.NotAllowed(parsed["message"]) from None
            log.warning("identity.%s failed: %s %s", method, exc.exc_type, exc.value)
            raise errors.Unavailable(details={"service": "identity", "code": (parsed or {}).get("code")}) from None
        finally:
            timeout.cancel()


    # === corrections, attendance, final marks (issue 4, part B) ==============

    _replay = None  # the pending Idempotency-Key lookup of this worker (see _idempotent)

    def _write(self, own_lookup: bool = False):
        """The worker's write transaction (:func:`_writing`); the first one
        of an idempotent call looks its key up first, unless the write does
        it itself (``own_lookup``, with :meth:`_Remember.replay_from`)."""
        replay, self._replay = self._replay, None
        return _writing(self.db, None if own_lookup else replay)

    def _idempotent(self, ctx, key, operation, request, write):
        """Run ``write(remember)`` once per Idempotency-Key (API.md): a key
        seen before returns the stored first result; ``remember(session,
        result)`` stores it in the write's own transaction. The key is looked
        up in that same transaction, as its first statement (the write's
        first :meth:`_write`). Two concurrent calls with one key: the second
        loses on the key's primary key, rolls back entirely and answers the
        first one's result."""
        key = idempotency.check_key(key)
        if key is None:
            return write(_Remember(None))
        actor = domain.actor_from_ctx(ctx)
        remember = _Remember({"school_id": actor.school_id, "actor_id": actor.actor_id, "key": key,
                              "operation": operation, "request": request})
        self._replay = remember.replay
        try:
            return write(remember)
        except _Replayed as replayed:
            return replayed.result
        except errors.AlreadyExists:
            with self.db.transaction() as s:
                found = remember.stored(s)
            if found is not None:
                return found
            raise
        finally:
            self._replay = None

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
        with self._write() as s:
            found = store.mark_for_update(s, school_id=actor.school_id, mark_id=mark_id)
            if found is None:
                raise errors.NotFound("Отметка не найдена", details={"field": "mark_id"})
            mark, lesson, klass, subject, year = found
            marks.require_may_change_mark(
                actor, assigned_subgroups=store.assigned_subgroups(
                    s, teacher_id=actor.actor_id, class_id=lesson.class_id, subject_id=lesson.subject_id),
                subgroup_id=lesson.subgroup_id, lesson_teacher_id=lesson.teacher_id,
                lesson_substitute_for=lesson.substitute_for)
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

    @service_rpc
    def correct_mark(self, ctx, mark_id, data, idempotency_key=None):
        """Correct a mark (R-J7): a new version with who, when, old, new and
        the required reason; the old value stays in the history. Who may:
        :func:`kernel.access_rules.corrects_mark` (the teacher of the class
        and subject or the lesson's substitute, the deputy, the director,
        the admin)."""
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

    @service_rpc
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

    @service_rpc
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

    @service_rpc
    def verify_journal(self, ctx):
        """Check every mark's and attendance entry's hash chain and current
        row of the school (tamper evidence, R-J7); admin, deputy, director."""
        actor = domain.actor_from_ctx(ctx)
        domain.require_roles(actor, domain.ADMIN, domain.DEPUTY, "director")
        with self.db.transaction() as s:
            return tamper.check(s, school_id=actor.school_id, with_school=False)

    @service_rpc
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
        with self._write(own_lookup=True) as s:
            lesson = _writable_lesson(s, actor, lesson_id, remember)
            now = utcnow()
            today = domain.school_today(now, config.timezone)
            domain.check_lesson_happened(lesson.date, today)
            domain.check_students_in_class([sid for sid, _ in given.entries], lesson.enrolled, field="entries")
            current = store.attendance_of_lesson(s, lesson_id=lesson.id, lock=True)
            changes = marks.attendance_changes(given.entries, {k: v.status for k, v in current.items()})
            if any(previous is not None for _, _, previous in changes):
                marks.check_attendance_correction(actor, class_teacher_id=lesson.class_teacher_id,
                                                  lesson_date=lesson.date, today=today, reason=given.reason)
            store.save_attendance(s, school_id=actor.school_id, lesson_id=lesson.id, changes=changes,
                                  current=current, by=actor.actor_id, at=now, reason=given.reason)
            if changes:
                self.outbox.add(s, events.ATTENDANCE_RECORDED,
                                events.attendance_recorded(lesson, lesson.subject_name, changes, given.reason), ctx)
            entries = store.attendance_of_lesson(s, lesson_id=lesson.id)
            result = {"lesson_id": lesson.id, "changed": len(changes),
                      "entries": [{"student_id": e.student_id, "status": e.status, "version": e.version}
                                  for e in sorted(entries.values(), key=lambda e: e.student_id)]}
            remember(s, result)
        return result

    @service_rpc
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
        with self._write() as s:
            period = store.period_or_year(s, school_id=actor.school_id, period_id=spec.period_id)
            if period is None:
                raise errors.PeriodNotFound(details={"field": "period_id"})
            period_id, kind, starts_on, ends_on, year = period
            subject = store.get_subject(s, school_id=actor.school_id, subject_id=spec.subject_id)
            if subject is None:
                raise errors.NotFound("Предмет не найден", details={"field": "subject_id"})
            klass = store.class_of_student_in_year(s, student_id=spec.student_id, year_id=year.id)
            if klass is None:
                raise errors.StudentNotInClass(details={"field": "student_id", "student_ids": [spec.student_id]})
            # the teacher assigned to the subject (API.md), not the class teacher as such:
            # unlike lessons and marks (R-J6), a final mark is the subject teacher's decision
            if access_rules.posts_final(actor.roles, assigned=store.assigned_subgroups(
                    s, teacher_id=actor.actor_id, class_id=klass.id, subject_id=subject.id)) is not None:
                raise errors.NotAssignedForFinal()
            domain.check_year_open(year.archived)
            domain.check_marks_allowed(klass.grade)
            now = utcnow()
            today = domain.school_today(now, config.timezone)
            required = finals.required_marks(
                store.hours_per_week(s, class_id=klass.id, subject_id=subject.id),
                low=config.final_min_marks_low, high=config.final_min_marks_high)
            rows = store.student_marks(s, school_id=actor.school_id, student_id=spec.student_id,
                                       start=starts_on, end=ends_on, subject_id=subject.id)
            ev = finals.evidence([(v, w, k) for _, v, w, k in rows], required, emphasis=subject.emphasis,
                                 written_needed=finals.written_required(subject.emphasis,
                                                                        min_written=config.final_min_written))
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

    def _period_for(self, s, actor, period_id, today, year_id=None):
        """The named period (or year), or the period of ``year_id`` (else of
        the school) containing today."""
        if period_id:
            period = store.period_or_year(s, school_id=actor.school_id, period_id=domain.ident(period_id, "period_id"))
            if period is None:
                raise errors.PeriodNotFound(details={"field": "period_id"})
            return period
        period = store.period_on(s, school_id=actor.school_id, day=today, year_id=year_id)
        if period is None:
            raise errors.PeriodNotFound("Сегодня не идёт ни один учебный период; укажите period_id",
                                        details={"field": "period_id"})
        return period

    @service_rpc
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
            pid, kind, starts_on, ends_on, year = self._period_for(
                s, actor, period_id, today, store.year_of_student_on(s, student_id=student_id, day=today))
            klass = store.class_of_student_in_year(s, student_id=student_id, year_id=year.id)
            hours = store.class_subject_hours(s, class_id=klass.id) if klass else {}
            by_subject = finals.group_marks(store.student_marks(
                s, school_id=actor.school_id, student_id=student_id, start=starts_on, end=ends_on))
            emphasis = store.subject_emphasis(s, school_id=actor.school_id,
                                              subject_ids=set(hours) | set(by_subject))
        items = []
        for subject_id in sorted(set(hours) | set(by_subject)):
            required = finals.required_marks(hours.get(subject_id), low=config.final_min_marks_low,
                                             high=config.final_min_marks_high)
            items.append({"subject_id": subject_id,
                          **self._forecast(by_subject.get(subject_id, []), required,
                                           emphasis.get(subject_id, False))})
        return {"student_id": student_id, "period_id": pid, "period_kind": kind, "items": items}

    @service_rpc
    def students_at_risk(self, ctx, class_id, period_id=None):
        """R-F4: the class's students whose forecast in a subject is 2, who
        have too few marks to be graded, or who lack the written works of an
        emphasised subject (R-F2); staff of the school."""
        actor = domain.actor_from_ctx(ctx)
        marks.require_staff(actor)
        class_id = domain.ident(class_id, "class_id")
        config = self.settings
        today = domain.school_today(utcnow(), config.timezone)
        with self.db.transaction() as s:
            klass = store.get_class(s, school_id=actor.school_id, class_id=class_id)
            if klass is None:
                raise errors.NotFound("Класс не найден", details={"field": "class_id"})
            pid, kind, starts_on, ends_on, year = self._period_for(s, actor, period_id, today, klass.year_id)
            hours = store.class_subject_hours(s, class_id=klass.id)
            students = store.students_of_class(s, class_id=klass.id, start=starts_on, end=ends_on)
            rows = store.class_marks(s, class_id=klass.id, start=starts_on, end=ends_on)
            emphasis = store.subject_emphasis(s, school_id=actor.school_id,
                                              subject_ids=set(hours) | {r[1] for r in rows})
        by_student: dict = {}
        for student_id, subject_id, value, weight, kind_ in rows:
            by_student.setdefault(student_id, {}).setdefault(subject_id, []).append((value, weight, kind_))
        items = []
        for student_id, full_name in students:
            subjects = []
            for subject_id in sorted(set(hours) | set(by_student.get(student_id, {}))):
                required = finals.required_marks(hours.get(subject_id), low=config.final_min_marks_low,
                                                 high=config.final_min_marks_high)
                fc = self._forecast(by_student.get(student_id, {}).get(subject_id, []), required,
                                    emphasis.get(subject_id, False))
                reasons = finals.risk_reasons(fc)
                if reasons:
                    subjects.append({"subject_id": subject_id, "reasons": reasons, **fc})
            if subjects:
                items.append({"student_id": student_id, "full_name": full_name, "subjects": subjects})
        return {"class_id": class_id, "period_id": pid, "items": items}

    # === R-F2 emphasis, idempotency retention (issue 4, remaining rules) =====

    def _forecast(self, marks_, required, emphasis):
        return finals.forecast(marks_, required, emphasis=emphasis, written_needed=finals.written_required(
            emphasis, min_written=self.settings.final_min_written))

    @service_rpc
    def update_subject(self, ctx, subject_id, data):
        """Change a subject's R-F2 ``emphasis`` (its final marks need written,
        lab or practical works); admin. Setting the value it already has
        changes nothing and publishes nothing."""
        actor = domain.actor_from_ctx(ctx)
        domain.require_roles(actor, domain.ADMIN)
        subject_id = domain.ident(subject_id, "subject_id")
        emphasis = finals.validate_emphasis(data, required=True)
        with self._write() as s:
            subject = store.get_subject(s, school_id=actor.school_id, subject_id=subject_id, lock=True)
            if subject is None:
                raise errors.NotFound("Предмет не найден", details={"field": "subject_id"})
            if subject.emphasis != emphasis:
                subject.emphasis = emphasis
                s.flush()
                self.outbox.add(s, events.SUBJECT_UPDATED, events.subject_updated(subject), ctx)
            return {"id": subject.id, "name": subject.name, "emphasis": subject.emphasis}

    @service_rpc
    def import_lessons(self, ctx, data, idempotency_key=None):
        """Transcribe lessons already held from the paper journal (admin):
        all or nothing; each lesson is marked ``imported`` with the paper
        entry's day ``recorded_on``, which decides late and overdue (R-J5).
        See :mod:`journal.history_import`."""
        return self._idempotent(ctx, idempotency_key, "import_lessons", [data],
                                lambda remember: self._import_lessons(ctx, data, remember))

    def _import_lessons(self, ctx, data, remember):
        actor = domain.actor_from_ctx(ctx)
        domain.require_roles(actor, domain.ADMIN)
        items = history_import.validate_import(data)
        config = self.settings
        teachers = {}  # the people named, from the projection (else identity), before the transaction
        for item in items:
            if item.teacher_id not in teachers:
                try:
                    teachers[item.teacher_id] = self._person(actor, ctx, item.teacher_id, "teacher_id")
                except ServiceError as exc:
                    raise history_import.at_row(item.row, exc) from None
        with self._write() as s:
            now = utcnow()
            today = domain.school_today(now, config.timezone)
            classes, subjects, periods, lessons = {}, {}, {}, []
            for item in items:
                spec = item.spec
                try:
                    if spec.class_id not in classes:
                        classes[spec.class_id] = store.class_with_year(
                            s, school_id=actor.school_id, class_id=spec.class_id)
                    if classes[spec.class_id] is None:
                        raise errors.NotFound("Класс не найден", details={"field": "class_id"})
                    klass, year = classes[spec.class_id]
                    if spec.subject_id not in subjects:
                        subjects[spec.subject_id] = store.get_subject(
                            s, school_id=actor.school_id, subject_id=spec.subject_id)
                    subject = subjects[spec.subject_id]
                    if subject is None:
                        raise errors.NotFound("Предмет не найден", details={"field": "subject_id"})
                    replaced = None if spec.substitute_for is None else store.assigned_subgroups(
                        s, teacher_id=spec.substitute_for, class_id=klass.id, subject_id=subject.id)
                    history_import.require_teacher(
                        item.teacher_id, teachers[item.teacher_id].roles, class_teacher_id=klass.class_teacher_id,
                        subgroup_id=spec.subgroup_id, assigned_subgroups=store.assigned_subgroups(
                            s, teacher_id=item.teacher_id, class_id=klass.id, subject_id=subject.id),
                        replaced_subgroups=replaced)
                    _check_subgroup(s, klass.id, subject.id, spec.subgroup_id)
                    domain.check_year_open(year.archived)
                    if year.id not in periods:
                        periods[year.id] = store.period_bounds(s, year_id=year.id)
                    domain.check_lesson_date(spec.date, periods[year.id])
                    domain.check_homework_allowed(klass.grade, spec.homework)
                    if replaced is not None:
                        domain.check_substitute(replaced, spec.subgroup_id)
                    late, overdue = history_import.check_dates(spec.date, item.recorded_on, today)
                except ServiceError as exc:
                    raise history_import.at_row(item.row, exc) from None
                lessons.append((store.add_imported_lesson(
                    s, school_id=actor.school_id, spec=spec, teacher_id=item.teacher_id, entered_at=now,
                    recorded_on=item.recorded_on, late=late, overdue=overdue), subject.name))
            s.flush()
            for lesson, subject_name in lessons:
                self.outbox.add(s, events.LESSON_RECORDED, events.lesson_recorded(lesson, subject_name), ctx)
            result = {"imported": len(lessons), "late": sum(1 for l, _ in lessons if l.late),
                      "overdue": sum(1 for l, _ in lessons if l.overdue),
                      "lessons": [{"id": l.id, "date": l.date.isoformat(), "recorded_on": l.recorded_on.isoformat(),
                                   "late": l.late, "overdue": l.overdue} for l, _ in lessons]}
            remember(s, result)
        return result

    @timer(interval=IDEMPOTENCY_PURGE_SECONDS)
    def purge_idempotency_keys(self):
        """Delete Idempotency-Key answers older than the school's retention
        (``EJOURNAL_IDEMPOTENCY_KEEP_DAYS``, 7 days by default); the number
        deleted. A retry later than that runs the write again."""
        cutoff = utcnow() - dt.timedelta(days=self.settings.idempotency_keep_days)
        with self.db.transaction() as s:
            deleted = idempotency.purge(s, store.idempotency_keys, older_than=cutoff)
        if deleted:
            log.info("deleted %d idempotency keys older than %s", deleted, cutoff.isoformat())
        return deleted


def imports_summary(rows, ids, made, linked, enrolled) -> dict:
    """Per student of the file: created (their account is new), updated
    (something else was done: a parent created or linked, an enrolment),
    unchanged (everything was already in place)."""
    outcome: dict[str, str] = {}
    for row in rows:
        key, pkey = row.login.casefold(), row.parent_login.casefold()
        if key in made:
            now = "created"
        elif pkey in made or row.number in linked or ids[key] in enrolled:
            now = "updated"
        else:
            now = "unchanged"
        before = outcome.get(key)
        if before is None or (before, now) in (("unchanged", "updated"),):
            outcome[key] = now
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for value in outcome.values():
        counts[value] += 1
    return counts
