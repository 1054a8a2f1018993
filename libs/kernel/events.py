"""The event envelope, the transactional outbox and idempotent handling.

A service writes its domain change and an outbox row in one transaction
(:func:`record`); the relay (:mod:`kernel.nameko.outbox`) publishes outbox rows to the
service's topic exchange ``<service>.events`` with publisher confirms and
marks them sent. Consumers call :func:`claim` inside the transaction of their
effect, so an event delivered twice has one effect.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Column, Integer, MetaData, String, Table, Text, insert,
)
from sqlalchemy.orm import Session

from kernel import jsoncodec
from kernel.db import UtcDateTime, dialect_insert
from kernel.ids import uuid4_str

ENVELOPE_VERSION = 1
ENVELOPE_FIELDS = ("id", "type", "occurred_at", "producer", "school_id", "actor_id", "payload", "version")
_FIELDS = frozenset(ENVELOPE_FIELDS)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def envelope(*, type: str, producer: str, payload: dict, school_id: str | None,
             actor_id: str | None, correlation_id: str | None = None,
             version: int = ENVELOPE_VERSION) -> dict:
    """Build one event envelope (ARCHITECTURE.md "How they talk")."""
    env = {
        "id": uuid4_str(),
        "type": type,
        "occurred_at": utcnow().isoformat(),
        "producer": producer,
        "school_id": school_id,
        "actor_id": actor_id,
        "payload": payload,
        "version": version,
    }
    if correlation_id:
        env["correlation_id"] = correlation_id
    return env


def validate_envelope(env) -> dict:
    """Raise ValueError unless ``env`` is a well-formed envelope."""
    if not isinstance(env, dict):
        raise ValueError("event is not an object")
    if not _FIELDS.issubset(env.keys()):  # one set operation on the common path
        raise ValueError(f"event lacks {', '.join(f for f in ENVELOPE_FIELDS if f not in env)}")
    if not isinstance(env["payload"], dict):
        raise ValueError("event payload is not an object")
    for name, limit in (("id", 36), ("type", 80)):
        value = env[name]
        if not isinstance(value, str) or not value or len(value) > limit:
            raise ValueError(f"event {name} must be a non-empty string of at most {limit} characters")
    return env


def kernel_tables(metadata: MetaData) -> dict:
    """Add the outbox, processed-event and dead-letter tables to a service's
    metadata (each service keeps them in its own database)."""
    outbox = Table(
        "outbox", metadata,
        Column("seq", Integer, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("event_type", String(80), nullable=False),
        Column("body", Text, nullable=False),
        Column("correlation_id", String(64)),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("sent_at", UtcDateTime(), index=True),
        Column("attempts", Integer, nullable=False, default=0),
    )
    processed = Table(
        "processed_events", metadata,
        Column("consumer", String(120), primary_key=True),
        Column("event_id", String(36), primary_key=True),
        Column("processed_at", UtcDateTime(), nullable=False),
    )
    dead = Table(
        "dead_letters", metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("consumer", String(120), nullable=False),
        Column("event_id", String(64)),
        Column("body", Text, nullable=False),
        Column("error", Text, nullable=False),
        Column("created_at", UtcDateTime(), nullable=False),
    )
    return {"outbox": outbox, "processed_events": processed, "dead_letters": dead}


def record(session: Session, outbox: Table, env: dict) -> dict:
    """Write ``env`` to the outbox in the caller's transaction."""
    validate_envelope(env)
    session.execute(insert(outbox).values(
        event_id=env["id"], event_type=env["type"],
        body=jsoncodec.dumps(env),
        correlation_id=env.get("correlation_id"),
        created_at=utcnow(), attempts=0,
    ))
    return env


#: A packed outbox row holds at most this many envelopes (one AMQP message).
PACK_LIMIT = 500


def record_many(session: Session, outbox: Table, envs: list[dict], *, packed: bool = False) -> list[dict]:
    """Write several envelopes to the outbox in one statement (executemany),
    in the caller's transaction: a class's marks cost one round trip, not 30.

    ``packed=True`` writes the envelopes of one type as ONE row whose body is
    a JSON array of them (at most :data:`PACK_LIMIT` a row); the relay
    publishes it as one message and consumers unpack it (:func:`unpack`).
    Each envelope is unchanged, with its own id: only the broker sees one
    message where it would have seen 30 (docs/events.md, "Packed messages")."""
    rows = outbox_rows(envs, packed=packed)
    if rows:
        session.execute(insert(outbox), rows)
    return envs


def outbox_rows(envs: list[dict], *, packed: bool = False) -> list[dict]:
    """The outbox rows :func:`record_many` writes for ``envs`` (for a caller
    that inserts them together with its own rows, kernel.bulk.insert_rows)."""
    now = utcnow()
    for env in envs:
        validate_envelope(env)
    if not packed:
        return [{"event_id": env["id"], "event_type": env["type"],
                 "body": jsoncodec.dumps(env), "correlation_id": env.get("correlation_id"),
                 "created_at": now, "attempts": 0} for env in envs]
    groups: dict[str, list[dict]] = {}
    for env in envs:
        groups.setdefault(env["type"], []).append(env)
    chunks = [group[i:i + PACK_LIMIT] for group in groups.values() for i in range(0, len(group), PACK_LIMIT)]
    return [{"event_id": chunk[0]["id"], "event_type": chunk[0]["type"],
             "body": jsoncodec.dumps(chunk if len(chunk) > 1 else chunk[0]),
             "correlation_id": chunk[0].get("correlation_id"), "created_at": now, "attempts": 0}
            for chunk in chunks]


def unpack(body) -> list:
    """The envelopes one message (or outbox row body, parsed) carries: a
    packed message is a JSON array of envelopes, any other is one."""
    return body if isinstance(body, list) else [body]


def claim(session: Session, processed: Table, consumer: str, event_id: str) -> bool:
    """Mark ``event_id`` processed by ``consumer`` in the caller's transaction.

    Returns False when it was processed before (the caller then does nothing).
    One statement (``INSERT ... ON CONFLICT DO NOTHING RETURNING``): a
    concurrent duplicate waits for the other transaction and, once it
    commits, finds the id taken.
    """
    stmt = (dialect_insert(session, processed)
            .values(consumer=consumer, event_id=event_id, processed_at=utcnow())
            .on_conflict_do_nothing()
            .returning(processed.c.event_id))
    return session.execute(stmt).first() is not None
