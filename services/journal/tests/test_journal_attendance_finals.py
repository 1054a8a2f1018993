"""Attendance with corrections kept (R-J2, R-J7), final marks with their
evidence, warnings and deadline (R-F1..R-F3), forecasts and the students at
risk (R-F4), on real RabbitMQ and PostgreSQL."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from journal import errors, store
from kernel.db import new_id


def school_today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Europe/Moscow")).date()


def days_ago(n: int) -> dt.date:
    return school_today() - dt.timedelta(days=n)


def raises(code, fn, *args):
    with pytest.raises(errors.ServiceError) as exc:
        fn(*args)
    assert exc.value.code == code, exc.value.to_dict()
    return exc.value


@pytest.fixture
def school(make):
    year = make.year()
    class_teacher, teacher = make.person("class_teacher", "teacher"), make.person("teacher")
    klass = make.klass(year, grade=5, letter="А", class_teacher_id=class_teacher)
    maths = make.subject("Математика")
    make.assign(teacher, klass, maths)  # 2 hours a week: 3 marks justify a final mark
    students = [make.person("student", full_name="Антонов Антон"), make.person("student", full_name="Борисова Белла")]
    for student in students:
        make.enrol(student, klass)
    with make.sessions() as s:
        periods = list(s.query(store.Period).filter_by(year_id=year.id).order_by(store.Period.starts_on))
    return SimpleNamespace(year=year, klass=klass, maths=maths, teacher=teacher, class_teacher=class_teacher,
                           students=students, first=periods[0], current=periods[1])


def attendance(journal, ctx, lesson, entries, reason=None):
    data = {"entries": [{"student_id": s, "status": st} for s, st in entries]}
    if reason:
        data["reason"] = reason
    return journal.call("record_attendance", ctx, lesson.id, data)


# --- attendance --------------------------------------------------------------

def test_teacher_records_attendance_and_attendance_recorded_is_published_r_j2(journal, make, school):
    lesson = make.lesson(school.klass, school.maths, school.teacher, school_today())
    ctx = make.ctx(school.teacher, "teacher")
    result = attendance(journal, ctx, lesson, [(school.students[0], "absent"), (school.students[1], "present")])
    assert result["changed"] == 2
    assert {e["student_id"]: e["status"] for e in result["entries"]} == {
        school.students[0]: "absent", school.students[1]: "present"}
    [event] = make.events("attendance_recorded")
    assert event["payload"]["entries"] == [
        {"student_id": school.students[0], "status": "absent", "previous": None},
        {"student_id": school.students[1], "status": "present", "previous": None}]
    assert event["payload"]["lesson_id"] == lesson.id and event["payload"]["class_id"] == school.klass.id
    # the same again changes nothing and publishes nothing
    assert attendance(journal, ctx, lesson, [(school.students[0], "absent")])["changed"] == 0
    assert len(make.events("attendance_recorded")) == 1


def test_a_correction_needs_a_reason_and_keeps_the_old_status_r_j7(journal, make, school):
    lesson = make.lesson(school.klass, school.maths, school.teacher, days_ago(1))
    ctx = make.ctx(school.teacher, "teacher")
    attendance(journal, ctx, lesson, [(school.students[0], "absent")])
    err = raises("VALIDATION_ERROR", attendance, journal, ctx, lesson, [(school.students[0], "ill")])
    assert err.details == {"field": "reason"}
    attendance(journal, ctx, lesson, [(school.students[0], "ill")], "Справка от врача")
    [entry] = make.rows(store.AttendanceEntry, lesson_id=lesson.id)
    versions = sorted(make.rows(store.AttendanceVersion, attendance_id=entry.id), key=lambda v: v.version)
    assert [(v.status, v.previous, v.reason, v.by) for v in versions] == [
        ("absent", None, None, school.teacher), ("ill", "absent", "Справка от врача", school.teacher)]
    assert make.events("attendance_recorded")[-1]["payload"]["entries"] == [
        {"student_id": school.students[0], "status": "ill", "previous": "absent"}]


def test_class_teacher_corrects_weekly_teacher_only_within_3_days_r_j2(journal, make, school):
    old = make.lesson(school.klass, school.maths, school.teacher, days_ago(5))
    teacher, class_teacher = make.ctx(school.teacher, "teacher"), make.ctx(school.class_teacher, "class_teacher")
    attendance(journal, teacher, old, [(school.students[0], "absent")])  # a first entry is never a correction
    raises("CORRECTION_CLOSED", attendance, journal, teacher, old, [(school.students[0], "excused")], "Заявление")
    attendance(journal, class_teacher, old, [(school.students[0], "excused")], "Заявление родителей")
    ancient = make.lesson(school.klass, school.maths, school.teacher, days_ago(30))
    attendance(journal, teacher, ancient, [(school.students[1], "late")])
    raises("CORRECTION_CLOSED", attendance, journal, class_teacher, ancient, [(school.students[1], "present")], "x")
    attendance(journal, make.ctx(make.person("admin"), "admin"), ancient, [(school.students[1], "present")], "Приказ")


def test_attendance_rules(journal, make, school):
    lesson = make.lesson(school.klass, school.maths, school.teacher, days_ago(1))
    ctx = make.ctx(school.teacher, "teacher")
    raises("VALIDATION_ERROR", attendance, journal, ctx, lesson, [(school.students[0], "sick")])
    raises("STUDENT_NOT_IN_CLASS", attendance, journal, ctx, lesson, [(make.person("student"), "absent")])
    raises("NOT_ASSIGNED", attendance, journal, make.ctx(make.person("teacher"), "teacher"), lesson,
           [(school.students[0], "absent")])
    future = make.lesson(school.klass, school.maths, school.teacher, school_today() + dt.timedelta(days=2))
    raises("LESSON_IN_FUTURE", attendance, journal, ctx, future, [(school.students[0], "absent")])
    raises("NOT_FOUND", journal.call, "record_attendance", ctx, "nope",
           {"entries": [{"student_id": school.students[0], "status": "absent"}]})
    assert make.rows(store.AttendanceEntry) == []


# --- final marks -------------------------------------------------------------

def marks_in(make, school, period_end, values, kind="oral"):
    for i, value in enumerate(values):
        lesson = make.lesson(school.klass, school.maths, school.teacher, period_end - dt.timedelta(days=i + 1))
        make.mark(lesson, school.students[0], value, kind=kind)


def test_final_mark_shows_its_evidence_and_warns_when_thin_r_f2(journal, make, school):
    marks_in(make, school, school_today(), [5, 4])
    ctx = make.ctx(school.teacher, "teacher")
    result = journal.call("post_final_mark", ctx, {"student_id": school.students[0], "subject_id": school.maths.id,
                                                    "period_id": school.current.id, "value": 5})
    # maths is emphasised by its name (R-F2): its written works are required
    assert result["evidence"] == {"marks_count": 2, "required": 3, "average": 4.5, "weighted_average": 4.5,
                                  "written_works": 0, "emphasis": True, "written_required": 1}
    assert [w["code"] for w in result["warnings"]] == ["THIN_EVIDENCE", "WRITTEN_WORK_REQUIRED"]
    assert result["late"] is False and result["period_kind"] == "half_year"
    [event] = make.events("final_mark_posted")
    assert event["payload"]["warnings"] == ["THIN_EVIDENCE", "WRITTEN_WORK_REQUIRED"]
    assert event["payload"]["value"] == 5 and event["payload"]["evidence"]["marks_count"] == 2
    # enough marks with a written work: no warning; the first final mark is superseded, kept
    marks_in(make, school, school_today() - dt.timedelta(days=2), [5], kind="written")
    again = journal.call("post_final_mark", ctx, {"student_id": school.students[0], "subject_id": school.maths.id,
                                                   "period_id": school.current.id, "value": 5})
    assert again["warnings"] == [] and again["version"] == 2
    rows = make.rows(store.FinalMark, student_id=school.students[0])
    assert sorted((r.version, r.superseded) for r in rows) == [(1, True), (2, False)]


def test_more_hours_need_five_marks_and_late_finals_are_flagged_r_f2_r_f3(journal, make, school):
    physics = make.subject("Физика")
    with make.sessions.begin() as s:
        s.add(store.Assignment(id=new_id(), school_id=make.school_id, teacher_id=school.teacher,
                               class_id=school.klass.id, subject_id=physics.id, hours_per_week=3))
    ctx = make.ctx(school.teacher, "teacher")
    result = journal.call("post_final_mark", ctx, {"student_id": school.students[0], "subject_id": physics.id,
                                                    "period_id": school.first.id, "value": 4})
    assert result["evidence"]["required"] == 5 and result["late"] is True  # the first half ended 100 days ago
    assert "LATE" in [w["code"] for w in result["warnings"]]
    year = journal.call("post_final_mark", ctx, {"student_id": school.students[0], "subject_id": physics.id,
                                                  "period_id": school.year.id, "value": 4})
    assert year["period_kind"] == "year" and year["late"] is False


def test_final_mark_rules_r_f1(journal, make, school):
    ctx = make.ctx(school.teacher, "teacher")
    data = {"student_id": school.students[0], "subject_id": school.maths.id, "period_id": school.current.id}
    raises("INVALID_MARK", journal.call, "post_final_mark", ctx, {**data, "value": 6})
    raises("NOT_FOUND", journal.call, "post_final_mark", ctx, {**data, "period_id": "nope", "value": 4})
    raises("NOT_ASSIGNED", journal.call, "post_final_mark", make.ctx(make.person("teacher"), "teacher"),
           {**data, "value": 4})
    # the class teacher who does not teach the subject does not give its final mark (API.md)
    raises("NOT_ASSIGNED", journal.call, "post_final_mark", make.ctx(school.class_teacher, "class_teacher", "teacher"),
           {**data, "value": 4})
    raises("STUDENT_NOT_IN_CLASS", journal.call, "post_final_mark", ctx,
           {**data, "student_id": make.person("student"), "value": 4})
    first_grader = make.person("student")
    grade_1 = make.klass(school.year, grade=1, letter="Б", class_teacher_id=school.teacher)
    make.enrol(first_grader, grade_1)
    make.assign(school.teacher, grade_1, school.maths)
    raises("NO_MARKS_IN_GRADE_1", journal.call, "post_final_mark", ctx,
           {**data, "student_id": first_grader, "value": 4})
    assert make.rows(store.FinalMark) == []


# --- forecast and risk (R-F4) -------------------------------------------------

def test_forecast_per_subject_with_confidence_r_f4(journal, make, school):
    marks_in(make, school, school_today(), [5, 5, 4, 5])
    marks_in(make, school, school_today() - dt.timedelta(days=10), [5], kind="written")  # maths needs one (R-F2)
    result = journal.call("forecast", make.ctx(school.teacher, "teacher"), school.students[0], None)
    assert result["period_id"] == school.current.id
    [item] = result["items"]
    assert item["subject_id"] == school.maths.id and item["predicted"] == 5 and item["marks_count"] == 5
    assert 0.7 < item["confidence"] <= 1
    thin = journal.call("forecast", make.ctx(school.teacher, "teacher"), school.students[1], school.current.id)
    assert thin["items"][0]["predicted"] is None and thin["items"][0]["confidence"] == 0


def test_students_at_risk_r_f4(journal, make, school):
    marks_in(make, school, school_today(), [2, 2, 3])
    lesson = make.lesson(school.klass, school.maths, school.teacher, days_ago(1))
    for value in (5,):
        make.mark(lesson, school.students[1], value)
    result = journal.call("students_at_risk", make.ctx(school.class_teacher, "class_teacher"), school.klass.id,
                          school.current.id)
    by_student = {i["student_id"]: i["subjects"][0]["reasons"] for i in result["items"]}
    # maths is emphasised (R-F2) and nobody has written a written work yet
    assert by_student == {school.students[0]: ["LOW_FORECAST", "NO_WRITTEN_WORK"],
                          school.students[1]: ["FEW_MARKS", "NO_WRITTEN_WORK"]}
    # one subject only (a journal page shows one): the same for it, nobody for a subject without lessons or hours
    ctx = make.ctx(school.class_teacher, "class_teacher")
    assert journal.call("students_at_risk", ctx, school.klass.id, school.current.id, school.maths.id) == result
    other = journal.call("students_at_risk", ctx, school.klass.id, school.current.id,
                         "00000000-0000-4000-8000-00000000abcd")
    assert other["items"] == []
    raises("FORBIDDEN", journal.call, "students_at_risk", make.ctx(school.students[0], "student"),
           school.klass.id, None)
