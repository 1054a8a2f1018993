"""Routes of corrections (R-J7), attendance (R-J2), final marks and
forecasts (R-F): the right RPC with ctx, arguments and the client's
Idempotency-Key, the API.md answer shapes, documented in OpenAPI."""
from __future__ import annotations

import pytest

from ejournal.identity.v1 import identity_pb2

from gateway_doc import assert_documented
from gateway_fakes import remote_error

P = "/api/v1"
USER = "11111111-1111-4111-8111-111111111111"
KEY = "6f1c2d3e-4b5a-4c6d-8e7f-001122334455"
CHANGE = {"id": "m1", "value": 5, "version": 2, "old": {"value": 3}, "removed": False}
FINAL = {"id": "f1", "evidence": {"marks_count": 2, "required": 3, "average": 4.5, "weighted_average": 4.5,
                                  "written_works": 0},
         "warnings": [{"code": "THIN_EVIDENCE", "message": "Текущих отметок меньше"}], "late": False}
ATTENDANCE = {"lesson_id": "l1", "changed": 1, "entries": [{"student_id": "st1", "status": "ill", "version": 1}]}

# (method, url, documented path, body, rpc method, args after ctx, answer, status)
WRITES = [
    ("PATCH", "/marks/m1", "/marks/{id}", {"value": 5, "reason": "Ошибка"}, "correct_mark",
     lambda b: ("m1", b), CHANGE, 200),
    ("DELETE", "/marks/m1", "/marks/{id}", {"reason": "Не тому ученику"}, "remove_mark",
     lambda b: ("m1", b), {**CHANGE, "removed": True}, 204),
    ("PUT", "/lessons/l1/attendance", "/lessons/{id}/attendance",
     {"entries": [{"student_id": "st1", "status": "ill"}], "reason": "Справка"}, "record_attendance",
     lambda b: ("l1", b), ATTENDANCE, 200),
    ("PUT", "/final-marks", "/final-marks", {"student_id": "st1", "subject_id": "s1", "period_id": "p1", "value": 5},
     "post_final_mark", lambda b: (b,), FINAL, 200),
    ("PUT", "/lessons/l1/marks", "/lessons/{id}/marks", {"marks": [{"student_id": "st1", "value": 5}]},
     "post_marks", lambda b: ("l1", b["marks"]), {"marks": [{"id": "m1", "student_id": "st1", "value": 5}]}, 200),
    ("POST", "/lessons", "/lessons", {"class_id": "c1", "subject_id": "s1", "date": "2026-10-12", "topic": "Дроби",
                                      "lesson_type": "урок"},
     "record_lesson", lambda b: (b,), {"id": "l1", "late": False}, 201),
]


@pytest.mark.parametrize("method,url,path,body,rpc,args,answer,status", WRITES, ids=[f"{w[0]} {w[1]}" for w in WRITES])
def test_writes_pass_the_idempotency_key_through(client, fake, auth, method, url, path, body, rpc, args, answer,
                                                  status):
    """API.md: Idempotency-Key reaches the journal, which returns the first result on a retry."""
    fake.rpc_answers[("journal", rpc)] = answer
    response = client.open(P + url, method=method, json=body,
                           headers={**auth(sub=USER, roles=["teacher"]), "Idempotency-Key": KEY})
    assert response.status_code == status, response.get_json()
    call = fake.last_rpc()
    assert call["method"] == rpc and call["kwargs"] == {"idempotency_key": KEY}
    assert call["args"][1:] == args(body) and call["args"][0]["actor_id"] == USER
    if status != 204:
        assert response.get_json() == answer
    assert_documented(response, P + path, method)
    # without the header nothing extra is passed
    client.open(P + url, method=method, json=body, headers=auth(sub=USER, roles=["teacher"]))
    assert fake.last_rpc()["kwargs"] == {}


def test_reused_key_is_409(client, fake, auth):
    fake.rpc_answers[("journal", "correct_mark")] = remote_error(
        "conflict", "IDEMPOTENCY_KEY_REUSED", "Этот ключ Idempotency-Key уже использован для другого запроса")
    response = client.patch(f"{P}/marks/m1", json={"value": 4, "reason": "x"},
                            headers={**auth(roles=["teacher"]), "Idempotency-Key": KEY})
    assert response.status_code == 409 and response.get_json()["error"] == "IDEMPOTENCY_KEY_REUSED"
    assert_documented(response, f"{P}/marks/{{id}}", "PATCH")


