"""Database engines and sessions, for nameko workers and plain processes.

nameko-sqlalchemy's fixtures are broken on SQLAlchemy 2, so this is a small
DependencyProvider: one engine per service container, one session per worker,
closed at worker teardown.
"""
from __future__ import annotations

import datetime as dt
import decimal
import math
import time
from contextlib import contextmanager

from sqlalchemy import DateTime, create_engine, event
from sqlalchemy.dialects.sqlite import DATETIME as SQLITE_DATETIME
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator, TypeEngine

from kernel import jsoncodec
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


def dialect_insert(session: Session, model):
    """The database's own INSERT for ``model`` (a mapped class or a Table),
    which knows ``ON CONFLICT``: PostgreSQL and SQLite, the two databases
    the services run on."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the two supported databases
        raise NotImplementedError(f"INSERT ... ON CONFLICT on {name}")
    return insert(model)


def insert_rows(session: Session, *batches) -> None:
    """INSERT each ``(table, rows)`` of ``batches``, in order, in the
    session's transaction: on PostgreSQL (psycopg2) all of them in ONE round
    trip, elsewhere one Core executemany per table. A batch
    ``(table, rows, keys)`` skips a row whose ``keys`` (the columns of a
    primary key or unique constraint) are taken: ``ON CONFLICT (keys) DO
    NOTHING``, for projections that are idempotent by their own key.

    For the hottest writes (a class's marks, their versions, their outbox
    row and the Idempotency-Key: four statements, one round trip; the
    projections of those marks). Every row of a batch names the same
    columns and gives every column the table needs (no Python-side defaults
    are filled in); values pass through the columns' own bind processing.
    On PostgreSQL a batch's rows travel as ONE parameter, a JSON array read
    back with ``json_populate_recordset`` (quoted by the driver itself,
    ``cursor.mogrify``): psycopg2 adapting every value of a multi-row VALUES
    one by one was the largest CPU cost of the journal's and the
    projections' inserts. Dates and times travel as ISO text, decimals and
    UUIDs as text, JSON columns as JSON (kernel.jsoncodec writes it); a NaN
    or infinite float is refused. A value every row of a batch shares (see
    :data:`_SHAREABLE`) is sent once, in a one-row ``json_populate_record``
    beside the rows' own values."""
    batches = [(batch[0], batch[1], tuple(batch[2]) if len(batch) > 2 else ()) for batch in batches if batch[1]]
    if not batches:
        return
    for table, rows, _keys in batches:
        # Core would fill these in on one database and not on the other.
        missing = [c.name for c in table.c if c.default is not None and c.name not in rows[0]]
        if missing:
            raise ValueError(f"insert_rows into {table.name} needs {', '.join(missing)} in every row")
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql" or dialect.driver != "psycopg2":
        from sqlalchemy import insert
        for table, rows, keys in batches:
            stmt = dialect_insert(session, table).on_conflict_do_nothing(index_elements=list(keys)) \
                if keys else insert(table)
            connection.execute(stmt, rows)
        return
    from sqlalchemy import JSON, Boolean, Float

    prepare = dialect.identifier_preparer
    cursor = connection.connection.cursor()
    try:
        statements = []
        for table, rows, keys in batches:
            names = list(rows[0])
            target = prepare.format_table(table)
            columns = ", ".join(prepare.quote(table.c[n].name) for n in names)
            tail = f" ON CONFLICT ({', '.join(prepare.quote(table.c[k].name) for k in keys)}) DO NOTHING" if keys else ""
            # (a % in the names is not a placeholder)
            tail = tail.replace("%", "%%")
            types = [table.c[name].type for name in names]
            booleans = [n for n, t in zip(names, types) if isinstance(t, Boolean)]
            if booleans and dialect.supports_native_boolean:
                # what Boolean's own processor would check (it is skipped below)
                for row in rows:
                    for n in booleans:
                        if row[n] is not None and type(row[n]) is not bool:
                            raise TypeError(f"insert_rows: {table.name}.{n} takes a bool, not {row[n]!r}")
            for n, t in zip(names, types):
                if isinstance(t, Float):
                    # the document would say null (kernel.jsoncodec): refuse, as json did
                    for row in rows:
                        if isinstance(row[n], float) and not math.isfinite(row[n]):
                            raise ValueError(f"insert_rows: {table.name}.{n} cannot store {row[n]!r}")
            if len(rows) <= 2:
                # one or two rows (an outbox row, a key): VALUES, the driver
                # quoting each value; a 20 kB body is not escaped twice
                processors = [t._cached_bind_processor(dialect) for t in types]
                values = [row[n] if p is None else p(row[n]) for row in rows for n, p in zip(names, processors)]
                template = "(" + ",".join(["%s"] * len(names)) + ")"
                sql = f"INSERT INTO {target} ({columns}) VALUES ".replace("%", "%%") + ",".join([template] * len(rows))
                statements.append(cursor.mogrify(sql + tail, values))
                continue
            processors = [_bind_processor(t, dialect, JSON, Boolean) for t in types]
            keys = [table.c[n].name for n in names]
            if any(processors) or keys != names:
                # (json_populate_recordset matches the columns' names, not their keys)
                rows = [{k: row[n] if p is None else p(row[n]) for k, n, p in zip(keys, names, processors)}
                        for row in rows]
            # A value every row shares (the school, the lesson, the author,
            # the time of a class's marks) travels once, in a one-row record
            # beside the rows' own values: a third of the marks' statement.
            first, others = rows[0], rows[1:]
            shared = {k: first[k] for k in keys
                      if type(first[k]) in _SHAREABLE and all(_same(row[k], first[k]) for row in others)}
            if not shared or len(shared) == len(keys):
                document = jsoncodec.dumps(rows, default=_json_value)
                head = (f"INSERT INTO {target} ({columns}) SELECT {columns} "
                        f"FROM json_populate_recordset(NULL::{target}, ")
                statements.append(cursor.mogrify(head.replace("%", "%%") + "%s)" + tail, (document,)))
                continue
            own = [k for k in keys if k not in shared]
            document = jsoncodec.dumps([{k: row[k] for k in own} for row in rows], default=_json_value)
            picked = ", ".join(("s." if k in shared else "r.") + prepare.quote(k) for k in keys)
            head = f"INSERT INTO {target} ({columns}) SELECT {picked} FROM ".replace("%", "%%")
            row_type = f"NULL::{target}".replace("%", "%%")
            sources = f"json_populate_recordset({row_type}, %s) AS r, json_populate_record({row_type}, %s) AS s"
            statements.append(cursor.mogrify(head + sources + tail,
                                             (document, jsoncodec.dumps(shared, default=_json_value))))
    finally:
        cursor.close()
    connection.exec_driver_sql(b";\n".join(statements).decode("utf-8"),
                               execution_options={"no_parameters": True})


