"""A marks write the caller gave up on is never carried out later, on the
real RabbitMQ and PostgreSQL, with the gateway's own RPC client as the
caller (kernel.deadline): the journal down while the gateway waited, and a
request that reaches its worker after its deadline."""
from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from zoneinfo import ZoneInfo

import pytest
from kombu import Connection, Exchange, Queue
from nameko.exceptions import RpcTimeout
from nameko.testing.utils import wait_for_worker_idle
from prometheus_client import REGISTRY

from gateway.clients import RpcPool
from journal import store
from kernel.deadline import DEADLINE_HEADER


def school_today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Europe/Moscow")).date()


def expired_marks() -> float:
    return REGISTRY.get_sample_value("ejournal_rpc_expired_total",
                                     {"service": "journal", "method": "post_marks"}) or 0.0


@pytest.fixture
def lesson(make):
    """Yesterday's maths lesson of a class with one student; the teacher's ctx."""
    year = make.year()
    teacher, student = make.person("teacher"), make.person("student")
    klass = make.klass(year, grade=6)
    maths = make.subject("Математика")
    make.assign(teacher, klass, maths)
    make.enrol(student, klass)
    lesson = make.lesson(klass, maths, teacher, school_today() - dt.timedelta(days=1))
    return lesson, make.ctx(teacher, "teacher"), [{"student_id": student, "value": 5}]


def test_a_marks_write_sent_while_the_journal_is_down_is_never_carried_out(journal_with, service_config, make,
                                                                          lesson):
    """The journal is down: the gateway's PUT /lessons/{id}/marks without an
    Idempotency-Key times out (503). The teacher types the marks again once
    the journal is back: one mark, not two (the first request was dropped
    by the broker when its caller gave up)."""
    lesson, ctx, marks = lesson
    first = journal_with()  # declares the journal's RPC queue
    first.container.stop()
    pool = RpcPool(service_config["AMQP_URI"], size=1, timeout=1.0)
    try:
        with pytest.raises(RpcTimeout):
            pool.call("journal", "post_marks", (ctx, lesson.id, marks))
        journal = journal_with()
        retried = pool.call("journal", "post_marks", (ctx, lesson.id, marks), timeout=10)
    finally:
        pool.close()
    wait_for_worker_idle(journal.container)  # whatever else the queue held has run by now
    assert [m.id for m in make.rows(store.Mark, lesson_id=lesson.id)] == [retried["marks"][0]["id"]]
    assert len(make.events("mark_posted")) == 1


def test_a_marks_write_that_reaches_its_worker_too_late_is_refused(journal, service_config, make, lesson):
    """A request delivered in time may wait for a free worker past its
    deadline: the journal answers 503 without writing, counts it
    (ejournal_rpc_expired_total) and goes on serving."""
    lesson, ctx, marks = lesson
    before = expired_marks()
    exchange = Exchange("nameko-rpc", type="topic", durable=True)
    reply_key = uuid.uuid4().hex
    with Connection(service_config["AMQP_URI"]) as conn:
        channel = conn.channel()
        replies = Queue(f"reply-{reply_key}", exchange, routing_key=reply_key, exclusive=True)(channel)
        replies.declare()
        conn.Producer(channel).publish(
            {"args": [ctx, lesson.id, marks], "kwargs": {}}, exchange=exchange, routing_key="journal.post_marks",
            serializer="json", reply_to=reply_key, correlation_id=reply_key,
            headers={DEADLINE_HEADER: time.time() - 2})
        reply = None
        for _ in range(100):  # bounded: 10 s
            reply = replies.get(no_ack=True)
            if reply is not None:
                break
            time.sleep(0.1)
    assert reply is not None, "no answer"
    error = json.loads(reply.body)["error"]
    assert error["exc_type"] == "DeadlineExceeded" and json.loads(error["value"])["kind"] == "unavailable"
    assert make.rows(store.Mark, lesson_id=lesson.id) == [] and make.events("mark_posted") == []
    assert expired_marks() == before + 1

    pool = RpcPool(service_config["AMQP_URI"], size=1, timeout=10)
    try:
        pool.call("journal", "post_marks", (ctx, lesson.id, marks))
    finally:
        pool.close()
    assert len(make.rows(store.Mark, lesson_id=lesson.id)) == 1
