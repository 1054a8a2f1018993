"""Unit tests of the rules of corrections, attendance, final marks and
forecasts (R-J2, R-J7, R-F1..R-F4) with plain values."""
from __future__ import annotations

import datetime as dt

import pytest

from kernel import access_rules
from kernel.context import CallContext

from journal import domain, errors

D = dt.date


def actor(*roles, actor_id="u1"):
    return CallContext(actor_id, "s1", frozenset(roles))


# --- corrections (R-J7) ---

def test_correction_needs_a_reason_and_something_to_change():
    with pytest.raises(errors.ValidationError) as exc:
        domain.lessons.validate_correction({"value": 5}, allow_mark_1=False)
    assert exc.value.details == {"field": "reason"}
    with pytest.raises(errors.ValidationError):
        domain.lessons.validate_correction({"reason": "ошибка"}, allow_mark_1=False)
    c = domain.lessons.validate_correction({"value": 5, "reason": " ошибка "}, allow_mark_1=False)
    assert (c.value, c.reason, c.kind, c.comment_given) == (5, "ошибка", None, False)


def test_correction_checks_the_value_like_a_new_mark_r_j3_r_j9():
    with pytest.raises(errors.InvalidMark):
        domain.lessons.validate_correction({"value": 1, "reason": "x"}, allow_mark_1=False)
    assert domain.lessons.validate_correction({"value": 1, "reason": "x"}, allow_mark_1=True).value == 1
    with pytest.raises(errors.ExemptNotAllowed):
        domain.lessons.validate_correction({"comment": "осв.", "reason": "x"}, allow_mark_1=False)
    with pytest.raises(errors.ValidationError):
        domain.lessons.validate_correction({"kind": "dance", "reason": "x"}, allow_mark_1=False)


def test_corrected_state_and_nothing_changed():
    current = {"value": 3, "kind": "oral", "weight": 1, "comment": None}
    change = domain.lessons.validate_correction({"value": 4, "comment": "пересдал", "reason": "x"}, allow_mark_1=False)
    assert domain.lessons.corrected_state(current, change) == {"value": 4, "kind": "oral", "weight": 1, "comment": "пересдал"}
    with pytest.raises(errors.NothingChanged):
        domain.lessons.corrected_state(current, domain.lessons.validate_correction({"value": 3, "reason": "x"}, allow_mark_1=False))


def test_who_may_change_a_mark_r_j7():
    def may(actor_, **kw):
        facts = {"assigned_subgroups": [], "subgroup_id": None, "lesson_teacher_id": "t", "lesson_substitute_for": None}
        try:
            domain.lessons.require_may_change_mark(actor_, **{**facts, **kw})
        except errors.NotAllowed:
            return False
        return True

    assert may(actor("teacher", actor_id="a"), assigned_subgroups=[None])       # teaches the class and subject
    assert not may(actor("teacher", actor_id="t"))                              # gave the lesson, not a substitute
    assert may(actor("teacher", actor_id="t"), lesson_substitute_for="x")       # the lesson's substitute
    assert not may(actor("teacher", actor_id="b"), assigned_subgroups=["g1"], subgroup_id="g2")
    assert all(may(actor(role, actor_id="b")) for role in ("deputy", "director", "admin"))
    assert not may(actor("class_teacher", actor_id="b"))
    assert domain.lessons.is_staff(actor("teacher")) and not domain.lessons.is_staff(actor("student", "parent"))


def chain_of(*values):
    at = dt.datetime(2026, 9, 1, tzinfo=dt.timezone.utc)
    prev, out = domain.chain.GENESIS_HASH, []
    for n, value in enumerate(values, start=1):
        content = domain.chain.version_content(mark_id="m", version=n, lesson_id="l", student_id="s", value=value,
                                               kind="oral", weight=1, comment=None, removed=False, by="t", at=at,
                                         reason=None if n == 1 else "x")
        digest = domain.chain.chain_hash(content, prev)
        out.append((content, prev, digest))
        prev = digest
    return out


def test_verify_mark_finds_chain_and_state_problems():
    chain = chain_of(3, 4, 5)
    state = {"value": 5, "kind": "oral", "weight": 1, "comment": None, "removed": False, "lesson_id": "l",
             "student_id": "s", "version": 3}
    assert domain.lessons.verify_mark(state, chain) == []
    assert domain.lessons.verify_mark({**state, "value": 4}, chain) == ["value"]
    assert domain.lessons.verify_mark({**state, "version": 2}, chain) == ["version"]
    forged = [chain[0], ({**chain[1][0], "value": 5}, chain[1][1], chain[1][2]), chain[2]]
    assert domain.lessons.verify_mark(state, forged) == ["chain"]
    assert domain.lessons.verify_mark(state, chain[:1] + chain[2:]) == ["chain"]  # a version deleted
    assert domain.lessons.verify_mark(state, []) == ["no_versions"]


# --- attendance (R-J2) ---

