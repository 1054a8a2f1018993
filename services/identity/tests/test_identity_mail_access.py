"""The central decision for letters: identity projects who
takes part in a letter from messaging's ``message_sent`` (real RabbitMQ and
PostgreSQL) and answers ``message.read``: the sender and the recipients of
the same school, ``not_found`` for anyone else, ``deferred`` (messaging
decides) for a letter it has not seen yet."""
from __future__ import annotations

import pytest
from ejournal.identity.v1 import identity_pb2
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_hook, entrypoint_waiter
from sqlalchemy import func, select

from kernel.db import new_id, transaction
from kernel.events import envelope

from identity import decisions, store
from identity_helpers import StubContext, ctx_of


def letter_sent(config, container, school_id, payload, *, event_id=None):
    env = envelope(type="message_sent", producer="messaging", payload=payload, school_id=school_id,
                   actor_id=payload.get("sender_id"))
    if event_id:
        env["id"] = event_id
    with entrypoint_waiter(container, "on_message_sent", timeout=10):
        event_dispatcher(config)("messaging", "message_sent", env)
    return env


def payload(message_id, sender, *recipients, **extra):
    return {"message_id": message_id, "sender_id": sender.id, "recipient_ids": [r.id for r in recipients],
            "thread_id": message_id, "reply_to": None, "has_attachments": False,
            "sent_at": "2026-11-30T08:00:00+00:00", **extra}


def ask(servicer, user, rid, action="message.read", rtype="message"):
    reply = servicer.Authorize(identity_pb2.AuthorizeRequest(
        subject_id=user.id, school_id=user.school_id, roles=list(user.roles), action=action, resource_type=rtype,
        resource_id=rid), StubContext())
    return reply.denial or reply.reason


def participants(factory, message_id):
    with transaction(factory) as s:
        return sorted(s.execute(select(store.LetterParticipant.user_id, store.LetterParticipant.is_sender).where(
            store.LetterParticipant.message_id == message_id)).all())


# --- the rule as a pure function ------------------------------------------------------------------

S = "school-1"


@pytest.mark.parametrize("roles,facts,expected", [
    (("parent",), decisions.Facts(exists=True, school_id=S, participant=True), "policy"),
    (("admin",), decisions.Facts(exists=True, school_id=S, participant=True), "policy"),
    # the administration of the school does not read other people's letters
    (("admin", "director"), decisions.Facts(exists=True, school_id=S), "not_found"),
    (("student",), decisions.Facts(exists=True, school_id=S), "not_found"),
    # another school's letter does not exist, whoever asks (even with a matching user id)
    (("teacher",), decisions.Facts(exists=True, school_id="other", participant=True), "not_found"),
    # not seen yet: messaging decides, for every role
    (("student",), decisions.Facts(known=False), "deferred"),
])
def test_message_read_rule(roles, facts, expected):
    decision = decisions.decide(decisions.Subject("me", S, frozenset(roles)), "message.read",
                             decisions.Resource("message", "m1"), facts)
    assert (decision.denial or decision.reason) == expected
    assert decision.allowed == (expected in ("policy", "deferred"))


def test_message_read_is_about_letters_only():
    decision = decisions.decide(decisions.Subject("me", S, frozenset(("admin",))), "message.read",
                             decisions.Resource("user", "u1"), decisions.Facts(exists=True, school_id=S, participant=True))
    assert decision.denial == "forbidden" and decision.reason == "wrong_resource_type"


# --- the projection on the running service ----------------------------------------------------------

def test_letters_become_decidable_once_identity_has_seen_them(container, config, servicer, make, school):
    parent = make.user(school, ["parent"], login="mail-parent")
    teacher = make.user(school, ["teacher"], login="mail-teacher")
    head = make.user(school, ["class_teacher"], login="mail-head")
    director = make.user(school, ["director", "admin"], login="mail-director")
    other_school = make.school("Школа №2")
    outsider = make.user(other_school, ["admin"], login="mail-outsider")
    message_id = new_id()
    for user in (parent, teacher, director, outsider):
        assert ask(servicer, user, message_id) == "deferred"  # not seen yet: messaging decides
    letter_sent(config, container, school, payload(message_id, parent, teacher, head))
    assert participants(make.factory, message_id) == sorted([(parent.id, True), (teacher.id, False),
                                                             (head.id, False)])
    assert ask(servicer, parent, message_id) == "policy"
    assert ask(servicer, teacher, message_id) == "policy"
    assert ask(servicer, head, message_id) == "policy"
    assert ask(servicer, director, message_id) == "not_found"
    assert ask(servicer, outsider, message_id) == "not_found"
    # the same answer over the nameko RPC
    with entrypoint_hook(container, "authorize") as authorize:
        assert authorize(ctx_of(teacher), "message.read", "message", message_id)["allowed"] is True
        refused = authorize(ctx_of(director), "message.read", "message", message_id)
        assert refused["allowed"] is False and refused["denial"] == "not_found"


def test_the_projection_is_idempotent(container, config, servicer, make, school, factory):
    sender = make.user(school, ["teacher"], login="idem-sender")
    reader = make.user(school, ["student"], login="idem-reader")
    message_id = new_id()
    env = letter_sent(config, container, school, payload(message_id, sender, reader, reader))
    letter_sent(config, container, school, env["payload"], event_id=env["id"])  # redelivered
    # a copy under another event id (e.g. republished) adds nobody either
    letter_sent(config, container, school, env["payload"])
    assert participants(factory, message_id) == sorted([(sender.id, True), (reader.id, False)])
    with transaction(factory) as s:
        kept = s.scalar(select(func.count()).select_from(store.tables["processed_events"]).where(
            store.tables["processed_events"].c.consumer == "identity.message_sent"))
    assert kept == 2
    assert ask(servicer, reader, message_id) == "policy"


def test_a_malformed_letter_event_is_dead_lettered(container, config, make, school, factory):
    sender = make.user(school, ["teacher"], login="bad-sender")
    message_id = new_id()
    env = letter_sent(config, container, school, payload(message_id, sender, recipient_ids=[]))
    too_long = letter_sent(config, container, school, payload(new_id(), sender, recipient_ids=["x" * 40]))
    with transaction(factory) as s:
        dead = sorted((d.consumer, d.event_id) for d in s.execute(select(store.tables["dead_letters"])).all())
    assert dead == sorted([("identity.message_sent", env["id"]), ("identity.message_sent", too_long["id"])])
    assert participants(factory, message_id) == []
