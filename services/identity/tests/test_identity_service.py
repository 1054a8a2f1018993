"""The identity nameko service on the real RabbitMQ and PostgreSQL: RPCs,
the events they publish, and the journal-event projections."""
from __future__ import annotations

import json

import pytest
from nameko.events import event_handler
from nameko.exceptions import RemoteError
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook, entrypoint_waiter
from sqlalchemy import func, select

from kernel.db import new_id, transaction
from kernel.errors import InvalidContext, ServiceError
from kernel.events import envelope

from identity_helpers import ctx_of
from identity import credentials, store
from identity.errors import AlreadyExists, Forbidden, LoginTaken, NotFound, ValidationError


@pytest.fixture
def admin(make, school):
    return make.user(school, ["admin"], login="admin")


@pytest.fixture
def class_teacher(make, school):
    return make.user(school, ["teacher", "class_teacher"], login="kl.ruk")


def call(container, method, *args):
    with entrypoint_hook(container, method) as hook:
        return hook(*args)


def test_health(container):
    assert call(container, "health") == {"status": "ok", "service": "identity"}


# --- create_user (R-A2) ------------------------------------------------------------

def test_r_a2_admin_creates_a_teacher_with_a_generated_password(container, admin, factory):
    result = call(container, "create_user", ctx_of(admin),
                  {"login": "Petrov", "full_name": "Петров Пётр Петрович", "roles": ["teacher"],
                   "email": "petrov@school.ru", "birth_date": "1980-05-01", "sex": "male"})
    assert result["login"] == "Petrov" and len(result["initial_password"]) == 14
    with transaction(factory) as s:
        user = store.get_user(s, user_id=result["id"])
        assert user.school_id == admin.school_id and user.roles == ["teacher"] and user.created_by == admin.id
        assert user.password_hash.startswith("$argon2id$")
        assert credentials.verify_password(user.password_hash, result["initial_password"])


def test_r_a2_class_teacher_creates_a_parent_with_a_given_password(container, class_teacher, factory):
    result = call(container, "create_user", ctx_of(class_teacher),
                  {"login": "mama.ivanova", "full_name": "Иванова Мария", "roles": ["parent"],
                   "password": "parent-pass-1"})
    assert result["initial_password"] is None  # a supplied password is never echoed back
    with transaction(factory) as s:
        user = store.get_user(s, user_id=result["id"])
        assert credentials.verify_password(user.password_hash, "parent-pass-1")


def test_r_a2_class_teacher_creating_a_teacher_is_forbidden(container, class_teacher, factory):
    with pytest.raises(Forbidden) as err:
        call(container, "create_user", ctx_of(class_teacher),
             {"login": "new.teacher", "full_name": "Учитель", "roles": ["teacher"]})
    assert err.value.code == "FORBIDDEN"
    with transaction(factory) as s:
        assert store.find_user_by_login(s, login="new.teacher") is None


def test_r_a2_teacher_cannot_create_students(container, make, school):
    teacher = make.user(school, ["teacher"])
    with pytest.raises(Forbidden):
        call(container, "create_user", ctx_of(teacher), {"login": "kid1", "full_name": "Ребёнок", "roles": ["student"]})


def test_duplicate_login_is_login_taken_case_insensitively(container, admin):
    data = {"login": "sidorov", "full_name": "Сидоров", "roles": ["teacher"]}
    call(container, "create_user", ctx_of(admin), data)
    with pytest.raises(LoginTaken) as err:
        call(container, "create_user", ctx_of(admin), {**data, "login": "SIDOROV"})
    assert err.value.code == "LOGIN_TAKEN" and err.value.kind == "conflict"


def test_create_user_validates_input(container, admin):
    with pytest.raises(ValidationError) as err:
        call(container, "create_user", ctx_of(admin), {"login": "x", "full_name": "А", "roles": ["teacher"]})
    assert err.value.details == {"field": "login"}
    with pytest.raises(InvalidContext):  # a ctx without a school is 401 INVALID_TOKEN
        call(container, "create_user", {"actor_id": admin.id}, {"login": "abc", "full_name": "А", "roles": ["teacher"]})
    with pytest.raises(ValidationError):
        call(container, "create_user", ctx_of(admin), "not a dict")


def test_errors_cross_the_broker_as_parseable_service_errors(config, container, admin):
    """What the gateway sees: a RemoteError whose value is the JSON of the ServiceError."""
    with ServiceRpcProxy("identity", config, timeout=10) as proxy:
        assert proxy.health() == {"status": "ok", "service": "identity"}
        with pytest.raises(RemoteError) as err:
            proxy.create_user(ctx_of(admin), {"login": "abc", "full_name": "А", "roles": ["wizard"]})
    parsed = ServiceError.parse(err.value.value)
    assert parsed["kind"] == "bad_request" and parsed["code"] == "VALIDATION_ERROR"
    assert "wizard" in parsed["message"]


