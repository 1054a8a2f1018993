"""Homework of a subgroup's lesson (R-S5) reaches the parents of that
subgroup's students only: messaging projects subgroup_created. Running
service, real RabbitMQ and PostgreSQL."""
from __future__ import annotations

import datetime as dt

import pytest

from kernel import payloads
from messaging import events, store
from messaging.store import tables
from messaging_testkit import make_envelope, new_id, waiter


@pytest.fixture
def klass(session_maker):
    """A class of four students, each with a parent."""
    school, class_id, subject = new_id(), new_id(), new_id()
    now = dt.datetime.now(dt.timezone.utc)
    students, parents = [new_id() for _ in range(4)], [new_id() for _ in range(4)]
    with session_maker() as s:
        store.save_subject(s, school_id=school, subject_id=subject, name="Английский язык")
        for n, (student, parent) in enumerate(zip(students, parents)):
            store.save_user_created(s, user_id=student, school_id=school, full_name=f"Ученик {n}",
                                    roles=["student"], as_of=now)
            store.save_user_created(s, user_id=parent, school_id=school, full_name=f"Родитель {n}",
                                    roles=["parent"], as_of=now)
            store.save_enrolment(s, school_id=school, student_id=student, class_id=class_id, order_no=None,
                                 enrolled_on=None)
            store.save_parent_link(s, school_id=school, student_id=student, parent_id=parent, relation="мать")
        s.commit()
    return {"school": school, "class": class_id, "subject": subject, "students": students, "parents": parents}


def lesson(k, **extra):
    payload = {"lesson_id": new_id(), "class_id": k["class"], "subject_id": k["subject"],
               "subject_name": "Английский язык", "teacher_id": new_id(), "date": "2026-10-12", "topic": "Present Simple",
               "lesson_type": "урок", "work_type": None, "homework": "Упр. 5", "subgroup_id": None,
               "substitute_for": None, "late": False, "overdue": False, **extra}
    return make_envelope("lesson_recorded", payload, producer="journal", school_id=k["school"])


def subgroup(k, members, subgroup_id=None):
    return make_envelope("subgroup_created", {
        "subgroup_id": subgroup_id or new_id(), "class_id": k["class"], "subject_id": k["subject"],
        "name": "Группа 1", "student_ids": members}, producer="journal", school_id=k["school"])


def test_subgroup_homework_goes_to_that_subgroups_parents_only(container, publish, klass, rows):
    group = subgroup(klass, klass["students"][:2])
    other = subgroup(klass, klass["students"][2:])
    with waiter(container, "on_subgroup_created", n=3):
        publish("journal", group)
        publish("journal", other)
        publish("journal", group)  # redelivered: nothing twice
    assert len(rows(store.SubgroupMember)) == 4

    with waiter(container, "on_lesson_recorded"):
        publish("journal", lesson(klass, subgroup_id=group["payload"]["subgroup_id"]))
    notes = rows(store.Notification)
    assert sorted(n.recipient_id for n in notes) == sorted(klass["parents"][:2])
    assert {n.kind for n in notes} == {"homework"}


def test_whole_class_homework_still_goes_to_every_parent(container, publish, klass, rows):
    with waiter(container, "on_subgroup_created"):
        publish("journal", subgroup(klass, klass["students"][:1]))
    with waiter(container, "on_lesson_recorded"):
        publish("journal", lesson(klass))
    assert sorted(n.recipient_id for n in rows(store.Notification)) == sorted(klass["parents"])


def test_homework_of_an_unknown_subgroup_notifies_no_family(container, publish, klass, rows):
    """Better no message than one to families whose children were not in the lesson."""
    with waiter(container, "on_lesson_recorded"):
        publish("journal", lesson(klass, subgroup_id=new_id()))
    assert rows(store.Notification) == []
    assert rows(tables["dead_letters"]) == []


def test_a_subgroup_of_another_school_does_not_count(container, publish, klass, rows):
    group = subgroup(klass, klass["students"][:2])
    group["school_id"] = new_id()
    with waiter(container, "on_subgroup_created"):
        publish("journal", group)
    with waiter(container, "on_lesson_recorded"):
        publish("journal", lesson(klass, subgroup_id=group["payload"]["subgroup_id"]))
    assert rows(store.Notification) == []


def test_malformed_subgroup_created_is_dead_lettered(container, publish, klass, rows):
    bad = subgroup(klass, "not a list")
    with waiter(container, "on_subgroup_created"):
        publish("journal", bad)
    assert [d["event_id"] for d in rows(tables["dead_letters"])] == [bad["id"]]
    assert rows(store.SubgroupMember) == []


def test_subgroup_created_is_parsed_from_the_documented_payload():
    k = {"school": new_id(), "class": new_id(), "subject": new_id()}
    a, b = new_id(), new_id()
    env = subgroup(k, [a, b, a])
    assert events.parse_subgroup_created(env) == events.SubgroupCreated(
        env["payload"]["subgroup_id"], k["class"], k["subject"], (a, b))
    for bad in ({"student_ids": None}, {"student_ids": [1]}, {"student_ids": [""]}, {"subgroup_id": None}):
        with pytest.raises(payloads.InvalidPayload):
            events.parse_subgroup_created({**env, "payload": {**env["payload"], **bad}})
    assert events.parse_lesson_recorded(lesson(k, subgroup_id=a)).subgroup_id == a
    assert events.parse_lesson_recorded(lesson(k)).subgroup_id is None
