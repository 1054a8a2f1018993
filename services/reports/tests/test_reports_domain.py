"""Unit tests of reports.domain: every R-R5 number hand-computed on plain values."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest

from kernel.errors import InvalidContext, ServiceError
from reports import domain
from reports.errors import (
    ClassNotFound, NotAllowed, PeriodNotFound, PeriodNotInClassYear, ValidationError,
)

D = dt.date
PERIOD = {"id": "p1", "name": "1 четверть", "starts_on": D(2026, 9, 1), "ends_on": D(2026, 10, 26)}
CLASS = {"id": "c1", "name": "5А"}
GENERATED = dt.datetime(2026, 10, 27, 9, 0, tzinfo=dt.timezone.utc)


def marks(*values, weight=1):
    """Marks as the store gives them: ``(value, weight)`` tuples or plain values."""
    out = []
    for v in values:
        value, w = v if isinstance(v, tuple) else (v, weight)
        out.append({"value": value, "weight": w})
    return out


# --- numbers -------------------------------------------------------------------

@pytest.mark.parametrize("value, places, expected", [
    (Fraction(7, 2), 0, "4"),          # 3.5 -> 4
    (Fraction(5, 2), 0, "3"),          # 2.5 -> 3 (round() would give 2)
    (Fraction(9, 2), 0, "5"),          # 4.5 -> 5 (round() would give 4)
    (Fraction(349, 100), 0, "3"),
    (Fraction(25, 8), 2, "3.13"),      # 3.125 -> 3.13 (round(3.125, 2) gives 3.12)
    (Fraction(11, 3), 2, "3.67"),
    (Fraction(1, 16) * 100, 1, "6.3"),  # 6.25 -> 6.3
    (4, 2, "4.00"),
])
def test_round_half_up_R_R5(value, places, expected):
    assert domain.round_half_up(value, places) == Decimal(expected)


def test_percent_one_decimal_half_up_and_none_for_empty_class_R_R5():
    assert domain.percent(2, 3) == 66.7
    assert domain.percent(1, 16) == 6.3
    assert domain.percent(4, 7) == 57.1
    assert domain.percent(0, 5) == 0.0
    assert domain.percent(5, 5) == 100.0
    assert domain.percent(0, 0) is None


def test_subject_result_counts_averages_and_weights_R_R5():
    result = domain.subject_result(marks((5, 1), (4, 1), (2, 2)))
    assert result == {"marks": [5, 4, 2], "count": 3,
                      "average": 3.67,            # 11/3
                      "weighted_average": 3.25,   # (5+4+2*2)/4
                      "rounded": 3}


def test_weights_move_the_rounded_mark_R_R5():
    # plain mean 4.0, but the weight-2 control work at 5 lifts it to 13/3
    result = domain.subject_result(marks((5, 2), (3, 1)))
    assert (result["average"], result["weighted_average"], result["rounded"]) == (4.0, 4.33, 4)
    # a weight-3 failing control work drags 5, 5 down to (5+5+6)/5 = 3.2
    result = domain.subject_result(marks((5, 1), (5, 1), (2, 3)))
    assert (result["average"], result["weighted_average"], result["rounded"]) == (4.0, 3.2, 3)


def test_missing_weight_counts_as_one_R_J3():
    assert domain.subject_result([{"value": 5, "weight": None}, {"value": 2}])["weighted_average"] == 3.5


@pytest.mark.parametrize("values, rounded", [
    ((4, 3), 4),   # 3.5 -> 4: the edge named by R-R5's rounding rule
    ((3, 2), 3),   # 2.5 -> 3: not failing
    ((5, 4), 5),   # 4.5 -> 5
    ((3, 3, 3, 3, 3, 3, 3, 4), 3),  # 3.125 -> shown 3.13 -> 3
    ((2, 2, 3), 2),
])
def test_rounded_subject_mark_half_up_R_R5(values, rounded):
    assert domain.subject_result(marks(*values))["rounded"] == rounded


def test_rounded_follows_the_shown_two_decimal_average():
    # 349/100 = 3.49 stays 3; the mark is taken from the shown value, not re-rounded differently
    result = domain.subject_result(marks((4, 49), (3, 51)))
    assert result["weighted_average"] == 3.49 and result["rounded"] == 3


def test_subject_without_marks_has_no_numbers():
    assert domain.subject_result([]) == {"marks": [], "count": 0, "average": None,
                                         "weighted_average": None, "rounded": None}


def test_student_average_is_mean_of_subject_weighted_averages():
    # (13/3 + 4) / 2 = 25/6 = 4.1666.. -> 4.17; an empty subject does not count
    assert domain.student_average([marks((5, 2), (3, 1)), marks(4), []]) == Decimal("4.17")
    assert domain.student_average([[], []]) is None


# --- standings and summary --------------------------------------------------------

@pytest.mark.parametrize("rounded, expected", [
    ([5, 5], {"passing", "quality", "excellent"}),
    ([5, 4], {"passing", "quality"}),
    ([4, 3], {"passing", "with_one_3"}),
    ([3, 3], {"passing"}),
    ([3, 2], {"failing"}),            # one 3 but also a 2: failing, not "with one 3"
    ([5, 1], {"failing"}),            # 1 (school setting) fails too
    ([], {"without_marks"}),          # not attested: in no other group
])
def test_student_standing_R_R5(rounded, expected):
    standing = domain.student_standing(rounded)
    assert {k for k, v in standing.items() if v} == expected


def test_summary_counts_and_shares_R_R5():
    standings = [domain.student_standing(r) for r in ([5, 5], [5, 4], [4, 3], [3, 3], [2, 5], [], [3, 2])]
    assert domain.progress_summary(standings) == {
        "students": 7,
        "pass_rate": 57.1,   # 4 of 7 without a 2 (the student without marks is not passing)
        "quality": 28.6,     # 2 of 7 with only 4s and 5s
        "excellent": 1, "with_one_3": 1, "failing": 2, "without_marks": 1,
    }


def test_summary_of_empty_class_has_no_shares():
    assert domain.progress_summary([]) == {"students": 0, "pass_rate": None, "quality": None, "excellent": 0,
                                           "with_one_3": 0, "failing": 0, "without_marks": 0}


# --- the whole report ---------------------------------------------------------------

def _mark(student, subject, day, value, weight=1):
    return {"student_id": student, "subject_id": subject, "date": day, "value": value, "weight": weight}


def test_progress_report_whole_shape_R_R5():
    math, rus = "sub-math", "sub-rus"
    subjects = [{"id": rus, "name": "Русский язык", "assigned": True},
                {"id": math, "name": "Математика", "assigned": True}]
    students = [{"id": "s-b", "full_name": "Борисова Анна", "enrolled_on": D(2026, 9, 1)},
                {"id": "s-a", "full_name": "Антонов Иван", "enrolled_on": D(2026, 9, 1)},
                {"id": "s-v", "full_name": "Васильев Пётр", "enrolled_on": None},
                {"id": "s-e", "full_name": "Егоров Олег", "enrolled_on": D(2026, 9, 1)}]
    marks_ = [
        _mark("s-a", math, D(2026, 9, 2), 5), _mark("s-a", math, D(2026, 9, 3), 5), _mark("s-a", rus, D(2026, 9, 2), 5),
        _mark("s-b", math, D(2026, 9, 9), 5), _mark("s-b", math, D(2026, 9, 2), 4), _mark("s-b", rus, D(2026, 9, 2), 4),
        _mark("s-v", math, D(2026, 9, 2), 3), _mark("s-v", math, D(2026, 9, 4), 4, 1),
        _mark("s-v", rus, D(2026, 9, 2), 3, 2),
    ]
    report = domain.progress_report(school_class=CLASS, period=PERIOD, subjects=subjects, students=students,
                                    marks=marks_, generated_at=GENERATED)
    assert report["kind"] == "progress"
    assert report["class"] == {"id": "c1", "name": "5А"}
    assert report["period"] == {"id": "p1", "name": "1 четверть", "starts_on": "2026-09-01", "ends_on": "2026-10-26"}
    assert report["subjects"] == [{"id": math, "name": "Математика"}, {"id": rus, "name": "Русский язык"}]
    assert report["generated_at"] == "2026-10-27T09:00:00+00:00"
    rows = {s["full_name"]: s for s in report["students"]}
    assert [s["full_name"] for s in report["students"]] == [
        "Антонов Иван", "Борисова Анна", "Васильев Пётр", "Егоров Олег"]
    assert rows["Борисова Анна"]["subjects"] == [
        {"subject_id": math, "marks": [4, 5], "count": 2, "average": 4.5, "weighted_average": 4.5, "rounded": 5,
         "final": None, "counted": 5},
        {"subject_id": rus, "marks": [4], "count": 1, "average": 4.0, "weighted_average": 4.0, "rounded": 4,
         "final": None, "counted": 4},
    ]
    assert rows["Борисова Анна"]["average"] == 4.25
    assert rows["Васильев Пётр"]["subjects"][0]["rounded"] == 4      # 3.5 -> 4
    assert rows["Васильев Пётр"]["average"] == 3.25                  # (3.5 + 3) / 2
    assert rows["Егоров Олег"]["subjects"][1] == {"subject_id": rus, "marks": [], "count": 0, "average": None,
                                                  "weighted_average": None, "rounded": None, "final": None,
                                                  "counted": None}
    assert rows["Егоров Олег"]["average"] is None
    assert report["summary"] == {"students": 4, "pass_rate": 75.0, "quality": 50.0, "excellent": 1,
                                 "with_one_3": 1, "failing": 0, "without_marks": 1}
    # no final mark posted: the rounded current averages count, and the answer says so
    assert report["basis"] == "current_averages"
    assert report["finals"] == {"posted": 0, "missing": 8, "students_missing": 4, "subjects_missing": 2}


# --- the basis: final marks or rounded current averages ----------------------------------

def _final(student, subject, value):
    return {"student_id": student, "subject_id": subject, "value": value}


def _report(students, marks_=(), finals=(), subjects=("m",)):
    return domain.progress_report(
        school_class=CLASS, period=PERIOD, subjects=[{"id": i, "name": i, "assigned": True} for i in subjects],
        students=[{"id": s, "full_name": s, "enrolled_on": None} for s in students], marks=list(marks_),
        finals=list(finals), generated_at=GENERATED)


def _cell(report, student, subject="m"):
    row = next(r for r in report["students"] if r["id"] == student)
    return next(c for c in row["subjects"] if c["subject_id"] == subject)


@pytest.mark.parametrize("final, rounded, counted", [
    (2, 3, 2), (5, 4, 5), (3, None, 3), (None, 4, 4), (None, None, None)])
def test_counted_mark_is_the_final_one_when_posted_R_R5(final, rounded, counted):
    assert domain.counted_mark(final, rounded) == counted


def test_a_final_2_is_never_passing_even_when_the_current_average_rounds_to_3_R_R5():
    # current marks 2, 3, 4 -> 3.00 -> 3 (would pass); the teacher's final mark is 2
    marks_ = [_mark("s1", "m", D(2026, 9, 2), 2), _mark("s1", "m", D(2026, 9, 3), 3),
              _mark("s1", "m", D(2026, 9, 4), 4)]
    report = _report(["s1"], marks_, finals=[_final("s1", "m", 2)])
    assert report["basis"] == "final_marks"
    assert _cell(report, "s1") == {"subject_id": "m", "marks": [2, 3, 4], "count": 3, "average": 3.0,
                                   "weighted_average": 3.0, "rounded": 3, "final": 2, "counted": 2}
    assert report["summary"] == {"students": 1, "pass_rate": 0.0, "quality": 0.0, "excellent": 0,
                                 "with_one_3": 0, "failing": 1, "without_marks": 0}


def test_an_open_period_counts_the_weighted_averages_rounded_half_up_R_R5():
    # 2 and 5 -> 3.5 -> 4: passing and quality; a weight-3 control 2 with 5, 5 -> 3.2 -> 3
    marks_ = [_mark("s1", "m", D(2026, 9, 2), 2), _mark("s1", "m", D(2026, 9, 3), 5),
              _mark("s2", "m", D(2026, 9, 2), 5), _mark("s2", "m", D(2026, 9, 3), 5),
              _mark("s2", "m", D(2026, 9, 4), 2, 3)]
    report = _report(["s1", "s2"], marks_)
    assert report["basis"] == "current_averages"
    assert (_cell(report, "s1")["rounded"], _cell(report, "s1")["final"], _cell(report, "s1")["counted"]) == \
        (4, None, 4)
    assert _cell(report, "s2")["counted"] == 3
    assert report["summary"] == {"students": 2, "pass_rate": 100.0, "quality": 50.0, "excellent": 0,
                                 "with_one_3": 1, "failing": 0, "without_marks": 0}


def test_every_group_is_counted_from_the_final_marks_R_R5():
    """Excellent, one 3, quality, failing: all on the final marks, not on what
    the current averages would say."""
    students = ["a", "b", "c", "d"]
    fives = [_mark(s, subj, D(2026, 9, 2), 5) for s in students for subj in ("m", "r")]
    finals = [
        _final("a", "m", 5), _final("a", "r", 4),   # current 5, 5 but final 4: quality, not excellent
        _final("b", "m", 3), _final("b", "r", 5),   # one final 3: with_one_3, not quality
        _final("c", "m", 5), _final("c", "r", 5),   # excellent
        _final("d", "m", 2), _final("d", "r", 5),   # failing although every current mark is 5
    ]
    report = _report(students, fives, finals, subjects=("m", "r"))
    assert report["basis"] == "final_marks"
    assert report["summary"] == {"students": 4, "pass_rate": 75.0, "quality": 50.0, "excellent": 1,
                                 "with_one_3": 1, "failing": 1, "without_marks": 0}
    assert report["finals"] == {"posted": 8, "missing": 0, "students_missing": 0, "subjects_missing": 0}


def test_a_subject_without_a_final_mark_counts_its_rounded_average_and_shows_as_missing_R_R5():
    """Final marks partly posted: where one is missing the rounded current
    average counts (as in an open period) and ``finals`` says how much is missing."""
    marks_ = [_mark("s1", "r", D(2026, 9, 2), 2), _mark("s1", "r", D(2026, 9, 3), 2),   # 2.00 -> 2
              _mark("s2", "r", D(2026, 9, 2), 4)]
    finals = [_final("s1", "m", 5), _final("s2", "m", 5), _final("s2", "r", 5)]
    report = _report(["s1", "s2", "s3"], marks_, finals, subjects=("m", "r"))
    assert report["basis"] == "final_marks"
    assert (_cell(report, "s1", "r")["final"], _cell(report, "s1", "r")["counted"]) == (None, 2)
    assert report["summary"] == {"students": 3, "pass_rate": 33.3, "quality": 33.3, "excellent": 1,
                                 "with_one_3": 0, "failing": 1, "without_marks": 1}
    # s1 lacks Russian, s3 both
    assert report["finals"] == {"posted": 3, "missing": 3, "students_missing": 2, "subjects_missing": 2}


def test_final_marks_of_students_off_the_roster_neither_count_nor_set_the_basis_R_R5():
    students = [{"id": "s1", "full_name": "А", "enrolled_on": D(2026, 9, 1)},
                {"id": "later", "full_name": "Б", "enrolled_on": D(2026, 10, 27)}]
    report = domain.progress_report(
        school_class=CLASS, period=PERIOD, subjects=[], students=students,
        marks=[_mark("s1", "m", D(2026, 9, 2), 4)], finals=[_final("later", "m", 2), _final("x", "m", 2)],
        generated_at=GENERATED)
    assert report["basis"] == "current_averages"
    assert report["summary"]["failing"] == 0 and report["summary"]["students"] == 1


def test_a_final_mark_brings_its_subject_into_the_report_R_R5():
    # not assigned, no current marks in the period: shown because of its final mark
    report = domain.progress_report(
        school_class=CLASS, period=PERIOD, subjects=[{"id": "art", "name": "ИЗО", "assigned": False}],
        students=[{"id": "s1", "full_name": "А", "enrolled_on": None}], marks=[],
        finals=[_final("s1", "art", 5)], generated_at=GENERATED)
    assert report["subjects"] == [{"id": "art", "name": "ИЗО"}]
    assert _cell(report, "s1", "art") == {"subject_id": "art", "marks": [], "count": 0, "average": None,
                                          "weighted_average": None, "rounded": None, "final": 5, "counted": 5}
    assert report["summary"]["excellent"] == 1 and report["summary"]["without_marks"] == 0


def test_only_marks_within_period_dates_count_both_ends_included_R_R5():
    marks_ = [_mark("s1", "m", D(2026, 8, 31), 2), _mark("s1", "m", D(2026, 9, 1), 5),
              _mark("s1", "m", D(2026, 10, 26), 4), _mark("s1", "m", D(2026, 10, 27), 2)]
    report = domain.progress_report(
        school_class=CLASS, period=PERIOD, subjects=[{"id": "m", "name": "Математика", "assigned": True}],
        students=[{"id": "s1", "full_name": "Ученик", "enrolled_on": None}], marks=marks_, generated_at=GENERATED)
    assert report["students"][0]["subjects"][0]["marks"] == [5, 4]
    assert report["summary"]["failing"] == 0


def test_roster_is_the_enrolled_students_up_to_period_end_R_S3():
    students = [{"id": "early", "full_name": "А", "enrolled_on": D(2026, 9, 1)},
                {"id": "last-day", "full_name": "Б", "enrolled_on": D(2026, 10, 26)},
                {"id": "later", "full_name": "В", "enrolled_on": D(2026, 10, 27)}]
    assert [s["id"] for s in domain.roster(students, PERIOD)] == ["early", "last-day"]
    report = domain.progress_report(
        school_class=CLASS, period=PERIOD, subjects=[], students=students,
        marks=[_mark("stranger", "m", D(2026, 9, 2), 2), _mark("later", "m", D(2026, 9, 2), 2)],
        generated_at=GENERATED)
    # marks of students not on the roster neither count nor bring their subject in
    assert report["summary"]["students"] == 2 and report["summary"]["failing"] == 0
    assert report["subjects"] == []


def test_shown_subjects_assigned_or_marked_sorted_russian_R_R5():
    subjects = [{"id": "z", "name": "Физика", "assigned": False},          # no mark in the period: hidden
                {"id": "e", "name": "Ёмкость знаний", "assigned": True},   # ё sorts with е
                {"id": "g", "name": "География", "assigned": False},
                {"id": "x", "name": "Английский язык", "assigned": True}]
    marks_ = [_mark("s1", "g", D(2026, 9, 2), 4), _mark("s1", "unknown", D(2026, 9, 2), 4)]
    report = domain.progress_report(school_class=CLASS, period=PERIOD, subjects=subjects,
                                    students=[{"id": "s1", "full_name": "Ученик", "enrolled_on": None}],
                                    marks=marks_, generated_at=GENERATED)
    assert report["subjects"] == [{"id": "x", "name": "Английский язык"}, {"id": "g", "name": "География"},
                                  {"id": "e", "name": "Ёмкость знаний"}, {"id": "unknown", "name": None}]


def test_students_sorted_by_name_with_yo_and_unnamed_last():
    students = [{"id": "1", "full_name": None}, {"id": "2", "full_name": "Жуков"},
                {"id": "3", "full_name": "Ёлкин"}, {"id": "4", "full_name": "Дмитриева"}]
    report = domain.progress_report(school_class=CLASS, period=PERIOD, subjects=[], students=students, marks=[],
                                    generated_at=GENERATED)
    assert [s["id"] for s in report["students"]] == ["4", "3", "2", "1"]
    assert report["summary"]["without_marks"] == 4 and report["summary"]["pass_rate"] == 0.0


# --- call validation ---------------------------------------------------------------------

def test_require_staff_refuses_parents_and_students_R_A3():
    for roles in (["parent"], ["student"], [], ["student", "parent"]):
        with pytest.raises(NotAllowed) as err:
            domain.require_staff({"actor_id": "a", "school_id": "s", "roles": roles})
        assert err.value.kind == "forbidden" and err.value.code == "FORBIDDEN"
    for roles in (["teacher"], ["parent", "class_teacher"], ["admin"], ["director"], ["deputy"]):
        assert domain.require_staff({"actor_id": "a", "school_id": "s", "roles": roles}).school_id == "s"


@pytest.mark.parametrize("ctx", [None, "x", {}, {"actor_id": "a", "roles": ["admin"]},
                                 {"actor_id": "a", "school_id": "", "roles": ["admin"]},
                                 {"actor_id": "a", "school_id": "s", "roles": "admin"},
                                 {"school_id": "s", "roles": ["admin"]}])
def test_call_without_a_proper_context_is_unauthenticated(ctx):
    with pytest.raises(InvalidContext) as err:
        domain.require_staff(ctx)
    assert err.value.kind == "unauthenticated"


@pytest.mark.parametrize("value", [None, 5, "", "  ", "abc", "12345678-1234-1234-1234-12345678901z", ["x"]])
def test_require_id_rejects_malformed_ids(value):
    with pytest.raises(ValidationError) as err:
        domain.require_id(value, "class_id")
    assert err.value.kind == "bad_request" and err.value.code == "VALIDATION_ERROR"
    assert err.value.details == {"field": "class_id"}
    assert isinstance(err.value, ServiceError)


def test_require_id_canonicalises_uuid():
    assert domain.require_id(" 9F1C6B2E-1A41-4D7E-9B7C-3E0F2A9D8C11 ", "x") == "9f1c6b2e-1a41-4d7e-9b7c-3e0f2a9d8c11"


def test_report_scope_needs_class_and_period_of_its_year():
    klass, period = {"id": "c", "year_id": "y1"}, {"id": "p", "year_id": "y1"}
    domain.check_report_scope(klass, period, class_id="c", period_id="p")
    with pytest.raises(ClassNotFound):
        domain.check_report_scope(None, period, class_id="c", period_id="p")
    with pytest.raises(PeriodNotFound):
        domain.check_report_scope(klass, None, class_id="c", period_id="p")
    with pytest.raises(PeriodNotInClassYear) as err:
        domain.check_report_scope(klass, {"id": "p", "year_id": "y2"}, class_id="c", period_id="p")
    assert err.value.kind == "rule"
