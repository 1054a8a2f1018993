"""The import side of the backup contract, the counterpart of
:mod:`kernel.export`: put a service's exported tables back into an empty
database.

A service restores its own database through its own ``<service>.restore``
module, which calls :func:`restore_database` with its name (its migrations)
and its metadata; no service ever writes another's tables.

What :func:`restore_database` does, in order:

1. refuses a database whose tables hold rows (:class:`RestoreRefused`),
   unless ``force``: then every table of it is dropped first;
2. migrates the empty database to the archive's schema revision (the
   service's own Alembic history), so the rows go into the schema they were
   exported from;
3. inserts every table's rows, parents before children, in one transaction,
   turning the export's JSON values back into the column's type (ISO text to
   dates and times, decimal text to ``Decimal``, hex to bytes); a table's
   secondary indexes are built once after its rows, not updated row by row;
4. sets every PostgreSQL sequence behind an integer key to the largest value
   restored (an outbox restarted at 1 while its rows hold 957 would collide);
   SQLite takes the next rowid from the rows themselves;
5. migrates to the code's head revision (the data of an older archive goes
   through the same migrations as a running deployment's).

Outbox rows keep their ``sent_at``: an event that was published before the
backup is not published again; one that was not yet published is, and its
consumers' ``processed_events`` (restored as well) drop what they already had.

:func:`table_digest` and :func:`canonical` give the drill an order- and
database-independent checksum of a table's rows.
"""
from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import logging
from typing import Callable, Iterable, Mapping

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, Integer, LargeBinary, MetaData, Numeric, Time, select, text

log = logging.getLogger(__name__)

BATCH_ROWS = 1000
VERSION_TABLE = "alembic_version"


class RestoreRefused(Exception):
    """The restore would overwrite data or cannot fit the archive (the
    message says why, for the operator)."""


# -- values ---------------------------------------------------------------------

def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:  # the services store UTC
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def converter(column_type, dialect: str) -> Callable | None:
    """A function turning an exported JSON value into what ``column_type``
    binds, or None when the value binds as it is."""
    if isinstance(column_type, DateTime):
        naive = dialect == "sqlite"

        def to_datetime(value):
            if not isinstance(value, str):
                return value
            parsed = _utc(dt.datetime.fromisoformat(value))
            return parsed.replace(tzinfo=None) if naive else parsed
        return to_datetime
    if isinstance(column_type, Date):
        return lambda v: dt.date.fromisoformat(v) if isinstance(v, str) else v
    if isinstance(column_type, Time):
        return lambda v: dt.time.fromisoformat(v) if isinstance(v, str) else v
    if isinstance(column_type, Float):
        return None
    if isinstance(column_type, Numeric):
        return lambda v: decimal.Decimal(v) if isinstance(v, (str, int, float)) else v
    if isinstance(column_type, LargeBinary):
        return lambda v: bytes.fromhex(v) if isinstance(v, str) else v
    return None


def canonical(column_type, value):
    """``value`` (exported, or read back) in a form equal on every database:
    instants in UTC, decimals normalised, bytes as hex."""
    if value is None:
        return None
    if isinstance(column_type, DateTime):
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        return _utc(value).isoformat()
    if isinstance(column_type, (Date, Time)):
        return value if isinstance(value, str) else value.isoformat()
    if isinstance(column_type, Float):
        return float(value)
    if isinstance(column_type, Numeric):
        number = decimal.Decimal(str(value)).normalize()
        return format(number, "f")
    if isinstance(column_type, LargeBinary):
        return value if isinstance(value, str) else bytes(value).hex()
    if isinstance(column_type, JSON) and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(column_type, Integer) and isinstance(value, bool):
        return int(value)
    return value


