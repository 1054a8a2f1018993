"""Text every database can keep, checked once at the gateway for every
route (gateway.guard, gateway.validation): a NUL or a lone UTF-16
surrogate anywhere in a request is 400 naming the field, before any
service hears of it; JSON nested too deep is 400, never RecursionError."""
from __future__ import annotations

import io
import json

import pytest

from gateway.validation import MAX_JSON_DEPTH, json_text_problems

P = "/api/v1"
LESSON = {"class_id": "c1", "subject_id": "s1", "date": "2026-10-12", "topic": "Дроби", "lesson_type": "урок"}


def fields(response) -> set:
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert body["error"] == "VALIDATION_ERROR"
    return {p["field"] for p in body["details"]["problems"]}


def assert_nothing_reached_a_service(fake):
    assert fake.rpc_calls == [] and fake.journal.calls == []
    assert {name for name, *_ in fake.identity.calls} <= {"Authorize"}


def raw(client, method, url, text: str, headers=None):
    """A JSON body as the client wrote it (json= would refuse lone surrogates)."""
    return client.open(P + url, method=method, data=text.encode("utf-8"), content_type="application/json",
                       headers=headers or {})


@pytest.mark.parametrize("bad", ["\\u0000", "\\ud800", "\\udfff", "a\\udc00b"])
def test_login_with_broken_text_is_400_and_identity_never_hears_of_it(client, fake, bad):
    response = raw(client, "POST", "/auth/login", f'{{"login": "ivanov{bad}", "password": "x"}}')
    assert fields(response) == {"login"}
    assert response.get_json()["details"]["problems"][0]["message"].startswith("недопустимые символы")
    assert fake.identity.calls == []


def test_a_lone_surrogate_sent_as_raw_utf8_bytes_is_refused_and_a_pair_is_good_text(client, fake, auth):
    """json decodes with "surrogatepass": the bytes ED A0 80 become a lone
    surrogate. An emoji sent as an escaped pair is one real character."""
    body = '{"subject": "Тема", "body": "Текст", "to": ["u1"]}'.encode().replace("Тема".encode(), b"\xed\xa0\x80")
    response = client.post(f"{P}/messages", data=body, content_type="application/json", headers=auth(roles=["parent"]))
    assert fields(response) == {"subject"}
    assert_nothing_reached_a_service(fake)
    fake.rpc_answers[("journal", "record_lesson")] = {"id": "l1", "late": False}
    response = raw(client, "POST", "/lessons", json.dumps({**LESSON, "topic": "Дроби \ud83d\ude00"}),
                   auth(roles=["teacher"]))
    assert response.status_code == 201
    assert fake.last_rpc()["args"][1]["topic"] == "Дроби 😀"


def test_a_nested_json_string_is_named_by_its_path(client, fake, auth):
    body = ('{"marks": [{"student_id": "s1", "value": 5}, '
            '{"student_id": "s2", "value": 4, "comment": "молодец\\u0000"}]}')
    response = raw(client, "PUT", "/lessons/l1/marks", body, auth(roles=["teacher"]))
    assert fields(response) == {"marks[1].comment"}
    assert_nothing_reached_a_service(fake)


def test_broken_keys_are_refused_too_and_shown_readably(client, fake, auth):
    response = raw(client, "POST", "/lessons", json.dumps(LESSON)[:-1] + ', "x\\ud83d": 1, "y\\u0000": 2}',
                   auth(roles=["teacher"]))
    assert fields(response) == {"x\ufffd", "y\ufffd"}
    assert_nothing_reached_a_service(fake)


@pytest.mark.parametrize("url", ["/students/st%001/diary", "/users/u%001", "/messages/m1/attachments/a%00"])
def test_path_values_with_nul_are_400_naming_them(client, fake, auth, url):
    response = client.get(P + url, headers=auth(roles=["admin"]))
    found = fields(response)
    assert found == ({"attachment_id"} if "attachments" in url else {"id"})
    assert_nothing_reached_a_service(fake)
    asked = [r.resource_id for r in fake.identity.called("Authorize")]
    assert asked == (["m1"] if "attachments" in url else [])  # a broken id is never asked about


def test_query_values_and_names_with_nul_are_400(client, fake, auth):
    response = client.get(f"{P}/classes/c1/journal?subject_id=s%001&x%00=1", headers=auth(roles=["admin"]))
    assert fields(response) == {"subject_id", "x\ufffd"}
    assert_nothing_reached_a_service(fake)


def test_a_multipart_file_name_with_nul_is_400(client, fake, auth):
    data = {"file": (io.BytesIO(b"x;y\n"), "ученики\x00.csv")}
    response = client.post(f"{P}/imports/students?class_id=c1&order_no=1&on=2026-09-01", data=data,
                           content_type="multipart/form-data", headers=auth(roles=["admin"]))
    assert fields(response) == {"file.filename"}
    assert_nothing_reached_a_service(fake)


def test_a_message_with_broken_text_in_an_attachment_name_is_400(client, fake, auth):
    body = json.dumps({"to": ["u1"], "subject": "Тема", "body": "Текст",
                       "attachments": [{"name": "x", "content_base64": "eA=="}]}).replace('"x"', '"x\\udbff"')
    response = raw(client, "POST", "/messages", body, auth(roles=["parent"]))
    assert fields(response) == {"attachments[0].name"}
    assert_nothing_reached_a_service(fake)


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 1, 1000, 100_000])
@pytest.mark.parametrize("url,method,headers", [("/auth/login", "POST", False), ("/lessons", "POST", True)])
def test_json_nested_too_deep_is_400_without_recursion_error(client, fake, auth, levels, url, method, headers):
    body = '{"a": ' * (levels - 1) + '{"b": 1' + "}" * levels
    response = raw(client, method, url, body, auth(roles=["teacher"]) if headers else None)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"] == "MALFORMED_JSON"
    assert response.get_json()["details"] == {"max_depth": MAX_JSON_DEPTH}
    assert_nothing_reached_a_service(fake)


def test_the_depth_limit_is_exact(client, fake, auth):
    """MAX_JSON_DEPTH levels are read (the schema then speaks), one more is not."""
    body = '{"x": ' * MAX_JSON_DEPTH + "1" + "}" * MAX_JSON_DEPTH
    assert fields(raw(client, "POST", "/subjects", body, auth(roles=["admin"]))) == {"name", "x"}
    response = raw(client, "POST", "/subjects", '{"x": ' + body + "}", auth(roles=["admin"]))
    assert (response.status_code, response.get_json()["error"]) == (400, "MALFORMED_JSON")


def test_text_problems_are_bounded_and_the_walk_is_not_recursive():
    many = {f"k{n}": "\x00" for n in range(500)}
    assert len(json_text_problems(many)) == 20
    nested = current = {}
    for _ in range(5000):  # deeper than the recursion limit: the walk keeps its own stack
        current["a"] = current = {}
    current["z"] = "\ud800"
    (found,) = json_text_problems(nested)
    assert found["field"].endswith(".a.z")
