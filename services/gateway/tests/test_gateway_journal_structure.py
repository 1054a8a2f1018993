"""The structure routes (gateway.api_journal_structure):
each calls the right journal RPC with the caller's ctx and arguments and
answers a documented shape and status (R-S2..R-S6, R-J8)."""
from __future__ import annotations

import base64

import pytest

from gateway_doc import assert_documented

P = "/api/v1"
USER = "22222222-2222-4222-8222-222222222222"


def ctx_of(response, roles):
    return {"actor_id": USER, "school_id": "school-1", "roles": list(roles),
            "correlation_id": response.headers["X-Correlation-Id"]}


SLOTS = {"period_id": "p1", "slots": [{"weekday": 1, "number": 1, "subject_id": "s1", "teacher_id": "t1",
                                       "room": "21"}]}
PLAN = {"class_id": "c1", "subject_id": "s1", "period_id": "p1", "topics": [{"number": 1, "title": "Дроби", "hours": 4}]}

ROUTES = [
    ("POST", "/years/y1/close", "/years/{id}/close", {"order_no": "№ 120", "promote": True}, ["admin"],
     "close_year", lambda b: ("y1", b),
     {"year_id": "y1", "order_no": "№ 120", "archived": True, "next_year_id": "y2", "promoted": 1, "graduated": 0,
      "held_back": 0, "already_enrolled": 0, "created_classes": [],
      "classes": [{"from_class_id": "c1", "from": "5А", "to_class_id": "c2", "to": "6А", "students": 1}]}, 200),
    # R-S4: closing before the year's last day is said on purpose
    ("POST", "/years/y1/close", "/years/{id}/close", {"order_no": "№ 121", "promote": False, "early": True},
     ["admin"], "close_year", lambda b: ("y1", b),
     {"year_id": "y1", "order_no": "№ 121", "archived": True, "next_year_id": None, "promoted": 0, "graduated": 0,
      "held_back": 0, "already_enrolled": 0, "created_classes": [], "classes": []}, 200),
    # R-S4: the summary before the order, nothing written
    ("GET", "/years/y1/close-preview", "/years/{id}/close-preview", None, ["admin"], "preview_year_close",
     lambda b: ("y1", {"promote": True}),
     {"year_id": "y1", "archived": False, "next_year_id": "y2", "promoted": 1, "graduated": 0, "held_back": 0,
      "already_enrolled": 0, "ends_on": "2027-05-31", "early_required": True,
      "created_classes": [{"id": None, "name": "7Б"}],
      "classes": [{"from_class_id": "c1", "from": "6Б", "to_class_id": None, "to": "7Б", "students": 1}]}, 200),
    ("GET", "/years/y1/close-preview?promote=false&next_year_id=y3", "/years/{id}/close-preview", None, ["admin"],
     "preview_year_close", lambda b: ("y1", {"promote": False, "next_year_id": "y3"}),
     {"year_id": "y1", "archived": False, "next_year_id": None, "promoted": 0, "graduated": 0, "held_back": 0,
      "already_enrolled": 0, "ends_on": "2026-05-31", "early_required": False, "created_classes": [],
      "classes": []}, 200),
    ("POST", "/students/st1/transfer", "/students/{id}/transfer",
     {"to_class_id": "c2", "order_no": "№ 5", "on": "2026-10-01"}, ["admin"], "transfer_student",
     lambda b: ("st1", b), {"student_id": "st1", "from_class_id": "c1", "to_class_id": "c2", "order_no": "№ 5",
                            "on": "2026-10-01"}, 200),
    ("POST", "/students/st1/departure", "/students/{id}/departure", {"order_no": "№ 6", "on": "2026-10-01"},
     ["admin"], "record_departure", lambda b: ("st1", b),
     {"student_id": "st1", "class_id": "c1", "order_no": "№ 6", "on": "2026-10-01", "reason": "left",
      "comment": None}, 200),
    ("GET", "/students/st1/movements", "/students/{id}/movements", None, ["deputy"], "list_movements",
     lambda b: ("st1",), {"student_id": "st1", "items": []}, 200),
    ("POST", "/classes/c1/subgroups", "/classes/{id}/subgroups",
     {"subject_id": "s1", "name": "1 группа", "student_ids": ["st1"]}, ["class_teacher"], "create_subgroup",
     lambda b: ("c1", b), {"id": "g1", "class_id": "c1", "subject_id": "s1", "name": "1 группа",
                           "student_ids": ["st1"]}, 201),
    ("PUT", "/classes/c1/timetable", "/classes/{id}/timetable", SLOTS, ["scheduler"], "set_timetable",
     lambda b: ("c1", b), {"class_id": "c1", "period_id": "p1", "slots": [
         {"weekday": 1, "number": 1, "subject_id": "s1", "teacher_id": "t1", "room": "21", "subgroup_id": None}]},
     200),
    ("GET", "/classes/c1/timetable?period_id=p1", "/classes/{id}/timetable", None, ["teacher"], "get_timetable",
     lambda b: ("c1", "p1"), {"class_id": "c1", "period_id": "p1", "slots": []}, 200),
    ("POST", "/plans", "/plans", PLAN, ["teacher"], "create_plan", lambda b: (b,),
     {"id": "pl1", "class_id": "c1", "subject_id": "s1", "period_id": "p1", "teacher_id": USER, "hours": 4,
      "topics": PLAN["topics"]}, 201),
    ("GET", "/plans/coverage?period_id=p1&class_id=c1", "/plans/coverage", None, ["deputy"], "plan_coverage",
     lambda b: ("p1", "c1", None), {"period_id": "p1", "items": []}, 200),
]


