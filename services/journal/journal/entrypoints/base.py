"""What every entrypoint group shares: the write transaction, the
Idempotency-Key's owner, and the people the journal asks identity about."""
from __future__ import annotations

import logging
from contextlib import contextmanager

import eventlet
from nameko.exceptions import RemoteError, UnknownService
from sqlalchemy.exc import IntegrityError

from kernel.context import CallContext
from kernel.errors import ServiceError
from kernel.events import utcnow
from kernel.idempotency import IdempotentCall

from journal import errors, store

log = logging.getLogger("journal.service")


def key_owner(ctx) -> tuple[str, str]:
    """Whose Idempotency-Key a call uses: its school and actor."""
    actor = CallContext.from_rpc(ctx)
    return actor.school_id, actor.actor_id


# ``@idempotent("operation", **KEYS)`` on every idempotent write of the journal:
# a unique-constraint race (AlreadyExists from :meth:`Base._write`) answers the
# first call's result when the key has one
KEYS = {"table": store.idempotency_keys, "caller": key_owner, "conflicts": (errors.AlreadyExists,)}


class Base:
    """Helpers of the entrypoints (no entrypoints of its own)."""

    @contextmanager
    def _write(self, key: IdempotentCall | None = None):
        """A write transaction; a unique-constraint race reads as 409. With
        ``key`` (an idempotent write that does not read its key in a
        statement of its own) the key's first result is looked up as the
        transaction's first statement and, when found, ends the write
        (:class:`kernel.idempotency.Replayed`)."""
        try:
            with self.db.transaction() as session:
                if key is not None:
                    key.replay(session)
                yield session
        except IntegrityError as exc:
            log.info("integrity error on write: %s", exc.orig)
            raise errors.AlreadyExists() from None

    @contextmanager
    def _write_connection(self):
        """A write transaction on a Core connection, for a write that uses
        no ORM object (a class's marks: its statements go straight to the
        connection); a unique-constraint race reads as 409, as in
        :meth:`_write`."""
        try:
            with self.db.engine.begin() as connection:
                yield connection
        except IntegrityError as exc:
            log.info("integrity error on write: %s", exc.orig)
            raise errors.AlreadyExists() from None

    def _person(self, actor, ctx, user_id, field):
        """The person from the projection, else from identity (the event may
        not have arrived yet), stored for next time. Another school's user
        is NOT_FOUND."""
        not_found = errors.NotFound(errors.text("user_not_found"), details={"field": field, "id": user_id})
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
            return store.structure.save_person(s, user_id=user_id, school_id=school_id, at=utcnow(),
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
