"""The first vertical slice end to end, through the gateway's HTTP API, on
real RabbitMQ and PostgreSQL, every process started as `make run` starts it.

A teacher posts a mark; the parent sees it in the diary and gets a
notification; the deputy sees it in the progress report; the backup service
copies everything away. Access: R-A3 (who sees what), R-A4 (consent),
R-J4 (no marks in grade 1)."""
from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from zoneinfo import ZoneInfo

import pytest
import requests

from localrun.client import Api

from e2e_support import eventually

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"



@pytest.fixture(scope="module")
def school(platform):
    """A small school built through the API by the admin and a class teacher."""
    env = platform.env
    base = platform.url
    admin = Api(base).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
    # the school's local date (journal's late/overdue flags use it, R-J5)
    today = dt.datetime.now(ZoneInfo("Europe/Moscow")).date()
    year = admin.post("/years", {
        "name": "Тестовый год", "starts_on": (today - dt.timedelta(days=60)).isoformat(),
        "ends_on": (today + dt.timedelta(days=200)).isoformat(),
        "periods": [{"name": "1 полугодие", "kind": "half_year",
                     "starts_on": (today - dt.timedelta(days=60)).isoformat(),
                     "ends_on": (today + dt.timedelta(days=60)).isoformat()}]})
    maths = admin.post("/subjects", {"name": "Математика"})
    russian = admin.post("/subjects", {"name": "Русский язык"})

    def user(api, login, name, roles, **extra):
        return api.post("/users", {"login": login, "full_name": name, "roles": roles, "password": PASSWORD, **extra})

    ct = user(admin, "ct.smirnova", "Смирнова Ольга Николаевна", ["teacher", "class_teacher"])
    rus = user(admin, "t.kuznetsov", "Кузнецов Игорь Петрович", ["teacher"])
    ct1 = user(admin, "ct.volkova", "Волкова Анна Сергеевна", ["teacher", "class_teacher"])
    deputy = user(admin, "d.morozova", "Морозова Елена Викторовна", ["deputy"])
    c5 = admin.post("/classes", {"year_id": year["id"], "grade": 5, "letter": "А", "class_teacher_id": ct["id"]})
    c1 = admin.post("/classes", {"year_id": year["id"], "grade": 1, "letter": "А", "class_teacher_id": ct1["id"]})
    admin.post("/assignments", {"teacher_id": ct["id"], "class_id": c5["id"], "subject_id": maths["id"], "hours_per_week": 5})
    admin.post("/assignments", {"teacher_id": rus["id"], "class_id": c5["id"], "subject_id": russian["id"], "hours_per_week": 4})
    admin.post("/assignments", {"teacher_id": ct1["id"], "class_id": c1["id"], "subject_id": maths["id"], "hours_per_week": 4})

    teacher = Api(base).login("ct.smirnova", PASSWORD)
    s1 = user(teacher, "s.ivanov", "Иванов Пётр", ["student"], sex="М", birth_date="2015-03-01")
    s2 = user(teacher, "s.petrova", "Петрова Анна", ["student"], sex="Ж")
    p1 = user(teacher, "p.ivanova", "Иванова Мария", ["parent"], email="ivanova@example.org")
    p2 = user(teacher, "p.petrov", "Петров Игорь", ["parent"])
    p3 = user(teacher, "p.nocons", "Иванов Алексей", ["parent"])
    for student, parent in [(s1, p1), (s2, p2), (s1, p3)]:
        teacher.post(f"/students/{student['id']}/parents", {"parent_id": parent["id"], "relation": "мать"}, expect=201)
    for parent in (p1, p2):
        teacher.put(f"/parents/{parent['id']}/consent", {"given": True, "signed_on": today.isoformat()}, expect=200)
    for student in (s1, s2):
        teacher.post(f"/classes/{c5['id']}/students", {"student_id": student["id"], "order_no": "12-у",
                                                       "on": year["periods"][0]["starts_on"]}, expect=201)
    teacher1 = Api(base).login("ct.volkova", PASSWORD)
    s3 = user(teacher1, "s.orlov", "Орлов Миша", ["student"])
    teacher1.post(f"/classes/{c1['id']}/students", {"student_id": s3["id"], "order_no": "13-у",
                                                    "on": year["periods"][0]["starts_on"]}, expect=201)
    return {"admin": admin, "teacher": teacher, "teacher1": teacher1, "year": year, "maths": maths,
            "russian": russian, "c5": c5, "c1": c1, "s1": s1, "s2": s2, "s3": s3, "p1": p1, "p2": p2,
            "p3": p3, "rus": rus, "deputy": deputy, "today": today, "base": base}


