"""Unit tests of journal.domain.movements and journal.domain.structure with plain values: movement (R-S3), year
close and promotion (R-S4), subgroups (R-S5), timetable conflicts (R-S6),
the thematic plan and its coverage (R-J8)."""
from __future__ import annotations

import datetime as dt

import pytest

from journal import domain, errors

D = dt.date


def code_of(fn, *args, **kwargs):
    with pytest.raises(errors.ServiceError) as exc:
        fn(*args, **kwargs)
    return exc.value.code


# --- movement (R-S3) ---------------------------------------------------------

def test_r_s3_transfer_needs_class_order_and_date():
    spec = domain.movements.validate_transfer({"to_class_id": "c2", "order_no": " № 12-у ", "on": "2026-10-01"})
    assert spec == domain.movements.TransferSpec("c2", "№ 12-у", D(2026, 10, 1))
    assert code_of(domain.movements.validate_transfer, {"to_class_id": "c2", "on": "2026-10-01"}) == "VALIDATION_ERROR"
    assert code_of(domain.movements.validate_transfer, {"to_class_id": "c2", "order_no": "1", "on": "01.10.2026"}) == "VALIDATION_ERROR"


def test_r_s3_departure_reason_is_optional():
    assert domain.movements.validate_departure({"order_no": "5", "on": "2026-11-02"}).reason is None
    assert domain.movements.validate_departure({"order_no": "5", "on": "2026-11-02", "reason": "переезд"}).reason == "переезд"


def test_r_s3_movement_date_inside_year_and_after_admission():
    kw = dict(enrolled_on=D(2026, 9, 1), year_starts_on=D(2026, 9, 1), year_ends_on=D(2027, 5, 31))
    domain.movements.check_movement_date(D(2026, 9, 2), **kw)
    assert code_of(domain.movements.check_movement_date, D(2026, 9, 1), **kw) == "MOVEMENT_BEFORE_ADMISSION"
    assert code_of(domain.movements.check_movement_date, D(2027, 6, 1), **kw) == "DATE_OUTSIDE_YEAR"
    assert code_of(domain.movements.check_movement_date, D(2026, 8, 31), **kw) == "DATE_OUTSIDE_YEAR"


def test_r_s3_transfer_target_is_another_class_of_the_same_year():
    domain.movements.check_transfer_target(from_class_id="a", to_class_id="b", from_year_id="y", to_year_id="y")
    assert code_of(domain.movements.check_transfer_target, from_class_id="a", to_class_id="a", from_year_id="y",
                   to_year_id="y") == "SAME_CLASS"
    assert code_of(domain.movements.check_transfer_target, from_class_id="a", to_class_id="b", from_year_id="y",
                   to_year_id="z") == "OTHER_YEAR"


# --- year close (R-S4) -------------------------------------------------------

def test_r_s4_close_spec_defaults_to_promotion():
    spec = domain.movements.validate_close({"order_no": "№ 100"})
    assert spec.promote is True and spec.held_back == frozenset() and spec.next_year_id is None
    assert domain.movements.validate_close({"order_no": "1", "promote": False}).promote is False
    assert code_of(domain.movements.validate_close, {"order_no": "1", "promote": "да"}) == "VALIDATION_ERROR"
    assert code_of(domain.movements.validate_close, {"promote": True}) == "VALIDATION_ERROR"
    assert code_of(domain.movements.validate_close, {"order_no": "1", "held_back": "s1"}) == "VALIDATION_ERROR"


def test_r_s4_next_year_is_the_earliest_open_one_after_the_closing_year():
    years = [("old", D(2025, 9, 1), True), ("now", D(2026, 9, 1), False),
             ("next", D(2027, 9, 1), False), ("later", D(2028, 9, 1), False)]
    assert domain.movements.pick_next_year(D(2027, 5, 31), years) == "next"
    assert domain.movements.pick_next_year(D(2027, 5, 31), [("now", D(2026, 9, 1), False)]) is None
    assert domain.movements.pick_next_year(D(2027, 5, 31), [("x", D(2027, 9, 1), True)]) is None