@pytest.mark.parametrize("method,url,body,field", [
    ("PATCH", "/marks/m1", {"value": 5}, "reason"),
    ("DELETE", "/marks/m1", {}, "reason"),
    ("PUT", "/lessons/l1/attendance", {"entries": [{"student_id": "s", "status": "sick"}]}, "entries[0].status"),
    ("PUT", "/final-marks", {"student_id": "s", "subject_id": "m", "value": 5}, "period_id"),
])
def test_malformed_bodies_are_400_without_a_call_r_j7(client, fake, auth, method, url, body, field):
    response = client.open(P + url, method=method, json=body, headers=auth(roles=["teacher"]))
    assert response.status_code == 400
    assert field in [p["field"] for p in response.get_json()["details"]["problems"]]
    assert fake.rpc_calls == []


def test_history_is_the_list_of_versions_with_the_chain_verdict(client, fake, auth):
    items = [{"version": 1, "value": 3, "by": "t1", "at": "2026-10-12T08:00:00+00:00", "reason": None},
             {"version": 2, "value": 5, "by": "t1", "at": "2026-10-13T08:00:00+00:00", "reason": "Ошибка"}]
    fake.rpc_answers[("journal", "mark_history")] = {"mark_id": "m1", "verified": False, "problems": ["chain"],
                                                     "items": items}
    response = client.get(f"{P}/marks/m1/history", headers=auth(roles=["deputy"]))
    assert response.status_code == 200 and response.get_json() == items
    assert response.headers["X-Chain-Verified"] == "false"
    assert_documented(response, f"{P}/marks/{{id}}/history", "GET")


def test_verify_endpoint(client, fake, auth):
    answer = {"ok": False, "checked": 10, "broken_count": 1, "broken": [{"mark_id": "m1", "problems": ["value"]}]}
    fake.rpc_answers[("journal", "verify_journal")] = answer
    response = client.get(f"{P}/journal/verify", headers=auth(roles=["admin"]))
    assert response.status_code == 200 and response.get_json() == answer
    assert_documented(response, f"{P}/journal/verify", "GET")


def test_forecast_is_for_who_sees_the_diary_r_f4(client, fake, auth):
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=True)
    items = [{"subject_id": "s1", "predicted": 4, "confidence": 0.8, "marks_count": 4, "required": 3}]
    fake.rpc_answers[("journal", "forecast")] = {"student_id": "st1", "period_id": "p1", "items": items}
    response = client.get(f"{P}/students/st1/forecast?period_id=p1", headers=auth(roles=["parent"]))
    assert response.status_code == 200 and response.get_json() == items
    assert fake.last_rpc()["args"][1:] == ("st1", "p1")
    (authz,) = fake.identity.called("Authorize")
    assert (authz.action, authz.resource_type, authz.resource_id) == ("diary.read", "student", "st1")
    assert_documented(response, f"{P}/students/{{id}}/forecast", "GET")
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=False, denial="not_found")
    before = len(fake.rpc_calls)
    assert client.get(f"{P}/students/st2/forecast", headers=auth(roles=["parent"])).status_code == 404
    assert len(fake.rpc_calls) == before


def test_students_at_risk(client, fake, auth):
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=True)
    answer = {"class_id": "c1", "period_id": "p1", "items": [
        {"student_id": "st1", "full_name": "Антонов Антон", "subjects": [{"subject_id": "s1",
                                                                          "reasons": ["LOW_FORECAST"]}]}]}
    fake.rpc_answers[("journal", "students_at_risk")] = answer
    response = client.get(f"{P}/classes/c1/at-risk", headers=auth(roles=["class_teacher"]))
    assert response.status_code == 200 and response.get_json() == answer
    assert fake.last_rpc()["args"][1:] == ("c1", None)
    assert_documented(response, f"{P}/classes/{{id}}/at-risk", "GET")


