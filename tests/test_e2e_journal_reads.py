"""The read side of the API end to end through the gateway, every process
started as `make run` starts it (API.md "Reads the portal and scripts
need"): the structure a portal or a script needs to find its ids (years,
subjects, classes, a class list with families for the class teacher, a
teacher's classes), a class's lessons and one lesson, the attendance
history for the administration (R-J7), final marks in the family's view
(R-F1); cursor pages walked to the end; 404 for what the caller may not
see; every answer checked against the published OpenAPI document."""
from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest
from jsonschema import Draft202012Validator

from localrun.client import Api

from e2e_support import eventually

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"
TAG = uuid.uuid4().hex[:8]   # the platform is shared by every e2e file of the run
P = "/api/v1"


@pytest.fixture(scope="module")
def school(platform):
    env, base = platform.env, platform.url
    admin = Api(base).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
    today = dt.datetime.now(ZoneInfo("Europe/Moscow")).date()
    start, first_end = today - dt.timedelta(days=80), today - dt.timedelta(days=21)
    end = today + dt.timedelta(days=200)
    year = admin.post("/years", {
        "name": f"Год чтения {TAG}", "starts_on": start.isoformat(), "ends_on": end.isoformat(),
        "periods": [
            {"name": "1 полугодие", "kind": "half_year", "starts_on": start.isoformat(),
             "ends_on": first_end.isoformat()},
            {"name": "2 полугодие", "kind": "half_year", "starts_on": (first_end + dt.timedelta(days=1)).isoformat(),
             "ends_on": end.isoformat()}]})
    physics = admin.post("/subjects", {"name": f"Физика {TAG}"})

    def user(login, name, roles):
        return admin.post("/users", {"login": f"{login}.{TAG}", "full_name": name, "roles": roles,
                                     "password": PASSWORD})

    ct = user("ct", "Морозова Анна Ивановна", ["teacher", "class_teacher"])
    teacher = user("t", "Волков Илья Петрович", ["teacher"])
    stranger = user("o", "Сидорова Ольга", ["teacher"])
    deputy = user("d", "Кузнецов Олег", ["deputy"])
    c8 = admin.post("/classes", {"year_id": year["id"], "grade": 8, "letter": "В", "class_teacher_id": ct["id"]})
    admin.post("/assignments", {"teacher_id": teacher["id"], "class_id": c8["id"], "subject_id": physics["id"],
                                "hours_per_week": 2})
    pupils = [user(f"s{i}", name, ["student"]) for i, name in enumerate(["Юдин Юрий", "Абрамова Алла"])]
    parent = user("p", "Юдина Мария", ["parent"])
    other_parent = user("p2", "Абрамов Андрей", ["parent"])
    for kid, mum in ((pupils[0], parent), (pupils[1], other_parent)):
        admin.post(f"/classes/{c8['id']}/students", {"student_id": kid["id"], "order_no": "8-у",
                                                     "on": start.isoformat()}, expect=201)
        admin.post(f"/students/{kid['id']}/parents", {"parent_id": mum["id"], "relation": "мать"}, expect=201)
        admin.put(f"/parents/{mum['id']}/consent", {"given": True, "signed_on": today.isoformat()}, expect=200)

    def login(name):
        return Api(base).login(f"{name}.{TAG}", PASSWORD)

    return {"admin": admin, "year": year, "physics": physics, "c8": c8, "pupils": pupils, "parent": parent,
            "ids": {"ct": ct["id"], "teacher": teacher["id"], "stranger": stranger["id"], "deputy": deputy["id"]},
            "ct": login("ct"), "teacher": login("t"), "stranger": login("o"), "deputy": login("d"),
            "family": login("p"), "other_family": login("p2"), "today": today}


@pytest.fixture(scope="module")
def document(school):
    return school["admin"].get("/openapi.json")


