"""The journal service on real RabbitMQ + PostgreSQL: school structure RPCs
(open_year, create_subject, create_class, enroll_student, assign_teacher),
their permissions, rules and events (R-S1, R-S2, R-S3, R-A3)."""
from __future__ import annotations

import datetime as dt
import json
import time

import eventlet
import pytest
from nameko.exceptions import RemoteError, UnknownService


from journal import errors, store


def year_data(name="2026/2027"):
    return {"name": name, "starts_on": "2026-09-01", "ends_on": "2027-05-31", "periods": [
        {"name": "2 полугодие", "kind": "half_year", "starts_on": "2027-01-09", "ends_on": "2027-05-31"},
        {"name": "1 полугодие", "kind": "half_year", "starts_on": "2026-09-01", "ends_on": "2026-12-28"},
    ]}


def raises(code, fn, *args):
    with pytest.raises(errors.ServiceError) as exc:
        fn(*args)
    assert exc.value.code == code, exc.value.to_dict()
    return exc.value


# --- health, context -------------------------------------------------------------

def test_health(journal):
    assert journal.call("health") == {"status": "ok", "service": "journal"}


def test_call_without_actor_is_refused(journal, make):
    err = raises("INVALID_TOKEN", journal.call, "open_year", {"school_id": make.school_id, "roles": ["admin"]},
                 year_data())
    assert err.kind == "unauthenticated"


# --- open_year (R-S1) -------------------------------------------------------------

def test_open_year_by_admin_returns_sorted_periods_and_publishes_year_opened(journal, make):
    admin = make.person("admin")
    ctx = make.ctx(admin, "admin")
    result = journal.call("open_year", ctx, year_data())
    assert result["name"] == "2026/2027" and result["starts_on"] == "2026-09-01" and result["ends_on"] == "2027-05-31"
    assert [p["name"] for p in result["periods"]] == ["1 полугодие", "2 полугодие"]
    assert set(result["periods"][0]) == {"id", "name", "kind", "starts_on", "ends_on"}
    [year] = make.rows(store.Year, id=result["id"])
    assert year.school_id == make.school_id and not year.archived
    assert len(make.rows(store.Period, year_id=year.id)) == 2
    [event] = make.events("year_opened")
    assert event["producer"] == "journal" and event["school_id"] == make.school_id and event["actor_id"] == admin
    assert event["correlation_id"] == ctx["correlation_id"]
    assert event["payload"] == {"year_id": result["id"], "name": "2026/2027", "starts_on": "2026-09-01",
                                "ends_on": "2027-05-31", "periods": result["periods"]}


def test_open_year_needs_admin(journal, make):
    err = raises("FORBIDDEN", journal.call, "open_year", make.ctx(make.person("deputy"), "deputy", "teacher"),
                 year_data())
    assert err.kind == "forbidden"
    assert make.rows(store.Year) == [] and make.events() == []


def test_open_year_with_overlapping_periods_is_refused(journal, make):
    data = year_data()
    data["periods"][0]["starts_on"] = "2026-12-01"
    raises("INVALID_PERIODS", journal.call, "open_year", make.ctx(make.person("admin"), "admin"), data)
    assert make.rows(store.Year) == []


def test_open_year_bad_date_and_duplicate_name(journal, make):
    ctx = make.ctx(make.person("admin"), "admin")
    data = year_data()
    data["starts_on"] = "1 сентября"
    err = raises("VALIDATION_ERROR", journal.call, "open_year", ctx, data)
    assert err.details == {"field": "starts_on"}
    journal.call("open_year", ctx, year_data())
    raises("ALREADY_EXISTS", journal.call, "open_year", ctx, year_data())
    assert len(make.events("year_opened")) == 1


# --- create_subject -----------------------------------------------------------------

