"""The export side of the backup contract (proto ejournal.export.v1), the
same for every service: stream every table of the service's metadata.

``ExportRequest.school_id`` empty: every row of every table. Set: only that
school's rows, decided per table from the metadata:

- a table with a ``school_id`` column: its rows with that school_id (rows
  whose school_id is NULL, e.g. an audit record of an unknown login, belong
  to no school and are left out);
- the table other tables' ``school_id`` foreign keys point at (identity's
  ``schools``): that school's own row;
- a table without ``school_id`` but with a foreign key to a table that has
  one (identity's ``totp_secrets``, journal's ``plan_topics``): the rows
  whose parent row is that school's;
- any other table (the outbox, processed events, dead letters, throttling
  counters, identity's signing keys: deployment-wide data that belongs to no
  school) is left out of the export altogether; it is not sent as an empty
  table, so an archive never claims "0 rows" for data it did not look at.

A column whose ``info`` has ``export_check`` (a function of the value) must
pass it in every row: the first row that fails stops the export with
:class:`ExportRefused` (the stream ends in FAILED_PRECONDITION, so the backup
fails and keeps nothing) before the chunk holding that row is sent. Identity
marks its sealed secrets so: a plaintext secret (say, a row written around
the store) is never exported.
"""
from __future__ import annotations

import datetime as dt
import logging

import orjson
from sqlalchemy import func, inspect, select, text

SCHOOL_COLUMN = "school_id"

from sqlalchemy.dialects.sqlite import dialect as _sqlite_dialect  # noqa: E402

_SQLITE = _sqlite_dialect()

log = logging.getLogger(__name__)


class ExportRefused(Exception):
    """A row holds a value its column must never export (see ``export_check``)."""


def _converters(table) -> list:
    """``[(column index, function)]`` for the columns whose values JSON cannot
    hold as they are (dates and times, decimals, bytes): only those are
    touched, row by row (the export's hot loop)."""
    from sqlalchemy import Date, DateTime, Float, LargeBinary, Numeric, Time

    found = []
    for index, column in enumerate(table.columns):
        kind = column.type
        if isinstance(kind, (DateTime, Date, Time)):
            found.append((index, lambda v: v.isoformat()))
        elif isinstance(kind, Numeric) and not isinstance(kind, Float):
            found.append((index, str))
        elif isinstance(kind, LargeBinary):
            found.append((index, lambda v: bytes(v).hex()))
    return found


def schema_revision(conn) -> str:
    # Look before reading: on PostgreSQL a failed SELECT would abort the
    # export's read transaction.
    if not inspect(conn).has_table("alembic_version"):
        return ""
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar() or ""


def school_filter(table, metadata):
    """A function ``school_id -> where clause`` selecting ``table``'s rows of
    one school, or None when the table's rows belong to no school."""
    if SCHOOL_COLUMN in table.c:
        column = table.c[SCHOOL_COLUMN]
        return lambda school_id: column == school_id
    for other in metadata.sorted_tables:
        if SCHOOL_COLUMN in other.c:
            for fk in other.c[SCHOOL_COLUMN].foreign_keys:
                if fk.column.table is table:
                    target = fk.column
                    return lambda school_id: target == school_id
    for fk in sorted(table.foreign_keys, key=lambda f: f.parent.name):
        parent = fk.column.table
        if SCHOOL_COLUMN in parent.c:
            child, key = fk.parent, fk.column
            return lambda school_id: child.in_(select(key).where(parent.c[SCHOOL_COLUMN] == school_id))
    return None


def _scoped_tables(metadata, school_id: str):
    """``(table, where clause or None)`` of every table the export covers."""
    for table in metadata.sorted_tables:
        if not school_id:
            yield table, None
            continue
        scope = school_filter(table, metadata)
        if scope is not None:
            yield table, scope(school_id)


def _checks(table) -> dict:
    return {c.name: c.info["export_check"] for c in table.columns if "export_check" in c.info}


def _check_row(table, checks: dict, row) -> None:
    for name, check in checks.items():
        value = row[name]
        if value is not None and not check(value):
            raise ExportRefused(f"{table.name}.{name} holds a value that must not leave the service as it is "
                                f"(a secret that is not sealed?); nothing more is exported")


