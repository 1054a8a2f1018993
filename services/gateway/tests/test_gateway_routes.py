"""Each route calls the right service method with the right ctx and
arguments, and answers the API.md shape and status."""
from __future__ import annotations

import datetime as dt
import json
from urllib.parse import quote

import grpc
import pytest

from ejournal.identity.v1 import identity_pb2
from ejournal.journal.v1 import journal_pb2

from gateway_doc import assert_documented
from gateway_fakes import grpc_error, remote_error

P = "/api/v1"
USER = "11111111-1111-4111-8111-111111111111"


def ctx_of(response, roles):
    return {"actor_id": USER, "school_id": "school-1", "roles": list(roles),
            "correlation_id": response.headers["X-Correlation-Id"]}


YEAR = {"name": "2026/2027", "starts_on": "2026-09-01", "ends_on": "2027-05-31",
        "periods": [{"name": "1 четверть", "kind": "quarter", "starts_on": "2026-09-01", "ends_on": "2026-10-26"}]}
LESSON = {"class_id": "c1", "subject_id": "s1", "date": "2026-10-12", "topic": "Дроби", "lesson_type": "lesson",
          "homework": "№ 12"}
MARKS = {"marks": [{"student_id": "st1", "value": 5, "kind": "oral", "weight": 1}, {"student_id": "st2", "value": 4}]}

# (method, url, documented path, body, roles, service, rpc method, args after ctx, answer, status)
RPC_ROUTES = [
    ("POST", "/users", "/users", {"login": "ivanov", "full_name": "Иванов Иван", "roles": ["student"]},
     ["class_teacher"], "identity", "create_user",
     lambda b: (b,), {"id": "u1", "login": "ivanov", "initial_password": "секрет-1"}, 201),
    ("POST", "/students/st1/parents", "/students/{id}/parents", {"parent_id": "p1", "relation": "мать"},
     ["admin"], "identity", "link_parent",
     lambda b: ("st1", "p1", "мать"), {"student_id": "st1", "parent_id": "p1", "relation": "мать"}, 201),
    ("PUT", "/parents/p1/consent", "/parents/{id}/consent", {"given": True, "signed_on": "2026-09-01"},
     ["class_teacher"], "identity", "record_consent",
     lambda b: ("p1", True, "2026-09-01"), {"parent_id": "p1", "given": True, "signed_on": "2026-09-01"}, 200),
    ("POST", "/years", "/years", YEAR, ["admin"], "journal", "open_year", lambda b: (b,),
     {"id": "y1", "name": "2026/2027", "starts_on": "2026-09-01", "ends_on": "2027-05-31",
      "periods": [{"id": "p1", "name": "1 четверть", "kind": "quarter", "starts_on": "2026-09-01",
                   "ends_on": "2026-10-26"}]}, 201),
    ("POST", "/subjects", "/subjects", {"name": "Математика"}, ["admin"], "journal", "create_subject",
     lambda b: (b,), {"id": "s1", "name": "Математика"}, 201),
    ("POST", "/classes", "/classes", {"year_id": "y1", "grade": 5, "letter": "А", "class_teacher_id": "t1"},
     ["admin"], "journal", "create_class", lambda b: (b,),
     {"id": "c1", "name": "5А", "year_id": "y1", "grade": 5, "letter": "А", "class_teacher_id": "t1"}, 201),
    ("POST", "/classes/c1/students", "/classes/{id}/students",
     {"student_id": "st1", "order_no": "12-у", "on": "2026-09-01"}, ["class_teacher"], "journal",
     "enroll_student", lambda b: ("c1", b),
     {"student_id": "st1", "class_id": "c1", "order_no": "12-у", "on": "2026-09-01"}, 201),
    ("POST", "/assignments", "/assignments",
     {"teacher_id": "t1", "class_id": "c1", "subject_id": "s1", "hours_per_week": 4}, ["deputy"], "journal",
     "assign_teacher", lambda b: (b,),
     {"id": "a1", "teacher_id": "t1", "class_id": "c1", "subject_id": "s1", "hours_per_week": 4,
      "subgroup_id": None}, 201),
    ("POST", "/lessons", "/lessons", LESSON, ["teacher"], "journal", "record_lesson", lambda b: (b,),
     {"id": "l1", "late": False, "overdue": False, **LESSON}, 201),
    ("PUT", "/lessons/l1/marks", "/lessons/{id}/marks", MARKS, ["teacher"], "journal", "post_marks",
     lambda b: ("l1", b["marks"]),
     {"marks": [{"id": "m1", "student_id": "st1", "value": 5, "kind": "oral", "weight": 1, "comment": None},
                {"id": "m2", "student_id": "st2", "value": 4, "kind": None, "weight": 1, "comment": None}]}, 200),
    ("POST", "/backups", "/backups", None, ["admin"], "backup", "request_backup", lambda b: (),
     {"id": "b1", "status": "running"}, 202),
    ("GET", "/backups", "/backups", None, ["admin"], "backup", "list_backups", lambda b: (),
     {"items": [{"id": "b1", "started_at": "2026-10-12T08:00:00+00:00", "finished_at": None,
                 "status": "running", "size": None, "targets": [], "verified": False}], "next_cursor": None}, 200),
    ("GET", "/notifications?limit=10&cursor=abc", "/notifications", None, ["parent"], "messaging",
     "list_notifications", lambda b: (10, "abc"),
     {"items": [{"id": "n1", "kind": "mark_posted", "title": "Новая отметка", "body": "5 по математике",
                 "data": {}, "created_at": "2026-10-12T08:31:02+00:00", "read": False}], "next_cursor": "n1"},
     200),
    ("GET", "/notifications", "/notifications", None, ["student"], "messaging", "list_notifications",
     lambda b: (50, None), {"items": [], "next_cursor": None}, 200),
]


