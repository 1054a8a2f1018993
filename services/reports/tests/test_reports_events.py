"""Unit tests of reports.events: payload readers accept what docs/events.md
says producers send and refuse what a projection could not store."""
from __future__ import annotations

import datetime as dt

import pytest

from kernel.db import new_id
from kernel.events import envelope
from reports import events
from kernel.payloads import InvalidPayload


def mark_payload(**overrides):
    payload = {"mark_id": new_id(), "lesson_id": new_id(), "student_id": new_id(), "class_id": new_id(),
               "subject_id": new_id(), "subject_name": "Математика", "date": "2026-09-02", "value": 5,
               "kind": "test", "weight": 2, "comment": None, "teacher_id": new_id()}
    payload.update(overrides)
    return payload


def test_read_mark_posted_R_J3():
    payload = mark_payload()
    mark = events.read_mark_posted(payload)
    assert mark["id"] == payload["mark_id"] and mark["date"] == dt.date(2026, 9, 2)
    assert (mark["value"], mark["weight"], mark["kind"]) == (5, 2, "test")
    assert events.read_mark_posted(mark_payload(weight=None))["weight"] == 1


@pytest.mark.parametrize("overrides", [
    {"value": "5"}, {"value": 6}, {"value": 0}, {"value": True}, {"value": None},
    {"date": "02.09.2026"}, {"date": None}, {"student_id": None}, {"class_id": 7}, {"weight": 0},
])
def test_read_mark_posted_refuses_malformed(overrides):
    with pytest.raises(InvalidPayload):
        events.read_mark_posted(mark_payload(**overrides))


def test_read_year_opened_with_periods_R_S1():
    year_id, period_id = new_id(), new_id()
    data = events.read_year_opened({"year_id": year_id, "name": "2026/2027", "starts_on": "2026-09-01",
                                    "ends_on": "2027-05-31", "periods": [
                                        {"id": period_id, "name": "1 четверть", "kind": "quarter",
                                         "starts_on": "2026-09-01", "ends_on": "2026-10-26"}]})
    assert data["year"] == {"id": year_id, "name": "2026/2027", "starts_on": dt.date(2026, 9, 1),
                            "ends_on": dt.date(2027, 5, 31)}
    assert data["periods"] == [{"id": period_id, "name": "1 четверть", "kind": "quarter",
                                "starts_on": dt.date(2026, 9, 1), "ends_on": dt.date(2026, 10, 26)}]
    with pytest.raises(InvalidPayload):
        events.read_year_opened({"year_id": year_id, "name": "x", "starts_on": "2026-09-01",
                                 "ends_on": "2027-05-31", "periods": [{"id": period_id}]})


def test_read_class_created_names_the_class_from_grade_and_letter():
    class_id = new_id()
    data = events.read_class_created({"class_id": class_id, "year_id": new_id(), "grade": 5, "letter": "Б"})
    assert data["name"] == "5Б" and data["grade"] == 5
    with pytest.raises(InvalidPayload):
        events.read_class_created({"class_id": class_id, "grade": "5"})


def test_read_people_events_R_A6():
    user_id = new_id()
    user = events.read_user_created({"user_id": user_id, "login": "ivanov", "full_name": "Иванов Иван",
                                     "roles": ["teacher", "class_teacher", "teacher"]})
    assert user == {"id": user_id, "login": "ivanov", "full_name": "Иванов Иван",
                    "roles": ["class_teacher", "teacher"], "sex": None}
    assert events.read_roles_changed({"user_id": user_id, "roles": [], "before": ["teacher"]})["roles"] == []
    with pytest.raises(InvalidPayload):
        events.read_roles_changed({"user_id": user_id})
    with pytest.raises(InvalidPayload):
        events.read_user_created({"user_id": user_id, "full_name": "И", "roles": "admin"})


def test_read_enrolment_assignment_subject():
    enrol = events.read_student_enrolled({"student_id": "s", "class_id": "c", "order_no": "1", "on": "2026-09-01"})
    assert enrol["enrolled_on"] == dt.date(2026, 9, 1)
    assert events.read_teacher_assigned({"assignment_id": "a", "teacher_id": "t", "class_id": "c",
                                         "subject_id": "m", "hours_per_week": 4})["hours_per_week"] == 4
    with pytest.raises(InvalidPayload):
        events.read_teacher_assigned({"assignment_id": "a", "teacher_id": "t", "class_id": "c",
                                      "subject_id": "m", "hours_per_week": "four"})
    with pytest.raises(InvalidPayload):
        events.read_subject_created({"subject_id": "m"})


def test_source_needs_a_school():
    """Every projected row carries school_id (ARCHITECTURE.md "Data and scale")."""
    env = envelope(type="mark_posted", producer="journal", payload={}, school_id="school", actor_id=None)
    src = events.source(env)
    assert src["school_id"] == "school" and src["occurred_at"].tzinfo is not None
    with pytest.raises(InvalidPayload):
        events.source({**env, "school_id": None})
    with pytest.raises(InvalidPayload):
        events.source({**env, "occurred_at": "yesterday"})


def test_read_mark_corrected_and_removed_R_J7():
    payload = mark_payload()
    corrected = events.read_mark_corrected({**payload, "value": 4, "version": 3})
    assert (corrected["value"], corrected["version"], corrected["removed"]) == (4, 3, False)
    removed = events.read_mark_removed({**payload, "old_value": 5, "version": 2})
    assert (removed["value"], removed["version"], removed["removed"]) == (5, 2, True)
    with pytest.raises(InvalidPayload):
        events.read_mark_corrected({**payload, "version": 1})  # a correction is never version 1
    with pytest.raises(InvalidPayload):
        events.read_mark_removed({**payload, "version": 2})   # old_value is required


def final_payload(**overrides):
    payload = {"final_mark_id": new_id(), "student_id": new_id(), "subject_id": new_id(), "class_id": new_id(),
               "period_id": new_id(), "period_kind": "quarter", "value": 2, "version": 1, "late": False,
               "evidence": {"marks_count": 3, "required": 3, "average": 3.0, "weighted_average": 3.0,
                            "written_works": 1, "emphasis": True, "written_required": 1},
               "warnings": ["FAR_FROM_AVERAGE"], "teacher_id": new_id()}
    payload.update(overrides)
    return payload


def test_read_final_mark_posted_R_F1():
    payload = final_payload(version=2, period_kind="year")
    final = events.read_final_mark_posted(payload)
    assert final == {"final_mark_id": payload["final_mark_id"], "student_id": payload["student_id"],
                     "subject_id": payload["subject_id"], "class_id": payload["class_id"],
                     "period_id": payload["period_id"], "period_kind": "year", "value": 2, "version": 2,
                     "late": payload["late"], "teacher_id": payload["teacher_id"]}


@pytest.mark.parametrize("overrides", [
    {"value": 6}, {"value": "5"}, {"value": None}, {"version": 0}, {"version": None}, {"period_id": None},
    {"student_id": ""}, {"subject_id": 5}, {"class_id": None}, {"final_mark_id": None},
])
def test_read_final_mark_posted_refuses_malformed(overrides):
    with pytest.raises(InvalidPayload):
        events.read_final_mark_posted(final_payload(**overrides))
