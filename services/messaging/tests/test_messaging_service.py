"""The running messaging service on the real RabbitMQ and PostgreSQL:
events published to the producers' exchanges, RPC through nameko."""
from __future__ import annotations

import datetime as dt

import pytest
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook
from prometheus_client import REGISTRY

from kernel.errors import ServiceError

from messaging import domain, store
from messaging.errors import ValidationError
from messaging.store import tables
from messaging_testkit import make_envelope, mark_payload, new_id, waiter


@pytest.fixture
def family(session_maker):
    """A school with a student, two linked parents and an unlinked parent."""
    school, student, mum, dad, stranger = (new_id() for _ in range(5))
    subject = new_id()
    with session_maker() as s:
        for who, name, roles in ((student, "Иванов Пётр", ["student"]), (mum, "Иванова Анна", ["parent"]),
                                 (dad, "Иванов Сергей", ["parent"]), (stranger, "Сидорова Ольга", ["parent"])):
            store.save_user_created(s, user_id=who, school_id=school, full_name=name, roles=roles,
                                    as_of=dt.datetime.now(dt.timezone.utc))
        store.save_parent_link(s, school_id=school, student_id=student, parent_id=mum, relation="мать")
        store.save_parent_link(s, school_id=school, student_id=student, parent_id=dad, relation="отец")
        store.save_parent_link(s, school_id=school, student_id=new_id(), parent_id=stranger, relation="мать")
        store.save_subject(s, school_id=school, subject_id=subject, name="Алгебра")
        s.commit()
    return {"school": school, "student": student, "mum": mum, "dad": dad, "stranger": stranger,
            "subject": subject}


def ctx_of(user_id, school_id):
    return {"actor_id": user_id, "school_id": school_id, "roles": ["parent"], "correlation_id": "c0ffee"}


def created_metric():
    return REGISTRY.get_sample_value("messaging_notifications_created_total", {"kind": "mark"}) or 0.0


def test_health(container):
    with entrypoint_hook(container, "health") as health:
        assert health() == {"status": "ok", "service": "messaging"}


def test_mark_posted_notifies_each_linked_parent_only(container, publish, family, rows):
    """R-M2, R-A3: a new mark reaches the student's own
    parents and nobody else."""
    before = created_metric()
    env = make_envelope("mark_posted", mark_payload(student_id=family["student"], value=5, date="2026-10-12",
                                                    subject_name="Математика"),
                        producer="journal", school_id=family["school"])
    with waiter(container, "on_mark_posted"):
        publish("journal", env)

    notes = rows(store.Notification)
    assert sorted(n.recipient_id for n in notes) == sorted([family["mum"], family["dad"]])
    for n in notes:
        assert (n.kind, n.title, n.school_id, n.source_event_id) == ("mark", "Новая оценка", family["school"], env["id"])
        assert n.body == "Иванов Пётр: оценка 5 по предмету «Математика» за 12.10.2026"
        p = env["payload"]
        assert n.data == {"mark_id": p["mark_id"], "lesson_id": p["lesson_id"], "student_id": family["student"],
                          "subject_id": p["subject_id"], "value": 5, "date": "2026-10-12"}
    assert created_metric() - before == 2


def test_subject_name_falls_back_to_the_projection(container, publish, family, rows):
    payload = mark_payload(student_id=family["student"], subject_id=family["subject"], value="4",
                           date="2026-11-03", subject_name=None)
    with waiter(container, "on_mark_posted"):
        publish("journal", make_envelope("mark_posted", payload, producer="journal", school_id=family["school"]))
    assert {n.body for n in rows(store.Notification)} == {"Иванов Пётр: оценка 4 по предмету «Алгебра» за 03.11.2026"}


def test_mark_of_a_student_without_parents_notifies_no_one(container, publish, family, rows):
    before = created_metric()
    with waiter(container, "on_mark_posted"):
        publish("journal", make_envelope("mark_posted", mark_payload(student_id=new_id()), producer="journal",
                                         school_id=family["school"]))
    assert rows(store.Notification) == []
    assert rows(tables["dead_letters"]) == []  # handled, not refused
    assert created_metric() == before


def test_same_envelope_twice_makes_one_notification_per_parent(container, publish, family, rows):
    env = make_envelope("mark_posted", mark_payload(student_id=family["student"]), producer="journal",
                        school_id=family["school"])
    before = created_metric()
    with waiter(container, "on_mark_posted", n=2):
        publish("journal", env)
        publish("journal", env)
    assert len(rows(store.Notification)) == 2
    assert created_metric() - before == 2
    assert rows(tables["dead_letters"]) == []