@pytest.mark.parametrize("method,url,path,body,roles,rpc,args,answer,status", ROUTES, ids=[r[1] for r in ROUTES])
def test_structure_route_passes_ctx_and_arguments(client, fake, auth, method, url, path, body, roles, rpc, args,
                                                  answer, status):
    fake.rpc_answers[("journal", rpc)] = answer
    response = client.open(P + url, method=method, json=body, headers=auth(sub=USER, roles=roles))
    assert response.status_code == status, response.get_json()
    assert response.get_json() == answer
    call = fake.last_rpc()
    assert (call["service"], call["method"]) == ("journal", rpc)
    assert call["args"] == (ctx_of(response, roles),) + args(body)
    assert_documented(response, P + path, method)


def test_timetable_slot_with_unknown_field_is_400_before_any_call(client, fake, auth):
    bad = {"period_id": "p1", "slots": [{**SLOTS["slots"][0], "classroom": "21"}]}
    response = client.put(f"{P}/classes/c1/timetable", json=bad, headers=auth(sub=USER, roles=["scheduler"]))
    assert response.status_code == 400
    assert response.get_json()["details"]["problems"] == [{"field": "slots[0].classroom", "message": pytest.approx(
        response.get_json()["details"]["problems"][0]["message"])}]
    assert fake.rpc_calls == []


def test_close_preview_refuses_a_bad_promote_before_any_call(client, fake, auth):
    response = client.get(f"{P}/years/y1/close-preview?promote=maybe", headers=auth(sub=USER, roles=["admin"]))
    assert response.status_code == 400 and response.get_json()["details"]["problems"][0]["field"] == "promote"
    assert fake.rpc_calls == []


def test_coverage_needs_a_period(client, fake, auth):
    response = client.get(f"{P}/plans/coverage", headers=auth(sub=USER, roles=["deputy"]))
    assert response.status_code == 400 and response.get_json()["details"]["problems"][0]["field"] == "period_id"
    assert fake.rpc_calls == []


IMPORT_ANSWER = {"applied": True, "created": 1, "updated": 0, "unchanged": 0, "errors": [],
                 "credentials": [{"row": 2, "login": "ivanov.i", "initial_password": "x"}]}
QUERY = "?class_id=c1&order_no=%E2%84%96%203&on=2026-09-01"


