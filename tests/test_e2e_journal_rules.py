"""The remaining regulation rules end to end through the gateway, on real
RabbitMQ and PostgreSQL with every process started as `make run` starts it:
a subject's R-F2 emphasis (POST/PATCH /subjects) and what it does to final
marks, forecasts and the risk list; attendance covered by the tamper check
(R-J7, GET /journal/verify)."""
from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

from localrun.client import Api

from e2e_support import eventually

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"
SUFFIX = uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def school(platform):
    env, base = platform.env, platform.url
    admin = Api(base).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
    today = dt.datetime.now(ZoneInfo("Europe/Moscow")).date()
    start, end = today - dt.timedelta(days=40), today + dt.timedelta(days=100)
    year = admin.post("/years", {"name": f"Год правил {SUFFIX}", "starts_on": start.isoformat(),
                                 "ends_on": end.isoformat(),
                                 "periods": [{"name": "1 полугодие", "kind": "half_year",
                                              "starts_on": start.isoformat(), "ends_on": end.isoformat()}]})
    physics = admin.post("/subjects", {"name": f"Физика {SUFFIX}"})
    music = admin.post("/subjects", {"name": f"Музыка {SUFFIX}"})

    def user(login, name, roles):
        return admin.post("/users", {"login": f"{login}.{SUFFIX}", "full_name": name, "roles": roles,
                                     "password": PASSWORD})

    teacher = user("rt", "Кузнецов Олег Петрович", ["teacher"])
    ct = user("rct", "Морозова Анна Сергеевна", ["teacher", "class_teacher"])
    klass = admin.post("/classes", {"year_id": year["id"], "grade": 8, "letter": "Е", "class_teacher_id": ct["id"]})
    for subject in (physics, music):
        admin.post("/assignments", {"teacher_id": teacher["id"], "class_id": klass["id"],
                                    "subject_id": subject["id"], "hours_per_week": 2})
    student = user("rs", "Егоров Егор", ["student"])
    admin.post(f"/classes/{klass['id']}/students", {"student_id": student["id"], "order_no": "8-у",
                                                    "on": start.isoformat()}, expect=201)
    t = Api(base).login(f"rt.{SUFFIX}", PASSWORD)
    lessons = {}
    for subject in (physics, music):
        lessons[subject["id"]] = [t.post("/lessons", {
            "class_id": klass["id"], "subject_id": subject["id"], "date": (today - dt.timedelta(days=d)).isoformat(),
            "topic": f"Тема {d}", "lesson_type": "урок"}, expect=201) for d in (3, 2, 1, 0)]
    return {"admin": admin, "teacher": t, "ct": Api(base).login(f"rct.{SUFFIX}", PASSWORD), "env": env,
            "physics": physics, "music": music, "klass": klass, "student": student["id"], "lessons": lessons,
            "period": year["periods"][0]["id"]}


def marks(school, subject, index, value, kind):
    lesson = school["lessons"][subject["id"]][index]["id"]
    return school["teacher"].put(f"/lessons/{lesson}/marks", {"marks": [
        {"student_id": school["student"], "value": value, "kind": kind}]})["marks"][0]


def final(school, subject, value=4):
    return school["teacher"].put("/final-marks", {"student_id": school["student"], "subject_id": subject["id"],
                                                  "period_id": school["period"], "value": value})


def codes(answer):
    return [w["code"] for w in answer["warnings"]]


def test_subject_emphasis_is_set_on_create_and_patch_r_f2(school):
    admin = school["admin"]
    assert school["physics"]["emphasis"] is True and school["music"]["emphasis"] is False
    drawing = admin.post("/subjects", {"name": f"Черчение {SUFFIX}", "emphasis": True})
    assert drawing["emphasis"] is True
    chemistry = admin.post("/subjects", {"name": f"Химия {SUFFIX}", "emphasis": False})
    assert chemistry["emphasis"] is False
    changed = admin.call("PATCH", f"/subjects/{chemistry['id']}", json={"emphasis": True})
    assert changed == {"id": chemistry["id"], "name": f"Химия {SUFFIX}", "emphasis": True}
    bad = admin.request("PATCH", f"/subjects/{chemistry['id']}", json={"emphasis": "да"})
    assert bad.status_code == 400 and bad.json()["error"] == "VALIDATION_ERROR"
    assert admin.request("PATCH", f"/subjects/{uuid.uuid4()}", json={"emphasis": True}).status_code == 404
    assert school["teacher"].request("PATCH", f"/subjects/{chemistry['id']}",
                                     json={"emphasis": False}).status_code == 403


