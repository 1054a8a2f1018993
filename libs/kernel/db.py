"""Database engines and sessions, for nameko workers and plain processes:
engines with the settings every service needs (:func:`make_engine`, one per
URL per process with :func:`shared_engine`), sessions and
:func:`transaction`, the aware date-and-time column type
(:func:`UtcDateTime`) and the database's own INSERT (:func:`dialect_insert`).
The nameko provider is kernel.nameko.database, the bulk insert kernel.bulk.
"""
from __future__ import annotations

import datetime as dt
import re
import threading
import time
from contextlib import contextmanager

from sqlalchemy import DateTime, create_engine, event
from sqlalchemy.dialects.sqlite import DATETIME as SQLITE_DATETIME
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator, TypeEngine

from kernel.ids import uuid4_str


def new_id() -> str:
    """An opaque, non-guessable id (API.md: never sequential integers)."""
    return uuid4_str()


class _SqliteUtcDateTime(TypeDecorator):
    """SQLite's side of :func:`UtcDateTime`. SQLite keeps a datetime as text
    without an offset: an aware value is stored as its UTC wall-clock time
    (never as its own local one) and read back aware, in UTC. A naive value
    is taken as UTC, as the rows written before this type were. The text
    format is SQLAlchemy's own, so comparisons stay text comparisons of
    UTC times."""

    impl = SQLITE_DATETIME
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value


def UtcDateTime() -> TypeEngine:  # noqa: N802 - used like a type class
    """The type of every date-and-time column of every service: an aware
    instant that comes back aware on both databases. On PostgreSQL it is
    ``DateTime(timezone=True)`` itself (timestamptz, no per-value Python
    work on the hot writes); on SQLite it stores UTC and returns aware UTC
    values (:class:`_SqliteUtcDateTime`), where a plain DateTime returned
    naive ones that could not be compared with aware ones."""
    return DateTime(timezone=True).with_variant(_SqliteUtcDateTime(), "sqlite")


def is_utc_datetime(sqltype) -> bool:
    """Whether ``sqltype`` is :func:`UtcDateTime` (tests check that no plain
    DateTime column is left)."""
    from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect

    return (isinstance(sqltype, DateTime) and bool(sqltype.timezone)
            and isinstance(sqltype.dialect_impl(sqlite_dialect()), _SqliteUtcDateTime))


def connection_of(session: Session | Connection) -> Connection:
    """The Core connection of a session's transaction, or ``session`` itself
    when it is a Core connection already (a write that uses no ORM object,
    e.g. a class's marks, runs on one: what a session adds costs more than
    the statements' own Python work)."""
    return session if isinstance(session, Connection) else session.connection()


def dialect_insert(session: Session | Connection, model):
    """The database's own INSERT for ``model`` (a mapped class or a Table),
    which knows ``ON CONFLICT``: PostgreSQL and SQLite, the two databases
    the services run on."""
    name = (session.dialect if isinstance(session, Connection) else session.get_bind().dialect).name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the two supported databases
        raise NotImplementedError(f"INSERT ... ON CONFLICT on {name}")
    return insert(model)


