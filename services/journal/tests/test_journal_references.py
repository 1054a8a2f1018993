"""Every id a journal write names must exist in the caller's school: a
dangling reference is refused with 404 NOT_FOUND or a 422 naming the field,
and nothing is written. One case per write and reference, on real RabbitMQ
and PostgreSQL (identity, asked about people the journal has not heard of,
answers "not found")."""
from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from nameko.exceptions import RemoteError

from journal import errors, store
from kernel.db import new_id


def school_today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Europe/Moscow")).date()


@pytest.fixture
def world(make):
    """5А (maths by ``teacher``, an English subgroup) and 5Б (a maths
    subgroup) of a year around today; a pupil, a lesson and a mark in 5А;
    a class of another school."""
    year = make.year()
    admin, ct, teacher = make.person("admin"), make.person("class_teacher"), make.person("teacher")
    c5a = make.klass(year, grade=5, letter="А", class_teacher_id=ct)
    c5b = make.klass(year, grade=5, letter="Б")
    maths, english = make.subject("Математика"), make.subject("Английский язык")
    make.assign(teacher, c5a, maths)
    pupil = make.person("student")
    make.enrol(pupil, c5a)
    english_group = make.subgroup(c5a, english, student_ids=[pupil])
    other_class_group = make.subgroup(c5b, maths)
    lesson = make.lesson(c5a, maths, teacher, school_today() - dt.timedelta(days=1))
    mark = make.mark(lesson, pupil, 4)
    [period] = [p for p in make.rows(store.Period, year_id=year.id) if p.starts_on <= school_today() <= p.ends_on]
    foreign = make.klass(make.year(school_id=new_id()))
    return dict(year=year, admin=make.ctx(admin, "admin"), teacher=make.ctx(teacher, "teacher"), teacher_id=teacher,
                c5a=c5a, c5b=c5b, maths=maths, english=english, pupil=pupil, english_group=english_group,
                other_class_group=other_class_group, lesson=lesson, mark=mark, period=period, foreign=foreign)


def lesson(w, **over):
    return {"class_id": w["c5a"].id, "subject_id": w["maths"].id, "date": school_today().isoformat(),
            "topic": "Дроби", "lesson_type": "урок", **over}


def paper(w, **over):
    day = (school_today() - dt.timedelta(days=2)).isoformat()
    return {"lessons": [{**lesson(w, date=day), "teacher_id": w["teacher_id"], "recorded_on": day, **over}]}


def slot(w, **over):
    return {"period_id": w["period"].id, "slots": [{"weekday": 1, "number": 1, "subject_id": w["maths"].id,
                                                     "teacher_id": w["teacher_id"], **over}]}


def final(w, **over):
    return {"student_id": w["pupil"], "subject_id": w["maths"].id, "period_id": w["period"].id, "value": 5, **over}


GHOST = "0f0e0d0c-0000-4000-8000-00000000dead"

