"""GetClassJournal (the class journal grid, API.md GET /classes/{id}/journal)
on real PostgreSQL, calling the servicer directly with a stub context (no
grpcio server in this monkey-patched process): who may see it, what it
holds, and that its cost does not grow with the class."""
from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import grpc
import pytest
from sqlalchemy import event

from ejournal.journal.v1 import journal_pb2
from journal import store
from journal.grpc_server import JournalServicer
from kernel.db import new_id
from kernel.events import utcnow

D = dt.date


class Aborted(Exception):
    pass


class StubContext:
    def __init__(self):
        self.code = self.details = None

    def abort(self, code, details):
        self.code, self.details = code, json.loads(details)
        raise Aborted(code)


NOW = dt.datetime(2026, 10, 15, 10, 0, tzinfo=dt.timezone.utc)


def servicer(sessions):
    return JournalServicer(sessions, timezone=ZoneInfo("Europe/Moscow"), clock=lambda: NOW)


@pytest.fixture
def term(make, sessions):
    year = make.year(starts_on=D(2026, 9, 1), ends_on=D(2027, 5, 31),
                     periods=[(D(2026, 9, 1), D(2026, 12, 28)), (D(2027, 1, 9), D(2027, 5, 31))])
    ct, teacher, stranger = make.person("class_teacher"), make.person("teacher"), make.person("teacher")
    klass = make.klass(year, letter="А", class_teacher_id=ct)
    maths, russian = make.subject("Математика"), make.subject("Русский язык")
    make.assign(teacher, klass, maths)
    pupils = [make.person("student", full_name=name) for name in ("Борисов Борис", "Антонова Анна")]
    for p in pupils:
        make.enrol(p, klass, on=D(2026, 9, 1))
    l1 = make.lesson(klass, maths, teacher, D(2026, 10, 12), topic="Дроби")
    l2 = make.lesson(klass, maths, teacher, D(2026, 10, 14), topic="Проценты")
    make.lesson(klass, russian, teacher, D(2026, 10, 13), topic="Другой предмет")
    make.lesson(klass, maths, teacher, D(2027, 2, 1), topic="Другой период")
    five = make.mark(l1, pupils[0], 5)
    make.mark(l1, pupils[1], 2, removed=True)
    four = make.mark(l2, pupils[1], 4, kind="test", weight=2)
    with sessions.begin() as s:
        [period] = [p for p in s.query(store.Period).filter_by(year_id=year.id) if p.starts_on == D(2026, 9, 1)]
        s.add(store.AttendanceEntry(id=new_id(), school_id=make.school_id, lesson_id=l2.id, student_id=pupils[0],
                                    status="ill", version=2, updated_by=ct, updated_at=utcnow()))
        s.add(store.FinalMark(id=new_id(), school_id=make.school_id, student_id=pupils[0], subject_id=maths.id,
                              class_id=klass.id, period_id=period.id, period_kind="half_year", value=5, version=1,
                              evidence={}, warnings=[], late=False, teacher_id=teacher, entered_at=utcnow(),
                              superseded=False))
    return dict(year=year, klass=klass, maths=maths, ct=ct, teacher=teacher, stranger=stranger, pupils=pupils,
                lessons=(l1, l2), marks=(five, four), period_id=period.id, school_id=make.school_id)


def request(term, viewer, roles=("teacher",), **over):
    fields = dict(school_id=term["school_id"], class_id=term["klass"].id, subject_id=term["maths"].id,
                  viewer_id=viewer, viewer_roles=list(roles))
    fields.update(over)
    return journal_pb2.ClassJournalRequest(**fields)


def test_grid_of_the_current_period(sessions, term):
    grid = servicer(sessions).GetClassJournal(request(term, term["teacher"]), StubContext())
    assert grid.period_id == term["period_id"] and (grid.starts_on, grid.ends_on) == ("2026-09-01", "2026-12-28")
    assert [s.full_name for s in grid.students] == ["Антонова Анна", "Борисов Борис"]
    assert [(l.date, l.topic) for l in grid.lessons] == [("2026-10-12", "Дроби"), ("2026-10-14", "Проценты")]
    assert [(m.id, m.value, m.weight) for m in grid.marks] == [
        (term["marks"][0].id, 5, 1), (term["marks"][1].id, 4, 2)]  # the removed mark is not shown
    assert [(a.student_id, a.status, a.version) for a in grid.attendance] == [(term["pupils"][0], "ill", 2)]
    assert [(f.student_id, f.value) for f in grid.finals] == [(term["pupils"][0], 5)]


def test_grid_names_its_class_subject_and_the_year_s_periods(sessions, term):
    """What a page needs to title the grid and offer the other periods, in the same answer."""
    grid = servicer(sessions).GetClassJournal(request(term, term["teacher"]), StubContext())
    assert (grid.class_name, grid.subject_name) == (term["klass"].name, term["maths"].name)
    assert (grid.year_id, grid.year_name) == (term["year"].id, term["year"].name)
    with sessions() as s:
        expected = [(p.id, p.name, p.kind, p.starts_on.isoformat(), p.ends_on.isoformat()) for p in sorted(
            s.query(store.Period).filter_by(year_id=term["year"].id), key=lambda p: p.starts_on)]
    assert [(p.id, p.name, p.kind, p.starts_on, p.ends_on) for p in grid.periods] == expected
    assert len(expected) >= 2 and term["period_id"] in [p.id for p in grid.periods]


