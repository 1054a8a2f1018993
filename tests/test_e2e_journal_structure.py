"""The school structure end to end through the gateway, every process started as
`make run` starts it: student movement and the year close with promotion
(R-S3, R-S4), subgroups and the timetable with its conflicts (R-S5, R-S6),
the thematic plan and its coverage (R-J8), the bulk import of students with
parents from CSV and XLSX (R-S2)."""
from __future__ import annotations

import datetime as dt
import io
import time
import uuid
from zoneinfo import ZoneInfo

import pytest
import requests
from openpyxl import Workbook

from localrun.client import Api

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"
TAG = uuid.uuid4().hex[:8]   # the platform is shared by every e2e file of the run


def login_of(name: str) -> str:
    return f"{name}.{TAG}"


@pytest.fixture(scope="module")
def admin(platform):
    env = platform.env
    return Api(platform.url).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])


def new_user(api, name, full_name, roles, **extra):
    return api.post("/users", {"login": login_of(name), "full_name": full_name, "roles": roles,
                               "password": PASSWORD, **extra})


def year_body(name, starts_on: dt.date, ends_on: dt.date):
    return {"name": f"{name} {TAG}", "starts_on": starts_on.isoformat(), "ends_on": ends_on.isoformat(),
            "periods": [{"name": "Год", "kind": "half_year", "starts_on": starts_on.isoformat(),
                         "ends_on": ends_on.isoformat()}]}


def today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Europe/Moscow")).date()


# --- item 1: movement, year close, promotion (R-S3, R-S4) ---------------------------

def test_r_s3_r_s4_movement_history_and_year_close_with_promotion(admin):
    old = admin.post("/years", year_body("Архивный", dt.date(2020, 9, 1), dt.date(2021, 5, 31)))
    new = admin.post("/years", year_body("Следующий", dt.date(2021, 9, 1), dt.date(2022, 5, 31)))
    ct = new_user(admin, "ct.move", "Зайцева Ирина", ["teacher", "class_teacher"])
    c5a = admin.post("/classes", {"year_id": old["id"], "grade": 5, "letter": "А", "class_teacher_id": ct["id"]})
    c5b = admin.post("/classes", {"year_id": old["id"], "grade": 5, "letter": "Б", "class_teacher_id": ct["id"]})
    c11 = admin.post("/classes", {"year_id": old["id"], "grade": 11, "letter": "А", "class_teacher_id": ct["id"]})
    kids = {n: new_user(admin, f"s.{n}", f"Ученик {n}", ["student"]) for n in ("a", "b", "c", "grad")}
    for n, klass in (("a", c5a), ("b", c5a), ("c", c5a), ("grad", c11)):
        admin.post(f"/classes/{klass['id']}/students", {"student_id": kids[n]["id"], "order_no": "№ 1-у",
                                                        "on": "2020-09-01"}, expect=201)
    moved = admin.post(f"/students/{kids['b']['id']}/transfer",
                       {"to_class_id": c5b["id"], "order_no": "№ 20-у", "on": "2020-10-01"}, expect=200)
    assert moved["from_class_id"] == c5a["id"] and moved["to_class_id"] == c5b["id"]
    left = admin.post(f"/students/{kids['c']['id']}/departure",
                      {"order_no": "№ 30-в", "on": "2020-11-02", "reason": "переезд"}, expect=200)
    assert left["reason"] == "left"
    history = admin.get(f"/students/{kids['b']['id']}/movements")["items"]
    assert [(h["class_name"], h["left_reason"]) for h in history] == [("5А", "transferred"), ("5Б", None)]
    # only the administrator moves students
    teacher = Api(admin.base).login(login_of("ct.move"), PASSWORD)
    denied = teacher.request("POST", f"/students/{kids['a']['id']}/transfer",
                             json={"to_class_id": c5b["id"], "order_no": "1", "on": "2020-10-05"})
    assert denied.status_code == 403

    summary = admin.post(f"/years/{old['id']}/close", {"order_no": "№ 99-у", "promote": True,
                                                       "next_year_id": new["id"]}, expect=200)
    assert summary["archived"] is True and summary["next_year_id"] == new["id"]
    assert (summary["promoted"], summary["graduated"], summary["held_back"]) == (2, 1, 0)
    assert sorted((c["from"], c["to"], c["students"]) for c in summary["classes"]) == [("5А", "6А", 1),
                                                                                        ("5Б", "6Б", 1)]
    assert sorted(c["name"] for c in summary["created_classes"]) == ["6А", "6Б"]
    history = admin.get(f"/students/{kids['a']['id']}/movements")["items"]
    assert [(h["class_name"], h["enrolled_on"], h["left_reason"]) for h in history] == [
        ("5А", "2020-09-01", "promoted"), ("6А", "2021-09-01", None)]
    # the archive is read-only, and closes once
    again = admin.request("POST", f"/years/{old['id']}/close", json={"order_no": "№ 100"})
    assert again.status_code == 409 and again.json()["error"] == "YEAR_ALREADY_CLOSED"
    late = admin.request("POST", "/classes", json={"year_id": old["id"], "grade": 7, "letter": "В",
                                                   "class_teacher_id": ct["id"]})
    assert late.status_code == 422 and late.json()["error"] == "YEAR_CLOSED"


