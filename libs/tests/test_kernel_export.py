"""kernel.export on the real PostgreSQL: ``school_id`` scopes the export
table by table (own column, the schools table, a parent's column, or left
out), CountRows agrees with ExportData, and a column's ``export_check``
stops the export before a bad value leaves the service."""
from __future__ import annotations

import pytest
from sqlalchemy import (
    JSON, BigInteger, Boolean, Column, Date, Float, ForeignKey, Integer, MetaData, String, Table, Text, create_engine,
    insert,
)

from kernel.db import UtcDateTime
from kernel.export import ExportRefused, count_rows, export_tables, school_filter

metadata = MetaData()
schools = Table("schools", metadata, Column("id", String(36), primary_key=True), Column("name", String(100)))
users = Table("users", metadata, Column("id", String(36), primary_key=True),
              Column("school_id", ForeignKey("schools.id"), nullable=False), Column("login", String(64)))
secrets = Table("secrets", metadata, Column("user_id", ForeignKey("users.id"), primary_key=True),
                Column("value", String(100), info={"export_check": lambda v: v.startswith("sealed:")}))
audit = Table("audit", metadata, Column("id", Integer, primary_key=True), Column("school_id", String(36)),
              Column("action", String(40)))
outbox = Table("outbox", metadata, Column("seq", Integer, primary_key=True), Column("body", String(100)))


@pytest.fixture(scope="module")
def engine(pg_databases):
    engine = create_engine(pg_databases.create("kernel_export"))
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(schools), [{"id": "s1", "name": "Школа 1"}, {"id": "s2", "name": "Школа 2"}])
        conn.execute(insert(users), [{"id": f"u{i}", "school_id": "s1" if i < 3 else "s2", "login": f"l{i}"}
                                     for i in range(5)])
        conn.execute(insert(secrets), [{"user_id": "u0", "value": "sealed:a"}, {"user_id": "u4", "value": "sealed:b"}])
        conn.execute(insert(audit), [{"id": 1, "school_id": "s1", "action": "x"}, {"id": 2, "school_id": None,
                                      "action": "login_locked"}, {"id": 3, "school_id": "s2", "action": "y"}])
        conn.execute(insert(outbox), [{"seq": 1, "body": "{}"}])
    yield engine
    engine.dispose()


def exported(engine, **kwargs) -> dict:
    tables: dict = {}
    for name, rows, _ in export_tables(engine, metadata, **kwargs):
        tables.setdefault(name, []).extend(rows)
    return tables


def test_without_school_everything_is_exported(engine):
    tables = exported(engine)
    assert {name: len(rows) for name, rows in tables.items()} == {
        "schools": 2, "users": 5, "secrets": 2, "audit": 3, "outbox": 1}
    assert count_rows(engine, metadata) == {name: len(rows) for name, rows in tables.items()}


def test_a_school_gets_only_its_own_rows(engine):
    tables = exported(engine, school_id="s1", chunk_rows=2)
    assert tables["schools"] == [{"id": "s1", "name": "Школа 1"}]
    assert [u["id"] for u in tables["users"]] == ["u0", "u1", "u2"]
    assert tables["secrets"] == [{"user_id": "u0", "value": "sealed:a"}]  # through its user
    assert [a["id"] for a in tables["audit"]] == [1]  # NULL school: no school's row
    assert "outbox" not in tables  # deployment-wide: left out, not "0 rows"
    assert count_rows(engine, metadata, school_id="s1") == {name: len(rows) for name, rows in tables.items()}
    other = exported(engine, school_id="s2")
    assert [u["id"] for u in other["users"]] == ["u3", "u4"] and other["secrets"] == [
        {"user_id": "u4", "value": "sealed:b"}]
    nobody = exported(engine, school_id="no-such-school")
    assert set(nobody) == {"schools", "users", "secrets", "audit"} and not any(nobody.values())


def test_school_filter_names_the_rule_of_each_table():
    assert school_filter(outbox, metadata) is None
    assert all(school_filter(t, metadata) is not None for t in (schools, users, secrets, audit))