@pytest.mark.parametrize("method,url,path,body,roles,service,rpc,args,answer,status", RPC_ROUTES,
                         ids=[f"{r[0]} {r[1]}" for r in RPC_ROUTES])
def test_rpc_route_passes_ctx_and_arguments(client, fake, auth, method, url, path, body, roles, service, rpc,
                                             args, answer, status):
    """R-A3: every write carries the verified caller as ctx; the answer is the service's."""
    fake.rpc_answers[(service, rpc)] = answer
    response = client.open(P + url, method=method, json=body, headers=auth(sub=USER, roles=roles))
    assert response.status_code == status, response.get_json()
    assert response.get_json() == answer
    call = fake.last_rpc()
    assert (call["service"], call["method"]) == (service, rpc)
    assert call["args"] == (ctx_of(response, roles),) + args(body)
    assert call["correlation_id"] == response.headers["X-Correlation-Id"]
    assert_documented(response, P + path, method)


def test_login_calls_identity_with_client_address(client, fake):
    """R-A2: login through identity; the answer has the API.md shape."""
    fake.identity.answers["Login"] = identity_pb2.TokenPair(
        access_token="acc", refresh_token="ref", expires_in=900, user_id="u1", roles=["parent"],
        school_id="school-1")
    response = client.post(f"{P}/auth/login", json={"login": "petrova", "password": "пароль"},
                           environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert response.status_code == 200
    assert response.get_json() == {"access_token": "acc", "refresh_token": "ref", "token_type": "Bearer",
                                   "expires_in": 900, "user": {"id": "u1", "roles": ["parent"]}}
    (request,) = fake.identity.called("Login")
    assert (request.login, request.password, request.client_address) == ("petrova", "пароль", "203.0.113.7")
    assert_documented(response, f"{P}/auth/login", "POST")


@pytest.mark.parametrize("status_code,error_code,http", [
    (grpc.StatusCode.UNAUTHENTICATED, "INVALID_CREDENTIALS", 401),
    (grpc.StatusCode.PERMISSION_DENIED, "NO_CONSENT", 403),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, "TOO_MANY_ATTEMPTS", 429),
])
def test_login_failures_keep_identity_codes(client, fake, status_code, error_code, http):
    """R-A4 (NO_CONSENT) and login throttling come from identity's gRPC status details."""
    fake.identity.answers["Login"] = grpc_error(status_code, error_code, "Русский текст от identity")
    response = client.post(f"{P}/auth/login", json={"login": "x", "password": "y"})
    assert response.status_code == http
    assert response.get_json() == {"error": error_code, "message": "Русский текст от identity", "details": {}}
    assert_documented(response, f"{P}/auth/login", "POST")


