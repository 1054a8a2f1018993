"""Body size (docs/api.md "Body size"): every route that takes a body
refuses one over its limit with 413 PAYLOAD_TOO_LARGE in the error shape,
before any service is asked; the largest legitimate body of each route
(500 marks, a letter with all its attachments, a 1000-lesson import, a
students file) fits under its limit; the OpenAPI document gives each
operation's figure."""
from __future__ import annotations

import base64
import json

import pytest

from gateway import bodies
from gateway.openapi import API_PREFIX as P, document
from kernel import limits

UUID = "33333333-3333-4333-8333-333333333333"
LONG_ID = "и" * 64  # an id at the document's maxLength (ID), Cyrillic: the most bytes


def schema(name: str) -> dict:
    return document()["components"]["schemas"][name]


def most(name: str, field: str) -> int:
    """maxLength of ``field`` of request schema ``name`` (the nullable ones are anyOf)."""
    prop = schema(name)["properties"][field]
    return prop.get("maxLength") or next(p["maxLength"] for p in prop["anyOf"] if "maxLength" in p)


def largest_marks() -> dict:
    item = schema("MarkInput")["properties"]
    assert set(item) == {"student_id", "value", "kind", "weight", "comment"}
    return {"marks": [{"student_id": LONG_ID, "value": -10 ** 15, "kind": "я" * most("MarkInput", "kind"),
                       "weight": -10 ** 15, "comment": "я" * most("MarkInput", "comment")}
                      for _ in range(schema("PostMarksRequest")["properties"]["marks"]["maxItems"])]}


def largest_letter() -> dict:
    attachments = schema("SendMessageRequest")["properties"]["attachments"]
    count, item = attachments["maxItems"], attachments["items"]["properties"]
    raw = 512 * 1024 // count  # messaging.domain.MAX_ATTACHMENT_BYTES, together
    return {"to": [f"{i:03d}" + "и" * 61 for i in range(schema("SendMessageRequest")["properties"]["to"]["maxItems"])],
            "subject": "я" * most("SendMessageRequest", "subject"), "body": "я" * most("SendMessageRequest", "body"),
            "reply_to": LONG_ID, "to_parents_of_class": LONG_ID,
            "attachments": [{"name": "я" * item["name"]["maxLength"], "content_type": "я" * 100,
                             "content_base64": base64.b64encode(b"\xff" * raw).decode()} for _ in range(count)]}


def largest_import() -> dict:
    props = schema("ImportLessonsRequest")["properties"]["lessons"]
    lesson = {name: ("я" * (p.get("maxLength") or next((q["maxLength"] for q in p.get("anyOf", ()) if "maxLength" in q), 10)))
              for name, p in props["items"]["properties"].items()}
    return {"lessons": [lesson] * props["maxItems"]}


def json_operations() -> list:
    """``(method, path)`` of every API operation with a JSON body."""
    found = []
    for path, item in document()["paths"].items():
        for method, op in item.items():
            content = op.get("requestBody", {}).get("content", {})
            if path.startswith(P + "/") and "application/json" in content:
                found.append((method.upper(), path))
    return sorted(found)


def route_key(method: str, path: str) -> str:
    return f"{method} {path[len(P):]}"


def test_every_operation_with_a_body_documents_its_limit_and_413():
    ops = [(m, p, op) for p, item in document()["paths"].items() for m, op in item.items() if "requestBody" in op]
    assert len(ops) > 30
    for method, path, op in ops:
        most = bodies.limit(route_key(method.upper(), path) if path.startswith(P + "/") else None)
        assert op["x-max-body-bytes"] == most, (method, path)
        assert "413" in op["responses"] and str(most) in op["responses"]["413"]["description"]
    assert bodies.limit("POST /imports/students") == 4 * bodies.MIB and bodies.DEFAULT == bodies.MIB


def oversized(most: int) -> bytes:
    """A JSON object of exactly ``most + 1`` bytes."""
    head, tail = b'{"x": "', b'"}'
    return head + b"a" * (most + 1 - len(head) - len(tail)) + tail


