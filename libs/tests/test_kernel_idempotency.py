"""kernel.idempotency (API.md Idempotency-Key) and kernel.events.record_many
on the real PostgreSQL."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import MetaData, create_engine, func, select
from sqlalchemy.exc import IntegrityError

from kernel import idempotency
from kernel.db import session_factory, transaction
from kernel.events import envelope, kernel_tables, record_many

metadata = MetaData()
keys = idempotency.idempotency_table(metadata)
tables = kernel_tables(metadata)


@pytest.fixture(scope="module")
def sessions(pg_databases):
    engine = create_engine(pg_databases.create("kernel_idem"))
    metadata.create_all(engine)
    yield session_factory(engine)
    engine.dispose()


IDS = {"school_id": "s1", "actor_id": "a1", "operation": "post_marks"}


def test_first_result_is_returned_and_another_request_is_refused(sessions):
    with transaction(sessions) as s:
        assert idempotency.lookup(s, keys, key="k-000001", request=["l1", [5]], **IDS) is None
        idempotency.remember(s, keys, key="k-000001", request=["l1", [5]], result={"marks": [{"id": "m1"}]}, **IDS)
    with transaction(sessions) as s:
        assert idempotency.lookup(s, keys, key="k-000001", request=["l1", [5]], **IDS) == {"marks": [{"id": "m1"}]}
        with pytest.raises(idempotency.KeyReused) as exc:
            idempotency.lookup(s, keys, key="k-000001", request=["l1", [4]], **IDS)
        assert exc.value.kind == "conflict" and exc.value.code == "IDEMPOTENCY_KEY_REUSED"
        # another actor's key of the same text is another key
        assert idempotency.lookup(s, keys, key="k-000001", request=["l1", [5]],
                                  **{**IDS, "actor_id": "a2"}) is None


def test_a_concurrent_duplicate_loses_on_the_primary_key(sessions):
    with transaction(sessions) as s:
        idempotency.remember(s, keys, key="k-000002", request=[], result={}, **IDS)
    with pytest.raises(IntegrityError):
        with transaction(sessions) as s:
            idempotency.remember(s, keys, key="k-000002", request=[], result={}, **IDS)


@pytest.mark.parametrize("key,ok", [(None, True), ("", True), ("6f1c2d3e-4b5a-4c6d-8e7f-001122334455", True),
                                    ("short", False), ("has space inside", False), ("x" * 101, False), (5, False)])
def test_key_form(key, ok):
    if ok:
        assert idempotency.check_key(key) == (key or None)
    else:
        with pytest.raises(idempotency.InvalidKey):
            idempotency.check_key(key)


def test_record_many_writes_every_envelope_in_one_call(sessions):
    envs = [envelope(type="mark_posted", producer="journal", payload={"n": n}, school_id="s1", actor_id="a1",
                     correlation_id="c1") for n in range(30)]
    with transaction(sessions) as s:
        record_many(s, tables["outbox"], envs)
        assert record_many(s, tables["outbox"], []) == []
    with sessions() as s:
        bodies = [json.loads(b) for b in s.scalars(select(tables["outbox"].c.body).order_by(tables["outbox"].c.seq))]
        assert [b["payload"]["n"] for b in bodies] == list(range(30))
        assert s.scalar(select(func.count()).select_from(tables["outbox"]).where(
            tables["outbox"].c.correlation_id == "c1")) == 30
    with pytest.raises(ValueError):
        with transaction(sessions) as s:
            record_many(s, tables["outbox"], [{"id": "x"}])


def test_purge_deletes_keys_older_than_the_cutoff_in_batches(sessions):
    import datetime as dt
    from sqlalchemy import insert
    from kernel.events import utcnow
    now = utcnow()
    with transaction(sessions) as s:
        s.execute(keys.delete().where(keys.c.school_id == "purge"))
        s.execute(insert(keys), [
            {"school_id": "purge", "actor_id": "a1", "key": f"old-{n:06d}", "operation": "post_marks",
             "fingerprint": "f" * 64, "result": "{}", "created_at": now - dt.timedelta(days=8, minutes=n)}
            for n in range(7)] + [
            {"school_id": "purge", "actor_id": "a1", "key": "fresh-000001", "operation": "post_marks",
             "fingerprint": "f" * 64, "result": "{}", "created_at": now - dt.timedelta(days=6)}])
    with transaction(sessions) as s:
        assert idempotency.purge(s, keys, older_than=now - dt.timedelta(days=7), batch=3) == 7
    with sessions() as s:
        left = list(s.scalars(select(keys.c.key).where(keys.c.school_id == "purge")))
    assert left == ["fresh-000001"]
    with transaction(sessions) as s:
        assert idempotency.purge(s, keys, older_than=now - dt.timedelta(days=7)) == 0


class _Db:
    def __init__(self, sessions):
        self.sessions = sessions

    def transaction(self):
        return transaction(self.sessions)


class _Writes:
    """A service's write entrypoint declared with @idempotent (no nameko)."""

    def __init__(self, sessions):
        self.db = _Db(sessions)
        self.runs = 0

    @idempotency.idempotent("post_marks", table=keys, caller=lambda ctx: (ctx["school_id"], ctx["actor_id"]))
    def post_marks(self, ctx, lesson_id, marks, key):
        with self.db.transaction() as s:
            key.replay(s)
            self.runs += 1
            result = {"lesson_id": lesson_id, "posted": len(marks), "run": self.runs}
            key.remember(s, result)
        return result


CTX = {"school_id": "s9", "actor_id": "a9"}


def test_the_decorator_runs_a_keyed_write_once_and_answers_its_first_result(sessions):
    writes = _Writes(sessions)
    first = writes.post_marks(CTX, "l1", [5, 4], "k-decor-0001")
    assert writes.post_marks(CTX, "l1", [5, 4], idempotency_key="k-decor-0001") == first == {
        "lesson_id": "l1", "posted": 2, "run": 1}
    assert writes.runs == 1
    with pytest.raises(idempotency.KeyReused):
        writes.post_marks(CTX, "l1", [3], "k-decor-0001")
    with pytest.raises(idempotency.InvalidKey):
        writes.post_marks(CTX, "l1", [3], "bad key!")
    # without a key every call writes, and nothing is stored
    writes.post_marks(CTX, "l1", [3])
    writes.post_marks(CTX, "l1", [3])
    assert writes.runs == 3
    with transaction(sessions) as s:
        assert s.scalar(select(func.count()).select_from(keys).where(keys.c.school_id == "s9")) == 1


def test_the_decorator_answers_a_concurrent_duplicate_with_the_first_result(sessions):
    writes = _Writes(sessions)
    with transaction(sessions) as s:  # the first call committed while this one was writing
        idempotency.remember(s, keys, school_id="s9", actor_id="a9", key="k-decor-0002", operation="post_marks",
                             request=["l2", [5]], result={"first": True})

    @idempotency.idempotent("post_marks", table=keys, caller=lambda ctx: (ctx["school_id"], ctx["actor_id"]))
    def late(self, ctx, lesson_id, marks, key):
        with self.db.transaction() as s:  # no lookup first: loses on the key's primary key
            key.remember(s, {"first": False})

    assert late(writes, CTX, "l2", [5], "k-decor-0002") == {"first": True}
