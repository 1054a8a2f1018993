"""kernel.db.UtcDateTime: every date-and-time column of every service comes
back timezone-aware, on SQLite (the embedded default of `make run`) as on
PostgreSQL, and SQLite stores the UTC time of an aware value.

For each service, its tables are created by its own migrations, one row goes
into every table with a DateTime column (a row built from the column types,
foreign keys off) and every DateTime column is read back and compared, in
Python and in SQL."""
from __future__ import annotations

import datetime as dt
import decimal
import importlib
import re

import pytest
from sqlalchemy import (
    JSON, BigInteger, Boolean, Column, Date, DateTime, Float, Integer, LargeBinary, MetaData, Numeric, String,
    Table, Text, func, insert, select, text,
)
from sqlalchemy.dialects import postgresql

from kernel.db import UtcDateTime, is_utc_datetime, make_engine, session_factory
from kernel.events import kernel_tables
from kernel.idempotency import idempotency_table
from kernel.migrate import upgrade
from kernel.testing import migrated_database

SERVICES = ("identity", "journal", "messaging", "reports", "backup")
MSK = dt.timezone(dt.timedelta(hours=3))
#: an aware value that is not UTC: stored as its wall-clock time it would
#: read back three hours off
AT = dt.datetime(2026, 3, 1, 10, 30, 15, 123456, tzinfo=MSK)
AT_UTC_TEXT = "2026-03-01 07:30:15.123456"


def metadata_of(service: str) -> MetaData:
    return importlib.import_module(f"{service}.store").Base.metadata


def datetime_columns(table: Table) -> list[Column]:
    return [c for c in table.c if isinstance(c.type, DateTime)]


def allowed_literal(table: Table, column: Column):
    """A value a ``column IN ('a', ...)`` CHECK of ``table`` accepts, if any."""
    for constraint in table.constraints:
        sql = str(getattr(constraint, "sqltext", ""))
        found = re.search(rf"\b{re.escape(column.name)} IN \('([^']*)'", sql)
        if found:
            return found.group(1)
    return None


def value_for(table: Table, column: Column):
    """A value of the column's type (short enough, within its CHECKs)."""
    kind = column.type
    if isinstance(kind, DateTime):
        return AT
    if isinstance(kind, Date):
        return dt.date(2026, 3, 1)
    if isinstance(kind, Boolean):
        return False
    if isinstance(kind, (Integer, BigInteger)):
        return 1
    if isinstance(kind, Numeric) and not isinstance(kind, Float):
        return decimal.Decimal("4")
    if isinstance(kind, Float):
        return 1.5
    if isinstance(kind, JSON):
        return {}
    if isinstance(kind, LargeBinary):
        return b"x"
    if isinstance(kind, (String, Text)):
        literal = allowed_literal(table, column)
        if literal is not None:
            return literal
        return ("k-" + column.name)[: kind.length or 64]
    if isinstance(kind, postgresql.ARRAY):
        return []
    raise AssertionError(f"no test value for {table.name}.{column.name} ({kind!r})")


def row_for(table: Table) -> dict:
    return {c.key: value_for(table, c) for c in table.c if not (c.autoincrement is True and c.primary_key)}


def tables_with_datetimes(service: str) -> list[Table]:
    return [t for t in metadata_of(service).sorted_tables if datetime_columns(t)]


# --- the type itself -----------------------------------------------------------------

def test_no_plain_datetime_column_is_left_in_any_service():
    """Every DateTime column of every service's tables (and of the kernel's:
    outbox, processed_events, dead_letters, idempotency_keys) is UtcDateTime;
    a plain DateTime reads back naive on SQLite."""
    kernel = MetaData()
    kernel_tables(kernel)
    idempotency_table(kernel)
    metadatas = {"kernel": kernel, **{svc: metadata_of(svc) for svc in SERVICES}}
    plain = [f"{name}: {t.name}.{c.name}" for name, md in metadatas.items() for t in md.sorted_tables
             for c in datetime_columns(t) if not is_utc_datetime(c.type)]
    assert plain == []
    # and the check recognises a plain one
    assert not is_utc_datetime(DateTime(timezone=True)) and is_utc_datetime(UtcDateTime())
    # No per-value Python work on PostgreSQL (kernel.bulk.insert_rows uses the
    # columns' bind processors on the mark write path): none, as for a
    # plain DateTime(timezone=True).
    dialect = postgresql.psycopg2.dialect()
    assert UtcDateTime()._cached_bind_processor(dialect) is None
    assert UtcDateTime()._cached_result_processor(dialect, None) is None


