"""Restore and restore drills on real databases (R-D2): a real service's
schema (messaging's, migrated by its own Alembic history) and the backup
catalogue on PostgreSQL are backed up by the worker, restored by each
service's own restore code into fresh SQLite and PostgreSQL databases, and
drilled; a tampered archive fails its drill."""
from __future__ import annotations

import datetime as dt
import decimal
import json

import pytest
from nameko.testing.services import entrypoint_hook
from sqlalchemy import (
    JSON, Boolean, Date, DateTime, Float, Integer, LargeBinary, Numeric, String, Text, insert, select, text,
)

from kernel.db import make_engine, new_id, transaction
from kernel.export import export_lines
from kernel.migrate import upgrade
from kernel.restore import RestoreRefused, digests

from backup import domain, store
from backup.archive import ServiceSpool, build_manifest, extract, write_archive
from backup.restore import RestoreFailed, drill, drill_file, restore_all
from backup.service import Service
from backup.worker import Worker, WorkerConfig

from messaging.store import Base as MessagingBase

UTC = dt.timezone.utc
ADMIN = {"actor_id": "admin-1", "school_id": "school-1", "roles": ["admin"], "correlation_id": "c1"}


def _value(column, i):
    t = column.type
    if isinstance(t, Boolean):
        return i % 2 == 0
    if isinstance(t, (Integer,)):
        return i + 1
    if isinstance(t, DateTime):
        return dt.datetime(2026, 1, 1, 8, tzinfo=UTC) + dt.timedelta(hours=i, microseconds=123)
    if isinstance(t, Date):
        return dt.date(2026, 1, 1) + dt.timedelta(days=i)
    if isinstance(t, JSON):
        return {"k": [i, "я"], "ok": True}
    if isinstance(t, LargeBinary):
        return bytes([i, 0, 255, 10])
    if isinstance(t, Float):
        return 1.5 + i
    if isinstance(t, Numeric):
        return decimal.Decimal("4.50")
    if isinstance(t, String) and t.length:
        return f"{column.name[:6]}-{i}-Ё"[:t.length]
    if isinstance(t, (String, Text)):
        return f"текст {column.name} {i}\nвторая строка"
    raise AssertionError(f"no sample for {column}")


def fill(engine, metadata, rows=3) -> int:
    """Sample rows in every table of ``metadata`` without foreign keys."""
    total = 0
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            if table.foreign_keys:
                continue
            conn.execute(insert(table), [{c.name: _value(c, i) for c in table.columns} for i in range(rows)])
            total += rows
    return total


@pytest.fixture
def messaging_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'source' / 'messaging.db'}"
    upgrade("messaging", url)
    engine = make_engine(url)
    fill(engine, MessagingBase.metadata)
    engine.dispose()
    return url


@pytest.fixture
def backed_up(factory, db_url, target, key, queue, fetch, messaging_url):
    """A done backup of messaging (SQLite) and the catalogue (PostgreSQL)."""
    m_engine, b_engine = make_engine(messaging_url), make_engine(db_url)
    sources = {"messaging": lambda: export_lines(m_engine, MessagingBase.metadata),
               "backup": lambda: export_lines(b_engine, store.Base.metadata)}
    earlier = queue(started_at=dt.datetime(2026, 1, 1, tzinfo=UTC))
    worker = Worker(factory, sources=sources, target=target, key=key, config=WorkerConfig(backup_dir=target.root))
    assert worker.work_once() == domain.DONE
    backup_id = queue()
    assert worker.work_once() == domain.DONE
    m_engine.dispose()
    b_engine.dispose()
    return {"id": backup_id, "earlier": earlier, "path": target.archive_path(backup_id), "row": fetch(backup_id)}


def _open(path, key):
    return extract(open(path, "rb"), key)


def test_drill_of_a_good_archive_compares_every_row(backed_up, key):
    result = drill_file(backed_up["path"], key, backup_id=backed_up["id"], expected_sha256=backed_up["row"]["sha256"])
    manifest = backed_up["row"]["manifest"]
    rows = sum(t["rows"] for s in manifest["services"].values() for t in s["tables"].values())
    assert result == {"ok": True, "checked_rows": rows, "mismatches": []}
    assert rows > 20