def _raw_rows(conn, query, name: str, chunk_rows: int, sql=None):
    """Run ``query`` on the DB-API connection itself and yield
    ``(description, rows)`` batches of plain tuples (a server-side cursor on
    PostgreSQL): SQLAlchemy's per-row Row objects are the export's main cost,
    and the column types' result processors are applied by the caller.
    ``sql``, when given, rewrites the compiled text."""
    dialect = conn.dialect
    compiled = query.compile(dialect=dialect)
    params = compiled.construct_params()
    for key, process in (getattr(compiled, "_bind_processors", None) or {}).items():
        if key in params and params[key] is not None:
            params[key] = process(params[key])
    args = [params[k] for k in compiled.positiontup] if dialect.positional else params
    dbapi = conn.connection.dbapi_connection
    if dialect.name == "postgresql":
        cursor = dbapi.cursor(name=f"export_{name}"[:60])
        cursor.itersize = chunk_rows
    else:
        cursor = dbapi.cursor()
    try:
        cursor.execute(sql(str(compiled)) if sql is not None else str(compiled), args)
        while True:
            rows = cursor.fetchmany(chunk_rows)
            if not rows:
                break
            yield cursor.description, rows
    finally:
        cursor.close()


def _value_functions(table, dialect, description) -> list:
    """Per column, the function from the driver's value to the export's JSON
    value: the column type's result processor (what SQLAlchemy would return),
    then the JSON conversion (:func:`_converters`); None where nothing is
    needed. Applied to non-NULL values only."""
    from kernel.db import is_utc_datetime

    convert = dict(_converters(table))
    found = []
    for index, column in enumerate(table.columns):
        if dialect.name == "sqlite" and is_utc_datetime(column.type):
            found.append((index, None, _sqlite_utc_text))
            continue
        process = column.type._cached_result_processor(dialect, description[index][1])
        after = convert.get(index)
        if process is not None or after is not None:
            found.append((index, process, after))
    return found


def _sqlite_utc_text(value):
    """SQLite's text of a UTC instant (kernel.db.UtcDateTime: ``2026-09-01
    08:00:00.000000``) as the ISO text of the aware value it reads back as
    (``2026-09-01T08:00:00+00:00``), without parsing it; any other form
    goes the long way."""
    if type(value) is str and len(value) == 26 and value[10] == " " and value[19] == ".":
        if value.endswith(".000000"):
            return f"{value[:10]}T{value[11:19]}+00:00"
        return f"{value[:10]}T{value[11:]}+00:00"
    return _sqlite_utc_slow(value)


def _sqlite_utc_slow(value):
    from sqlalchemy.dialects.sqlite import DATETIME

    parsed = DATETIME().result_processor(_SQLITE, None)(value) if isinstance(value, str) else value
    return parsed.replace(tzinfo=dt.timezone.utc).isoformat() if parsed.tzinfo is None else parsed.isoformat()


def _composed(functions) -> list:
    """``[(index, function)]``: each column's processor and conversion in one call."""
    found = []
    for index, process, after in functions:
        if process is None:
            found.append((index, after))
        elif after is None:
            found.append((index, process))
        else:
            found.append((index, lambda v, p=process, a=after: a(v) if (v := p(v)) is not None else None))
    return found


def _table_batches(conn, table, where, chunk_rows: int):
    """Yield ``table``'s rows (``where`` them, by primary key) as lists of
    JSON-ready dicts, ``chunk_rows`` at a time (none for an empty table)."""
    order = list(table.primary_key.columns) or list(table.columns)
    query = select(table).order_by(*order)
    if where is not None:
        query = query.where(where)
    checks = _checks(table)
    keys = [str(c.name) for c in table.columns]  # plain str: orjson takes no subclass (quoted_name)
    functions = composed = None
    for description, raw in _raw_rows(conn, query, table.name, chunk_rows):
        if functions is None:
            functions = _value_functions(table, conn.dialect, description)
            composed = _composed(functions)
        batch = []
        for row in raw:
            values = list(row)
            if checks:  # the check sees the values as SQLAlchemy returns them
                for index, process, _ in functions:
                    if process is not None and values[index] is not None:
                        values[index] = process(values[index])
                _check_row(table, checks, dict(zip(keys, values)))
                for index, _, after in functions:
                    if after is not None and values[index] is not None:
                        values[index] = after(values[index])
            else:
                for index, function in composed:
                    if values[index] is not None:
                        values[index] = function(values[index])
            batch.append(dict(zip(keys, values)))
        yield batch


