"""The worker's run logic on the real PostgreSQL catalogue, with injected
sources (no gRPC in this eventlet-patched process): R-D1/R-D2 a backup is
written, verified and catalogued, or failed with nothing left behind."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from pathlib import Path

import eventlet
import pytest
from sqlalchemy import select, update

from kernel.db import transaction

from backup import domain, store
from backup.archive import read_archive
from backup.targets import LocalDirTarget
from backup.worker import Lease, LostClaim, Worker, WorkerConfig, collect

UTC = dt.timezone.utc
LESSONS = [{"id": "l1", "school_id": "s1", "topic": "Дроби"}, {"id": "l2", "school_id": "s1", "topic": "Проценты"}]
USERS = [{"id": "u1", "login": "admin", "full_name": "Администратор"}]


def good_sources():
    return {
        "identity": lambda: iter([("users", USERS, "0001"), ("outbox", [], "0001")]),
        "journal": lambda: iter([("lessons", LESSONS[:1], "0002"), ("lessons", LESSONS[1:], "0002"),
                                 ("marks", [], "0002")]),
    }


class FlakySource:
    """Fails mid-stream ``failures`` times, then exports normally."""

    def __init__(self, failures):
        self.failures = failures
        self.calls = 0

    def export(self, backup_id, correlation_id=None):
        self.calls += 1
        yield "lessons", LESSONS[:1], "0002"
        if self.calls <= self.failures:
            raise ConnectionError("UNAVAILABLE: journal.grpc went away")
        yield "lessons", LESSONS[1:], "0002"


def make_worker(factory, target, key, sources, *, worker_id="w1", **cfg):
    config = WorkerConfig(backup_dir=target.root, retry_delay=0, **cfg)
    return Worker(factory, sources=sources, target=target, key=key, config=config, worker_id=worker_id,
                  sleep=lambda s: None)


def outbox_events(factory, type_):
    with transaction(factory) as session:
        rows = session.execute(select(store.tables["outbox"]).where(
            store.tables["outbox"].c.event_type == type_)).all()
    return [json.loads(r.body) for r in rows]


def files(target: LocalDirTarget) -> list[str]:
    return sorted(p.name for p in target.root.iterdir()) if target.root.exists() else []


def test_r_d2_queued_backup_is_written_verified_and_catalogued(factory, target, key, queue, fetch):
    backup_id = queue(school_id="s1", actor_id="a1")
    worker = make_worker(factory, target, key, good_sources())
    assert worker.work_once() == domain.DONE

    row = fetch(backup_id)
    path = target.archive_path(backup_id)
    assert row["status"] == "done" and row["verified"] is True and row["error"] is None
    assert row["finished_at"] is not None and row["finished_at"] >= row["started_at"]
    assert row["size"] == path.stat().st_size
    assert row["targets"] == [f"local:{target.root}"]
    assert row["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert files(target) == [f"{backup_id}.ejbak", f"{backup_id}.manifest.json"]

    sidecar = json.loads(target.manifest_path(backup_id).read_text())
    assert sidecar == row["manifest"]
    assert sidecar["archive"]["sha256"] == row["sha256"]
    assert sidecar["services"]["journal"]["tables"]["lessons"]["rows"] == 2

    contents = read_archive(path, key, backup_id=backup_id)
    assert contents.rows == {"identity": {"users": USERS, "outbox": []},
                             "journal": {"lessons": LESSONS, "marks": []}}

    [event] = outbox_events(factory, "backup_finished")
    assert event["producer"] == "backup" and event["school_id"] == "s1" and event["actor_id"] == "a1"
    assert event["payload"] == {
        "backup_id": backup_id, "trigger": "manual", "status": "done",
        "started_at": domain.iso(row["started_at"]), "finished_at": domain.iso(row["finished_at"]),
        "size": row["size"], "targets": row["targets"], "verified": True, "sha256": row["sha256"],
        "tables": 4, "rows": 3, "error": None}


def test_failing_source_marks_backup_failed_and_leaves_no_file(factory, target, key, queue, fetch):
    backup_id = queue()
    flaky = FlakySource(failures=5)
    worker = make_worker(factory, target, key, {**good_sources(), "journal": flaky})
    assert worker.work_once() == domain.FAILED
    assert flaky.calls == 2  # tried, then retried once
    row = fetch(backup_id)
    assert row["status"] == "failed" and row["verified"] is False and row["size"] is None
    assert "journal" in row["error"] and "Не удалось получить данные" in row["error"]
    assert files(target) == []
    [event] = outbox_events(factory, "backup_finished")
    assert event["payload"]["status"] == "failed" and event["payload"]["error"] == row["error"]


def test_source_failing_once_is_retried_from_the_start(factory, target, key, queue, fetch):
    backup_id = queue()
    flaky = FlakySource(failures=1)
    worker = make_worker(factory, target, key, {"journal": flaky})
    assert worker.work_once() == domain.DONE
    # The retried stream replaced the partial one: no duplicated first chunk.
    assert read_archive(target.archive_path(backup_id), key).rows == {"journal": {"lessons": LESSONS}}
    assert flaky.calls == 2


@pytest.mark.parametrize("chunks", [[("lessons", "not rows", "1")], [("../evil", [], "1")], [("t", [], "1", "x")], []])
def test_malformed_export_fails_the_backup(factory, target, key, queue, fetch, chunks):
    backup_id = queue()
    worker = make_worker(factory, target, key, {"journal": lambda: iter(chunks)})
    assert worker.work_once() == domain.FAILED
    assert "journal" in fetch(backup_id)["error"]
    assert files(target) == []


class CorruptingTarget(LocalDirTarget):
    """A disk that flips a bit after the write (what verification is for)."""

    def open_archive(self, backup_id):
        inner = super().open_archive(backup_id)
        target = self

        class Ctx:
            def __enter__(self):
                return inner.__enter__()

            def __exit__(self, *exc):
                result = inner.__exit__(*exc)
                path = target.archive_path(backup_id)
                data = bytearray(path.read_bytes())
                data[len(data) // 2] ^= 0x10
                path.write_bytes(bytes(data))
                return result
        return Ctx()


def test_r_d2_archive_that_does_not_read_back_is_failed_and_removed(factory, tmp_path, key, queue, fetch):
    target = CorruptingTarget(tmp_path / "bad-disk")
    backup_id = queue()
    worker = make_worker(factory, target, key, good_sources())
    assert worker.work_once() == domain.FAILED
    row = fetch(backup_id)
    assert "Проверка записанного архива не пройдена" in row["error"] and row["verified"] is False
    assert files(target) == []


def test_no_sources_fails_clearly(factory, target, key, queue, fetch):
    backup_id = queue()
    assert make_worker(factory, target, key, {}).work_once() == domain.FAILED
    assert "источник" in fetch(backup_id)["error"]


def test_nothing_queued_means_nothing_done(factory, target, key):
    assert make_worker(factory, target, key, good_sources()).work_once() is None


def test_oldest_queued_backup_runs_first(factory, target, key, queue, fetch):
    now = dt.datetime.now(UTC)
    newer = queue(started_at=now)
    older = queue(started_at=now - dt.timedelta(minutes=5))
    worker = make_worker(factory, target, key, good_sources())
    worker.work_once()
    assert fetch(older)["status"] == "done" and fetch(newer)["status"] == "running"


# -- claims ----------------------------------------------------------------------------

def claim(factory, backup_id, worker, *, lease=600, max_attempts=3):
    now = dt.datetime.now(UTC)
    with transaction(factory) as session:
        return store.claim_backup(session, backup_id=backup_id, worker=worker, now=now,
                                  stale_before=domain.stale_before(now, lease), max_attempts=max_attempts)


def test_claim_is_exclusive_two_claims_one_wins(factory, queue, fetch):
    backup_id = queue()
    assert claim(factory, backup_id, "w1") is True
    assert claim(factory, backup_id, "w2") is False
    row = fetch(backup_id)
    assert row["worker"] == "w1" and row["attempts"] == 1


def test_concurrent_claims_one_wins(factory, queue, fetch):
    """Two transactions race for one row: the second waits on the row lock and
    then finds the row taken (PostgreSQL re-checks the WHERE after the lock)."""
    backup_id = queue()
    now = dt.datetime.now(UTC)
    stale = domain.stale_before(now, 600)
    first = factory()
    try:
        assert store.claim_backup(first, backup_id=backup_id, worker="w1", now=now, stale_before=stale,
                                  max_attempts=3)
        second = eventlet.spawn(claim, factory, backup_id, "w2")
        eventlet.sleep(0.3)
        assert not second.dead  # blocked behind w1's uncommitted claim
        first.commit()
    finally:
        first.close()
    assert second.wait() is False
    assert fetch(backup_id)["worker"] == "w1"


def test_two_workers_never_run_the_same_backup(factory, target, key, queue):
    queue()
    calls = []

    def slow_source():
        calls.append(1)
        eventlet.sleep(0.2)
        return iter([("t", [{"a": 1}], "1")])

    w1 = make_worker(factory, target, key, {"journal": slow_source}, worker_id="w1")
    w2 = make_worker(factory, target, key, {"journal": slow_source}, worker_id="w2")
    results = [eventlet.spawn(w.work_once) for w in (w1, w2)]
    assert sorted(r.wait() or "none" for r in results) == ["done", "none"]
    assert len(calls) == 1


def test_stale_claim_is_taken_over_then_failed_after_max_attempts(factory, target, key, queue, fetch):
    backup_id = queue()
    assert claim(factory, backup_id, "dead-worker")
    long_ago = dt.datetime.now(UTC) - dt.timedelta(hours=1)
    with transaction(factory) as session:
        session.execute(update(store.Backup).where(store.Backup.id == backup_id).values(heartbeat_at=long_ago))
    # A live claim is not taken, a stale one is.
    assert claim(factory, backup_id, "w2", lease=7200) is False
    assert claim(factory, backup_id, "w2", lease=600) is True
    with transaction(factory) as session:
        session.execute(update(store.Backup).where(store.Backup.id == backup_id)
                        .values(heartbeat_at=long_ago, attempts=3))
    worker = make_worker(factory, target, key, good_sources(), max_attempts=3)
    assert worker.work_once() is None
    row = fetch(backup_id)
    assert row["status"] == "failed" and "попытки исчерпаны" in row["error"]
    assert outbox_events(factory, "backup_finished")[0]["payload"]["status"] == "failed"


def test_lease_renews_and_detects_a_lost_claim(factory, queue, fetch):
    backup_id = queue()
    assert claim(factory, backup_id, "w1")
    clock = iter([0.0, 20.0, 40.0]).__next__
    lease = Lease(factory, backup_id=backup_id, worker="w1", stop=threading.Event(), every=10, clock=clock)
    before = fetch(backup_id)["heartbeat_at"]
    lease()
    assert fetch(backup_id)["heartbeat_at"] > before
    with transaction(factory) as session:
        session.execute(update(store.Backup).where(store.Backup.id == backup_id).values(worker="w2"))
    with pytest.raises(LostClaim):
        lease()


def test_stopping_hands_the_claim_back_and_removes_nothing_but_its_own(factory, target, key, queue, fetch):
    backup_id = queue()
    stop = threading.Event()

    def source():
        yield "t", [{"a": 1}], "1"
        stop.set()  # SIGTERM arrives mid-export
        yield "t", [{"a": 2}], "1"

    config = WorkerConfig(backup_dir=target.root)
    worker = Worker(factory, sources={"journal": source}, target=target, key=key, config=config,
                    worker_id="w1", stop=stop)
    assert worker.work_once() == "released"
    row = fetch(backup_id)
    assert row["status"] == "running" and row["worker"] is None and row["attempts"] == 0
    assert files(target) == []
    assert outbox_events(factory, "backup_finished") == []


def test_collect_with_a_plain_iterator_cannot_be_retried():
    chunks = iter([("t", [{"a": 1}], "1")])
    spool = collect("journal", chunks, backup_id="b")
    assert spool.tables["t"].rows == 1


def test_worker_config_from_env(tmp_path):
    cfg = WorkerConfig.from_env(tmp_path, {})
    assert cfg.backup_dir == tmp_path / "backups" and cfg.sources == list(domain.DEFAULT_SOURCES)
    cfg = WorkerConfig.from_env(tmp_path, {"EJOURNAL_BACKUP_DIR": "/srv/b", "EJOURNAL_BACKUP_SOURCES": "journal",
                                           "EJOURNAL_BACKUP_POLL_SECONDS": "0.5", "EJOURNAL_BACKUP_MAX_ATTEMPTS": "5"})
    assert (cfg.backup_dir, cfg.sources, cfg.poll_seconds, cfg.max_attempts) == (Path("/srv/b"), ["journal"], 0.5, 5)
    for bad in ({"EJOURNAL_BACKUP_POLL_SECONDS": "soon"}, {"EJOURNAL_BACKUP_LEASE_SECONDS": "-1"},
                {"EJOURNAL_BACKUP_SOURCES": "Journal"}):
        with pytest.raises(ValueError):
            WorkerConfig.from_env(tmp_path, bad)
