"""messaging.store on the real PostgreSQL (migrated with our Alembic history)."""
from __future__ import annotations

import datetime as dt
import threading
import time

from messaging import domain, store
from messaging_testkit import new_id

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 10, 12, 8, 0, tzinfo=UTC)


def draft(recipient_id, kind="mark", body="текст"):
    return domain.NotificationDraft(recipient_id=recipient_id, kind=kind, title="Новая оценка", body=body,
                                    data={"value": 5})


# -- people: order-tolerant projection -------------------------------------------------------

def test_user_created_then_roles_changed(session):
    user, school = new_id(), new_id()
    store.save_user_created(session, user_id=user, school_id=school, full_name="Иванов Пётр",
                            roles=["teacher"], as_of=T0)
    store.save_roles(session, user_id=user, school_id=school, roles=["teacher", "class_teacher"],
                     as_of=T0 + dt.timedelta(minutes=1))
    session.commit()
    person = store.get_person(session, user_id=user)
    assert (person.full_name, person.school_id, person.roles) == ("Иванов Пётр", school, ["teacher", "class_teacher"])


def test_roles_changed_before_user_created_is_not_overwritten_by_older_roles(session):
    """Different queues: the later change may be delivered first."""
    user, school = new_id(), new_id()
    store.save_roles(session, user_id=user, school_id=None, roles=["parent", "teacher"],
                     as_of=T0 + dt.timedelta(minutes=5))
    store.save_user_created(session, user_id=user, school_id=school, full_name="Петрова Анна",
                            roles=["parent"], as_of=T0)
    session.commit()
    person = store.get_person(session, user_id=user)
    assert person.roles == ["parent", "teacher"]
    assert person.full_name == "Петрова Анна" and person.school_id == school


def test_older_roles_change_is_ignored(session):
    user = new_id()
    store.save_roles(session, user_id=user, school_id=None, roles=["admin"], as_of=T0 + dt.timedelta(hours=1))
    store.save_roles(session, user_id=user, school_id=None, roles=["teacher"], as_of=T0)
    session.commit()
    assert store.get_person(session, user_id=user).roles == ["admin"]


# -- links and structure -------------------------------------------------------------------------

def test_parent_links_per_student_and_school(session):
    school, other_school = new_id(), new_id()
    student, mum, dad, stranger = new_id(), new_id(), new_id(), new_id()
    store.save_parent_link(session, school_id=school, student_id=student, parent_id=mum, relation="мать")
    store.save_parent_link(session, school_id=school, student_id=student, parent_id=dad, relation=None)
    store.save_parent_link(session, school_id=school, student_id=new_id(), parent_id=stranger, relation=None)
    store.save_parent_link(session, school_id=school, student_id=student, parent_id=mum, relation="опекун")
    session.commit()
    assert set(store.parent_ids(session, school_id=school, student_id=student)) == {mum, dad}
    assert store.parent_ids(session, school_id=other_school, student_id=student) == []
    link = session.get(store.ParentLink, (student, mum))
    assert link.relation == "опекун"


def test_parents_by_student_answers_a_whole_batch_in_one_query(session):
    """on_mark_posted's lookup: every (school, student) of a batch, each
    with its parents in id order, [] for none, another school's link never."""
    school, other_school = new_id(), new_id()
    twins = [new_id() for _ in range(150)]
    orphan, moved = new_id(), new_id()
    parents = {}
    for n, student in enumerate(twins):
        parents[student] = sorted(new_id() for _ in range(1 + n % 2))
        for parent in parents[student]:
            store.save_parent_link(session, school_id=school, student_id=student, parent_id=parent, relation=None)
    store.save_parent_link(session, school_id=other_school, student_id=moved, parent_id=new_id(), relation=None)
    session.commit()
    pairs = {(school, s) for s in twins} | {(school, orphan), (school, moved)}
    got = store.parents_by_student(session, pairs=pairs)
    assert got == {**{(school, s): parents[s] for s in twins}, (school, orphan): [], (school, moved): []}
    assert store.parents_by_student(session, pairs=[]) == {}


