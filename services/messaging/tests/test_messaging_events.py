"""Payload schemas of the consumed events (docs/events.md): what is
accepted and what is dead-lettered as malformed."""
from __future__ import annotations

import datetime as dt

import pytest

from kernel import payloads
from messaging import events
from messaging_testkit import make_envelope, mark_payload, new_id


def test_mark_posted_is_parsed_from_the_documented_payload():
    student = new_id()
    payload = mark_payload(student_id=student, value=4, date="2026-10-12")
    mark = events.parse_mark_posted(make_envelope("mark_posted", payload, producer="journal", school_id=new_id()))
    assert mark.student_id == student and mark.value == 4 and mark.date == dt.date(2026, 10, 12)
    assert mark.subject_name == "Математика" and mark.mark_id == payload["mark_id"]


@pytest.mark.parametrize("change", [
    {"student_id": None}, {"mark_id": ""}, {"lesson_id": 5}, {"subject_id": None},
    {"date": "12.10.2026"}, {"date": "20261012"}, {"date": "2026-13-01"}, {"date": None},
    {"value": None}, {"value": True}, {"value": ""}, {"value": [5]}, {"subject_name": 7},
])
def test_malformed_mark_posted_is_rejected(change):
    payload = {**mark_payload(student_id=new_id()), **change}
    with pytest.raises(payloads.InvalidPayload):
        events.parse_mark_posted(make_envelope("mark_posted", payload, producer="journal", school_id=new_id()))


def test_mark_without_subject_name_is_accepted():
    payload = mark_payload(student_id=new_id())
    del payload["subject_name"]
    env = make_envelope("mark_posted", payload, producer="journal", school_id=new_id())
    assert events.parse_mark_posted(env).subject_name is None


def test_school_id_is_required_for_school_rows():
    env = make_envelope("mark_posted", {}, producer="journal", school_id=None)
    with pytest.raises(payloads.InvalidPayload):
        payloads.school_id(env)
    school = new_id()
    assert payloads.school_id({**env, "school_id": school}) == school


def test_occurred_at_is_aware_utc():
    env = make_envelope("x", {}, producer="identity", school_id=None)
    env["occurred_at"] = "2026-10-12T11:00:00+03:00"
    assert payloads.occurred_at(env) == dt.datetime(2026, 10, 12, 8, 0, tzinfo=dt.timezone.utc)
    env["occurred_at"] = "2026-10-12T08:00:00"
    assert payloads.occurred_at(env).tzinfo is not None
    for bad in ("yesterday", None, 5):
        env["occurred_at"] = bad
        with pytest.raises(payloads.InvalidPayload):
            payloads.occurred_at(env)


def test_user_created_and_roles_changed():
    user = new_id()
    env = make_envelope("user_created", {"user_id": user, "login": "ivanov", "full_name": "Иванов Пётр",
                                         "roles": ["student", "student"], "email": None},
                        producer="identity", school_id=new_id())
    assert events.parse_user_created(env) == events.UserCreated(user, "Иванов Пётр", ("student",))
    env = make_envelope("roles_changed", {"user_id": user, "roles": ["parent", "teacher"], "before": []},
                        producer="identity", school_id=None)
    assert events.parse_roles_changed(env).roles == ("parent", "teacher")
    with pytest.raises(payloads.InvalidPayload):
        events.parse_roles_changed({**env, "payload": {"user_id": user, "roles": "admin"}})
    with pytest.raises(payloads.InvalidPayload):
        events.parse_user_created({**env, "payload": {"user_id": user, "roles": []}})


def test_parent_linked_rejects_self_links():
    student, parent = new_id(), new_id()
    env = make_envelope("parent_linked", {"student_id": student, "parent_id": parent, "relation": "мать"},
                        producer="identity", school_id=new_id())
    assert events.parse_parent_linked(env) == events.ParentLinked(student, parent, "мать")
    with pytest.raises(payloads.InvalidPayload):
        events.parse_parent_linked({**env, "payload": {"student_id": student, "parent_id": student}})


def test_journal_structure_events():
    school = new_id()
    subject = events.parse_subject_created(make_envelope(
        "subject_created", {"subject_id": "s1", "name": "Физика"}, producer="journal", school_id=school))
    assert subject == events.SubjectCreated("s1", "Физика")
    klass = events.parse_class_created(make_envelope(
        "class_created", {"class_id": "c1", "year_id": "y1", "grade": 5, "letter": "А", "name": "5А",
                          "class_teacher_id": None}, producer="journal", school_id=school))
    assert (klass.grade, klass.name, klass.class_teacher_id) == (5, "5А", None)
    with pytest.raises(payloads.InvalidPayload):
        events.parse_class_created(make_envelope(
            "class_created", {"class_id": "c1", "grade": "5", "name": "5А"}, producer="journal", school_id=school))
    enrolled = events.parse_student_enrolled(make_envelope(
        "student_enrolled", {"student_id": "p1", "class_id": "c1", "order_no": 12, "on": "2026-09-01"},
        producer="journal", school_id=school))
    assert (enrolled.order_no, enrolled.on) == ("12", dt.date(2026, 9, 1))
    with pytest.raises(payloads.InvalidPayload):
        events.parse_student_enrolled(make_envelope(
            "student_enrolled", {"student_id": "p1", "class_id": "c1", "order_no": True},
            producer="journal", school_id=school))
