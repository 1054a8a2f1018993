"""A report reports produced by itself (``report_ready``, the monthly R-R7
monitoring) becomes a letter with the file attached in the inboxes of the
recipients it names, once per event, with notifications and message_sent;
a malformed one is dead-lettered (real RabbitMQ and PostgreSQL)."""
from __future__ import annotations

import base64

from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from messaging import store
from messaging_school import ctx, seed_school
from messaging_testkit import make_envelope, new_id


def ready_payload(recipients, content=b"%PDF-1.7 monitoring", **overrides):
    payload = {"kind": "journal-monitoring", "month": "2026-09", "recipient_ids": recipients,
               "subject": "Мониторинг ведения электронного журнала за сентябрь 2026",
               "body": "Мониторинг во вложении (PDF).",
               "attachment": {"name": "Мониторинг ведения электронного журнала сентябрь 2026.pdf",
                              "content_type": "application/pdf", "size": len(content),
                              "content_base64": base64.b64encode(content).decode()}}
    payload.update(overrides)
    return payload


def deliver(container, publish, env):
    with entrypoint_waiter(container, "on_report_ready", timeout=10):
        publish("reports", env)


def test_a_ready_report_is_a_letter_with_its_pdf_for_each_recipient(container, publish, session_maker, rows):
    ids = seed_school(session_maker)
    deputy, director = ids["head_a"], ids["teacher_a"]  # any two people of the school
    env = make_envelope("report_ready", ready_payload([deputy, director]), producer="reports",
                        school_id=ids["school"])
    deliver(container, publish, env)
    deliver(container, publish, env)  # redelivered: still one letter
    [message] = rows(store.Message, school_id=ids["school"], sender_id=env["actor_id"])
    assert message.subject == "Мониторинг ведения электронного журнала за сентябрь 2026"
    assert sorted(r.recipient_id for r in rows(store.MessageRecipient, message_id=message.id)) == \
        sorted([deputy, director])
    [attachment] = rows(store.Attachment, message_id=message.id)
    assert (attachment.content, attachment.content_type, attachment.size) == \
        (b"%PDF-1.7 monitoring", "application/pdf", 19)
    assert {n.recipient_id for n in rows(store.Notification) if n.data.get("message_id") == message.id} == \
        {deputy, director}
    with entrypoint_hook(container, "list_messages") as inbox:
        items = inbox(ctx(ids, "head_a"), "inbox")["items"]
    assert message.id in {i["id"] for i in items}
    sent = [r for r in rows(store.tables["outbox"]) if r["event_type"] == "message_sent"]
    assert len(sent) == 1


def test_a_malformed_ready_report_is_dead_lettered(container, publish, session_maker, rows):
    ids = seed_school(session_maker)
    bad = ready_payload([ids["head_a"]])
    bad["attachment"]["size"] = 5  # does not match the content
    deliver(container, publish, make_envelope("report_ready", bad, producer="reports", school_id=ids["school"]))
    assert rows(store.Message, school_id=ids["school"]) == []
    assert [d["consumer"] for d in rows(store.tables["dead_letters"])] == ["messaging.on_report_ready"]
