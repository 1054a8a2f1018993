"""The backup nameko service on real RabbitMQ and PostgreSQL: request_backup
and list_backups (admin only, R-D2/R-D5), the schedule (R-D1), and the
outbox carrying backup_requested / backup_finished."""
from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook
from sqlalchemy import delete, select, update

from kernel.db import transaction, new_id
from kernel.errors import InvalidContext, ServiceError

from backup import domain, errors, store
from backup.service import Service
from backup.worker import Worker, WorkerConfig

UTC = dt.timezone.utc


def ctx(*roles, school_id="school-1", actor_id=None):
    return {"actor_id": actor_id or new_id(), "school_id": school_id, "roles": list(roles),
            "correlation_id": "c0ffee"}


ADMIN = ctx("admin", actor_id="admin-1")


@pytest.fixture
def container(container_factory, rabbit_config, db_url):
    def start(**extra):
        # the schedule (on by default) is off unless a test turns it on
        c = container_factory(Service, {**rabbit_config, "DATABASE_URL": db_url,
                                        "EJOURNAL_BACKUP_EVERY_HOURS": "0", **extra})
        c.start()
        return c
    return start


def call(container, method, *args, **kwargs):
    with entrypoint_hook(container, method) as hook:
        return hook(*args, **kwargs)


def outbox(factory, type_=None):
    table = store.tables["outbox"]
    query = select(table).order_by(table.c.seq)
    if type_:
        query = query.where(table.c.event_type == type_)
    with transaction(factory) as session:
        return session.execute(query).all()