@pytest.mark.parametrize("how", ["multipart", "raw"])
def test_r_s2_import_passes_the_file_and_the_order_to_the_journal(client, fake, auth, how):
    fake.rpc_answers[("journal", "import_students")] = IMPORT_ANSWER
    content = "ФИО ученика;Логин ученика\n".encode()
    headers = auth(sub=USER, roles=["class_teacher"])
    if how == "multipart":
        import io
        response = client.post(f"{P}/imports/students{QUERY}", headers=headers,
                               data={"file": (io.BytesIO(content), "5А.csv")}, content_type="multipart/form-data")
    else:
        response = client.post(f"{P}/imports/students{QUERY}", headers={**headers, "Content-Type": "text/csv"},
                               data=content)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == IMPORT_ANSWER
    call = fake.last_rpc()
    assert call["method"] == "import_students" and call["timeout"] == 120
    sent = call["args"][1]
    assert base64.b64decode(sent["content_b64"]) == content
    assert (sent["class_id"], sent["order_no"], sent["on"]) == ("c1", "№ 3", "2026-09-01")
    assert sent["filename"] == ("5А.csv" if how == "multipart" else "")
    assert_documented(response, f"{P}/imports/students", "POST")


def test_r_s2_import_without_a_file_or_order_is_400(client, fake, auth):
    headers = auth(sub=USER, roles=["admin"])
    response = client.post(f"{P}/imports/students{QUERY}", headers=headers, data={"other": "x"},
                           content_type="multipart/form-data")
    assert response.status_code == 400 and response.get_json()["details"]["problems"][0]["field"] == "file"
    response = client.post(f"{P}/imports/students?class_id=c1", headers={**headers, "Content-Type": "text/csv"},
                           data=b"x")
    assert response.status_code == 400
    assert {p["field"] for p in response.get_json()["details"]["problems"]} == {"order_no", "on"}
    response = client.post(f"{P}/imports/students{QUERY}", headers={**headers, "Content-Type": "image/png"},
                           data=b"x")
    assert response.status_code == 400
    assert fake.rpc_calls == []


# --- long work as jobs: Prefer: respond-async, then GET /jobs/{id} ------------------------------

JOB = {"id": "j1", "kind": "import_students", "status": "running", "done": 2, "total": 5, "stage": "accounts",
       "created_at": "2026-09-01T08:00:00+00:00", "finished_at": None}


def test_r_s2_import_as_a_job_answers_202_and_is_polled_to_done(client, fake, auth):
    fake.rpc_answers[("journal", "start_import_students")] = {"job_id": "j1", "status": "queued"}
    headers = auth(sub=USER, roles=["class_teacher"])
    response = client.post(f"{P}/imports/students{QUERY}", data=b"x;y\n",
                           headers={**headers, "Content-Type": "text/csv", "Prefer": "respond-async, wait=5"})
    assert response.status_code == 202, response.get_json()
    assert response.get_json() == {"job_id": "j1", "status": "queued"}
    assert response.headers["Location"] == f"{P}/jobs/j1"
    assert_documented(response, f"{P}/imports/students", "POST")
    call = fake.last_rpc()
    assert call["method"] == "start_import_students" and call["args"][1]["class_id"] == "c1"

    states = iter([JOB, {**JOB, "status": "done", "done": 5, "stage": "done", "result": IMPORT_ANSWER,
                         "finished_at": "2026-09-01T08:00:03+00:00"}])
    fake.rpc_answers[("journal", "get_job")] = lambda ctx, job_id: next(states)
    seen = []
    for _ in range(2):
        response = client.get(f"{P}/jobs/j1", headers=headers)
        assert response.status_code == 200
        assert_documented(response, f"{P}/jobs/{{id}}", "GET")
        seen.append(response.get_json()["status"])
    assert seen == ["running", "done"] and response.get_json()["result"] == IMPORT_ANSWER
    assert fake.last_rpc()["args"] == (ctx_of(response, ["class_teacher"]), "j1")


