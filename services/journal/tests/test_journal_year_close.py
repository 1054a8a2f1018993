"""The journal service on real RabbitMQ + PostgreSQL: student movement
(transfer, departure, history; R-S3) and the year close with promotion
(R-S4): permissions, rules, the summary and the events."""
from __future__ import annotations

import datetime as dt

import pytest

from kernel.db import new_id

from journal import errors, store


def raises(code, fn, *args):
    with pytest.raises(errors.ServiceError) as exc:
        fn(*args)
    assert exc.value.code == code, exc.value.to_dict()
    return exc.value


D = dt.date


@pytest.fixture
def school(make):
    """A closing year 2025/26 (5А, 11Б) and the next year 2026/27 with 6А."""
    admin = make.person("admin")
    ct = make.person("teacher", "class_teacher")
    old = make.year(starts_on=D(2025, 9, 1), ends_on=D(2026, 5, 31), periods=[(D(2025, 9, 1), D(2026, 5, 31))])
    new = make.year(starts_on=D(2026, 9, 1), ends_on=D(2027, 5, 31), periods=[(D(2026, 9, 1), D(2027, 5, 31))])
    c5a = make.klass(old, grade=5, letter="А", class_teacher_id=ct)
    c5b = make.klass(old, grade=5, letter="Б")
    c11 = make.klass(old, grade=11, letter="Б")
    c6a = make.klass(new, grade=6, letter="А", class_teacher_id=ct)
    students = {name: make.person("student") for name in ("s1", "s2", "s3", "g1")}
    for name in ("s1", "s2", "s3"):
        make.enrol(students[name], c5a, on=D(2025, 9, 1))
    make.enrol(students["g1"], c11, on=D(2025, 9, 1))
    return dict(admin=admin, ctx=make.ctx(admin, "admin"), ct=ct, old=old, new=new, c5a=c5a, c5b=c5b,
                c11=c11, c6a=c6a, **students)


# --- transfer and departure (R-S3) -------------------------------------------------

def test_r_s3_transfer_closes_the_stay_opens_another_and_keeps_history(journal, make, school):
    result = journal.call("transfer_student", school["ctx"], school["s1"],
                          {"to_class_id": school["c5b"].id, "order_no": "№ 45-у", "on": "2026-01-12"})
    assert result == {"student_id": school["s1"], "from_class_id": school["c5a"].id,
                      "to_class_id": school["c5b"].id, "order_no": "№ 45-у", "on": "2026-01-12"}
    stays = sorted(make.rows(store.Enrolment, student_id=school["s1"]), key=lambda e: e.enrolled_on)
    assert [(e.class_id, e.left_on, e.left_reason) for e in stays] == [
        (school["c5a"].id, D(2026, 1, 12), "transferred"), (school["c5b"].id, None, None)]
    assert stays[0].left_order_no == "№ 45-у"
    [event] = make.events("student_transferred")
    assert event["payload"] == result
    [enrolled] = make.events("student_enrolled")
    assert enrolled["payload"] == {"student_id": school["s1"], "class_id": school["c5b"].id, "order_no": "№ 45-у",
                                   "on": "2026-01-12"}
    history = journal.call("list_movements", school["ctx"], school["s1"])
    assert [(i["class_name"], i["enrolled_on"], i["left_on"], i["left_reason"]) for i in history["items"]] == [
        ("5А", "2025-09-01", "2026-01-12", "transferred"), ("5Б", "2026-01-12", None, None)]


def test_r_s3_transfer_rules(journal, make, school):
    ctx = school["ctx"]
    body = {"to_class_id": school["c5b"].id, "order_no": "1", "on": "2026-01-12"}
    raises("FORBIDDEN", journal.call, "transfer_student", make.ctx(school["ct"], "class_teacher"), school["s1"], body)
    raises("SAME_CLASS", journal.call, "transfer_student", ctx, school["s1"], {**body, "to_class_id": school["c5a"].id})
    raises("MOVEMENT_BEFORE_ADMISSION", journal.call, "transfer_student", ctx, school["s1"], {**body, "on": "2025-09-01"})
    raises("NOT_ENROLLED", journal.call, "transfer_student", ctx, school["s1"], {**body, "to_class_id": school["c6a"].id})
    raises("NOT_FOUND", journal.call, "transfer_student", ctx, school["s1"], {**body, "to_class_id": "nope"})
    assert make.events("student_transferred") == []
    assert [e.left_on for e in make.rows(store.Enrolment, student_id=school["s1"])] == [None]