def test_me_returns_profile(client, fake, auth):
    fake.identity.answers["GetProfile"] = identity_pb2.Profile(
        id=USER, login="petrova", full_name="Петрова Анна", roles=["parent"], school_id="school-1",
        children=[identity_pb2.Child(id="st1", full_name="Петров Пётр", class_id="c1"),
                  identity_pb2.Child(id="st2", full_name="Петрова Мария", class_id="")],
        classes=[identity_pb2.ClassRef(id="c1", role="class_teacher")])
    response = client.get(f"{P}/me", headers=auth(sub=USER, roles=["parent"]))
    assert response.status_code == 200
    assert response.get_json() == {
        "id": USER, "login": "petrova", "full_name": "Петрова Анна", "roles": ["parent"],
        "children": [{"id": "st1", "full_name": "Петров Пётр", "class_id": "c1"},
                     {"id": "st2", "full_name": "Петрова Мария", "class_id": None}],
        "classes": [{"id": "c1", "role": "class_teacher"}]}
    assert fake.identity.called("GetProfile")[0].user_id == USER
    assert_documented(response, f"{P}/me", "GET")


def _diary_reply():
    return journal_pb2.Diary(student_id="st1", days=[journal_pb2.DiaryDay(date="2026-10-12", lessons=[
        journal_pb2.DiaryLesson(lesson_id="l1", subject_id="s1", subject="Математика", topic="Дроби",
                                homework="№ 12", lesson_type="lesson", attendance="",
                                marks=[journal_pb2.DiaryMark(id="m1", value=5, kind="oral", weight=1,
                                                             comment="")]),
        journal_pb2.DiaryLesson(lesson_id="l2", subject_id="s2", subject="Русский язык", topic="Причастие",
                                homework="", lesson_type="lesson", attendance="late")])])


def test_diary_asks_identity_then_journal(client, fake, auth):
    """R-A3: the diary is read only after identity allowed diary.read on that student."""
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=True)
    fake.journal.answers["GetDiary"] = _diary_reply()
    response = client.get(f"{P}/students/st1/diary?from=2026-10-12&to=2026-10-18",
                          headers=auth(sub=USER, roles=["parent"]))
    assert response.status_code == 200, response.get_json()
    (authz,) = fake.identity.called("Authorize")
    assert (authz.subject_id, authz.school_id, list(authz.roles), authz.action, authz.resource_type,
            authz.resource_id) == (USER, "school-1", ["parent"], "diary.read", "student", "st1")
    (req,) = fake.journal.called("GetDiary")
    assert (req.student_id, req.school_id, req.from_date, req.to_date) == ("st1", "school-1", "2026-10-12",
                                                                          "2026-10-18")
    body = response.get_json()
    assert body["student_id"] == "st1"
    first, second = body["days"][0]["lessons"]
    assert first == {"lesson_id": "l1", "subject_id": "s1", "subject": "Математика", "topic": "Дроби",
                     "homework": "№ 12", "lesson_type": "lesson", "attendance": None,
                     "marks": [{"id": "m1", "value": 5, "kind": "oral", "weight": 1, "comment": ""}]}
    assert second["attendance"] == "late" and second["marks"] == []
    assert_documented(response, f"{P}/students/{{id}}/diary", "GET")
    # the correlation id travels with every gRPC call of the request
    assert {cid for _, _, cid in fake.identity.calls + fake.journal.calls} == {
        response.headers["X-Correlation-Id"]}