# --- item 1: subgroups and the timetable (R-S5, R-S6) --------------------------------

@pytest.fixture(scope="module")
def current(admin):
    """A year around today with a class, two teachers and three students."""
    t = today()
    year = admin.post("/years", year_body("Текущий", t - dt.timedelta(days=30), t + dt.timedelta(days=150)))
    english = admin.post("/subjects", {"name": f"Английский язык {TAG}"})
    maths = admin.post("/subjects", {"name": f"Алгебра {TAG}"})
    ct = new_user(admin, "ct.cur", "Белова Светлана", ["teacher", "class_teacher"])
    t2 = new_user(admin, "t.eng", "Грин Анна", ["teacher"])
    sched = new_user(admin, "sched", "Диспетчер Расписания", ["scheduler"])
    c7a = admin.post("/classes", {"year_id": year["id"], "grade": 7, "letter": "А", "class_teacher_id": ct["id"]})
    c7b = admin.post("/classes", {"year_id": year["id"], "grade": 7, "letter": "Б", "class_teacher_id": t2["id"]})
    kids = [new_user(admin, f"s.cur{i}", f"Ученик Текущий {i}", ["student"]) for i in range(3)]
    for kid in kids:
        admin.post(f"/classes/{c7a['id']}/students", {"student_id": kid["id"], "order_no": "№ 5",
                                                      "on": year["starts_on"]}, expect=201)
    admin.post("/assignments", {"teacher_id": ct["id"], "class_id": c7a["id"], "subject_id": maths["id"],
                                "hours_per_week": 3})
    return dict(year=year, period=year["periods"][0], english=english, maths=maths, ct=ct, t2=t2, c7a=c7a,
                c7b=c7b, kids=kids, teacher=Api(admin.base).login(login_of("ct.cur"), PASSWORD),
                scheduler=Api(admin.base).login(login_of("sched"), PASSWORD))


