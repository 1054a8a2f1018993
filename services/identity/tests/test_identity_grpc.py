"""The Identity gRPC servicer, its methods called directly with a stub
context (grpcio must not run inside this monkey-patched process), and one
smoke test of the real ``python -m identity.grpc_server`` process."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap

import grpc
import jwt
import pytest
from ejournal.identity.v1 import identity_pb2
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from kernel.auth import KeySet, TokenError
from kernel.db import new_id, transaction

from identity import credentials, store
from identity.grpc_server import IdentityServicer
from identity_helpers import Aborted, StubContext

PASSWORD = "correct-horse-42"


def login(servicer, login_, password=PASSWORD):
    return servicer.Login(identity_pb2.LoginRequest(login=login_, password=password, client_address="10.0.0.1"),
                          StubContext())


def login_error(servicer, login_, password=PASSWORD) -> tuple:
    context = StubContext()
    with pytest.raises(Aborted):
        servicer.Login(identity_pb2.LoginRequest(login=login_, password=password), context)
    return context.code, context.error


def keyset(servicer) -> KeySet:
    return KeySet(servicer.GetPublicKeys(identity_pb2.PublicKeysRequest(), StubContext()).jwks_json)


# --- Login ------------------------------------------------------------------------

def test_login_returns_a_token_that_kernel_keyset_verifies(servicer, make, school, factory):
    teacher = make.user(school, ["teacher", "class_teacher"], login="Petrov")
    pair = login(servicer, "petrov")  # logins are case-insensitive
    assert (pair.user_id, list(pair.roles), pair.school_id, pair.expires_in) == \
        (teacher.id, ["teacher", "class_teacher"], school, 900)
    principal = keyset(servicer).verify(pair.access_token)
    assert (principal.user_id, principal.school_id, principal.roles, principal.login) == \
        (teacher.id, school, ("teacher", "class_teacher"), "Petrov")
    header = jwt.get_unverified_header(pair.access_token)
    claims = jwt.decode(pair.access_token, options={"verify_signature": False})
    assert header["alg"] == "EdDSA" and header["kid"] in keyset(servicer)
    assert claims["typ"] == "access" and claims["exp"] - claims["iat"] == 900
    assert claims["iss"] == "ejournal-identity" and claims["aud"] == "ejournal"
    with transaction(factory) as s:
        token = s.scalars(select(store.RefreshToken)).one()
        assert token.user_id == teacher.id and token.token_hash == credentials.token_hash(pair.refresh_token)
        assert token.token_hash != pair.refresh_token and token.used_at is None and token.revoked_at is None
        assert 29.9 < (token.expires_at - token.issued_at).total_seconds() / 86400 <= 30


def test_a_token_signed_by_another_key_does_not_verify(servicer, make, school):
    make.user(school, ["admin"], login="admin")
    pair = login(servicer, "admin")
    other = credentials.new_signing_key()
    forged = credentials.issue_access_token(
        private_key=credentials.load_private_key(other.private_pem), kid=jwt.get_unverified_header(
            pair.access_token)["kid"], user_id="x", school_id=school, roles=["admin"], login="x", ttl=900)
    with pytest.raises(TokenError):
        keyset(servicer).verify(forged)


def test_access_token_ttl_comes_from_the_environment(factory, monkeypatch):
    monkeypatch.setenv("EJOURNAL_ACCESS_TOKEN_TTL", "120")
    assert IdentityServicer(factory).access_ttl == 120
    monkeypatch.setenv("EJOURNAL_ACCESS_TOKEN_TTL", "nonsense")
    assert IdentityServicer(factory).access_ttl == 900


def test_wrong_password_and_unknown_login_are_the_same_error(servicer, make, school):
    make.user(school, ["teacher"], login="petrov")
    invalid_before = REGISTRY.get_sample_value("identity_logins_total", {"result": "invalid"}) or 0
    wrong = login_error(servicer, "petrov", "wrong-password-1")
    unknown = login_error(servicer, "nobody", PASSWORD)
    empty = login_error(servicer, "", "")
    assert wrong == unknown == empty == (grpc.StatusCode.UNAUTHENTICATED,
                                         {"code": "INVALID_CREDENTIALS", "message": "Неверный логин или пароль"})
    assert REGISTRY.get_sample_value("identity_logins_total", {"result": "invalid"}) == invalid_before + 3


def test_unknown_login_costs_a_password_check_too(servicer, make, school, monkeypatch):
    """Timing: an unknown login still runs argon2 (against the dummy hash)."""
    make.user(school, ["teacher"], login="petrov")
    calls = []
    real = credentials.HASHER

    class Spy:
        def __getattr__(self, name):
            return getattr(real, name)

        def verify(self, hash_, password):
            calls.append(hash_)
            return real.verify(hash_, password)

    monkeypatch.setattr(credentials, "HASHER", Spy())
    login_error(servicer, "nobody")
    login_error(servicer, "petrov", "wrong-password-1")
    assert len(calls) == 2 and all(h.startswith("$argon2id$") for h in calls)


def test_inactive_user_is_invalid_credentials(servicer, make, school):
    make.user(school, ["teacher"], login="gone", active=False)
    assert login_error(servicer, "gone")[1]["code"] == "INVALID_CREDENTIALS"


def test_r_a4_parent_without_consent_gets_no_consent(servicer, make, school):
    parent = make.user(school, ["parent"], login="mom")
    code, error = login_error(servicer, "mom")
    assert code == grpc.StatusCode.PERMISSION_DENIED and error["code"] == "NO_CONSENT"
    assert "согласия" in error["message"]
    make.consent(school, parent.id, given=False)
    assert login_error(servicer, "mom")[1]["code"] == "NO_CONSENT"
    # a wrong password is still INVALID_CREDENTIALS: consent is only revealed to the right password
    assert login_error(servicer, "mom", "wrong-password")[1]["code"] == "INVALID_CREDENTIALS"


def test_r_a4_parent_with_consent_logs_in_and_the_latest_record_wins(servicer, make, school):
    parent = make.user(school, ["parent"], login="mom")
    make.consent(school, parent.id, given=True)
    assert login(servicer, "mom").user_id == parent.id
    make.consent(school, parent.id, given=False)  # withdrawn later
    assert login_error(servicer, "mom")[1]["code"] == "NO_CONSENT"


def test_staff_who_is_a_parent_logs_in_without_consent(servicer, make, school):
    make.user(school, ["teacher", "parent"], login="teacher.mom")
    assert login(servicer, "teacher.mom").access_token


def test_a_weak_old_hash_is_upgraded_on_login(servicer, make, school, factory):
    from argon2 import PasswordHasher
    user = make.user(school, ["teacher"], login="old")
    with transaction(factory) as s:
        store.set_password_hash(s, user_id=user.id, password_hash=PasswordHasher(
            time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD))
    login(servicer, "old")
    with transaction(factory) as s:
        upgraded = store.get_user(s, user_id=user.id).password_hash
    assert "m=19456,t=2,p=1" in upgraded and credentials.verify_password(upgraded, PASSWORD)


# --- keys ---------------------------------------------------------------------------

def test_signing_key_created_once_and_kept(servicer, factory):
    first = json.loads(servicer.GetPublicKeys(identity_pb2.PublicKeysRequest(), StubContext()).jwks_json)
    again = json.loads(IdentityServicer(factory).GetPublicKeys(identity_pb2.PublicKeysRequest(), StubContext()).jwks_json)
    assert first == again and len(first["keys"]) == 1
    key = first["keys"][0]
    assert (key["kty"], key["crv"], key["alg"]) == ("OKP", "Ed25519", "EdDSA") and "d" not in key
    with transaction(factory) as s:
        assert s.scalar(select(func.count()).select_from(store.SigningKey)) == 1


def test_every_active_key_is_published(servicer, factory):
    servicer.GetPublicKeys(identity_pb2.PublicKeysRequest(), StubContext())
    extra = credentials.new_signing_key()
    with transaction(factory) as s:
        store.add_signing_key(s, kid=extra.kid, private_pem=extra.private_pem, public_jwk=extra.public_jwk)
    assert extra.kid in keyset(servicer) and len(keyset(servicer).keys) == 2


# --- Authorize (contracts "Access decisions") ------------------------------------------

def authorize(servicer, user, action, resource_type, resource_id):
    return servicer.Authorize(identity_pb2.AuthorizeRequest(
        subject_id=user.id, school_id=user.school_id, roles=list(user.roles), action=action,
        resource_type=resource_type, resource_id=resource_id), StubContext())


def test_authorize_parent_sees_own_child_not_another(servicer, make, school):
    child, other_child = make.user(school, ["student"]), make.user(school, ["student"])
    parent = make.user(school, ["parent"])
    make.link(school, child.id, parent.id)
    make.consent(school, parent.id, given=True)
    reply = authorize(servicer, parent, "diary.read", "student", child.id)
    assert (reply.allowed, reply.denial, reply.reason) == (True, "", "parent")
    reply = authorize(servicer, parent, "diary.read", "student", other_child.id)
    assert (reply.allowed, reply.denial) == (False, "not_found")
    reply = authorize(servicer, parent, "diary.read", "student", new_id())
    assert (reply.allowed, reply.denial) == (False, "not_found")


def test_authorize_other_school_is_not_found(servicer, make, school):
    child = make.user(school, ["student"])
    foreign_admin = make.user(make.school("Школа №2"), ["admin"])
    reply = authorize(servicer, foreign_admin, "diary.read", "student", child.id)
    assert (reply.allowed, reply.denial, reply.reason) == (False, "not_found", "other_school")


def test_authorize_reports_from_the_projections(servicer, make, school):
    klass, other = new_id(), new_id()
    class_teacher, teacher = make.user(school, ["class_teacher"]), make.user(school, ["teacher"])
    idle, parent = make.user(school, ["teacher"]), make.user(school, ["parent"])
    make.klass(school, klass, class_teacher.id)
    make.klass(school, other, None, name="6Б")
    make.assign(school, teacher.id, klass)
    assert authorize(servicer, class_teacher, "report.read", "class", klass).allowed
    assert authorize(servicer, teacher, "report.read", "class", klass).allowed
    assert authorize(servicer, teacher, "report.read", "class", other).denial == "not_found"
    assert authorize(servicer, idle, "report.read", "class", klass).denial == "not_found"
    assert authorize(servicer, parent, "report.read", "class", klass).denial == "forbidden"
    assert authorize(servicer, parent, "report.read", "class", new_id()).denial == "not_found"


def test_authorize_user_read_by_class_teacher_of_the_childs_class(servicer, make, school):
    klass = new_id()
    class_teacher = make.user(school, ["class_teacher"])
    child, parent, stranger = make.user(school, ["student"]), make.user(school, ["parent"]), make.user(school, ["parent"])
    make.klass(school, klass, class_teacher.id)
    make.enroll(school, child.id, klass)
    make.link(school, child.id, parent.id)
    assert authorize(servicer, class_teacher, "user.read", "user", child.id).allowed
    assert authorize(servicer, class_teacher, "user.read", "user", parent.id).allowed
    assert authorize(servicer, class_teacher, "user.read", "user", stranger.id).denial == "not_found"


def test_authorize_requires_its_fields(servicer):
    context = StubContext()
    with pytest.raises(Aborted):
        servicer.Authorize(identity_pb2.AuthorizeRequest(subject_id="x", action="diary.read"), context)
    assert context.code == grpc.StatusCode.INVALID_ARGUMENT and context.error["code"] == "VALIDATION_ERROR"


# --- GetProfile -----------------------------------------------------------------------

def test_profile_of_a_parent_lists_children_with_classes(servicer, make, school):
    klass = new_id()
    parent = make.user(school, ["parent"], full_name="Иванова Мария")
    older = make.user(school, ["student"], full_name="Иванов Антон")
    younger = make.user(school, ["student"], full_name="Иванова Юля")
    make.link(school, older.id, parent.id)
    make.link(school, younger.id, parent.id)
    make.enroll(school, older.id, klass)
    profile = servicer.GetProfile(identity_pb2.ProfileRequest(user_id=parent.id), StubContext())
    assert (profile.id, profile.full_name, list(profile.roles), profile.school_id) == \
        (parent.id, "Иванова Мария", ["parent"], school)
    assert [(c.id, c.full_name, c.class_id) for c in profile.children] == \
        [(older.id, "Иванов Антон", klass), (younger.id, "Иванова Юля", "")]


def test_profile_classes_of_class_teacher_and_student(servicer, make, school):
    klass = new_id()
    teacher = make.user(school, ["teacher", "class_teacher"])
    student = make.user(school, ["student"])
    make.klass(school, klass, teacher.id)
    make.enroll(school, student.id, klass)
    t = servicer.GetProfile(identity_pb2.ProfileRequest(user_id=teacher.id), StubContext())
    s = servicer.GetProfile(identity_pb2.ProfileRequest(user_id=student.id), StubContext())
    assert [(c.id, c.role) for c in t.classes] == [(klass, "class_teacher")]
    assert [(c.id, c.role) for c in s.classes] == [(klass, "student")] and not s.children


def test_profile_of_unknown_user_is_not_found(servicer):
    context = StubContext()
    with pytest.raises(Aborted):
        servicer.GetProfile(identity_pb2.ProfileRequest(user_id=new_id()), context)
    assert context.code == grpc.StatusCode.NOT_FOUND and context.error["code"] == "NOT_FOUND"


# --- the real process ----------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


CLIENT = textwrap.dedent("""
    import json, sys, grpc
    from ejournal.identity.v1 import identity_pb2, identity_pb2_grpc
    from ejournal.export.v1 import export_pb2, export_pb2_grpc
    from kernel.auth import KeySet
    channel = grpc.insecure_channel(sys.argv[1])
    grpc.channel_ready_future(channel).result(timeout=20)
    stub = identity_pb2_grpc.IdentityStub(channel)
    pair = stub.Login(identity_pb2.LoginRequest(login="admin", password=sys.argv[2]), timeout=10)
    jwks = stub.GetPublicKeys(identity_pb2.PublicKeysRequest(), timeout=10).jwks_json
    principal = KeySet(jwks).verify(pair.access_token)
    try:
        stub.Login(identity_pb2.LoginRequest(login="admin", password="wrong-password"), timeout=10)
        denied = None
    except grpc.RpcError as exc:
        denied = [exc.code().name, json.loads(exc.details())["code"]]
    counts = export_pb2_grpc.ExportStub(channel).CountRows(export_pb2.ExportRequest(), timeout=10).counts
    print(json.dumps({"user_id": principal.user_id, "denied": denied, "users": counts["users"]}))
""")


def test_grpc_server_process_serves_login_keys_and_export(make, school, db_url):
    """``python -m identity.grpc_server`` as a subprocess, called by a client subprocess."""
    admin = make.user(school, ["admin"], login="admin")
    port = free_port()
    env = {**os.environ, "EJOURNAL_IDENTITY_DATABASE_URL": db_url, "EJOURNAL_IDENTITY_GRPC_PORT": str(port),
           "EJOURNAL_IDENTITY_GRPC_METRICS_PORT": str(free_port())}
    env.pop("EJOURNAL_TEST_EVENTLET", None)
    server = subprocess.Popen([sys.executable, "-m", "identity.grpc_server"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        client = subprocess.run([sys.executable, "-c", CLIENT, f"127.0.0.1:{port}", PASSWORD], env=env,
                                capture_output=True, text=True, timeout=60)
        assert client.returncode == 0, client.stderr
        result = json.loads(client.stdout)
        assert result == {"user_id": admin.id, "denied": ["UNAUTHENTICATED", "INVALID_CREDENTIALS"], "users": 1}
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.returncode == 0, server.stdout.read().decode()
