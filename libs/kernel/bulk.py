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
from sqlalchemy.orm import Session

from kernel import jsoncodec
from kernel.db import dialect_insert

#: The values that may travel once for all rows: those whose equality means
#: the same stored value (not JSON documents, where 1 == True, nor decimals,
#: where 1.0 == 1.00 but the scale is kept).
_SHAREABLE = frozenset({str, int, bool, type(None), dt.date, dt.datetime})

#: Up to this many rows a table's rows go as VALUES.
_VALUES_ROWS = 2


def insert_rows(session: Session, *batches) -> None:
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
    for table, rows, _keys in batches:
        _check_defaults(table, rows[0])
    if not batches:
        return
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql" or dialect.driver != "psycopg2":
        for table, rows, keys in batches:
            stmt = dialect_insert(session, table).on_conflict_do_nothing(index_elements=list(keys)) \
                if keys else insert(table)
            connection.execute(stmt, rows)
        return
    cursor = connection.connection.cursor()
    try:
        statements = [_Statement(cursor, dialect, table, rows, keys).sql() for table, rows, keys in batches]
    finally:
        cursor.close()
    connection.exec_driver_sql(b";\n".join(statements).decode("utf-8"), execution_options={"no_parameters": True})


def _check_defaults(table, row: dict) -> None:
    # Core would fill these in on one database and not on the other.
    missing = [c.name for c in table.c if c.default is not None and c.name not in row]
    if missing:
        raise ValueError(f"insert_rows into {table.name} needs {', '.join(missing)} in every row")


class _Statement:
    """One table's INSERT on PostgreSQL, as the bytes psycopg2 would send."""

    def __init__(self, cursor, dialect, table, rows: list[dict], keys: tuple):
        self.cursor, self.dialect, self.table, self.rows = cursor, dialect, table, rows
        prepare = dialect.identifier_preparer
        self.names = list(rows[0])
        self.types = [table.c[name].type for name in self.names]
        self.target = prepare.format_table(table)
        self.columns = ", ".join(prepare.quote(table.c[n].name) for n in self.names)
        tail = f" ON CONFLICT ({', '.join(prepare.quote(table.c[k].name) for k in keys)}) DO NOTHING" if keys else ""
        self.tail = _literal(tail)
        self.quote = prepare.quote

    def sql(self) -> bytes:
        self._check_values()
        if len(self.rows) <= _VALUES_ROWS:
            return self._values()
        return self._recordset()

    def _check_values(self) -> None:
        """What the bind processors skipped here would have refused."""
        for name, sqltype in zip(self.names, self.types):
            if isinstance(sqltype, Boolean) and self.dialect.supports_native_boolean:
                bad = next((v for v in self._column(name) if v is not None and type(v) is not bool), None)
                if bad is not None:
                    raise TypeError(f"insert_rows: {self.table.name}.{name} takes a bool, not {bad!r}")
            elif isinstance(sqltype, Float):
                # the document would say null (kernel.jsoncodec): refuse, as json did
                bad = next((v for v in self._column(name) if isinstance(v, float) and not math.isfinite(v)), None)
                if bad is not None:
                    raise ValueError(f"insert_rows: {self.table.name}.{name} cannot store {bad!r}")

    def _column(self, name: str):
        return (row[name] for row in self.rows)

    def _values(self) -> bytes:
        """``INSERT ... VALUES``, the driver quoting each value."""
        processors = [t._cached_bind_processor(self.dialect) for t in self.types]
        values = [row[n] if p is None else p(row[n]) for row in self.rows for n, p in zip(self.names, processors)]
        template = "(" + ",".join(["%s"] * len(self.names)) + ")"
        head = _literal(f"INSERT INTO {self.target} ({self.columns}) VALUES ")
        return self.cursor.mogrify(head + ",".join([template] * len(self.rows)) + self.tail, values)

    def _processed_rows(self) -> tuple[list[str], list[dict]]:
        """The column names and the rows keyed by them (json_populate_recordset
        matches names, not keys), their values bind-processed."""
        keys = [self.table.c[n].name for n in self.names]
        processors = [_bind_processor(t, self.dialect) for t in self.types]
        if not any(processors) and keys == self.names:
            return keys, self.rows
        return keys, [{k: row[n] if p is None else p(row[n]) for k, n, p in zip(keys, self.names, processors)}
                      for row in self.rows]

    def _recordset(self) -> bytes:
        """``INSERT ... SELECT`` from the rows as one JSON document, the
        values every row shares in a second, one-row document."""
        keys, rows = self._processed_rows()
        shared = _shared_values(rows, keys)
        row_type = _literal(f"NULL::{self.target}")
        if not shared or len(shared) == len(keys):
            head = _literal(f"INSERT INTO {self.target} ({self.columns}) SELECT {self.columns} FROM ")
            return self.cursor.mogrify(f"{head}json_populate_recordset({row_type}, %s){self.tail}", (_json(rows),))
        own = [k for k in keys if k not in shared]
        picked = ", ".join(("s." if k in shared else "r.") + self.quote(k) for k in keys)
        head = _literal(f"INSERT INTO {self.target} ({self.columns}) SELECT {picked} FROM ")
        sources = f"json_populate_recordset({row_type}, %s) AS r, json_populate_record({row_type}, %s) AS s"
        return self.cursor.mogrify(head + sources + self.tail,
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