#: The values insert_rows may send once for all rows: those whose equality
#: means the same stored value (not JSON documents, where 1 == True, nor
#: decimals, where 1.0 == 1.00 but the scale is kept).
_SHAREABLE = frozenset({str, int, bool, type(None), dt.date, dt.datetime})


def _same(value, first) -> bool:
    if type(value) is not type(first) or value != first:
        return False
    # equal instants in other time zones are not the same value
    return not isinstance(value, dt.datetime) or value.utcoffset() == first.utcoffset()


def _bind_processor(sqltype, dialect, json_type, boolean_type):
    """The column type's own bind processing, except where the value goes
    into the JSON document as it is: a JSON column, and a native boolean
    (its processor only checks that the value is a bool, which
    :func:`insert_rows` does itself)."""
    if isinstance(sqltype, json_type) or (isinstance(sqltype, boolean_type) and dialect.supports_native_boolean):
        return None
    return sqltype._cached_bind_processor(dialect)


def _json_value(value):
    """What kernel.jsoncodec cannot write by itself (it writes dates, times
    and UUIDs), as PostgreSQL reads it back: a decimal as its text."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    raise TypeError(f"insert_rows cannot send {type(value).__name__}")


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


def __getattr__(name):
    # The nameko provider lives in kernel.nameko.database so that plain
    # processes (gRPC servers, workers, the gateway) never import nameko or
    # eventlet.
    if name in ("Database", "WorkerDb"):
        from kernel.nameko import database
        return getattr(database, name)
    raise AttributeError(name)