class EventListener:
    name = "identity_test_listener"

    @event_handler("identity", "user_created")
    def on_user_created(self, body):
        return body

    @event_handler("identity", "parent_linked")
    def on_parent_linked(self, body):
        return body

    @event_handler("identity", "consent_recorded")
    def on_consent_recorded(self, body):
        return body


@pytest.fixture
def listener(container_factory, config):
    listener = container_factory(EventListener, config)
    listener.start()
    return listener


def test_user_created_is_published_through_the_outbox(container, listener, admin, factory):
    with entrypoint_waiter(listener, "on_user_created", timeout=10) as waited:
        result = call(container, "create_user", ctx_of(admin, "cid-1"),
                      {"login": "pupil1",
                       "full_name": "Учеников Иван", "roles": ["student"], "birth_date": "2016-01-02", "sex": "m"})
    env = waited.get()
    assert env["type"] == "user_created" and env["producer"] == "identity"
    assert env["school_id"] == admin.school_id and env["actor_id"] == admin.id
    assert env["correlation_id"] == "cid-1"
    assert env["payload"] == {"user_id": result["id"], "login": "pupil1", "full_name": "Учеников Иван",
                              "roles": ["student"], "email": None, "birth_date": "2016-01-02", "sex": "male"}
    with transaction(factory) as s:
        assert s.scalar(select(func.count()).select_from(store.tables["outbox"])) == 1


# --- link_parent and record_consent (R-A4) -----------------------------------------------

@pytest.fixture
def family(make, school, class_teacher, factory):
    """A student of the class teacher's class and a parent whose login the
    class teacher issued (R-A2: the families a class teacher manages)."""
    student = make.user(school, ["student"], login="kid")
    parent = make.user(school, ["parent"], login="mom")
    make.klass(school, "class-5a", teacher_id=class_teacher.id)
    make.enroll(school, student.id, "class-5a")
    with transaction(factory) as s:
        store.get_user(s, user_id=parent.id).created_by = class_teacher.id
    return student, parent


def test_link_parent_links_publishes_and_is_idempotent(container, listener, class_teacher, family, factory):
    student, parent = family
    with entrypoint_waiter(listener, "on_parent_linked", timeout=10) as waited:
        first = call(container, "link_parent", ctx_of(class_teacher), student.id, parent.id, "мать")
    assert first == {"student_id": student.id, "parent_id": parent.id, "relation": "мать"}
    assert waited.get()["payload"] == first
    again = call(container, "link_parent", ctx_of(class_teacher), student.id, parent.id, "мать")
    assert again == first
    with transaction(factory) as s:
        assert s.scalar(select(func.count()).select_from(store.ParentLink)) == 1
        assert s.scalar(select(func.count()).select_from(store.tables["outbox"])) == 1  # no second event
    with pytest.raises(AlreadyExists) as err:
        call(container, "link_parent", ctx_of(class_teacher), student.id, parent.id, "опекун")
    assert err.value.details["relation"] == "мать"


def test_link_parent_checks_roles_and_school(container, make, admin, family):
    student, parent = family
    other_school = make.school("Школа №2")
    stranger = make.user(other_school, ["student"])
    teacher = make.user(admin.school_id, ["teacher"])
    with pytest.raises(NotFound):  # the parent is not a student
        call(container, "link_parent", ctx_of(admin), parent.id, parent.id, "мать")
    with pytest.raises(NotFound):  # the student is not a parent
        call(container, "link_parent", ctx_of(admin), student.id, student.id, "мать")
    with pytest.raises(NotFound):  # another school's student does not exist for this admin
        call(container, "link_parent", ctx_of(admin), stranger.id, parent.id, "мать")
    with pytest.raises(NotFound):
        call(container, "link_parent", ctx_of(admin), new_id(), parent.id, "мать")
    with pytest.raises(Forbidden):
        call(container, "link_parent", ctx_of(teacher), student.id, parent.id, "мать")
    with pytest.raises(ValidationError):
        call(container, "link_parent", ctx_of(admin), student.id, None, "мать")


def test_r_a4_record_consent_keeps_history_latest_wins(container, listener, class_teacher, family, factory):
    _, parent = family
    with entrypoint_waiter(listener, "on_consent_recorded", timeout=10) as waited:
        given = call(container, "record_consent", ctx_of(class_teacher), parent.id, True, "2026-09-01")
    assert given == {"parent_id": parent.id, "given": True, "signed_on": "2026-09-01"}
    assert waited.get()["payload"] == given
    call(container, "record_consent", ctx_of(class_teacher), parent.id, False, "2026-09-02")
    with transaction(factory) as s:
        assert s.scalar(select(func.count()).select_from(store.Consent)) == 2
        assert store.consent_given(s, parent_id=parent.id) is False


