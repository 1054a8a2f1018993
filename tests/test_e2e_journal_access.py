"""End to end through the gateway, every process started as `make run`
starts it: one owner per access rule (kernel.access_rules, asked by
identity's central decision and by the journal itself), substitutions
(R-J6), corrections by the teacher of the class and subject (R-J7), dangling
references refused, and a year that is not closed by accident (R-S4).
Where a test says "both", identity's decision and the journal's own verdict
are asked directly as well (tests/journal_verdicts.py)."""
from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest

from e2e_support import eventually
from journal_verdicts import Verdicts
from localrun.client import Api

pytestmark = pytest.mark.e2e

PASSWORD = "substitute-pass-2026"
TAG = uuid.uuid4().hex[:8]   # the platform is shared by every e2e file of the run


def today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Europe/Moscow")).date()


@pytest.fixture(scope="module")
def verdicts(platform):
    v = Verdicts(platform)
    yield v
    v.close()


@pytest.fixture(scope="module")
def school(platform):
    """6А of a year around today: maths taught by Иванова, the class teacher
    Сидорова (who teaches no maths), a substitute Петров, a director, two
    pupils; an English subgroup."""
    env = platform.env
    admin = Api(platform.url).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
    t = today()
    start, end = t - dt.timedelta(days=40), t + dt.timedelta(days=120)
    year = admin.post("/years", {"name": f"Год замен {TAG}", "starts_on": start.isoformat(),
                                 "ends_on": end.isoformat(), "periods": [
                                     {"name": "1 полугодие", "kind": "half_year", "starts_on": start.isoformat(),
                                      "ends_on": (t + dt.timedelta(days=20)).isoformat()},
                                     {"name": "2 полугодие", "kind": "half_year",
                                      "starts_on": (t + dt.timedelta(days=30)).isoformat(),
                                      "ends_on": end.isoformat()}]})

    def user(name, full_name, roles):
        made = admin.post("/users", {"login": f"{name}.{TAG}", "full_name": full_name, "roles": roles,
                                     "password": PASSWORD})
        return made["id"], Api(platform.url).login(f"{name}.{TAG}", PASSWORD)

    teacher, teacher_api = user("ivanova", "Иванова Ирина", ["teacher"])
    substitute, substitute_api = user("petrov", "Петров Пётр", ["teacher"])
    ct, ct_api = user("sidorova", "Сидорова Светлана", ["class_teacher"])
    _, director_api = user("director", "Директор Школы", ["director"])
    maths = admin.post("/subjects", {"name": f"Математика {TAG}"})["id"]
    english = admin.post("/subjects", {"name": f"Английский язык {TAG}"})["id"]
    klass = admin.post("/classes", {"year_id": year["id"], "grade": 6, "letter": "А", "class_teacher_id": ct})["id"]
    admin.post("/assignments", {"teacher_id": teacher, "class_id": klass, "subject_id": maths, "hours_per_week": 5})
    pupils = []
    for i in range(2):
        pupil = admin.post("/users", {"login": f"pupil{i}.{TAG}", "full_name": f"Ученик {i}", "roles": ["student"],
                                      "password": PASSWORD})["id"]
        admin.post(f"/classes/{klass}/students", {"student_id": pupil, "order_no": "№ 1-у", "on": start.isoformat()},
                   expect=201)
        pupils.append(pupil)
    group = ct_api.post(f"/classes/{klass}/subgroups", {"subject_id": english, "name": "1 группа",
                                                         "student_ids": pupils[:1]}, expect=201)["id"]
    # identity learns the assignment from the journal's event: the teacher's grid opens then
    eventually(lambda: teacher_api.request(
        "GET", f"/classes/{klass}/journal?subject_id={maths}").status_code == 200, timeout=30)
    return dict(admin=admin, year=year, teacher=teacher, teacher_api=teacher_api, substitute=substitute,
                substitute_api=substitute_api, ct=ct, ct_api=ct_api, director_api=director_api, maths=maths,
                english=english, klass=klass, pupils=pupils, group=group)


def lesson(school, **extra):
    return {"class_id": school["klass"], "subject_id": school["maths"], "date": today().isoformat(),
            "topic": "Дроби", "lesson_type": "урок", **extra}


def test_a_substitute_records_the_lesson_gives_marks_and_the_grid_shows_who_taught_r_j6(school, verdicts):
    sub, token = school["substitute_api"], school["substitute_api"].token
    context = {"subject_id": school["maths"], "substitute_for": school["teacher"]}
    # both owners of the rule accept the substitution before it is made...
    assert verdicts.identity(token, "lesson.write", "class", school["klass"], context)["allowed"] is True
    # ...and refuse the same teacher without it (they do not teach maths in 6А)
    assert verdicts.identity(token, "lesson.write", "class", school["klass"],
                             {"subject_id": school["maths"]})["allowed"] is False
    assert verdicts.journal(token, "record_lesson", lesson(school)) == (False, "NOT_ASSIGNED")
    given = sub.post("/lessons", lesson(school, topic="Проценты", substitute_for=school["teacher"]), expect=201)
    assert (given["teacher_id"], given["substitute_for"]) == (school["substitute"], school["teacher"])
    posted = sub.put(f"/lessons/{given['id']}/marks", {"marks": [{"student_id": school["pupils"][0], "value": 5}]},
                     expect=200)
    sub.put(f"/lessons/{given['id']}/attendance", {"entries": [{"student_id": school["pupils"][1],
                                                                "status": "ill"}]}, expect=200)
    mark = posted["marks"][0]["id"]
    assert verdicts.identity(token, "mark.correct", "mark", mark)["allowed"] is True
    sub.request("PATCH", f"/marks/{mark}", json={"value": 4, "reason": "Ошибка при вводе"}, expect=200)
    grid = school["teacher_api"].get(f"/classes/{school['klass']}/journal?subject_id={school['maths']}")
    [row] = [l for l in grid["lessons"] if l["id"] == given["id"]]
    assert row["teacher"] == {"id": school["substitute"], "full_name": "Петров Пётр"}
    assert row["substitute_for"] == {"id": school["teacher"], "full_name": "Иванова Ирина"}
    assert [(m["value"], m["version"]) for m in grid["marks"] if m["id"] == mark] == [(4, 2)]