def test_attendance_statuses_and_duplicates():
    got = domain.attendance.validate_attendance({"entries": [{"student_id": "a", "status": "ill"}], "reason": "справка"})
    assert got.entries == (("a", "ill"),) and got.reason == "справка"
    for bad in ({"entries": []}, {"entries": [{"student_id": "a", "status": "осв"}]},
                {"entries": [{"student_id": "a", "status": "ill"}, {"student_id": "a", "status": "late"}]}):
        with pytest.raises(errors.ValidationError):
            domain.attendance.validate_attendance(bad)
    assert set(domain.attendance.ATTENDANCE_STATUSES) == {"present", "absent", "excused", "ill", "late"}


def test_attendance_changes_drop_unchanged_entries():
    assert domain.attendance.attendance_changes((("a", "ill"), ("b", "present"), ("c", "late")), {"a": "absent", "b": "present"}) == [
        ("a", "ill", "absent"), ("c", "late", None)]


def test_weekly_correction_window_r_j2():
    today = D(2026, 11, 25)  # a Wednesday
    assert access_rules.correction_window_start(today) == D(2026, 11, 16)
    ct = actor("class_teacher", actor_id="ct")
    domain.attendance.check_attendance_correction(ct, class_teacher_id="ct", lesson_date=D(2026, 11, 16), today=today, reason="x")
    with pytest.raises(errors.CorrectionClosed):
        domain.attendance.check_attendance_correction(ct, class_teacher_id="ct", lesson_date=D(2026, 11, 15), today=today,
                                                      reason="x")
    t = actor("teacher", actor_id="t")
    domain.attendance.check_attendance_correction(t, class_teacher_id="ct", lesson_date=D(2026, 11, 22), today=today, reason="x")
    with pytest.raises(errors.CorrectionClosed):
        domain.attendance.check_attendance_correction(t, class_teacher_id="ct", lesson_date=D(2026, 11, 21), today=today,
                                                      reason="x")
    with pytest.raises(errors.ValidationError):
        domain.attendance.check_attendance_correction(actor("admin"), class_teacher_id="ct", lesson_date=today, today=today,
                                                      reason=None)
    domain.attendance.check_attendance_correction(actor("admin"), class_teacher_id="ct", lesson_date=D(2025, 1, 1),
                                                  today=today, reason="приказ")


# --- final marks (R-F) ---

@pytest.mark.parametrize("hours,required", [(None, 3), (1, 3), (2, 3), (2.5, 5), (5, 5)])
def test_required_marks_by_hours_r_f2(hours, required):
    assert domain.finals.required_marks(hours) == required


def test_evidence_and_warnings_r_f2():
    ev = domain.finals.evidence([(5, 1, "oral"), (3, 3, "control"), (4, 1, "homework")], required=3)
    assert ev == {"marks_count": 3, "required": 3, "average": 4.0, "weighted_average": 3.6, "written_works": 1,
                  "emphasis": False, "written_required": 0}
    assert domain.finals.warnings(4, ev, late=False) == []
    assert [w["code"] for w in domain.finals.warnings(5, ev, late=True)] == ["FAR_FROM_AVERAGE", "LATE"]
    thin = domain.finals.evidence([(5, 1, "oral")], required=5)
    codes = [w["code"] for w in domain.finals.warnings(5, thin, late=False)]
    assert codes == ["THIN_EVIDENCE", "NO_WRITTEN_WORK"]
    assert "1 из 5" in domain.finals.warnings(5, thin, late=False)[0]["message"]
    assert domain.finals.evidence([], 3)["average"] is None


def test_late_after_two_days_r_f3():
    end = D(2026, 10, 31)
    assert not domain.finals.is_late(end, D(2026, 11, 2))
    assert domain.finals.is_late(end, D(2026, 11, 3))


def test_forecast_rounds_half_up_and_states_confidence_r_f4():
    assert domain.finals.predicted_mark(3.5) == 4 and domain.finals.predicted_mark(3.49) == 3 and domain.finals.predicted_mark(None) is None
    steady = domain.finals.forecast([(4, 1, "oral")] * 5, required=3)
    assert steady["predicted"] == 4 and steady["confidence"] == 1.0
    mixed = domain.finals.forecast([(2, 1, "oral"), (5, 1, "oral"), (2, 1, "oral"), (5, 1, "oral")], required=3)
    assert mixed["confidence"] < steady["confidence"]
    few = domain.finals.forecast([(5, 1, "oral")], required=5)
    assert few["confidence"] == 0.2
    assert domain.finals.forecast([], 3)["confidence"] == 0.0
    assert domain.finals.risk_reasons(domain.finals.forecast([(2, 1, "oral")] * 3, 3)) == ["LOW_FORECAST"]
    assert domain.finals.risk_reasons(domain.finals.forecast([], 3)) == ["FEW_MARKS"]


def test_final_spec():
    spec = domain.finals.validate_final({"student_id": "s", "subject_id": "m", "period_id": "p", "value": 5},
                                        allow_mark_1=False)
    assert spec.value == 5
    with pytest.raises(errors.ExemptNotAllowed):
        domain.finals.validate_final({"student_id": "s", "subject_id": "m", "period_id": "p", "value": "осв"},
                                     allow_mark_1=False)
