"""Internal mail on the running service (real RabbitMQ and PostgreSQL):
the who-may-write-to-whom table of R-M1/R-A3 cell by cell, threads, folders,
read receipts, attachments and the class teacher's letter to all parents."""
from __future__ import annotations

import base64

import pytest
from nameko.exceptions import RemoteError
from nameko.testing.services import entrypoint_hook

from kernel.errors import ServiceError

from messaging import domain, store
from messaging_school import ctx, seed_school
from messaging_testkit import new_id


@pytest.fixture
def school(session_maker):
    return seed_school(session_maker)


def send(container, ids, sender, to, **extra):
    with entrypoint_hook(container, "send_message") as call:
        return call(ctx(ids, sender), {"to": [ids.get(t, t) for t in to], "subject": "Вопрос",
                                        "body": "Добрый день!", **extra})


def remote_code(exc) -> str:
    """The error code of a service error (entrypoint_hook re-raises it locally)."""
    if isinstance(exc, RemoteError):
        return ServiceError.parse(exc.value)["code"]
    assert isinstance(exc, ServiceError), exc
    return exc.code


# (sender, recipient, allowed): every cell of R-M1 after R-A3 that the school
# of messaging_school.py can express.
WHO_MAY_WRITE = [
    # a parent: the child's teachers, class teacher and the administration; no other family
    ("parent_a", "teacher_a", True),
    ("parent_a", "head_a", True),
    ("parent_a", "director", True),
    ("parent_a", "secretary", True),
    ("parent_a", "teacher_b", False),   # teaches another class only
    ("parent_a", "parent_b", False),    # another family
    ("parent_a", "student_b", False),   # another family's child
    ("parent_a", "student_a", False),   # not in the list of R-M1 either
    ("parent_a", "outsider", False),    # another school
    # a student: their teachers and class teacher
    ("student_a", "teacher_a", True),
    ("student_a", "head_a", True),
    ("student_a", "director", False),
    ("student_a", "teacher_b", False),
    ("student_a", "student_b", False),
    ("student_a", "parent_b", False),
    # staff: anyone in their school
    ("teacher_b", "parent_a", True),
    ("teacher_b", "student_a", True),
    ("teacher_a", "teacher_b", True),
    ("secretary", "parent_b", True),
    ("director", "student_b", True),
    ("head_a", "outsider", False),      # another school
]


@pytest.mark.parametrize("sender,recipient,allowed", WHO_MAY_WRITE,
                         ids=[f"{s}->{r}:{'yes' if a else 'no'}" for s, r, a in WHO_MAY_WRITE])
def test_who_may_write_to_whom_R_M1_R_A3(container, school, rows, sender, recipient, allowed):
    if allowed:
        out = send(container, school, sender, [recipient])
        assert out["recipients"] == [school[recipient]]
        assert [r.recipient_id for r in rows(store.MessageRecipient)] == [school[recipient]]
        assert [n.kind for n in rows(store.Notification, recipient_id=school[recipient])] == ["message"]
    else:
        with pytest.raises(ServiceError) as err:
            send(container, school, sender, [recipient])
        assert remote_code(err.value) == "RECIPIENT_NOT_ALLOWED"
        assert rows(store.Message) == [] and rows(store.Notification) == []


def test_one_refused_recipient_refuses_the_whole_letter_R_M1(container, school, rows):
    with pytest.raises(ServiceError) as err:
        send(container, school, "parent_a", ["teacher_a", "parent_b", new_id()])
    assert remote_code(err.value) == "RECIPIENT_NOT_ALLOWED"
    assert rows(store.Message) == [] and rows(store.MessageRecipient) == [] and rows(store.Notification) == []


def test_a_reply_to_a_letter_received_is_allowed_and_stays_in_the_thread_R_M1(container, school, rows):
    first = send(container, school, "teacher_b", ["parent_a"])
    # parent_a may not start a letter to teacher_b, but may answer them
    reply = send(container, school, "parent_a", [], reply_to=first["id"])
    assert reply["recipients"] == [school["teacher_b"]]
    assert reply["thread_id"] == first["thread_id"] == first["id"]
    # the reply does not open the door to others
    with pytest.raises(ServiceError) as err:
        send(container, school, "parent_a", ["parent_b"], reply_to=first["id"])
    assert remote_code(err.value) == "RECIPIENT_NOT_ALLOWED"
    # nor to a thread one is not part of
    with pytest.raises(ServiceError) as err:
        send(container, school, "parent_b", [], reply_to=first["id"])
    assert remote_code(err.value) == "NOT_FOUND"
    assert len(rows(store.Message)) == 2

    # a letter comes with the rest of its thread, oldest first: only the letters its reader took part in
    again = send(container, school, "teacher_b", ["parent_a", "parent_b"], reply_to=reply["id"])
    with entrypoint_hook(container, "get_message") as get:
        letter = get(ctx(school, "parent_a"), again["id"])
        assert [(m["id"], m["sender_name"]) for m in letter["thread"]] == [
            (first["id"], "Соколов Павел"), (reply["id"], "Иванова Анна")]
        assert letter["thread"][1]["sender_id"] == school["parent_a"] and "read" not in letter["thread"][0]
        assert [m["id"] for m in get(ctx(school, "parent_b"), again["id"])["thread"]] == []