def test_diary_not_yours_is_404_and_journal_is_not_called(client, fake, auth):
    """API.md/R-A3: a parent asking for another child's diary gets 404, and
    the journal is never asked."""
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=False, denial="not_found")
    response = client.get(f"{P}/students/other/diary", headers=auth(roles=["parent"]))
    assert response.status_code == 404
    assert response.get_json()["error"] == "NOT_FOUND"
    assert fake.journal.calls == []


def test_diary_forbidden_denial_is_403(client, fake, auth):
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=False, denial="forbidden")
    response = client.get(f"{P}/students/st1/diary", headers=auth(roles=["teacher"]))
    assert response.status_code == 403
    assert fake.journal.calls == []


def test_diary_defaults_to_the_week_the_journal_picks(client, fake, auth):
    """Without dates the journal picks the week (the current one, or the
    latest with lessons when it is empty); the answer says which it was."""
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=True)
    fake.journal.answers["GetDiary"] = journal_pb2.Diary(student_id="st1", from_date="2026-10-19",
                                                         to_date="2026-10-25")
    response = client.get(f"{P}/students/st1/diary", headers=auth(roles=["student"]))
    assert response.status_code == 200
    (req,) = fake.journal.called("GetDiary")
    assert (req.from_date, req.to_date) == ("", "")
    assert (response.get_json()["from"], response.get_json()["to"]) == ("2026-10-19", "2026-10-25")
    assert_documented(response, f"{P}/students/{{id}}/diary", "GET")


def test_diary_range_asked_is_passed_and_answered(client, fake, auth):
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=True)
    fake.journal.answers["GetDiary"] = journal_pb2.Diary(student_id="st1")
    response = client.get(f"{P}/students/st1/diary?from=2026-10-05", headers=auth(roles=["student"]))
    (req,) = fake.journal.called("GetDiary")
    assert (req.from_date, req.to_date) == ("2026-10-05", "2026-10-11")
    # a journal that does not say: the range asked
    assert (response.get_json()["from"], response.get_json()["to"]) == ("2026-10-05", "2026-10-11")


@pytest.mark.parametrize("query", ["from=2026-13-01", "to=12.10.2026", "from=2026-10-18&to=2026-10-12",
                                   "from=2026-01-01&to=2027-06-01", "from=2026-02-30"])
def test_diary_bad_dates_are_400_before_the_journal_is_called(client, fake, auth, query):
    response = client.get(f"{P}/students/st1/diary?{query}", headers=auth())
    assert response.status_code == 400
    assert response.get_json()["error"] == "VALIDATION_ERROR"
    assert response.get_json()["details"]["problems"]
    assert fake.journal.calls == []
    assert [name for name, *_ in fake.identity.calls] == ["Authorize"]  # who may see it is decided first


def _report_stream(payload: bytes, *, content_type="application/json; charset=utf-8", ascii_name="progress-5A.json",
                   name="Итоги успеваемости класса 5А 1 четверть.json", piece=1000):
    """What reports' Document stream sends: the first chunk names the file."""
    from ejournal.reports.v1 import reports_pb2
    chunks = [payload[i:i + piece] for i in range(0, len(payload), piece)] or [b""]
    return [reports_pb2.DocumentChunk(data=chunks[0], content_type=content_type, filename_ascii=ascii_name,
                                      filename=name, size=len(payload))] + \
        [reports_pb2.DocumentChunk(data=c) for c in chunks[1:]]


def test_report_authorizes_then_streams_reports_document(client, fake, auth):
    """A report kind through reports' document stream, after identity allowed
    report.read on the class: the bytes as they came, the file named in ASCII
    and in Russian (RFC 5987)."""
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=True)
    report = {"kind": "attendance", "class": {"id": "c1", "name": "5А"}, "students": [],
              "document": {"title": "Отчёт о посещаемости"}}
    payload = json.dumps(report, ensure_ascii=False).encode()
    fake.reports.answers["Document"] = lambda request: iter(_report_stream(payload, piece=7))
    response = client.get(f"{P}/reports/attendance?class_id=c1&period_id=p1",
                          headers=auth(sub=USER, roles=["deputy"]))
    assert response.status_code == 200
    assert response.get_data() == payload and response.get_json() == report
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Content-Length"] == str(len(payload))
    assert response.headers["Content-Disposition"] == (
        'inline; filename="progress-5A.json"; filename*=UTF-8\'\''
        + quote("Итоги успеваемости класса 5А 1 четверть.json", safe=""))
    (authz,) = fake.identity.called("Authorize")
    assert (authz.action, authz.resource_type, authz.resource_id) == ("report.read", "class", "c1")
    (request,) = fake.reports.called("Document")
    assert (request.kind, request.format, request.class_id, request.period_id, request.year_id, request.month) == \
        ("attendance", "json", "c1", "p1", "", "")
    assert (request.actor_id, list(request.roles)) == (USER, ["deputy"])
    assert fake.rpc_calls == []


