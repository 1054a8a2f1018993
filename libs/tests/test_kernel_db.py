"""kernel.db engines on the real PostgreSQL: a pooled connection that sat
idle is checked before use; a busy one is not pinged on every checkout."""
import time

import psycopg2.extensions
import pytest
from sqlalchemy import create_engine, text

from kernel.db import make_engine


@pytest.fixture(scope="module")
def db_url(pg_databases):
    return pg_databases.create("kdb")


def backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar()


def terminate(db_url, pid: int) -> None:
    admin = create_engine(db_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
            for _ in range(50):  # bounded: the backend goes within a moment
                if not conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                                    {"pid": pid}).scalar():
                    return
                time.sleep(0.05)
    finally:
        admin.dispose()


def test_a_connection_killed_while_idle_is_replaced_before_use(db_url):
    """A database restart or a firewall kills pooled connections while they
    sit idle: the next user still gets a working one (without the ping it
    gets an OperationalError)."""
    engine = make_engine(db_url, pool_size=1, max_overflow=0, ping_idle_after=0.2)
    try:
        first = backend_pid(engine)
        terminate(db_url, first)
        time.sleep(0.3)  # idle for longer than ping_idle_after
        assert backend_pid(engine) != first
    finally:
        engine.dispose()


class CountingCursor(psycopg2.extensions.cursor):
    sent: list = []

    def execute(self, query, vars=None):
        CountingCursor.sent.append(query)
        return super().execute(query, vars)


def test_a_busy_connection_is_not_pinged_on_every_checkout(db_url):
    """SQLAlchemy's pool_pre_ping sent a SELECT 1 before every transaction;
    a connection given back a moment ago is used as it is."""
    for pre_ping, expected in ((False, 20), (True, 40)):
        engine = make_engine(db_url, pool_size=1, max_overflow=0, ping_idle_after=5.0, pool_pre_ping=pre_ping,
                             connect_args={"cursor_factory": CountingCursor})
        try:
            backend_pid(engine)  # the first connect also asks for the server's version and settings
            CountingCursor.sent = []
            for _ in range(20):
                backend_pid(engine)
            assert len(CountingCursor.sent) == expected, CountingCursor.sent[:4]
        finally:
            engine.dispose()
