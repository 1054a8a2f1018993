"""Unit tests with plain values: the R-F2 emphasis of subjects (written, lab
and practical works required for a final mark in Russian, literature,
maths, physics, chemistry) and the attendance hash chain (R-J7)."""
from __future__ import annotations

import datetime as dt

import pytest

from journal import domain, errors

WRITTEN = domain.finals.written_required(True)  # the default: one written work a period


@pytest.mark.parametrize("name,emphasis", [
    ("Русский язык", True), ("русский  язык", True), ("Литература", True), ("Математика", True),
    ("Алгебра", True), ("Алгебра и начала анализа", True), ("Геометрия", True), ("Физика", True),
    ("Химия", True), ("Химия 8", True), ("Литературное чтение", False), ("Физическая культура", False),
    ("Английский язык", False), ("История", False), ("Родной русский язык", False), ("", False),
])
def test_default_emphasis_by_name_r_f2(name, emphasis):
    assert domain.finals.default_emphasis(name) is emphasis


def test_emphasis_flag_must_be_a_boolean():
    assert domain.finals.validate_emphasis({"name": "Музыка"}) is None
    assert domain.finals.validate_emphasis({"emphasis": False}) is False
    for bad in ({"emphasis": "да"}, {"emphasis": 1}):
        with pytest.raises(errors.ValidationError) as exc:
            domain.finals.validate_emphasis(bad)
        assert exc.value.details["field"] == "emphasis"
    with pytest.raises(errors.ValidationError):
        domain.finals.validate_emphasis({}, required=True)


def test_written_required_is_a_setting_for_emphasised_subjects_only():
    assert WRITTEN == 1
    assert domain.finals.written_required(False) == 0
    assert domain.finals.written_required(True, min_written=2) == 2
    assert domain.finals.written_required(True, min_written=0) == 0  # the school turns it off


def codes(value, ev, late=False):
    return [w["code"] for w in domain.finals.warnings(value, ev, late=late)]


def test_emphasised_subject_warns_without_written_work_even_with_no_marks_r_f2():
    oral = [(5, 1, "oral"), (4, 1, "oral"), (5, 1, "homework")]
    ev = domain.finals.evidence(oral, 3, emphasis=True, written_needed=WRITTEN)
    assert ev["emphasis"] is True and ev["written_required"] == 1 and ev["written_works"] == 0
    assert codes(5, ev) == ["WRITTEN_WORK_REQUIRED"]
    [warning] = domain.finals.warnings(5, ev, late=False)
    assert "письменных, лабораторных и практических работ" in warning["message"] and "0 из 1" in warning["message"]
    # no marks at all: thin, and the written work is still missing
    empty = domain.finals.evidence([], 3, emphasis=True, written_needed=WRITTEN)
    assert codes(4, empty) == ["THIN_EVIDENCE", "WRITTEN_WORK_REQUIRED"]
    # a lab work is enough
    lab = domain.finals.evidence(oral + [(4, 2, "lab")], 3, emphasis=True, written_needed=WRITTEN)
    assert codes(5, lab) == []
    # a stricter school: two written works
    assert codes(5, domain.finals.evidence(oral + [(4, 2, "lab")], 3, emphasis=True, written_needed=2)) == [
        "WRITTEN_WORK_REQUIRED"]


def test_other_subjects_keep_the_old_note_r_f2():
    oral = [(5, 1, "oral"), (4, 1, "oral"), (5, 1, "oral")]
    ev = domain.finals.evidence(oral, 3)
    assert ev["emphasis"] is False and ev["written_required"] == 0
    assert codes(5, ev) == ["NO_WRITTEN_WORK"]
    assert codes(4, domain.finals.evidence([], 3)) == ["THIN_EVIDENCE"]  # nothing to note without marks


def test_forecast_and_risk_reflect_the_emphasis_r_f2_r_f4():
    oral = [(4, 1, "oral")] * 5
    plain = domain.finals.forecast(oral, 3)
    emphasised = domain.finals.forecast(oral, 3, emphasis=True, written_needed=WRITTEN)
    assert plain["predicted"] == emphasised["predicted"] == 4
    assert plain["confidence"] == 1.0 and emphasised["confidence"] == 0.5  # the wrong kind of evidence
    assert emphasised["emphasis"] is True and emphasised["written_works"] == 0
    assert domain.finals.risk_reasons(plain) == []
    assert domain.finals.risk_reasons(emphasised) == ["NO_WRITTEN_WORK"]
    written = domain.finals.forecast(oral + [(4, 1, "written")], 3, emphasis=True, written_needed=WRITTEN)
    assert written["confidence"] == 1.0 and domain.finals.risk_reasons(written) == []
    assert domain.finals.risk_reasons(domain.finals.forecast([], 3, emphasis=True, written_needed=WRITTEN)) == [
        "FEW_MARKS", "NO_WRITTEN_WORK"]


# --- the attendance chain (R-J7) ---

AT = dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.timezone.utc)


def attendance_chain(*statuses):
    out, prev, before = [], domain.chain.GENESIS_HASH, None
    for n, status in enumerate(statuses, start=1):
        content = domain.chain.attendance_content(attendance_id="a", version=n, lesson_id="l", student_id="s",
                                                  status=status, previous=before, by="t", at=AT + dt.timedelta(hours=n),
                                           reason=None if n == 1 else "справка")
        digest = domain.chain.chain_hash(content, prev)
        out.append((content, prev, digest))
        prev, before = digest, status
    return out


def test_verify_attendance_finds_chain_and_state_problems_r_j7():
    chain = attendance_chain("absent", "ill")
    state = {"status": "ill", "version": 2, "lesson_id": "l", "student_id": "s"}
    assert domain.attendance.verify_attendance(state, chain) == []
    assert domain.attendance.verify_attendance({**state, "status": "present"}, chain) == ["status"]
    assert domain.attendance.verify_attendance({**state, "version": 1}, chain) == ["version"]
    forged = [({**chain[0][0], "status": "present"}, chain[0][1], chain[0][2]), chain[1]]
    assert domain.attendance.verify_attendance(state, forged) == ["chain"]
    assert domain.attendance.verify_attendance(state, chain[1:]) == ["chain"]  # the first version deleted
    assert domain.attendance.verify_attendance(state, []) == ["no_versions"]
    # the content is what the hash covers: the same entry at another time is another hash
    assert attendance_chain("absent")[0][2] == chain[0][2]
    assert domain.chain.attendance_content(attendance_id="a", version=1, lesson_id="l", student_id="s", status="absent",
                                           previous=None, by="t", at=AT.replace(tzinfo=None), reason=None)["at"] \
        == "2026-11-02T09:30:00.000000+00:00"
