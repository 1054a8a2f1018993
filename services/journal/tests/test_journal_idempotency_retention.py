"""Idempotency-Key answers are kept for a retention (EJOURNAL_IDEMPOTENCY_KEEP_DAYS,
7 days by default) and deleted by the service's periodic timer; fresh ones
stay and still answer a retry. Real RabbitMQ and PostgreSQL."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select

from journal import store
from journal.service import IDEMPOTENCY_PURGE_SECONDS, Service
from kernel.events import utcnow


def old_key(make, actor, key, age):
    with make.sessions.begin() as s:
        s.execute(insert(store.idempotency_keys).values(
            school_id=make.school_id, actor_id=actor, key=key, operation="post_marks", fingerprint="0" * 64,
            result="{}", created_at=utcnow() - age))


def stored_keys(make):
    with make.sessions() as s:
        return sorted(s.scalars(select(store.idempotency_keys.c.key)))


def test_the_timer_deletes_old_keys_and_keeps_fresh_ones(journal, make):
    admin = make.person("admin")
    ctx = make.ctx(admin, "admin")
    klass = make.klass(make.year(), grade=5, letter="Б")
    make.enrol(student := make.person("student"), klass)
    lesson = make.lesson(klass, make.subject("Природоведение"), admin, utcnow().date() - dt.timedelta(days=1))
    # a real write with a key, just now, beside keys stored long ago
    posted = journal.call("post_marks", ctx, lesson.id, [{"student_id": student, "value": 5}], "key-fresh-0001")
    old_key(make, admin, "key-old-000001", dt.timedelta(days=8))
    old_key(make, admin, "key-old-000002", dt.timedelta(days=30))
    old_key(make, admin, "key-recent-001", dt.timedelta(days=6, hours=23))
    assert journal.call("purge_idempotency_keys") == 2
    assert stored_keys(make) == ["key-fresh-0001", "key-recent-001"]
    # the fresh key still answers its retry with the first result, and no second mark is made
    assert journal.call("post_marks", ctx, lesson.id, [{"student_id": student, "value": 5}],
                        "key-fresh-0001") == posted
    assert len(make.rows(store.Mark, lesson_id=lesson.id)) == 1
    assert journal.call("purge_idempotency_keys") == 0


def test_the_retention_is_a_setting(journal_with, make):
    short = journal_with(EJOURNAL_IDEMPOTENCY_KEEP_DAYS="1")
    actor = make.person("teacher")
    old_key(make, actor, "key-two-days-1", dt.timedelta(days=2))
    old_key(make, actor, "key-an-hour-01", dt.timedelta(hours=1))
    assert short.call("purge_idempotency_keys") == 1
    assert stored_keys(make) == ["key-an-hour-01"]


def test_the_purge_is_a_periodic_timer_of_the_service():
    from nameko.timer import Timer
    timers = [e for e in Service.purge_idempotency_keys.nameko_entrypoints if isinstance(e, Timer)]
    assert [t.interval for t in timers] == [IDEMPOTENCY_PURGE_SECONDS] and IDEMPOTENCY_PURGE_SECONDS == 3600
