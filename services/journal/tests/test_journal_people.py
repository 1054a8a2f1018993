"""identity's user_created / roles_changed feed the journal's people
projection through idempotent handlers, on the real broker."""
from __future__ import annotations

import datetime as dt

from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_waiter

from journal import store
from kernel.db import new_id

T0 = dt.datetime(2026, 9, 1, 8, 0, tzinfo=dt.timezone.utc)


def envelope(type, payload, *, school_id, at=T0, event_id=None):
    return {"id": event_id or new_id(), "type": type, "occurred_at": at.isoformat(), "producer": "identity",
            "school_id": school_id, "actor_id": new_id(), "payload": payload, "version": 1}


def deliver(journal, config, env, handler):
    dispatch = event_dispatcher(config)
    with entrypoint_waiter(journal.container, handler, timeout=10):
        dispatch("identity", env["type"], env)


def user_created(user_id, school_id, roles=("student",), **kw):
    return envelope("user_created", {"user_id": user_id, "login": "ivanov", "full_name": "Иванов Иван",
                                     "roles": list(roles), "email": None, "birth_date": "2015-03-08", "sex": "m"},
                    school_id=school_id, **kw)


def test_user_created_adds_the_person(journal, make, service_config):
    user_id = new_id()
    deliver(journal, service_config, user_created(user_id, make.school_id), "on_user_created")
    [person] = make.rows(store.Person, user_id=user_id)
    assert (person.school_id, person.full_name, person.roles) == (make.school_id, "Иванов Иван", ["student"])


def test_duplicate_delivery_changes_nothing(journal, make, service_config):
    """At-least-once delivery: the same event id has one effect."""
    user_id = new_id()
    first = user_created(user_id, make.school_id)
    deliver(journal, service_config, first, "on_user_created")
    later = envelope("roles_changed", {"user_id": user_id, "roles": ["student", "news_editor"], "before": ["student"]},
                     school_id=make.school_id, at=T0 + dt.timedelta(hours=1))
    deliver(journal, service_config, later, "on_roles_changed")
    # the first event again, redelivered after a newer change
    replay = dict(first, payload=dict(first["payload"], full_name="Другое Имя", roles=["teacher"]))
    deliver(journal, service_config, replay, "on_user_created")
    [person] = make.rows(store.Person, user_id=user_id)
    assert person.full_name == "Иванов Иван" and person.roles == ["news_editor", "student"]
    processed = make.rows_of_table("processed_events")
    assert sorted(r.consumer for r in processed) == ["journal.roles_changed", "journal.user_created"]


def test_events_out_of_order_keep_the_newest_roles(journal, make, service_config):
    user_id = new_id()
    newer = envelope("roles_changed", {"user_id": user_id, "roles": ["teacher", "class_teacher"], "before": ["teacher"]},
                     school_id=make.school_id, at=T0 + dt.timedelta(days=1))
    deliver(journal, service_config, newer, "on_roles_changed")
    deliver(journal, service_config, user_created(user_id, make.school_id, roles=["teacher"]), "on_user_created")
    [person] = make.rows(store.Person, user_id=user_id)
    assert person.roles == ["class_teacher", "teacher"] and person.full_name == "Иванов Иван"


def test_malformed_event_is_dead_lettered_not_lost(journal, make, service_config):
    bad = envelope("user_created", {"login": "nobody"}, school_id=make.school_id)
    deliver(journal, service_config, bad, "on_user_created")
    [dead] = make.rows_of_table("dead_letters")
    assert dead.consumer == "journal.user_created" and dead.event_id == bad["id"]
    assert make.rows(store.Person) == []