def documented(document, path: str, answer, status: int = 200):
    """``answer`` is what the published document promises for GET ``path``."""
    op = document["paths"][P + path]["get"]
    entry = op["responses"][str(status)]
    if "$ref" in entry:
        entry = document["components"]["responses"][entry["$ref"].rsplit("/", 1)[-1]]
    schema = entry["content"]["application/json"]["schema"]
    errors = list(Draft202012Validator({**schema, "components": document["components"]}).iter_errors(answer))
    assert not errors, f"GET {path}: {[e.message for e in errors]}"
    return answer


def walk(api, path: str, limit: int = 2) -> list:
    """Every item of a list, page by page, asserting the pages end."""
    items, cursor, pages = [], None, 0
    while True:
        sep = "&" if "?" in path else "?"
        page = api.get(f"{path}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor, pages = page["next_cursor"], pages + 1
        if cursor is None:
            return items
        assert pages < 500, "the pages do not end"


def test_structure_reads_give_a_script_every_id_it_needs(school, document):
    """Years with periods, subjects, classes with the class teacher and size, paged to the end."""
    admin, teacher = school["admin"], school["teacher"]
    years = walk(teacher, "/years", limit=1)
    assert len({y["id"] for y in years}) == len(years)  # no year twice across pages
    mine = next(y for y in years if y["id"] == school["year"]["id"])
    assert mine["closed"] is False and [p["name"] for p in mine["periods"]] == ["1 полугодие", "2 полугодие"]
    documented(document, "/years", teacher.get("/years"))

    subjects = walk(admin, "/subjects", limit=3)
    assert {"id": school["physics"]["id"], "name": f"Физика {TAG}", "emphasis": True} in subjects
    assert [s["name"] for s in subjects] == sorted(s["name"] for s in subjects)
    documented(document, "/subjects", admin.get("/subjects"))

    classes = eventually(lambda: admin.get(f"/classes?year_id={school['year']['id']}"))
    documented(document, "/classes", classes)
    assert classes["items"] == [{"id": school["c8"]["id"], "name": "8В", "year_id": school["year"]["id"], "grade": 8,
                                 "letter": "В", "class_teacher": {"id": school["ids"]["ct"],
                                                                  "full_name": "Морозова Анна Ивановна"},
                                 "size": 2}]
    # families do not list the school's structure
    assert school["family"].request("GET", "/classes").status_code == 403
    bad = admin.request("GET", "/classes?limit=0")
    assert bad.status_code == 400 and bad.json()["details"]["problems"][0]["field"] == "limit"
    bad = admin.request("GET", "/subjects?cursor=not-a-cursor")
    assert bad.status_code == 400 and bad.json()["details"]["field"] == "cursor"


def test_r_a4_class_list_with_parents_and_consent_for_the_class_teacher_only(school, document):
    c8 = school["c8"]["id"]
    as_teacher = school["teacher"].get(f"/classes/{c8}/students")
    documented(document, "/classes/{id}/students", as_teacher)
    assert [s["full_name"] for s in as_teacher["items"]] == ["Абрамова Алла", "Юдин Юрий"]
    assert all("parents" not in s for s in as_teacher["items"])

    def with_parents():
        page = school["ct"].get(f"/classes/{c8}/students")
        # identity hears of the class and its students from the journal's events
        return page if all(s.get("parents") for s in page["items"]) else None
    as_ct = eventually(with_parents)
    documented(document, "/classes/{id}/students", as_ct)
    assert as_ct["class"] == {"id": c8, "name": school["c8"]["name"], "year_id": school["year"]["id"]}
    yudin = next(s for s in as_ct["items"] if s["id"] == school["pupils"][0]["id"])
    assert yudin["parents"] == [{"id": school["parent"]["id"], "full_name": "Юдина Мария", "consent": True,
                                 "consent_signed_on": school["today"].isoformat()}]
    assert [s["full_name"] for s in walk(school["deputy"], f"/classes/{c8}/students", limit=1)] == [
        "Абрамова Алла", "Юдин Юрий"]
    for outsider in ("stranger", "family"):
        assert school[outsider].request("GET", f"/classes/{c8}/students").status_code == 404


def test_my_classes_for_a_teacher(school, document):
    mine = documented(document, "/me/classes", school["teacher"].get("/me/classes"))
    assert mine["items"] == [{"class": {"id": school["c8"]["id"], "name": "8В", "year_id": school["year"]["id"]},
                              "subject": {"id": school["physics"]["id"], "name": f"Физика {TAG}"},
                              "subgroup": None, "source": "assignment"}]
    assert school["stranger"].get("/me/classes")["items"] == []
    assert school["family"].request("GET", "/me/classes").status_code == 403


def test_lessons_of_a_class_and_one_lesson_with_marks_and_attendance(school, document):
    t, c8, today = school["teacher"], school["c8"]["id"], school["today"]
    s0, s1 = (p["id"] for p in school["pupils"])
    made = [t.post("/lessons", {"class_id": c8, "subject_id": school["physics"]["id"],
                                "date": (today - dt.timedelta(days=n)).isoformat(), "topic": f"Тема {n}",
                                "lesson_type": "урок", "homework": "§ 3"}, expect=201) for n in (3, 2, 1)]
    t.put(f"/lessons/{made[-1]['id']}/marks", {"marks": [{"student_id": s0, "value": 5, "comment": "отлично"}]})
    t.put(f"/lessons/{made[-1]['id']}/attendance", {"entries": [{"student_id": s1, "status": "absent"}]})

    path = f"/classes/{c8}/lessons?subject_id={school['physics']['id']}"
    lessons = walk(t, path, limit=2)
    assert [l["id"] for l in lessons] == [m["id"] for m in made]
    first = documented(document, "/classes/{id}/lessons", t.get(path))["items"][0]
    assert first["teacher"] == {"id": school["ids"]["teacher"], "full_name": "Волков Илья Петрович"}
    assert first["substitute_for"] is None and first["imported"] is False
    assert (first["late"], first["overdue"]) == (True, False)  # entered 3 days after the lesson (R-J5)
    ranged = t.get(f"/classes/{c8}/lessons?from={(today - dt.timedelta(days=2)).isoformat()}"
                   f"&to={(today - dt.timedelta(days=2)).isoformat()}")
    assert [l["id"] for l in ranged["items"]] == [made[1]["id"]]

    lesson = documented(document, "/lessons/{id}", eventually(lambda: school["ct"].get(f"/lessons/{made[-1]['id']}")))
    assert [(m["student"]["id"], m["value"], m["comment"]) for m in lesson["marks"]] == [(s0, 5, "отлично")]
    assert [(a["student"]["id"], a["status"]) for a in lesson["attendance"]] == [(s1, "absent")]
    for outsider in ("stranger", "family"):
        assert school[outsider].request("GET", f"/lessons/{made[-1]['id']}").status_code == 404
        assert school[outsider].request("GET", path).status_code == 404


def test_r_j7_attendance_history_for_the_administration(school, document):
    """Every version with who set it, when, the old and new status and the reason."""
    t, admin, today = school["teacher"], school["admin"], school["today"]
    s0 = school["pupils"][0]["id"]
    lesson = t.post("/lessons", {"class_id": school["c8"]["id"], "subject_id": school["physics"]["id"],
                                 "date": today.isoformat(), "topic": "История", "lesson_type": "урок"}, expect=201)
    t.put(f"/lessons/{lesson['id']}/attendance", {"entries": [{"student_id": s0, "status": "absent"}]})
    admin.put(f"/lessons/{lesson['id']}/attendance", {"entries": [{"student_id": s0, "status": "excused"}],
                                                      "reason": "Справка от врача"})
    history = school["deputy"].get(f"/students/{s0}/attendance-history?from={today.isoformat()}")
    documented(document, "/students/{id}/attendance-history", history)
    got = [(h["lesson"]["id"], h["version"], h["old"], h["new"], h["by"]["id"], h["reason"]) for h in history["items"]]
    assert got[-2:] == [(lesson["id"], 1, None, "absent", school["ids"]["teacher"], None),
                        (lesson["id"], 2, "absent", "excused", history["items"][-1]["by"]["id"], "Справка от врача")]
    assert history["items"][-1]["at"] >= history["items"][-2]["at"]
    assert school["ct"].request("GET", f"/students/{s0}/attendance-history").status_code == 403
    assert school["family"].request("GET", f"/students/{s0}/attendance-history").status_code == 403

    # the same versions read by lesson: whose they are, by student name, then version; page by page
    s1 = school["pupils"][1]["id"]
    t.put(f"/lessons/{lesson['id']}/attendance", {"entries": [{"student_id": s1, "status": "late"}]})
    by_lesson = school["deputy"].get(f"/lessons/{lesson['id']}/attendance-history?limit=2")
    documented(document, "/lessons/{id}/attendance-history", by_lesson)
    rest = school["deputy"].get(f"/lessons/{lesson['id']}/attendance-history?limit=2&cursor={by_lesson['next_cursor']}")
    assert rest["next_cursor"] is None
    names = {s0: "Юдин Юрий", s1: "Абрамова Алла"}
    rows = [(h["student"]["id"], h["version"], h["old"], h["new"], h["reason"]) for h in by_lesson["items"] + rest["items"]]
    expected = sorted([(s0, 1, None, "absent", None), (s0, 2, "absent", "excused", "Справка от врача"),
                       (s1, 1, None, "late", None)], key=lambda r: (names[r[0]], r[0], r[1]))
    assert rows == expected
    assert all(h["student"]["full_name"] == names[h["student"]["id"]] for h in by_lesson["items"])
    assert school["ct"].request("GET", f"/lessons/{lesson['id']}/attendance-history").status_code == 403
    assert school["deputy"].request("GET", f"/lessons/{'0' * 8}-0000-4000-8000-{'0' * 12}/attendance-history"
                                    ).status_code == 404


def test_r_f1_final_marks_in_the_familys_view(school, document):
    t = school["teacher"]
    s0, s1 = (p["id"] for p in school["pupils"])
    first = school["year"]["periods"][0]
    t.put("/final-marks", {"student_id": s0, "subject_id": school["physics"]["id"], "period_id": first["id"],
                           "value": 4})
    t.put("/final-marks", {"student_id": s0, "subject_id": school["physics"]["id"], "period_id": first["id"],
                           "value": 5})  # a correction replaces the mark shown
    finals = documented(document, "/students/{id}/final-marks",
                        school["family"].get(f"/students/{s0}/final-marks?year_id={school['year']['id']}"))
    assert finals["year_id"] == school["year"]["id"]
    assert [(f["period"]["name"], f["subject"]["name"], f["value"], f["late"]) for f in finals["items"]] == [
        ("1 полугодие", f"Физика {TAG}", 5, True)]  # posted more than 2 days after the period ended (R-F3)
    assert school["family"].get(f"/students/{s0}/final-marks")["items"] == finals["items"]  # the year of today
    assert school["other_family"].request("GET", f"/students/{s0}/final-marks").status_code == 404
    # the diary carries them too, with the class's timetable (R-S6)
    c8 = school["c8"]["id"]
    school["admin"].put(f"/classes/{c8}/timetable", {"period_id": school["year"]["periods"][1]["id"], "slots": [
        {"weekday": 1, "number": 1, "subject_id": school["physics"]["id"], "teacher_id": school["ids"]["teacher"],
         "room": "31"}]})
    diary = school["family"].get(f"/students/{s0}/diary")
    assert [(f["period"]["name"], f["subject"]["name"], f["value"]) for f in diary["finals"]] == [
        ("1 полугодие", f"Физика {TAG}", 5)]
    assert [(t["weekday"], t["number"], t["subject"], t["teacher"], t["room"]) for t in diary["timetable"]] == [
        (1, 1, f"Физика {TAG}", "Волков Илья Петрович", "31")]
    assert school["deputy"].get(f"/students/{s1}/final-marks")["items"] == []