def test_final_marks_forecast_and_risk_of_an_emphasised_subject_r_f2(school):
    physics, music = school["physics"], school["music"]
    empty = final(school, physics)
    assert empty["evidence"]["emphasis"] is True and empty["evidence"]["written_required"] == 1
    assert codes(empty) == ["THIN_EVIDENCE", "WRITTEN_WORK_REQUIRED"]
    assert "письменных, лабораторных и практических работ" in empty["warnings"][1]["message"]
    for index in range(3):
        marks(school, physics, index, 4, "oral")
        marks(school, music, index, 4, "oral")
    assert codes(final(school, physics)) == ["WRITTEN_WORK_REQUIRED"]
    assert codes(final(school, music)) == ["NO_WRITTEN_WORK"]

    forecast = {i["subject_id"]: i for i in school["teacher"].get(
        f"/students/{school['student']}/forecast?period_id={school['period']}")}
    assert forecast[physics["id"]]["emphasis"] is True and forecast[physics["id"]]["written_works"] == 0
    assert forecast[physics["id"]]["confidence"] < forecast[music["id"]]["confidence"]
    risk = school["ct"].get(f"/classes/{school['klass']['id']}/at-risk?period_id={school['period']}")
    [item] = risk["items"]
    assert [(s["subject_id"], s["reasons"]) for s in item["subjects"]] == [(physics["id"], ["NO_WRITTEN_WORK"])]

    marks(school, physics, 3, 5, "lab")
    assert codes(final(school, physics)) == []
    assert school["ct"].get(f"/classes/{school['klass']['id']}/at-risk?period_id={school['period']}")["items"] == []


def test_tamper_check_covers_attendance_r_j7(school):
    lesson = school["lessons"][school["music"]["id"]][0]["id"]
    t, admin = school["teacher"], school["admin"]
    t.put(f"/lessons/{lesson}/attendance", {"entries": [{"student_id": school["student"], "status": "absent"}]})
    t.put(f"/lessons/{lesson}/attendance", {"entries": [{"student_id": school["student"], "status": "ill"}],
                                            "reason": "Справка"})
    clean = admin.get("/journal/verify")
    assert clean["ok"] is True and clean["attendance"]["checked"] >= 1
    engine = create_engine(school["env"]["EJOURNAL_JOURNAL_DATABASE_URL"])
    try:
        with engine.begin() as conn:  # an absence turned into presence behind the service
            conn.execute(text("UPDATE attendance SET status = 'present' WHERE lesson_id = :l"), {"l": lesson})
        report = eventually(lambda: (r := admin.get("/journal/verify")) and not r["ok"] and r)
        assert [(b["lesson_id"], b["student_id"], b["problems"]) for b in report["attendance"]["broken"]] == [
            (lesson, school["student"], ["status"])]
        assert t.request("GET", "/journal/verify").status_code == 403
    finally:
        with engine.begin() as conn:  # put it back: the platform is shared with other e2e files
            conn.execute(text("UPDATE attendance SET status = 'ill' WHERE lesson_id = :l"), {"l": lesson})
        engine.dispose()
    assert admin.get("/journal/verify")["ok"] is True


def test_openapi_documents_the_subject_route(platform):
    import requests
    spec = requests.get(platform.url + "/api/v1/openapi.json", timeout=5).json()
    assert "patch" in spec["paths"]["/api/v1/subjects/{id}"]
    assert "emphasis" in spec["components"]["schemas"]["CreateSubjectRequest"]["properties"]


def test_admin_transcribes_paper_lessons_teachers_may_not(school):
    """POST /imports/lessons: imported lessons are late only where the paper entry was (R-J5)."""
    today = dt.datetime.now(ZoneInfo("Europe/Moscow")).date()
    teacher_id = school["teacher"].user["id"]

    def paper(days_ago, lag):
        day = today - dt.timedelta(days=days_ago)
        return {"teacher_id": teacher_id, "class_id": school["klass"]["id"], "subject_id": school["music"]["id"],
                "date": day.isoformat(), "recorded_on": (day + dt.timedelta(days=lag)).isoformat(),
                "topic": f"Из бумажного журнала {days_ago}", "lesson_type": "урок"}

    body = {"lessons": [paper(30, 0), paper(29, 2), paper(28, 6)]}
    assert school["teacher"].request("POST", "/imports/lessons", json=body).status_code == 403
    key = str(uuid.uuid4())
    result = school["admin"].post("/imports/lessons", body, headers={"Idempotency-Key": key})
    assert (result["imported"], result["late"], result["overdue"]) == (3, 2, 1)
    assert school["admin"].post("/imports/lessons", body, headers={"Idempotency-Key": key}) == result
    grid = school["teacher"].get(f"/classes/{school['klass']['id']}/journal?subject_id={school['music']['id']}"
                                 f"&period_id={school['period']}")
    flags = {l["id"]: (l["late"], l["overdue"]) for l in grid["lessons"]}
    assert [flags[l["id"]] for l in result["lessons"]] == [(False, False), (True, False), (True, True)]
    today_lesson = school["admin"].request("POST", "/imports/lessons", json={"lessons": [paper(0, 0)]})
    assert today_lesson.status_code == 400 and today_lesson.json()["error"] == "VALIDATION_ERROR"
    assert today_lesson.json()["details"] == {"field": "lessons[0].date", "row": 0}
