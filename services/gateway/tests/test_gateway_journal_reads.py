"""The list reads (gateway.api_journal_reads, API.md "Reads the portal and
scripts need"): each asks the central decision its guard row names, calls
the right RPC with the caller's ctx and the validated query, and answers
the documented shape; a bad limit or cursor is 400 before any call; a class
list gains its families from identity only when the journal says the caller
may see them (R-A2, R-A4)."""
from __future__ import annotations

import pytest
from ejournal.identity.v1 import identity_pb2

from kernel import limits

from gateway_doc import assert_documented
from gateway_fakes import remote_error

P = "/api/v1"
USER = "22222222-2222-4222-8222-222222222222"
PAGE = {"limit": limits.LIST_LIMIT}
PERSON = {"id": "t1", "full_name": "Учитель Пётр"}
LESSON = {"id": "l1", "class_id": "c1", "subject": {"id": "s1", "name": "Математика"}, "date": "2026-10-12",
          "topic": "Дроби", "lesson_type": "урок", "work_type": None, "homework": "№ 5", "subgroup_id": None,
          "teacher": PERSON, "substitute_for": None, "entered_at": "2026-10-12T09:00:00+00:00", "late": False,
          "overdue": False, "imported": False, "recorded_on": None}


def ctx_of(response, roles):
    return {"actor_id": USER, "school_id": "school-1", "roles": list(roles),
            "correlation_id": response.headers["X-Correlation-Id"]}


def listing(*items, cursor=None):
    return {"items": list(items), "next_cursor": cursor}


ROUTES = [
    ("/years", "/years", ["teacher"], "list_years", (PAGE,), listing(
        {"id": "y1", "name": "2026/2027", "starts_on": "2026-09-01", "ends_on": "2027-05-31", "closed": False,
         "periods": [{"id": "p1", "name": "1 четверть", "kind": "quarter", "starts_on": "2026-09-01",
                      "ends_on": "2026-10-26"}]}, cursor="abc")),
    ("/subjects?limit=2&cursor=abc", "/subjects", ["secretary"], "list_subjects", ({"limit": 2, "cursor": "abc"},),
     listing({"id": "s1", "name": "Математика", "emphasis": True})),
    ("/classes?year_id=y1", "/classes", ["deputy"], "list_classes", ({"year_id": "y1", **PAGE},), listing(
        {"id": "c1", "name": "5А", "year_id": "y1", "grade": 5, "letter": "А", "class_teacher": PERSON, "size": 25},
        {"id": "c2", "name": "5Б", "year_id": "y1", "grade": 5, "letter": "Б", "class_teacher": None, "size": 0})),
    ("/me/classes", "/me/classes", ["teacher"], "list_my_classes", (PAGE,), listing(
        {"class": {"id": "c1", "name": "5А", "year_id": "y1"}, "subject": {"id": "s1", "name": "Математика"},
         "subgroup": None, "source": "assignment"})),
    ("/classes/c1/lessons?subject_id=s1&from=2026-10-01&to=2026-10-31", "/classes/{id}/lessons", ["teacher"],
     "list_class_lessons", ("c1", {"subject_id": "s1", "from": "2026-10-01", "to": "2026-10-31", **PAGE}),
     listing(LESSON)),
    ("/lessons/l1", "/lessons/{id}", ["class_teacher"], "get_lesson", ("l1",), {
        **LESSON, "class": {"id": "c1", "name": "5А"},
        "marks": [{"id": "m1", "student": {"id": "st1", "full_name": "Анна"}, "value": 5, "kind": "oral",
                   "weight": 1, "comment": None, "version": 1, "author_id": "t1",
                   "created_at": "2026-10-12T09:05:00+00:00"}],
        "attendance": [{"student": {"id": "st2", "full_name": "Борис"}, "status": "absent", "version": 1,
                        "updated_by": "t1", "updated_at": "2026-10-12T09:05:00+00:00"}]}),
    ("/students/st1/attendance-history?from=2026-10-01", "/students/{id}/attendance-history", ["director"],
     "attendance_history", ("st1", {"from": "2026-10-01", **PAGE}), listing(
         {"lesson": {"id": "l1", "date": "2026-10-12", "subject": {"id": "s1", "name": "Математика"}},
          "version": 2, "old": "absent", "new": "excused", "by": PERSON, "at": "2026-10-13T08:00:00+00:00",
          "reason": "справка"})),
    ("/students/st1/final-marks?year_id=y1", "/students/{id}/final-marks", ["parent"], "student_final_marks",
     ("st1", {"year_id": "y1", **PAGE}), {**listing(
         {"id": "f1", "period": {"id": "p1", "name": "1 четверть", "kind": "quarter"},
          "subject": {"id": "s1", "name": "Математика"}, "value": 5, "late": False, "version": 1,
          "entered_at": "2026-10-27T10:00:00+00:00"}), "year_id": "y1"}),
]


