"""The list reads (API.md "Reads the portal and scripts need") on the real
service: years, subjects, classes, a class's students, a teacher's classes,
a class's lessons, one lesson, the attendance history (R-J7) and final
marks (R-F1); cursor pages, their edges, and NOT_FOUND for what the caller
may not see or another school's."""
from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest

from journal import errors, store
from kernel import limits
from kernel.db import new_id
from kernel.events import utcnow



def school_today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Europe/Moscow")).date()


def refused(call, *args) -> dict:
    """The error a call raises: its class name and its JSON (code, details)."""
    with pytest.raises(errors.ServiceError) as exc:
        call(*args)
    return {"type": type(exc.value).__name__, **json.loads(str(exc.value))}


@pytest.fixture
def school(make):
    today = school_today()
    year = make.year()
    old = make.year(starts_on=today - dt.timedelta(days=600), ends_on=today - dt.timedelta(days=400),
                    periods=[(today - dt.timedelta(days=600), today - dt.timedelta(days=400))], archived=True)
    admin, ct, teacher, other = (make.person("admin"), make.person("class_teacher", full_name="Классная Вера"),
                                 make.person("teacher", full_name="Учитель Пётр"), make.person("teacher"))
    maths, russian = make.subject("Математика"), make.subject("Русский язык")
    a = make.klass(year, grade=5, letter="А", class_teacher_id=ct)
    b = make.klass(year, grade=5, letter="Б")
    make.klass(old, grade=4, letter="А")
    make.assign(teacher, a, maths)
    pupils = [make.person("student", full_name=n) for n in ("Яковлев Ян", "Антонова Анна", "Борисов Борис")]
    for p in pupils:
        make.enrol(p, a)
    left = make.person("student", full_name="Ушедший Уж")
    make.enrol(left, a, left_on=today - dt.timedelta(days=5))
    group = make.subgroup(a, russian, name="1 группа", student_ids=[pupils[1]])
    return dict(year=year, old=old, admin=admin, ct=ct, teacher=teacher, other=other, maths=maths,
                russian=russian, a=a, b=b, pupils=pupils, left=left, group=group)


def test_years_newest_first_with_periods_and_closed(journal, make, school):
    page = journal.call("list_years", make.ctx(school["teacher"], "teacher"), {})
    assert [y["id"] for y in page["items"]] == [school["year"].id, school["old"].id]
    assert page["next_cursor"] is None
    current, old = page["items"]
    assert current["closed"] is False and old["closed"] is True
    assert [p["name"] for p in current["periods"]] == ["1 полугодие", "2 полугодие"]
    assert set(current["periods"][0]) == {"id", "name", "kind", "starts_on", "ends_on"}


def test_families_do_not_list_the_structure(journal, make, school):
    for method in ("list_years", "list_subjects", "list_classes"):
        assert refused(journal.call, method, make.ctx(school["pupils"][0], "student"), {})["type"] == "NotAllowed"


def test_subjects_by_name_paged(journal, make, school):
    for n in range(3):
        make.subject(f"Я-предмет {n}")
    ctx = make.ctx(school["admin"], "admin")
    first = journal.call("list_subjects", ctx, {"limit": 2})
    assert [s["name"] for s in first["items"]] == ["Математика", "Русский язык"]
    assert first["items"][0]["emphasis"] is True
    second = journal.call("list_subjects", ctx, {"limit": 2, "cursor": first["next_cursor"]})
    assert [s["name"] for s in second["items"]] == ["Я-предмет 0", "Я-предмет 1"]
    last = journal.call("list_subjects", ctx, {"limit": 2, "cursor": second["next_cursor"]})
    assert [s["name"] for s in last["items"]] == ["Я-предмет 2"] and last["next_cursor"] is None
    # a page exactly full at the end has no next page
    assert journal.call("list_subjects", ctx, {"limit": 5})["next_cursor"] is None


def test_a_subject_added_between_pages_neither_repeats_nor_skips(journal, make, school):
    ctx = make.ctx(school["admin"], "admin")
    first = journal.call("list_subjects", ctx, {"limit": 1})
    make.subject("Астрономия")  # sorts before the cursor: not on a later page
    make.subject("Химия")
    rest = journal.call("list_subjects", ctx, {"limit": 10, "cursor": first["next_cursor"]})
    assert [s["name"] for s in rest["items"]] == ["Русский язык", "Химия"]


