"""Bulk inserts for the hottest writes: :func:`insert_rows`.

A class's marks, their first versions, their outbox row and the
Idempotency-Key are four INSERTs in one round trip on PostgreSQL; the
consumers' projections of those marks one each. Elsewhere (SQLite) each
table is one Core executemany.

On PostgreSQL (psycopg2) a table's rows travel as ONE parameter, a JSON
array read back with ``json_populate_recordset`` and quoted by the driver
itself (``cursor.mogrify``): psycopg2 adapting every value of a multi-row
VALUES one by one was the largest CPU cost of these inserts. A value every
row shares (the school, the lesson, the author, the time of a class's marks)
travels once, in a one-row ``json_populate_record`` beside the rows' own
values. One or two rows (an outbox row, a key) go as plain VALUES, so that a
20 kB body is not escaped twice.
"""
from __future__ import annotations

import datetime as dt
import decimal
import math

from sqlalchemy import JSON, Boolean, Float, insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from kernel import jsoncodec
from kernel.db import connection_of, dialect_insert

#: The values that may travel once for all rows: those whose equality means
#: the same stored value (not JSON documents, where 1 == True, nor decimals,
#: where 1.0 == 1.00 but the scale is kept).
_SHAREABLE = frozenset({str, int, bool, type(None), dt.date, dt.datetime})

#: Up to this many rows a table's rows go as VALUES.
_VALUES_ROWS = 2


def insert_rows(session: Session | Connection, *batches) -> None:
    """INSERT each ``(table, rows)`` of ``batches``, in order, in the
    session's transaction: on PostgreSQL (psycopg2) all of them in ONE round
    trip, elsewhere one Core executemany per table. A batch
    ``(table, rows, keys)`` skips a row whose ``keys`` (the columns of a
    primary key or unique constraint) are taken: ``ON CONFLICT (keys) DO
    NOTHING``, for projections that are idempotent by their own key.

    Every row of a batch names the same columns and gives every column the
    table needs (no Python-side defaults are filled in: a row without such
    a column is refused on both databases); values pass through the
    columns' own bind processing. On PostgreSQL dates and times travel as
    ISO text, decimals and UUIDs as text, JSON columns as JSON
    (kernel.jsoncodec writes it); a NaN or infinite float and a non-bool in
    a boolean column are refused."""
    batches = [(batch[0], batch[1], tuple(batch[2]) if len(batch) > 2 else ()) for batch in batches if batch[1]]
    if not batches:
        return
    connection = connection_of(session)
    dialect = connection.dialect
    shapes = [_shape(table, tuple(rows[0]), keys, dialect) for table, rows, keys in batches]
    if dialect.name != "postgresql" or dialect.driver != "psycopg2":
        for (table, rows, keys), _ in zip(batches, shapes):
            stmt = dialect_insert(connection, table).on_conflict_do_nothing(index_elements=list(keys)) \
                if keys else insert(table)
            connection.execute(stmt, rows)
        return
    cursor = connection.connection.cursor()
    try:
        statements = [shape.sql(cursor, rows) for shape, (_, rows, _) in zip(shapes, batches)]
    finally:
        cursor.close()
    connection.exec_driver_sql(b";\n".join(statements).decode("utf-8"), execution_options={"no_parameters": True})


_SHAPES: dict = {}


def _shape(table, names: tuple, keys: tuple, dialect) -> "_Shape":
    """The :class:`_Shape` of INSERTs of ``names`` into ``table``, built
    once per process (the same few shapes are written on every request)."""
    cache_key = (table, names, keys, dialect)
    shape = _SHAPES.get(cache_key)
    if shape is None:
        _check_defaults(table, names)
        shape = _SHAPES[cache_key] = _Shape(table, names, keys, dialect)
    return shape


def _check_defaults(table, names) -> None:
    # Core would fill these in on one database and not on the other.
    missing = [c.name for c in table.c if c.default is not None and c.name not in names]
    if missing:
        raise ValueError(f"insert_rows into {table.name} needs {', '.join(missing)} in every row")


