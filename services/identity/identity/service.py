"""The identity nameko service: entrypoints only (decode, call the domain and
the store, encode). Writes commit together with their outbox events."""
from __future__ import annotations

import datetime as dt

from eventlet import tpool
from sqlalchemy.exc import DataError, IntegrityError

from kernel.db import Database
from kernel.batching import handles_batch, on_event_batch
from kernel.nameko_ext import DeadLetters, EntrypointMetrics, Outbox, handles, on_event, service_rpc

from identity import credentials, domain, events, sessions, store, totp
from identity.bulk import BulkRpc
from identity.errors import (
    AlreadyExists, Forbidden, LoginTaken, NotFound, TotpEnabled, ValidationError, text,
)
from identity.store import tables


def _ctx_for_events(actor: domain.Actor) -> dict:
    return {"actor_id": actor.user_id, "school_id": actor.school_id, "correlation_id": actor.correlation_id}


def _id_arg(value, name: str) -> str:
    return domain.require_str(value, name, max_len=64)


def _journal_handler(event_type: str):
    return on_event(events.JOURNAL, event_type)


class Service(BulkRpc):
    name = "identity"

    db = Database()
    outbox = Outbox(tables)
    dead_letters = DeadLetters(tables)
    metrics = EntrypointMetrics()

    @service_rpc
    def health(self):
        return {"status": "ok", "service": self.name}

    @service_rpc
    def create_user(self, ctx, data):
        """Create a user (R-A2): admin any roles, class teacher students and
        parents. ``{id, login, initial_password}``; the generated password is
        returned once, a supplied one never."""
        actor = domain.parse_ctx(ctx)
        new = domain.validate_new_user(data, today=dt.date.today())
        domain.check_may_create(actor.roles, new.roles)
        with self.db.transaction() as s:
            if store.get_school(s, school_id=actor.school_id) is None:
                raise NotFound(text("school_not_found"))
            if store.find_user_by_login(s, login=new.login) is not None:
                raise LoginTaken(text("login_taken", login=new.login), details={"login": new.login})
        generated = domain.generate_password() if new.password is None else None
        # argon2 holds no eventlet hub: hash in a real thread so other workers keep running.
        password_hash = tpool.execute(credentials.hash_password, new.password or generated)
        try:
            with self.db.transaction() as s:
                user = store.add_user(s, school_id=actor.school_id, new=new, password_hash=password_hash,
                                      created_by=actor.user_id)
                self.outbox.add(s, events.USER_CREATED, events.user_created(user), _ctx_for_events(actor))
        except IntegrityError:  # a concurrent create took the login between check and insert
            raise LoginTaken(text("login_taken", login=new.login), details={"login": new.login}) from None
        return {"id": user.id, "login": user.login, "initial_password": generated}

    @service_rpc
    def link_parent(self, ctx, student_id, parent_id, relation):
        """Link a parent to a student of the actor's school. Idempotent: the
        same link again answers the same data; another relation is 409."""
        actor = domain.parse_ctx(ctx)
        student_id, parent_id = _id_arg(student_id, "student_id"), _id_arg(parent_id, "parent_id")
        relation = domain.validate_relation(relation)
        if not domain.may_manage_family(actor.roles):
            raise Forbidden()
        try:
            with self.db.transaction() as s:
                result = self._link(s, actor, student_id, parent_id, relation)
        except IntegrityError:  # a concurrent identical call won: answer as the retry it is
            with self.db.transaction() as s:
                result = self._link(s, actor, student_id, parent_id, relation)
        return result

    def _link(self, s, actor, student_id, parent_id, relation) -> dict:
        student = store.get_user(s, user_id=student_id)
        if student is None or student.school_id != actor.school_id or "student" not in student.roles:
            raise NotFound(text("student_not_found"), details={"student_id": student_id})
        parent = store.get_user(s, user_id=parent_id)
        if parent is None or parent.school_id != actor.school_id or "parent" not in parent.roles:
            raise NotFound(text("parent_not_found"), details={"parent_id": parent_id})
        if not _manages(s, actor, student) or not _manages(s, actor, parent):
            # R-A2: a class teacher manages the families of their own class only.
            raise NotFound(text("student_not_found"), details={"student_id": student_id})
        link = store.get_parent_link(s, student_id=student_id, parent_id=parent_id)
        if link is not None:
            if link.relation != relation:
                raise AlreadyExists(text("link_exists"), details=events.parent_linked(link))
            return events.parent_linked(link)
        link = store.add_parent_link(s, school_id=actor.school_id, student_id=student_id, parent_id=parent_id,
                                     relation=relation, created_by=actor.user_id)
        payload = events.parent_linked(link)
        self.outbox.add(s, events.PARENT_LINKED, payload, _ctx_for_events(actor))
        return payload

    @service_rpc
    def record_consent(self, ctx, parent_id, given, signed_on):
        """Record a parent's consent or refusal (R-A4); the history is kept and
        the latest record decides whether the parent may log in."""
        actor = domain.parse_ctx(ctx)
        parent_id = _id_arg(parent_id, "parent_id")
        given = domain.require_bool(given, "given")
        signed = domain.parse_date(signed_on, "signed_on", today=dt.date.today())
        if not domain.may_manage_family(actor.roles):
            raise Forbidden()
        with self.db.transaction() as s:
            parent = store.get_user(s, user_id=parent_id)
            if (parent is None or parent.school_id != actor.school_id or "parent" not in parent.roles
                    or not _manages(s, actor, parent)):
                raise NotFound(text("parent_not_found"), details={"parent_id": parent_id})
            before = store.latest_consent(s, parent_id=parent_id)
            consent = store.add_consent(s, school_id=actor.school_id, parent_id=parent_id, given=given,
                                        signed_on=signed, recorded_by=actor.user_id)
            if not given:
                # R-A4: a withdrawn consent ends the parent's sessions at once.
                store.revoke_user_sessions(s, user_id=parent_id)
                self._end_sessions(s, actor, parent_id, "consent_withdrawn")
            store.add_audit(s, action="consent_recorded", school_id=actor.school_id, actor_id=actor.user_id,
                            target_id=parent_id, correlation_id=actor.correlation_id,
                            before={"given": bool(before.given)} if before else None, after={"given": given})
            payload = events.consent_recorded(consent)
            self.outbox.add(s, events.CONSENT_RECORDED, payload, _ctx_for_events(actor))
        return payload

    def _end_sessions(self, s, actor, user_id, reason, keep=None):
        """Access tokens of the user's sessions stop working at the gateway
        (issue 3 item 3), not only their refresh tokens."""
        payload = sessions.revocation(s, user_id=user_id, reason=reason, keep=keep)
        self.outbox.add(s, events.SESSIONS_REVOKED, payload, _ctx_for_events(actor))

    @service_rpc
    def change_password(self, ctx, old_password, new_password, keep_session=None):
        """``PUT /me/password``: the current password proves it is the owner;
        every other session of the user ends (other devices log in again);
        ``keep_session`` is the session the change was made in (the access
        token's ``sid``), None ends every session."""
        actor = domain.parse_ctx(ctx)
        if not isinstance(old_password, str) or not old_password or len(old_password) > 1024:
            raise domain.invalid("field_required", "old_password")
        with self.db.transaction() as s:
            user = store.get_user(s, user_id=actor.user_id)
            if user is None or not user.active:
                raise NotFound(text("user_not_found"))
            password_hash, roles, login = user.password_hash, list(user.roles), user.login
        new_password = domain.validate_password(new_password, roles=roles, login=login)
        if not tpool.execute(credentials.verify_password, password_hash, old_password):
            raise ValidationError(text("password_wrong"), details={"field": "old_password"})
        new_hash = tpool.execute(credentials.hash_password, new_password)
        with self.db.transaction() as s:
            keep = keep_session if isinstance(keep_session, str) and keep_session else None
            store.set_password_hash(s, user_id=actor.user_id, password_hash=new_hash)
            store.revoke_user_sessions(s, user_id=actor.user_id, keep_family=keep)
            self._end_sessions(s, actor, actor.user_id, "password_changed", keep=keep)
            store.add_audit(s, action="password_changed", school_id=actor.school_id, actor_id=actor.user_id,
                            target_id=actor.user_id, correlation_id=actor.correlation_id)
        return None

    @service_rpc
    def set_roles(self, ctx, user_id, roles):
        """``PUT /users/{id}/roles`` (R-A5): the admin only, never their own;
        audited with who, when, before and after; the user's sessions end so
        the new roles apply at the next login."""
        actor = domain.parse_ctx(ctx)
        user_id = _id_arg(user_id, "user_id")
        roles = domain.validate_roles(roles)
        domain.check_may_set_roles(actor, user_id)
        with self.db.transaction() as s:
            user = store.get_user(s, user_id=user_id)
            if user is None or user.school_id != actor.school_id:
                raise NotFound(text("user_not_found"), details={"user_id": user_id})
            before = list(user.roles)
            if before != list(roles):
                store.set_roles(s, user_id=user_id, roles=roles)
                store.revoke_user_sessions(s, user_id=user_id)
                self._end_sessions(s, actor, user_id, "roles_changed")
                store.add_audit(s, action="roles_changed", school_id=actor.school_id, actor_id=actor.user_id,
                                target_id=user_id, correlation_id=actor.correlation_id,
                                before={"roles": before}, after={"roles": list(roles)})
                self.outbox.add(s, events.ROLES_CHANGED, {"user_id": user_id, "before": before,
                                                          "roles": list(roles)}, _ctx_for_events(actor))
            s.refresh(user)
            return store.user_dict(user)

    @service_rpc
    def unlock_login(self, ctx, user_id):
        """``POST /users/{id}/unlock``: the admin clears a user's failed
        logins (a locked-out teacher on a school morning); audited."""
        actor = domain.parse_ctx(ctx)
        user_id = _id_arg(user_id, "user_id")
        if not actor.has("admin"):
            raise Forbidden()
        with self.db.transaction() as s:
            user = store.get_user(s, user_id=user_id)
            if user is None or user.school_id != actor.school_id:
                raise NotFound(text("user_not_found"), details={"user_id": user_id})
            cleared = store.clear_login_failures(s, key="login:" + domain.login_key(user.login))
            store.add_audit(s, action="login_unlocked", school_id=actor.school_id, actor_id=actor.user_id,
                            target_id=user_id, correlation_id=actor.correlation_id, before={"failures": cleared})
        return {"user_id": user_id, "cleared": cleared}

    @service_rpc
    def begin_totp(self, ctx):
        """``POST /me/totp``: a new secret for the caller's authenticator
        app; the factor is on only after :meth:`confirm_totp`. Staff only."""
        actor = domain.parse_ctx(ctx)
        with self.db.transaction() as s:
            user = store.get_user(s, user_id=actor.user_id)
            if user is None:
                raise NotFound(text("user_not_found"))
            if not domain.is_staff(user.roles):
                raise Forbidden(text("totp_staff_only"))
            current = store.get_totp(s, user_id=user.id, lock=True)
            if current is not None and current.enabled:
                raise TotpEnabled()
            secret = totp.new_secret()
            store.put_totp(s, user_id=user.id, secret=secret)
            return {"secret": secret, "otpauth_uri": totp.provisioning_uri(secret, user.login)}

    @service_rpc
    def confirm_totp(self, ctx, code):
        """``POST /me/totp/confirm``: the first code proves the app works;
        the factor is on and ten recovery codes are returned, once."""
        actor = domain.parse_ctx(ctx)
        code = domain.require_str(code, "code", max_len=20)
        with self.db.transaction() as s:
            row = store.get_totp(s, user_id=actor.user_id, lock=True)
            if row is None:
                raise domain.ValidationError(text("totp_not_started"), details={"field": "code"})
            if row.enabled:
                raise TotpEnabled()
            step = totp.matching_step(row.secret, code)
            if step is None:
                raise ValidationError(text("totp_wrong"), details={"field": "code"})
            codes = totp.new_recovery_codes()
            row.enabled, row.last_step = True, step
            row.recovery_hashes = [totp.recovery_hash(c) for c in codes]
            store.revoke_user_sessions(s, user_id=actor.user_id)
            store.add_audit(s, action="totp_enabled", school_id=actor.school_id, actor_id=actor.user_id,
                            target_id=actor.user_id, correlation_id=actor.correlation_id)
        return {"recovery_codes": codes}

    @service_rpc
    def list_audit(self, ctx, target_id=None, action=None, limit=100):
        """The audit trail of the actor's school, newest first (admin only)."""
        actor = domain.parse_ctx(ctx)
        if not actor.has("admin"):
            raise Forbidden()
        target_id = domain.require_str(target_id, "target_id", max_len=300, optional=True)
        action = domain.require_str(action, "action", max_len=60, optional=True)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 500:
            raise domain.invalid("field_type", "limit")
        with self.db.transaction() as s:
            rows = store.audit_records(s, school_id=actor.school_id, target_id=target_id, action=action,
                                       limit=limit)
            return {"items": [store.audit_dict(r) for r in rows], "next_cursor": None}

    @service_rpc
    def get_user(self, ctx, user_id):
        """A user card without secrets, when the actor may read it
        (contracts "user.read"); otherwise NOT_FOUND."""
        actor = domain.parse_ctx(ctx)
        user_id = _id_arg(user_id, "user_id")
        with self.db.transaction() as s:
            resource = domain.Resource("user", user_id)
            facts = store.access_facts(s, subject_id=actor.user_id, resource=resource)
            subject = domain.Subject(actor.user_id, actor.school_id, actor.roles)
            if not domain.decide(subject, "user.read", resource, facts).allowed:
                raise NotFound(text("user_not_found"), details={"user_id": user_id})
            return store.user_dict(store.get_user(s, user_id=user_id))

    @service_rpc
    def authorize(self, ctx, action, resource_type, resource_id, context=None):
        """The access decision for the caller of ``ctx`` (the same function
        as the gRPC Authorize): ``{allowed, denial, reason}``. For services
        that ask identity about a relationship only identity knows."""
        actor = domain.parse_ctx(ctx)
        action = domain.require_str(action, "action", max_len=60)
        resource = domain.Resource(domain.require_str(resource_type, "resource_type", max_len=20),
                                   _id_arg(resource_id, "resource_id"))
        context = context if isinstance(context, dict) else {}
        context = {k: v for k, v in context.items() if isinstance(v, str)}
        subject = domain.Subject(actor.user_id, actor.school_id, actor.roles)
        with self.db.transaction() as s:
            facts = store.access_facts(s, subject_id=actor.user_id, resource=resource, context=context)
        decision = domain.decide(subject, action, resource, facts, context)
        return {"allowed": decision.allowed, "denial": decision.denial, "reason": decision.reason}

    @service_rpc
    def list_access(self, ctx, user_id=None, from_date=None, to_date=None, limit=100):
        """R-A6: the access log of the actor's school, newest first (admin)."""
        actor = domain.parse_ctx(ctx)
        if not actor.has("admin"):
            raise Forbidden()
        user_id = domain.require_str(user_id, "user_id", max_len=64, optional=True)
        first = domain.parse_date(from_date, "from", optional=True)
        last = domain.parse_date(to_date, "to", optional=True)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 500:
            raise domain.invalid("field_type", "limit")
        since = dt.datetime.combine(first, dt.time(), dt.timezone.utc) if first else None
        until = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), dt.timezone.utc) if last else None
        with self.db.transaction() as s:
            rows = store.access_records(s, school_id=actor.school_id, user_id=user_id, since=since, until=until,
                                        limit=limit)
            return {"items": [store.access_dict(r) for r in rows], "next_cursor": None}

    @service_rpc
    def activity(self, ctx, month):
        """R-A6/R-R8: requests per user, role and class in ``month``
        (YYYY-MM, UTC); the administration."""
        actor = domain.parse_ctx(ctx)
        if not actor.has(*domain.ADMINISTRATION):
            raise Forbidden()
        month = domain.require_str(month, "month", max_len=7)
        try:
            first = dt.date.fromisoformat(month + "-01")
        except ValueError:
            raise domain.invalid("date_format", "month") from None
        nxt = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        with self.db.transaction() as s:
            counts = store.activity(s, school_id=actor.school_id,
                                    since=dt.datetime.combine(first, dt.time(), dt.timezone.utc),
                                    until=dt.datetime.combine(nxt, dt.time(), dt.timezone.utc))
        return {"month": month, **counts}

    @on_event(events.GATEWAY, events.ACCESS_RECORDED)
    @handles("identity.access_recorded", tables["processed_events"])
    def on_access_recorded(self, session, envelope):
        """Keep one gateway access event (R-A6)."""
        store.add_access_rows(session, [events.access_row(envelope)])

    @on_event(events.GATEWAY, events.ACCESS_RECORDED_BATCH)
    @handles("identity.access_recorded_batch", tables["processed_events"])
    def on_access_recorded_batch(self, session, envelope):
        """Keep a batch of gateway access events (R-A6) with one insert.
        Every event is kept or dead-lettered on its own: a malformed one
        (broken text included) or one the database or its driver refuses
        never costs the others."""
        items = envelope["payload"].get("events")
        if not isinstance(items, list):
            raise ValueError("payload field 'events' is not a list")
        rows = []
        for item in items:
            try:
                rows.append(events.access_row(item))
            except (ValueError, TypeError, AttributeError) as exc:
                self.dead_letters.put("identity.access_recorded", item, f"malformed: {exc}")
        try:
            with session.begin_nested():
                store.add_access_rows(session, rows)
        except REFUSED_ROWS:
            for row in rows:  # find the refused ones; keep the rest
                try:
                    with session.begin_nested():
                        store.add_access_rows(session, [row])
                except REFUSED_ROWS as exc:
                    self.dead_letters.put("identity.access_recorded", _access_event_of(row, items),
                                          f"{type(exc).__name__}: {exc}")

    # --- projections of journal events (idempotent through `handles`) ----------

    @_journal_handler(events.CLASS_CREATED)
    @handles("identity.class_created", tables["processed_events"])
    def on_class_created(self, session, envelope):
        payload = envelope["payload"]
        (class_id,) = events.require(payload, "class_id")
        store.upsert_class(session, class_id=class_id, school_id=_school(envelope),
                           teacher_id=events.optional(payload, "class_teacher_id"),
                           name=events.optional(payload, "name"), year_id=events.optional(payload, "year_id"))

    @_journal_handler(events.STUDENT_ENROLLED)
    @handles("identity.student_enrolled", tables["processed_events"])
    def on_student_enrolled(self, session, envelope):
        payload = envelope["payload"]
        student_id, class_id = events.require(payload, "student_id", "class_id")
        store.upsert_student_class(session, student_id=student_id, school_id=_school(envelope),
                                   class_id=class_id, since=events.optional_date(payload, "on"))

    @_journal_handler(events.TEACHER_ASSIGNED)
    @handles("identity.teacher_assigned", tables["processed_events"])
    def on_teacher_assigned(self, session, envelope):
        payload = envelope["payload"]
        assignment_id, teacher_id, class_id, subject_id = events.require(
            payload, "assignment_id", "teacher_id", "class_id", "subject_id")
        store.upsert_assignment(session, assignment_id=assignment_id, school_id=_school(envelope),
                                teacher_id=teacher_id, class_id=class_id, subject_id=subject_id,
                                subgroup_id=events.optional(payload, "subgroup_id"))

    @_journal_handler(events.YEAR_OPENED)
    @handles("identity.year_opened", tables["processed_events"])
    def on_year_opened(self, session, envelope):
        (year_id,) = events.require(envelope["payload"], "year_id")
        store.upsert_year(session, year_id=year_id, school_id=_school(envelope))

    @_journal_handler(events.LESSON_RECORDED)
    @handles("identity.lesson_recorded", tables["processed_events"])
    def on_lesson_recorded(self, session, envelope):
        """teacher -> lesson, substitute -> lesson (``teacher_id`` gave it,
        for ``substitute_for`` when set)."""
        payload = envelope["payload"]
        lesson_id, class_id, subject_id = events.require(payload, "lesson_id", "class_id", "subject_id")
        store.upsert_lesson(session, lesson_id=lesson_id, school_id=_school(envelope), class_id=class_id,
                            subject_id=subject_id, teacher_id=events.optional(payload, "teacher_id"),
                            subgroup_id=events.optional(payload, "subgroup_id"),
                            substitute_for=events.optional(payload, "substitute_for"))

    # A class's 30 marks come as 30 events: they are kept in batches
    # (kernel.batching), one insert per batch. The insert keeps the first
    # row of a mark, so a redelivery changes nothing and no processed-event
    # row is needed; a malformed event fails its batch, which is then
    # retried one event at a time and only that event is dead-lettered.
    @on_event_batch(events.JOURNAL, events.MARK_POSTED, max_batch=200, max_wait=0.05, concurrency=2)
    @handles_batch("identity.mark_posted", None)
    def on_mark_posted(self, session, envelopes):
        rows = []
        for envelope in envelopes:
            payload = envelope["payload"]
            mark_id, class_id = events.require(payload, "mark_id", "class_id")
            rows.append({"mark_id": mark_id, "school_id": _school(envelope), "class_id": class_id,
                         "lesson_id": events.optional(payload, "lesson_id"),
                         "subject_id": events.optional(payload, "subject_id"),
                         "student_id": events.optional(payload, "student_id"),
                         "teacher_id": events.optional(payload, "teacher_id")})
        store.add_mark_refs(session, rows)

    @_journal_handler(events.STUDENT_TRANSFERRED)
    @handles("identity.student_transferred", tables["processed_events"])
    def on_student_transferred(self, session, envelope):
        """The student's class follows the transfer (the ``student_enrolled``
        that comes with it says the same; either may arrive first)."""
        payload = envelope["payload"]
        student_id, to_class = events.require(payload, "student_id", "to_class_id")
        store.upsert_student_class(session, student_id=student_id, school_id=_school(envelope),
                                   class_id=to_class, since=events.optional_date(payload, "on"))

    @_journal_handler(events.STUDENT_LEFT)
    @handles("identity.student_left", tables["processed_events"])
    def on_student_left(self, session, envelope):
        """A student who left (or graduated) is nobody's class member any
        more: the class teacher and the teachers lose the relationship."""
        payload = envelope["payload"]
        student_id, class_id = events.require(payload, "student_id", "class_id")
        store.end_student_class(session, student_id=student_id, class_id=class_id,
                                on=events.optional_date(payload, "on"))


    # --- projection of letters (messaging) ------------------------------------------

    @on_event(events.MESSAGING, events.MESSAGE_SENT)
    @handles("identity.message_sent", tables["processed_events"])
    def on_message_sent(self, session, envelope):
        """sender and recipients -> letter, for ``message.read``."""
        message_id, sender_id, recipients = events.letter(envelope["payload"])
        store.add_letter(session, message_id=message_id, school_id=_school(envelope), sender_id=sender_id,
                         recipient_ids=recipients)