def test_r_s5_r_s6_subgroups_and_a_timetable_without_double_booking(current):
    teacher, sched = current["teacher"], current["scheduler"]
    g1 = teacher.post(f"/classes/{current['c7a']['id']}/subgroups", {
        "subject_id": current["english"]["id"], "name": "1 группа", "student_ids": [current["kids"][0]["id"]]},
        expect=201)
    g2 = teacher.post(f"/classes/{current['c7a']['id']}/subgroups", {
        "subject_id": current["english"]["id"], "name": "2 группа",
        "student_ids": [k["id"] for k in current["kids"][1:]]}, expect=201)
    twice = teacher.request("POST", f"/classes/{current['c7a']['id']}/subgroups", json={
        "subject_id": current["english"]["id"], "name": "3 группа", "student_ids": [current["kids"][0]["id"]]})
    assert twice.status_code == 409 and twice.json()["error"] == "ALREADY_IN_SUBGROUP"

    pid = current["period"]["id"]
    week = sched.put(f"/classes/{current['c7a']['id']}/timetable", {"period_id": pid, "slots": [
        {"weekday": 1, "number": 1, "subject_id": current["maths"]["id"], "teacher_id": current["ct"]["id"],
         "room": "31"},
        {"weekday": 1, "number": 2, "subject_id": current["english"]["id"], "teacher_id": current["ct"]["id"],
         "room": "31", "subgroup_id": g1["id"]},
        {"weekday": 1, "number": 2, "subject_id": current["english"]["id"], "teacher_id": current["t2"]["id"],
         "room": "32", "subgroup_id": g2["id"]},
    ]}, expect=200)
    assert len(week["slots"]) == 3
    back = teacher.get(f"/classes/{current['c7a']['id']}/timetable?period_id={pid}")
    assert sorted((s["number"], s["room"]) for s in back["slots"]) == [(1, "31"), (2, "31"), (2, "32")]
    assert [s["number"] for s in back["slots"]] == [1, 2, 2]
    clash = sched.request("PUT", f"/classes/{current['c7b']['id']}/timetable", json={"period_id": pid, "slots": [
        {"weekday": 1, "number": 1, "subject_id": current["maths"]["id"], "teacher_id": current["ct"]["id"],
         "room": "40"},
        {"weekday": 1, "number": 2, "subject_id": current["maths"]["id"], "teacher_id": current["ct"]["id"],
         "room": "41"}]})
    assert clash.status_code == 409 and clash.json()["error"] == "TIMETABLE_CONFLICT"
    assert {(c["kind"], c["slot"]) for c in clash.json()["details"]["conflicts"]} == {("teacher", 0), ("teacher", 1)}
    room = sched.request("PUT", f"/classes/{current['c7b']['id']}/timetable", json={"period_id": pid, "slots": [
        {"weekday": 1, "number": 1, "subject_id": current["maths"]["id"], "teacher_id": current["t2"]["id"],
         "room": "31"}]})
    assert room.status_code == 409 and room.json()["details"]["conflicts"][0]["kind"] == "room"
    # a teacher is not the scheduler
    assert teacher.request("PUT", f"/classes/{current['c7b']['id']}/timetable",
                           json={"period_id": pid, "slots": []}).status_code == 403


# --- item 6: the thematic plan and its coverage (R-J8) ------------------------------

def test_r_j8_plan_and_coverage_taught_vs_planned(current, admin):
    teacher = current["teacher"]
    plan = teacher.post("/plans", {"class_id": current["c7a"]["id"], "subject_id": current["maths"]["id"],
                                   "period_id": current["period"]["id"], "topics": [
                                       {"number": 1, "title": "Линейные уравнения", "hours": 6},
                                       {"number": 2, "title": "Системы уравнений", "hours": 4}]}, expect=201)
    assert plan["hours"] == 10
    for days_ago in (1, 2):
        teacher.post("/lessons", {"class_id": current["c7a"]["id"], "subject_id": current["maths"]["id"],
                                  "date": (today() - dt.timedelta(days=days_ago)).isoformat(),
                                  "topic": "Линейные уравнения", "lesson_type": "урок"}, expect=201)
    mine = teacher.get(f"/plans/coverage?period_id={current['period']['id']}")
    [item] = [i for i in mine["items"] if i["plan_id"] == plan["id"]]
    assert (item["planned_hours"], item["taught_hours"], item["percent"]) == (10, 2, 20.0)
    new_user(admin, "dep.cov", "Завуч Покрытия", ["deputy"])
    dep = Api(admin.base).login(login_of("dep.cov"), PASSWORD)
    by_class = dep.get(f"/plans/coverage?period_id={current['period']['id']}&class_id={current['c7a']['id']}")
    assert [i["subject_name"] for i in by_class["items"]] == [current["maths"]["name"]]
    dup = teacher.request("POST", "/plans", json={"class_id": current["c7a"]["id"], "subject_id": current["maths"]["id"],
                                                 "period_id": current["period"]["id"],
                                                 "topics": [{"number": 1, "title": "Повтор", "hours": 1}]})
    assert dup.status_code == 409


# --- item 2: the bulk import (R-S2) --------------------------------------------------

HEADER = ["ФИО ученика", "Дата рождения", "Пол", "Логин ученика", "ФИО родителя", "E-mail родителя",
          "Логин родителя", "Кем приходится"]


def import_rows():
    return [
        ["Соколов Артём", "12.04.2016", "м", login_of("imp.sokolov"), "Соколова Вера", "sokolova@example.ru",
         login_of("imp.sokolova"), "мать"],
        ["Соколов Артём", "12.04.2016", "м", login_of("imp.sokolov"), "Соколов Денис", "sokolov@example.ru",
         login_of("imp.sokolov.d"), "отец"],
        ["Лебедева Ника", "30.11.2015", "ж", login_of("imp.lebedeva"), "Лебедев Юрий", "lebedev@example.ru",
         login_of("imp.lebedev"), "отец"],
    ]