def test_sqlite_stores_utc_and_returns_aware_utc(tmp_path):
    metadata = MetaData()
    table = Table("t", metadata, Column("id", Integer, primary_key=True), Column("at", UtcDateTime()))
    engine = make_engine(f"sqlite:///{tmp_path / 't.db'}")
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(insert(table), [{"id": 1, "at": AT}, {"id": 2, "at": None},
                                         {"id": 3, "at": dt.datetime(2026, 3, 1, 7, 30)}])
            assert conn.exec_driver_sql("SELECT at FROM t WHERE id = 1").scalar() == AT_UTC_TEXT
            back = conn.execute(select(table.c.at).where(table.c.id == 1)).scalar()
            assert back == AT and back.utcoffset() == dt.timedelta(0)
            assert conn.execute(select(table.c.at).where(table.c.id == 2)).scalar() is None
            # a naive value is taken as UTC, as rows written before the type were
            assert conn.execute(select(table.c.at).where(table.c.id == 3)).scalar() == \
                dt.datetime(2026, 3, 1, 7, 30, tzinfo=dt.timezone.utc)
            # aware literals of any zone compare as instants in SQL
            assert conn.execute(select(table.c.id).where(table.c.at == AT)).scalars().all() == [1]
            assert conn.execute(select(table.c.id).where(
                table.c.at > AT.astimezone(dt.timezone(dt.timedelta(hours=-5))) - dt.timedelta(microseconds=1))
            ).scalars().all() == [1]
            assert conn.execute(select(func.max(table.c.at))).scalar().tzinfo is not None
    finally:
        engine.dispose()


# --- every service's tables, on SQLite and on PostgreSQL ------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path, pg_databases):
    """``(url for the service)``: a migrated database of each service."""
    def make(service: str) -> str:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / (service + '.db')}"
            upgrade(service, url)
            return url
        return migrated_database(pg_databases, service)
    make.dialect = request.param
    return make


def foreign_keys_off(conn) -> None:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
    else:
        conn.exec_driver_sql("SET session_replication_role = replica")


@pytest.mark.parametrize("service", SERVICES)
def test_every_datetime_column_comes_back_aware_and_equal(database, service):
    """SQLite returned naive datetimes where PostgreSQL returns
    aware ones, and identity's throttling failed with "can't subtract
    offset-naive and offset-aware datetimes"."""
    url = database(service)
    tables = tables_with_datetimes(service)
    assert tables, service
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            foreign_keys_off(conn)
            for table in tables:
                conn.execute(insert(table), [row_for(table)])
        wrong = []
        with session_factory(engine)() as s:
            for table in tables:
                for column in datetime_columns(table):
                    value = s.execute(select(column)).scalar_one()
                    if value is None or value.tzinfo is None or value != AT:
                        wrong.append(f"{table.name}.{column.name} = {value!r}")
                    # compared with an aware literal of another zone, in SQL
                    if s.execute(select(func.count()).select_from(table).where(column == AT)).scalar() != 1:
                        wrong.append(f"{table.name}.{column.name} == {AT} found nothing")
                    if database.dialect == "sqlite":
                        raw = s.execute(text(f'SELECT "{column.name}" FROM "{table.name}"')).scalar()
                        if raw != AT_UTC_TEXT:
                            wrong.append(f"{table.name}.{column.name} stored {raw!r}")
        assert wrong == []
    finally:
        engine.dispose()