def test_a_value_failing_its_check_stops_the_export(engine):
    with engine.begin() as conn:
        conn.execute(insert(secrets), [{"user_id": "u1", "value": "plaintext"}])
    try:
        with pytest.raises(ExportRefused, match="secrets.value"):
            exported(engine)
        sent = []
        with pytest.raises(ExportRefused):
            for name, rows, _ in export_tables(engine, metadata, school_id="s1"):
                sent.extend(rows if name == "secrets" else [])
        assert sent == []  # the chunk holding the bad row is never sent
        assert [u["user_id"] for u in exported(engine, school_id="s2")["secrets"]] == ["u4"]
    finally:
        with engine.begin() as conn:
            conn.execute(secrets.delete().where(secrets.c.user_id == "u1"))


def test_export_lines_are_the_rows_of_export_tables(engine):
    from kernel.export import export_lines

    for school in ("", "s1"):
        lines: dict = {}
        for name, chunk, _ in export_lines(engine, metadata, school_id=school):
            lines.setdefault(name, []).extend(chunk.rows())
        assert lines == exported(engine, school_id=school)
    with engine.begin() as conn:
        conn.execute(insert(secrets), [{"user_id": "u1", "value": "plaintext"}])
    try:
        with pytest.raises(ExportRefused):  # the check holds on this path as well
            for _ in export_lines(engine, metadata):
                pass
    finally:
        with engine.begin() as conn:
            conn.execute(secrets.delete().where(secrets.c.user_id == "u1"))


kinds = MetaData()
samples = Table(
    "samples", kinds, Column("id", String(36), primary_key=True), Column("school_id", String(36)),
    Column("n", Integer), Column("flag", Boolean), Column("day", Date), Column("at", UtcDateTime()),
    Column("doc", JSON), Column("note", Text), Column("ratio", Float))
typed = Table(  # every column with a SQL form: SQLite encodes the lines itself
    "typed", kinds, Column("id", String(36), primary_key=True), Column("school_id", String(36)),
    Column("n", BigInteger), Column("flag", Boolean), Column("day", Date), Column("at", UtcDateTime()),
    Column("doc", JSON), Column("note", Text))


def test_sqlite_encodes_the_lines_as_the_python_path_does(tmp_path):
    """SQLite's json_object lines parse to exactly export_tables' rows:
    nulls, booleans, dates, instants with and without microseconds, JSON,
    text with quotes, newlines and Cyrillic; stored forms SQLAlchemy did not
    write (naive ISO texts) take the Python fallback."""
    import datetime as dt

    from kernel.db import make_engine
    from kernel.export import _sqlite_lines_query, export_lines

    engine = make_engine(f"sqlite:///{tmp_path / 'kinds.db'}")
    kinds.create_all(engine)
    at = dt.datetime(2026, 9, 1, 8, tzinfo=dt.timezone.utc)
    rows = [{"id": f"r{i}", "school_id": "s1" if i % 2 else "s2", "n": i * 10 ** 12, "flag": [True, False, None][i % 3],
             "day": dt.date(2026, 1, 1) + dt.timedelta(days=i) if i % 4 else None,
             "at": at + dt.timedelta(microseconds=123 * (i % 2)) if i % 5 else None,
             "doc": [{"z": 1, "a": "я"}, None, ["x\n", 1.5, True]][i % 3], "note": 'кавычки " \\ \n\t\x01 ё' if i else None}
            for i in range(12)]
    with engine.begin() as conn:
        conn.execute(insert(typed), rows)
        conn.execute(insert(samples), [{**r, "ratio": 0.1 * i} for i, r in enumerate(rows)])
        conn.exec_driver_sql("UPDATE typed SET at = '2026-09-01T08:00:00' WHERE id = 'r3'")
        conn.exec_driver_sql("UPDATE typed SET at = '2026-09-01 08:00:00' WHERE id = 'r7'")
    with engine.connect() as conn:
        assert _sqlite_lines_query(conn, typed, None) is not None
        assert _sqlite_lines_query(conn, samples, None) is None  # a float column: the Python path
    for school in ("", "s1"):
        expected: dict = {}
        for name, chunk, _ in export_tables(engine, kinds, chunk_rows=5, school_id=school):
            expected.setdefault(name, []).extend(chunk)
        got: dict = {}
        for name, chunk, _ in export_lines(engine, kinds, chunk_rows=5, school_id=school):
            assert chunk.data.count(b"\n") == chunk.count
            got.setdefault(name, []).extend(chunk.rows())
        assert got == expected and len(got["typed"]) == (12 if not school else 6)
    assert expected["typed"][1]["at"] == "2026-09-01T08:00:00.000123+00:00"
    engine.dispose()