def as_csv(rows) -> bytes:
    return "\n".join(";".join(r) for r in [HEADER, *rows]).encode("utf-8")


def as_xlsx(rows) -> bytes:
    book = Workbook()
    for row in [HEADER, *rows]:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_r_s2_import_csv_then_the_same_rows_as_xlsx_change_nothing(current):
    teacher = current["teacher"]
    t = today()
    # the class teacher of 7А imports into their own class (R-S2)
    url = (f"/imports/students?class_id={current['c7a']['id']}&order_no=%E2%84%96%2010&on={t.isoformat()}")
    bad = [*import_rows(), ["Без Даты", "", "м", login_of("imp.nodate"), "Родитель", "p@example.ru",
                            login_of("imp.nodate.p"), "мать"]]
    refused = teacher.post(url, data=as_csv(bad), headers={"Content-Type": "text/csv"}, expect=200)
    assert refused["applied"] is False and [e["row"] for e in refused["errors"]] == [5]
    assert refused["created"] == 0
    nobody = requests.post(teacher.base + "/api/v1/auth/login",
                           json={"login": login_of("imp.sokolov"), "password": "x" * 10}, timeout=10)
    assert nobody.status_code == 401  # all or nothing: no account was made

    first = teacher.post(url, data=as_csv(import_rows()), headers={"Content-Type": "text/csv"}, expect=200)
    assert first["applied"] is True and first["errors"] == []
    assert (first["created"], first["updated"], first["unchanged"]) == (2, 0, 0)
    passwords = {c["login"]: c["initial_password"] for c in first["credentials"]}
    assert len(passwords) == 5
    student = Api(teacher.base).login(login_of("imp.sokolov"), passwords[login_of("imp.sokolov")])
    assert "student" in student.user["roles"]

    files = {"file": ("7А.xlsx", as_xlsx(import_rows()),
                      "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")}
    again = teacher.post(url, files=files, expect=200)
    assert (again["applied"], again["created"], again["updated"], again["unchanged"]) == (True, 0, 0, 2)
    assert again["credentials"] == []
    history = Api(teacher.base).login(login_of("ct.cur"), PASSWORD).get(
        f"/students/{student.user['id']}/movements")["items"]
    assert [h["class_name"] for h in history] == ["7А"]


def test_r_s2_an_import_as_a_job_is_polled_to_its_result_and_hidden_from_others(current, admin):
    """Prefer: respond-async: 202 at once, the journal runs the job from its own event, GET /jobs/{id}
    shows it to its starter and the administration only (the same answer as the waiting call)."""
    teacher = current["teacher"]
    t = today()
    url = f"/imports/students?class_id={current['c7a']['id']}&order_no=%E2%84%96%2011&on={t.isoformat()}"
    rows = [["Орлов Глеб", "01.02.2016", "м", login_of("job.orlov"), "Орлова Ия", "orlova@example.ru",
             login_of("job.orlova"), "мать"]]
    started = teacher.post(url, data=as_csv(rows), headers={"Content-Type": "text/csv", "Prefer": "respond-async"},
                           expect=202)
    assert started["status"] == "queued"
    job = {}
    deadline = dt.datetime.now() + dt.timedelta(seconds=60)
    while job.get("status") not in ("done", "failed") and dt.datetime.now() < deadline:
        time.sleep(0.3)
        job = teacher.get(f"/jobs/{started['job_id']}")
        assert job["status"] in ("queued", "running", "done", "failed") and job["done"] <= max(job["total"], 1)
    assert job["status"] == "done", job
    assert job["result"]["applied"] is True and job["result"]["created"] == 1
    assert {c["login"] for c in job["result"]["credentials"]} == {login_of("job.orlov"), login_of("job.orlova")}
    seen_by_admin = admin.get(f"/jobs/{started['job_id']}")
    assert seen_by_admin["status"] == "done" and seen_by_admin["result"]["credentials"] == []
    again = teacher.get(f"/jobs/{started['job_id']}")["result"]  # the passwords were shown once
    assert again["credentials"] == [] and again["credentials_shown"] == 2
    Api(admin.base).login(login_of("t.eng"), PASSWORD).get(f"/jobs/{started['job_id']}", expect=404)
    current["scheduler"].get(f"/jobs/{started['job_id']}", expect=403)  # never starts one