def test_create_subject_unique_per_school(journal, make):
    ctx = make.ctx(make.person("admin"), "admin")
    subject = journal.call("create_subject", ctx, {"name": "Алгебра"})
    assert set(subject) == {"id", "name", "emphasis"} and subject["name"] == "Алгебра"
    assert make.events("subject_created")[0]["payload"] == {"subject_id": subject["id"], "name": "Алгебра",
                                                            "emphasis": True}
    raises("ALREADY_EXISTS", journal.call, "create_subject", ctx, {"name": "алгебра"})
    other_school = make.ctx(make.person("admin"), "admin", school_id="school-2")
    assert journal.call("create_subject", other_school, {"name": "Алгебра"})["id"] != subject["id"]


def test_create_subject_validation_and_permission(journal, make):
    raises("VALIDATION_ERROR", journal.call, "create_subject", make.ctx(make.person("admin"), "admin"), {"name": " "})
    raises("FORBIDDEN", journal.call, "create_subject", make.ctx(make.person("teacher"), "teacher"), {"name": "Физика"})
    assert make.rows(store.Subject) == []


# --- create_class ---------------------------------------------------------------------

def test_create_class_publishes_class_created(journal, make):
    year = make.year()
    teacher = make.person("teacher", "class_teacher")
    result = journal.call("create_class", make.ctx(make.person("admin"), "admin"),
                          {"year_id": year.id, "grade": 5, "letter": "а", "class_teacher_id": teacher})
    assert result == {"id": result["id"], "name": "5А", "year_id": year.id, "grade": 5, "letter": "А",
                      "class_teacher_id": teacher}
    assert make.events("class_created")[0]["payload"] == {
        "class_id": result["id"], "year_id": year.id, "grade": 5, "letter": "А", "name": "5А",
        "class_teacher_id": teacher}
    journal.identity.get_user.assert_not_called()


def test_create_class_unique_per_year_grade_letter(journal, make):
    year, teacher = make.year(), make.person("teacher")
    ctx = make.ctx(make.person("admin"), "admin")
    data = {"year_id": year.id, "grade": 5, "letter": "Б", "class_teacher_id": teacher}
    journal.call("create_class", ctx, data)
    raises("ALREADY_EXISTS", journal.call, "create_class", ctx, data)
    assert len(make.rows(store.SchoolClass)) == 1


def test_create_class_falls_back_to_identity_for_an_unknown_teacher(journal, make):
    """The user_created event may not have arrived yet: ask identity, keep the answer."""
    year = make.year()
    journal.identity.get_user.return_value = {
        "id": "t-new", "login": "petrova", "full_name": "Петрова Анна", "roles": ["class_teacher"],
        "school_id": make.school_id}
    ctx = make.ctx(make.person("admin"), "admin")
    journal.call("create_class", ctx, {"year_id": year.id, "grade": 7, "letter": "В", "class_teacher_id": "t-new"})
    journal.identity.get_user.assert_called_once_with(ctx, "t-new")
    [person] = make.rows(store.Person, user_id="t-new")
    assert person.full_name == "Петрова Анна" and person.roles == ["class_teacher"]


def test_create_class_identity_not_found_is_404(journal, make):
    journal.identity.get_user.side_effect = RemoteError(
        "NotFound", json.dumps({"kind": "not_found", "code": "NOT_FOUND", "message": "Не найдено", "details": {}}))
    err = raises("NOT_FOUND", journal.call, "create_class", make.ctx(make.person("admin"), "admin"),
                 {"year_id": make.year().id, "grade": 5, "letter": "А", "class_teacher_id": "ghost"})
    assert err.kind == "not_found" and err.details["field"] == "class_teacher_id"
    assert make.rows(store.SchoolClass) == [] and make.rows(store.Person, user_id="ghost") == []


def test_create_class_identity_down_is_503_not_a_crash(journal, make):
    journal.identity.get_user.side_effect = RemoteError("ConnectionError", "boom")
    err = raises("SERVICE_UNAVAILABLE", journal.call, "create_class", make.ctx(make.person("admin"), "admin"),
                 {"year_id": make.year().id, "grade": 5, "letter": "А", "class_teacher_id": "ghost"})
    assert err.kind == "unavailable"