class _Shape:
    """One table's INSERT of given columns on PostgreSQL: what does not
    depend on the rows, worked out once; :meth:`sql` gives the bytes
    psycopg2 would send for some rows."""

    def __init__(self, table, names: tuple, keys: tuple, dialect):
        self.table, self.dialect = table, dialect
        prepare = dialect.identifier_preparer
        self.names = list(names)
        self.types = [table.c[name].type for name in self.names]
        self.target = prepare.format_table(table)
        self.columns = ", ".join(prepare.quote(table.c[n].name) for n in self.names)
        tail = f" ON CONFLICT ({', '.join(prepare.quote(table.c[k].name) for k in keys)}) DO NOTHING" if keys else ""
        self.tail = _literal(tail)
        self.quote = prepare.quote
        # what the bind processors skipped here would have refused (see _check_values)
        self.booleans = [n for n, t in zip(self.names, self.types)
                         if isinstance(t, Boolean) and dialect.supports_native_boolean]
        self.floats = [n for n, t in zip(self.names, self.types) if isinstance(t, Float)]
        self.value_processors = [t._cached_bind_processor(dialect) for t in self.types]
        self.template = "(" + ",".join(["%s"] * len(self.names)) + ")"
        self.values_head = _literal(f"INSERT INTO {self.target} ({self.columns}) VALUES ")
        self.keys = [table.c[n].name for n in self.names]
        self.processors = [_bind_processor(t, dialect) for t in self.types]
        self.plain = not any(self.processors) and self.keys == self.names
        self.row_type = _literal(f"NULL::{self.target}")

    def sql(self, cursor, rows: list[dict]) -> bytes:
        self._check_values(rows)
        if len(rows) <= _VALUES_ROWS:
            return self._values(cursor, rows)
        return self._recordset(cursor, rows)

    def _check_values(self, rows) -> None:
        """What the bind processors skipped here would have refused."""
        for name in self.booleans:
            bad = next((row[name] for row in rows if row[name] is not None and type(row[name]) is not bool), None)
            if bad is not None:
                raise TypeError(f"insert_rows: {self.table.name}.{name} takes a bool, not {bad!r}")
        for name in self.floats:
            # the document would say null (kernel.jsoncodec): refuse, as json did
            bad = next((row[name] for row in rows if isinstance(row[name], float) and not math.isfinite(row[name])),
                       None)
            if bad is not None:
                raise ValueError(f"insert_rows: {self.table.name}.{name} cannot store {bad!r}")

    def _values(self, cursor, rows) -> bytes:
        """``INSERT ... VALUES``, the driver quoting each value."""
        values = [row[n] if p is None else p(row[n]) for row in rows for n, p in zip(self.names, self.value_processors)]
        return cursor.mogrify(self.values_head + ",".join([self.template] * len(rows)) + self.tail, values)

    def _processed_rows(self, rows) -> list[dict]:
        """The rows keyed by the column names (json_populate_recordset
        matches names, not keys), their values bind-processed."""
        if self.plain:
            return rows
        return [{k: row[n] if p is None else p(row[n]) for k, n, p in zip(self.keys, self.names, self.processors)}
                for row in rows]

    def _recordset(self, cursor, rows) -> bytes:
        """``INSERT ... SELECT`` from the rows as one JSON document, the
        values every row shares in a second, one-row document."""
        keys, rows = self.keys, self._processed_rows(rows)
        shared = _shared_values(rows, keys)
        if not shared or len(shared) == len(keys):
            head = _literal(f"INSERT INTO {self.target} ({self.columns}) SELECT {self.columns} FROM ")
            return cursor.mogrify(f"{head}json_populate_recordset({self.row_type}, %s){self.tail}", (_json(rows),))
        own = [k for k in keys if k not in shared]
        picked = ", ".join(("s." if k in shared else "r.") + self.quote(k) for k in keys)
        head = _literal(f"INSERT INTO {self.target} ({self.columns}) SELECT {picked} FROM ")
        sources = f"json_populate_recordset({self.row_type}, %s) AS r, json_populate_record({self.row_type}, %s) AS s"
        return cursor.mogrify(head + sources + self.tail,
                              (_json([{k: row[k] for k in own} for row in rows]), _json(shared)))


def _literal(sql: str) -> str:
    """``sql`` (names, no placeholders) in a statement that psycopg2 formats:
    a % in a name is not a placeholder."""
    return sql.replace("%", "%%")


def _shared_values(rows: list[dict], keys: list[str]) -> dict:
    """The columns whose value is the same in every row (:data:`_SHAREABLE`
    values only), with that value."""
    first, others = rows[0], rows[1:]
    return {k: first[k] for k in keys if type(first[k]) in _SHAREABLE and all(_same(row[k], first[k]) for row in others)}


def _same(value, first) -> bool:
    if type(value) is not type(first) or value != first:
        return False
    # equal instants in other time zones are not the same value
    return not isinstance(value, dt.datetime) or value.utcoffset() == first.utcoffset()


def _bind_processor(sqltype, dialect):
    """The column type's own bind processing, except where the value goes
    into the JSON document as it is: a JSON column, and a native boolean
    (its processor only checks that the value is a bool, which
    :meth:`_Statement._check_values` does)."""
    if isinstance(sqltype, JSON) or (isinstance(sqltype, Boolean) and dialect.supports_native_boolean):
        return None
    return sqltype._cached_bind_processor(dialect)


def _json(value) -> str:
    return jsoncodec.dumps(value, default=_json_value)


def _json_value(value):
    """What kernel.jsoncodec cannot write by itself (it writes dates, times
    and UUIDs), as PostgreSQL reads it back: a decimal as its text."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    raise TypeError(f"insert_rows cannot send {type(value).__name__}")