def test_r_s3_departure_closes_the_stay_with_the_order(journal, make, school):
    result = journal.call("record_departure", school["ctx"], school["s2"],
                          {"order_no": "№ 50-в", "on": "2026-02-01", "reason": "переезд в другой город"})
    assert result == {"student_id": school["s2"], "class_id": school["c5a"].id, "order_no": "№ 50-в",
                      "on": "2026-02-01", "reason": "left", "comment": "переезд в другой город"}
    [stay] = make.rows(store.Enrolment, student_id=school["s2"])
    assert stay.left_on == D(2026, 2, 1) and stay.left_reason == "left"
    assert [e["payload"] for e in make.events("student_left")] == [result]
    raises("NOT_ENROLLED", journal.call, "record_departure", school["ctx"], school["s2"],
           {"order_no": "№ 51-в", "on": "2026-02-02"})
    # a student the school never had (another school's): not found, not "not enrolled"
    stranger = make.person("student", school_id=new_id())
    raises("NOT_FOUND", journal.call, "record_departure", school["ctx"], stranger,
           {"order_no": "№ 52-в", "on": "2026-02-02"})
    raises("NOT_FOUND", journal.call, "transfer_student", school["ctx"], stranger,
           {"to_class_id": school["c5b"].id, "order_no": "№ 53", "on": "2026-02-02"})


# --- year close (R-S4) ---------------------------------------------------------------

def test_r_s4_close_archives_promotes_graduates_and_summarises(journal, make, school):
    summary = journal.call("close_year", school["ctx"], school["old"].id,
                           {"order_no": "№ 120-у", "promote": True, "held_back": [school["s3"]]})
    assert summary["archived"] is True and summary["next_year_id"] == school["new"].id
    assert (summary["promoted"], summary["graduated"], summary["held_back"]) == (2, 1, 1)
    assert [c["name"] for c in summary["created_classes"]] == ["5А"]  # for the held back only
    moves = {(c["from"], c["to"]): c["students"] for c in summary["classes"]}
    assert moves == {("5А", "6А"): 2, ("5А", "5А"): 1}
    [old] = make.rows(store.Year, id=school["old"].id)
    assert old.archived
    # promoted students study in 6А from the first day of the next year; the old stay is closed
    new_stays = make.rows(store.Enrolment, class_id=school["c6a"].id)
    assert {e.student_id for e in new_stays} == {school["s1"], school["s2"]}
    assert {(e.enrolled_on, e.order_no) for e in new_stays} == {(D(2026, 9, 1), "№ 120-у")}
    [grad] = make.rows(store.Enrolment, student_id=school["g1"])
    assert (grad.left_on, grad.left_reason) == (D(2026, 6, 1), "graduated")
    assert [e["payload"]["reason"] for e in make.events("student_left")] == ["graduated"]
    assert len(make.events("student_enrolled")) == 3
    [event] = make.events("year_closed")
    assert event["payload"] == {"year_id": school["old"].id, "order_no": "№ 120-у",
                                "next_year_id": school["new"].id, "promoted": 2, "graduated": 1, "held_back": 1}
    [closure] = make.rows(store.YearClosure, year_id=school["old"].id)
    assert closure.summary == summary


def test_r_s4_preview_is_the_close_summary_and_writes_nothing(journal, make, school):
    data = {"promote": True, "held_back": [school["s3"]]}
    preview = journal.call("preview_year_close", school["ctx"], school["old"].id, data)
    assert preview["archived"] is False and preview["next_year_id"] == school["new"].id
    assert (preview["promoted"], preview["graduated"], preview["held_back"]) == (2, 1, 1)
    assert preview["created_classes"] == [{"id": None, "name": "5А"}]
    assert preview["ends_on"] == "2026-05-31" and "order_no" not in preview
    # nothing written: no stay closed, no class made, no event, the year open
    assert [e.left_on for e in make.rows(store.Enrolment, student_id=school["s1"])] == [None]
    assert make.rows(store.Enrolment, class_id=school["c6a"].id) == []
    assert not make.rows(store.Year, id=school["old"].id)[0].archived
    assert make.events("year_closed") == [] and make.events("student_enrolled") == []
    raises("FORBIDDEN", journal.call, "preview_year_close", make.ctx(school["ct"], "class_teacher"),
           school["old"].id, data)
    summary = journal.call("close_year", school["ctx"], school["old"].id, {"order_no": "№ 7-у", **data})
    same = ("next_year_id", "promoted", "graduated", "held_back", "already_enrolled")
    assert {k: summary[k] for k in same} == {k: preview[k] for k in same}
    assert [(c["from"], c["to"], c["students"]) for c in summary["classes"]] == [
        (c["from"], c["to"], c["students"]) for c in preview["classes"]]
    raises("YEAR_ALREADY_CLOSED", journal.call, "preview_year_close", school["ctx"], school["old"].id, {})


