"""mark_posted in batches (kernel.batching) on the real RabbitMQ and
PostgreSQL: a class's 30 marks are kept in few transactions, a redelivery
changes nothing (the first author stays), and a malformed event is
dead-lettered alone while the rest of its batch is kept."""
from __future__ import annotations

from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_waiter
from sqlalchemy import func, select

from kernel.db import new_id, transaction
from kernel.events import envelope

from identity import store


def mark(school, class_id, teacher, **extra):
    payload = {"mark_id": new_id(), "lesson_id": new_id(), "student_id": new_id(), "class_id": class_id,
               "subject_id": new_id(), "value": 5, "teacher_id": teacher, **extra}
    return envelope(type="mark_posted", producer="journal", payload=payload, school_id=school, actor_id=None)


def publish_all(container, config, envs, expected):
    """Publish ``envs`` and wait until the batch handler has taken
    ``expected`` deliveries (each delivery of a batch counts)."""
    seen = {"n": 0, "batches": 0}

    def done(worker_ctx, result, exc_info):
        seen["n"] += len(worker_ctx.args[0])
        seen["batches"] += 1
        return seen["n"] >= expected

    dispatch = event_dispatcher(config)
    with entrypoint_waiter(container, "on_mark_posted", callback=done, timeout=15):
        for env in envs:
            dispatch("journal", "mark_posted", env)
    return seen


def refs(factory):
    with transaction(factory) as s:
        return {r.mark_id: r for r in s.scalars(select(store.MarkRef))}


def test_a_class_of_marks_is_kept_in_batches_and_a_redelivery_changes_nothing(container, config, factory, make):
    school, class_id, teacher = make.school(), new_id(), new_id()
    envs = [mark(school, class_id, teacher) for _ in range(30)]
    seen = publish_all(container, config, envs, 30)
    assert seen["batches"] < 30  # batched, not one transaction per mark
    kept = refs(factory)
    assert set(kept) == {e["payload"]["mark_id"] for e in envs}
    assert {r.teacher_id for r in kept.values()} == {teacher}

    # The same mark again, as a redelivery would bring it, with another author:
    # the first author stays and nothing is added.
    again = dict(envs[0], payload={**envs[0]["payload"], "teacher_id": new_id()})
    publish_all(container, config, [again], 1)
    kept = refs(factory)
    assert len(kept) == 30 and kept[envs[0]["payload"]["mark_id"]].teacher_id == teacher
    with transaction(factory) as s:
        assert s.scalar(select(func.count()).select_from(store.tables["processed_events"])) == 0


def test_a_malformed_mark_is_dead_lettered_alone(container, config, factory, make):
    school, class_id, teacher = make.school(), new_id(), new_id()
    good = [mark(school, class_id, teacher) for _ in range(5)]
    bad = mark(school, class_id, teacher)
    del bad["payload"]["class_id"]
    publish_all(container, config, [*good[:2], bad, *good[2:]], 6)
    assert set(refs(factory)) == {e["payload"]["mark_id"] for e in good}
    with transaction(factory) as s:
        dead = s.execute(select(store.tables["dead_letters"])).all()
    assert [d.event_id for d in dead] == [bad["id"]]
