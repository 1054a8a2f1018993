"""Routes of the remaining regulation rules: a subject's R-F2 emphasis on
POST /subjects and PATCH /subjects/{id}, and the tamper check covering
attendance (R-J7); the right RPC, the API's shapes, documented in OpenAPI."""
from __future__ import annotations

from gateway_doc import assert_documented
from gateway_fakes import remote_error

P = "/api/v1"
USER = "11111111-1111-4111-8111-111111111111"


def test_create_subject_passes_emphasis_through(client, fake, auth):
    answer = {"id": "s1", "name": "Черчение", "emphasis": True}
    fake.rpc_answers[("journal", "create_subject")] = answer
    response = client.post(f"{P}/subjects", json={"name": "Черчение", "emphasis": True},
                           headers=auth(sub=USER, roles=["admin"]))
    assert response.status_code == 201 and response.get_json() == answer
    call = fake.last_rpc()
    assert call["method"] == "create_subject" and call["args"][1] == {"name": "Черчение", "emphasis": True}
    assert_documented(response, f"{P}/subjects", "POST")
    bad = client.post(f"{P}/subjects", json={"name": "Черчение", "emphasis": "да"}, headers=auth(roles=["admin"]))
    assert bad.status_code == 400 and bad.get_json()["details"]["problems"][0]["field"] == "emphasis"


def test_update_subject_changes_the_emphasis_r_f2(client, fake, auth):
    answer = {"id": "s1", "name": "Химия", "emphasis": False}
    fake.rpc_answers[("journal", "update_subject")] = answer
    response = client.patch(f"{P}/subjects/s1", json={"emphasis": False}, headers=auth(sub=USER, roles=["admin"]))
    assert response.status_code == 200 and response.get_json() == answer
    call = fake.last_rpc()
    assert call["method"] == "update_subject" and call["args"][1:] == ("s1", {"emphasis": False})
    assert call["args"][0]["actor_id"] == USER
    assert_documented(response, f"{P}/subjects/{{id}}", "PATCH")
    calls = len(fake.rpc_calls)
    for body in ({}, {"emphasis": None}, {"emphasis": True, "name": "Новое имя"}):
        bad = client.patch(f"{P}/subjects/s1", json=body, headers=auth(roles=["admin"]))
        assert bad.status_code == 400 and bad.get_json()["error"] == "VALIDATION_ERROR", body
    assert len(fake.rpc_calls) == calls  # refused before the journal is asked
    assert client.patch(f"{P}/subjects/s1", json={"emphasis": True}).status_code == 401


def test_update_subject_errors_are_the_journals(client, fake, auth):
    fake.rpc_answers[("journal", "update_subject")] = remote_error("not_found", "NOT_FOUND", "Предмет не найден")
    response = client.patch(f"{P}/subjects/nope", json={"emphasis": True}, headers=auth(roles=["admin"]))
    assert response.status_code == 404 and response.get_json()["error"] == "NOT_FOUND"
    fake.rpc_answers[("journal", "update_subject")] = remote_error("forbidden", "FORBIDDEN", "Нет прав")
    assert client.patch(f"{P}/subjects/s1", json={"emphasis": True},
                        headers=auth(roles=["teacher"])).status_code == 403


def test_verify_reports_attendance_beside_marks_r_j7(client, fake, auth):
    answer = {"ok": False, "checked": 3, "broken_count": 0, "broken": [],
              "attendance": {"checked": 4, "broken_count": 1, "broken": [
                  {"attendance_id": "a1", "lesson_id": "l1", "student_id": "st1", "problems": ["status"]}]}}
    fake.rpc_answers[("journal", "verify_journal")] = answer
    response = client.get(f"{P}/journal/verify", headers=auth(roles=["deputy"]))
    assert response.status_code == 200 and response.get_json() == answer
    assert_documented(response, f"{P}/journal/verify", "GET")


LESSON = {"teacher_id": "t1", "class_id": "c1", "subject_id": "s1", "date": "2026-10-12", "topic": "Дроби",
          "lesson_type": "урок", "recorded_on": "2026-10-12"}


def test_import_lessons_passes_the_body_and_the_key_through(client, fake, auth):
    answer = {"imported": 1, "late": 0, "overdue": 0, "lessons": [
        {"id": "l1", "date": "2026-10-12", "recorded_on": "2026-10-12", "late": False, "overdue": False}]}
    fake.rpc_answers[("journal", "import_lessons")] = answer
    key = "6f1c2d3e-4b5a-4c6d-8e7f-00112233aaaa"
    response = client.post(f"{P}/imports/lessons", json={"lessons": [LESSON]},
                           headers={**auth(sub=USER, roles=["admin"]), "Idempotency-Key": key})
    assert response.status_code == 200 and response.get_json() == answer
    call = fake.last_rpc()
    assert call["method"] == "import_lessons" and call["args"][1] == {"lessons": [LESSON]}
    assert call["kwargs"] == {"idempotency_key": key}
    assert_documented(response, f"{P}/imports/lessons", "POST")
    calls = len(fake.rpc_calls)
    for body in ({"lessons": []}, {"lessons": [{k: v for k, v in LESSON.items() if k != "recorded_on"}]},
                 {"lessons": [{**LESSON, "late": False}]}):
        bad = client.post(f"{P}/imports/lessons", json=body, headers=auth(roles=["admin"]))
        assert bad.status_code == 400 and bad.get_json()["error"] == "VALIDATION_ERROR", body
    assert len(fake.rpc_calls) == calls
