"""The historical import of lessons from the paper journal
(journal.domain.imports): the rules with plain values, then the running
service on real RabbitMQ and PostgreSQL. Only the admin imports; each lesson
is marked imported with the paper entry's day, which decides late and
overdue exactly as R-J5 does; teachers' own entries keep the rule."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from journal import domain, errors, store

D = dt.date


def school_today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Europe/Moscow")).date()


def days_ago(n: int) -> dt.date:
    return school_today() - dt.timedelta(days=n)


# --- rules, plain values ---

def test_paper_entry_day_decides_late_and_overdue_r_j5():
    today = D(2026, 11, 20)
    assert domain.imports.check_dates(D(2026, 11, 2), D(2026, 11, 2), today) == (False, False)
    assert domain.imports.check_dates(D(2026, 11, 2), D(2026, 11, 5), today) == (True, False)
    assert domain.imports.check_dates(D(2026, 11, 2), D(2026, 11, 6), today) == (True, True)
    for lesson, recorded, field in ((D(2026, 11, 20), D(2026, 11, 20), "date"),   # today: the journal itself
                                    (D(2026, 11, 25), D(2026, 11, 25), "date"),
                                    (D(2026, 11, 2), D(2026, 11, 1), "recorded_on"),
                                    (D(2026, 11, 2), D(2026, 11, 21), "recorded_on")):
        with pytest.raises(errors.ValidationError) as exc:
            domain.imports.check_dates(lesson, recorded, today)
        assert exc.value.details["field"] == field


def test_validation_names_the_lesson_at_fault():
    good = {"teacher_id": "t", "class_id": "c", "subject_id": "s", "date": "2026-11-02", "topic": "Дроби",
            "lesson_type": "урок", "recorded_on": "2026-11-02"}
    [item] = domain.imports.validate_import({"lessons": [good]})
    assert item.teacher_id == "t" and item.recorded_on == D(2026, 11, 2) and item.spec.topic == "Дроби"
    with pytest.raises(errors.ValidationError) as exc:
        domain.imports.validate_import({"lessons": [good, {**good, "topic": " "}]})
    assert exc.value.details == {"field": "lessons[1].topic", "row": 1}
    with pytest.raises(errors.ValidationError) as exc:
        domain.imports.validate_import({"lessons": [{**good, "recorded_on": None}]})
    assert exc.value.details["field"] == "lessons[0].recorded_on"
    for bad in ({}, {"lessons": []}, {"lessons": [good] * (domain.imports.MAX_LESSONS + 1)}):
        with pytest.raises(errors.ValidationError):
            domain.imports.validate_import(bad)


def test_the_teacher_named_must_keep_that_journal():
    teacher = ["teacher"]
    domain.imports.require_teacher("t", teacher, class_teacher_id=None, assigned_subgroups=[None], subgroup_id=None)
    domain.imports.require_teacher("t", teacher, class_teacher_id="t", assigned_subgroups=[], subgroup_id=None)
    domain.imports.require_teacher("t", teacher, class_teacher_id="ct", assigned_subgroups=[], subgroup_id=None,
                                   replaced_subgroups=[None])  # R-J6: a substitute
    for roles, kw in ((teacher, {"assigned_subgroups": ["g2"], "subgroup_id": "g1"}),
                      (["secretary"], {"assigned_subgroups": [None], "subgroup_id": None})):
        with pytest.raises(errors.NotAssigned) as exc:
            domain.imports.require_teacher("t", roles, class_teacher_id="ct", **kw)
        assert exc.value.details == {"field": "teacher_id"}


# --- the running service ---

@pytest.fixture
def school(make):
    year = make.year()
    teacher, admin = make.person("teacher"), make.person("admin")
    klass = make.klass(year, grade=5, letter="Ж")
    maths = make.subject("Математика")
    make.assign(teacher, klass, maths)
    return SimpleNamespace(klass=klass, maths=maths, teacher=teacher, admin=make.ctx(admin, "admin"))


def lesson(school, date, recorded_on, **extra):
    return {"teacher_id": school.teacher, "class_id": school.klass.id, "subject_id": school.maths.id,
            "date": date.isoformat(), "recorded_on": recorded_on.isoformat(), "topic": "Дроби",
            "lesson_type": "урок", **extra}


def test_admin_imports_a_term_marked_as_imported_r_j5(journal, make, school):
    result = journal.call("import_lessons", school.admin, {"lessons": [
        lesson(school, days_ago(20), days_ago(20)), lesson(school, days_ago(19), days_ago(17)),
        lesson(school, days_ago(18), days_ago(10), homework="§ 5")]})
    assert (result["imported"], result["late"], result["overdue"]) == (3, 2, 1)
    assert [(l["late"], l["overdue"]) for l in result["lessons"]] == [(False, False), (True, False), (True, True)]
    rows = {r.id: r for r in make.rows(store.Lesson)}
    assert all(r.imported and r.teacher_id == school.teacher for r in rows.values())
    first = rows[result["lessons"][0]["id"]]
    assert first.recorded_on == days_ago(20) and first.entered_at.date() >= days_ago(1)  # the real moment is kept
    payloads = [e["payload"] for e in make.events("lesson_recorded")]
    assert [(p["imported"], p["recorded_on"], p["late"]) for p in payloads] == [
        (True, days_ago(20).isoformat(), False), (True, days_ago(17).isoformat(), True),
        (True, days_ago(10).isoformat(), True)]
    assert all(e["actor_id"] == school.admin["actor_id"] for e in make.events("lesson_recorded"))
    # the teacher keeps that journal afterwards as usual: marks on an imported lesson
    student = make.person("student")
    make.enrol(student, school.klass)
    posted = journal.call("post_marks", make.ctx(school.teacher, "teacher"), first.id,
                          [{"student_id": student, "value": 5}])
    assert posted["marks"][0]["value"] == 5


def test_nobody_else_imports_and_nothing_is_half_written(journal, make, school):
    teacher = make.ctx(school.teacher, "teacher")
    with pytest.raises(errors.ServiceError) as exc:
        journal.call("import_lessons", teacher, {"lessons": [lesson(school, days_ago(5), days_ago(5))]})
    assert exc.value.code == "FORBIDDEN"
    other = make.person("teacher")
    cases = [
        (lesson(school, school_today(), school_today()), "VALIDATION_ERROR", "lessons[1].date"),
        (lesson(school, days_ago(3), days_ago(4)), "VALIDATION_ERROR", "lessons[1].recorded_on"),
        ({**lesson(school, days_ago(3), days_ago(3)), "teacher_id": other}, "NOT_ASSIGNED", "lessons[1].teacher_id"),
        ({**lesson(school, days_ago(3), days_ago(3)), "class_id": "nope"}, "NOT_FOUND", "lessons[1].class_id"),
        (lesson(school, days_ago(95), days_ago(95)), "LESSON_OUTSIDE_PERIOD", None),  # the holiday gap
    ]
    for bad, code, field in cases:
        with pytest.raises(errors.ServiceError) as exc:
            journal.call("import_lessons", school.admin, {"lessons": [lesson(school, days_ago(6), days_ago(6)), bad]})
        assert exc.value.code == code, exc.value.to_dict()
        assert exc.value.details["row"] == 1 and exc.value.details.get("field") == field
    assert make.rows(store.Lesson) == [] and make.events("lesson_recorded") == []
    # a teacher's own entry of a past lesson is still late, whatever the import does
    own = journal.call("record_lesson", teacher, {k: v for k, v in lesson(school, days_ago(5), days_ago(5)).items()
                                                  if k not in ("teacher_id", "recorded_on")})
    assert own["late"] is True and own["overdue"] is True and own["imported"] is False


def test_an_import_is_idempotent(journal, make, school):
    data = {"lessons": [lesson(school, days_ago(4), days_ago(4))]}
    first = journal.call("import_lessons", school.admin, data, "import-key-0001")
    assert journal.call("import_lessons", school.admin, data, "import-key-0001") == first
    assert len(make.rows(store.Lesson)) == 1