def assert_413(response, most: int) -> None:
    assert response.status_code == 413, response.get_data(as_text=True)[:300]
    assert response.get_json() == {"error": "PAYLOAD_TOO_LARGE", "message": "Слишком большой запрос",
                                   "details": {"max_bytes": most}}


@pytest.mark.parametrize("method,path", json_operations(), ids=lambda v: v)
def test_a_body_one_byte_over_the_limit_is_413_and_no_service_is_asked(client, fake, auth, method, path):
    most = bodies.limit(route_key(method, path))
    url = path.replace("{id}", UUID).replace("{student_id}", UUID)
    response = client.open(url, method=method, data=oversized(most), content_type="application/json",
                           headers=auth(roles=["admin"]))
    assert_413(response, most)
    assert fake.rpc_calls == []
    # the limit itself is admitted: a body of exactly that size is read (and refused for what it says)
    at_limit = oversized(most)[:-3] + b'"}'
    assert len(at_limit) == most
    answer = client.open(url, method=method, data=at_limit, content_type="application/json",
                         headers=auth(roles=["admin"]))
    assert answer.status_code != 413


def test_the_students_upload_is_refused_over_its_limit_as_multipart_and_as_a_raw_body(client, fake, auth):
    most = bodies.limit("POST /imports/students")
    url = f"{P}/imports/students?class_id={UUID}&order_no=1&on=2026-09-01"
    big = b"a" * most
    import io
    response = client.post(url, data={"file": (io.BytesIO(big), "students.csv")},
                           content_type="multipart/form-data", headers=auth(roles=["admin"]))
    assert_413(response, most)
    response = client.post(url, data=big + b"a", content_type="text/csv", headers=auth(roles=["admin"]))
    assert_413(response, most)
    assert fake.rpc_calls == []
    # a large legitimate file (3 MiB) still reaches the journal
    fake.rpc_answers[("journal", "import_students")] = {"applied": True, "created": 0, "updated": 0,
                                                        "unchanged": 0, "errors": []}
    csv = ("Фамилия;Имя;Дата рождения\n" + "Иванова;Мария;2015-03-01\n" * 70000).encode()
    assert 3 * bodies.MIB > len(csv) > 2 * bodies.MIB
    response = client.post(url, data={"file": (io.BytesIO(csv), "students.csv")},
                           content_type="multipart/form-data", headers=auth(roles=["admin"]))
    assert response.status_code == 200, response.get_json()
    assert base64.b64decode(fake.last_rpc()["args"][1]["content_b64"]) == csv


def test_the_largest_legitimate_bodies_fit(client, fake, auth):
    """Built from the OpenAPI document's own maxima. 500 marks with full
    comments and a letter with all its attachments go through as a Python
    client sends them (json.dumps writes a Cyrillic letter as six bytes);
    the largest lesson import fits its limit as UTF-8 JSON."""
    fake.rpc_answers[("journal", "post_marks")] = {"marks": []}
    marks = largest_marks()
    data = json.dumps(marks).encode()
    assert bodies.MIB < len(data) <= bodies.limit("PUT /lessons/{id}/marks")  # over the default, admitted
    response = client.put(f"{P}/lessons/{UUID}/marks", data=data, content_type="application/json",
                          headers=auth(roles=["teacher"]))
    assert response.status_code != 413, response.get_json()
    assert fake.last_rpc()["method"] == "post_marks" and len(fake.last_rpc()["args"][2]) == limits.MARKS_PER_REQUEST
    fake.rpc_answers[("messaging", "send_message")] = {"id": "m1", "thread_id": "m1", "recipients": ["t1"]}
    letter = json.dumps(largest_letter()).encode()
    assert 0.75 * bodies.MIB < len(letter) <= bodies.limit("POST /messages")
    response = client.post(f"{P}/messages", data=letter, content_type="application/json",
                           headers=auth(roles=["parent"]))
    assert response.status_code != 413, response.get_json()
    assert fake.last_rpc()["method"] == "send_message"
    lessons = json.dumps(largest_import(), ensure_ascii=False).encode()
    assert 10 * bodies.MIB < len(lessons) <= bodies.limit("POST /imports/lessons")