@pytest.mark.parametrize("url,path,roles,rpc,args,answer", ROUTES, ids=[r[0] for r in ROUTES])
def test_read_passes_ctx_and_query_and_answers_the_documented_shape(client, fake, auth, url, path, roles, rpc,
                                                                    args, answer):
    fake.rpc_answers[("journal", rpc)] = answer
    response = client.get(P + url, headers=auth(sub=USER, roles=roles))
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == answer
    call = fake.last_rpc()
    assert (call["service"], call["method"]) == ("journal", rpc)
    assert call["args"] == (ctx_of(response, roles),) + args
    assert_documented(response, P + path, "GET")


@pytest.mark.parametrize("url,action,resource,rid,context", [
    ("/classes/c1/students", "class.journal.read", "class", "c1", {}),
    ("/classes/c1/lessons?subject_id=s1", "class.journal.read", "class", "c1", {"subject_id": "s1"}),
    ("/lessons/l1", "lesson.read", "lesson", "l1", {}),
    ("/students/st1/attendance-history", "attendance.history", "student", "st1", {}),
    ("/students/st1/final-marks", "diary.read", "student", "st1", {}),
])
def test_a_resource_read_asks_the_central_decision_and_404_tells_nothing(client, fake, auth, url, action, resource,
                                                                       rid, context):
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=False, denial="not_found", reason="x")
    response = client.get(P + url + ("&" if "?" in url else "?") + "limit=0", headers=auth(sub=USER,
                                                                                            roles=["deputy"]))
    assert response.status_code == 404  # before the bad limit is even looked at
    (request,) = fake.identity.called("Authorize")
    assert (request.action, request.resource_type, request.resource_id) == (action, resource, rid)
    assert dict(request.context) == context
    assert fake.rpc_calls == []


@pytest.mark.parametrize("url,roles", [("/years", ["student"]), ("/subjects", ["parent"]),
                                       ("/classes", ["student"]), ("/me/classes", ["secretary"])])
def test_families_and_outsiders_may_not_list(client, fake, auth, url, roles):
    response = client.get(P + url, headers=auth(sub=USER, roles=roles))
    assert response.status_code == 403
    assert fake.rpc_calls == []


@pytest.mark.parametrize("query,field", [
    ("limit=0", "limit"), (f"limit={limits.LIST_LIMIT_MAX + 1}", "limit"), ("limit=x", "limit"),
    ("cursor=" + "x" * (limits.LIST_CURSOR + 1), "cursor"), ("year_id=" + "y" * 65, "year_id"),
])
def test_a_bad_page_is_400_before_any_call(client, fake, auth, query, field):
    response = client.get(f"{P}/classes?{query}", headers=auth(sub=USER, roles=["admin"]))
    assert response.status_code == 400
    assert [p["field"] for p in response.get_json()["details"]["problems"]] == [field]
    assert fake.rpc_calls == []


def test_a_cursor_the_journal_cannot_read_is_400(client, fake, auth):
    fake.rpc_answers[("journal", "list_subjects")] = remote_error(
        "bad_request", "VALIDATION_ERROR", "Некорректный курсор", {"field": "cursor"})
    response = client.get(f"{P}/subjects?cursor=zzz", headers=auth(sub=USER, roles=["admin"]))
    assert response.status_code == 400 and response.get_json()["error"] == "VALIDATION_ERROR"
    assert_documented(response, f"{P}/subjects", "GET")


STUDENTS = listing({"id": "st1", "full_name": "Антонова Анна", "subgroups": []},
                   {"id": "st2", "full_name": "Борисов Борис", "subgroups": [
                       {"id": "g1", "name": "1 группа", "subject_id": "s2", "subject": "Английский язык"}]})
STUDENTS["class"] = {"id": "c1", "name": "5А", "year_id": "y1"}


