"""R-F2 emphasis on the running service (real RabbitMQ and PostgreSQL): a
subject's flag on create and update, and what it does to a final mark's
evidence and warnings, the forecast and the students at risk."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from journal import errors, store


def school_today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Europe/Moscow")).date()


def raises(code, fn, *args):
    with pytest.raises(errors.ServiceError) as exc:
        fn(*args)
    assert exc.value.code == code, exc.value.to_dict()
    return exc.value


def test_subject_emphasis_defaults_from_the_name_and_can_be_set_r_f2(journal, make):
    admin = make.ctx(make.person("admin"), "admin")
    physics = journal.call("create_subject", admin, {"name": "Физика"})
    music = journal.call("create_subject", admin, {"name": "Музыка"})
    drawing = journal.call("create_subject", admin, {"name": "Черчение", "emphasis": True})
    chemistry = journal.call("create_subject", admin, {"name": "Химия", "emphasis": False})
    assert [s["emphasis"] for s in (physics, music, drawing, chemistry)] == [True, False, True, False]
    created = {e["payload"]["name"]: e["payload"]["emphasis"] for e in make.events("subject_created")}
    assert created == {"Физика": True, "Музыка": False, "Черчение": True, "Химия": False}
    raises("VALIDATION_ERROR", journal.call, "create_subject", admin, {"name": "Пение", "emphasis": "да"})
    assert not make.rows(store.Subject, name="Пение")

    changed = journal.call("update_subject", admin, music["id"], {"emphasis": True})
    assert changed == {"id": music["id"], "name": "Музыка", "emphasis": True}
    assert make.rows(store.Subject, id=music["id"])[0].emphasis is True
    [event] = make.events("subject_updated")
    assert event["payload"] == {"subject_id": music["id"], "name": "Музыка", "emphasis": True}
    # the same value again: nothing changes, nothing is published
    assert journal.call("update_subject", admin, music["id"], {"emphasis": True})["emphasis"] is True
    assert len(make.events("subject_updated")) == 1

    raises("VALIDATION_ERROR", journal.call, "update_subject", admin, music["id"], {})
    raises("FORBIDDEN", journal.call, "update_subject", make.ctx(make.person("deputy"), "deputy"), music["id"],
           {"emphasis": False})
    other_school = make.ctx(make.person("admin", school_id="other"), "admin", school_id="other")
    raises("NOT_FOUND", journal.call, "update_subject", other_school, music["id"], {"emphasis": False})
    raises("NOT_FOUND", journal.call, "update_subject", admin, "nope", {"emphasis": False})
    assert make.rows(store.Subject, id=music["id"])[0].emphasis is True


@pytest.fixture
def school(make):
    year = make.year()
    teacher, class_teacher = make.person("teacher"), make.person("class_teacher")
    klass = make.klass(year, grade=8, letter="А", class_teacher_id=class_teacher)
    chemistry, history = make.subject("Химия"), make.subject("История")
    for subject in (chemistry, history):
        make.assign(teacher, klass, subject)
    student = make.person("student", full_name="Гусев Глеб")
    make.enrol(student, klass)
    with make.sessions() as s:
        current = s.query(store.Period).filter_by(year_id=year.id).order_by(store.Period.starts_on.desc()).first()
    return SimpleNamespace(klass=klass, teacher=teacher, class_teacher=class_teacher, chemistry=chemistry,
                           history=history, student=student, current=current)


def give(make, school, subject, values, kind="oral", days_back=1):
    for i, value in enumerate(values):
        lesson = make.lesson(school.klass, subject, school.teacher, school_today() - dt.timedelta(days=days_back + i))
        make.mark(lesson, school.student, value, kind=kind)


def final(journal, make, school, subject, value=4):
    return journal.call("post_final_mark", make.ctx(school.teacher, "teacher"), {
        "student_id": school.student, "subject_id": subject.id, "period_id": school.current.id, "value": value})


def codes(result):
    return [w["code"] for w in result["warnings"]]


def test_an_emphasised_subject_warns_without_written_work_even_with_no_marks_r_f2(journal, make, school):
    empty = final(journal, make, school, school.chemistry)
    assert empty["evidence"]["marks_count"] == 0 and empty["evidence"]["emphasis"] is True
    assert codes(empty) == ["THIN_EVIDENCE", "WRITTEN_WORK_REQUIRED"]
    assert codes(final(journal, make, school, school.history)) == ["THIN_EVIDENCE"]  # not emphasised
    give(make, school, school.chemistry, [4, 4, 5])
    give(make, school, school.history, [4, 4, 5])
    oral = final(journal, make, school, school.chemistry)
    assert codes(oral) == ["WRITTEN_WORK_REQUIRED"]
    assert "0 из 1" in oral["warnings"][0]["message"]
    assert codes(final(journal, make, school, school.history)) == ["NO_WRITTEN_WORK"]
    give(make, school, school.chemistry, [4], kind="lab", days_back=10)
    assert codes(final(journal, make, school, school.chemistry)) == []
    assert make.events("final_mark_posted")[-1]["payload"]["evidence"]["written_required"] == 1
    # the school turns the emphasis off for chemistry: nothing is required any more
    journal.call("update_subject", make.ctx(make.person("admin"), "admin"), school.chemistry.id, {"emphasis": False})
    assert final(journal, make, school, school.chemistry)["evidence"]["written_required"] == 0


def test_a_stricter_school_asks_for_two_written_works_r_f2(journal_with, make, school):
    strict = journal_with(EJOURNAL_FINAL_MIN_WRITTEN="2")
    give(make, school, school.chemistry, [4, 4, 5])
    give(make, school, school.chemistry, [5], kind="written", days_back=10)
    result = final(strict, make, school, school.chemistry)
    assert result["evidence"]["written_works"] == 1 and result["evidence"]["written_required"] == 2
    assert codes(result) == ["WRITTEN_WORK_REQUIRED"]


def test_forecast_and_risk_reflect_the_emphasis_r_f2_r_f4(journal, make, school):
    give(make, school, school.chemistry, [4, 4, 4])
    give(make, school, school.history, [4, 4, 4])
    staff = make.ctx(school.class_teacher, "class_teacher")
    items = {i["subject_id"]: i for i in journal.call("forecast", staff, school.student, school.current.id)["items"]}
    chem, hist = items[school.chemistry.id], items[school.history.id]
    assert chem["predicted"] == hist["predicted"] == 4
    assert chem["emphasis"] is True and chem["written_works"] == 0 and chem["written_required"] == 1
    assert chem["confidence"] == hist["confidence"] / 2
    risk = journal.call("students_at_risk", staff, school.klass.id, school.current.id)
    [item] = risk["items"]
    assert [(s["subject_id"], s["reasons"]) for s in item["subjects"]] == [(school.chemistry.id, ["NO_WRITTEN_WORK"])]
    give(make, school, school.chemistry, [4], kind="practical", days_back=10)
    assert journal.call("students_at_risk", staff, school.klass.id, school.current.id)["items"] == []