def test_a_report_file_of_several_megabytes_comes_whole_as_an_attachment(client, fake, auth):
    payload = bytes(range(256)) * (12 * 1024)  # 3 MB
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    fake.reports.answers["Document"] = lambda request: iter(_report_stream(
        payload, content_type=xlsx, ascii_name="progress-sheet-2026-09.xlsx",
        name="Сводная ведомость.xlsx", piece=256 * 1024))
    response = client.get(f"{P}/reports/progress-sheet?period_id=p1&format=xlsx", headers=auth(roles=["admin"]))
    assert response.status_code == 200
    assert response.get_data() == payload
    assert response.headers["Content-Type"] == xlsx
    assert response.headers["Content-Disposition"].startswith('attachment; filename="progress-sheet-2026-09.xlsx"; ')
    (request,) = fake.reports.called("Document")
    assert (request.kind, request.format, request.class_id) == ("progress-sheet", "xlsx", "")


def test_report_denied_for_a_parent(client, fake, auth):
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=False, denial="forbidden")
    response = client.get(f"{P}/reports/progress?class_id=c1&period_id=p1", headers=auth(roles=["parent"]))
    assert response.status_code == 403
    assert fake.reports.calls == []


@pytest.mark.parametrize("url,status,code", [
    ("/reports/no-such-report", 404, "NOT_FOUND"),
    ("/reports/progress?class_id=c1&period_id=p1&format=doc", 400, "VALIDATION_ERROR"),
    ("/reports/user-activity?month=2026-13", 400, "VALIDATION_ERROR"),
])
def test_report_refusals(client, fake, auth, url, status, code):
    response = client.get(P + url, headers=auth(roles=["admin"]))
    assert response.status_code == status
    assert response.get_json()["error"] == code
    assert fake.reports.calls == [] and {name for name, *_ in fake.identity.calls} <= {"Authorize"}
    assert_documented(response, f"{P}/reports/{{kind}}", "GET")


