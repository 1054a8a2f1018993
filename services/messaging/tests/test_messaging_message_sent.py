"""``message_sent`` (docs/events.md): a letter and its event are written in
one transaction through messaging's outbox and reach the broker; the event
names who takes part in the letter, never what it says (real RabbitMQ and
PostgreSQL)."""
from __future__ import annotations

import base64
import json

import pytest
from kombu import Connection, Queue
from sqlalchemy import select, text

from nameko.exceptions import RemoteError
from nameko.testing.services import entrypoint_hook

from kernel.errors import ServiceError
from kernel.nameko import event_exchange

from messaging import events, store
from messaging_school import ctx, seed_school

OUTBOX = store.tables["outbox"]


@pytest.fixture
def school(session_maker):
    return seed_school(session_maker)


def send(container, ids, sender, to, **extra):
    with entrypoint_hook(container, "send_message") as call:
        return call(ctx(ids, sender), {"to": [ids[t] for t in to], "subject": "Вопрос",
                                        "body": "Добрый день!", **extra})


def remote_code(exc) -> str:
    if isinstance(exc, RemoteError):
        return ServiceError.parse(exc.value)["code"]
    return exc.code


def outbox_rows(session_maker, type_=events.MESSAGE_SENT):
    with session_maker() as s:
        return list(s.execute(select(OUTBOX).where(OUTBOX.c.event_type == type_).order_by(OUTBOX.c.seq)))


def test_a_letter_writes_message_sent_in_its_own_transaction(container, school, session_maker, monkeypatch):
    # the relay paused: marking the row sent would give it a new xmin before it is read below
    from kernel.nameko.outbox import Outbox
    relay = next(d for d in container.dependencies if isinstance(d, Outbox))
    monkeypatch.setattr(relay, "relay_once", lambda: 0)
    attachment = {"name": "справка.pdf", "content_type": "application/pdf",
                  "content_base64": base64.b64encode(b"%PDF-1.4 test").decode()}
    out = send(container, school, "parent_a", ["teacher_a", "head_a"], attachments=[attachment])
    (row,) = outbox_rows(session_maker)
    env = json.loads(row.body)
    assert env["producer"] == "messaging" and env["type"] == "message_sent"
    assert env["school_id"] == school["school"] and env["actor_id"] == school["parent_a"]
    assert env["correlation_id"] == "c0ffee01"
    payload = env["payload"]
    assert payload["message_id"] == out["id"] and payload["thread_id"] == out["thread_id"]
    assert payload["sender_id"] == school["parent_a"]
    assert payload["recipient_ids"] == out["recipients"] == [school["teacher_a"], school["head_a"]]
    assert payload["reply_to"] is None and payload["has_attachments"] is True
    assert payload["sent_at"].startswith(env["occurred_at"][:10])
    # Personal data stays in messaging: neither the subject nor the body travels.
    assert set(payload) == {"message_id", "sender_id", "recipient_ids", "thread_id", "reply_to",
                            "has_attachments", "sent_at"}
    assert "Вопрос" not in row.body and "Добрый день" not in row.body
    with session_maker() as s:
        # One PostgreSQL transaction wrote both rows: the same xmin.
        letter_xid = s.execute(text("SELECT xmin::text FROM messages WHERE id = :id"), {"id": out["id"]}).scalar_one()
        event_xid = s.execute(text("SELECT xmin::text FROM outbox WHERE event_id = :id"),
                              {"id": env["id"]}).scalar_one()
    assert letter_xid == event_xid


def test_a_reply_names_its_thread_and_original(container, school, session_maker):
    first = send(container, school, "parent_a", ["teacher_a"])
    reply = send(container, school, "teacher_a", [], reply_to=first["id"])
    payloads = [json.loads(r.body)["payload"] for r in outbox_rows(session_maker)]
    assert [p["message_id"] for p in payloads] == [first["id"], reply["id"]]
    assert payloads[1]["thread_id"] == first["thread_id"] and payloads[1]["reply_to"] == first["id"]
    assert payloads[1]["sender_id"] == school["teacher_a"]
    assert payloads[1]["recipient_ids"] == [school["parent_a"]] and payloads[1]["has_attachments"] is False


def test_a_refused_letter_publishes_nothing(container, school, session_maker, rows):
    with pytest.raises(ServiceError) as err:
        send(container, school, "parent_a", ["teacher_a", "outsider"])
    assert remote_code(err.value) == "RECIPIENT_NOT_ALLOWED"
    assert outbox_rows(session_maker) == [] and rows(store.Message) == []


def test_no_letter_without_its_event(container, school, session_maker, rows, monkeypatch):
    """The event is written inside the letter's transaction: when writing it
    fails, the letter, its recipients and notifications are not kept."""
    def broken(*args, **kwargs):
        raise RuntimeError("outbox unavailable")

    monkeypatch.setattr(events, "message_sent", broken)
    with pytest.raises(Exception):
        send(container, school, "parent_a", ["teacher_a"])
    assert rows(store.Message) == [] and rows(store.MessageRecipient) == []
    assert rows(store.Notification) == [] and outbox_rows(session_maker) == []


def test_the_relay_publishes_message_sent_to_the_broker(container, school, config):
    with Connection(config["AMQP_URI"]) as conn:
        exchange = event_exchange("messaging")
        queue = Queue("test.messaging.message_sent", exchange=exchange, routing_key=events.MESSAGE_SENT,
                      channel=conn.default_channel, auto_delete=True)
        exchange.maybe_bind(conn.default_channel)
        exchange.declare()
        queue.declare()
        out = send(container, school, "teacher_b", ["student_a"])
        received = []
        with conn.Consumer(queue, callbacks=[lambda body, message: (received.append(body), message.ack())],
                           accept=["json"]):
            for _ in range(50):
                if received:
                    break
                try:
                    conn.drain_events(timeout=0.2)
                except TimeoutError:
                    pass
        assert len(received) == 1
        body = received[0] if isinstance(received[0], dict) else json.loads(received[0])
        assert body["type"] == "message_sent" and body["payload"]["message_id"] == out["id"]
        assert body["payload"]["recipient_ids"] == [school["student_a"]]
