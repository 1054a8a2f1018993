"""mark_posted in batches (kernel.batching) on the running service, real
RabbitMQ and PostgreSQL: a class's marks published at once make exactly the
notifications and e-mails that one-by-one handling would, duplicates and a
poison mark included."""
from __future__ import annotations

import datetime as dt

import pytest
from prometheus_client import REGISTRY

from messaging import store
from messaging.store import tables
from messaging_testkit import make_envelope, mark_payload, new_id, waiter


@pytest.fixture
def klass(session_maker):
    """A class of 12 students. Parents: one per student with every e-mail
    mode (instant with and without an address, off, daily); one mother of
    two siblings; one student whose only link is recorded in another school;
    one student with no parents at all."""
    school, other_school = new_id(), new_id()
    now = dt.datetime.now(dt.timezone.utc)
    students = [new_id() for _ in range(12)]
    parents = {}  # student -> [parent]
    modes = {}    # parent -> (email, mode or None for the default)
    with session_maker() as s:
        for n, student in enumerate(students):
            store.save_user_created(s, user_id=student, school_id=school, full_name=f"Ученик {n}",
                                    roles=["student"], as_of=now)
        for n, student in enumerate(students[:8]):
            parent = new_id()
            email = None if n == 1 else f"parent{n}@example.test"
            mode = {0: None, 1: None, 2: "off", 3: "daily"}.get(n % 4, "instant")
            store.save_user_created(s, user_id=parent, school_id=school, full_name=f"Родитель {n}",
                                    roles=["parent"], as_of=now, email=email)
            if mode:
                store.save_setting(s, school_id=school, user_id=parent, email_mode=mode, digest_time="18:00")
            store.save_parent_link(s, school_id=school, student_id=student, parent_id=parent, relation="мать")
            parents[student] = [parent]
            modes[parent] = (email, mode or "instant")
        mother = new_id()  # of students 8 and 9
        store.save_user_created(s, user_id=mother, school_id=school, full_name="Мать двоих", roles=["parent"],
                                as_of=now, email="mother@example.test")
        for student in students[8:10]:
            store.save_parent_link(s, school_id=school, student_id=student, parent_id=mother, relation="мать")
            parents[student] = [mother]
        modes[mother] = ("mother@example.test", "instant")
        elsewhere = new_id()  # linked to student 10, but in another school
        store.save_user_created(s, user_id=elsewhere, school_id=other_school, full_name="Чужой родитель",
                                roles=["parent"], as_of=now, email="elsewhere@example.test")
        store.save_parent_link(s, school_id=other_school, student_id=students[10], parent_id=elsewhere,
                               relation="отец")
        s.commit()
    return {"school": school, "students": students, "parents": parents, "modes": modes}


def batch_sizes():
    count = REGISTRY.get_sample_value("ejournal_event_batch_size_count", {"consumer": "messaging.on_mark_posted"})
    total = REGISTRY.get_sample_value("ejournal_event_batch_size_sum", {"consumer": "messaging.on_mark_posted"})
    return count or 0.0, total or 0.0


def test_a_class_of_marks_at_once_notifies_exactly_the_parents_once(container, publish, klass, rows):
    marks = [make_envelope("mark_posted", mark_payload(student_id=student, value=4 + n % 2),
                           producer="journal", school_id=klass["school"])
             for n, student in enumerate(klass["students"])]
    poison = make_envelope("mark_posted", mark_payload(student_id=klass["students"][0], date="вчера"),
                           producer="journal", school_id=klass["school"])
    count_before, total_before = batch_sizes()
    with waiter(container, "on_mark_posted", n=len(marks) + 4):
        for env in marks[:6] + [poison] + marks[6:]:
            publish("journal", env)
        for env in marks[:3]:  # redelivered
            publish("journal", env)

    expected = {(parent, env["payload"]["mark_id"])
                for env in marks for parent in klass["parents"].get(env["payload"]["student_id"], [])}
    notes = rows(store.Notification)
    assert sorted((n.recipient_id, n.data["mark_id"]) for n in notes) == sorted(expected)
    assert len(notes) == 10  # 8 parents, the mother of two twice; not the other school's parent
    by_student = {env["payload"]["student_id"]: env for env in marks}
    for n in notes:
        env = by_student[n.data["student_id"]]
        assert n.source_event_id == env["id"] and n.school_id == klass["school"]
        number = klass["students"].index(n.data["student_id"])
        assert n.body == f"Ученик {number}: оценка {env['payload']['value']} по предмету «Математика» за 12.10.2026"

    # one instant e-mail per notification of a parent who wants them and has an address
    wanted = {n.id: n.recipient_id for n in notes
              if klass["modes"][n.recipient_id][1] == "instant" and klass["modes"][n.recipient_id][0]}
    emails = rows(store.Email)
    assert sorted(e.notification_id for e in emails) == sorted(wanted)
    assert all(e.kind == "instant" and e.address == klass["modes"][e.recipient_id][0] for e in emails)

    dead = rows(tables["dead_letters"], consumer="messaging.on_mark_posted")
    assert [d["event_id"] for d in dead] == [poison["id"]]
    assert "YYYY-MM-DD" in dead[0]["error"]
    # idempotent by its own keys (the three redelivered marks above made
    # nothing twice): no processed-event rows are written for mark_posted
    assert rows(tables["processed_events"], consumer="messaging.on_mark_posted") == []

    count_after, total_after = batch_sizes()
    assert total_after - total_before == len(marks) + 4
    assert count_after - count_before < len(marks) + 4  # some deliveries shared a batch


def test_marks_of_the_same_student_in_one_batch_each_notify(container, publish, klass, rows):
    student = klass["students"][4]
    marks = [make_envelope("mark_posted", mark_payload(student_id=student, value=v), producer="journal",
                           school_id=klass["school"]) for v in (2, 3, 5)]
    with waiter(container, "on_mark_posted", n=3):
        for env in marks:
            publish("journal", env)
    notes = rows(store.Notification)
    assert sorted(n.data["value"] for n in notes) == [2, 3, 5]
    assert {n.recipient_id for n in notes} == set(klass["parents"][student])
