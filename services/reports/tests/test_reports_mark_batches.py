"""reports consumes mark_posted in batches (kernel.batching) on the real
RabbitMQ and PostgreSQL: a class's marks published at once become one row
each in a few transactions, a malformed one is dead-lettered alone, a
repeated mark changes nothing and leaves no processed-event rows."""
from __future__ import annotations

import datetime as dt
import time

from nameko.standalone.events import event_dispatcher
from prometheus_client import REGISTRY
from sqlalchemy import create_engine, func, select

from kernel.db import new_id, session_factory, transaction
from reports import store
from reports.store import Mark, tables

CONSUMER = "reports.on_mark_posted"
T0 = dt.datetime(2026, 9, 1, 8, 0, tzinfo=dt.timezone.utc)


def counts(db_url) -> dict:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return {
                "marks": conn.execute(select(func.count()).select_from(Mark)).scalar_one(),
                "dead": conn.execute(select(func.count()).select_from(tables["dead_letters"])
                                     .where(tables["dead_letters"].c.consumer == CONSUMER)).scalar_one(),
                "processed": conn.execute(select(func.count()).select_from(tables["processed_events"])
                                          .where(tables["processed_events"].c.consumer == CONSUMER)).scalar_one(),
            }
    finally:
        engine.dispose()


def wait_for(db_url, **want) -> dict:
    deadline = time.monotonic() + 15
    while True:
        now = counts(db_url)
        if all(now[k] == v for k, v in want.items()) or time.monotonic() > deadline:
            return now
        time.sleep(0.05)


def batch_stats() -> tuple[float, float]:
    labels = {"consumer": CONSUMER}
    return (REGISTRY.get_sample_value("ejournal_event_batch_size_count", labels) or 0.0,
            REGISTRY.get_sample_value("ejournal_event_batch_size_sum", labels) or 0.0)


def test_a_class_of_marks_is_projected_in_batches(container, school, rabbit_config, db_url):
    year = school.year()
    klass = school.school_class(year["year_id"])
    math = school.subject("Математика")
    dispatch = event_dispatcher(rabbit_config)
    students = [new_id() for _ in range(30)]
    envs = [school.publish.envelope("journal", "mark_posted",
                                    school.mark_payload(klass, s, math, "2026-09-15", 2 + i % 4), school.school_id)
            for i, s in enumerate(students)]
    bad = school.publish.envelope("journal", "mark_posted",
                                  school.mark_payload(klass, students[0], math, "2026-09-15", "five"),
                                  school.school_id)
    before = batch_stats()
    for env in envs[:15] + [bad] + envs[15:] + envs[:3]:  # three redelivered
        dispatch("journal", "mark_posted", env)

    assert wait_for(db_url, marks=30, dead=1) == {"marks": 30, "dead": 1, "processed": 0}
    batches, handled = (a - b for a, b in zip(batch_stats(), before))
    assert handled >= 34
    assert batches < handled  # more than one event per transaction on average
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(Mark))}
        dead = conn.execute(select(tables["dead_letters"].c.event_id)
                            .where(tables["dead_letters"].c.consumer == CONSUMER)).scalar_one()
    engine.dispose()
    assert dead == bad["id"]
    for i, env in enumerate(envs):
        row = rows[env["payload"]["mark_id"]]
        assert (row.student_id, row.value, row.school_id) == (students[i], 2 + i % 4, school.school_id)


def test_save_marks_keeps_the_first_of_a_mark_id_within_a_batch(db_url):
    engine = create_engine(db_url)
    factory = session_factory(engine)
    school, klass, subject = new_id(), new_id(), new_id()
    first = {"id": new_id(), "lesson_id": None, "student_id": new_id(), "class_id": klass, "subject_id": subject,
             "date": dt.date(2026, 9, 2), "value": 5, "kind": None, "weight": 1, "teacher_id": None,
             "school_id": school, "posted_at": T0}
    other = {**first, "id": new_id(), "value": 3}
    with transaction(factory) as s:
        store.save_marks(s, [first, {**first, "value": 2}, other])
        store.save_marks(s, [])
    with transaction(factory) as s:
        store.save_marks(s, [{**other, "value": 4}])
    with transaction(factory) as s:
        assert {m.id: m.value for m in s.scalars(select(Mark))} == {first["id"]: 5, other["id"]: 3}
    engine.dispose()