def test_r_s4_archived_year_is_read_only_and_closes_once(journal, make, school):
    journal.call("close_year", school["ctx"], school["old"].id, {"order_no": "1", "promote": False})
    raises("YEAR_ALREADY_CLOSED", journal.call, "close_year", school["ctx"], school["old"].id, {"order_no": "2"})
    raises("YEAR_CLOSED", journal.call, "transfer_student", school["ctx"], school["s1"],
           {"to_class_id": school["c5b"].id, "order_no": "1", "on": "2026-01-12"})
    # without promotion nobody moves
    assert make.rows(store.Enrolment, class_id=school["c6a"].id) == []


def test_r_s4_promotion_needs_a_next_year_and_rolls_back_entirely(journal, make):
    admin = make.person("admin")
    year = make.year(starts_on=D(2025, 9, 1), ends_on=D(2026, 5, 31), periods=[(D(2025, 9, 1), D(2026, 5, 31))])
    klass = make.klass(year, grade=4, letter="А")
    make.enrol(make.person("student"), klass, on=D(2025, 9, 1))
    raises("NO_NEXT_YEAR", journal.call, "close_year", make.ctx(admin, "admin"), year.id, {"order_no": "1"})
    raises("FORBIDDEN", journal.call, "close_year", make.ctx(admin, "deputy"), year.id, {"order_no": "1"})
    [row] = make.rows(store.Year, id=year.id)
    assert not row.archived and make.events() == []
    assert all(e.left_on is None for e in make.rows(store.Enrolment))


def test_r_s4_student_admitted_by_hand_is_not_promoted_twice(journal, make, school):
    make.enrol(school["s1"], school["c6a"], on=D(2026, 9, 1))
    summary = journal.call("close_year", school["ctx"], school["old"].id, {"order_no": "№ 7"})
    assert summary["already_enrolled"] == 1
    assert len(make.rows(store.Enrolment, student_id=school["s1"], class_id=school["c6a"].id)) == 1


def test_r_s3_departure_after_promotion_also_cancels_next_years_admission(journal, make, school):
    make.enrol(school["s1"], school["c6a"], on=D(2026, 9, 1))  # already admitted to the next year
    result = journal.call("record_departure", school["ctx"], school["s1"], {"order_no": "№ 60", "on": "2026-03-02"})
    assert result["on"] == "2026-03-02" and result["class_id"] == school["c5a"].id
    stays = {e.class_id: e for e in make.rows(store.Enrolment, student_id=school["s1"])}
    assert stays[school["c5a"].id].left_on == D(2026, 3, 2)
    assert stays[school["c6a"].id].left_on == D(2026, 9, 1)  # never began
    assert len(make.events("student_left")) == 2
    raises("DATE_OUTSIDE_YEAR", journal.call, "record_departure", school["ctx"], school["s2"],
           {"order_no": "№ 61", "on": "2030-01-01"})


def test_r_s4_a_year_is_not_closed_before_its_last_day_by_accident(journal, make):
    """Before the year's last day (the school's date) the order must say
    ``early: true``; on its last day and after, no confirmation is needed."""
    from zoneinfo import ZoneInfo
    today = dt.datetime.now(ZoneInfo("Europe/Moscow")).date()
    admin = make.ctx(make.person("admin"), "admin")

    def year_ending(ends_on):
        starts_on = ends_on - dt.timedelta(days=200)
        return make.year(starts_on=starts_on, ends_on=ends_on, periods=[(starts_on, ends_on)])

    running = year_ending(today + dt.timedelta(days=1))
    err = raises("YEAR_NOT_ENDED", journal.call, "close_year", admin, running.id, {"order_no": "1", "promote": False})
    assert err.kind == "rule" and err.details == {"field": "early", "ends_on": running.ends_on.isoformat()}
    raises("YEAR_NOT_ENDED", journal.call, "close_year", admin, running.id,
           {"order_no": "1", "promote": False, "early": False})
    raises("VALIDATION_ERROR", journal.call, "close_year", admin, running.id,
           {"order_no": "1", "promote": False, "early": "да"})
    assert not make.rows(store.Year, id=running.id)[0].archived and make.events() == []
    summary = journal.call("close_year", admin, running.id, {"order_no": "1", "promote": False, "early": True})
    assert summary["archived"] is True and make.rows(store.Year, id=running.id)[0].archived
    last_day = year_ending(today)
    assert journal.call("close_year", admin, last_day.id, {"order_no": "2", "promote": False})["archived"] is True