@pytest.mark.parametrize("query, field", [
    ({"limit": 0}, "limit"), ({"limit": limits.LIST_LIMIT_MAX + 1}, "limit"), ({"limit": "x"}, "limit"),
    ({"limit": True}, "limit"), ({"cursor": "!!!"}, "cursor"), ({"cursor": "bm90IGpzb24"}, "cursor"),
    ({"cursor": "WzEsMiwzLDRd"}, "cursor"), ({"cursor": "x" * (limits.LIST_CURSOR + 1)}, "cursor"),
])
def test_a_bad_limit_or_cursor_is_400(journal, make, school, query, field):
    got = refused(journal.call, "list_subjects", make.ctx(school["admin"], "admin"), query)
    assert got["type"] == "ValidationError" and got["details"]["field"] == field


def test_classes_with_class_teacher_and_size(journal, make, school):
    page = journal.call("list_classes", make.ctx(school["teacher"], "teacher"), {"year_id": school["year"].id})
    a, b = page["items"]
    assert (a["name"], a["grade"], a["letter"]) == ("5А", 5, "А")
    assert a["class_teacher"] == {"id": school["ct"], "full_name": "Классная Вера"}
    assert a["size"] == 3 and b["size"] == 0 and b["class_teacher"] is None
    assert len(journal.call("list_classes", make.ctx(school["admin"], "admin"), {})["items"]) == 3


def test_classes_of_another_schools_year_is_404(journal, make, school):
    foreign = make.year(school_id=new_id())
    got = refused(journal.call, "list_classes", make.ctx(school["admin"], "admin"), {"year_id": foreign.id})
    assert got["type"] == "NotFound" and got["details"]["field"] == "year_id"


def test_class_students_with_subgroups_and_who_sees_families(journal, make, school):
    a = school["a"]
    page = journal.call("list_class_students", make.ctx(school["teacher"], "teacher"), a.id, {})
    assert [s["full_name"] for s in page["items"]] == ["Антонова Анна", "Борисов Борис", "Яковлев Ян"]
    assert page["items"][0]["subgroups"] == [{"id": school["group"].id, "name": "1 группа",
                                             "subject_id": school["russian"].id, "subject": "Русский язык"}]
    assert page["families"] is False
    assert journal.call("list_class_students", make.ctx(school["ct"], "class_teacher"), a.id, {})["families"]
    assert journal.call("list_class_students", make.ctx(new_id(), "deputy"), a.id, {"limit": 1})["families"]


def test_class_students_404_for_a_stranger_and_another_school(journal, make, school):
    a = school["a"]
    for ctx in (make.ctx(school["other"], "teacher"), make.ctx(school["pupils"][0], "student"),
                make.ctx(school["admin"], "admin", school_id=new_id())):
        got = refused(journal.call, "list_class_students", ctx, a.id, {})
        assert got["type"] == "NotFound" and got["details"]["field"] == "class_id"


def test_my_classes_from_assignments_substitutions_and_timetable(journal, make, school, sessions):
    teacher, a, b = school["teacher"], school["a"], school["b"]
    make.lesson(b, school["russian"], teacher, school_today() - dt.timedelta(days=1), substitute_for=school["other"])
    make.lesson(a, school["maths"], teacher, school_today() - dt.timedelta(days=1), substitute_for=school["other"])
    period = make.rows(store.Period, year_id=school["year"].id)[-1]
    make._save(store.TimetableSlot(id=new_id(), school_id=make.school_id, class_id=b.id, period_id=period.id,
                                   weekday=1, number=1, subject_id=school["maths"].id, teacher_id=teacher))
    page = journal.call("list_my_classes", make.ctx(teacher, "teacher"), {})
    got = [(i["class"]["name"], i["subject"]["name"], i["source"]) for i in page["items"]]
    assert got == [("5А", "Математика", "assignment"), ("5Б", "Математика", "timetable"),
                   ("5Б", "Русский язык", "substitution")]
    assert page["items"][0]["subgroup"] is None and "_grade" not in page["items"][0]
    one = journal.call("list_my_classes", make.ctx(teacher, "teacher"), {"limit": 2})
    rest = journal.call("list_my_classes", make.ctx(teacher, "teacher"), {"cursor": one["next_cursor"]})
    assert [i["source"] for i in one["items"] + rest["items"]] == [i["source"] for i in page["items"]]
    assert refused(journal.call, "list_my_classes", make.ctx(school["pupils"][0], "student"), {})["type"] \
        == "NotAllowed"