def test_drill_of_a_tampered_archive_fails(backed_up, key, tmp_path):
    data = bytearray(backed_up["path"].read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered = tmp_path / "tampered.ejbak"
    tampered.write_bytes(bytes(data))
    result = drill_file(tampered, key, backup_id=backed_up["id"])
    assert result["ok"] is False and result["checked_rows"] == 0
    assert result["mismatches"][0]["problem"] == "archive_unreadable"
    # the right bytes with another catalogue checksum fail too
    other = drill_file(backed_up["path"], key, expected_sha256="0" * 64)
    assert other["ok"] is False and other["mismatches"][0]["problem"] == "archive_checksum"


def test_drill_fails_when_rows_do_not_go_back(tmp_path, key, target):
    """Checksums that match rows that cannot be restored (two rows with one
    key) still fail the drill: it restores, it does not only read."""
    spool = ServiceSpool("messaging")
    upgrade("messaging", f"sqlite:///{tmp_path / 'rev.db'}")
    engine = make_engine(f"sqlite:///{tmp_path / 'rev.db'}")
    with engine.connect() as conn:
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    row = {"user_id": "u1", "school_id": "s1", "full_name": "Ф", "roles": ["teacher"], "email": None}
    spool.add_chunk("people", [row, row], revision)
    manifest = build_manifest(backup_id="b1", created_at="2026-01-01T00:00:00+00:00", services={"messaging": spool})
    with target.open_archive("b1") as out:
        write_archive(out, key, manifest, {"messaging": spool})
    result = drill_file(target.archive_path("b1"), key)
    assert result["ok"] is False and result["mismatches"][0]["problem"] == "restore_failed"


def _indexes(url) -> set:
    """Every index of the database: its name and the database's own definition."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                query = "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
            else:
                query = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
            return {tuple(r) for r in conn.execute(text(query))}
    finally:
        engine.dispose()


def test_restore_into_fresh_sqlite_and_postgresql_matches_the_source(backed_up, key, tmp_path, messaging_url,
                                                                   pg_databases):
    source = digests(messaging_url)
    for label, url in (("sqlite", f"sqlite:///{tmp_path / 'fresh' / 'messaging.db'}"),
                       ("postgresql", pg_databases.create(f"restore_m_{new_id()[:8]}"))):
        urls = {"messaging": url, "backup": pg_databases.create(f"restore_b_{new_id()[:8]}")}
        with _open(backed_up["path"], key) as extracted:
            report = restore_all(extracted, urls)
            assert report.services["messaging"]["rows"] == sum(d.rows for d in source.values())
            restored = digests(url)
            assert {t: d.hexdigest for t, d in restored.items()} == {t: d.hexdigest for t, d in source.items()}, label
            # a second restore into the same databases is refused, a forced one replaces them
            with pytest.raises(RestoreFailed, match="already hold data"):
                restore_all(extracted, urls)
            restore_all(extracted, urls, force=True)
        # the indexes dropped for the load are back, as the migrations made them
        fresh = (f"sqlite:///{tmp_path / 'migrated' / 'messaging.db'}" if label == "sqlite"
                 else pg_databases.create(f"migrated_m_{new_id()[:8]}"))
        (tmp_path / "migrated").mkdir(exist_ok=True)
        upgrade("messaging", fresh)
        assert _indexes(url) == _indexes(fresh) and len(_indexes(url)) > 3, label
        engine = make_engine(url)
        outbox = MessagingBase.metadata.tables["outbox"]
        with engine.begin() as conn:
            # the outbox's sequence continues after the restored rows (no collision)
            conn.execute(insert(outbox).values(event_id=new_id(), event_type="x", body="{}",
                                               created_at=dt.datetime.now(UTC), attempts=0))
            seqs = [r.seq for r in conn.execute(select(outbox.c.seq).order_by(outbox.c.seq))]
            assert seqs == [1, 2, 3, 4]
            # published events stay published: the relay does not send them again
            assert conn.execute(select(outbox.c.sent_at).where(outbox.c.seq == 1)).scalar() is not None
        engine.dispose()


def test_unknown_schema_revision_is_refused(tmp_path, key, target):
    spool = ServiceSpool("messaging")
    spool.add_chunk("people", [], "9999_from_the_future")
    manifest = build_manifest(backup_id="b2", created_at="2026-01-01T00:00:00+00:00", services={"messaging": spool})
    with target.open_archive("b2") as out:
        write_archive(out, key, manifest, {"messaging": spool})
    with _open(target.archive_path("b2"), key) as extracted:
        with pytest.raises(RestoreRefused, match="unknown to this version"):
            restore_all(extracted, {"messaging": f"sqlite:///{tmp_path / 'm.db'}"})


# -- the service's restore_drill -----------------------------------------------------

@pytest.fixture
def service(container_factory, rabbit_config, db_url, target, key, monkeypatch):
    import base64
    monkeypatch.setenv("EJOURNAL_BACKUP_KEY", base64.b64encode(key).decode())
    c = container_factory(Service, {**rabbit_config, "DATABASE_URL": db_url, "EJOURNAL_BACKUP_EVERY_HOURS": "0",
                                    "EJOURNAL_BACKUP_DIR": str(target.root)})
    c.start()
    return c


def call(container, method, *args):
    with entrypoint_hook(container, method) as hook:
        return hook(*args)


def test_restore_drill_rpc_records_the_outcome(service, backed_up, fetch, factory):
    result = call(service, "restore_drill", ADMIN, backed_up["id"])
    assert result["ok"] is True and result["checked_rows"] > 20 and result["mismatches"] == []
    row = fetch(backed_up["id"])
    assert row["drill_ok"] is True and row["drilled_at"] is not None and row["verified"] is True
    listed = {b["id"]: b for b in call(service, "list_backups", ADMIN)["items"]}
    assert listed[backed_up["id"]]["drill_ok"] is True and listed[backed_up["id"]]["drilled_at"]


def test_restore_drill_rpc_of_a_tampered_archive_alerts(service, backed_up, fetch, factory):
    path = backed_up["path"]
    data = bytearray(path.read_bytes())
    data[-40] ^= 0x80
    path.write_bytes(bytes(data))
    result = call(service, "restore_drill", ADMIN, backed_up["id"])
    assert result["ok"] is False and result["mismatches"]
    row = fetch(backed_up["id"])
    assert row["drill_ok"] is False and row["verified"] is False
    with transaction(factory) as session:
        outbox = store.tables["outbox"]
        bodies = [json.loads(r.body) for r in session.execute(
            select(outbox).where(outbox.c.event_type == "backup_drill_failed"))]
    assert bodies and bodies[0]["payload"]["backup_id"] == backed_up["id"]
    assert "Проверка восстановления" in bodies[0]["payload"]["detail"]


def test_restore_drill_rpc_refuses_what_it_cannot_drill(service, queue):
    from kernel.errors import ServiceError
    running = queue()
    for args, code in (((ADMIN, "no-such-id"), "NOT_FOUND"), ((ADMIN, running), "CONFLICT"),
                       (({**ADMIN, "roles": ["teacher"]}, running), "FORBIDDEN"),
                       ((ADMIN, 5), "VALIDATION_ERROR")):
        with pytest.raises(Exception) as caught:
            call(service, "restore_drill", *args)
        assert code in str(caught.value), (args, caught.value)


def test_a_scheduled_backup_is_followed_by_a_drill(factory, target, key, queue, fetch, messaging_url):
    engine = make_engine(messaging_url)
    worker = Worker(factory, sources={"messaging": lambda: export_lines(engine, MessagingBase.metadata)},
                    target=target, key=key, config=WorkerConfig(backup_dir=target.root))
    manual = queue()
    assert worker.work_once() == domain.DONE
    assert fetch(manual)["drilled_at"] is None  # a manual backup is drilled on request
    scheduled = queue(trigger=domain.SCHEDULED)
    assert worker.work_once() == domain.DONE
    row = fetch(scheduled)
    assert row["drill_ok"] is True and row["drilled_at"] is not None and row["drill_checked_rows"] > 20
    engine.dispose()


def test_a_failed_scheduled_drill_alerts_the_administrators(factory, target, key, queue, fetch, tmp_path):
    from backup.drill import DRILL_FAILED_ALERT

    upgrade("messaging", f"sqlite:///{tmp_path / 'rev.db'}")
    engine = make_engine(f"sqlite:///{tmp_path / 'rev.db'}")
    with engine.connect() as conn:
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    row = {"user_id": "u1", "school_id": "s1", "full_name": "Ф", "roles": ["teacher"], "email": None}
    worker = Worker(factory, sources={"messaging": [("people", [row, row], revision)]}, target=target, key=key,
                    config=WorkerConfig(backup_dir=target.root))
    before = DRILL_FAILED_ALERT._value.get()
    scheduled = queue(trigger=domain.SCHEDULED)
    assert worker.work_once() == domain.DONE
    got = fetch(scheduled)
    assert got["drill_ok"] is False and got["verified"] is False
    assert got["drill_mismatches"][0]["problem"] == "restore_failed"
    assert DRILL_FAILED_ALERT._value.get() == before + 1
    with transaction(factory) as session:
        outbox = store.tables["outbox"]
        types = [r.event_type for r in session.execute(select(outbox).order_by(outbox.c.seq))]
    assert types[-1] == "backup_drill_failed"


def _get(app, path, query=""):
    from wsgiref.util import setup_testing_defaults
    environ = {"PATH_INFO": path, "QUERY_STRING": query, "REQUEST_METHOD": "GET"}
    setup_testing_defaults(environ)
    answer = {}

    def start_response(status, headers):
        answer["status"], answer["headers"] = status, dict(headers)
    body = b"".join(app(environ, start_response))
    return answer["status"], answer["headers"], body


def test_an_archive_is_served_once_per_ticket(service, backed_up, factory, target, queue):
    from backup.worker import archives_app

    app = archives_app(factory, target)
    ticket = call(service, "archive_ticket", ADMIN, backed_up["id"])
    assert ticket["size"] == backed_up["row"]["size"] and ticket["sha256"] == backed_up["row"]["sha256"]
    assert ticket["file_name"] == f"{backed_up['id']}.ejbak"
    status, headers, body = _get(app, f"/archives/{backed_up['id']}", f"ticket={ticket['ticket']}")
    assert status == "200 OK" and body == backed_up["path"].read_bytes()
    assert headers["Content-Length"] == str(len(body)) and headers["Content-Type"] == "application/octet-stream"
    # used once; another backup's ticket, no ticket and an expired one open nothing
    assert _get(app, f"/archives/{backed_up['id']}", f"ticket={ticket['ticket']}")[0] == "403 Forbidden"
    other = call(service, "archive_ticket", ADMIN, backed_up["earlier"])
    assert _get(app, f"/archives/{backed_up['id']}", f"ticket={other['ticket']}")[0] == "403 Forbidden"
    assert _get(app, f"/archives/{backed_up['id']}")[0] == "403 Forbidden"
    with transaction(factory) as session:
        stale = store.issue_ticket(session, backup_id=backed_up["id"], issued_to=None,
                                   now=dt.datetime.now(UTC) - dt.timedelta(minutes=5), seconds=60)
    assert _get(app, f"/archives/{backed_up['id']}", f"ticket={stale}")[0] == "403 Forbidden"
    assert _get(app, "/archives/../etc", "ticket=x" * 3)[0] == "404 Not Found"
    # only done backups, only administrators
    running = queue()
    for args, code in (((ADMIN, running), "CONFLICT"), ((ADMIN, "nope"), "NOT_FOUND"),
                       (({**ADMIN, "roles": ["deputy"]}, backed_up["id"]), "FORBIDDEN")):
        with pytest.raises(Exception) as caught:
            call(service, "archive_ticket", *args)
        assert code in str(caught.value)


def test_pruning_keeps_what_a_class_keeps_and_the_newest_copy(factory, target, key, fetch):
    """R-D3: retention removes, target by target, what no class keeps; the
    catalogue row stays with pruned_at; GET /backups shows class and expiry."""
    from sqlalchemy import update as _update

    now = dt.datetime.now(UTC)
    target.ensure()
    made = {}
    for name, when in (("new", now), ("old-same-month", now.replace(day=1, hour=0) if now.day > 8 else None),
                       ("ancient", dt.datetime(1990, 5, 1, tzinfo=UTC)),
                       ("ancient-newest-of-year", dt.datetime(1990, 6, 1, tzinfo=UTC))):
        if when is None:
            continue
        backup_id = new_id()
        with transaction(factory) as session:
            store.create_backup(session, backup_id=backup_id, trigger="scheduled", started_at=when)
            session.execute(_update(store.Backup).where(store.Backup.id == backup_id).values(
                status=domain.DONE, verified=True, targets=[target.name]))
        target.archive_path(backup_id).write_bytes(b"x")
        made[name] = backup_id
    worker = Worker(factory, sources={}, target=target, key=key, config=WorkerConfig(backup_dir=target.root))
    removed = worker.prune()
    # 1990's newest backup is its school year's archive, but 25 years have passed: both go
    assert set(removed[target.name]) == {made["ancient"], made["ancient-newest-of-year"]}
    assert not target.archive_path(made["ancient"]).exists()
    assert target.archive_path(made["new"]).exists()
    row = fetch(made["ancient"])
    assert row["pruned_at"] is not None and row["targets"] == []
    assert worker.prune() == {}
