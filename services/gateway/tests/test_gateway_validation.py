"""Every JSON body is validated against its OpenAPI schema before any
service is called: unknown fields, wrong types, missing fields -> 400."""
from __future__ import annotations

import pytest

from gateway.validation import problems

P = "/api/v1"
LESSON = {"class_id": "c1", "subject_id": "s1", "date": "2026-10-12", "topic": "Дроби", "lesson_type": "lesson"}


def post(client, auth, url, body, method="POST", **kw):
    return client.open(P + url, method=method, json=body, headers=auth(roles=["admin"]), **kw)


def problem_map(response) -> dict:
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert body["error"] == "VALIDATION_ERROR"
    assert body["message"] == "Некорректные данные запроса"
    return {p["field"]: p["message"] for p in body["details"]["problems"]}


def test_unknown_field_is_rejected(client, fake, auth):
    found = problem_map(post(client, auth, "/subjects", {"name": "Химия", "is_admin": True}))
    assert found == {"is_admin": "неизвестное поле"}
    assert fake.rpc_calls == []


def test_unknown_nested_field_is_rejected(client, fake, auth):
    body = {"marks": [{"student_id": "st1", "value": 5, "grade_override": 5}]}
    found = problem_map(post(client, auth, "/lessons/l1/marks", body, method="PUT"))
    assert found == {"marks[0].grade_override": "неизвестное поле"}
    assert fake.rpc_calls == []


def test_wrong_types_are_rejected(client, fake, auth):
    body = {"marks": [{"student_id": "st1", "value": "5"}, {"student_id": 7, "value": 4, "weight": 1.5}]}
    found = problem_map(post(client, auth, "/lessons/l1/marks", body, method="PUT"))
    assert found == {"marks[0].value": "неверный тип значения", "marks[1].student_id": "неверный тип значения",
                     "marks[1].weight": "неверный тип значения"}
    assert fake.rpc_calls == []


def test_missing_fields_are_listed(client, fake, auth):
    found = problem_map(post(client, auth, "/lessons", {"class_id": "c1", "date": "2026-10-12"}))
    assert found == {"subject_id": "обязательное поле", "topic": "обязательное поле",
                     "lesson_type": "обязательное поле"}
    assert fake.rpc_calls == []


def test_empty_topic_is_rejected(client, fake, auth):
    """R-J1: the topic is required, an empty one too."""
    found = problem_map(post(client, auth, "/lessons", {**LESSON, "topic": ""}))
    assert found == {"topic": "слишком короткое значение"}


@pytest.mark.parametrize("value", ["12.10.2026", "2026-02-30", "2026-1-5", 20261012])
def test_dates_must_be_real_yyyy_mm_dd(client, fake, auth, value):
    found = problem_map(post(client, auth, "/lessons", {**LESSON, "date": value}))
    assert list(found) == ["date"]
    assert fake.rpc_calls == []


def test_optional_fields_accept_null(client, fake, auth):
    fake.rpc_answers[("journal", "record_lesson")] = {"id": "l1", "late": False}
    response = post(client, auth, "/lessons", {**LESSON, "homework": None, "subgroup_id": None})
    assert response.status_code == 201


def test_enum_and_bounds(client, fake, auth):
    body = {"name": "2026/2027", "starts_on": "2026-09-01", "ends_on": "2027-05-31",
            "periods": [{"name": "x", "kind": "semester", "starts_on": "2026-09-01", "ends_on": "2026-12-31"}]}
    assert problem_map(post(client, auth, "/years", body)) == {"periods[0].kind": "недопустимое значение"}
    found = problem_map(post(client, auth, "/classes", {"year_id": "y", "grade": 12, "letter": "А",
                                                         "class_teacher_id": "t"}))
    assert found == {"grade": "слишком большое значение"}
    found = problem_map(post(client, auth, "/users", {"login": "a", "full_name": "Б", "roles": ["superuser"]}))
    assert found == {"roles[0]": "недопустимое значение"}


def test_mark_scale_is_left_to_the_journal(client, fake, auth):
    """R-J3: value 7 is well-formed; the journal answers 422 INVALID_MARK, not the gateway."""
    fake.rpc_answers[("journal", "post_marks")] = {"marks": []}
    response = post(client, auth, "/lessons/l1/marks", {"marks": [{"student_id": "s", "value": 7}]}, method="PUT")
    assert response.status_code == 200
    assert fake.last_rpc()["args"][2] == [{"student_id": "s", "value": 7}]


@pytest.mark.parametrize("data,content_type", [
    ("{not json", "application/json"),
    ("[1, 2]", "application/json"),
    ('"text"', "application/json"),
    ('{"name": "Химия"}', "text/plain"),
    ("name=Химия", "application/x-www-form-urlencoded"),
    (b"\xff\xfe", "application/json"),
])
def test_body_must_be_a_json_object(client, fake, auth, data, content_type):
    response = client.post(f"{P}/subjects", data=data, content_type=content_type, headers=auth(roles=["admin"]))
    assert response.status_code == 400
    assert response.get_json()["error"] == "MALFORMED_JSON"
    assert fake.rpc_calls == []


def test_login_body_is_validated(client, fake):
    response = client.post(f"{P}/auth/login", json={"login": "x"})
    assert problem_map(response) == {"password": "обязательное поле"}
    assert fake.identity.calls == []


def test_problems_helper_on_plain_values():
    assert problems("ConsentRequest", {"given": "yes", "signed_on": "2026-09-01"}) == [
        {"field": "given", "message": "неверный тип значения"}]
    assert problems("ConsentRequest", {"given": True, "signed_on": "2026-09-01"}) == []
    assert problems("PostMarksRequest", {"marks": []}) == [{"field": "marks", "message": "слишком мало элементов"}]