def test_class_teacher_writes_to_all_parents_of_the_class_R_M3(container, school, rows):
    out = send(container, school, "head_a", [], to_parents_of_class=school["class_a"])
    assert out["recipients"] == [school["parent_a"]]
    with pytest.raises(ServiceError) as err:  # a subject teacher is not the class teacher
        send(container, school, "teacher_a", [], to_parents_of_class=school["class_a"])
    assert remote_code(err.value) == "RECIPIENT_NOT_ALLOWED"
    assert len(rows(store.Message)) == 1


def test_inbox_sent_and_read_receipts_R_M1(container, school):
    out = send(container, school, "teacher_a", ["parent_a", "parent_b"])
    with entrypoint_hook(container, "list_messages") as call:
        inbox = call(ctx(school, "parent_a"), "inbox")
        assert [(m["id"], m["read"], m["sender_name"]) for m in inbox["items"]] == [
            (out["id"], False, "Кузнецов Иван")]
        sent = call(ctx(school, "teacher_a"), "sent")
        assert {r["id"]: r["read_at"] for r in sent["items"][0]["recipients"]} == {
            school["parent_a"]: None, school["parent_b"]: None}
        assert call(ctx(school, "student_a"), "inbox")["items"] == []
    with entrypoint_hook(container, "get_message") as get:
        letter = get(ctx(school, "parent_a"), out["id"])
        assert letter["body"] == "Добрый день!"
        assert all("read_at" not in r for r in letter["recipients"])  # receipts are the sender's
        with pytest.raises(ServiceError) as err:
            get(ctx(school, "student_b"), out["id"])
        assert remote_code(err.value) == "NOT_FOUND"
        receipts = {r["id"]: r["read_at"] for r in get(ctx(school, "teacher_a"), out["id"])["recipients"]}
    assert receipts[school["parent_a"]] is not None and receipts[school["parent_b"]] is None
    with entrypoint_hook(container, "list_messages") as call:
        assert call(ctx(school, "parent_a"), "inbox")["items"][0]["read"] is True


def test_inbox_pages_with_a_cursor(container, school):
    ids = [send(container, school, "teacher_a", ["parent_a"])["id"] for _ in range(3)]
    with entrypoint_hook(container, "list_messages") as call:
        first = call(ctx(school, "parent_a"), "inbox", 2)
        second = call(ctx(school, "parent_a"), "inbox", 2, first["next_cursor"])
    assert [m["id"] for m in first["items"] + second["items"]] == ids[::-1]
    assert second["next_cursor"] is None


def test_attachments_up_to_the_size_limit_R_M1(container, school, rows):
    data = "Расписание".encode() * 10
    out = send(container, school, "teacher_a", ["parent_a"], attachments=[
        {"name": "план.txt", "content_type": "text/plain", "content_base64": base64.b64encode(data).decode()}])
    with entrypoint_hook(container, "get_message") as get:
        att = get(ctx(school, "parent_a"), out["id"])["attachments"]
    assert [(a["name"], a["size"]) for a in att] == [("план.txt", len(data))]
    with entrypoint_hook(container, "get_attachment") as get:
        assert base64.b64decode(get(ctx(school, "parent_a"), out["id"], att[0]["id"])["content_base64"]) == data
        with pytest.raises(ServiceError) as err:
            get(ctx(school, "parent_b"), out["id"], att[0]["id"])
        assert remote_code(err.value) == "NOT_FOUND"
    big = base64.b64encode(b"x" * (domain.MAX_ATTACHMENT_BYTES + 1)).decode()
    with pytest.raises(ServiceError) as err:
        send(container, school, "teacher_a", ["parent_a"], attachments=[
            {"name": "big.bin", "content_type": "application/octet-stream", "content_base64": big}])
    assert remote_code(err.value) == "ATTACHMENT_TOO_LARGE"
    assert len(rows(store.Message)) == 1


@pytest.mark.parametrize("body,field", [
    ({"to": [], "subject": "a", "body": "b"}, "to"),
    ({"to": ["x"], "subject": "", "body": "b"}, "subject"),
    ({"to": ["x"], "subject": "a"}, "body"),
    ({"to": "x", "subject": "a", "body": "b"}, "to"),
    ({"to": ["x"], "subject": "a", "body": "b", "attachments": [{"name": "a", "content_base64": "%%%"}]},
     "attachments[0].content_base64"),
])
def test_bad_letters_are_validation_errors(container, school, body, field):
    with entrypoint_hook(container, "send_message") as call, pytest.raises(ServiceError) as err:
        call(ctx(school, "teacher_a"), body)
    assert (err.value.code, err.value.details["field"]) == ("VALIDATION_ERROR", field)
