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


def test_a_prepared_read_is_planned_once_per_connection_and_answers_as_the_statement(db_url):
    import datetime as dt

    from sqlalchemy import Date, bindparam, literal, select, union_all

    from kernel.db import PreparedRead

    day = bindparam("day", type_=Date)
    statement = lambda: union_all(  # noqa: E731 - literals travel as bind values, '%' must survive
        select(literal("a").label("tag"), day.label("d"), literal("50%").label("p")),
        select(literal("b").label("tag"), day.label("d"), literal("x%%y").label("p")))
    read = PreparedRead("kernel_test_read", statement)
    engine = make_engine(db_url)
    on = dt.date(2026, 9, 1)
    with engine.connect() as conn:
        first = read.rows(conn, {"day": on})
        second = read.rows(conn, {"day": on + dt.timedelta(days=1)})
        assert conn.execute(text("SELECT count(*) FROM pg_prepared_statements WHERE name = 'kernel_test_read'")
                            ).scalar() == 1
        assert [tuple(r) for r in first] == [tuple(r) for r in conn.execute(read.statement, {"day": on})]
    assert [tuple(r) for r in first] == [("a", on, "50%"), ("b", on, "x%%y")]
    assert second[0][1] == on + dt.timedelta(days=1)
    # another connection prepares it for itself
    with engine.connect() as one, engine.connect() as other:
        assert read.rows(one, {"day": on}) == read.rows(other, {"day": on})
    engine.dispose()


def test_a_prepared_read_runs_as_it_is_elsewhere():
    from sqlalchemy import bindparam, literal, select

    from kernel.db import PreparedRead

    read = PreparedRead("kernel_test_sqlite", lambda: select(literal(1).label("one"), bindparam("x").label("x")))
    engine = make_engine("sqlite://")
    with engine.connect() as conn:
        assert read.rows(conn, {"x": "y"}) == [(1, "y")]
        assert read.first(conn, {"x": "y"}) == (1, "y")


def test_a_prepared_first_row_on_the_drivers_cursor_answers_and_fails_as_sqlalchemy_would(db_url):
    """PreparedRead.first: the statement's first row as a tuple (None
    without one), planned once per connection; an error of the statement
    and a lost connection raise SQLAlchemy's exceptions, the lost one
    transient (a 503) and its connection not given back to the pool."""
    from sqlalchemy import Integer, bindparam, literal, select
    from sqlalchemy.exc import DataError, OperationalError

    from kernel.db import PreparedRead, transient_error

    n = bindparam("n", type_=Integer)
    read = PreparedRead("kernel_test_first", lambda: select(literal("row").label("tag"), (100 / n).label("q"))
                        .where(n != 1))
    engine = make_engine(db_url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            assert read.first(conn, {"n": 4}) == ("row", 25)
            assert read.first(conn, {"n": 1}) is None
            assert conn.execute(text("SELECT count(*) FROM pg_prepared_statements WHERE name = 'kernel_test_first'")
                                ).scalar() == 1
            with pytest.raises(DataError) as failed:
                read.first(conn, {"n": 0})  # division by zero
            assert not transient_error(failed.value)
    finally:
        engine.dispose()
    engine = make_engine(db_url, pool_size=1, max_overflow=0, ping_idle_after=60.0)
    try:
        with engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
            conn.commit()
            terminate(db_url, pid)
            with pytest.raises(OperationalError) as lost:
                read.first(conn, {"n": 4})
            assert transient_error(lost.value) and lost.value.connection_invalidated
        assert backend_pid(engine) != pid  # a new connection, not the dead one
    finally:
        engine.dispose()


def test_a_prepared_read_on_a_lost_connection_is_sqlalchemys_error_and_the_connection_is_replaced(db_url):
    """The read runs on the driver's cursor, yet a lost connection comes out
    as from any statement: OperationalError (kernel.db.transient_error: the
    gRPC answer is UNAVAILABLE), the connection invalidated, the next read
    on a new one."""
    from sqlalchemy import String, bindparam, literal, select
    from sqlalchemy.exc import OperationalError

    from kernel.db import PreparedRead, transient_error

    read = PreparedRead("kernel_test_lost",
                        lambda: select(literal(1).label("one"), bindparam("x", type_=String).label("x")))
    engine = make_engine(db_url, pool_size=1, max_overflow=0, ping_idle_after=3600)
    try:
        with engine.connect() as conn:
            assert read.rows(conn, {"x": "a"}) == [(1, "a")]
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        terminate(db_url, pid)
        with engine.connect() as conn:
            with pytest.raises(OperationalError) as lost:
                read.rows(conn, {"x": "b"})
            assert transient_error(lost.value) and lost.value.connection_invalidated
        with engine.connect() as conn:
            assert read.rows(conn, {"x": "c"}) == [(1, "c")]
    finally:
        engine.dispose()