@pytest.mark.parametrize("grpc_code,error,status", [
    (grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION_ERROR", 400),
    (grpc.StatusCode.PERMISSION_DENIED, "FORBIDDEN", 403),
    (grpc.StatusCode.NOT_FOUND, "NOT_FOUND", 404),
    (grpc.StatusCode.FAILED_PRECONDITION, "PERIOD_NOT_IN_CLASS_YEAR", 422),
])
def test_reports_refusals_are_the_error_table(client, fake, auth, grpc_code, error, status):
    def refuse(request):
        def stream():
            raise grpc_error(grpc_code, error, "текст")
            yield  # pragma: no cover
        return stream()
    fake.reports.answers["Document"] = refuse
    response = client.get(f"{P}/reports/progress?class_id=c1&period_id=p1", headers=auth(roles=["admin"]))
    assert response.status_code == status
    assert response.get_json()["error"] == error
    assert_documented(response, f"{P}/reports/{{kind}}", "GET")


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_backups_are_admin_only_in_the_gateway(client, fake, auth, method):
    """R-D5: a non-admin never reaches the backup service."""
    response = client.open(f"{P}/backups", method=method, headers=auth(roles=["director", "teacher"]))
    assert response.status_code == 403
    assert response.get_json()["error"] == "FORBIDDEN"
    assert fake.rpc_calls == []


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc", "limit=1.5", "limit=1_0", "limit=%205"])
def test_notifications_limit_is_validated(client, fake, auth, query):
    response = client.get(f"{P}/notifications?{query}", headers=auth())
    assert response.status_code == 400
    assert response.get_json()["details"]["problems"][0]["field"] == "limit"
    assert fake.rpc_calls == []


def test_service_error_reaches_client_with_its_code(client, fake, auth):
    """R-J4: the journal's rule error keeps its code and Russian text."""
    fake.rpc_answers[("journal", "post_marks")] = remote_error(
        "rule", "NO_MARKS_IN_GRADE_1", "В 1 классе отметки не ставятся", {"grade": 1})
    response = client.put(f"{P}/lessons/l1/marks", json=MARKS, headers=auth(roles=["teacher"]))
    assert response.status_code == 422
    assert response.get_json() == {"error": "NO_MARKS_IN_GRADE_1", "message": "В 1 классе отметки не ставятся",
                                   "details": {"grade": 1}}
    assert_documented(response, f"{P}/lessons/{{id}}/marks", "PUT")


PARENTS_ACTIVITY = {
    "class": {"id": "c1", "name": "5А"}, "week": {"starts_on": "2026-10-05", "ends_on": "2026-10-11"},
    "parents": [{"parent_id": "p1", "full_name": "Яковлева Анна", "children": [{"id": "st1", "full_name": "Яковлев Илья"}],
                 "days_active": 2, "logins": 1, "actions": 6, "last_seen": "2026-10-08"},
                {"parent_id": "p2", "full_name": "Борисов Олег", "children": [{"id": "st2", "full_name": None}],
                 "days_active": 0, "logins": 0, "actions": 0, "last_seen": None}],
    "totals": {"parents": 2, "active": 1}}


@pytest.mark.parametrize("query,week", [("?week=2026-10-07", "2026-10-07"), ("", None)])
def test_parents_activity_asks_identity_then_reports(client, fake, auth, query, week):
    """R-A6: the class's readers pass identity; reports answers (its class
    teacher and the administration) and the answer is passed through."""
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=True, reason="policy")
    fake.rpc_answers[("reports", "parents_activity")] = PARENTS_ACTIVITY
    response = client.get(f"{P}/classes/c1/parents-activity{query}", headers=auth(roles=["class_teacher"]))
    assert response.status_code == 200 and response.get_json() == PARENTS_ACTIVITY
    assert fake.last_rpc()["service"] == "reports" and fake.last_rpc()["args"][1:] == ("c1", week)
    (request,) = fake.identity.called("Authorize")
    assert (request.action, request.resource_type, request.resource_id) == ("class.journal.read", "class", "c1")
    assert_documented(response, f"{P}/classes/{{id}}/parents-activity", "GET")


@pytest.mark.parametrize("roles", [["teacher"], ["parent"]])
def test_parents_activity_is_404_to_a_teacher_and_a_parent(client, fake, auth, roles):
    # a parent: identity's outsider answer; a teacher of the class: reports' own
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(
        allowed=roles == ["teacher"], denial="" if roles == ["teacher"] else "not_found")
    fake.rpc_answers[("reports", "parents_activity")] = remote_error("not_found", "NOT_FOUND", "Класс не найден")
    response = client.get(f"{P}/classes/c1/parents-activity?week=2026-10-07", headers=auth(roles=roles))
    assert response.status_code == 404 and response.get_json()["error"] == "NOT_FOUND"
    assert_documented(response, f"{P}/classes/{{id}}/parents-activity", "GET")


@pytest.mark.parametrize("week", ["07.10.2026", "2026-10", "2026-W41-3", "x", "2026-02-30"])
def test_parents_activity_bad_week_is_400_naming_it(client, fake, auth, week):
    fake.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=True, reason="policy")
    response = client.get(f"{P}/classes/c1/parents-activity?week={week}", headers=auth(roles=["deputy"]))
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "VALIDATION_ERROR" and [p["field"] for p in body["details"]["problems"]] == ["week"]
    assert fake.rpc_calls == []
