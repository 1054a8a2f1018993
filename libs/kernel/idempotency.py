"""Idempotent writes (API.md "Idempotency-Key"): the first result of a write
is stored under the caller's key in the same transaction as the write, so a
retry (or a double click) returns that result and changes nothing.

Usage inside a service, with its own metadata (the table lives in each
service's database, like the outbox)::

    keys = idempotency_table(Base.metadata)
    found = lookup(session, keys, school_id=..., actor_id=..., key=..., operation=..., request=...)
    if found is not None: return found
    ... write ...
    remember(session, keys, ..., result=result)   # same transaction as the write

A concurrent duplicate loses at commit on the primary key (the caller rolls
back and calls :func:`lookup` again). A key reused for a different request is
refused with :class:`KeyReused` (409), never silently answered with another
request's result.
"""
from __future__ import annotations

import hashlib
import json
import re

import datetime as dt

from sqlalchemy import Column, MetaData, String, Table, Text, bindparam, delete, insert, select, tuple_
from sqlalchemy.orm import Session

from kernel import jsoncodec
from kernel.db import UtcDateTime
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
    row = session.connection().execute(stmt, {"school_id": school_id, "actor_id": actor_id, "key": key}).first()
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
    its own rows, kernel.db.insert_rows)."""
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
