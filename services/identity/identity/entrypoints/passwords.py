"""The caller's own credentials: changing the password (other sessions end)
and turning on the TOTP second factor (staff)."""
from __future__ import annotations

from eventlet import tpool

from kernel.context import CallContext
from kernel.nameko import service_rpc

from identity import credentials, domain, store, totp
from identity.entrypoints import end_sessions
from identity.errors import Forbidden, NotFound, TotpEnabled, ValidationError, text


class Passwords:
    @service_rpc
    def change_password(self, ctx, old_password, new_password, keep_session=None):
        """``PUT /me/password``: the current password proves it is the owner;
        every other session of the user ends (other devices log in again);
        ``keep_session`` is the session the change was made in (the access
        token's ``sid``), None ends every session."""
        actor = CallContext.from_rpc(ctx)
        if not isinstance(old_password, str) or not old_password or len(old_password) > 1024:
            raise domain.invalid("field_required", "old_password")
        with self.db.transaction() as s:
            user = store.get_user(s, user_id=actor.actor_id)
            if user is None or not user.active:
                raise NotFound(text("user_not_found"))
            password_hash, roles, login = user.password_hash, list(user.roles), user.login
        new_password = domain.validate_password(new_password, roles=roles, login=login)
        if not tpool.execute(credentials.verify_password, password_hash, old_password):
            raise ValidationError(text("password_wrong"), details={"field": "old_password"})
        new_hash = tpool.execute(credentials.hash_password, new_password)
        with self.db.transaction() as s:
            keep = keep_session if isinstance(keep_session, str) and keep_session else None
            store.set_password_hash(s, user_id=actor.actor_id, password_hash=new_hash)
            store.revoke_user_sessions(s, user_id=actor.actor_id, keep_family=keep)
            end_sessions(self.outbox, s, actor, actor.actor_id, "password_changed", keep=keep)
            store.add_audit(s, action="password_changed", school_id=actor.school_id, actor_id=actor.actor_id,
                            target_id=actor.actor_id, correlation_id=actor.correlation_id)
        return None

    @service_rpc
    def begin_totp(self, ctx):
        """``POST /me/totp``: a new secret for the caller's authenticator
        app; the factor is on only after :meth:`confirm_totp`. Staff only."""
        actor = CallContext.from_rpc(ctx)
        with self.db.transaction() as s:
            user = store.get_user(s, user_id=actor.actor_id)
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
        actor = CallContext.from_rpc(ctx)
        code = domain.require_str(code, "code", max_len=20)
        with self.db.transaction() as s:
            row = store.get_totp(s, user_id=actor.actor_id, lock=True)
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
            store.revoke_user_sessions(s, user_id=actor.actor_id)
            store.add_audit(s, action="totp_enabled", school_id=actor.school_id, actor_id=actor.actor_id,
                            target_id=actor.actor_id, correlation_id=actor.correlation_id)
        return {"recovery_codes": codes}