def transient_error(exc: BaseException) -> bool:
    """A lost connection or an unavailable database (a restart, a failover):
    worth a retry, not a bug."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    return isinstance(exc, (OperationalError, InterfaceError)) or (
        isinstance(exc, DBAPIError) and bool(exc.connection_invalidated))


def make_engine(url: str, **kwargs) -> Engine:
    """An engine with the settings every service needs.

    SQLite (the embedded default) is shared between a service's nameko
    process and its gRPC process, so it runs in WAL mode with a busy timeout.
    """
    if url.startswith("sqlite"):
        connect_args = {"check_same_thread": False, "timeout": 30}
        if ":memory:" in url or url in ("sqlite://", "sqlite:///"):
            kwargs.setdefault("poolclass", StaticPool)
        engine = create_engine(url, connect_args=connect_args, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    ping_idle = kwargs.pop("ping_idle_after", PING_IDLE_AFTER)
    if url.startswith(("postgresql://", "postgresql+psycopg2://")):
        # A statement that insertmanyvalues cannot rewrite into one multi-row
        # VALUES (INSERT ... ON CONFLICT without RETURNING, an UPDATE, an
        # upsert) would otherwise go to psycopg2's executemany: a round trip
        # per row, 30 for a class's marks. execute_batch sends them 100 to
        # a round trip.
        kwargs.setdefault("executemany_mode", "values_plus_batch")
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 10)
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine, ping_idle)
    return engine


#: A pooled connection unused for longer than this (seconds) is pinged
#: before use (:func:`_ping_when_idle`).
PING_IDLE_AFTER = 2.0


def _ping_when_idle(engine: Engine, after: float) -> None:
    """Pessimistic disconnect handling for the connections that sat idle.

    ``pool_pre_ping`` costs a ``SELECT 1`` round trip on every checkout,
    one per transaction: under load, every class's marks and every consumer
    batch paid it (a tenth of a consumer's CPU). A connection given back
    less than ``after`` seconds ago was working a moment ago and is used as
    it is; one idle for longer (a database restart, a firewall that cut it)
    is pinged, and a dead one is replaced before anyone uses it
    (SQLAlchemy retries the checkout on DisconnectionError). A connection
    that breaks within those seconds fails its transaction as one in use at
    that moment would have anyway; SQLAlchemy then invalidates the pool."""
    from sqlalchemy import exc

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_conn, record):
        record.info["ejournal_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn, record, proxy):
        since = record.info.get("ejournal_idle_since")
        if since is None or time.monotonic() - since <= after:
            return
        try:
            cursor = dbapi_conn.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            dbapi_conn.rollback()
        except engine.dialect.loaded_dbapi.Error as error:
            raise exc.DisconnectionError(f"an idle connection is dead: {error}") from error


class PreparedRead:
    """A hot read statement that PostgreSQL parses and plans once per
    connection (``PREPARE``) and then only executes (``EXECUTE``): the
    diary's statements cost more to plan than to run. On another database the
    statement runs as it is. ``rows(connection, params)`` gives plain tuples
    in the statement's column order.

    Which connections have it is kept in the pool's per-connection ``info``
    (emptied when SQLAlchemy replaces a broken connection)."""

    _PLACEHOLDER = re.compile(r"%\((\w+)\)s")

    def __init__(self, name: str, build):
        if not name.isidentifier():
            raise ValueError(f"not a statement name: {name!r}")
        self.name = name
        self._build = build  # () -> the SQLAlchemy statement (built on first use)
        self._statement = None
        self._sql = None
        self._lock = threading.Lock()

    @property
    def statement(self):
        if self._statement is None:
            self._statement = self._build()
        return self._statement

    def _compiled(self, dialect):
        if self._sql is None:
            with self._lock:
                if self._sql is None:
                    compiled = self.statement.compile(dialect=dialect)
                    order: list[str] = []

                    def number(match):
                        if match.group(1) not in order:
                            order.append(match.group(1))
                        return f"${order.index(match.group(1)) + 1}"

                    text = self._PLACEHOLDER.sub(number, compiled.string).replace("%%", "%")
                    fixed = compiled.params  # literals the statement carries as bind values
                    # each parameter's type said, as PostgreSQL cannot infer one from a select list
                    types = ", ".join(dialect.type_compiler_instance.process(compiled.binds[k].type)
                                      for k in order)
                    self._sql = (f"PREPARE {self.name} ({types}) AS {text}", order, fixed,
                                 f"EXECUTE {self.name} ({', '.join(['%s'] * len(order))})")
        return self._sql

    def rows(self, connection, params: dict) -> list[tuple]:
        """The rows for ``params`` on ``connection`` (a SQLAlchemy
        Connection), plain tuples (see :meth:`_on_cursor`)."""
        if connection.dialect.name != "postgresql":
            return [tuple(row) for row in connection.execute(self.statement, params)]
        return self._on_cursor(connection, params, lambda cursor: cursor.fetchall())

    def first(self, connection, params: dict) -> tuple | None:
        """The first row for ``params`` (a plain tuple), None without one."""
        if connection.dialect.name != "postgresql":
            row = connection.execute(self.statement, params).first()
            return tuple(row) if row is not None else None
        return self._on_cursor(connection, params, lambda cursor: cursor.fetchone())

    def _on_cursor(self, connection, params: dict, fetch):
        """PostgreSQL: ``fetch(cursor)`` after the statement ran straight on
        the driver's cursor, prepared first on a connection that lacks it: no
        result object nor column metadata per read (the rows are the driver's
        tuples, with no result processing: for columns the driver gives as
        Python values already, not UtcDateTime on SQLite). The engine's
        ``before_cursor_execute`` listeners still see the statement (tests
        count the diary's; a listener's rewrite, ``retval=True``, is not
        honoured); a driver error is SQLAlchemy's (a lost database is a 503,
        :func:`transient_error`), the connection invalidated when the
        database is gone, so that the pool does not give it out again."""
        dialect = connection.dialect
        prepare, order, fixed, execute = self._compiled(dialect)
        proxied = connection.connection
        ready = proxied.info.setdefault("ejournal_prepared", set())
        values = tuple(params[k] if k in params else fixed[k] for k in order)
        statement = execute
        cursor = proxied.cursor()
        try:
            if self.name not in ready:  # once per connection, beside the statements counted
                statement = prepare
                cursor.execute(prepare)
                ready.add(self.name)
                statement = execute
            for observe in connection.dispatch.before_cursor_execute:
                observe(connection, cursor, execute, values, None, False)
            cursor.execute(execute, values)
            return fetch(cursor)
        except dialect.loaded_dbapi.Error as error:
            lost = dialect.is_disconnect(error, proxied.dbapi_connection, cursor)
            if lost:
                connection.invalidate(error)
            raise DBAPIError.instance(statement, values, error, dialect.loaded_dbapi.Error,
                                      connection_invalidated=lost, dialect=dialect) from None
        finally:
            cursor.close()


_shared: dict = {}


def shared_engine(url: str) -> Engine:
    """One engine (one pool) per URL per process: a service's providers
    (database, outbox relay, dead letters) share it instead of each holding
    a pool of its own."""
    engine = _shared.get(url)
    if engine is None:
        engine = _shared[url] = make_engine(url)
    return engine


def session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, expire_on_commit=False, future=True)


@contextmanager
def autocommit_connection(engine: Engine | None, factory: sessionmaker):
    """A connection whose statements each commit by themselves (no BEGIN and
    COMMIT round trips): a bare one of ``engine``, an engine made with
    ``isolation_level="AUTOCOMMIT"`` (no ORM Session built per use, no SET
    to give the connection back), else (SQLite keeps one engine) a
    ``factory`` session's connection switched to autocommit."""
    if engine is not None:
        with engine.connect() as connection:
            yield connection
        return
    with transaction(factory) as session:
        yield session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


@contextmanager
def transaction(factory: sessionmaker):
    """A session whose work is committed on success and rolled back on error."""
    session: Session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