def test_subject_class_and_enrolment_upserts(session):
    school, subject, klass, student = new_id(), new_id(), new_id(), new_id()
    store.save_subject(session, school_id=school, subject_id=subject, name="Матем.")
    store.save_subject(session, school_id=school, subject_id=subject, name="Математика")
    store.save_class(session, school_id=school, class_id=klass, year_id=new_id(), grade=5, letter="А",
                     name="5А", class_teacher_id=None)
    teacher = new_id()
    store.save_class(session, school_id=school, class_id=klass, year_id=None, grade=5, letter="А",
                     name="5А", class_teacher_id=teacher)
    store.save_enrolment(session, school_id=school, student_id=student, class_id=klass, order_no="12",
                         enrolled_on=dt.date(2026, 9, 1))
    store.save_enrolment(session, school_id=school, student_id=student, class_id=klass, order_no="13",
                         enrolled_on=dt.date(2026, 9, 2))
    session.commit()
    assert store.subject_name(session, subject_id=subject) == "Математика"
    assert session.get(store.SchoolClass, klass).class_teacher_id == teacher
    enrolment = session.get(store.Enrolment, (student, klass))
    assert (enrolment.order_no, enrolment.enrolled_on, enrolment.school_id) == ("13", dt.date(2026, 9, 2), school)


# -- notifications -------------------------------------------------------------------------------

def test_same_event_same_recipient_same_kind_is_stored_once(session):
    school, parent, event = new_id(), new_id(), new_id()
    first = store.add_notifications(session, school_id=school, source_event_id=event, drafts=[draft(parent)])
    again = store.add_notifications(session, school_id=school, source_event_id=event,
                                    drafts=[draft(parent), draft(parent, kind="news")])
    session.commit()
    assert len(first) == 1 and [d.kind for d in again] == ["news"]
    assert len(store.list_notifications(session, school_id=school, recipient_id=parent, limit=10)) == 2


def test_concurrent_redelivery_makes_one_notification(session_maker):
    """Two workers handling the same event at once: the unique
    (recipient_id, source_event_id, kind) makes the second a no-op, it does
    not fail (which would dead-letter a good event)."""
    school, parent, event = new_id(), new_id(), new_id()
    first = session_maker()
    assert len(store.add_notifications(first, school_id=school, source_event_id=event, drafts=[draft(parent)])) == 1
    outcome = {}

    def second_worker():
        with session_maker() as s:
            outcome["created"] = store.add_notifications(s, school_id=school, source_event_id=event,
                                                         drafts=[draft(parent)])
            s.commit()

    worker = threading.Thread(target=second_worker)
    worker.start()
    time.sleep(0.3)  # the second insert now waits on the first one's unique key
    assert "created" not in outcome
    first.commit()
    first.close()
    worker.join(10)
    assert outcome["created"] == []
    with session_maker() as s:
        assert len(store.list_notifications(s, school_id=school, recipient_id=parent, limit=10)) == 1


def test_list_is_newest_first_with_keyset_ties_broken_by_id(session):
    school, me = new_id(), new_id()
    for i in range(3):
        store.add_notifications(session, school_id=school, source_event_id=new_id(), drafts=[draft(me, body=str(i))],
                                now=T0 + dt.timedelta(minutes=i))
    # two at exactly the same instant (one event for two kinds)
    store.add_notifications(session, school_id=school, source_event_id=new_id(),
                            drafts=[draft(me, kind="a"), draft(me, kind="b")], now=T0 + dt.timedelta(minutes=1))
    session.commit()
    everything = store.list_notifications(session, school_id=school, recipient_id=me, limit=10)
    keys = [(n.created_at, n.id) for n in everything]
    assert keys == sorted(keys, reverse=True) and len(keys) == 5
    seen, after = [], None
    while True:
        got = store.list_notifications(session, school_id=school, recipient_id=me, limit=2, after=after)
        if not got:
            break
        seen += [n.id for n in got]
        after = (got[-1].created_at, got[-1].id)
    assert seen == [n.id for n in everything]


def test_mark_read_touches_only_the_recipients_unread(session):
    school, me, other = new_id(), new_id(), new_id()
    store.add_notifications(session, school_id=school, source_event_id=new_id(), drafts=[draft(me), draft(other)])
    session.commit()
    mine = store.list_notifications(session, school_id=school, recipient_id=me, limit=10)[0]
    theirs = store.list_notifications(session, school_id=school, recipient_id=other, limit=10)[0]
    assert store.mark_read(session, school_id=school, recipient_id=me, ids=[mine.id, theirs.id]) == 1
    assert store.mark_read(session, school_id=school, recipient_id=me, ids=[mine.id]) == 0
    assert store.mark_read(session, school_id=new_id(), recipient_id=other, ids=[theirs.id]) == 0
    assert store.mark_read(session, school_id=school, recipient_id=me, ids=[]) == 0
    session.commit()
    session.expire_all()
    assert session.get(store.Notification, mine.id).read_at is not None
    assert session.get(store.Notification, theirs.id).read_at is None