def test_class_lessons_filtered_and_paged(journal, make, school):
    a, teacher = school["a"], school["teacher"]
    today = school_today()
    days = [today - dt.timedelta(days=n) for n in (3, 2, 1)]
    lessons = [make.lesson(a, school["maths"], teacher, d, substitute_for=school["other"] if n == 2 else None)
               for n, d in enumerate(days)]
    make.lesson(a, school["russian"], school["ct"], days[0])
    ctx = make.ctx(teacher, "teacher")
    page = journal.call("list_class_lessons", ctx, a.id, {"subject_id": school["maths"].id, "limit": 2})
    assert [l["id"] for l in page["items"]] == [lessons[0].id, lessons[1].id]
    item = page["items"][0]
    assert item["teacher"] == {"id": teacher, "full_name": "Учитель Пётр"}
    assert item["subject"] == {"id": school["maths"].id, "name": "Математика"}
    assert (item["late"], item["overdue"], item["imported"], item["substitute_for"]) == (False, False, False, None)
    rest = journal.call("list_class_lessons", ctx, a.id, {"subject_id": school["maths"].id,
                                                         "cursor": page["next_cursor"]})
    assert [l["id"] for l in rest["items"]] == [lessons[2].id] and rest["next_cursor"] is None
    assert rest["items"][0]["substitute_for"]["id"] == school["other"]
    ranged = journal.call("list_class_lessons", ctx, a.id, {"from": days[1].isoformat(), "to": days[1].isoformat()})
    assert [l["id"] for l in ranged["items"]] == [lessons[1].id]
    assert len(journal.call("list_class_lessons", make.ctx(school["admin"], "admin"), a.id, {})["items"]) == 4
    got = refused(journal.call, "list_class_lessons", ctx, a.id, {"from": days[2].isoformat(),
                                                                  "to": days[0].isoformat()})
    assert got["type"] == "ValidationError" and got["details"]["field"] == "to"
    got = refused(journal.call, "list_class_lessons", ctx, a.id, {"from": "2026-13-01"})
    assert got["type"] == "ValidationError" and got["details"]["field"] == "from"
    assert refused(journal.call, "list_class_lessons", make.ctx(school["other"], "teacher"), a.id, {})["type"] \
        == "NotFound"


def _attendance(make, lesson, student, statuses, by):
    entry_id, previous = new_id(), None
    rows = []
    for n, (status, reason) in enumerate(statuses, start=1):
        rows.append(store.AttendanceVersion(
            attendance_id=entry_id, version=n, school_id=lesson.school_id, status=status, previous=previous,
            by=by, at=utcnow(), reason=reason, prev_hash="0" * 64, hash=new_id().replace("-", "") * 2))
        previous = status
    make._save(store.AttendanceEntry(id=entry_id, school_id=lesson.school_id, lesson_id=lesson.id,
                                     student_id=student, status=previous, version=len(statuses), updated_by=by,
                                     updated_at=utcnow()))
    make._save(*rows)


def test_one_lesson_with_marks_and_attendance(journal, make, school):
    a, teacher, pupils = school["a"], school["teacher"], school["pupils"]
    lesson = make.lesson(a, school["maths"], teacher, school_today() - dt.timedelta(days=1), homework="№ 5")
    make.mark(lesson, pupils[0], 5, comment="молодец")
    make.mark(lesson, pupils[1], 3, removed=True)
    _attendance(make, lesson, pupils[2], [("absent", None)], teacher)
    got = journal.call("get_lesson", make.ctx(teacher, "teacher"), lesson.id)
    assert got["id"] == lesson.id and got["homework"] == "№ 5" and got["class"] == {"id": a.id, "name": "5А"}
    assert [(m["student"]["full_name"], m["value"], m["comment"]) for m in got["marks"]] == [
        ("Яковлев Ян", 5, "молодец")]
    assert [(x["student"]["id"], x["status"]) for x in got["attendance"]] == [(pupils[2], "absent")]
    # the class teacher and the administration see it; a stranger, a family, another school do not
    journal.call("get_lesson", make.ctx(school["ct"], "class_teacher"), lesson.id)
    journal.call("get_lesson", make.ctx(new_id(), "director"), lesson.id)
    for ctx in (make.ctx(school["other"], "teacher"), make.ctx(pupils[0], "student"),
                make.ctx(school["admin"], "admin", school_id=new_id())):
        got = refused(journal.call, "get_lesson", ctx, lesson.id)
        assert got["type"] == "NotFound" and got["details"]["field"] == "lesson_id"


