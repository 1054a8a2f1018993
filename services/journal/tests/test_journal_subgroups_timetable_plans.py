"""The journal service on real RabbitMQ + PostgreSQL: subgroups (R-S5), the
timetable with its conflict checks (R-S6), the thematic plan and its
coverage (R-J8)."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from ejournal.journal.v1 import journal_pb2
from journal import errors, store
from journal.grpc_server import JournalServicer


def raises(code, fn, *args):
    with pytest.raises(errors.ServiceError) as exc:
        fn(*args)
    assert exc.value.code == code, exc.value.to_dict()
    return exc.value


@pytest.fixture
def school(make):
    admin, deputy, scheduler = make.person("admin"), make.person("deputy"), make.person("scheduler")
    ct, t1, t2 = make.person("teacher", "class_teacher"), make.person("teacher"), make.person("teacher")
    year = make.year()
    period = make.rows(store.Period, year_id=year.id)[-1]
    english, maths = make.subject("Английский язык"), make.subject("Математика")
    c5a = make.klass(year, grade=5, letter="А", class_teacher_id=ct)
    c5b = make.klass(year, grade=5, letter="Б")
    kids = [make.person("student") for _ in range(4)]
    for kid in kids:
        make.enrol(kid, c5a)
    return dict(admin=admin, deputy=deputy, scheduler=scheduler, ct=ct, t1=t1, t2=t2, year=year, period=period,
                english=english, maths=maths, c5a=c5a, c5b=c5b, kids=kids)


def ctx(make, who, *roles):
    return make.ctx(who, *roles)


# --- subgroups (R-S5) -------------------------------------------------------------

def test_r_s5_class_teacher_splits_the_class_for_a_subject(journal, make, school):
    k = school["kids"]
    result = journal.call("create_subgroup", ctx(make, school["ct"], "teacher", "class_teacher"), school["c5a"].id,
                          {"subject_id": school["english"].id, "name": "1 группа", "student_ids": k[:2]})
    assert result["name"] == "1 группа" and result["student_ids"] == k[:2] and result["class_id"] == school["c5a"].id
    [row] = make.rows(store.Subgroup, id=result["id"])
    assert {m.student_id for m in make.rows(store.SubgroupMember, subgroup_id=row.id)} == set(k[:2])
    [event] = make.events("subgroup_created")
    assert event["payload"] == {"subgroup_id": result["id"], "class_id": school["c5a"].id,
                                "subject_id": school["english"].id, "name": "1 группа", "student_ids": k[:2]}
    # a student is in one subgroup per subject; another subject may split differently
    raises("ALREADY_IN_SUBGROUP", journal.call, "create_subgroup", ctx(make, school["deputy"], "deputy"),
           school["c5a"].id, {"subject_id": school["english"].id, "name": "2 группа", "student_ids": k[1:]})
    journal.call("create_subgroup", ctx(make, school["deputy"], "deputy"), school["c5a"].id,
                 {"subject_id": school["maths"].id, "name": "2 группа", "student_ids": k[1:]})


def test_r_s5_subgroup_rules(journal, make, school):
    body = {"subject_id": school["english"].id, "name": "1 группа", "student_ids": school["kids"][:1]}
    raises("FORBIDDEN", journal.call, "create_subgroup", ctx(make, school["t1"], "teacher"), school["c5a"].id, body)
    raises("STUDENT_NOT_IN_CLASS", journal.call, "create_subgroup", ctx(make, school["deputy"], "deputy"),
           school["c5b"].id, body)
    raises("NOT_FOUND", journal.call, "create_subgroup", ctx(make, school["deputy"], "deputy"), school["c5a"].id,
           {**body, "subject_id": "nope"})
    assert make.rows(store.Subgroup) == [] and make.events() == []


# --- the timetable (R-S6) ---------------------------------------------------------

def test_r_s6_scheduler_sets_a_week_and_replaces_it(journal, make, school):
    sched = ctx(make, school["scheduler"], "scheduler")
    slots = [{"weekday": 1, "number": 1, "subject_id": school["maths"].id, "teacher_id": school["t1"], "room": "21"},
             {"weekday": 1, "number": 2, "subject_id": school["english"].id, "teacher_id": school["t2"]}]
    result = journal.call("set_timetable", sched, school["c5a"].id, {"period_id": school["period"].id, "slots": slots})
    assert result["class_id"] == school["c5a"].id and len(result["slots"]) == 2
    assert make.events("timetable_set")[0]["payload"] == result
    journal.call("set_timetable", sched, school["c5a"].id, {"period_id": school["period"].id, "slots": slots[:1]})
    assert len(make.rows(store.TimetableSlot, class_id=school["c5a"].id)) == 1


def test_r_s6_teacher_or_room_in_two_places_at_once_is_refused(journal, make, school):
    sched = ctx(make, school["scheduler"], "scheduler")
    pid = school["period"].id
    journal.call("set_timetable", sched, school["c5b"].id, {"period_id": pid, "slots": [
        {"weekday": 2, "number": 3, "subject_id": school["maths"].id, "teacher_id": school["t1"], "room": "21"}]})
    err = raises("TIMETABLE_CONFLICT", journal.call, "set_timetable", sched, school["c5a"].id, {"period_id": pid, "slots": [
        {"weekday": 2, "number": 3, "subject_id": school["maths"].id, "teacher_id": school["t1"], "room": "22"}]})
    assert err.kind == "conflict"
    assert err.details["conflicts"][0]["kind"] == "teacher" and err.details["conflicts"][0]["class_name"] == "5Б"
    err = raises("TIMETABLE_CONFLICT", journal.call, "set_timetable", sched, school["c5a"].id, {"period_id": pid, "slots": [
        {"weekday": 2, "number": 3, "subject_id": school["maths"].id, "teacher_id": school["t2"], "room": "21"}]})
    assert [c["kind"] for c in err.details["conflicts"]] == ["room"]
    assert make.rows(store.TimetableSlot, class_id=school["c5a"].id) == []
    assert len(make.events("timetable_set")) == 1


def test_r_s6_timetable_permissions_and_references(journal, make, school):
    pid = school["period"].id
    slot = {"weekday": 1, "number": 1, "subject_id": school["maths"].id, "teacher_id": school["t1"]}
    raises("FORBIDDEN", journal.call, "set_timetable", ctx(make, school["t1"], "teacher"), school["c5a"].id,
           {"period_id": pid, "slots": [slot]})
    sched = ctx(make, school["scheduler"], "scheduler")
    raises("ROLE_MISMATCH", journal.call, "set_timetable", sched, school["c5a"].id,
           {"period_id": pid, "slots": [{**slot, "teacher_id": school["kids"][0]}]})
    raises("NOT_FOUND", journal.call, "set_timetable", sched, school["c5a"].id, {"period_id": "nope", "slots": [slot]})
    raises("NOT_FOUND", journal.call, "set_timetable", sched, school["c5a"].id,
           {"period_id": pid, "slots": [{**slot, "subgroup_id": "nope"}]})


# --- the plan and its coverage (R-J8) -------------------------------------------------

def plan_body(school, **extra):
    return {"class_id": school["c5a"].id, "subject_id": school["maths"].id, "period_id": school["period"].id,
            "topics": [{"number": 1, "title": "Натуральные числа", "hours": 4},
                       {"number": 2, "title": "Дроби", "hours": 6}], **extra}


def test_r_j8_assigned_teacher_enters_a_plan_once(journal, make, school):
    make.assign(school["t1"], school["c5a"], school["maths"])
    teacher = ctx(make, school["t1"], "teacher")
    result = journal.call("create_plan", teacher, plan_body(school))
    assert result["hours"] == 10 and [t["number"] for t in result["topics"]] == [1, 2]
    assert result["teacher_id"] == school["t1"]
    [event] = make.events("plan_created")
    assert event["payload"]["plan_id"] == result["id"] and event["payload"]["hours"] == 10
    assert len(make.rows(store.PlanTopic, plan_id=result["id"])) == 2
    raises("ALREADY_EXISTS", journal.call, "create_plan", teacher, plan_body(school))
    raises("NOT_ASSIGNED", journal.call, "create_plan", ctx(make, school["t2"], "teacher"),
           plan_body(school, subject_id=school["english"].id))


def test_r_j8_coverage_counts_lessons_of_the_period_per_class_and_teacher(journal, make, school):
    make.assign(school["t1"], school["c5a"], school["maths"])
    plan = journal.call("create_plan", ctx(make, school["t1"], "teacher"), plan_body(school))
    period = school["period"]
    for offset in range(3):
        make.lesson(school["c5a"], school["maths"], school["t1"], period.starts_on + dt.timedelta(days=offset))
    make.lesson(school["c5a"], school["english"], school["t2"], period.starts_on)  # another subject: not counted
    result = journal.call("plan_coverage", ctx(make, school["deputy"], "deputy"), period.id)
    [item] = result["items"]
    assert item["plan_id"] == plan["id"] and item["class_name"] == "5А" and item["subject_name"] == "Математика"
    assert (item["planned_hours"], item["taught_hours"], item["percent"]) == (10, 3, 30.0)
    # a teacher sees their own plans only; someone else's are refused
    mine = journal.call("plan_coverage", ctx(make, school["t1"], "teacher"), period.id)
    assert [i["plan_id"] for i in mine["items"]] == [plan["id"]]
    assert journal.call("plan_coverage", ctx(make, school["t2"], "teacher"), period.id)["items"] == []
    raises("FORBIDDEN", journal.call, "plan_coverage", ctx(make, school["t2"], "teacher"), period.id, None,
           school["t1"])
    # the class teacher sees their class
    own = journal.call("plan_coverage", ctx(make, school["ct"], "teacher", "class_teacher"), period.id,
                       school["c5a"].id)
    assert len(own["items"]) == 1
    raises("NOT_FOUND", journal.call, "plan_coverage", ctx(make, school["deputy"], "deputy"), "nope")


# --- the diary shows a subgroup's lessons to its members only (R-S5) -------------------

def test_r_s5_diary_shows_a_subgroups_lessons_to_its_members_only(journal, make, school, sessions):
    k = school["kids"]
    group = journal.call("create_subgroup", ctx(make, school["deputy"], "deputy"), school["c5a"].id,
                         {"subject_id": school["english"].id, "name": "1 группа", "student_ids": k[:1]})
    day = school["period"].starts_on
    make.lesson(school["c5a"], school["english"], school["t1"], day, topic="Группа 1", subgroup_id=group["id"])
    make.lesson(school["c5a"], school["maths"], school["t1"], day, topic="Весь класс")
    make.lesson(school["c5a"], school["english"], school["t1"], day, topic="Старый id", subgroup_id="legacy-id")
    svc = JournalServicer(sessions, timezone=ZoneInfo("Europe/Moscow"))

    def topics(student_id):
        diary = svc.GetDiary(journal_pb2.DiaryRequest(student_id=student_id, school_id=make.school_id,
                                                      from_date=day.isoformat(), to_date=day.isoformat()), None)
        return sorted(lesson.topic for d in diary.days for lesson in d.lessons)

    assert topics(k[0]) == ["Весь класс", "Группа 1", "Старый id"]
    assert topics(k[1]) == ["Весь класс", "Старый id"]


def test_r_s6_staff_read_the_week_back_in_order(journal, make, school):
    sched = ctx(make, school["scheduler"], "scheduler")
    pid = school["period"].id
    journal.call("set_timetable", sched, school["c5a"].id, {"period_id": pid, "slots": [
        {"weekday": 2, "number": 1, "subject_id": school["maths"].id, "teacher_id": school["t1"]},
        {"weekday": 1, "number": 3, "subject_id": school["english"].id, "teacher_id": school["t2"], "room": "Б-1"}]})
    week = journal.call("get_timetable", ctx(make, school["t1"], "teacher"), school["c5a"].id, pid)
    assert [(s["weekday"], s["number"], s["room"]) for s in week["slots"]] == [(1, 3, "Б-1"), (2, 1, None)]
    # R-A3: a student sees their own class's week, another class's is not theirs
    student = ctx(make, school["kids"][0], "student")
    assert journal.call("get_timetable", student, school["c5a"].id, pid)["slots"] == week["slots"]
    raises("NOT_FOUND", journal.call, "get_timetable", student, school["c5b"].id, pid)
    # a parent: identity knows the children, its access decision is asked
    parent = ctx(make, make.person("parent"), "parent")
    journal.identity.authorize.return_value = {"allowed": True, "denial": "", "reason": "policy"}
    assert journal.call("get_timetable", parent, school["c5a"].id, pid)["slots"] == week["slots"]
    assert journal.identity.authorize.call_args.args[1:] == ("timetable.read", "class", school["c5a"].id)
    journal.identity.authorize.return_value = {"allowed": False, "denial": "not_found", "reason": "not_related"}
    raises("NOT_FOUND", journal.call, "get_timetable", parent, school["c5a"].id, pid)
    journal.identity.authorize.return_value = {"allowed": True, "denial": "", "reason": "deferred"}
    raises("NOT_FOUND", journal.call, "get_timetable", parent, school["c5a"].id, pid)  # identity does not know it
    raises("FORBIDDEN", journal.call, "get_timetable", ctx(make, make.person("news_editor"), "news_editor"),
           school["c5a"].id, pid)
    raises("NOT_FOUND", journal.call, "get_timetable", ctx(make, school["t1"], "teacher"), school["c5b"].id, "nope")
