"""The ``report`` RPC on the real RabbitMQ and PostgreSQL: every kind is
built from the projections the producers' events made, with its printable
layout; scope and parameter errors are the error table's."""
from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator
from nameko.testing.services import entrypoint_hook

from gateway import openapi, openapi_reports

from kernel.db import new_id
from reports.build import KINDS
from reports.errors import ClassNotFound, SchoolReportsForAdministration, ValidationError


def call(container, method, *args):
    with entrypoint_hook(container, method) as hook:
        return hook(*args)


@pytest.fixture
def small_school(school):
    """5А: two students, Математика (teacher T) and Русский язык; marks,
    a lesson with attendance, a plan, a parent and their access."""
    year = school.year()
    q1 = year["periods"][0]
    math, rus = school.subject("Математика"), school.subject("Русский язык")
    class_id = school.school_class(year["year_id"])
    teacher = new_id()
    school.journal("teacher_assigned", {"assignment_id": new_id(), "teacher_id": teacher, "class_id": class_id,
                                        "subject_id": math, "hours_per_week": 4, "subgroup_id": None})
    school.assign(class_id, rus)
    a = school.student(class_id, "Алексеева Мария")
    b = school.student(class_id, "Борисов Илья")
    school.mark(class_id, a, math, "2026-09-15", 5)
    school.mark(class_id, b, math, "2026-09-15", 3)
    school.mark(class_id, b, rus, "2026-09-16", 4)
    lesson_id = new_id()
    school.journal("lesson_recorded", {
        "lesson_id": lesson_id, "class_id": class_id, "subject_id": math, "subject_name": "Математика",
        "teacher_id": teacher, "date": "2026-10-05", "topic": "Дроби", "lesson_type": "урок", "work_type": None,
        "homework": "№ 1", "subgroup_id": None, "substitute_for": None, "late": False, "overdue": False,
        "imported": False, "recorded_on": None})
    school.journal("attendance_recorded", {"lesson_id": lesson_id, "class_id": class_id, "subject_id": math,
                                           "subject_name": "Математика", "date": "2026-10-05", "reason": None,
                                           "entries": [{"student_id": a, "status": "ill", "previous": None}]})
    school.journal("plan_created", {"plan_id": new_id(), "class_id": class_id, "subject_id": math,
                                    "period_id": q1["id"], "teacher_id": teacher, "hours": 10, "topics": []})
    return {"year": year, "q1": q1, "class_id": class_id, "teacher": teacher, "math": math, "rus": rus,
            "a": a, "b": b}