def test_the_subject_teacher_and_the_director_correct_a_mark_they_did_not_post_r_j7(school, verdicts):
    admin = school["admin"]
    given = admin.post("/lessons", lesson(school, topic="Уравнения"), expect=201)
    marks = admin.put(f"/lessons/{given['id']}/marks", {"marks": [
        {"student_id": school["pupils"][0], "value": 3}, {"student_id": school["pupils"][1], "value": 4}]},
        expect=200)["marks"]
    teacher, director = school["teacher_api"], school["director_api"]
    for api, mark in ((teacher, marks[0]["id"]), (director, marks[1]["id"])):
        # both owners say yes (identity once it has heard of the mark), and so does the gateway
        assert verdicts.identity(api.token, "mark.correct", "mark", mark)["allowed"] is True
        api.request("PATCH", f"/marks/{mark}", json={"value": 5, "reason": "Апелляция"}, expect=200)
    history = admin.get(f"/marks/{marks[0]['id']}/history")
    assert [(h["value"], h["by"]) for h in history] == [(3, admin.user["id"]), (5, school["teacher"])]
    # the class teacher, who teaches no maths here, corrects neither, on either side
    ct = school["ct_api"]
    assert verdicts.identity(ct.token, "mark.remove", "mark", marks[0]["id"])["allowed"] is False
    assert verdicts.journal(ct.token, "remove_mark", marks[0]["id"], {"reason": "x"}) == (False, "FORBIDDEN")
    assert ct.request("DELETE", f"/marks/{marks[0]['id']}", json={"reason": "x"}).status_code == 403


def test_a_lesson_naming_a_subgroup_that_does_not_exist_is_refused(school):
    admin = school["admin"]
    for subgroup in (str(uuid.uuid4()), school["group"]):  # no such subgroup; the English one for maths
        reply = admin.request("POST", "/lessons", json=lesson(school, subgroup_id=subgroup))
        assert reply.status_code == 404, reply.text
        assert reply.json()["error"] == "NOT_FOUND" and reply.json()["details"]["field"] == "subgroup_id"
    grid = admin.get(f"/classes/{school['klass']}/journal?subject_id={school['maths']}")
    assert not [l for l in grid["lessons"] if l["subgroup_id"]]


def test_a_running_year_is_closed_early_only_on_purpose_r_s4(school):
    admin = school["admin"]
    t = today()
    running = admin.post("/years", {"name": f"Досрочный {TAG}", "starts_on": (t - dt.timedelta(days=300)).isoformat(),
                                    "ends_on": (t + dt.timedelta(days=5)).isoformat(), "periods": [
                                        {"name": "Год", "kind": "half_year",
                                         "starts_on": (t - dt.timedelta(days=300)).isoformat(),
                                         "ends_on": (t + dt.timedelta(days=5)).isoformat()}]})
    refused = admin.request("POST", f"/years/{running['id']}/close", json={"order_no": "№ 9", "promote": False})
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["error"] == "YEAR_NOT_ENDED" and body["details"]["ends_on"] == running["ends_on"]
    assert "досрочно" in body["message"]
    closed = admin.post(f"/years/{running['id']}/close", {"order_no": "№ 9", "promote": False, "early": True},
                        expect=200)
    assert closed["archived"] is True


def test_the_paper_import_refuses_a_lesson_outside_every_period(school):
    """The history import checks a lesson's date against the periods of the
    class's year exactly as POST /lessons does: same code, the row named,
    all or nothing."""
    admin = school["admin"]
    before_the_year = (today() - dt.timedelta(days=45)).isoformat()
    fine = (today() - dt.timedelta(days=2)).isoformat()
    good = {**lesson(school, date=fine, topic="Из бумажного журнала"), "teacher_id": school["teacher"],
            "recorded_on": fine}
    reply = admin.request("POST", "/imports/lessons", json={"lessons": [
        good, {**good, "date": before_the_year, "recorded_on": before_the_year}]})
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"] == "LESSON_OUTSIDE_PERIOD" and reply.json()["details"]["row"] == 1
    direct = admin.request("POST", "/lessons", json=lesson(school, date=before_the_year))
    assert (direct.status_code, direct.json()["error"]) == (422, "LESSON_OUTSIDE_PERIOD")
    grid = admin.get(f"/classes/{school['klass']}/journal?subject_id={school['maths']}&period_id="
                     f"{school['year']['id']}")
    assert "Из бумажного журнала" not in [l["topic"] for l in grid["lessons"]]