def test_create_class_identity_not_running_or_too_slow_is_503(journal_with, make):
    journal = journal_with(EJOURNAL_IDENTITY_TIMEOUT="0.2")
    ctx, data = make.ctx(make.person("admin"), "admin"), {"year_id": make.year().id, "grade": 5, "letter": "А",
                                                          "class_teacher_id": "ghost"}
    journal.identity.get_user.side_effect = UnknownService("identity")
    raises("SERVICE_UNAVAILABLE", journal.call, "create_class", ctx, data)
    journal.identity.get_user.side_effect = lambda *args: eventlet.sleep(5)
    started = time.monotonic()
    raises("SERVICE_UNAVAILABLE", journal.call, "create_class", ctx, data)
    assert time.monotonic() - started < 2
    assert make.rows(store.SchoolClass) == []


def test_create_class_refuses_a_student_as_class_teacher_and_other_schools(journal, make):
    year, ctx = make.year(), make.ctx(make.person("admin"), "admin")
    raises("ROLE_MISMATCH", journal.call, "create_class", ctx,
           {"year_id": year.id, "grade": 5, "letter": "А", "class_teacher_id": make.person("student")})
    foreign_teacher = make.person("teacher", school_id="school-2")
    raises("NOT_FOUND", journal.call, "create_class", ctx,
           {"year_id": year.id, "grade": 5, "letter": "А", "class_teacher_id": foreign_teacher})
    foreign_year = make.year(school_id="school-2")
    raises("NOT_FOUND", journal.call, "create_class", ctx,
           {"year_id": foreign_year.id, "grade": 5, "letter": "А", "class_teacher_id": make.person("teacher")})
    journal.identity.get_user.assert_not_called()


def test_create_class_in_archived_year_and_bad_grade(journal, make):
    ctx, teacher = make.ctx(make.person("admin"), "admin"), make.person("teacher")
    raises("YEAR_CLOSED", journal.call, "create_class", ctx,
           {"year_id": make.year(archived=True).id, "grade": 5, "letter": "А", "class_teacher_id": teacher})
    raises("VALIDATION_ERROR", journal.call, "create_class", ctx,
           {"year_id": make.year().id, "grade": 12, "letter": "А", "class_teacher_id": teacher})
    raises("FORBIDDEN", journal.call, "create_class", make.ctx(teacher, "teacher"),
           {"year_id": make.year().id, "grade": 5, "letter": "А", "class_teacher_id": teacher})
    assert make.events() == []


# --- enroll_student (R-S2, R-S3) -------------------------------------------------------

def test_admin_enrols_a_student_and_student_enrolled_is_published(journal, make):
    klass = make.klass(make.year(), class_teacher_id=make.person("class_teacher"))
    student = make.person("student")
    data = {"student_id": student, "order_no": "№ 45-у", "on": "2026-09-01"}
    result = journal.call("enroll_student", make.ctx(make.person("admin"), "admin"), klass.id, data)
    assert result == {"student_id": student, "class_id": klass.id, "order_no": "№ 45-у", "on": "2026-09-01"}
    assert make.events("student_enrolled")[0]["payload"] == result
    [row] = make.rows(store.Enrolment, student_id=student)
    assert row.enrolled_on == dt.date(2026, 9, 1) and row.left_on is None and row.school_id == make.school_id


def test_the_class_teacher_enrols_into_their_own_class_only(journal, make):
    year = make.year()
    teacher, other_teacher = make.person("class_teacher"), make.person("class_teacher")
    klass = make.klass(year, class_teacher_id=teacher)
    student = make.person("student")
    data = {"student_id": student, "order_no": "12", "on": "2026-09-01"}
    raises("FORBIDDEN", journal.call, "enroll_student", make.ctx(other_teacher, "class_teacher"), klass.id, data)
    journal.call("enroll_student", make.ctx(teacher, "class_teacher"), klass.id, data)
    assert len(make.rows(store.Enrolment)) == 1


