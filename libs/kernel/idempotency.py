"""Idempotent writes (API.md "Idempotency-Key"): the first result of a write
is stored under the caller's key in the same transaction as the write, so a
retry (or a double click) returns that result and changes nothing.

A write entrypoint declares it with :func:`idempotent` and gets the call's
key as an :class:`IdempotentCall` (the table lives in each service's
database, like the outbox)::

    keys = idempotency_table(Base.metadata)

    @service_rpc
    @idempotent("post_marks", table=keys, caller=school_and_actor)
    def post_marks(self, ctx, lesson_id, marks, key):
        with self.db.transaction() as session:
            key.replay(session)            # first statement: a stored result ends the call
            ... write ...
            key.remember(session, result)  # same transaction as the write
        return result

A concurrent duplicate loses at commit on the primary key: the decorator
reads the first call's result and answers it. A key reused for a different
request is refused with :class:`KeyReused` (409), never silently answered
with another request's result.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import inspect
import json
import re
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import Column, MetaData, String, Table, Text, bindparam, delete, insert, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kernel import jsoncodec
from kernel.db import UtcDateTime, connection_of
from kernel.errors import BadRequest, Conflict
from kernel.events import utcnow

# A client key: a uuid is recommended; anything printable and short is accepted.
KEY_PATTERN = re.compile(r"[A-Za-z0-9._:-]{8,100}")


class InvalidKey(BadRequest):
    code, message = "VALIDATION_ERROR", "Некорректный заголовок Idempotency-Key"


class KeyReused(Conflict):
    code = "IDEMPOTENCY_KEY_REUSED"
    message = "Этот ключ Idempotency-Key уже использован для другого запроса"


def idempotency_table(metadata: MetaData, name: str = "idempotency_keys") -> Table:
    """The keys table in a service's metadata: one row per (school, actor,
    key); ``fingerprint`` is a hash of the operation and its arguments."""
    return Table(
        name, metadata,
        Column("school_id", String(64), primary_key=True),
        Column("actor_id", String(64), primary_key=True),
        Column("key", String(100), primary_key=True),
        Column("operation", String(80), nullable=False),
        Column("fingerprint", String(64), nullable=False),
        Column("result", Text, nullable=False),
        Column("created_at", UtcDateTime(), nullable=False, index=True),
    )


def check_key(key) -> str | None:
    """None (no key), or the key if well-formed; :class:`InvalidKey` otherwise."""
    if key is None or key == "":
        return None
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        raise InvalidKey(details={"field": "Idempotency-Key"})
    return key


def fingerprint(operation: str, request) -> str:
    """A stable hash of what was asked (JSON-able arguments)."""
    text = json.dumps([operation, request], sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_LOOKUPS: dict = {}


def lookup(session: Session, table: Table, *, school_id: str, actor_id: str, key: str, operation: str,
           request) -> dict | None:
    """The stored result of this key, None when unseen; :class:`KeyReused`
    when the key was used for another operation or other arguments."""
    # Core on the session's connection (no ORM layer for a plain table), with
    # a statement built once per table: this runs before every keyed write.
    stmt = _LOOKUPS.get(table)
    if stmt is None:
        stmt = _LOOKUPS[table] = select(table.c.fingerprint, table.c.result).where(
            table.c.school_id == bindparam("school_id"), table.c.actor_id == bindparam("actor_id"),
            table.c.key == bindparam("key"))
    row = connection_of(session).execute(stmt, {"school_id": school_id, "actor_id": actor_id, "key": key}).first()
    if row is None:
        return None
    return stored_answer(row.fingerprint, row.result, key=key, operation=operation, request=request)


def stored_answer(stored_fingerprint: str | None, stored_result: str | None, *, key: str, operation: str,
                  request) -> dict | None:
    """What a key's stored row (its ``fingerprint`` and ``result``, None when
    unseen) means for this request: :func:`lookup`'s answer, for a caller
    that read the row in a statement of its own."""
    if stored_fingerprint is None:
        return None
    if stored_fingerprint != fingerprint(operation, request):
        raise KeyReused(details={"key": key})
    return json.loads(stored_result)


def remember(session: Session, table: Table, *, school_id: str, actor_id: str, key: str, operation: str,
             request, result) -> None:
    """Store ``result`` under the key in the caller's (write) transaction."""
    session.execute(insert(table).values(key_row(school_id=school_id, actor_id=actor_id, key=key,
                                                 operation=operation, request=request, result=result)))


def key_row(*, school_id: str, actor_id: str, key: str, operation: str, request, result) -> dict:
    """The row :func:`remember` inserts (for a caller that inserts it with
    its own rows, kernel.bulk.insert_rows)."""
    return {"school_id": school_id, "actor_id": actor_id, "key": key, "operation": operation,
            "fingerprint": fingerprint(operation, request), "result": jsoncodec.dumps(result),
            "created_at": utcnow()}


