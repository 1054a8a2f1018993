"""The journal's own checks follow kernel.access_rules, the rules identity's
central decision applies too (R-A3, R-J6, R-J7): a substitute keeps the
lesson they give; a mark is corrected by whoever teaches the class and
subject (or substituted on that lesson), the deputy and the director, not
by its author as such. Real RabbitMQ and PostgreSQL."""
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


@pytest.fixture
def school(make):
    year = make.year()
    class_teacher, teacher, substitute = (make.person("class_teacher"), make.person("teacher"),
                                          make.person("teacher"))
    klass = make.klass(year, grade=6, letter="В", class_teacher_id=class_teacher)
    maths = make.subject("Математика")
    make.assign(teacher, klass, maths)
    pupils = [make.person("student"), make.person("student")]
    for pupil in pupils:
        make.enrol(pupil, klass)
    return SimpleNamespace(klass=klass, maths=maths, teacher=teacher, class_teacher=class_teacher,
                           substitute=substitute, pupils=pupils)


def lesson_body(school, **extra):
    return {"class_id": school.klass.id, "subject_id": school.maths.id, "date": school_today().isoformat(),
            "topic": "Проценты", "lesson_type": "урок", **extra}


def test_a_substitute_records_and_keeps_the_lesson_they_give_r_j6(journal, make, school):
    sub = make.ctx(school.substitute, "teacher")
    lesson = journal.call("record_lesson", sub, lesson_body(school, substitute_for=school.teacher))
    assert (lesson["teacher_id"], lesson["substitute_for"]) == (school.substitute, school.teacher)
    posted = journal.call("post_marks", sub, lesson["id"], [{"student_id": school.pupils[0], "value": 4}])
    journal.call("record_attendance", sub, lesson["id"],
                 {"entries": [{"student_id": school.pupils[1], "status": "ill"}]})
    fixed = journal.call("correct_mark", sub, posted["marks"][0]["id"], {"value": 5, "reason": "Ошибка при вводе"})
    assert fixed["value"] == 5
    # the teacher replaced still teaches the class: they correct that mark too
    journal.call("remove_mark", make.ctx(school.teacher, "teacher"), posted["marks"][0]["id"],
                 {"reason": "Не тому ученику"})
    [row] = make.rows(store.Lesson, id=lesson["id"])
    assert (row.teacher_id, row.substitute_for) == (school.substitute, school.teacher)


def test_a_substitution_for_someone_who_does_not_teach_it_is_refused_r_j6(journal, make, school):
    sub = make.ctx(school.substitute, "teacher")
    raises("NOT_ASSIGNED", journal.call, "record_lesson", sub,
           lesson_body(school, substitute_for=make.person("teacher")))
    raises("NOT_ASSIGNED", journal.call, "record_lesson", sub, lesson_body(school))  # no substitution named
    raises("NOT_ASSIGNED", journal.call, "record_lesson", make.ctx(school.substitute, "secretary"),
           lesson_body(school, substitute_for=school.teacher))  # not a teacher at all
    # a lesson someone else gave is not the substitute's
    other = make.lesson(school.klass, school.maths, school.teacher, school_today())
    raises("NOT_ASSIGNED", journal.call, "post_marks", sub, other.id, [{"student_id": school.pupils[0], "value": 4}])
    assert make.events("lesson_recorded") == [] and make.rows(store.Mark) == []


def test_the_subject_teacher_corrects_a_mark_they_did_not_post_r_j7(journal, make, school):
    lesson = make.lesson(school.klass, school.maths, school.class_teacher, school_today() - dt.timedelta(days=1))
    by_class_teacher = journal.call("post_marks", make.ctx(school.class_teacher, "class_teacher"), lesson.id,
                                    [{"student_id": school.pupils[0], "value": 3},
                                     {"student_id": school.pupils[1], "value": 4}])
    first, second = (m["id"] for m in by_class_teacher["marks"])
    journal.call("correct_mark", make.ctx(school.teacher, "teacher"), first, {"value": 4, "reason": "Пересчёт"})
    journal.call("correct_mark", make.ctx(make.person("director"), "director"), second,
                 {"value": 5, "reason": "Апелляция"})
    # the author, a class teacher who does not teach maths, no longer corrects it
    err = raises("FORBIDDEN", journal.call, "correct_mark", make.ctx(school.class_teacher, "class_teacher"), first,
                 {"value": 2, "reason": "Передумал"})
    assert err.kind == "forbidden"
    raises("FORBIDDEN", journal.call, "remove_mark", make.ctx(school.class_teacher, "class_teacher"), first,
           {"reason": "Передумал"})
    assert [(m.id, m.value, m.version) for m in sorted(make.rows(store.Mark), key=lambda m: m.value)] == [
        (first, 4, 2), (second, 5, 2)]
