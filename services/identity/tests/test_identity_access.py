"""Access in identity itself, on the real RabbitMQ and PostgreSQL: login
throttling, rotating refresh tokens, logout, password change, audited role
changes (R-A5), consent withdrawal ending sessions (R-A4), class-scoped
family management (R-A2), the common-password list."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from ejournal.identity.v1 import identity_pb2
from nameko.testing.services import entrypoint_hook
from sqlalchemy import func, select

from kernel.db import transaction

from identity import domain, store
from identity.errors import Forbidden, NotFound, ValidationError
from identity_helpers import Aborted, StubContext, ctx_of

PASSWORD = "correct-horse-42"


def call(container, method, *args):
    with entrypoint_hook(container, method) as hook:
        return hook(*args)


def grpc_error(method, request) -> tuple:
    context = StubContext()
    with pytest.raises(Aborted):
        method(request, context)
    return context.code.name, context.error


def login(servicer, login_, password=PASSWORD, address="10.0.0.1"):
    return servicer.Login(identity_pb2.LoginRequest(login=login_, password=password, client_address=address),
                          StubContext())


def audit(factory, action):
    with transaction(factory) as s:
        return [(r.actor_id, r.target_id, r.before, r.after)
                for r in s.scalars(select(store.AuditRecord).where(store.AuditRecord.action == action))]


# --- throttling (ASVS 2.2.1) ------------------------------------------------------------

def test_throttle_policy_grows_and_caps():
    now = dt.datetime(2026, 11, 1, 12, tzinfo=dt.timezone.utc)
    assert domain.throttle(4, now, 0, 1000, now).allowed
    assert domain.throttle(5, now, 0, 1000, now) == domain.Throttle(False, 1, "delay")
    assert domain.throttle(8, now, 0, 1000, now).retry_after == 8
    assert domain.throttle(8, now - dt.timedelta(seconds=9), 0, 1000, now).allowed
    assert domain.throttle(100, now - dt.timedelta(hours=1), 0, 1000, now).reason == "account_limit"
    assert domain.throttle(0, None, 1000, 1000, now).reason == "address_limit"
    assert domain.throttle(0, None, 5000, 0, now).allowed  # cap switched off


def test_brute_force_is_throttled_the_same_for_known_and_unknown_logins(servicer, make, school, factory):
    make.user(school, ["teacher"], login="victim")
    for name in ("victim", "nobody-here"):
        for _ in range(domain.FREE_FAILURES):
            code, err = grpc_error(servicer.Login, identity_pb2.LoginRequest(login=name, password="wrong-guess-1"))
            assert (code, err["code"]) == ("UNAUTHENTICATED", "INVALID_CREDENTIALS")
        # the right password no longer helps while the delay runs
        code, err = grpc_error(servicer.Login, identity_pb2.LoginRequest(login=name, password=PASSWORD))
        assert (code, err["code"]) == ("RESOURCE_EXHAUSTED", "TOO_MANY_ATTEMPTS")
        assert err["details"]["retry_after"] >= 1
    locked = audit(factory, "login_locked")
    assert len(locked) == 2 and {t for _, t, _, _ in locked} >= {"login:nobody-here"}


def test_success_after_failures_clears_them_and_is_audited(servicer, make, school, factory):
    user = make.user(school, ["teacher"], login="forgetful")
    with transaction(factory) as s:  # five failures long enough ago that the delay has passed
        store.add_login_failures(s, keys=["login:forgetful"] * 5,
                                 at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5))
    assert login(servicer, "forgetful").user_id == user.id
    assert audit(factory, "login_unlocked") == [(None, user.id, {"failures": 5}, None)]
    with transaction(factory) as s:
        assert store.login_failures(s, key="login:forgetful", since=dt.datetime(2000, 1, 1,
                                                                                 tzinfo=dt.timezone.utc))[0] == 0


def test_login_reads_answer_as_the_reads_they_join(servicer, make, school, factory):
    user = make.user(school, ["teacher"], login="Joined")
    servicer.signing_key()
    now = dt.datetime.now(dt.timezone.utc)
    with transaction(factory) as s:
        store.add_login_failures(s, keys=["login:joined", "login:joined", "addr:192.0.2.9"], at=now)
        store.add_login_failures(s, keys=["login:joined"], at=now - dt.timedelta(hours=2))  # outside the window
    since = now - dt.timedelta(hours=1)
    for typed, keys in (("JOINED", ("login:joined", "addr:192.0.2.9")), ("nobody", ("login:nobody", "addr:-"))):
        with transaction(factory) as s:
            joined = store.login_reads(s.connection(), account_key=keys[0], address_key=keys[1], since=since,
                                       login=typed)
            found, totp_on = store.find_login_user(s, login=typed)
            apart = (store.login_failures_of(s, keys=keys, since=since), found, totp_on, store.active_signing_kid(s))
        assert joined[0] == apart[0] and joined[2:] == apart[2:]
        assert joined[1] == (None if found is None else store.LoginUser(
            found.id, found.school_id, found.login, found.password_hash, found.roles, found.active))
    assert joined[0] == {"login:nobody": (0, None), "addr:-": (0, None)} and joined[1:3] == (None, False)
    with transaction(factory) as s:
        failures, found, totp_on, kid = store.login_reads(s.connection(), account_key="login:joined",
                                                          address_key="addr:192.0.2.9", since=since, login="joined")
    assert failures["login:joined"][0] == 2 and failures["addr:192.0.2.9"][0] == 1
    assert (found.id, totp_on, kid) == (user.id, False, servicer.signing_key()[0])


def test_login_on_bare_autocommit_connections(factory, db_url, make, school):
    """The gRPC process's logins: their reads (prepared once per PostgreSQL
    connection) and refresh token on a bare connection of an autocommit
    engine of one connection, login after login, right and wrong (R-A5)."""
    from identity.grpc_server import IdentityServicer
    from kernel.db import make_engine

    engine = make_engine(db_url, isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=0)
    try:
        bare = IdentityServicer(factory, access_ttl=900, autocommit=engine)
        user = make.user(school, ["teacher", "class_teacher"], login="Bare.Login")
        for typed in ("bare.login", "BARE.LOGIN"):
            pair = bare.Login(identity_pb2.LoginRequest(login=typed, password=PASSWORD, client_address="192.0.2.5"),
                              StubContext())
            assert (pair.user_id, list(pair.roles), pair.school_id) == (user.id, ["teacher", "class_teacher"],
                                                                     school)
        code, _ = grpc_error(bare.Login, identity_pb2.LoginRequest(login="bare.login", password="wrong-" + PASSWORD,
                                                                  client_address="192.0.2.5"))
        assert code == "UNAUTHENTICATED"
        with transaction(factory) as s:
            tokens = s.execute(select(func.count()).select_from(store.RefreshToken)
                               .where(store.RefreshToken.user_id == user.id)).scalar()
            failures = store.login_failures_of(s, keys=["login:bare.login", "addr:192.0.2.5"],
                                               since=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))
        assert tokens == 2 and failures["login:bare.login"][0] == failures["addr:192.0.2.5"][0] == 1
        pair = bare.Login(identity_pb2.LoginRequest(login="bare.login", password=PASSWORD, client_address="192.0.2.5"),
                          StubContext())  # after a failure: the usual login's other path, then the prepared read again
        assert pair.user_id == user.id
        with engine.connect() as connection:
            failures, found, totp_on, _ = store.login_reads(connection, account_key="login:bare.login",
                                                            address_key="addr:192.0.2.5", since=dt.datetime(
                                                                2000, 1, 1, tzinfo=dt.timezone.utc), login="bare.login")
        assert failures["login:bare.login"] == (0, None) and failures["addr:192.0.2.5"][0] == 1
        assert failures["addr:192.0.2.5"][1].tzinfo is not None and (found.active, totp_on) == (True, False)
    finally:
        engine.dispose()


def test_per_address_cap(servicer, make, school, monkeypatch):
    make.user(school, ["teacher"], login="spray1")
    monkeypatch.setenv("EJOURNAL_LOGIN_ADDRESS_LIMIT", "3")
    for i in range(3):
        grpc_error(servicer.Login, identity_pb2.LoginRequest(login=f"spray-other{i}", password="x" * 12,
                                                             client_address="192.0.2.7"))
    code, err = grpc_error(servicer.Login, identity_pb2.LoginRequest(login="spray1", password=PASSWORD,
                                                                     client_address="192.0.2.7"))
    assert err["code"] == "TOO_MANY_ATTEMPTS"
    assert login(servicer, "spray1", address="192.0.2.8").access_token  # another address is not affected


# --- refresh tokens ------------------------------------------------------------------------

def test_refresh_rotates_and_reuse_revokes_the_family(servicer, make, school, factory):
    make.user(school, ["teacher"], login="rotator")
    first = login(servicer, "rotator")
    second = servicer.Refresh(identity_pb2.RefreshRequest(refresh_token=first.refresh_token), StubContext())
    assert second.refresh_token != first.refresh_token and second.access_token
    third = servicer.Refresh(identity_pb2.RefreshRequest(refresh_token=second.refresh_token), StubContext())
    # an attacker replays the spent first token: the whole family dies, the live third token too
    code, err = grpc_error(servicer.Refresh, identity_pb2.RefreshRequest(refresh_token=first.refresh_token))
    assert (code, err["code"]) == ("UNAUTHENTICATED", "INVALID_TOKEN")
    code, err = grpc_error(servicer.Refresh, identity_pb2.RefreshRequest(refresh_token=third.refresh_token))
    assert err["code"] == "INVALID_TOKEN"
    assert [a for a, *_ in audit(factory, "refresh_reuse")] == [None]
    # another login (another family) is untouched
    other = login(servicer, "rotator")
    assert servicer.Refresh(identity_pb2.RefreshRequest(refresh_token=other.refresh_token), StubContext())


def test_refresh_rejects_unknown_and_expired(servicer, make, school, factory):
    make.user(school, ["teacher"], login="expiring")
    pair = login(servicer, "expiring")
    assert grpc_error(servicer.Refresh, identity_pb2.RefreshRequest(refresh_token="nope"))[1]["code"] == "INVALID_TOKEN"
    with transaction(factory) as s:
        for row in s.scalars(select(store.RefreshToken)):
            row.expires_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    assert grpc_error(servicer.Refresh,
                      identity_pb2.RefreshRequest(refresh_token=pair.refresh_token))[1]["code"] == "INVALID_TOKEN"


def test_logout_revokes_only_the_callers_own_session(servicer, make, school):
    alice = make.user(school, ["teacher"], login="alice1")
    make.user(school, ["teacher"], login="bob1")
    a, b = login(servicer, "alice1"), login(servicer, "bob1")
    # Alice presents Bob's token: nothing happens
    assert not servicer.Logout(identity_pb2.LogoutRequest(refresh_token=b.refresh_token, user_id=alice.id),
                               StubContext()).revoked
    assert servicer.Logout(identity_pb2.LogoutRequest(refresh_token=a.refresh_token, user_id=alice.id),
                           StubContext()).revoked
    assert grpc_error(servicer.Refresh,
                      identity_pb2.RefreshRequest(refresh_token=a.refresh_token))[1]["code"] == "INVALID_TOKEN"
    assert servicer.Refresh(identity_pb2.RefreshRequest(refresh_token=b.refresh_token), StubContext())


# --- consent withdrawal (R-A4) --------------------------------------------------------------

def test_r_a4_withdrawn_consent_ends_the_parents_sessions(container, servicer, make, school, factory):
    admin = make.user(school, ["admin"], login="adm")
    parent = make.user(school, ["parent"], login="mother1")
    make.consent(school, parent.id, True)
    pair = login(servicer, "mother1")
    call(container, "record_consent", ctx_of(admin), parent.id, False, "2026-09-02")
    assert grpc_error(servicer.Refresh,
                      identity_pb2.RefreshRequest(refresh_token=pair.refresh_token))[1]["code"] == "INVALID_TOKEN"
    assert grpc_error(servicer.Login, identity_pb2.LoginRequest(login="mother1", password=PASSWORD))[1]["code"] \
        == "NO_CONSENT"
    assert audit(factory, "consent_recorded") == [(admin.id, parent.id, {"given": True}, {"given": False})]


def test_r_a2_class_teacher_manages_only_families_of_their_class(container, make, school):
    ct_a = make.user(school, ["teacher", "class_teacher"], login="ct-a")
    ct_b = make.user(school, ["teacher", "class_teacher"], login="ct-b")
    make.klass(school, "cls-a", teacher_id=ct_a.id)
    make.klass(school, "cls-b", teacher_id=ct_b.id, name="5Б")
    student = make.user(school, ["student"], login="pupil-a")
    parent = make.user(school, ["parent"], login="parent-a")
    make.enroll(school, student.id, "cls-a")
    make.link(school, student.id, parent.id)
    with pytest.raises(NotFound):
        call(container, "record_consent", ctx_of(ct_b), parent.id, True, "2026-09-01")
    with pytest.raises(NotFound):
        call(container, "link_parent", ctx_of(ct_b), student.id, parent.id, "отец")
    assert call(container, "record_consent", ctx_of(ct_a), parent.id, True, "2026-09-01")["given"] is True


# --- password change and roles (R-A5) -------------------------------------------------------

def test_change_password_checks_the_old_one_and_ends_sessions(container, servicer, make, school):
    user = make.user(school, ["teacher"], login="changer")
    pair = login(servicer, "changer")
    with pytest.raises(ValidationError):
        call(container, "change_password", ctx_of(user), "wrong-old-password", "brand-new-pass-77")
    with pytest.raises(ValidationError) as err:  # staff: at least 12 characters
        call(container, "change_password", ctx_of(user), PASSWORD, "short-1")
    assert err.value.details["min"] == 12
    with pytest.raises(ValidationError):  # on the common list
        call(container, "change_password", ctx_of(user), PASSWORD, "qwertyuiop123")
    call(container, "change_password", ctx_of(user), PASSWORD, "brand-new-pass-77")
    assert grpc_error(servicer.Refresh,
                      identity_pb2.RefreshRequest(refresh_token=pair.refresh_token))[1]["code"] == "INVALID_TOKEN"
    assert login(servicer, "changer", "brand-new-pass-77").access_token


def test_r_a5_only_admin_sets_roles_never_their_own_and_it_is_audited(container, servicer, make, school, factory):
    admin = make.user(school, ["admin"], login="adm2")
    teacher = make.user(school, ["teacher", "class_teacher"], login="t-esc")
    director = make.user(school, ["director"], login="dir-esc")
    for actor in (teacher, director):
        with pytest.raises(Forbidden):  # escalation by a non-admin, own or anyone's
            call(container, "set_roles", ctx_of(actor), actor.id, ["admin"])
        with pytest.raises(Forbidden):
            call(container, "set_roles", ctx_of(actor), admin.id, ["student"])
    with pytest.raises(Forbidden):
        call(container, "set_roles", ctx_of(admin), admin.id, ["admin", "director"])
    with pytest.raises(ValidationError):
        call(container, "set_roles", ctx_of(admin), teacher.id, ["superuser"])
    other = make.user(make.school("Школа №2"), ["teacher"], login="t-other")
    with pytest.raises(NotFound):
        call(container, "set_roles", ctx_of(admin), other.id, ["deputy"])
    pair = login(servicer, "t-esc")
    answer = call(container, "set_roles", ctx_of(admin), teacher.id, ["teacher", "deputy"])
    assert answer["roles"] == ["teacher", "deputy"]
    assert audit(factory, "roles_changed") == [(admin.id, teacher.id, {"roles": ["teacher", "class_teacher"]},
                                                {"roles": ["teacher", "deputy"]})]
    # the old session carried the old roles: it is over
    assert grpc_error(servicer.Refresh,
                      identity_pb2.RefreshRequest(refresh_token=pair.refresh_token))[1]["code"] == "INVALID_TOKEN"
    with transaction(factory) as s:
        outbox = store.tables["outbox"]
        types = sorted(s.execute(select(outbox.c.event_type)).scalars())
        assert types == ["roles_changed", "sessions_revoked"]  # the old access token ends too
    listed = call(container, "list_audit", ctx_of(admin), teacher.id, None, 10)
    assert [i["action"] for i in listed["items"]] == ["roles_changed"]
    # the date range: its days in UTC, both ends inclusive
    today = listed["items"][0]["at"][:10]
    tomorrow = (dt.date.fromisoformat(today) + dt.timedelta(days=1)).isoformat()
    yesterday = (dt.date.fromisoformat(today) - dt.timedelta(days=1)).isoformat()
    assert len(call(container, "list_audit", ctx_of(admin), teacher.id, None, 10, today, today)["items"]) == 1
    assert call(container, "list_audit", ctx_of(admin), teacher.id, None, 10, tomorrow, None)["items"] == []
    assert call(container, "list_audit", ctx_of(admin), teacher.id, None, 10, None, yesterday)["items"] == []
    with pytest.raises(ValidationError):
        call(container, "list_audit", ctx_of(admin), None, None, 10, "7 декабря", None)
    with pytest.raises(Forbidden):
        call(container, "list_audit", ctx_of(director), None, None, 10)


def test_common_and_repetitive_passwords_are_refused():
    for bad in ("Password123", "qwertyuiop123", "aaaaaaaaaaaaaa", "abababababab", "йцукен123"):
        with pytest.raises(ValidationError):
            domain.validate_password(bad, roles=("parent",))
    assert domain.validate_password("river-stone-74", roles=("teacher",))


# --- R-A6: the access log and monthly activity --------------------------------------------------

def test_r_a6_access_events_are_kept_queried_and_counted(container, config, make, school):
    from nameko.standalone.events import event_dispatcher
    from nameko.testing.services import entrypoint_waiter
    from kernel.events import envelope

    admin = make.user(school, ["admin"], login="adm6")
    deputy = make.user(school, ["deputy"], login="dep6")
    student = make.user(school, ["student"], login="kid6")
    parent = make.user(school, ["parent"], login="mom6")
    make.klass(school, "cls-6", name="6А")
    make.enroll(school, student.id, "cls-6")
    make.link(school, student.id, parent.id)
    dispatch = event_dispatcher(config)

    def access(user, route, status=200):
        env = envelope(type="access_recorded", producer="gateway", school_id=school, actor_id=user.id,
                       correlation_id="cid-" + route.strip("/").replace("/", "-"),
                       payload={"user_id": user.id, "roles": list(user.roles), "method": "GET", "route": route,
                                "resource_id": student.id, "status": status, "address": "10.0.0.9"})
        with entrypoint_waiter(container, "on_access_recorded", timeout=10):
            dispatch("gateway", "access_recorded", env)
        return env

    first = access(parent, "/api/v1/students/<id>/diary")
    access(student, "/api/v1/students/<id>/diary")
    access(parent, "/api/v1/me", 200)
    with entrypoint_waiter(container, "on_access_recorded", timeout=10):  # a duplicate delivery: no effect
        dispatch("gateway", "access_recorded", first)
    log = call(container, "list_access", ctx_of(admin), parent.id, None, None, 50)["items"]
    assert [r["route"] for r in log] == ["/api/v1/me", "/api/v1/students/<id>/diary"]
    assert log[1]["correlation_id"] == "cid-api-v1-students-<id>-diary" and log[1]["status"] == 200
    month = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m")
    counts = call(container, "activity", ctx_of(deputy), month)
    assert {r["user_id"]: r["requests"] for r in counts["by_user"]} == {parent.id: 2, student.id: 1}
    assert counts["by_role"] == [{"role": "parent", "requests": 2}, {"role": "student", "requests": 1}]
    assert counts["by_class"] == [{"class_id": "cls-6", "requests": 3}]
    assert call(container, "activity", ctx_of(deputy), "2001-01")["by_user"] == []
    with pytest.raises(Forbidden):
        call(container, "list_access", ctx_of(deputy), None, None, None, 10)
    with pytest.raises(Forbidden):
        call(container, "activity", ctx_of(student), month)
    with pytest.raises(ValidationError):
        call(container, "activity", ctx_of(deputy), "2026-13")


def test_r_a6_a_batch_of_access_events_is_kept_in_one_go_each_event_once(container, config, make, school, factory):
    """The gateway's batches (docs/events.md): every good event kept once,
    even when the batch or one of its events comes again; a malformed
    event and one the database refuses are dead-lettered one by one, never
    costing the others."""
    from nameko.standalone.events import event_dispatcher
    from nameko.testing.services import entrypoint_waiter
    from kernel.events import envelope

    admin = make.user(school, ["admin"], login="adm8")
    parent = make.user(school, ["parent"], login="mom8")
    dispatch = event_dispatcher(config)

    def access(n, **changes):
        env = envelope(type="access_recorded", producer="gateway", school_id=school, actor_id=parent.id,
                       correlation_id=f"cid-{n}", payload={
                           "user_id": parent.id, "roles": ["parent"], "method": "GET", "route": f"/api/v1/r{n}",
                           "resource_id": None, "status": 200, "address": "10.0.0.8"})
        env.update(changes)
        return env

    def deliver(events_):
        batch = envelope(type="access_recorded_batch", producer="gateway", school_id=None, actor_id=None,
                         payload={"events": events_})
        with entrypoint_waiter(container, "on_access_recorded_batch", timeout=10):
            dispatch("gateway", "access_recorded_batch", batch)
        return batch

    good = [access(n) for n in range(5)]
    malformed = access(5, payload={"user_id": parent.id, "method": "GET"})  # no route, no status
    refused = access(6)
    refused["payload"]["status"] = 2 ** 40  # well-formed, but out of the column's range: the database refuses it
    deliver(good[:3] + [malformed] + good[3:] + [refused])
    deliver(good[1:3])  # a redelivered part (another batch): no second effect
    with entrypoint_waiter(container, "on_access_recorded", timeout=10):  # the same event alone: none either
        dispatch("gateway", "access_recorded", good[0])
    log = call(container, "list_access", ctx_of(admin), parent.id, None, None, 50)["items"]
    assert sorted(r["route"] for r in log) == [f"/api/v1/r{n}" for n in range(5)]
    assert {r["id"] for r in log} == {e["id"] for e in good}
    assert {r["correlation_id"] for r in log} == {f"cid-{n}" for n in range(5)}
    with transaction(factory) as s:
        dead = s.execute(select(store.tables["dead_letters"])).all()
    assert sorted((d.consumer, d.event_id) for d in dead) == sorted(
        [("identity.access_recorded", malformed["id"]), ("identity.access_recorded", refused["id"])])


def test_r_a6_an_event_with_broken_text_costs_only_itself(container, config, make, school, factory):
    """R-A6: a NUL (PostgreSQL refuses it in text) or a lone surrogate (not
    UTF-8) in one event of a batch: the good events before and after it are
    kept, only the bad one is dead-lettered (readably), and a redelivery
    changes nothing."""
    from nameko.standalone.events import event_dispatcher
    from nameko.testing.services import entrypoint_waiter
    from kernel.events import envelope

    admin = make.user(school, ["admin"], login="adm9")
    parent = make.user(school, ["parent"], login="mom9")
    dispatch = event_dispatcher(config)

    def access(n, resource_id=None, route=None):
        return envelope(type="access_recorded", producer="gateway", school_id=school, actor_id=parent.id,
                        correlation_id=f"cid-{n}", payload={
                            "user_id": parent.id, "roles": ["parent"], "method": "GET",
                            "route": route or f"/api/v1/r{n}", "resource_id": resource_id, "status": 400,
                            "address": "10.0.0.9"})

    first, nul, surrogate, last = (access(1), access(2, resource_id="x\u0000y"),
                                   access(3, route="/api/v1/\ud800"), access(4))
    batch = envelope(type="access_recorded_batch", producer="gateway", school_id=None, actor_id=None,
                     payload={"events": [first, nul, surrogate, last]})
    for _ in range(2):  # a redelivery changes nothing
        with entrypoint_waiter(container, "on_access_recorded_batch", timeout=10):
            dispatch("gateway", "access_recorded_batch", batch)
    log = call(container, "list_access", ctx_of(admin), parent.id, None, None, 50)["items"]
    assert sorted(r["route"] for r in log) == ["/api/v1/r1", "/api/v1/r4"]
    with transaction(factory) as s:
        dead = s.execute(select(store.tables["dead_letters"])).all()
    assert sorted(d.event_id for d in dead) == sorted([nul["id"], surrogate["id"]])  # each once
    assert all(json.loads(d.body)["id"] in (nul["id"], surrogate["id"]) for d in dead)  # kept, readable


def test_admin_unlock_clears_failures_and_is_audited(container, servicer, make, school, factory):
    admin = make.user(school, ["admin"], login="adm7")
    teacher = make.user(school, ["teacher"], login="locked7")
    director = make.user(school, ["director"], login="dir7")
    for _ in range(domain.FREE_FAILURES):
        grpc_error(servicer.Login, identity_pb2.LoginRequest(login="LOCKED7", password="wrong-guess-77"))
    assert grpc_error(servicer.Login, identity_pb2.LoginRequest(login="locked7", password=PASSWORD))[1]["code"] \
        == "TOO_MANY_ATTEMPTS"
    with pytest.raises(Forbidden):
        call(container, "unlock_login", ctx_of(director), teacher.id)
    assert call(container, "unlock_login", ctx_of(admin), teacher.id) == {"user_id": teacher.id, "cleared": 5}
    assert login(servicer, "locked7").user_id == teacher.id
    assert audit(factory, "login_unlocked") == [(admin.id, teacher.id, {"failures": 5}, None)]
    with pytest.raises(NotFound):
        call(container, "unlock_login", ctx_of(admin), make.user(make.school("Ш2"), ["teacher"], login="o7").id)


def test_admin_resets_a_password_once_ends_sessions_and_unlocks(container, servicer, make, school, factory):
    admin = make.user(school, ["admin"], login="adm8")
    parent = make.user(school, ["teacher"], login="forgot8")
    director = make.user(school, ["director"], login="dir8")
    pair = login(servicer, "forgot8")
    for _ in range(domain.FREE_FAILURES):
        grpc_error(servicer.Login, identity_pb2.LoginRequest(login="forgot8", password="wrong-guess-88"))
    with pytest.raises(Forbidden):
        call(container, "reset_password", ctx_of(director), parent.id)
    with pytest.raises(Forbidden):  # one's own password is changed in the profile
        call(container, "reset_password", ctx_of(admin), admin.id)
    with pytest.raises(NotFound):
        call(container, "reset_password", ctx_of(admin), make.user(make.school("Ш3"), ["teacher"], login="o8").id)
    answer = call(container, "reset_password", ctx_of(admin), parent.id)
    assert answer["id"] == parent.id and answer["login"] == "forgot8"
    assert len(answer["initial_password"]) >= 10
    # the new password works at once (the failed attempts are cleared); the old one does not
    assert login(servicer, "forgot8", password=answer["initial_password"]).user_id == parent.id
    assert grpc_error(servicer.Login, identity_pb2.LoginRequest(login="forgot8", password=PASSWORD))[1]["code"] \
        == "INVALID_CREDENTIALS"
    assert grpc_error(servicer.Refresh,
                      identity_pb2.RefreshRequest(refresh_token=pair.refresh_token))[1]["code"] == "INVALID_TOKEN"
    assert audit(factory, "password_reset") == [(admin.id, parent.id, {"failures": 5}, None)]
    with transaction(factory) as s:
        audited = json.dumps([r.before for r in s.scalars(select(store.AuditRecord))], default=str)
        outbox = store.tables["outbox"]
        bodies = " ".join(str(b) for b in s.execute(select(outbox)).all())
    assert answer["initial_password"] not in audited + bodies
    again = call(container, "reset_password", ctx_of(admin), parent.id)
    assert again["initial_password"] != answer["initial_password"]