def test_r_s4_promotion_one_grade_up_graduates_leave_held_back_repeat():
    stays = [("s1", "c5a", 5, "А"), ("s2", "c5a", 5, "А"), ("s3", "c11", 11, "Б"), ("s4", "c9", 9, "В")]
    moves = {m.student_id: m for m in domain.movements.plan_promotion(stays, held_back={"s2"})}
    assert moves["s1"] == domain.movements.Move("s1", "c5a", domain.movements.LEFT_PROMOTED, 6, "А")
    assert moves["s2"] == domain.movements.Move("s2", "c5a", domain.movements.LEFT_HELD_BACK, 5, "А")
    assert moves["s3"].outcome == domain.movements.LEFT_GRADUATED and moves["s3"].to_grade is None
    assert moves["s4"] == domain.movements.Move("s4", "c9", domain.movements.LEFT_PROMOTED, 10, "В")
    assert domain.movements.plan_promotion([("s", "c", 9, "А")], (), last_grade=9)[0].outcome == domain.movements.LEFT_GRADUATED


def test_r_s4_held_back_must_study_in_the_year():
    domain.movements.check_held_back_known({"s1"}, ["s1", "s2"])
    assert code_of(domain.movements.check_held_back_known, {"s9"}, ["s1"]) == "STUDENT_NOT_IN_CLASS"


# --- subgroups (R-S5) ----------------------------------------------------------

def test_r_s5_subgroup_spec():
    spec = domain.structure.validate_subgroup({"subject_id": "en", "name": "  1   группа ", "student_ids": ["a", "b"]})
    assert spec == domain.structure.SubgroupSpec("en", "1 группа", ("a", "b"))
    assert code_of(domain.structure.validate_subgroup, {"subject_id": "en", "name": "x", "student_ids": []}) == "VALIDATION_ERROR"
    assert code_of(domain.structure.validate_subgroup, {"subject_id": "en", "name": "x",
                                                        "student_ids": ["a", "a"]}) == "VALIDATION_ERROR"


def test_r_s5_members_in_class_and_in_one_subgroup_per_subject():
    domain.structure.check_subgroup_members(["a", "b"], in_class={"a", "b", "c"}, already_grouped={"c": "1 группа"})
    assert code_of(domain.structure.check_subgroup_members, ["a", "z"], in_class={"a"}, already_grouped={}) == "STUDENT_NOT_IN_CLASS"
    assert code_of(domain.structure.check_subgroup_members, ["a", "c"], in_class={"a", "c"},
                   already_grouped={"c": "1 группа"}) == "ALREADY_IN_SUBGROUP"


# --- the timetable (R-S6) ------------------------------------------------------

def slot(weekday=1, number=1, subject="m", teacher="t1", room=None, subgroup=None):
    return domain.movements.SlotSpec(weekday, number, subject, teacher, room, subgroup)


def test_r_s6_timetable_spec_bounds_and_room_case():
    spec = domain.movements.validate_timetable({"period_id": "p", "slots": [
        {"weekday": 1, "number": 2, "subject_id": "m", "teacher_id": "t", "room": " 21А "}]})
    assert spec.slots == (slot(1, 2, "m", "t", "21А"),)
    assert domain.movements.validate_timetable({"period_id": "p", "slots": []}).slots == ()
    for bad in ({"weekday": 7}, {"number": 0}, {"weekday": "пн"}):
        item = {"weekday": 1, "number": 1, "subject_id": "m", "teacher_id": "t", **bad}
        assert code_of(domain.movements.validate_timetable, {"period_id": "p", "slots": [item]}) == "VALIDATION_ERROR"


def test_r_s6_teacher_in_two_classes_at_once_is_a_conflict():
    busy = [domain.movements.BusySlot("other", "5Б", 1, 1, "t1", None)]
    found = domain.movements.timetable_conflicts("mine", [slot(teacher="t1"), slot(number=2, teacher="t1")], busy)
    assert found == [{"slot": 0, "kind": "teacher", "teacher_id": "t1", "class_id": "other", "class_name": "5Б",
                      "weekday": 1, "number": 1}]
    assert code_of(domain.movements.check_timetable, "mine", [slot(teacher="t1")], busy) == "TIMETABLE_CONFLICT"