def test_enrol_rules(journal, make):
    year = make.year()
    klass, other = make.klass(year), make.klass(year)
    ctx = make.ctx(make.person("admin"), "admin")
    student = make.person("student")
    raises("ROLE_MISMATCH", journal.call, "enroll_student", ctx, klass.id,
           {"student_id": make.person("parent"), "order_no": "1", "on": "2026-09-01"})
    raises("VALIDATION_ERROR", journal.call, "enroll_student", ctx, klass.id,
           {"student_id": student, "order_no": "1", "on": "2026/09/01"})
    raises("NOT_FOUND", journal.call, "enroll_student", ctx, "no-such-class",
           {"student_id": student, "order_no": "1", "on": "2026-09-01"})
    raises("DATE_OUTSIDE_YEAR", journal.call, "enroll_student", ctx, klass.id,
           {"student_id": student, "order_no": "1", "on": (year.ends_on + dt.timedelta(days=1)).isoformat()})
    journal.call("enroll_student", ctx, klass.id, {"student_id": student, "order_no": "1", "on": "2026-09-01"})
    err = raises("ALREADY_ENROLLED", journal.call, "enroll_student", ctx, other.id,
                 {"student_id": student, "order_no": "2", "on": "2026-09-02"})
    assert err.kind == "conflict" and err.details == {"class_id": klass.id}
    assert len(make.events("student_enrolled")) == 1


def test_enrol_fetches_an_unknown_student_from_identity(journal, make):
    klass = make.klass(make.year())
    journal.identity.get_user.return_value = {"id": "kid", "full_name": "Сидоров Пётр", "roles": ["student"]}
    journal.call("enroll_student", make.ctx(make.person("admin"), "admin"), klass.id,
                 {"student_id": "kid", "order_no": "7", "on": "2026-09-01"})
    [person] = make.rows(store.Person, user_id="kid")
    assert person.school_id == make.school_id and person.roles == ["student"]


# --- assign_teacher ---------------------------------------------------------------------

def test_deputy_assigns_a_teacher_and_teacher_assigned_is_published(journal, make):
    klass, subject, teacher = make.klass(make.year()), make.subject("Английский язык"), make.person("teacher")
    group = make._save(store.Subgroup(id="group-1", school_id=make.school_id, class_id=klass.id,
                                      subject_id=subject.id, name="1 группа"))
    data = {"teacher_id": teacher, "class_id": klass.id, "subject_id": subject.id, "hours_per_week": 1.5,
            "subgroup_id": group.id}
    result = journal.call("assign_teacher", make.ctx(make.person("deputy"), "deputy"), data)
    assert result == {"id": result["id"], **data}
    assert make.events("teacher_assigned")[0]["payload"] == {"assignment_id": result["id"], **data}
    raises("ALREADY_EXISTS", journal.call, "assign_teacher", make.ctx(make.person("admin"), "admin"), data)
    whole_class = dict(data, subgroup_id=None, hours_per_week=3)
    assert journal.call("assign_teacher", make.ctx(make.person("admin"), "admin"), whole_class)["hours_per_week"] == 3


def test_assign_teacher_permissions_and_references(journal, make):
    klass, subject, teacher = make.klass(make.year()), make.subject(), make.person("teacher")
    data = {"teacher_id": teacher, "class_id": klass.id, "subject_id": subject.id, "hours_per_week": 2}
    raises("FORBIDDEN", journal.call, "assign_teacher", make.ctx(teacher, "teacher", "class_teacher"), data)
    admin = make.ctx(make.person("admin"), "admin")
    raises("NOT_FOUND", journal.call, "assign_teacher", admin, dict(data, class_id="nope"))
    raises("NOT_FOUND", journal.call, "assign_teacher", admin, dict(data, subject_id=make.subject(school_id="s2").id))
    raises("ROLE_MISMATCH", journal.call, "assign_teacher", admin, dict(data, teacher_id=make.person("student")))
    raises("VALIDATION_ERROR", journal.call, "assign_teacher", admin, dict(data, hours_per_week=0))
    # R-S5: a subgroup assignment names a subgroup of that class and subject
    raises("NOT_FOUND", journal.call, "assign_teacher", admin, dict(data, subgroup_id="no-such-group"))
    assert make.rows(store.Assignment) == [] and make.events() == []