class TableDigest:
    """An order-independent checksum of a table's rows: the sum, modulo
    2**256, of the SHA-256 of every row's canonical JSON (so two databases
    that sort text differently still agree)."""

    def __init__(self, table):
        self.types = {c.name: c.type for c in table.columns}
        self.total = 0
        self.rows = 0

    def add(self, row: Mapping) -> None:
        canon = {k: canonical(self.types.get(k), v) for k, v in row.items()}
        line = json.dumps(canon, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
        self.total = (self.total + int.from_bytes(hashlib.sha256(line.encode("utf-8")).digest(), "big")) % (1 << 256)
        self.rows += 1

    @property
    def hexdigest(self) -> str:
        return f"{self.total:064x}"


def table_digest(conn, table) -> TableDigest:
    """The :class:`TableDigest` of every row of ``table`` in ``conn``."""
    digest = TableDigest(table)
    result = conn.execution_options(stream_results=True).execute(select(table))
    for row in result.mappings():
        digest.add(row)
    return digest


# -- the database -----------------------------------------------------------------

def reflect(engine) -> MetaData:
    """The tables the database holds now (the migrated schema)."""
    metadata = MetaData()
    metadata.reflect(bind=engine)
    return metadata


def ensure_sqlite_dir(url: str) -> None:
    """Make the directory of a SQLite file URL (a fresh data dir)."""
    from pathlib import Path

    if url.startswith("sqlite:///") and url != "sqlite:///" and ":memory:" not in url:
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)


def tables_with_rows(engine) -> list[str]:
    """Names of the database's tables that hold at least one row (Alembic's
    own version table aside)."""
    found = []
    existing = reflect(engine)
    with engine.connect() as conn:
        for table in existing.sorted_tables:
            if table.name == VERSION_TABLE:
                continue
            if conn.execute(select(1).select_from(table).limit(1)).first() is not None:
                found.append(table.name)
    return found


def drop_everything(engine) -> None:
    """Drop every table of the database (``--force``), in one transaction."""
    existing = reflect(engine)
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            _begin_sqlite(conn)
        existing.drop_all(bind=conn)


def check_revision(service: str, revision: str) -> None:
    """:class:`RestoreRefused` unless this code's migrations know ``revision``."""
    if not revision:
        return
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from kernel.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config(service, "sqlite://"))
    try:
        found = script.get_revision(revision)
    except CommandError:
        found = None
    if found is None:
        raise RestoreRefused(f"{service}: the archive's schema revision {revision} is unknown to this version "
                             f"of the service (restore with the version that made the archive)")


def _reset_sequences(conn, metadata: MetaData) -> int:
    """Set the sequence behind every integer key column to its largest value
    (PostgreSQL); the number of sequences set."""
    done = 0
    for table in metadata.sorted_tables:
        for column in table.primary_key.columns:
            if not isinstance(column.type, Integer):
                continue
            sequence = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                    {"t": table.name, "c": column.name}).scalar()
            if not sequence:
                continue
            quote = conn.dialect.identifier_preparer.quote
            largest = f"(SELECT MAX({quote(column.name)}) FROM {quote(table.name)})"
            # setval(seq, n, true): the next value is n + 1; (1, false) for an empty table
            conn.execute(text(f"SELECT setval(:s, COALESCE({largest}, 1), {largest} IS NOT NULL)"), {"s": sequence})
            done += 1
    return done


def _fast_utc(slow):
    """The export's ISO text of a UTC instant (``2026-09-01T08:00:00+00:00``)
    as SQLite's text of it (``2026-09-01 08:00:00.000000``) by slicing,
    checked by the C parser instead of rebuilt through a datetime; any
    other form goes the long way (``slow``)."""
    parse = dt.datetime.fromisoformat

    def bind(value):
        if type(value) is str and len(value) in (25, 32) and value[10] == "T" and value.endswith("+00:00"):
            parse(value)  # the long way's ValueError for a malformed value
            return f"{value[:10]} {value[11:19]}.000000" if len(value) == 25 else f"{value[:10]} {value[11:26]}"
        return slow(value)
    return bind


def _fast_date(slow):
    parse = dt.date.fromisoformat

    def bind(value):
        if type(value) is str and len(value) == 10:
            parse(value)
            return value
        return slow(value)
    return bind


