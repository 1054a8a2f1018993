"""A student who moves to another class or leaves the school no longer brings
the old class's homework to the family (R-A3, R-S4); lessons transcribed from
the paper journal notify nobody. Running service, real RabbitMQ and
PostgreSQL."""
from __future__ import annotations

import datetime as dt

import pytest

from kernel import payloads
from messaging import events, store
from messaging.store import tables
from messaging_testkit import make_envelope, new_id, waiter

from test_messaging_subgroups import klass, lesson  # noqa: F401  (fixture and envelope builder)


def transferred(k, student, to_class, on="2026-11-02"):
    return make_envelope("student_transferred", {
        "student_id": student, "from_class_id": k["class"], "to_class_id": to_class, "order_no": "12-у",
        "on": on}, producer="journal", school_id=k["school"])


def left(k, student, on="2026-11-02"):
    return make_envelope("student_left", {
        "student_id": student, "class_id": k["class"], "order_no": "13-у", "on": on, "reason": "left",
        "comment": None}, producer="journal", school_id=k["school"])


def enrolled(k, student, class_id, on):
    return make_envelope("student_enrolled", {
        "student_id": student, "class_id": class_id, "order_no": "12-у", "on": on},
        producer="journal", school_id=k["school"])


def test_transfer_and_departure_take_the_student_out_of_the_class(container, publish, klass, rows):
    new_class = new_id()
    with waiter(container, "on_student_transferred", n=2):
        publish("journal", transferred(klass, klass["students"][0], new_class))
        publish("journal", transferred(klass, klass["students"][0], new_class))  # redelivered
    with waiter(container, "on_student_left"):
        publish("journal", left(klass, klass["students"][1]))
    with waiter(container, "on_lesson_recorded"):
        publish("journal", lesson(klass))
    assert sorted(n.recipient_id for n in rows(store.Notification)) == sorted(klass["parents"][2:])
    assert rows(tables["dead_letters"]) == []


def test_a_late_transfer_event_does_not_undo_a_later_return(container, publish, klass, rows):
    """Events of different types travel on different queues: the return to
    the class (enrolled on 2026-12-01) may be seen before the earlier transfer
    out of it (on 2026-11-02); the student stays in the class."""
    student = klass["students"][0]
    with waiter(container, "on_student_enrolled"):
        publish("journal", enrolled(klass, student, klass["class"], "2026-12-01"))
    with waiter(container, "on_student_transferred"):
        publish("journal", transferred(klass, student, new_id(), on="2026-11-02"))
    with waiter(container, "on_lesson_recorded"):
        publish("journal", lesson(klass))
    assert sorted(n.recipient_id for n in rows(store.Notification)) == sorted(klass["parents"])


def test_a_lesson_transcribed_from_paper_notifies_nobody(container, publish, klass, rows):
    with waiter(container, "on_lesson_recorded", n=2):
        publish("journal", lesson(klass, imported=True, recorded_on="2026-10-20", late=True, overdue=True))
        publish("journal", lesson(klass, imported=False))
    notes = rows(store.Notification)
    assert sorted(n.recipient_id for n in notes) == sorted(klass["parents"])  # only the second lesson's
    assert {n.kind for n in notes} == {"homework"}


def test_malformed_transfer_is_dead_lettered(container, publish, klass, rows):
    bad = transferred(klass, klass["students"][0], new_id())
    del bad["payload"]["from_class_id"]
    with waiter(container, "on_student_transferred"):
        publish("journal", bad)
    assert [d["event_id"] for d in rows(tables["dead_letters"])] == [bad["id"]]
    assert len(rows(store.Enrolment)) == 4


def test_movement_payloads_parse_as_documented():
    k = {"school": new_id(), "class": new_id()}
    t = events.parse_student_transferred(transferred(k, "s1", "c2"))
    assert (t.student_id, t.class_id, t.on) == ("s1", k["class"], dt.date(2026, 11, 2))
    gone = events.parse_student_left(left(k, "s1"))
    assert (gone.student_id, gone.class_id) == ("s1", k["class"])
    with pytest.raises(payloads.InvalidPayload):
        events.parse_lesson_recorded(lesson({**k, "subject": new_id()}, imported="yes"))