@pytest.fixture(scope="module")
def marked(school):
    """Maths lesson today in 5А with marks 5 (Иванов) and 4 (Петрова)."""
    t = school["teacher"]
    lesson = t.post("/lessons", {"class_id": school["c5"]["id"], "subject_id": school["maths"]["id"],
                                 "date": school["today"].isoformat(), "topic": "Дроби",
                                 "lesson_type": "комбинированный", "homework": "№ 125, 127"}, expect=201)
    assert lesson["late"] is False
    answer = t.put(f"/lessons/{lesson['id']}/marks", {"marks": [
        {"student_id": school["s1"]["id"], "value": 5, "kind": "test", "weight": 2},
        {"student_id": school["s2"]["id"], "value": 4}]}, expect=200)
    assert {m["value"] for m in answer["marks"]} == {5, 4} and all(m["id"] for m in answer["marks"])
    return {**school, "lesson": lesson, "marks": answer["marks"]}


def test_health_readiness_and_openapi(platform):
    assert requests.get(platform.url + "/healthz", timeout=5).json()["status"] == "ok"
    ready = requests.get(platform.url + "/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    spec = requests.get(platform.url + "/api/v1/openapi.json", timeout=5).json()
    for path in ("/auth/login", "/students/{id}/diary", "/lessons/{id}/marks", "/backups", "/reports/{kind}"):
        assert any(p.endswith(path) for p in spec["paths"]), path


def test_login_errors_and_me(school):
    base = school["base"]
    bad = requests.post(base + "/api/v1/auth/login", json={"login": "s.ivanov", "password": "wrong-password"}, timeout=10)
    unknown = requests.post(base + "/api/v1/auth/login", json={"login": "nobody.here", "password": "wrong-password"}, timeout=10)
    assert bad.status_code == unknown.status_code == 401
    assert bad.json()["error"] == unknown.json()["error"] == "INVALID_CREDENTIALS"
    assert requests.get(base + "/api/v1/me", timeout=5).status_code == 401
    forged = requests.get(base + "/api/v1/me", headers={"Authorization": "Bearer abc.def.ghi"}, timeout=5)
    assert forged.status_code == 401 and forged.json()["error"]
    me = school["admin"].get("/me")
    assert "admin" in me["roles"]


def test_parent_without_consent_cannot_log_in(school):
    """R-A4: no consent, no electronic access."""
    resp = requests.post(school["base"] + "/api/v1/auth/login", json={"login": "p.nocons", "password": PASSWORD}, timeout=10)
    assert resp.status_code == 403 and resp.json()["error"] == "NO_CONSENT"


def test_parent_profile_lists_the_child(school):
    parent = Api(school["base"]).login("p.ivanova", PASSWORD)
    me = eventually(lambda: (lambda m: m if m["children"] and m["children"][0]["class_id"] else None)(parent.get("/me")))
    assert [c["id"] for c in me["children"]] == [school["s1"]["id"]]
    assert me["children"][0]["class_id"] == school["c5"]["id"]


def test_teacher_posts_only_in_assigned_class_and_subject(marked):
    """R-A3: a subject teacher writes only to their classes and subjects."""
    rus = Api(marked["base"]).login("t.kuznetsov", PASSWORD)
    resp = rus.request("PUT", f"/lessons/{marked['lesson']['id']}/marks",
                       json={"marks": [{"student_id": marked["s1"]["id"], "value": 2}]})
    assert resp.status_code == 403, resp.text
    resp = rus.request("POST", "/lessons", json={"class_id": marked["c5"]["id"], "subject_id": marked["maths"]["id"],
                                                 "date": marked["today"].isoformat(), "topic": "Чужой урок",
                                                 "lesson_type": "урок"})
    assert resp.status_code == 403, resp.text


def test_mark_rules(marked):
    """R-J3 marks 2..5; R-J4 no marks in grade 1; students must be in the class."""
    t = marked["teacher"]
    lesson = marked["lesson"]
    bad = t.request("PUT", f"/lessons/{lesson['id']}/marks", json={"marks": [{"student_id": marked["s1"]["id"], "value": 7}]})
    assert bad.status_code == 422 and bad.json()["error"] == "INVALID_MARK"
    stranger = t.request("PUT", f"/lessons/{lesson['id']}/marks", json={"marks": [{"student_id": marked["s3"]["id"], "value": 4}]})
    assert stranger.status_code == 422 and stranger.json()["error"] == "STUDENT_NOT_IN_CLASS"
    t1 = marked["teacher1"]
    first = t1.post("/lessons", {"class_id": marked["c1"]["id"], "subject_id": marked["maths"]["id"],
                                 "date": marked["today"].isoformat(), "topic": "Счёт до 10", "lesson_type": "урок"},
                    expect=201)
    resp = t1.request("PUT", f"/lessons/{first['id']}/marks", json={"marks": [{"student_id": marked["s3"]["id"], "value": 5}]})
    assert resp.status_code == 422 and resp.json()["error"] == "NO_MARKS_IN_GRADE_1"
    malformed = t.request("PUT", f"/lessons/{lesson['id']}/marks", data="{not json", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400
    extra = t.request("PUT", f"/lessons/{lesson['id']}/marks", json={"marks": [], "sneaky": 1})
    assert extra.status_code == 400


def test_diary_access(marked):
    """R-A3: a parent sees their own child only (another child: 404); a
    student only themselves; staff of the school see the student."""
    base = marked["base"]
    parent = Api(base).login("p.ivanova", PASSWORD)
    diary = parent.get(f"/students/{marked['s1']['id']}/diary")
    lessons = [l for d in diary["days"] for l in d["lessons"]]
    assert any(l["subject"] == "Математика" and l["topic"] == "Дроби" and [m["value"] for m in l["marks"]] == [5]
               for l in lessons), diary
    assert parent.request("GET", f"/students/{marked['s2']['id']}/diary").status_code == 404
    assert parent.request("GET", f"/students/{uuid.uuid4()}/diary").status_code == 404

    student = Api(base).login("s.ivanov", PASSWORD)
    assert student.request("GET", f"/students/{marked['s1']['id']}/diary").status_code == 200
    assert student.request("GET", f"/students/{marked['s2']['id']}/diary").status_code == 404
    other_child = Api(base).login("s.petrova", PASSWORD)
    mine = other_child.get(f"/students/{marked['s2']['id']}/diary")
    assert [m["value"] for d in mine["days"] for l in d["lessons"] for m in l["marks"]] == [4]
    assert marked["teacher"].request("GET", f"/students/{marked['s2']['id']}/diary").status_code == 200


def test_mark_reaches_the_parents_notifications(marked):
    base = marked["base"]
    p1 = Api(base).login("p.ivanova", PASSWORD)
    # the lesson's homework notifies the parents too; here: the marks
    items = eventually(lambda: [i for i in p1.get("/notifications")["items"] if i["kind"] == "mark"])
    assert len(items) == 1
    assert "5" in items[0]["body"] and "Математика" in items[0]["body"]
    p2 = Api(base).login("p.petrov", PASSWORD)
    items2 = eventually(lambda: [i for i in p2.get("/notifications")["items"] if i["kind"] == "mark"])
    assert len(items2) == 1 and "4" in items2[0]["body"]
    # nobody else is notified: not the student, not the teacher
    time.sleep(0.5)
    assert Api(base).login("s.ivanov", PASSWORD).get("/notifications")["items"] == []
    assert marked["teacher"].get("/notifications")["items"] == []


def test_mark_reaches_the_progress_report(marked):
    """R-R5: the deputy's progress report, from reports' own projection."""
    deputy = Api(marked["base"]).login("d.morozova", PASSWORD)
    query = f"/reports/progress?class_id={marked['c5']['id']}&period_id={marked['year']['periods'][0]['id']}&format=json"

    def report_has_marks():
        rep = deputy.get(query)
        got = {s["id"]: s for s in rep["students"]}
        s1 = got.get(marked["s1"]["id"])
        if s1 and any(sub["marks"] == [5] for sub in s1["subjects"]) and rep["summary"]["students"] == 2:
            return rep
        return None

    report = eventually(report_has_marks)
    assert report["summary"]["pass_rate"] == 100.0 and report["summary"]["quality"] == 100.0
    parent = Api(marked["base"]).login("p.ivanova", PASSWORD)
    assert parent.request("GET", query).status_code == 403
    assert marked["teacher"].request("GET", query).status_code == 200
    pdf = deputy.request("GET", query.replace("format=json", "format=pdf"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_each_process_reports_its_own_metrics(marked, platform):
    """Ops: the journal's /metrics counts the marks' events it relayed; the
    gateway's /metrics sums its own workers only, as in docker-compose.yml:
    no other process's series leaks into it (they would be counted twice)."""
    journal_metrics = f"http://127.0.0.1:{int(platform.env['EJOURNAL_PORT_BASE']) + 12}/metrics"
    relayed = 'ejournal_events_published_total{service="journal",type="mark_posted"}'

    def journal_counted():
        text = requests.get(journal_metrics, timeout=5).text
        return text if relayed in text else None

    assert "ejournal_entrypoint_seconds" in eventually(journal_counted)
    gateway = requests.get(platform.url + "/metrics", timeout=5).text
    assert "gateway_requests_total" in gateway
    assert "ejournal_events_published_total" not in gateway and "ejournal_entrypoint_seconds" not in gateway


def test_backup_copies_every_service(marked, platform):
    admin = marked["admin"]
    assert marked["teacher"].request("POST", "/backups").status_code == 403
    started = admin.post("/backups", expect=202)
    assert started["status"] == "running"

    def finished():
        rows = [b for b in admin.get("/backups")["items"] if b["id"] == started["id"]]
        return rows[0] if rows and rows[0]["status"] != "running" else None

    done = eventually(finished, timeout=60)
    assert done["status"] == "done" and done["verified"] is True and done["size"] > 0
    backup_dir = platform.settings.data_dir / "backups"
    manifest = json.loads((backup_dir / f"{started['id']}.manifest.json").read_text())
    text = json.dumps(manifest)
    for service in ("identity", "journal", "messaging", "reports"):
        assert service in text
    archive = (backup_dir / f"{started['id']}.ejbak").read_bytes()
    assert "Иванов".encode() not in archive and b"s.ivanov" not in archive  # encrypted at rest


def test_a_correction_reaches_the_progress_report(marked):
    """R-J7 + R-R5: a corrected mark replaces the old value in the report
    (reports' projection follows mark_corrected), and a removed mark stops
    counting; both keep their history in the journal."""
    teacher = marked["teacher"]
    mark = next(m for m in marked["marks"] if m["student_id"] == marked["s2"]["id"])
    teacher.call("PATCH", f"/marks/{mark['id']}", json={"value": 3, "reason": "ошибка при вводе"}, expect=200)
    history = teacher.get(f"/marks/{mark['id']}/history")
    assert [h["value"] for h in history] == [4, 3] and history[-1]["reason"] == "ошибка при вводе"
    deputy = Api(marked["base"]).login("d.morozova", PASSWORD)
    query = f"/reports/progress?class_id={marked['c5']['id']}&period_id={marked['year']['periods'][0]['id']}&format=json"

    def marks_of(student_id):
        rep = deputy.get(query)
        row = next(s for s in rep["students"] if s["id"] == student_id)
        return [m for sub in row["subjects"] for m in sub["marks"]]

    eventually(lambda: marks_of(marked["s2"]["id"]) == [3])
    teacher.call("DELETE", f"/marks/{mark['id']}", json={"reason": "поставлена не тому ученику"}, expect=204)
    eventually(lambda: marks_of(marked["s2"]["id"]) == [])
