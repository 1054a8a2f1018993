"""kernel.export on the real PostgreSQL: ``school_id`` scopes the export
table by table (own column, the schools table, a parent's column, or left
out), CountRows agrees with ExportData, and a column's ``export_check``
stops the export before a bad value leaves the service."""
from __future__ import annotations

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, create_engine, insert

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