def _fast_bool(slow):
    def bind(value):
        if value is True:
            return 1
        if value is False:
            return 0
        return slow(value)
    return bind


_FAST = ((DateTime, _fast_utc, ("2026-09-01T08:00:00+00:00", "2026-09-01T08:07:09.012345+00:00")),
         (Date, _fast_date, ("2026-09-01", "0999-12-31")),
         (Boolean, _fast_bool, (True, False)))


def _sqlite_fast(column_type, slow):
    """SQLite's binder of a hot column type (instants, dates, booleans: most
    of a journal's values) without a Python object per value, or None. Used
    only when it gives exactly what ``slow`` gives on sample values (a
    column with its own storage format keeps the long way)."""
    for kind, make, samples in _FAST:
        if isinstance(column_type, kind):
            fast = make(slow)
            try:
                same = all(fast(v) == slow(v) for v in samples)
            except (TypeError, ValueError):
                same = False
            return fast if same else None
    return None


def _binder(column, dialect):
    """One function turning an exported JSON value of ``column`` into what
    the DB-API driver binds (the export's converter, then the column type's
    own bind processor: what ``table.insert()`` would do), or None."""
    convert = converter(column.type, dialect.name)
    bind = column.type._cached_bind_processor(dialect)
    if convert is None:
        slow = bind
    elif bind is None:
        slow = convert
    else:
        def slow(value):
            return bind(convert(value))
    if slow is not None and dialect.name == "sqlite":
        return _sqlite_fast(column.type, slow) or slow
    return slow


def _insert_batch(conn, table, names: tuple, batch: list) -> None:
    """One batch of positional rows through the driver itself: SQLite's
    executemany, PostgreSQL's multi-row VALUES (psycopg2's execute_values);
    no per-row statement compilation."""
    quote = conn.dialect.identifier_preparer.quote
    columns = ", ".join(quote(n) for n in names)
    head = f"INSERT INTO {quote(table.name)} ({columns}) VALUES "
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        if conn.dialect.driver == "psycopg2":
            from psycopg2.extras import execute_values
            execute_values(cursor, head + "%s", batch, page_size=len(batch))
        else:
            marks = ", ".join("?" if conn.dialect.paramstyle == "qmark" else "%s" for _ in names)
            cursor.executemany(head + f"({marks})", batch)
    finally:
        cursor.close()


def _secondary_indexes(conn, table: str) -> list[tuple[str, str]]:
    """``(name, CREATE statement)`` of ``table``'s indexes that nothing
    else depends on: not a primary key's or a constraint's, not one a
    foreign key relies on; the database's own text of each, so that it
    comes back exactly as the migrations made it."""
    if conn.dialect.name == "sqlite":
        # sql IS NULL: the automatic index of a PRIMARY KEY or UNIQUE constraint
        found = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL "
            "ORDER BY name", (table,)).all()
    elif conn.dialect.name == "postgresql":
        found = conn.execute(text(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace "
            "WHERE t.relname = :t AND n.nspname = current_schema() "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) "
            "ORDER BY i.relname"), {"t": table}).all()
    else:
        return []
    return [(name, sql) for name, sql in found]


def _begin_sqlite(conn) -> None:
    """Open SQLite's transaction now: the driver would only open it at the
    first INSERT, and an index dropped before that would be dropped for good
    if the restore then failed."""
    dbapi = conn.connection.dbapi_connection
    if not dbapi.in_transaction:
        dbapi.execute("BEGIN")