def export_tables(engine, metadata, chunk_rows: int = 1000, school_id: str = ""):
    """Yield ``(table_name, rows, revision)`` for every table (or, with
    ``school_id``, that school's rows: see the module's docstring),
    ``chunk_rows`` at a time, in a stable order (by primary key). Runs in one
    read transaction so that the copy is consistent."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        revision = schema_revision(conn)
        for table, where in _scoped_tables(metadata, school_id):
            sent = False
            for batch in _table_batches(conn, table, where, chunk_rows):
                yield table.name, batch, revision
                sent = True
            if not sent:
                yield table.name, [], revision


# -- JSON lines ---------------------------------------------------------------

_LINE = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE


def encode_row(row: dict) -> bytes:
    """One exported row as a JSON line (UTF-8, keys sorted, no spaces,
    ``\\n`` at the end): deterministic, so equal rows give equal bytes."""
    return orjson.dumps(row, option=_LINE)


class JsonLines:
    """A chunk of exported rows already encoded: ``data`` holds ``count``
    JSON objects, one a line (:func:`encode_row`'s form, or SQLite's own
    ``json_object`` with the keys in the same order), each ending in ``\\n``."""

    __slots__ = ("data", "count")

    def __init__(self, data: bytes, count: int):
        self.data = data
        self.count = count

    def __len__(self) -> int:
        return self.count

    def rows(self) -> list:
        """The rows as dicts (what :func:`export_tables` yields)."""
        return [orjson.loads(line) for line in self.data.splitlines()]

    def json_array(self) -> bytes:
        """The rows as one JSON array (a JSON line holds no raw newline)."""
        return b"[" + self.data[:-1].replace(b"\n", b",") + b"]" if self.data else b"[]"


_DIGITS_DATE = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
_DIGITS_HMS = "[0-9][0-9]:[0-9][0-9]:[0-9][0-9]"
_UTC_FUNCTION = "ejournal_export_utc"
_DATE_FUNCTION = "ejournal_export_date"


def _sqlite_date_slow(value):
    if value is None:
        return None
    from sqlalchemy.dialects.sqlite import DATE

    parsed = DATE().result_processor(_SQLITE, None)(value) if isinstance(value, str) else value
    return parsed.isoformat()


def _sqlite_json_value(column, quote) -> str | None:
    """SQLite's expression of ``column``'s exported JSON value (what
    :func:`_value_functions` gives, then orjson), or None when only the
    Python path knows it (floats, decimals, bytes, times, enums, other
    custom types). The usual stored forms are rewritten in SQL; any other
    goes through the Python function the connection has for it."""
    from sqlalchemy import JSON, Boolean, Date, DateTime, Enum, Integer, String, TypeDecorator

    from kernel.db import is_utc_datetime

    kind = column.type
    name = quote(column.name)
    if is_utc_datetime(kind):
        return (f"CASE WHEN {name} GLOB '{_DIGITS_DATE} {_DIGITS_HMS}.000000' "
                f"THEN substr({name}, 1, 10) || 'T' || substr({name}, 12, 8) || '+00:00' "
                f"WHEN {name} GLOB '{_DIGITS_DATE} {_DIGITS_HMS}.{'[0-9]' * 6}' "
                f"THEN substr({name}, 1, 10) || 'T' || substr({name}, 12, 15) || '+00:00' "
                f"WHEN {name} IS NULL THEN NULL ELSE {_UTC_FUNCTION}({name}) END")
    if isinstance(kind, (TypeDecorator, Enum, DateTime)) or getattr(kind, "_variant_mapping", None):
        return None
    if isinstance(kind, Boolean):
        return f"CASE WHEN {name} IS NULL THEN NULL WHEN {name} THEN json('true') ELSE json('false') END"
    if isinstance(kind, Date):
        return (f"CASE WHEN {name} GLOB '{_DIGITS_DATE}' THEN {name} WHEN {name} IS NULL THEN NULL "
                f"ELSE {_DATE_FUNCTION}({name}) END")
    if isinstance(kind, JSON):
        return f"json({name})"
    if isinstance(kind, (Integer, String)):
        return name
    return None


def _sqlite_lines_query(conn, table, where):
    """A query of ``table``'s rows as JSON lines built by SQLite itself
    (``json_object``, keys sorted as :func:`encode_row` sorts them), or None
    when a column needs the Python path or a value must pass a check."""
    from sqlalchemy import literal_column

    if _checks(table):
        return None
    if any("'" in str(c.name) for c in table.columns):
        return None
    quote = conn.dialect.identifier_preparer.quote
    pairs = []
    for column in sorted(table.columns, key=lambda c: str(c.name)):
        value = _sqlite_json_value(column, quote)
        if value is None:
            return None
        pairs.append(f"'{column.name}', {value}")
    order = list(table.primary_key.columns) or list(table.columns)
    query = select(literal_column(f"json_object({', '.join(pairs)})")).select_from(table).order_by(*order)
    if where is not None:
        query = query.where(where)
    return query


def _not_indexed(conn, table):
    """The lines query reading ``table`` whole and sorting it (``NOT
    INDEXED``) rather than walking its primary key's index with a lookup a
    row: the same order, read sequentially, about half the time for a table
    keyed by random ids. SQLite's sorter spills to temporary files past its
    memory budget, so memory stays bounded."""
    name = conn.dialect.identifier_preparer.format_table(table)

    def rewrite(sql: str) -> str:
        head = f"FROM {name} "
        if head not in sql:
            head = f"FROM {name}\n"
        return sql.replace(head, f"FROM {name} NOT INDEXED ", 1) if head in sql else sql
    return rewrite


def _sqlite_functions(conn) -> None:
    """The Python fallbacks the SQLite lines query calls for unusual stored forms."""
    dbapi = conn.connection.dbapi_connection
    dbapi.create_function(_UTC_FUNCTION, 1, lambda v: None if v is None else _sqlite_utc_text(v), deterministic=True)
    dbapi.create_function(_DATE_FUNCTION, 1, _sqlite_date_slow, deterministic=True)


def export_lines(engine, metadata, chunk_rows: int = 1000, school_id: str = ""):
    """:func:`export_tables` with every chunk already encoded: yield
    ``(table_name, JsonLines, revision)``. On SQLite a table whose columns
    all have a SQL form (:func:`_sqlite_json_value`) is encoded by the
    database (``json_object``), no Python object per row; any other table
    goes through :func:`export_tables`' rows and :func:`encode_row`. The same
    rows, the same values: only nested JSON objects keep their stored key
    order and escapes."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        revision = schema_revision(conn)
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            _sqlite_functions(conn)
        for table, where in _scoped_tables(metadata, school_id):
            query = _sqlite_lines_query(conn, table, where) if sqlite else None
            sent = False
            if query is not None:
                for _, raw in _raw_rows(conn, query, table.name, chunk_rows, sql=_not_indexed(conn, table)):
                    text_lines = "\n".join([line for (line,) in raw])
                    yield table.name, JsonLines(text_lines.encode("utf-8") + b"\n", len(raw)), revision
                    sent = True
            else:
                for batch in _table_batches(conn, table, where, chunk_rows):
                    yield table.name, JsonLines(b"".join([orjson.dumps(row, option=_LINE) for row in batch]),
                                                len(batch)), revision
                    sent = True
            if not sent:
                yield table.name, JsonLines(b"", 0), revision