def test_class_list_for_a_teacher_has_no_families(client, fake, auth):
    fake.rpc_answers[("journal", "list_class_students")] = {**STUDENTS, "families": False}
    response = client.get(f"{P}/classes/c1/students", headers=auth(sub=USER, roles=["teacher"]))
    assert response.status_code == 200
    assert response.get_json() == STUDENTS
    assert [c["method"] for c in fake.rpc_calls] == ["list_class_students"]
    assert_documented(response, f"{P}/classes/{{id}}/students", "GET")


def test_r_a4_class_list_for_the_class_teacher_has_parents_and_consent(client, fake, auth):
    fake.rpc_answers[("journal", "list_class_students")] = {**STUDENTS, "families": True}
    fake.rpc_answers[("identity", "class_families")] = {
        "st1": {"sex": "female", "birth_date": "2015-03-01",
                "parents": [{"id": "p1", "full_name": "Антонова Мария", "consent": True,
                             "consent_signed_on": "2026-09-01"}]}}
    response = client.get(f"{P}/classes/c1/students", headers=auth(sub=USER, roles=["class_teacher"]))
    assert response.status_code == 200
    first, second = response.get_json()["items"]
    assert first["parents"] == [{"id": "p1", "full_name": "Антонова Мария", "consent": True,
                                  "consent_signed_on": "2026-09-01"}]
    assert (first["sex"], first["birth_date"]) == ("female", "2015-03-01")
    assert second["parents"] == [] and second["sex"] is None
    call = fake.last_rpc()
    assert (call["service"], call["method"]) == ("identity", "class_families")
    assert call["args"][1:] == ("c1", ["st1", "st2"])
    assert "families" not in response.get_json()
    assert_documented(response, f"{P}/classes/{{id}}/students", "GET")


def test_every_read_is_in_the_openapi_document(client):
    doc = client.get(f"{P}/openapi.json").get_json()
    for path in ("/years", "/subjects", "/classes", "/classes/{id}/students", "/me/classes",
                 "/classes/{id}/lessons", "/lessons/{id}", "/students/{id}/attendance-history",
                 "/students/{id}/final-marks"):
        op = doc["paths"][P + path]["get"]
        names = {p["name"] for p in op.get("parameters", [])}
        assert path == "/lessons/{id}" or {"limit", "cursor"} <= names, path
    # the writes on the same paths are still there
    assert "post" in doc["paths"][P + "/classes"] and "post" in doc["paths"][P + "/classes/{id}/students"]


def test_r_f1_r_s6_the_diary_carries_final_marks_and_the_timetable(client, fake, auth):
    from ejournal.journal.v1 import journal_pb2
    reply = journal_pb2.Diary(student_id="st1", from_date="2026-10-12", to_date="2026-10-18")
    reply.finals.add(period_id="p1", period="1 четверть", period_kind="quarter", subject_id="s1",
                     subject="Математика", value=5, late=True)
    reply.timetable.add(weekday=1, number=1, subject_id="s1", subject="Математика", teacher_id="t1",
                        teacher="Учитель Пётр", room="21")
    reply.timetable.add(weekday=1, number=2, subject_id="s2", subject="Русский язык", teacher_id="t2", teacher="")
    fake.journal.answers["GetDiary"] = reply
    response = client.get(f"{P}/students/st1/diary?from=2026-10-12&to=2026-10-18",
                          headers=auth(sub=USER, roles=["parent"]))
    assert response.status_code == 200
    body = response.get_json()
    assert body["finals"] == [{"period": {"id": "p1", "name": "1 четверть", "kind": "quarter"},
                               "subject": {"id": "s1", "name": "Математика"}, "value": 5, "late": True}]
    assert [(t["number"], t["subject"], t["room"]) for t in body["timetable"]] == [
        (1, "Математика", "21"), (2, "Русский язык", None)]
    assert body["days"] == []  # the existing fields stay
    assert_documented(response, f"{P}/students/{{id}}/diary", "GET")


def test_the_forecast_names_its_subjects(client, fake, auth):
    fake.rpc_answers[("journal", "forecast")] = {"student_id": "st1", "period_id": "p1", "period_kind": "quarter",
                                                 "items": [{"subject_id": "s1", "subject": "Математика",
                                                            "predicted": 5, "confidence": 0.8}]}
    response = client.get(f"{P}/students/st1/forecast", headers=auth(sub=USER, roles=["parent"]))
    assert response.status_code == 200 and response.get_json()[0]["subject"] == "Математика"
    assert_documented(response, f"{P}/students/{{id}}/forecast", "GET")