def test_a_substitute_sees_the_lesson_they_gave(journal, make, school):
    lesson = make.lesson(school["a"], school["maths"], school["other"], school_today(),
                         substitute_for=school["teacher"])
    assert journal.call("get_lesson", make.ctx(school["other"], "teacher"), lesson.id)["substitute_for"]["id"] \
        == school["teacher"]


def test_attendance_history_every_version_for_the_administration(journal, make, school):
    """R-J7: who set which status when, the old and the new one, and why."""
    a, teacher, pupil = school["a"], school["teacher"], school["pupils"][0]
    today = school_today()
    first = make.lesson(a, school["maths"], teacher, today - dt.timedelta(days=2))
    second = make.lesson(a, school["maths"], teacher, today - dt.timedelta(days=1))
    _attendance(make, first, pupil, [("absent", None), ("excused", "справка")], teacher)
    _attendance(make, second, pupil, [("late", None)], teacher)
    _attendance(make, second, school["pupils"][1], [("absent", None)], teacher)
    ctx = make.ctx(school["admin"], "admin")
    page = journal.call("attendance_history", ctx, pupil, {"limit": 2})
    assert [(i["lesson"]["id"], i["version"], i["old"], i["new"], i["reason"]) for i in page["items"]] == [
        (first.id, 1, None, "absent", None), (first.id, 2, "absent", "excused", "справка")]
    assert page["items"][0]["by"] == {"id": teacher, "full_name": "Учитель Пётр"}
    assert page["items"][0]["lesson"]["subject"]["name"] == "Математика"
    rest = journal.call("attendance_history", ctx, pupil, {"cursor": page["next_cursor"]})
    assert [(i["lesson"]["id"], i["new"]) for i in rest["items"]] == [(second.id, "late")]
    ranged = journal.call("attendance_history", ctx, pupil, {"from": second.date.isoformat()})
    assert len(ranged["items"]) == 1
    from kernel import paging
    for bad in (paging.encode_cursor([first.date.isoformat(), first.id, "1"]), paging.encode_cursor(["x", "y", 1])):
        got = refused(journal.call, "attendance_history", ctx, pupil, {"cursor": bad})
        assert got["type"] == "ValidationError" and got["details"]["field"] == "cursor"
    assert refused(journal.call, "attendance_history", make.ctx(school["ct"], "class_teacher"), pupil, {})[
        "type"] == "NotAllowed"
    for student in (new_id(), school["teacher"]):
        assert refused(journal.call, "attendance_history", ctx, student, {})["type"] == "NotFound"
    assert refused(journal.call, "attendance_history", make.ctx(new_id(), "admin", school_id=new_id()),
                   pupil, {})["type"] == "NotFound"


def test_attendance_history_of_a_lesson_for_the_administration(journal, make, school):
    """R-J7 by lesson: every version of every student's attendance, by student name then version."""
    a, teacher = school["a"], school["teacher"]
    lesson = make.lesson(a, school["maths"], teacher, school_today() - dt.timedelta(days=1))
    first, second = school["pupils"][:2]
    _attendance(make, lesson, first, [("absent", None), ("excused", "справка")], teacher)
    _attendance(make, lesson, second, [("late", None)], teacher)
    ctx = make.ctx(school["admin"], "admin")
    page = journal.call("lesson_attendance_history", ctx, lesson.id, {"limit": 2})
    rest = journal.call("lesson_attendance_history", ctx, lesson.id, {"cursor": page["next_cursor"]})
    items = page["items"] + rest["items"]
    assert rest["next_cursor"] is None and len(items) == 3
    names = {i["student"]["id"]: i["student"]["full_name"] for i in items}
    assert all(names.values())
    expected = sorted([(first, 1, None, "absent", None), (first, 2, "absent", "excused", "справка"),
                       (second, 1, None, "late", None)], key=lambda r: (names[r[0]], r[0], r[1]))
    assert [(i["student"]["id"], i["version"], i["old"], i["new"], i["reason"]) for i in items] == expected
    assert items[0]["by"] == {"id": teacher, "full_name": "Учитель Пётр"}
    assert refused(journal.call, "lesson_attendance_history", make.ctx(school["ct"], "class_teacher"), lesson.id,
                   {})["type"] == "NotAllowed"
    assert refused(journal.call, "lesson_attendance_history", ctx, new_id(), {})["type"] == "NotFound"
    assert refused(journal.call, "lesson_attendance_history", make.ctx(new_id(), "admin", school_id=new_id()),
                   lesson.id, {})["type"] == "NotFound"
    bad = refused(journal.call, "lesson_attendance_history", ctx, lesson.id, {"cursor": "nope"})
    assert bad["type"] == "ValidationError" and bad["details"]["field"] == "cursor"


