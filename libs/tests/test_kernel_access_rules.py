"""kernel.access_rules: the journal's write rules that identity's central
decision and the journal's own checks both call (R-A3, R-S5, R-J2, R-J6,
R-J7, R-F1, R-J8). Plain values in, a refusal reason (or None) out."""
from __future__ import annotations

import datetime as dt

import pytest

from kernel import access_rules as rules

D = dt.date


def keeps(roles, **kw):
    facts = {"class_teacher": False, "assigned": [], "subgroup_id": None}
    return rules.keeps_journal(roles, **{**facts, **kw})


def test_who_keeps_a_lesson_r_a3_r_s5():
    assert keeps({"admin"}) is None
    assert keeps({"class_teacher"}, class_teacher=True) is None
    assert keeps({"teacher"}, assigned=[None], subgroup_id="g1") is None     # a whole-class assignment
    assert keeps({"teacher"}, assigned=["g1"], subgroup_id="g1") is None
    assert keeps({"teacher"}, assigned=["g1"], subgroup_id="g2") == rules.NOT_ASSIGNED
    assert keeps({"teacher"}, assigned=["g1"], subgroup_id=None) == rules.NOT_ASSIGNED
    assert keeps({"teacher"}) == rules.NOT_ASSIGNED
    for role in ("director", "deputy", "secretary", "student", "parent"):
        assert keeps({role}, class_teacher=True, assigned=[None]) == rules.ROLE


def test_a_substitute_keeps_the_lesson_they_give_r_j6():
    assert keeps({"teacher"}, gave_lesson=True) is None
    assert keeps({"teacher"}, replaced=[None]) is None                      # replacing the class's teacher
    assert keeps({"class_teacher"}, replaced=["g1"], subgroup_id="g1") is None
    assert keeps({"teacher"}, replaced=["g1"], subgroup_id="g2") == rules.NOT_ASSIGNED
    assert keeps({"teacher"}, replaced=[]) == rules.NOT_ASSIGNED            # the replaced one does not teach it
    assert keeps({"teacher"}, replaced=None) == rules.NOT_ASSIGNED


def corrects(roles, **kw):
    facts = {"assigned": [], "subgroup_id": None, "substituted": False}
    return rules.corrects_mark(roles, **{**facts, **kw})


@pytest.mark.parametrize("roles,facts,expected", [
    ({"admin"}, {}, None),
    ({"director"}, {}, None),
    ({"deputy"}, {}, None),
    ({"teacher"}, {"assigned": [None]}, None),                      # teaches the class and subject
    ({"class_teacher"}, {"assigned": [None]}, None),                # a class teacher who teaches it too
    ({"teacher"}, {"assigned": ["g1"], "subgroup_id": "g1"}, None),
    ({"teacher"}, {"assigned": ["g1"], "subgroup_id": "g2"}, rules.NOT_ASSIGNED),
    ({"teacher"}, {"substituted": True}, None),                     # gave that lesson as a substitute
    ({"teacher"}, {}, rules.NOT_ASSIGNED),                          # the author alone is not enough
    ({"class_teacher"}, {}, rules.NOT_ASSIGNED),                    # the class teacher as such
    ({"secretary"}, {"assigned": [None]}, rules.ROLE),
    ({"parent"}, {}, rules.ROLE),
])
def test_who_corrects_a_mark_r_j7(roles, facts, expected):
    assert corrects(roles, **facts) == expected


def test_attendance_corrections_r_j2():
    today = D(2026, 11, 25)  # a Wednesday: the window opens on Monday of the previous week
    assert rules.correction_window_start(today) == D(2026, 11, 16)
    assert rules.corrects_attendance({"class_teacher"}, class_teacher=True, lesson_date=D(2026, 11, 16),
                                     today=today) is None
    assert rules.corrects_attendance({"class_teacher"}, class_teacher=True, lesson_date=D(2026, 11, 15),
                                     today=today) == rules.CLASS_TEACHER_WINDOW
    assert rules.corrects_attendance({"teacher"}, class_teacher=False, lesson_date=D(2026, 11, 22),
                                     today=today) is None
    assert rules.corrects_attendance({"teacher"}, class_teacher=False, lesson_date=D(2026, 11, 21),
                                     today=today) == rules.GRACE_OVER
    assert rules.corrects_attendance({"admin"}, class_teacher=False, lesson_date=D(2020, 1, 1), today=today) is None


def test_finals_plans_subgroups_and_enrolment():
    assert rules.posts_final({"teacher"}, assigned=["g1"]) is None           # any subgroup of the subject
    assert rules.posts_final({"class_teacher"}, assigned=[]) == rules.NOT_ASSIGNED
    assert rules.posts_final({"deputy"}, assigned=[None]) == rules.ROLE
    assert rules.posts_final({"admin"}, assigned=[]) is None
    assert rules.enters_plan({"deputy"}, assigned=[]) is None
    assert rules.enters_plan({"teacher"}, assigned=[]) == rules.NOT_ASSIGNED
    assert rules.enters_plan({"director"}, assigned=[None]) == rules.ROLE
    assert rules.splits_class({"class_teacher"}, class_teacher=True) is None
    assert rules.splits_class({"class_teacher"}, class_teacher=False) == rules.NOT_CLASS_TEACHER
    assert rules.splits_class({"teacher"}, class_teacher=True) == rules.ROLE
    assert rules.enrols({"class_teacher"}, class_teacher=True) is None
    assert rules.enrols({"deputy"}, class_teacher=False) == rules.ROLE
    assert rules.enrols({"admin"}, class_teacher=False) is None