def test_r_s6_room_taken_is_a_conflict_and_own_old_slots_are_not():
    busy = [domain.movements.BusySlot("other", "5Б", 2, 3, "t9", "21а"), domain.movements.BusySlot("mine", "5А", 2, 3, "t1", "21а")]
    found = domain.movements.timetable_conflicts("mine", [slot(2, 3, teacher="t1", room="21 А")], busy)
    assert [f["kind"] for f in found] == ["room"] and found[0]["class_name"] == "5Б"


def test_r_s6_conflicts_within_the_week_itself():
    # one teacher in two subgroups at once, and one room twice
    found = domain.movements.timetable_conflicts("c", [slot(subgroup="g1", room="1"), slot(subgroup="g2", room="1")], [])
    assert sorted(f["kind"] for f in found) == ["room", "teacher"]
    # the class twice at once without subgroups
    found = domain.movements.timetable_conflicts("c", [slot(teacher="t1"), slot(subject="r", teacher="t2")], [])
    assert [f["kind"] for f in found] == ["class"]


def test_r_s6_parallel_subgroups_with_own_teachers_and_rooms_are_fine():
    slots = [slot(subject="en", teacher="t1", room="1", subgroup="g1"),
             slot(subject="en", teacher="t2", room="2", subgroup="g2")]
    assert domain.movements.timetable_conflicts("c", slots, [domain.movements.BusySlot("x", "6А", 1, 2, "t1", "1")]) == []


def test_r_s6_slot_subgroup_belongs_to_class_and_subject():
    domain.movements.check_slot_subgroups([slot(subject="en", subgroup="g1")], {"g1": "en"})
    assert code_of(domain.movements.check_slot_subgroups, [slot(subject="m", subgroup="g1")], {"g1": "en"}) == "NOT_FOUND"
    assert code_of(domain.movements.check_slot_subgroups, [slot(subgroup="gX")], {}) == "NOT_FOUND"


# --- the plan (R-J8) -----------------------------------------------------------

def test_r_j8_plan_topics_sorted_numbered_uniquely_with_hours():
    spec = domain.movements.validate_plan({"class_id": "c", "subject_id": "m", "period_id": "p", "topics": [
        {"number": 2, "title": "Дроби", "hours": 3}, {"number": 1, "title": "Натуральные числа", "hours": 5}]})
    assert [t.number for t in spec.topics] == [1, 2] and spec.hours == 8
    bad = {"class_id": "c", "subject_id": "m", "period_id": "p"}
    assert code_of(domain.movements.validate_plan, {**bad, "topics": []}) == "VALIDATION_ERROR"
    assert code_of(domain.movements.validate_plan, {**bad, "topics": [{"number": 1, "title": "А", "hours": 1},
                                                                      {"number": 1, "title": "Б", "hours": 1}]}) == "VALIDATION_ERROR"
    assert code_of(domain.movements.validate_plan, {**bad, "topics": [{"number": 1, "title": "А", "hours": 0}]}) == "VALIDATION_ERROR"
    assert code_of(domain.movements.validate_plan, {**bad, "topics": [{"number": 1, "title": " ", "hours": 1}]}) == "VALIDATION_ERROR"


def test_r_j8_coverage_taught_vs_planned_and_behind_pro_rata():
    start, end = D(2026, 9, 1), D(2026, 9, 30)  # 30 days
    half = domain.movements.coverage(planned_hours=30, taught=10, period_start=start, period_end=end, today=D(2026, 9, 15))
    assert half == {"planned_hours": 30, "taught_hours": 10, "percent": 33.3, "expected_by_today": 15,
                    "behind": True}
    done = domain.movements.coverage(planned_hours=30, taught=30, period_start=start, period_end=end, today=D(2026, 12, 1))
    assert done["percent"] == 100.0 and done["expected_by_today"] == 30 and not done["behind"]
    before = domain.movements.coverage(planned_hours=30, taught=0, period_start=start, period_end=end, today=D(2026, 8, 1))
    assert before["expected_by_today"] == 0 and not before["behind"]