def test_final_marks_of_the_year_by_period_and_subject(journal, make, school):
    """R-F1: the family's view of the posted final marks; a superseded one is not shown."""
    year, pupil = school["year"], school["pupils"][0]
    periods = make.rows(store.Period, year_id=year.id)
    periods.sort(key=lambda p: p.starts_on)

    def final(period_id, kind, subject, value, superseded=False, late=False):
        make._save(store.FinalMark(
            id=new_id(), school_id=make.school_id, student_id=pupil, subject_id=subject.id,
            class_id=school["a"].id, period_id=period_id, period_kind=kind, value=value, evidence={}, warnings=[],
            late=late, teacher_id=school["teacher"], entered_at=utcnow(), superseded=superseded))

    final(periods[0].id, "half_year", school["russian"], 4)
    final(periods[0].id, "half_year", school["maths"], 3, superseded=True)
    final(periods[0].id, "half_year", school["maths"], 5, late=True)
    final(year.id, "year", school["maths"], 5)
    ctx = make.ctx(pupil, "student")
    page = journal.call("student_final_marks", ctx, pupil, {})
    assert page["year_id"] == year.id
    assert [(i["period"]["name"], i["subject"]["name"], i["value"], i["late"]) for i in page["items"]] == [
        ("1 полугодие", "Математика", 5, True), ("1 полугодие", "Русский язык", 4, False),
        (year.name, "Математика", 5, False)]
    assert journal.call("student_final_marks", ctx, pupil, {"year_id": school["old"].id})["items"] == []
    two = journal.call("student_final_marks", ctx, pupil, {"limit": 2})
    assert len(two["items"]) == 2 and two["next_cursor"]
    got = refused(journal.call, "student_final_marks", ctx, pupil, {"year_id": new_id()})
    assert got["type"] == "NotFound" and got["details"]["field"] == "year_id"
    assert refused(journal.call, "student_final_marks", make.ctx(new_id(), "admin", school_id=new_id()),
                   pupil, {})["type"] == "NotFound"


def test_lessons_are_paged_by_the_database_to_the_end(journal, make, school):
    """Many lessons, one date and one entry time shared by several: every
    lesson once, in order, whatever the page size; a cursor that is not a
    lesson's is 400."""
    a, teacher = school["a"], school["teacher"]
    day = school_today() - dt.timedelta(days=1)
    same = [make.lesson(a, school["maths"], teacher, day) for _ in range(3)]
    at = utcnow()
    with make.sessions.begin() as s:
        for lesson in same:
            s.get(store.Lesson, lesson.id).entered_at = at
    others = [make.lesson(a, school["maths"], teacher, day - dt.timedelta(days=n)) for n in range(1, 6)]
    expected = [l.id for l in others[::-1]] + sorted(l.id for l in same)
    ctx = make.ctx(school["admin"], "admin")
    for limit in (1, 2, 3, 7, 8, 50):
        seen, cursor = [], None
        while True:
            page = journal.call("list_class_lessons", ctx, a.id, {"limit": limit, "cursor": cursor})
            seen += [l["id"] for l in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == expected, limit
    from kernel import paging
    for bad in (paging.encode_cursor(["2026-13-01", at.isoformat(), "x"]),
                paging.encode_cursor([day.isoformat(), "2026-10-01T10:00:00", "x"]),
                paging.encode_cursor([day.isoformat(), at.isoformat(), 5]), paging.encode_cursor(["x", "y"])):
        got = refused(journal.call, "list_class_lessons", ctx, a.id, {"cursor": bad})
        assert got["type"] == "ValidationError" and got["details"]["field"] == "cursor"