def purge(session: Session, table: Table, *, older_than: dt.datetime, batch: int = 5000) -> int:
    """Delete the keys stored before ``older_than``, at most ``batch`` rows a
    statement (short statements on a large backlog); the number deleted.
    Runs in the caller's transaction."""
    key = tuple_(table.c.school_id, table.c.actor_id, table.c.key)
    total = 0
    while True:
        oldest = (select(table.c.school_id, table.c.actor_id, table.c.key)
                  .where(table.c.created_at < older_than).limit(batch))
        deleted = session.execute(delete(table).where(key.in_(oldest))).rowcount
        total += deleted
        if deleted < batch:
            return total


class Replayed(Exception):
    """The key holds a first result already: it is the call's answer
    (raised inside the write, caught by :func:`idempotent`)."""

    def __init__(self, result):
        super().__init__("replayed")
        self.result = result


@dataclass(frozen=True)
class IdempotentCall:
    """One write call's Idempotency-Key, as :func:`idempotent` hands it to
    the entrypoint. Without a key (``key`` None) every method is a no-op, so
    a write calls them the same way either way."""
    table: Table | None = None
    school_id: str | None = None
    actor_id: str | None = None
    key: str | None = None
    operation: str | None = None
    request: list | None = None

    def _ids(self) -> dict:
        return {"school_id": self.school_id, "actor_id": self.actor_id, "key": self.key,
                "operation": self.operation, "request": self.request}

    def stored(self, session: Session) -> dict | None:
        """The key's stored first result, read now (None: unseen, or no key)."""
        return lookup(session, self.table, **self._ids()) if self.key is not None else None

    def replay(self, session: Session) -> None:
        """Raise :class:`Replayed` when the key holds a first result."""
        found = self.stored(session)
        if found is not None:
            raise Replayed(found)

    def replay_stored(self, stored_fingerprint: str | None, stored_result: str | None) -> None:
        """:meth:`replay` for the key's row read by a statement of the
        caller's own (its ``fingerprint`` and ``result``, None when unseen)."""
        if self.key is not None:
            found = stored_answer(stored_fingerprint, stored_result, key=self.key, operation=self.operation,
                                  request=self.request)
            if found is not None:
                raise Replayed(found)

    def remember(self, session: Session, result) -> None:
        """Store ``result`` under the key in the write's transaction."""
        if self.key is not None:
            remember(session, self.table, **self._ids(), result=result)

    def rows(self, result) -> tuple:
        """The same as ``(table, rows)`` for kernel.bulk.insert_rows."""
        return self.table, [key_row(**self._ids(), result=result)] if self.key is not None else []


def idempotent(operation: str, *, table: Table, caller: Callable, conflicts=(IntegrityError,), db: str = "db"):
    """Make a write entrypoint idempotent by Idempotency-Key (API.md).

    The RPC takes ``idempotency_key=None`` after its arguments; the
    decorated method takes ``key`` (an :class:`IdempotentCall`) instead and
    calls ``key.replay`` (or ``key.replay_stored``) first in its write
    transaction and ``key.remember`` (or ``key.rows``) last. ``caller(ctx)``
    gives ``(school_id, actor_id)``, the key's owner. The request's
    fingerprint is the method's arguments after ``ctx``. A call that ends in
    one of ``conflicts`` (a concurrent duplicate losing on the key's primary
    key) answers the first call's stored result, read in a transaction of
    ``self.<db>``, if there is one; else the error stands."""
    def decorate(fn):
        params = list(inspect.signature(fn).parameters.values())
        request_params = [p.name for p in params[2:] if p.name != "key"]
        # what the RPC's callers see: the method's arguments, then the key
        rpc = inspect.Signature([p for p in params if p.name != "key"] + [inspect.Parameter(
            "idempotency_key", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)])

        @functools.wraps(fn)
        def write(self, ctx, *args, **kwargs):
            arguments = rpc.bind(self, ctx, *args, **kwargs).arguments
            request = [arguments[name] for name in request_params]
            key = check_key(arguments.get("idempotency_key"))
            if key is None:
                return fn(self, ctx, *request, key=IdempotentCall(table))
            school_id, actor_id = caller(ctx)
            call = IdempotentCall(table, school_id, actor_id, key, operation, request)
            try:
                return fn(self, ctx, *request, key=call)
            except Replayed as replayed:
                return replayed.result
            except conflicts:
                with getattr(self, db).transaction() as session:
                    found = call.stored(session)
                if found is not None:
                    return found
                raise
        return write
    return decorate
