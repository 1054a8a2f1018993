"""Accounts and families (R-A2, R-A4, R-A5): creating users, linking
parents, recording consent, reading a user card, changing roles, unlocking
a login, resetting a password."""
from __future__ import annotations

import datetime as dt

from eventlet import tpool
from sqlalchemy.exc import IntegrityError

from kernel.context import CallContext
from kernel.nameko import service_rpc

from identity import credentials, decisions, domain, events, store
from identity.entrypoints import end_sessions, id_arg
from identity.errors import AlreadyExists, Forbidden, LoginTaken, NotFound, text


class Users:
    @service_rpc
    def create_user(self, ctx, data):
        """Create a user (R-A2): admin any roles, class teacher students and
        parents. ``{id, login, initial_password}``; the generated password is
        returned once, a supplied one never."""
        actor = CallContext.from_rpc(ctx)
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
                                      created_by=actor.actor_id)
                self.outbox.add(s, events.USER_CREATED, events.user_created(user), actor.as_dict())
        except IntegrityError:  # a concurrent create took the login between check and insert
            raise LoginTaken(text("login_taken", login=new.login), details={"login": new.login}) from None
        return {"id": user.id, "login": user.login, "initial_password": generated}

    @service_rpc
    def link_parent(self, ctx, student_id, parent_id, relation):
        """Link a parent to a student of the actor's school. Idempotent: the
        same link again answers the same data; another relation is 409."""
        actor = CallContext.from_rpc(ctx)
        student_id, parent_id = id_arg(student_id, "student_id"), id_arg(parent_id, "parent_id")
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
                                     relation=relation, created_by=actor.actor_id)
        payload = events.parent_linked(link)
        self.outbox.add(s, events.PARENT_LINKED, payload, actor.as_dict())
        return payload

    @service_rpc
    def record_consent(self, ctx, parent_id, given, signed_on):
        """Record a parent's consent or refusal (R-A4); the history is kept and
        the latest record decides whether the parent may log in."""
        actor = CallContext.from_rpc(ctx)
        parent_id = id_arg(parent_id, "parent_id")
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
                                        signed_on=signed, recorded_by=actor.actor_id)
            if not given:
                # R-A4: a withdrawn consent ends the parent's sessions at once.
                store.revoke_user_sessions(s, user_id=parent_id)
                end_sessions(self.outbox, s, actor, parent_id, "consent_withdrawn")
            store.add_audit(s, action="consent_recorded", school_id=actor.school_id, actor_id=actor.actor_id,
                            target_id=parent_id, correlation_id=actor.correlation_id,
                            before={"given": bool(before.given)} if before else None, after={"given": given})
            payload = events.consent_recorded(consent)
            self.outbox.add(s, events.CONSENT_RECORDED, payload, actor.as_dict())
        return payload

    @service_rpc
    def get_user(self, ctx, user_id):
        """A user card without secrets, when the actor may read it
        (contracts "user.read"); otherwise NOT_FOUND."""
        actor = CallContext.from_rpc(ctx)
        user_id = id_arg(user_id, "user_id")
        with self.db.transaction() as s:
            resource = decisions.Resource("user", user_id)
            facts = store.access_facts(s, subject_id=actor.actor_id, resource=resource)
            subject = decisions.Subject(actor.actor_id, actor.school_id, actor.roles)
            if not decisions.decide(subject, "user.read", resource, facts).allowed:
                raise NotFound(text("user_not_found"), details={"user_id": user_id})
            return store.user_dict(store.get_user(s, user_id=user_id))

    @service_rpc
    def set_roles(self, ctx, user_id, roles):
        """``PUT /users/{id}/roles`` (R-A5): the admin only, never their own;
        audited with who, when, before and after; the user's sessions end so
        the new roles apply at the next login."""
        actor = CallContext.from_rpc(ctx)
        user_id = id_arg(user_id, "user_id")
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
                end_sessions(self.outbox, s, actor, user_id, "roles_changed")
                store.add_audit(s, action="roles_changed", school_id=actor.school_id, actor_id=actor.actor_id,
                                target_id=user_id, correlation_id=actor.correlation_id,
                                before={"roles": before}, after={"roles": list(roles)})
                self.outbox.add(s, events.ROLES_CHANGED, {"user_id": user_id, "before": before,
                                                          "roles": list(roles)}, actor.as_dict())
            s.refresh(user)
            return store.user_dict(user)

    @service_rpc
    def unlock_login(self, ctx, user_id):
        """``POST /users/{id}/unlock``: the admin clears a user's failed
        logins (a locked-out teacher on a school morning); audited."""
        actor = CallContext.from_rpc(ctx)
        user_id = id_arg(user_id, "user_id")
        if not actor.has("admin"):
            raise Forbidden()
        with self.db.transaction() as s:
            user = store.get_user(s, user_id=user_id)
            if user is None or user.school_id != actor.school_id:
                raise NotFound(text("user_not_found"), details={"user_id": user_id})
            cleared = store.clear_login_failures(s, key="login:" + domain.login_key(user.login))
            store.add_audit(s, action="login_unlocked", school_id=actor.school_id, actor_id=actor.actor_id,
                            target_id=user_id, correlation_id=actor.correlation_id, before={"failures": cleared})
        return {"user_id": user_id, "cleared": cleared}

    @service_rpc
    def reset_password(self, ctx, user_id):
        """``POST /users/{id}/password-reset``: the admin gives a user a new
        generated initial password (a forgotten one), returned once and
        nowhere kept but as its hash. Every session of the user ends and
        the login's failed attempts are cleared (the new password works at
        once); the second factor stays as it is. Never one's own (that is
        ``PUT /me/password``). Audited as password_reset, without secrets."""
        actor = CallContext.from_rpc(ctx)
        user_id = id_arg(user_id, "user_id")
        if not actor.has("admin"):
            raise Forbidden()
        if actor.actor_id == user_id:
            raise Forbidden(text("forbidden_own_password"), details={"user_id": user_id})
        with self.db.transaction() as s:
            user = store.get_user(s, user_id=user_id)
            if user is None or user.school_id != actor.school_id:
                raise NotFound(text("user_not_found"), details={"user_id": user_id})
        generated = domain.generate_password()
        password_hash = tpool.execute(credentials.hash_password, generated)
        with self.db.transaction() as s:
            user = store.get_user(s, user_id=user_id)
            if user is None or user.school_id != actor.school_id:
                raise NotFound(text("user_not_found"), details={"user_id": user_id})
            store.set_password_hash(s, user_id=user_id, password_hash=password_hash)
            store.revoke_user_sessions(s, user_id=user_id)
            end_sessions(self.outbox, s, actor, user_id, "password_reset")
            cleared = store.clear_login_failures(s, key="login:" + domain.login_key(user.login))
            store.add_audit(s, action="password_reset", school_id=actor.school_id, actor_id=actor.actor_id,
                            target_id=user_id, correlation_id=actor.correlation_id,
                            before={"failures": cleared} if cleared else None)
            login = user.login
        return {"id": user_id, "login": login, "initial_password": generated}


def _manages(session, actor: CallContext, user) -> bool:
    """R-A2: the admin manages every family of the school; a class teacher
    those they issued logins to and those of their own classes."""
    if actor.has("admin"):
        return True
    if user.created_by == actor.actor_id:
        return True
    mine = set(store.classes_of_class_teacher(session, teacher_id=actor.actor_id))
    if not mine:
        return False
    classes = set()
    if "student" in user.roles:
        classes.add(store.class_of_student(session, student_id=user.id))
    if "parent" in user.roles:
        classes |= {store.class_of_student(session, student_id=c.id)
                    for c in store.children_of(session, parent_id=user.id)}
    return bool(mine & classes)