def load_rows(conn, table, rows: Iterable[Mapping], *, progress: Callable[[str, int, int], None] | None = None,
              batch_rows: int = BATCH_ROWS) -> int:
    """Insert exported ``rows`` into ``table`` (a table of the migrated
    database); the number of rows. Values are converted and bound column by
    column as ``table.insert()`` would, then sent ``batch_rows`` at a time
    straight to the driver (the restore's hot loop)."""
    binders = {c.name: _binder(c, conn.dialect) for c in table.columns}
    count = 0
    names: tuple = ()
    plan: list = []
    batch: list = []

    def flush():
        nonlocal count, batch
        if batch:
            _insert_batch(conn, table, names, batch)
            count += len(batch)
            if progress:
                progress(table.name, len(batch), 0)
            batch = []

    for row in rows:
        keys = tuple(row)
        if keys != names:  # the first row, or a row with other columns: a batch of its own kind
            unknown = set(keys) - set(binders)
            if unknown:
                raise RestoreRefused(f"{table.name}: the archive has columns the database has not "
                                     f"({', '.join(sorted(unknown))})")
            flush()
            names = keys
            plan = [(index, binders[k]) for index, k in enumerate(keys) if binders[k] is not None]
        values = list(row.values())
        for index, bind in plan:
            if values[index] is not None:
                values[index] = bind(values[index])
        batch.append(values)
        if len(batch) >= batch_rows:
            flush()
    flush()
    return count


def restore_database(service: str, url: str, *, revision: str, tables: Mapping[str, Callable[[], Iterable]],
                     force: bool = False, upgrade_to_head: bool = True,
                     progress: Callable[[str, int, int], None] | None = None, defer_indexes: bool = True) -> dict:
    """Restore ``service``'s database at ``url`` from exported tables.

    ``tables`` maps a table name to a function that yields its rows (dicts,
    as :func:`kernel.export.export_tables` exported them); ``revision`` is
    the schema revision they were exported from. With ``defer_indexes`` a
    table's secondary indexes (:func:`_secondary_indexes`) are dropped before
    its rows go in and built again after, in the same transaction. Returns ``{"tables": n,
    "rows": n, "sequences": n}``. :class:`RestoreRefused` when the database
    holds data (and not ``force``), when the revision is unknown, or when
    the archive does not fit the schema; nothing is written then.
    """
    from kernel.db import make_engine
    from kernel.migrate import upgrade

    check_revision(service, revision)
    ensure_sqlite_dir(url)
    engine = make_engine(url)
    try:
        busy = tables_with_rows(engine)
        if busy and not force:
            raise RestoreRefused(f"{service}: the database already holds data ({', '.join(busy[:5])}"
                                 f"{'...' if len(busy) > 5 else ''}); restore into an empty database "
                                 f"or pass --force to replace it")
        if busy or reflect(engine).tables:
            drop_everything(engine)
        engine.dispose()
        upgrade(service, url, revision or "head")
        schema = reflect(engine)
        missing = sorted(set(tables) - set(schema.tables))
        if missing:
            raise RestoreRefused(f"{service}: the archive has tables the schema has not ({', '.join(missing)})")
        rows = 0
        sequences = 0
        with engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                _begin_sqlite(conn)
            for table in schema.sorted_tables:
                source = tables.get(table.name)
                if source is None:
                    continue
                deferred = _secondary_indexes(conn, table.name) if defer_indexes else []
                quote = conn.dialect.identifier_preparer.quote
                for name, _ in deferred:
                    conn.exec_driver_sql(f"DROP INDEX {quote(name)}")
                rows += load_rows(conn, table, source(), progress=progress)
                for _, create in deferred:  # built once over the loaded rows, not row by row
                    conn.exec_driver_sql(create)
            if conn.dialect.name == "postgresql":
                sequences = _reset_sequences(conn, schema)
        engine.dispose()
        if upgrade_to_head:
            upgrade(service, url, "head")
        return {"tables": len(tables), "rows": rows, "sequences": sequences}
    finally:
        engine.dispose()


def digests(url: str) -> dict:
    """``{table: TableDigest}`` of every table of the database at ``url``
    (the drill's read back)."""
    from kernel.db import make_engine

    engine = make_engine(url)
    try:
        schema = reflect(engine)
        with engine.connect() as conn:
            return {t.name: table_digest(conn, t) for t in schema.sorted_tables if t.name != VERSION_TABLE}
    finally:
        engine.dispose()
