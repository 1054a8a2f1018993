"""The central decision for letters end to end, on the
whole platform: messaging's ``message_sent`` reaches identity through the
outbox and RabbitMQ; from then on identity itself answers ``message.read``
(the gateway asks it before GET /messages/{id} and the attachment route):
the recipient and the sender read the letter, a third user of the school
gets 404 from the central decision, not only from messaging."""
from __future__ import annotations

import base64
import uuid

import grpc
import jwt
import pytest
from ejournal.identity.v1 import identity_pb2, identity_pb2_grpc

from kernel.config import PORT_OFFSETS
from localrun.client import Api

from e2e_support import eventually

pytestmark = pytest.mark.e2e

PASSWORD = "mail-access-pass-2026"


@pytest.fixture(scope="module")
def people(platform):
    env, base = platform.env, platform.url
    sfx = uuid.uuid4().hex[:6]
    admin = Api(base).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
    out = {}
    for key, name, roles in (("writer", "Орлова Нина", ["teacher"]), ("reader", "Фёдоров Илья", ["teacher"]),
                             ("third", "Зайцева Ирина", ["secretary"])):
        user = admin.post("/users", {"login": f"mail.{key}.{sfx}", "full_name": name, "roles": roles,
                                     "password": PASSWORD})
        api = Api(base).login(f"mail.{key}.{sfx}", PASSWORD)
        claims = jwt.decode(api.token, options={"verify_signature": False})
        out[key] = {**user, "api": api, "school_id": claims["school_id"], "roles": claims["roles"]}
    target = f"127.0.0.1:{int(env['EJOURNAL_PORT_BASE']) + PORT_OFFSETS['identity.grpc']}"
    channel = grpc.insecure_channel(target)
    out["identity"] = identity_pb2_grpc.IdentityStub(channel)
    yield out
    channel.close()


def decision(people, who, message_id):
    """What identity's central decision says (denial or reason)."""
    user = people[who]
    reply = people["identity"].Authorize(identity_pb2.AuthorizeRequest(
        subject_id=user["id"], school_id=user["school_id"], roles=list(user["roles"]),
        action="message.read", resource_type="message", resource_id=message_id), timeout=10)
    return reply.denial or reply.reason


def test_a_letter_is_decided_centrally_once_identity_has_seen_it(people):
    writer, reader, third = people["writer"]["api"], people["reader"]["api"], people["third"]["api"]
    content = "Расписание консультаций".encode()
    sent = writer.post("/messages", {
        "to": [people["reader"]["id"]], "subject": "Консультации", "body": "Коллеги, расписание во вложении.",
        "attachments": [{"name": "график.txt", "content_type": "text/plain",
                         "content_base64": base64.b64encode(content).decode()}]}, expect=201)
    letter = sent["id"]
    # message_sent travels messaging outbox -> RabbitMQ -> identity; until then
    # the answer is "deferred" (messaging decides), then identity's own.
    eventually(lambda: decision(people, "reader", letter) == "policy", timeout=30)
    assert decision(people, "writer", letter) == "policy"
    assert decision(people, "third", letter) == "not_found"

    opened = reader.get(f"/messages/{letter}")
    assert opened["body"] == "Коллеги, расписание во вложении." and opened["sender_id"] == people["writer"]["id"]
    (attachment,) = opened["attachments"]
    got = reader.request("GET", f"/messages/{letter}/attachments/{attachment['id']}", expect=200)
    assert got.content == content
    assert writer.get(f"/messages/{letter}")["id"] == letter

    for path in (f"/messages/{letter}", f"/messages/{letter}/attachments/{attachment['id']}"):
        refused = third.request("GET", path, expect=404)
        assert refused.json()["error"] == "NOT_FOUND"
        assert "Коллеги" not in refused.text and "график" not in refused.text
    # the third user's attempts recorded nothing in the letter: only the reader read it
    receipts = {r["id"]: r.get("read_at") for r in writer.get(f"/messages/{letter}")["recipients"]}
    assert list(receipts) == [people["reader"]["id"]] and receipts[people["reader"]["id"]]


def test_a_letter_identity_has_not_seen_is_left_to_messaging(people):
    unknown = str(uuid.uuid4())
    assert decision(people, "third", unknown) == "deferred"
    assert people["third"]["api"].request("GET", f"/messages/{unknown}", expect=404).json()["error"] == "NOT_FOUND"