PARAMS = {
    "class-fill": lambda s: {"period_id": s["q1"]["id"]},
    "student-finals": lambda s: {"class_id": s["class_id"]},
    "attendance": lambda s: {"class_id": s["class_id"], "period_id": s["q1"]["id"]},
    "class-teacher": lambda s: {"class_id": s["class_id"], "period_id": s["q1"]["id"]},
    "progress": lambda s: {"class_id": s["class_id"], "period_id": s["q1"]["id"]},
    "progress-sheet": lambda s: {"period_id": s["q1"]["id"]},
    "attendance-sheet": lambda s: {"class_id": s["class_id"], "period_id": s["q1"]["id"]},
    "journal-monitoring": lambda s: {"month": "2026-10"},
    "user-activity": lambda s: {"month": "2026-10"},
    "forecast": lambda s: {"period_id": s["q1"]["id"]},
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_from_the_projections(container, school, small_school, ctx_for, kind):
    report = call(container, "report", ctx_for(school.school_id, "deputy"), kind, PARAMS[kind](small_school))
    assert report["kind"] == kind
    doc = report["document"]
    assert doc["header"]["school"] and doc["sections"]
    # the answer is the kind's schema in the gateway's OpenAPI document
    name = {kind: name for name, kind, _ in openapi_reports.KIND_SCHEMAS}.get(kind, "ProgressReport")
    components = openapi.document()["components"]
    for schema in (name, "Report"):
        validator = Draft202012Validator({"$ref": f"#/components/schemas/{schema}", "components": components})
        assert [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(report)] == [], schema


def test_report_numbers_from_events(container, school, small_school, ctx_for):
    s = small_school
    ctx = ctx_for(school.school_id, "deputy")
    attendance = call(container, "report", ctx, "attendance", {"class_id": s["class_id"], "period_id": s["q1"]["id"]})
    assert {r["full_name"]: (r["lessons"], r["excused"]) for r in attendance["students"]} == {
        "Алексеева Мария": (1, 1), "Борисов Илья": (1, 0)}
    monitoring = call(container, "report", ctx, "journal-monitoring", {"month": "2026-10"})
    # one plan of 10 hours, one lesson given: 10 %; the lesson has homework
    assert (monitoring["summary"]["coverage"], monitoring["summary"]["homework_share"]) == (10.0, 100.0)
    fill = call(container, "report", ctx, "class-fill", {"period_id": s["q1"]["id"]})
    assert fill["totals"]["at_end"] == 2


def test_a_teacher_sees_only_their_subjects(container, school, small_school, ctx_for):
    s = small_school
    ctx = {**ctx_for(school.school_id, "teacher"), "actor_id": s["teacher"]}
    report = call(container, "report", ctx, "progress", {"class_id": s["class_id"], "period_id": s["q1"]["id"]})
    assert [x["id"] for x in report["subjects"]] == [s["math"]]
    # Борисов: Математика 3 only -> passing, one 3
    assert report["summary"]["with_one_3"] == 1


def test_school_wide_reports_are_for_the_administration(container, school, small_school, ctx_for):
    with pytest.raises(SchoolReportsForAdministration):
        call(container, "report", ctx_for(school.school_id, "class_teacher"), "progress-sheet",
             {"period_id": small_school["q1"]["id"]})


@pytest.mark.parametrize("kind, params, field", [
    ("no-such", {}, "kind"),
    ("progress", {"period_id": new_id()}, "class_id"),
    ("journal-monitoring", {}, "month"),
    ("user-activity", {"month": "2026-13"}, "month"),
    ("progress-sheet", {}, "period_id"),
    ("attendance", {"class_id": "nope", "period_id": new_id()}, "class_id"),
])
def test_bad_parameters(container, school, ctx_for, kind, params, field):
    with pytest.raises(ValidationError) as err:
        call(container, "report", ctx_for(school.school_id), kind, params)
    assert err.value.details["field"] == field


def test_unknown_class(container, school, ctx_for):
    with pytest.raises(ClassNotFound):
        call(container, "report", ctx_for(school.school_id), "attendance",
             {"class_id": new_id(), "period_id": new_id()})


def test_parents_activity_of_a_week_for_the_class_teacher(container, school, ctx_for):
    """R-A6 from the projections: the parent of 5А who came in the week is
    active, the one who did not is listed with zeros; only the class
    teacher of the class and the administration see it."""
    year = school.year()
    class_id, class_teacher = new_id(), new_id()
    school.journal("class_created", {"class_id": class_id, "year_id": year["year_id"], "grade": 5, "letter": "В",
                                     "name": "5В", "class_teacher_id": class_teacher})
    child, other_child = school.student(class_id, "Яковлев Илья"), school.student(class_id, "Борисова Вера")
    came, away = new_id(), new_id()
    for parent, name, kid in ((came, "Яковлева Анна", child), (away, "Борисов Олег", other_child)):
        school.identity("user_created", {"user_id": parent, "login": "p" + parent[:8], "full_name": name,
                                         "roles": ["parent"], "email": None, "birth_date": None, "sex": None})
        school.identity("parent_linked", {"student_id": kid, "parent_id": parent, "relation": "мать"})
    for at, route, method in (("2026-10-06T07:00:00+00:00", "/api/v1/auth/login", "POST"),
                              ("2026-10-06T07:01:00+00:00", "/api/v1/students/x/diary", "GET"),
                              ("2026-10-13T07:00:00+00:00", "/api/v1/students/x/diary", "GET")):
        school.publish.send(school.publish.envelope("gateway", "access_recorded", {
            "user_id": came, "roles": ["parent"], "method": method, "route": route, "resource_id": None,
            "status": 200, "address": "127.0.0.1"}, school.school_id, occurred_at=at))
    ctx = {**ctx_for(school.school_id, "class_teacher"), "actor_id": class_teacher}
    got = call(container, "parents_activity", ctx, class_id, "2026-10-08")
    assert got["class"] == {"id": class_id, "name": "5В"}
    assert got["week"] == {"starts_on": "2026-10-05", "ends_on": "2026-10-11"}
    assert [(p["full_name"], [c["full_name"] for c in p["children"]], p["days_active"], p["logins"], p["actions"],
             p["last_seen"]) for p in got["parents"]] == [
        ("Борисов Олег", ["Борисова Вера"], 0, 0, 0, None),
        ("Яковлева Анна", ["Яковлев Илья"], 1, 1, 2, "2026-10-06")]
    assert got["totals"] == {"parents": 2, "active": 1}
    validator = Draft202012Validator({"$ref": "#/components/schemas/ParentsActivity",
                                      "components": openapi.document()["components"]})
    assert [e.message for e in validator.iter_errors(got)] == []  # the gateway's published answer
    # the administration sees it too; another class teacher or a teacher does not
    assert call(container, "parents_activity", ctx_for(school.school_id, "deputy"), class_id,
                "2026-10-08")["totals"] == {"parents": 2, "active": 1}
    for roles in (("class_teacher",), ("teacher",)):
        with pytest.raises(ClassNotFound):
            call(container, "parents_activity", ctx_for(school.school_id, *roles), class_id, "2026-10-08")
    # the default: this week, whatever it is
    assert call(container, "parents_activity", ctx, class_id, None)["totals"]["parents"] == 2
    for bad in ("2026-10-32", "08.10.2026", "2026-W41-1", 7):
        with pytest.raises(ValidationError) as err:
            call(container, "parents_activity", ctx, class_id, bad)
        assert err.value.details["field"] == "week"