def count_rows(engine, metadata, school_id: str = "") -> dict:
    """Rows per exported table (the same tables and rows as :func:`export_tables`)."""
    counts = {}
    with engine.connect() as conn:
        for table, where in _scoped_tables(metadata, school_id):
            query = select(func.count()).select_from(table)
            if where is not None:
                query = query.where(where)
            counts[table.name] = conn.execute(query).scalar()
    return counts


def add_export_servicer(server, engine, metadata) -> str:
    """Register the Export service on ``server``; returns its full name."""
    from ejournal.export.v1 import export_pb2, export_pb2_grpc

    import grpc

    from kernel.grpcserver import abort

    class ExportServicer(export_pb2_grpc.ExportServicer):
        def ExportData(self, request, context):
            try:
                for name, lines, revision in export_lines(engine, metadata, school_id=request.school_id):
                    yield export_pb2.ExportChunk(
                        table=name, rows_json=lines.json_array(),
                        row_count=lines.count, schema_revision=revision)
            except ExportRefused as exc:
                log.error("export refused: %s", exc)
                abort(context, grpc.StatusCode.FAILED_PRECONDITION, "EXPORT_REFUSED", str(exc))

        def CountRows(self, request, context):
            return export_pb2.RowCounts(counts=count_rows(engine, metadata, school_id=request.school_id))

    export_pb2_grpc.add_ExportServicer_to_server(ExportServicer(), server)
    return export_pb2.DESCRIPTOR.services_by_name["Export"].full_name