def test_malformed_messages_are_dead_lettered_and_later_events_still_handled(container, publish, family, rows):
    not_an_envelope = {"hello": "world"}
    bad_payload = make_envelope("mark_posted", mark_payload(student_id=family["student"], date="12.10.2026"),
                                producer="journal", school_id=family["school"])
    # the kernel's claim() would ack this one silently as a "duplicate"
    null_id = make_envelope("mark_posted", mark_payload(student_id=family["student"]), producer="journal",
                            school_id=family["school"], id=None)
    good = make_envelope("mark_posted", mark_payload(student_id=family["student"]), producer="journal",
                         school_id=family["school"])
    with waiter(container, "on_mark_posted", n=4):
        publish("journal", not_an_envelope, routing_key="mark_posted")
        publish("journal", bad_payload)
        publish("journal", null_id)
        publish("journal", good)

    dead = rows(tables["dead_letters"], consumer="messaging.on_mark_posted")
    assert len(dead) == 3
    assert sorted(d["event_id"] or "" for d in dead) == sorted(["", "", bad_payload["id"]])
    errors = " | ".join(d["error"] for d in dead)
    assert "malformed: event lacks" in errors and "YYYY-MM-DD" in errors and "event id must be" in errors
    notes = rows(store.Notification)
    assert {n.source_event_id for n in notes} == {good["id"]} and len(notes) == 2


def test_identity_and_journal_events_build_the_projections(container, publish, rows):
    """People, parent links, subjects, classes and enrolments come from events."""
    school, student, parent, subject, klass = (new_id() for _ in range(5))
    identity = [
        ("on_user_created", make_envelope("user_created", {
            "user_id": student, "login": "petr", "full_name": "Иванов Пётр", "roles": ["student"],
            "email": None, "birth_date": "2015-03-01", "sex": "m"}, producer="identity", school_id=school)),
        ("on_roles_changed", make_envelope("roles_changed", {"user_id": parent, "roles": ["parent"], "before": []},
                                           producer="identity", school_id=school)),
        ("on_parent_linked", make_envelope("parent_linked", {"student_id": student, "parent_id": parent,
                                                             "relation": "мать"},
                                           producer="identity", school_id=school)),
    ]
    journal = [
        ("on_subject_created", make_envelope("subject_created", {"subject_id": subject, "name": "Физика"},
                                             producer="journal", school_id=school)),
        ("on_class_created", make_envelope("class_created", {
            "class_id": klass, "year_id": new_id(), "grade": 7, "letter": "Б", "name": "7Б",
            "class_teacher_id": new_id()}, producer="journal", school_id=school)),
        ("on_student_enrolled", make_envelope("student_enrolled", {
            "student_id": student, "class_id": klass, "order_no": "15-у", "on": "2026-09-01"},
            producer="journal", school_id=school)),
    ]
    for method, env in identity + journal:
        with waiter(container, method):
            publish(env["producer"], env)

    person = rows(store.Person, user_id=student)[0]
    assert (person.full_name, person.roles, person.school_id) == ("Иванов Пётр", ["student"], school)
    assert rows(store.Person, user_id=parent)[0].roles == ["parent"]
    assert [(link.parent_id, link.school_id) for link in rows(store.ParentLink, student_id=student)] == [(parent, school)]
    assert rows(store.Subject, subject_id=subject)[0].name == "Физика"
    assert rows(store.SchoolClass, class_id=klass)[0].name == "7Б"
    assert rows(store.Enrolment, student_id=student)[0].enrolled_on == dt.date(2026, 9, 1)
    assert rows(tables["dead_letters"]) == []

    # and the projections feed the notification text
    with waiter(container, "on_mark_posted"):
        publish("journal", make_envelope("mark_posted", mark_payload(student_id=student, subject_id=subject,
                                                                    subject_name="Физика", value=3),
                                         producer="journal", school_id=school))
    assert [(n.recipient_id, n.body) for n in rows(store.Notification)] == [
        (parent, "Иванов Пётр: оценка 3 по предмету «Физика» за 12.10.2026")]


def test_parent_link_without_school_is_dead_lettered(container, publish, rows):
    env = make_envelope("parent_linked", {"student_id": new_id(), "parent_id": new_id()}, producer="identity",
                        school_id=None)
    with waiter(container, "on_parent_linked"):
        publish("identity", env)
    assert rows(store.ParentLink) == []
    assert [d["event_id"] for d in rows(tables["dead_letters"], consumer="messaging.on_parent_linked")] == [env["id"]]


# -- RPC -------------------------------------------------------------------------------------------