def test_r_s4_close_as_a_job_answers_202_and_its_refusals_at_once(client, fake, auth):
    from gateway_fakes import remote_error

    fake.rpc_answers[("journal", "start_close_year")] = {"job_id": "j2", "status": "queued"}
    headers = {**auth(sub=USER, roles=["admin"]), "Prefer": "respond-async"}
    response = client.post(f"{P}/years/y1/close", json={"order_no": "№ 1"}, headers=headers)
    assert response.status_code == 202 and response.get_json()["job_id"] == "j2"
    assert fake.last_rpc()["args"][1:] == ("y1", {"order_no": "№ 1"})
    assert_documented(response, f"{P}/years/{{id}}/close", "POST")
    fake.rpc_answers[("journal", "start_close_year")] = remote_error("conflict", "YEAR_ALREADY_CLOSED")
    response = client.post(f"{P}/years/y1/close", json={"order_no": "№ 1"}, headers=headers)
    assert response.status_code == 409 and response.get_json()["error"] == "YEAR_ALREADY_CLOSED"


def test_a_job_of_someone_else_is_404_and_family_may_not_ask(client, fake, auth):
    fake.rpc_answers[("journal", "get_job")] = remote_error_not_found()
    fake.rpc_answers[("reports", "get_job")] = remote_error_not_found()  # neither keeper shows it
    response = client.get(f"{P}/jobs/j1", headers=auth(sub=USER, roles=["teacher"]))
    assert response.status_code == 404 and response.get_json()["error"] == "NOT_FOUND"
    assert_documented(response, f"{P}/jobs/{{id}}", "GET")
    calls = len(fake.rpc_calls)
    response = client.get(f"{P}/jobs/j1", headers=auth(sub=USER, roles=["parent"]))
    assert response.status_code == 403 and len(fake.rpc_calls) == calls


def remote_error_not_found():
    from gateway_fakes import remote_error
    return remote_error("not_found", "NOT_FOUND", "Задание не найдено", {"field": "job_id"})


def test_a_report_s_files_as_a_job_then_its_files(client, fake, auth):
    fake.rpc_answers[("reports", "start_report_files")] = {"job_id": "r1", "status": "queued"}
    headers = auth(sub=USER, roles=["deputy"])
    response = client.post(f"{P}/reports/progress/files?class_id=c1&period_id=p1", headers=headers)
    assert response.status_code == 202 and response.headers["Location"] == f"{P}/jobs/r1"
    assert_documented(response, f"{P}/reports/{{kind}}/files", "POST")
    assert fake.last_rpc()["args"][1:] == ("progress", {"class_id": "c1", "period_id": "p1", "year_id": None,
                                                        "month": None})
    # the journal does not have it: the reports' job
    fake.rpc_answers[("journal", "get_job")] = remote_error_not_found()
    files = [{"format": "pdf", "content_type": "application/pdf", "filename": "Итоги.pdf",
              "filename_ascii": "progress.pdf", "size": 4}]
    fake.rpc_answers[("reports", "get_job")] = {**JOB, "id": "r1", "kind": "report_files", "status": "done",
                                                "stage": "done", "done": 2, "total": 2, "result": {"files": files}}
    response = client.get(f"{P}/jobs/r1", headers=headers)
    assert response.status_code == 200 and response.get_json()["result"]["files"] == files
    assert_documented(response, f"{P}/jobs/{{id}}", "GET")
    fake.rpc_answers[("reports", "job_file")] = {"content_base64": base64.b64encode(b"%PDF").decode(),
                                                 "content_type": "application/pdf", "filename": "Итоги.pdf",
                                                 "filename_ascii": "progress.pdf", "size": 4}
    response = client.get(f"{P}/jobs/r1/files/pdf", headers=headers)
    assert response.status_code == 200 and response.data == b"%PDF"
    assert "attachment" in response.headers["Content-Disposition"]
    assert fake.last_rpc()["args"][1:] == ("r1", "pdf")
    assert client.get(f"{P}/jobs/r1/files/doc", headers=headers).status_code == 404
    fake.rpc_answers[("reports", "get_job")] = remote_error_not_found()
    assert client.get(f"{P}/jobs/r1", headers=headers).status_code == 404