def test_r_a4_record_consent_validates(container, admin, make, family):
    student, parent = family
    teacher = make.user(admin.school_id, ["teacher"])
    with pytest.raises(ValidationError):
        call(container, "record_consent", ctx_of(admin), parent.id, "yes", "2026-09-01")
    with pytest.raises(ValidationError):
        call(container, "record_consent", ctx_of(admin), parent.id, True, "01.09.2026")
    with pytest.raises(NotFound):
        call(container, "record_consent", ctx_of(admin), student.id, True, "2026-09-01")
    with pytest.raises(Forbidden):
        call(container, "record_consent", ctx_of(teacher), parent.id, True, "2026-09-01")


# --- get_user -------------------------------------------------------------------------

def test_get_user_without_secrets_for_allowed_readers_only(container, admin, make, family):
    student, parent = family
    result = call(container, "get_user", ctx_of(admin), student.id)
    assert result["id"] == student.id and result["login"] == "kid" and result["roles"] == ["student"]
    assert "password_hash" not in result and not any("hash" in key for key in result)
    json.dumps(result)  # JSON-able for the broker
    assert call(container, "get_user", ctx_of(student), student.id)["id"] == student.id
    with pytest.raises(NotFound):  # R-A3: another family's card is not yours
        call(container, "get_user", ctx_of(parent), student.id)
    other_admin = make.user(make.school("Школа №2"), ["admin"])
    with pytest.raises(NotFound):
        call(container, "get_user", ctx_of(other_admin), student.id)
    with pytest.raises(NotFound):
        call(container, "get_user", ctx_of(admin), new_id())


# --- projections of journal events -------------------------------------------------------

def journal_event(type_, payload, school_id, event_id=None):
    env = envelope(type=type_, producer="journal", payload=payload, school_id=school_id, actor_id=None)
    if event_id:
        env["id"] = event_id
    return env


def deliver(container, config, handler, env):
    dispatch = event_dispatcher(config)
    with entrypoint_waiter(container, handler, timeout=10):
        dispatch("journal", env["type"], env)


def test_journal_events_build_projections_and_duplicates_change_nothing(container, config, factory, school):
    teacher_id, student_id, class_a, class_b = new_id(), new_id(), new_id(), new_id()
    created = journal_event("class_created", {"class_id": class_a, "year_id": new_id(), "grade": 5, "letter": "А",
                                              "name": "5А", "class_teacher_id": teacher_id}, school)
    deliver(container, config, "on_class_created", created)
    enrolled_a = journal_event("student_enrolled", {"student_id": student_id, "class_id": class_a,
                                                    "order_no": "12-у", "on": "2026-09-01"}, school)
    deliver(container, config, "on_student_enrolled", enrolled_a)
    enrolled_b = journal_event("student_enrolled", {"student_id": student_id, "class_id": class_b,
                                                    "order_no": "13-у", "on": "2026-09-01"}, school)
    deliver(container, config, "on_student_enrolled", enrolled_b)
    assigned = journal_event("teacher_assigned", {"assignment_id": new_id(), "teacher_id": teacher_id,
                                                  "class_id": class_a, "subject_id": new_id(), "hours_per_week": 4,
                                                  "subgroup_id": None}, school)
    deliver(container, config, "on_teacher_assigned", assigned)

    # redelivery of the first enrolment (same event id) must not move the student back
    deliver(container, config, "on_student_enrolled", enrolled_a)
    deliver(container, config, "on_class_created", created)
    with transaction(factory) as s:
        klass = s.get(store.ClassTeacher, class_a)
        assert (klass.school_id, klass.teacher_id, klass.name) == (school, teacher_id, "5А")
        assert store.class_of_student(s, student_id=student_id) == class_b
        rows = s.scalars(select(store.TeacherAssignment)).all()
        assert [(r.teacher_id, r.class_id, r.school_id) for r in rows] == [(teacher_id, class_a, school)]
        processed = s.execute(select(store.tables["processed_events"].c.consumer)).scalars().all()
        assert sorted(processed) == ["identity.class_created", "identity.student_enrolled",
                                     "identity.student_enrolled", "identity.teacher_assigned"]


def test_an_older_enrolment_delivered_late_does_not_win(container, config, factory, school):
    student_id, old_class, new_class = new_id(), new_id(), new_id()
    deliver(container, config, "on_student_enrolled", journal_event(
        "student_enrolled", {"student_id": student_id, "class_id": new_class, "on": "2027-01-10"}, school))
    deliver(container, config, "on_student_enrolled", journal_event(
        "student_enrolled", {"student_id": student_id, "class_id": old_class, "on": "2026-09-01"}, school))
    with transaction(factory) as s:
        assert store.class_of_student(s, student_id=student_id) == new_class


def test_a_poison_journal_event_is_dead_lettered(container, config, factory, school):
    bad = journal_event("class_created", {"name": "5А"}, school)  # no class_id
    deliver(container, config, "on_class_created", bad)
    with transaction(factory) as s:
        dead = s.execute(select(store.tables["dead_letters"])).all()
        assert [(d.consumer, d.event_id) for d in dead] == [("identity.class_created", bad["id"])]
        assert s.scalar(select(func.count()).select_from(store.ClassTeacher)) == 0