def wait_sent(factory, type_, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = outbox(factory, type_)
        if rows and all(r.sent_at is not None for r in rows):
            return rows
        time.sleep(0.1)
    raise AssertionError(f"{type_} not relayed to the broker")


def test_health(container):
    assert call(container(), "health") == {"status": "ok", "service": "backup"}


def test_admin_requests_a_backup_and_the_event_is_relayed(container, factory, fetch):
    c = container()
    answer = call(c, "request_backup", ADMIN)
    assert answer == {"id": answer["id"], "status": "running"}
    row = fetch(answer["id"])
    assert row["status"] == "running" and row["worker"] is None and row["trigger"] == "manual"
    assert row["school_id"] == "school-1" and row["requested_by"] == "admin-1"
    assert row["correlation_id"] == "c0ffee"
    [event] = wait_sent(factory, "backup_requested")
    body = json.loads(event.body)
    assert body["producer"] == "backup" and body["school_id"] == "school-1" and body["actor_id"] == "admin-1"
    assert body["payload"] == {"backup_id": answer["id"], "trigger": "manual", "requested_by": "admin-1",
                               "requested_at": domain.iso(row["started_at"])}


@pytest.mark.parametrize("roles", [(), ("director",), ("deputy", "teacher"), ("parent",), ("student",)])
def test_r_d5_non_admin_cannot_request_or_list(container, factory, roles):
    c = container()
    with pytest.raises(errors.Forbidden):
        call(c, "request_backup", ctx(*roles))
    with pytest.raises(errors.Forbidden):
        call(c, "list_backups", ctx(*roles))
    assert outbox(factory) == []


@pytest.mark.parametrize("bad", [None, "admin", {"roles": "admin"}, {"roles": ["admin"], "school_id": 1}])
def test_malformed_ctx_is_401_invalid_token(container, bad):
    c = container()
    for method in ("request_backup", "list_backups"):
        with pytest.raises(InvalidContext):
            call(c, method, bad)


def test_remote_errors_carry_the_contract_json(container, rabbit_config):
    """Over real AMQP the gateway gets kind/code/message it can map (403)."""
    container()
    with ServiceRpcProxy("backup", rabbit_config) as proxy:
        with pytest.raises(RemoteError) as info:
            proxy.request_backup(ctx("teacher"))
        assert ServiceError.parse(info.value.value) == {
            "kind": "forbidden", "code": "FORBIDDEN", "message": errors.MESSAGES["forbidden"], "details": {}}
        assert proxy.request_backup(ADMIN)["status"] == "running"


def test_second_request_while_one_runs_returns_the_same_backup(container, factory):
    c = container()
    first = call(c, "request_backup", ADMIN)
    second = call(c, "request_backup", ctx("admin"))
    assert second == first
    assert len(outbox(factory, "backup_requested")) == 1


def test_list_is_newest_first_with_api_fields_and_school_scoped(container, factory, queue):
    now = dt.datetime.now(UTC)
    old = queue(school_id="school-1", started_at=now - dt.timedelta(days=2))
    scheduled = queue(school_id=None, trigger=domain.SCHEDULED, started_at=now - dt.timedelta(days=1))
    other_school = queue(school_id="school-2", started_at=now - dt.timedelta(hours=1))
    with transaction(factory) as session:
        session.execute(update(store.Backup).where(store.Backup.id.in_([old, scheduled]))
                        .values(status=domain.DONE, finished_at=now, size=123, targets=["local:/b"],
                                verified=True))
    c = container()
    new = call(c, "request_backup", ADMIN)["id"]
    answer = call(c, "list_backups", ADMIN)
    assert answer["next_cursor"] is None
    assert [i["id"] for i in answer["items"]] == [new, scheduled, old]
    item = answer["items"][2]
    assert set(item) >= {"id", "started_at", "finished_at", "status", "size", "targets", "verified"}
    assert (item["status"], item["size"], item["targets"], item["verified"]) == ("done", 123, ["local:/b"], True)
    assert item["started_at"].endswith("+00:00")
    running = answer["items"][0]
    assert (running["status"], running["finished_at"], running["size"], running["targets"], running["verified"]) \
        == ("running", None, None, [], False)
    others = call(c, "list_backups", ctx("admin", school_id="school-2"))
    assert [i["id"] for i in others["items"]] == [other_school, scheduled]
    assert other_school not in [i["id"] for i in answer["items"]]


def test_list_pages_with_a_cursor(container, queue):
    now = dt.datetime.now(UTC)
    ids = [queue(school_id="school-1", started_at=now - dt.timedelta(minutes=i)) for i in range(5)]
    c = container()
    page = call(c, "list_backups", ADMIN, limit=2)
    seen = [i["id"] for i in page["items"]]
    while page["next_cursor"]:
        page = call(c, "list_backups", ADMIN, limit=2, cursor=page["next_cursor"])
        seen += [i["id"] for i in page["items"]]
    assert seen == ids
    for bad in ({"limit": 0}, {"limit": "2"}, {"cursor": "garbage!"}):
        with pytest.raises(errors.ValidationError):
            call(c, "list_backups", ADMIN, **bad)


def test_r_d1_schedule_queues_when_due_and_not_twice(container, factory, fetch, tmp_path):
    c = container(EJOURNAL_BACKUP_EVERY_HOURS="336", EJOURNAL_BACKUP_DIR=str(tmp_path))
    local = f"local:{tmp_path.resolve()}"
    deadline = time.monotonic() + 10  # the timer fires at start: nothing was ever copied
    while time.monotonic() < deadline and not outbox(factory, "backup_requested"):
        time.sleep(0.05)
    [first] = outbox(factory, "backup_requested")
    row = fetch(json.loads(first.body)["payload"]["backup_id"])
    assert (row["trigger"], row["status"], row["school_id"]) == ("scheduled", "running", None)
    assert call(c, "enqueue_scheduled") is None  # one is already running
    with transaction(factory) as session:  # it finished well 15 days ago: due again
        session.execute(update(store.Backup).values(
            status=domain.DONE, targets=[local], started_at=dt.datetime.now(UTC) - dt.timedelta(days=15)))
    second = call(c, "enqueue_scheduled")
    assert second is not None
    with transaction(factory) as session:  # a fresh copy: not due
        session.execute(update(store.Backup).where(store.Backup.id == second).values(
            status=domain.DONE, targets=[local]))
    assert call(c, "enqueue_scheduled") is None
    assert json.loads(outbox(factory, "backup_requested")[1].body)["payload"]["trigger"] == "scheduled"


def test_r_d1_schedule_on_by_default_and_a_missed_run_runs_at_start(container_factory, rabbit_config, db_url,
                                                                    factory, fetch, monkeypatch):
    """No setting: a local copy every 14 days; the timer fires at start, so
    a run missed while the machine was off happens right away."""
    monkeypatch.delenv("EJOURNAL_BACKUP_EVERY_HOURS", raising=False)
    with transaction(factory) as session:  # the last copy is 20 days old: the machine was off
        store.create_backup(session, backup_id=new_id(), trigger="scheduled",
                            started_at=dt.datetime.now(UTC) - dt.timedelta(days=20))
        session.execute(update(store.Backup).values(status=domain.DONE, targets=["local:/x"]))
    c = container_factory(Service, {**rabbit_config, "DATABASE_URL": db_url, "EJOURNAL_BACKUP_DIR": "/x"})
    c.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not outbox(factory, "backup_requested"):
        time.sleep(0.1)
    [event] = outbox(factory, "backup_requested")
    assert json.loads(event.body)["payload"]["trigger"] == "scheduled"
    schedule = call(c, "backup_schedule", ADMIN)
    [local] = schedule["targets"]
    assert (local["target"], local["kind"], local["every_hours"]) == ("local", "local", 336.0)
    assert local["location"] == "local:/x" and local["failing"] is False
    assert local["next_run_at"] is not None and schedule["next_run_at"] == local["next_run_at"]
    with pytest.raises(Exception):
        call(c, "backup_schedule", ctx("teacher"))


def test_r_d1_each_target_has_its_own_schedule(container, factory, tmp_path):
    """Local every 14 days, off-site monthly: a local copy 15 days old is
    due, an off-site copy 15 days old is not; GET /backups/schedule says when."""
    c = container(EJOURNAL_BACKUP_EVERY_HOURS="336", EJOURNAL_BACKUP_DIR=str(tmp_path / "b"),
                  EJOURNAL_BACKUP_TARGETS="offsite", EJOURNAL_BACKUP_TARGET_OFFSITE="s3://bucket/school")
    old = dt.datetime.now(UTC) - dt.timedelta(days=15)
    deadline = time.monotonic() + 10  # the timer fires at start: wait for it, then forget what it queued
    while time.monotonic() < deadline and not outbox(factory, "backup_requested"):
        time.sleep(0.05)
    with transaction(factory) as session:
        session.execute(delete(store.Backup))
        store.create_backup(session, backup_id="b-old", trigger="scheduled", started_at=old)
        session.execute(update(store.Backup).values(status=domain.DONE, targets=[
            f"local:{(tmp_path / 'b').resolve()}", "s3://bucket/school"]))
    schedule = {t["target"]: t for t in call(c, "backup_schedule", ADMIN)["targets"]}
    assert schedule["offsite"]["every_hours"] == 720.0 and schedule["offsite"]["kind"] == "s3"
    nxt = dt.datetime.fromisoformat(schedule["offsite"]["next_run_at"])
    assert abs((nxt - (old + dt.timedelta(days=30))).total_seconds()) < 1
    assert call(c, "enqueue_scheduled") is not None  # the local copy is due


def test_bad_schedule_setting_refuses_to_start(container_factory, rabbit_config, db_url):
    c = container_factory(Service, {**rabbit_config, "DATABASE_URL": db_url,
                                    "EJOURNAL_BACKUP_EVERY_HOURS": "fortnightly"})
    with pytest.raises(ValueError):
        c.start()


def test_requested_backup_is_run_by_the_worker_and_listed_done(container, factory, target, key):
    """The slice end to end minus gRPC: request -> worker -> list; the worker's
    backup_finished goes out through the service's outbox relay."""
    c = container()
    backup_id = call(c, "request_backup", ADMIN)["id"]
    worker = Worker(factory, sources={"journal": lambda: iter([("lessons", [{"id": "l1"}], "0001")])},
                    target=target, key=key, config=WorkerConfig(backup_dir=target.root))
    assert worker.work_once() == domain.DONE
    [item] = call(c, "list_backups", ADMIN)["items"]
    assert item["id"] == backup_id and item["status"] == "done" and item["verified"] is True
    assert item["size"] == target.archive_path(backup_id).stat().st_size
    assert item["targets"] == [target.name] and item["finished_at"] is not None
    [event] = wait_sent(factory, "backup_finished")
    assert json.loads(event.body)["payload"]["status"] == "done"
    assert json.loads(event.body)["correlation_id"] == "c0ffee"