def test_grid_of_the_current_period_of_the_class_s_own_year(sessions, term, make):
    """Another year of the school that overlaps today (a year opened early,
    a test year) does not hide the class's own current period."""
    make.year(starts_on=D(2026, 10, 1), ends_on=D(2027, 6, 30), periods=[(D(2026, 10, 1), D(2027, 6, 30))])
    grid = servicer(sessions).GetClassJournal(request(term, term["teacher"]), StubContext())
    assert grid.period_id == term["period_id"] and [l.topic for l in grid.lessons] == ["Дроби", "Проценты"]


def test_grid_of_the_year_spans_every_period(sessions, term):
    grid = servicer(sessions).GetClassJournal(request(term, term["ct"], ("class_teacher",), period_id=term["year"].id),
                                              StubContext())
    assert len(grid.lessons) == 3 and len(grid.finals) == 1


@pytest.mark.parametrize("who", ["stranger", "student"])
def test_only_teachers_of_the_class_and_the_administration_see_it(sessions, term, make, who):
    viewer = term["stranger"] if who == "stranger" else term["pupils"][0]
    ctx = StubContext()
    with pytest.raises(Aborted):
        servicer(sessions).GetClassJournal(request(term, viewer, (who if who == "student" else "teacher",)), ctx)
    assert ctx.code == grpc.StatusCode.NOT_FOUND
    servicer(sessions).GetClassJournal(request(term, make.person("deputy"), ("deputy",)), StubContext())


def test_bad_requests(sessions, term):
    for over in ({"subject_id": ""}, {"class_id": "nope"}, {"period_id": "nope"}, {"school_id": "other"}):
        ctx = StubContext()
        with pytest.raises(Aborted):
            servicer(sessions).GetClassJournal(request(term, term["teacher"], **over), ctx)
        assert ctx.code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)


def test_grid_costs_a_fixed_number_of_queries(sessions, term, journal_engine, make):
    def count():
        statements = []
        listener = lambda *a: statements.append(1)  # noqa: E731
        event.listen(journal_engine, "before_cursor_execute", listener)
        try:
            servicer(sessions).GetClassJournal(request(term, term["teacher"]), StubContext())
        finally:
            event.remove(journal_engine, "before_cursor_execute", listener)
        return len(statements)

    before = count()
    for _ in range(5):
        pupil = make.person("student")
        make.enrol(pupil, term["klass"], on=D(2026, 9, 1))
        make.mark(term["lessons"][0], pupil, 3)
    assert count() == before <= 11


def test_the_diary_shows_the_pupils_attendance_r_j2(sessions, term):
    diary = servicer(sessions).GetDiary(journal_pb2.DiaryRequest(
        student_id=term["pupils"][0], school_id=term["school_id"], from_date="2026-10-12", to_date="2026-10-14"),
        StubContext())
    got = {l.topic: l.attendance for d in diary.days for l in d.lessons}
    assert got == {"Дроби": "", "Другой предмет": "", "Проценты": "ill"}


def test_grid_shows_who_actually_taught_each_lesson_r_j6(sessions, term, make):
    """A substitution: the lesson names the substitute who gave it and the
    teacher replaced, with their names; an ordinary lesson its own teacher."""
    substitute = make.person("teacher", full_name="Петров Пётр")
    with sessions.begin() as s:
        s.get(store.Person, term["teacher"]).full_name = "Иванова Ирина"
    make.lesson(term["klass"], term["maths"], substitute, D(2026, 10, 15), topic="Замена",
                substitute_for=term["teacher"])
    grid = servicer(sessions).GetClassJournal(request(term, term["teacher"]), StubContext())
    lessons = {l.topic: l for l in grid.lessons}
    own, replaced = lessons["Дроби"], lessons["Замена"]
    assert (own.teacher_id, own.teacher_name, own.substitute_for, own.substitute_for_name) == (
        term["teacher"], "Иванова Ирина", "", "")
    assert (replaced.teacher_id, replaced.teacher_name, replaced.substitute_for, replaced.substitute_for_name) == (
        substitute, "Петров Пётр", term["teacher"], "Иванова Ирина")


def test_grid_names_the_students_at_risk_in_its_subject_r_f4(sessions, term):
    """Maths is assigned 2 h a week (3 marks needed) and emphasised (1 written
    work needed). Борисов: one oral 5 -> forecast 5, too few marks, no written
    work. Антонова: her 2 was removed, one test 4 (weight 2) -> forecast 4,
    too few marks, the test is a written work."""
    grid = servicer(sessions).GetClassJournal(request(term, term["teacher"]), StubContext())
    got = {r.student_id: (list(r.reasons), r.predicted, r.marks_count, r.required, r.written_works,
                          r.written_required) for r in grid.at_risk}
    boris, anna = term["pupils"]
    assert got == {boris: (["FEW_MARKS", "NO_WRITTEN_WORK"], 5, 1, 3, 0, 1), anna: (["FEW_MARKS"], 4, 1, 3, 1, 1)}
