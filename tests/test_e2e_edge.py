"""The gateway's edge end to end, on the real platform over PostgreSQL:

- a caller who may not use a route is refused before their request is
  validated (a parent asking for a report without a period hears 403, not
  400; R-A3);
- a NUL or a lone UTF-16 surrogate anywhere in a request, or JSON nested
  100,000 levels deep, is 400 naming the field, and nothing is stored
  (PostgreSQL refuses NUL in text: these were 500s); a student import's
  broken cell is its row's error;
- a request with a NUL in its path cannot erase other users' entries of
  the access log (R-A6): the good events of its batch are kept.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import create_engine, text

from localrun.client import Api

from e2e_support import eventually

pytestmark = pytest.mark.e2e

PASSWORD = "edge-pass-2026-x"
P = "/api/v1"
# Tables only a request writes (projections and logs, filled by events, are left out).
WRITTEN = {
    "JOURNAL": ("years", "periods", "subjects", "classes", "enrolments", "lessons", "marks", "mark_versions",
                "attendance", "attendance_versions", "final_marks", "subgroups", "timetable_slots", "plans",
                "plan_topics"),
    "IDENTITY": ("users", "parent_links", "consents", "audit_log"),
    "MESSAGING": ("messages", "message_recipients", "message_attachments", "news"),
}


@pytest.fixture(scope="module")
def site(platform):
    u = uuid.uuid4().hex[:8]
    base, env = platform.url, platform.env
    admin = Api(base).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
    today = dt.datetime.now(ZoneInfo("Europe/Moscow")).date()

    def user(api, stem, roles):
        return api.post("/users", {"login": f"{stem}.{u}", "full_name": f"Край {stem}", "roles": roles,
                                   "password": PASSWORD}, expect=201)

    ct, teacher, deputy = (user(admin, "ct", ["teacher", "class_teacher"]), user(admin, "t", ["teacher"]),
                           user(admin, "d", ["deputy"]))
    start = today - dt.timedelta(days=30)
    year = admin.post("/years", {"name": f"Год {u}", "starts_on": start.isoformat(),
                                 "ends_on": (today + dt.timedelta(days=200)).isoformat(),
                                 "periods": [{"name": "1 полугодие", "kind": "half_year",
                                              "starts_on": start.isoformat(),
                                              "ends_on": (today + dt.timedelta(days=200)).isoformat()}]})
    maths = admin.post("/subjects", {"name": f"Математика {u}"})
    klass = admin.post("/classes", {"year_id": year["id"], "grade": 6, "letter": "В", "class_teacher_id": ct["id"]})
    admin.post("/assignments", {"teacher_id": teacher["id"], "class_id": klass["id"], "subject_id": maths["id"],
                                "hours_per_week": 4}, expect=201)
    ct_api = Api(base).login(ct["login"], PASSWORD)
    student, parent = user(ct_api, "s", ["student"]), user(ct_api, "p", ["parent"])
    ct_api.post(f"/students/{student['id']}/parents", {"parent_id": parent["id"], "relation": "мать"}, expect=201)
    ct_api.put(f"/parents/{parent['id']}/consent", {"given": True, "signed_on": today.isoformat()}, expect=200)
    admin.post(f"/classes/{klass['id']}/students", {"student_id": student["id"], "order_no": "6-у",
                                                    "on": start.isoformat()}, expect=201)
    t_api = Api(base).login(teacher["login"], PASSWORD)
    lesson = t_api.post("/lessons", {"class_id": klass["id"], "subject_id": maths["id"], "date": today.isoformat(),
                                     "topic": "Дроби", "lesson_type": "урок"}, expect=201)
    mark = t_api.put(f"/lessons/{lesson['id']}/marks", {"marks": [{"student_id": student["id"], "value": 5}]},
                     expect=200)["marks"][0]
    apis = {"admin": admin, "ct": ct_api, "teacher": t_api, "deputy": Api(base).login(deputy["login"], PASSWORD),
            "parent": Api(base).login(parent["login"], PASSWORD)}
    # identity learns the lesson and the mark from events: wait until the teacher may correct it
    eventually(lambda: t_api.request("GET", f"/marks/{mark['id']}/history").status_code == 200)
    return {"u": u, "env": env, "base": base, "api": apis, "klass": klass, "maths": maths, "lesson": lesson,
            "mark": mark, "student": student, "parent": parent, "teacher": teacher, "today": today}


def counts(env) -> dict:
    found = {}
    for service, tables in WRITTEN.items():
        engine = create_engine(env[f"EJOURNAL_{service}_DATABASE_URL"])
        try:
            with engine.connect() as conn:
                for table in tables:
                    found[f"{service}.{table}"] = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
        finally:
            engine.dispose()
    return found


def send(site, who, method, path, body: str | None):
    """``body`` as the client wrote it: a JSON text that may hold \\u0000 or a lone \\ud800."""
    headers = {"Content-Type": "application/json"}
    if who:
        headers["Authorization"] = f"Bearer {site['api'][who].token}"
    data = body.encode("utf-8") if body is not None else None
    return requests.request(method, site["base"] + P + path, data=data, headers=headers, timeout=30)


def lesson_body(site, **changes) -> dict:
    return {"class_id": site["klass"]["id"], "subject_id": site["maths"]["id"], "date": site["today"].isoformat(),
            "topic": "Проценты", "lesson_type": "урок", **changes}


NUL, LONE = "\\u0000", "\\ud800"  # as they travel in JSON text
CASES = [
    # (who, method, path, body builder, field)
    (None, "POST", "/auth/login", lambda s: '{"login": "admin' + NUL + '", "password": "x"}', "login"),
    (None, "POST", "/auth/login", lambda s: '{"login": "admin' + LONE + '", "password": "x"}', "login"),
    ("teacher", "POST", "/lessons", lambda s: json.dumps(lesson_body(s, topic="T")).replace('"T"', f'"Т{NUL}"'),
     "topic"),
    ("teacher", "POST", "/lessons", lambda s: json.dumps(lesson_body(s, homework="H")).replace('"H"', f'"§{LONE}"'),
     "homework"),
    ("teacher", "POST", "/lessons", lambda s: json.dumps(lesson_body(s)).replace('"topic"', f'"topic{NUL}"'),
     "topic\ufffd"),
    ("teacher", "PUT", "/lessons/{lesson}/marks",
     lambda s: '{"marks": [{"student_id": "%s", "value": 4, "comment": "ок%s"}]}' % (s["student"]["id"], NUL),
     "marks[0].comment"),
    ("teacher", "PUT", "/lessons/{lesson}/attendance",
     lambda s: '{"entries": [{"student_id": "%s", "status": "ill"}], "reason": "справка%s"}' % (s["student"]["id"],
                                                                                                 NUL),
     "reason"),
    ("teacher", "PATCH", "/marks/{mark}", lambda s: '{"value": 4, "reason": "ошибка%s"}' % LONE, "reason"),
    ("teacher", "DELETE", "/marks/{mark}", lambda s: '{"reason": "ошибка%s"}' % NUL, "reason"),
    ("parent", "POST", "/messages",
     lambda s: '{"to": ["%s"], "subject": "Тема%s", "body": "Текст"}' % (s["teacher"]["id"], NUL), "subject"),
    ("parent", "POST", "/messages",
     lambda s: '{"to": ["%s"], "subject": "Тема", "body": "Текст%s"}' % (s["teacher"]["id"], LONE), "body"),
    ("parent", "POST", "/messages",
     lambda s: '{"to": ["%s"], "subject": "Тема", "body": "Текст", "attachments": [{"name": "a%s.txt", '
               '"content_base64": "eA=="}]}' % (s["teacher"]["id"], NUL), "attachments[0].name"),
    ("admin", "POST", "/users", lambda s: '{"login": "edge.nul", "full_name": "Иван%s", "roles": ["teacher"]}' % NUL,
     "full_name"),
    ("ct", "POST", "/users", lambda s: '{"login": "edge%s", "full_name": "Иван", "roles": ["student"]}' % LONE,
     "login"),
    ("admin", "POST", "/subjects", lambda s: '{"name": "Химия%s"}' % NUL, "name"),
    ("deputy", "POST", "/news", lambda s: '{"title": "Собрание%s", "body": "В пятницу", "audience": {"school": true}}'
     % NUL, "title"),
    ("admin", "POST", "/students/{student}/transfer",
     lambda s: '{"to_class_id": "%s", "order_no": "№%s", "on": "%s"}' % (s["klass"]["id"], NUL, s["today"]),
     "order_no"),
    ("parent", "GET", "/students/%00/diary", None, "id"),
    ("teacher", "GET", "/classes/{klass}/journal?subject_id=%00", None, "subject_id"),
    ("teacher", "GET", "/classes/{klass}/journal?subject_id={maths}&period_id=x%00", None, "period_id"),
]


@pytest.mark.parametrize("who,method,path,build,field", CASES,
                         ids=[f"{c[1]} {c[2]} {c[4]}" for c in CASES])
def test_broken_text_is_400_naming_the_field_and_nothing_is_stored(site, who, method, path, build, field):
    before = counts(site["env"])
    url = path.format(lesson=site["lesson"]["id"], mark=site["mark"]["id"], student=site["student"]["id"],
                      klass=site["klass"]["id"], maths=site["maths"]["id"])
    response = send(site, who, method, url, build(site) if build else None)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["error"] == "VALIDATION_ERROR"
    assert field in {p["field"] for p in answer["details"]["problems"]}, answer
    assert counts(site["env"]) == before


@pytest.mark.parametrize("who,path", [(None, "/auth/login"), ("teacher", "/lessons")])
def test_json_nested_100000_levels_is_400(site, who, path):
    response = send(site, who, "POST", path, '{"a": ' * 100_000 + "1" + "}" * 100_000)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "MALFORMED_JSON"


def test_a_broken_cell_of_a_student_import_is_its_rows_error(site):
    u = site["u"]
    header = "ФИО ученика;Дата рождения;Пол;Логин ученика;ФИО родителя;E-mail родителя;Логин родителя"
    good = f"Новиков Олег;01.02.2014;м;novikov.{u};Новикова Ольга;n.{u}@example.ru;novikova.{u}"
    bad = f"Зуев Пётр;03.04.2014;м;zuev\x00.{u};Зуева Анна;z.{u}@example.ru;zueva.{u}"
    before = counts(site["env"])
    response = site["api"]["ct"].request(
        "POST", f"/imports/students?class_id={site['klass']['id']}&order_no=6-у&on={site['today']}",
        data="\n".join([header, good, bad]).encode("utf-8"), headers={"Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["applied"] is False
    assert [e["row"] for e in answer["errors"]] == [3] and "логин ученика" in answer["errors"][0]["message"]
    assert counts(site["env"]) == before


def test_a_report_without_a_period_tells_a_parent_nothing(site):
    parent, ct = site["api"]["parent"], site["api"]["ct"]
    for query in (f"class_id={site['klass']['id']}", "", "format=doc"):
        response = parent.request("GET", f"/reports/progress?{query}")
        assert response.status_code == 403, (query, response.text)
        assert response.json()["error"] == "FORBIDDEN"
    response = ct.request("GET", f"/reports/progress?class_id={site['klass']['id']}")
    assert response.status_code == 400  # the class teacher may: told by reports what is missing
    assert response.json()["error"] == "VALIDATION_ERROR" and response.json()["details"]["field"] == "period_id"


def test_r_a6_a_nul_request_does_not_erase_the_access_log(site):
    """Three requests of one user, close together on one connection (so in
    one batch of the gateway worker): the two good ones are kept whatever
    happens to the one with a NUL in its path (it is kept too, its id
    shown readably)."""
    u = site["u"]
    user = site["api"]["admin"].post("/users", {"login": f"log.{u}", "full_name": "Журнал Доступа",
                                                "roles": ["teacher"], "password": PASSWORD}, expect=201)
    api = Api(site["base"]).login(user["login"], PASSWORD)
    assert api.request("GET", "/me").status_code == 200
    refused = api.request("GET", "/students/x%00y/diary")
    assert api.request("GET", "/notifications").status_code == 200

    def logged():
        items = site["api"]["admin"].get(f"/access-log?user_id={user['id']}&limit=50")["items"]
        routes = {(i["route"], i["status"]) for i in items}
        return items if {("/api/v1/me", 200), ("/api/v1/notifications", 200)} <= routes else None

    items = eventually(logged, timeout=30)  # the two good ones are kept
    assert refused.status_code == 400 and refused.json()["details"]["problems"][0]["field"] == "id"
    (kept,) = [i for i in items if i["route"] == "/api/v1/students/<id>/diary"]  # the refused one too, readable
    assert (kept["status"], kept["resource_id"]) == (400, "x\ufffdy")