# (write, who, args(world), code, details.field)
CASES = {
    # lessons (R-J1, R-S5, R-J6)
    "lesson: unknown subgroup": ("record_lesson", "admin", lambda w: [lesson(w, subgroup_id=GHOST)],
                                 "NOT_FOUND", "subgroup_id"),
    "lesson: subgroup of another subject": (
        "record_lesson", "admin", lambda w: [lesson(w, subgroup_id=w["english_group"].id)], "NOT_FOUND", "subgroup_id"),
    "lesson: subgroup of another class": (
        "record_lesson", "admin", lambda w: [lesson(w, subgroup_id=w["other_class_group"].id)], "NOT_FOUND",
        "subgroup_id"),
    "lesson: unknown class": ("record_lesson", "admin", lambda w: [lesson(w, class_id=GHOST)], "NOT_FOUND", "class_id"),
    "lesson: another school's class": ("record_lesson", "admin", lambda w: [lesson(w, class_id=w["foreign"].id)],
                                       "NOT_FOUND", "class_id"),
    "lesson: unknown subject": ("record_lesson", "admin", lambda w: [lesson(w, subject_id=GHOST)], "NOT_FOUND",
                                "subject_id"),
    "lesson: unknown teacher replaced": ("record_lesson", "teacher", lambda w: [lesson(w, substitute_for=GHOST)],
                                         "SUBSTITUTE_NOT_ASSIGNED", "substitute_for"),
    # the paper journal
    "import: unknown subgroup": ("import_lessons", "admin", lambda w: [paper(w, subgroup_id=GHOST)], "NOT_FOUND",
                                 "lessons[0].subgroup_id"),
    "import: unknown teacher": ("import_lessons", "admin", lambda w: [paper(w, teacher_id=GHOST)], "NOT_FOUND",
                                "lessons[0].teacher_id"),
    "import: unknown class": ("import_lessons", "admin", lambda w: [paper(w, class_id=GHOST)], "NOT_FOUND",
                              "lessons[0].class_id"),
    # marks, attendance, corrections, final marks
    "marks: unknown lesson": ("post_marks", "admin", lambda w: [GHOST, [{"student_id": w["pupil"], "value": 5}]],
                              "NOT_FOUND", "lesson_id"),
    "marks: unknown student": ("post_marks", "admin", lambda w: [w["lesson"].id, [{"student_id": GHOST, "value": 5}]],
                               "STUDENT_NOT_IN_CLASS", "marks"),
    "attendance: unknown student": ("record_attendance", "admin", lambda w: [
        w["lesson"].id, {"entries": [{"student_id": GHOST, "status": "ill"}]}], "STUDENT_NOT_IN_CLASS", "entries"),
    "correction: unknown mark": ("correct_mark", "admin", lambda w: [GHOST, {"value": 5, "reason": "x"}], "NOT_FOUND",
                                 "mark_id"),
    "removal: unknown mark": ("remove_mark", "admin", lambda w: [GHOST, {"reason": "x"}], "NOT_FOUND", "mark_id"),
    "final: unknown student": ("post_final_mark", "admin", lambda w: [final(w, student_id=GHOST)],
                               "STUDENT_NOT_IN_CLASS", "student_id"),
    "final: unknown subject": ("post_final_mark", "admin", lambda w: [final(w, subject_id=GHOST)], "NOT_FOUND",
                               "subject_id"),
    "final: unknown period": ("post_final_mark", "admin", lambda w: [final(w, period_id=GHOST)], "NOT_FOUND",
                              "period_id"),
    # the school's structure
    "class: unknown year": ("create_class", "admin", lambda w: [{"year_id": GHOST, "grade": 7, "letter": "В",
                                                                 "class_teacher_id": w["teacher_id"]}],
                            "NOT_FOUND", "year_id"),
    "class: unknown class teacher": ("create_class", "admin", lambda w: [{
        "year_id": w["year"].id, "grade": 7, "letter": "В", "class_teacher_id": GHOST}], "NOT_FOUND", "class_teacher_id"),
    "enrolment: unknown class": ("enroll_student", "admin", lambda w: [GHOST, {
        "student_id": w["pupil"], "order_no": "1", "on": school_today().isoformat()}], "NOT_FOUND", "class_id"),
    "enrolment: unknown student": ("enroll_student", "admin", lambda w: [w["c5b"].id, {
        "student_id": GHOST, "order_no": "1", "on": school_today().isoformat()}], "NOT_FOUND", "student_id"),
    "assignment: unknown subgroup": ("assign_teacher", "admin", lambda w: [{
        "teacher_id": w["teacher_id"], "class_id": w["c5a"].id, "subject_id": w["maths"].id, "hours_per_week": 1,
        "subgroup_id": GHOST}], "NOT_FOUND", "subgroup_id"),
    "assignment: unknown teacher": ("assign_teacher", "admin", lambda w: [{
        "teacher_id": GHOST, "class_id": w["c5a"].id, "subject_id": w["english"].id, "hours_per_week": 1}],
        "NOT_FOUND", "teacher_id"),
    "assignment: unknown subject": ("assign_teacher", "admin", lambda w: [{
        "teacher_id": w["teacher_id"], "class_id": w["c5a"].id, "subject_id": GHOST, "hours_per_week": 1}],
        "NOT_FOUND", "subject_id"),
    "subgroup: unknown student": ("create_subgroup", "admin", lambda w: [w["c5a"].id, {
        "subject_id": w["maths"].id, "name": "1 группа", "student_ids": [GHOST]}], "STUDENT_NOT_IN_CLASS",
        "student_ids"),
    "subgroup: unknown subject": ("create_subgroup", "admin", lambda w: [w["c5a"].id, {
        "subject_id": GHOST, "name": "1 группа", "student_ids": [w["pupil"]]}], "NOT_FOUND", "subject_id"),
    "timetable: unknown subgroup": ("set_timetable", "admin", lambda w: [w["c5a"].id, slot(w, subgroup_id=GHOST)],
                                    "NOT_FOUND", "slots[0].subgroup_id"),
    "timetable: unknown teacher": ("set_timetable", "admin", lambda w: [w["c5a"].id, slot(w, teacher_id=GHOST)],
                                   "NOT_FOUND", "teacher_id"),
    "timetable: unknown subject": ("set_timetable", "admin", lambda w: [w["c5a"].id, slot(w, subject_id=GHOST)],
                                   "NOT_FOUND", "subject_id"),
    "timetable: unknown period": ("set_timetable", "admin", lambda w: [w["c5a"].id, {**slot(w), "period_id": GHOST}],
                                  "NOT_FOUND", "period_id"),
    "plan: unknown period": ("create_plan", "admin", lambda w: [{
        "class_id": w["c5a"].id, "subject_id": w["maths"].id, "period_id": GHOST,
        "topics": [{"number": 1, "title": "Дроби", "hours": 2}]}], "NOT_FOUND", "period_id"),
    "plan: unknown subject": ("create_plan", "admin", lambda w: [{
        "class_id": w["c5a"].id, "subject_id": GHOST, "period_id": w["period"].id,
        "topics": [{"number": 1, "title": "Дроби", "hours": 2}]}], "NOT_FOUND", "subject_id"),
    "transfer: unknown class": ("transfer_student", "admin", lambda w: [w["pupil"], {
        "to_class_id": GHOST, "order_no": "1", "on": school_today().isoformat()}], "NOT_FOUND", "to_class_id"),
    "transfer: unknown student": ("transfer_student", "admin", lambda w: [GHOST, {
        "to_class_id": w["c5b"].id, "order_no": "1", "on": school_today().isoformat()}], "NOT_FOUND", "student_id"),
    "year close: unknown next year": ("close_year", "admin", lambda w: [w["year"].id, {
        "order_no": "1", "promote": False, "early": True, "next_year_id": GHOST}], "NOT_FOUND", "next_year_id"),
    "year close: unknown student held back": ("close_year", "admin", lambda w: [w["year"].id, {
        "order_no": "1", "promote": False, "early": True, "held_back": [GHOST]}], "STUDENT_NOT_IN_CLASS", "held_back"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_dangling_reference_is_refused_and_nothing_is_written(journal, make, world, case):
    method, who, args, code, field = CASES[case]
    journal.identity.get_user.side_effect = RemoteError(
        "NotFound", json.dumps({"kind": "not_found", "code": "NOT_FOUND", "message": "Не найдено", "details": {}}))
    before = {model: len(make.rows(model)) for model in (store.Lesson, store.Mark, store.SchoolClass,
                                                         store.Assignment, store.Subgroup, store.Enrolment)}
    with pytest.raises(errors.ServiceError) as exc:
        journal.call(method, world[who], *args(world))
    assert (exc.value.code, exc.value.details.get("field")) == (code, field), exc.value.to_dict()
    assert exc.value.kind in ("not_found", "rule")
    assert make.events() == []
    assert {model: len(make.rows(model)) for model in before} == before
    assert not [y for y in make.rows(store.Year) if y.archived]
