"""Marks, attendance and final marks end to end through the gateway, on real RabbitMQ and
PostgreSQL with every process started as `make run` starts it: marks
corrected and removed with their history and tamper check (R-J7),
attendance with corrections (R-J2), final marks with evidence, forecast and
students at risk (R-F1..R-F4), idempotent writes (API.md Idempotency-Key)."""
from __future__ import annotations

import datetime as dt
import time
import uuid
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import create_engine, text

from localrun.client import Api, ApiError

from e2e_support import eventually

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"
SUFFIX = uuid.uuid4().hex[:8]


def status_of(api, method, path, **kwargs):
    return api.request(method, path, **kwargs)


@pytest.fixture(scope="module")
def school(platform):
    env, base = platform.env, platform.url
    admin = Api(base).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
    today = dt.datetime.now(ZoneInfo("Europe/Moscow")).date()
    first_start, first_end = today - dt.timedelta(days=80), today - dt.timedelta(days=21)
    year = admin.post("/years", {
        "name": f"Год {SUFFIX}", "starts_on": first_start.isoformat(),
        "ends_on": (today + dt.timedelta(days=200)).isoformat(),
        "periods": [
            {"name": "1 полугодие", "kind": "half_year", "starts_on": first_start.isoformat(),
             "ends_on": first_end.isoformat()},
            {"name": "2 полугодие", "kind": "half_year", "starts_on": (first_end + dt.timedelta(days=1)).isoformat(),
             "ends_on": (today + dt.timedelta(days=200)).isoformat()}]})
    algebra = admin.post("/subjects", {"name": f"Алгебра {SUFFIX}"})

    def user(api, login, name, roles):
        return api.post("/users", {"login": f"{login}.{SUFFIX}", "full_name": name, "roles": roles,
                                   "password": PASSWORD})

    ct = user(admin, "ct", "Соколова Ирина Павловна", ["teacher", "class_teacher"])
    teacher = user(admin, "t", "Лебедев Павел Андреевич", ["teacher"])
    other = user(admin, "o", "Орлова Нина Ивановна", ["teacher"])
    deputy = user(admin, "d", "Зайцева Вера Олеговна", ["deputy"])
    c7 = admin.post("/classes", {"year_id": year["id"], "grade": 7, "letter": "Б", "class_teacher_id": ct["id"]})
    admin.post("/assignments", {"teacher_id": teacher["id"], "class_id": c7["id"], "subject_id": algebra["id"],
                                "hours_per_week": 2})
    students = [user(admin, f"s{i}", name, ["student"]) for i, name in enumerate(["Акимов Артём", "Белова Вера"])]
    for s in students:
        admin.post(f"/classes/{c7['id']}/students", {"student_id": s["id"], "order_no": "7-у",
                                                     "on": first_start.isoformat()}, expect=201)
    t = Api(base).login(f"t.{SUFFIX}", PASSWORD)
    lessons = {}
    for days in (30, 6, 2, 1, 0):  # one in the first half-year, the rest in the second
        lessons[days] = t.post("/lessons", {"class_id": c7["id"], "subject_id": algebra["id"],
                                            "date": (today - dt.timedelta(days=days)).isoformat(),
                                            "topic": f"Тема {days}", "lesson_type": "урок"}, expect=201)
    return {"admin": admin, "teacher": t, "ct": Api(base).login(f"ct.{SUFFIX}", PASSWORD),
            "other": Api(base).login(f"o.{SUFFIX}", PASSWORD), "deputy": Api(base).login(f"d.{SUFFIX}", PASSWORD),
            "student": Api(base).login(f"s0.{SUFFIX}", PASSWORD), "year": year, "algebra": algebra, "c7": c7,
            "students": students, "lessons": lessons, "today": today, "env": env, "base": base}


def post_mark(school, lesson_days, value, student=0, key=None, **extra):
    headers = {"Idempotency-Key": key} if key else {}
    return school["teacher"].put(f"/lessons/{school['lessons'][lesson_days]['id']}/marks", {"marks": [
        {"student_id": school["students"][student]["id"], "value": value, **extra}]}, headers=headers)["marks"][0]


