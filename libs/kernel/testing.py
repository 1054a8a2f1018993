"""Test fixtures shared by every service (a pytest plugin, loaded by the root
conftest): fresh PostgreSQL databases per run, migrated with the service's
own Alembic history, and a clean slate per test.

The server is ``EJOURNAL_TEST_PG_URL`` (default the local trust-auth
``postgresql+psycopg2://postgres@127.0.0.1:5432/postgres``). Everything a run
creates is dropped at its end.
"""
from __future__ import annotations

import contextlib
import logging
import os
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ADMIN_URL_DEFAULT = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def admin_url() -> str:
    return os.environ.get("EJOURNAL_TEST_PG_URL", ADMIN_URL_DEFAULT)


class PgDatabases:
    """Creates databases on the test server and drops them all at the end."""

    def __init__(self, base_url: str):
        self.base_url = make_url(base_url)
        self.engine = create_engine(base_url, isolation_level="AUTOCOMMIT", poolclass=None)
        self.run = uuid.uuid4().hex[:8]
        self.created: list[str] = []

    def create(self, label: str) -> str:
        name = f"ejt_{self.run}_{label}_{len(self.created)}"
        with self.engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return self.base_url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self):
        with self.engine.connect() as conn:
            for name in reversed(self.created):
                conn.execute(text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"),
                    {"n": name})
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        self.engine.dispose()


@pytest.fixture(scope="session")
def pg_databases():
    dbs = PgDatabases(admin_url())
    yield dbs
    dbs.drop_all()


def database_with(pg_databases, label: str, *metadatas) -> str:
    """A new PostgreSQL database holding the tables of ``metadatas`` (a
    kernel test's own tables, no migrations); its URL."""
    url = pg_databases.create(label)
    engine = create_engine(url)
    for metadata in metadatas:
        metadata.create_all(engine)
    engine.dispose()
    return url


@contextlib.contextmanager
def emptied_engine(url: str, *tables: str):
    """A ``kernel.db`` engine on ``url`` with ``tables`` emptied first (and
    their sequences restarted), disposed afterwards: a clean slate per test."""
    from kernel.db import make_engine

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY"))
        yield engine
    finally:
        engine.dispose()


def count_rows(engine, table, *where) -> int:
    """How many rows of ``table`` match ``where``."""
    from sqlalchemy import func, select

    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar()


def drain_queue(connection, queue) -> list[dict]:
    """Every message waiting in ``queue`` (a kombu Queue), taken off it:
    ``{id, body (JSON-decoded), headers, routing_key, content_type}``."""
    import json

    got = []
    channel = connection.channel()
    try:
        while (message := channel.basic_get(queue.name, no_ack=True)) is not None:
            got.append({"id": message.properties.get("message_id"), "body": json.loads(message.body),
                        "headers": message.headers, "routing_key": message.delivery_info["routing_key"],
                        "content_type": message.properties.get("content_type")})
    finally:
        channel.close()
    return got


def migrated_database(pg_databases, service: str) -> str:
    """A new PostgreSQL database with ``service``'s migrations applied."""
    from kernel.migrate import upgrade

    url = pg_databases.create(service)
    upgrade(service, url)
    return url


_engines: dict = {}


def truncate_all(url: str, metadata) -> None:
    """Empty every table of ``metadata`` (fast per-test isolation: DELETE on
    small tables beats TRUNCATE, and the engine is kept per URL)."""
    from sqlalchemy.pool import NullPool

    engine = _engines.get(url)
    if engine is None:
        engine = _engines[url] = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())


# --- RPC entrypoints and their logging ---------------------------------------

def rpc_entrypoints(service_cls) -> dict:
    """``{method name: nameko Rpc entrypoint}`` of a service class."""
    from nameko.rpc import Rpc

    return {name: ep for name in dir(service_cls)
            for ep in getattr(getattr(service_cls, name), "nameko_entrypoints", ()) if isinstance(ep, Rpc)}


def rpcs_not_expecting(service_cls, exc) -> list[str]:
    """The RPCs of ``service_cls`` that do not declare ``exc`` expected
    (``kernel.nameko.rpc.service_rpc`` does), so nameko would log it as an
    error with a traceback."""
    def expects(ep) -> bool:
        expected = ep.expected_exceptions
        return any(issubclass(exc, e) for e in (expected if isinstance(expected, tuple) else (expected,)))

    return sorted(name for name, ep in rpc_entrypoints(service_cls).items() if not expects(ep))


def worker_log(caplog) -> tuple[list[str], list[str]]:
    """What nameko's container logged, captured by ``caplog``: the error
    messages and the "(expected) error" warnings."""
    logged = [r for r in caplog.records if r.name == "nameko.containers"]
    errors = [r.getMessage() for r in logged if r.levelno >= logging.ERROR]
    expected = [r.getMessage() for r in logged if "(expected) error handling worker" in r.getMessage()]
    return errors, expected