def test_class_journal_grid_over_grpc(client, fake, auth):
    """API.md GET /classes/{id}/journal: the viewer goes to the journal, which decides access."""
    from ejournal.journal.v1 import journal_pb2
    fake.journal.answers["GetClassJournal"] = journal_pb2.ClassJournal(
        class_id="c1", subject_id="s1", period_id="p1", starts_on="2026-09-01", ends_on="2026-12-28",
        class_name="5А", subject_name="Математика", year_id="y1", year_name="2026/2027",
        periods=[journal_pb2.GridPeriod(id="p1", name="1 полугодие", kind="half_year", starts_on="2026-09-01",
                                        ends_on="2026-12-28")],
        students=[journal_pb2.GridStudent(id="st1", full_name="Антонова Анна")],
        lessons=[journal_pb2.GridLesson(id="l1", date="2026-10-12", topic="Дроби", lesson_type="урок")],
        marks=[journal_pb2.GridMark(id="m1", lesson_id="l1", student_id="st1", value=5, kind="oral", weight=1,
                                    version=2)],
        attendance=[journal_pb2.GridAttendance(lesson_id="l1", student_id="st1", status="late", version=1)],
        finals=[journal_pb2.GridFinal(id="f1", student_id="st1", period_id="p1", period_kind="quarter", value=5)])
    response = client.get(f"{P}/classes/c1/journal?subject_id=s1", headers=auth(sub=USER, roles=["teacher"]))
    assert response.status_code == 200
    body = response.get_json()
    assert body["marks"] == [{"id": "m1", "lesson_id": "l1", "student_id": "st1", "value": 5, "kind": "oral",
                              "weight": 1, "comment": None, "version": 2}]
    assert body["lessons"][0]["homework"] is None and body["attendance"][0]["status"] == "late"
    assert body["finals"][0]["value"] == 5 and body["students"][0]["full_name"] == "Антонова Анна"
    assert (body["class_name"], body["subject_name"]) == ("5А", "Математика")
    assert body["year"] == {"id": "y1", "name": "2026/2027", "periods": [
        {"id": "p1", "name": "1 полугодие", "kind": "half_year", "starts_on": "2026-09-01", "ends_on": "2026-12-28"}]}
    (req,) = fake.journal.called("GetClassJournal")
    assert (req.class_id, req.subject_id, req.period_id, req.viewer_id, list(req.viewer_roles)) == (
        "c1", "s1", "", USER, ["teacher"])
    assert_documented(response, f"{P}/classes/{{id}}/journal", "GET")
    missing = client.get(f"{P}/classes/c1/journal", headers=auth(roles=["teacher"]))
    assert missing.status_code == 400


def test_class_journal_grid_shows_who_taught_each_lesson_r_j6(client, fake, auth):
    """A substitution (R-J6): the grid names the teacher who actually gave
    the lesson and the one replaced; an ordinary lesson has no substitute."""
    from ejournal.journal.v1 import journal_pb2
    fake.journal.answers["GetClassJournal"] = journal_pb2.ClassJournal(
        class_id="c1", subject_id="s1", period_id="p1", starts_on="2026-09-01", ends_on="2026-12-28",
        lessons=[journal_pb2.GridLesson(id="l1", date="2026-10-12", topic="Дроби", lesson_type="урок",
                                        teacher_id="t1", teacher_name="Иванова Ирина"),
                 journal_pb2.GridLesson(id="l2", date="2026-10-13", topic="Проценты", lesson_type="урок",
                                        teacher_id="t2", teacher_name="Петров Пётр", substitute_for="t1",
                                        substitute_for_name="Иванова Ирина")])
    response = client.get(f"{P}/classes/c1/journal?subject_id=s1", headers=auth(sub=USER, roles=["deputy"]))
    assert response.status_code == 200
    own, substituted = response.get_json()["lessons"]
    assert (own["teacher"], own["substitute_for"]) == ({"id": "t1", "full_name": "Иванова Ирина"}, None)
    assert substituted["teacher_id"] == "t2"
    assert substituted["teacher"] == {"id": "t2", "full_name": "Петров Пётр"}
    assert substituted["substitute_for"] == {"id": "t1", "full_name": "Иванова Ирина"}
    assert_documented(response, f"{P}/classes/{{id}}/journal", "GET")