def test_correction_removal_history_and_tamper_check_item_5(school):
    """R-J7: a reason is required, every version kept, the chain verifies until
    someone edits a row in the database behind the service."""
    t = school["teacher"]
    mark = post_mark(school, 1, 3)
    bad = t.request("PATCH", f"/marks/{mark['id']}", json={"value": 5})
    assert bad.status_code == 400 and bad.json()["details"]["problems"][0]["field"] == "reason"
    assert school["other"].request("PATCH", f"/marks/{mark['id']}", json={"value": 5, "reason": "x"}).status_code == 403
    fixed = t.call("PATCH", f"/marks/{mark['id']}", json={"value": 4, "reason": "Ошибка при вводе"})
    assert fixed["value"] == 4 and fixed["old"]["value"] == 3 and fixed["version"] == 2
    school["deputy"].call("PATCH", f"/marks/{mark['id']}", json={"value": 5, "reason": "Апелляция родителей"})
    gone = post_mark(school, 1, 2)
    assert t.request("DELETE", f"/marks/{gone['id']}", json={"reason": "Не тому ученику"}).status_code == 204
    assert t.request("PATCH", f"/marks/{gone['id']}", json={"value": 4, "reason": "x"}).json()["error"] == "MARK_REMOVED"

    history = school["deputy"].request("GET", f"/marks/{mark['id']}/history", expect=200)
    assert history.headers["X-Chain-Verified"] == "true"
    assert [(v["value"], v["reason"]) for v in history.json()] == [
        (3, None), (4, "Ошибка при вводе"), (5, "Апелляция родителей")]
    assert school["student"].request("GET", f"/marks/{mark['id']}/history").status_code == 403

    diary = eventually(lambda: school["student"].get(
        f"/students/{school['students'][0]['id']}/diary?from={school['today'] - dt.timedelta(days=1)}"
        f"&to={school['today'] - dt.timedelta(days=1)}"))
    shown = [m["id"] for d in diary["days"] for l in d["lessons"] for m in l["marks"]]
    assert mark["id"] in shown and gone["id"] not in shown

    admin = school["admin"]
    assert admin.get("/journal/verify")["ok"] is True
    engine = create_engine(school["env"]["EJOURNAL_JOURNAL_DATABASE_URL"])
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE marks SET value = 2 WHERE id = :id"), {"id": mark["id"]})
        report = admin.get("/journal/verify")
        assert report["ok"] is False
        assert {"mark_id": mark["id"], "problems": ["value"]} in [
            {k: b[k] for k in ("mark_id", "problems")} for b in report["broken"]]
        assert school["deputy"].request("GET", f"/marks/{mark['id']}/history").headers["X-Chain-Verified"] == "false"
        assert t.request("GET", "/journal/verify").status_code == 403
    finally:
        with engine.begin() as conn:  # put it back: the platform is shared with other e2e files
            conn.execute(text("UPDATE marks SET value = 5 WHERE id = :id"), {"id": mark["id"]})
        engine.dispose()


def test_attendance_and_the_weekly_correction_item_4(school):
    """R-J2: statuses per lesson; changes keep history with a reason; the
    lesson's teacher corrects within 3 days, the class teacher weekly."""
    t, ct = school["teacher"], school["ct"]
    s0, s1 = (s["id"] for s in school["students"])
    lesson = school["lessons"][6]["id"]
    first = t.put(f"/lessons/{lesson}/attendance", {"entries": [
        {"student_id": s0, "status": "absent"}, {"student_id": s1, "status": "late"}]})
    assert first["changed"] == 2
    late = t.request("PUT", f"/lessons/{lesson}/attendance", json={
        "entries": [{"student_id": s0, "status": "ill"}], "reason": "Справка"})
    assert late.status_code == 422 and late.json()["error"] == "CORRECTION_CLOSED"
    no_reason = ct.request("PUT", f"/lessons/{lesson}/attendance", json={"entries": [{"student_id": s0, "status": "ill"}]})
    assert no_reason.status_code == 400
    fixed = ct.put(f"/lessons/{lesson}/attendance", {"entries": [{"student_id": s0, "status": "ill"}],
                                                     "reason": "Справка из поликлиники"})
    assert {e["student_id"]: (e["status"], e["version"]) for e in fixed["entries"]} == {
        s0: ("ill", 2), s1: ("late", 1)}
    bad = t.request("PUT", f"/lessons/{lesson}/attendance", json={"entries": [{"student_id": s0, "status": "sick"}]})
    assert bad.status_code == 400
    day = (school["today"] - dt.timedelta(days=6)).isoformat()
    diary = eventually(lambda: school["student"].get(f"/students/{s0}/diary?from={day}&to={day}"))
    assert [l["attendance"] for d in diary["days"] for l in d["lessons"]] == ["ill"]