def _manages(session, actor: domain.Actor, user) -> bool:
    """R-A2: the admin manages every family of the school; a class teacher
    those they issued logins to and those of their own classes."""
    if actor.has("admin"):
        return True
    if user.created_by == actor.user_id:
        return True
    mine = set(store.classes_of_class_teacher(session, teacher_id=actor.user_id))
    if not mine:
        return False
    classes = set()
    if "student" in user.roles:
        classes.add(store.class_of_student(session, student_id=user.id))
    if "parent" in user.roles:
        classes |= {store.class_of_student(session, student_id=c.id)
                    for c in store.children_of(session, parent_id=user.id)}
    return bool(mine & classes)


# What the database or its driver answers for one row it cannot keep (psycopg2
# raises a plain ValueError for a NUL, UnicodeEncodeError for a lone surrogate).
REFUSED_ROWS = (DataError, IntegrityError, ValueError)


def _access_event_of(row: dict, items: list):
    """The envelope of a batch that became ``row`` (for its dead letter)."""
    return next((item for item in items if isinstance(item, dict) and item.get("id") == row["id"]), row)


def _school(envelope: dict) -> str:
    school_id = envelope.get("school_id")
    if not isinstance(school_id, str) or not school_id:
        raise ValueError("event has no school_id")
    return school_id