def seed_notifications(session_maker, school, recipient, n, start=dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc)):
    with session_maker() as s:
        for i in range(n):
            store.add_notifications(s, school_id=school, source_event_id=new_id(), drafts=[
                domain.NotificationDraft(recipient_id=recipient, kind="mark", title="Новая оценка",
                                         body=f"уведомление {i}", data={"i": i})],
                now=start + dt.timedelta(minutes=i // 2))  # pairs share a timestamp
        s.commit()


def test_list_notifications_pages_newest_first(container, session_maker):
    school, me = new_id(), new_id()
    seed_notifications(session_maker, school, me, 7)
    pages = []
    cursor = None
    with entrypoint_hook(container, "list_notifications") as list_notifications:
        while True:
            page = list_notifications(ctx_of(me, school), limit=3, cursor=cursor)
            pages.append(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert [len(p) for p in pages] == [3, 3, 1]
    items = [item for p in pages for item in p]
    assert sorted(item["body"] for item in items) == sorted(f"уведомление {i}" for i in range(7))
    assert len({item["id"] for item in items}) == 7
    stamps = [item["created_at"] for item in items]
    assert stamps == sorted(stamps, reverse=True)
    assert items[0]["body"] == "уведомление 6" and items[0]["created_at"] == "2026-10-01T00:03:00+00:00"
    assert set(items[0]) == {"id", "kind", "title", "body", "data", "created_at", "read"}
    assert items[0]["read"] is False and items[0]["data"] == {"i": 6}


def test_list_notifications_default_limit_and_exact_last_page(container, session_maker):
    school, me = new_id(), new_id()
    seed_notifications(session_maker, school, me, 2)
    with entrypoint_hook(container, "list_notifications") as list_notifications:
        page = list_notifications(ctx_of(me, school))
        assert len(page["items"]) == 2 and page["next_cursor"] is None
        page = list_notifications(ctx_of(me, school), limit=2)
        assert len(page["items"]) == 2 and page["next_cursor"] is None


def test_users_see_only_their_own_notifications(container, session_maker):
    """R-A3: no one reads another family's notifications."""
    school, me, other = new_id(), new_id(), new_id()
    seed_notifications(session_maker, school, me, 2)
    seed_notifications(session_maker, school, other, 3)
    with entrypoint_hook(container, "list_notifications") as list_notifications:
        mine = list_notifications(ctx_of(me, school))["items"]
        theirs = list_notifications(ctx_of(other, school))["items"]
        assert list_notifications(ctx_of(new_id(), school))["items"] == []
        # the same user id under another school's context sees nothing either
        assert list_notifications(ctx_of(me, new_id()))["items"] == []
    assert len(mine) == 2 and len(theirs) == 3
    assert not {n["id"] for n in mine} & {n["id"] for n in theirs}


def test_mark_notifications_read_only_the_callers(container, session_maker):
    school, me, other = new_id(), new_id(), new_id()
    seed_notifications(session_maker, school, me, 2)
    seed_notifications(session_maker, school, other, 1)
    with entrypoint_hook(container, "list_notifications") as list_notifications:
        mine = [n["id"] for n in list_notifications(ctx_of(me, school))["items"]]
        theirs = [n["id"] for n in list_notifications(ctx_of(other, school))["items"]]
    with entrypoint_hook(container, "mark_notifications_read") as mark_read:
        assert mark_read(ctx_of(me, school), [mine[0]] + theirs) == {"updated": 1}
        assert mark_read(ctx_of(me, school), mine) == {"updated": 1}
    with entrypoint_hook(container, "list_notifications") as list_notifications:
        assert [n["read"] for n in list_notifications(ctx_of(me, school))["items"]] == [True, True]
        assert [n["read"] for n in list_notifications(ctx_of(other, school))["items"]] == [False]


BAD_ARGUMENTS = [
    ("list_notifications", {"limit": 0}, "limit"),
    ("list_notifications", {"limit": 101}, "limit"),
    ("list_notifications", {"limit": "many"}, "limit"),
    ("list_notifications", {"cursor": "garbage!"}, "cursor"),
    ("list_notifications", {"cursor": 5}, "cursor"),
    ("mark_notifications_read", {"ids": "all"}, "ids"),
    ("mark_notifications_read", {"ids": [None]}, "ids"),
]


def test_bad_arguments_are_validation_errors(container):
    # one container for all cases: starting one costs about a second
    for method, args, field in BAD_ARGUMENTS:
        with entrypoint_hook(container, method) as call:
            with pytest.raises(ValidationError) as err:
                call(ctx_of(new_id(), new_id()), **args)
        assert (err.value.code, err.value.details) == ("VALIDATION_ERROR", {"field": field}), (method, args)


def test_errors_cross_the_wire_as_service_errors(container, rabbit_config):
    """The gateway receives a parseable ServiceError, never an opaque 500."""
    with ServiceRpcProxy("messaging", rabbit_config, timeout=10) as messaging:
        with pytest.raises(RemoteError) as err:
            messaging.list_notifications(ctx_of(new_id(), new_id()), limit=0)
        parsed = ServiceError.parse(err.value.value)
        assert parsed["code"] == "VALIDATION_ERROR" and parsed["kind"] == "bad_request"
        assert parsed["message"] == "Параметр limit должен быть целым числом от 1 до 100"
        with pytest.raises(RemoteError) as err:
            messaging.list_notifications(None)
        assert ServiceError.parse(err.value.value)["details"] == {"field": "ctx"}
        page = messaging.list_notifications(ctx_of(new_id(), new_id()), limit=5)
        assert page == {"items": [], "next_cursor": None}