def test_final_marks_forecast_and_risk_item_7(school):
    """R-F2: evidence and warnings; R-F3: late after 2 days; R-F4 forecast and risk."""
    t = school["teacher"]
    s0, s1 = (s["id"] for s in school["students"])
    for days, value, kind in ((2, 5, "written"), (0, 4, "oral")):
        post_mark(school, days, value, kind=kind)
    post_mark(school, 2, 2, student=1)
    post_mark(school, 0, 2, student=1)
    current = school["year"]["periods"][1]["id"]
    final = t.put("/final-marks", {"student_id": s0, "subject_id": school["algebra"]["id"], "period_id": current,
                                   "value": 5})
    assert final["evidence"]["required"] == 3 and final["late"] is False
    assert final["evidence"]["marks_count"] >= 2
    late = t.put("/final-marks", {"student_id": s0, "subject_id": school["algebra"]["id"],
                                  "period_id": school["year"]["periods"][0]["id"], "value": 4})
    assert late["late"] is True and "LATE" in [w["code"] for w in late["warnings"]]
    assert "THIN_EVIDENCE" in [w["code"] for w in late["warnings"]]
    assert school["other"].request("PUT", "/final-marks", json={
        "student_id": s0, "subject_id": school["algebra"]["id"], "period_id": current, "value": 4}).status_code == 403

    forecast = eventually(lambda: school["student"].get(f"/students/{s0}/forecast?period_id={current}"))
    [item] = forecast
    assert item["subject_id"] == school["algebra"]["id"] and item["predicted"] in (4, 5)
    assert 0 < item["confidence"] <= 1
    assert school["student"].request("GET", f"/students/{s1}/forecast").status_code == 404
    risk = eventually(lambda: school["ct"].get(f"/classes/{school['c7']['id']}/at-risk?period_id={current}"))
    flagged = {i["student_id"]: i["subjects"][0]["reasons"] for i in risk["items"]}
    assert "LOW_FORECAST" in flagged[s1]
    # the grid of the subject names the same students at risk, for the same reasons
    grid = school["ct"].get(f"/classes/{school['c7']['id']}/journal?subject_id={school['algebra']['id']}"
                            f"&period_id={current}")
    in_subject = {i["student_id"]: s["reasons"] for i in risk["items"] for s in i["subjects"]
                  if s["subject_id"] == school["algebra"]["id"]}
    assert {r["student_id"]: r["reasons"] for r in grid["at_risk"]} == in_subject
    assert grid["class_name"] == school["c7"]["name"] and current in [p["id"] for p in grid["year"]["periods"]]


def test_a_double_click_never_makes_two_marks_item_10(school):
    """API.md: the same Idempotency-Key returns the first result and changes nothing."""
    key = str(uuid.uuid4())
    first = post_mark(school, 30, 4, student=1, key=key)
    again = post_mark(school, 30, 4, student=1, key=key)
    assert again == first
    reused = school["teacher"].request("PUT", f"/lessons/{school['lessons'][30]['id']}/marks", json={
        "marks": [{"student_id": school["students"][1]["id"], "value": 3}]}, headers={"Idempotency-Key": key})
    assert reused.status_code == 409 and reused.json()["error"] == "IDEMPOTENCY_KEY_REUSED"
    day = (school["today"] - dt.timedelta(days=30)).isoformat()
    diary = eventually(lambda: school["ct"].get(f"/students/{school['students'][1]['id']}/diary?from={day}&to={day}"))
    assert [m["id"] for d in diary["days"] for l in d["lessons"] for m in l["marks"]] == [first["id"]]
    k2 = str(uuid.uuid4())
    c1 = school["teacher"].call("PATCH", f"/marks/{first['id']}", json={"value": 5, "reason": "x"},
                                headers={"Idempotency-Key": k2})
    c2 = school["teacher"].call("PATCH", f"/marks/{first['id']}", json={"value": 5, "reason": "x"},
                                headers={"Idempotency-Key": k2})
    assert c1 == c2 and c1["version"] == 2


def test_class_journal_grid_item_8(school):
    """API.md grid over gRPC: teachers of the class and the administration; others 404."""
    t = school["teacher"]
    mark = post_mark(school, 0, 4, student=1)
    t.put(f"/lessons/{school['lessons'][0]['id']}/attendance", {"entries": [
        {"student_id": school["students"][0]["id"], "status": "absent"}]})
    path = f"/classes/{school['c7']['id']}/journal?subject_id={school['algebra']['id']}"
    grid = t.get(path)
    assert grid["period_id"] == school["year"]["periods"][1]["id"]
    assert {s["id"] for s in grid["students"]} == {s["id"] for s in school["students"]}
    assert school["lessons"][0]["id"] in [l["id"] for l in grid["lessons"]]
    assert mark["id"] in [m["id"] for m in grid["marks"]]
    assert {"lesson_id": school["lessons"][0]["id"], "student_id": school["students"][0]["id"],
            "status": "absent", "version": 1} in grid["attendance"]
    whole_year = school["ct"].get(path + f"&period_id={school['year']['id']}")
    assert len(whole_year["lessons"]) == len(school["lessons"])
    assert school["other"].request("GET", path).status_code == 404
    assert school["student"].request("GET", path).status_code == 404


def test_openapi_lists_the_new_routes(platform):
    spec = requests.get(platform.url + "/api/v1/openapi.json", timeout=5).json()
    for path in ("/marks/{id}", "/marks/{id}/history", "/journal/verify", "/lessons/{id}/attendance",
                 "/final-marks", "/students/{id}/forecast", "/classes/{id}/at-risk", "/classes/{id}/journal"):
        assert "/api/v1" + path in spec["paths"], path
