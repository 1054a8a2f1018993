"""Secrets at rest: TOTP secrets and signing keys are
sealed with the key-encryption key (identity.sealing), never stored in
plaintext; a wrong key fails closed. Real RabbitMQ and PostgreSQL."""
from __future__ import annotations

import base64
import json
import logging
import os
import stat
import time

import grpc
import jwt
import pyotp
import pytest
from alembic import command
from ejournal.identity.v1 import identity_pb2
from nameko.testing.services import entrypoint_hook
from sqlalchemy import create_engine, text

from kernel.auth import KeySet
from kernel.migrate import alembic_config, upgrade

from identity import credentials, sealing, totp
from identity.errors import SecretsUnavailable
from identity.grpc_server import IdentityServicer
from identity_helpers import Aborted, StubContext, ctx_of

PASSWORD = "correct-horse-42"


@pytest.fixture
def other_key(identity_secret_key):
    """Run the test body with another KEK than the one the data was sealed with."""
    def switch():
        sealing.use_key(sealing.generate_key())
    yield switch
    sealing.use_key(identity_secret_key)


def call(container, method, *args):
    with entrypoint_hook(container, method) as hook:
        return hook(*args)


def login(servicer, name, code=""):
    context = StubContext()
    try:
        return servicer.Login(identity_pb2.LoginRequest(login=name, password=PASSWORD, totp_code=code), context)
    except Aborted:
        return context


def raw(db_url, sql, **params):
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), params)
            return result.all() if result.returns_rows else None
    finally:
        engine.dispose()


def enrolled(container, make, login_name):
    """A teacher with TOTP on; ``(user, secret, recovery codes)``."""
    school = make.school()
    teacher = make.user(school, ["teacher"], login=login_name)
    secret = call(container, "begin_totp", ctx_of(teacher))["secret"]
    codes = call(container, "confirm_totp", ctx_of(teacher), pyotp.TOTP(secret).now())["recovery_codes"]
    return teacher, secret, codes


def next_code(secret):
    # The confirming code's step is spent; the next step is inside the drift window.
    return pyotp.TOTP(secret).at(time.time() + 30)


def test_totp_secret_and_recovery_codes_are_not_stored_in_plaintext(container, servicer, make, db_url):
    teacher, secret, codes = enrolled(container, make, "sealed.totp")
    ((stored, hashes),) = raw(db_url, "SELECT secret_sealed, recovery_hashes FROM totp_secrets WHERE user_id = :u",
                              u=teacher.id)
    assert sealing.is_sealed(stored) and secret not in stored
    assert secret.encode() not in base64.urlsafe_b64decode(stored.split(".")[2] + "==")
    stored_hashes = hashes if isinstance(hashes, list) else json.loads(hashes)
    assert len(stored_hashes) == 10 and not set(codes) & set(stored_hashes)
    assert set(stored_hashes) == {totp.recovery_hash(c) for c in codes}
    # keyed with the KEK: the plain SHA-256 of a code (brute-forceable, ~49 bits) is not stored
    assert not {totp.recovery_sha256(c) for c in codes} & set(stored_hashes)
    assert login(servicer, "sealed.totp", codes[3]).access_token
    # ...and login with the second factor still works
    assert login(servicer, "sealed.totp").code == grpc.StatusCode.UNAUTHENTICATED
    pair = login(servicer, "sealed.totp", next_code(secret))
    assert pair.access_token and pair.user_id == teacher.id


def test_signing_keys_are_sealed_and_still_sign(servicer, factory, db_url):
    kid, _ = servicer.signing_key()
    ((stored,),) = raw(db_url, "SELECT private_key_sealed FROM signing_keys WHERE kid = :k", k=kid)
    assert sealing.is_sealed(stored) and "PRIVATE KEY" not in stored
    pem = sealing.box().open(stored, context=sealing.signing_key_context(kid))
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    token = credentials.issue_access_token(
        private_key=credentials.load_private_key(pem), kid=kid, user_id="u1", school_id="s1", roles=["teacher"],
        login="x", ttl=60)
    jwks = servicer.GetPublicKeys(identity_pb2.PublicKeysRequest(), StubContext()).jwks_json
    assert KeySet(jwks).verify(token).user_id == "u1"


def test_rotate_seals_the_new_key(factory, db_url):
    from identity import keys

    kid = keys.rotate(factory)
    ((stored,),) = raw(db_url, "SELECT private_key_sealed FROM signing_keys WHERE kid = :k", k=kid)
    assert sealing.is_sealed(stored) and "PRIVATE KEY" not in stored


def test_a_wrong_key_fails_closed_with_a_clear_error(container, make, factory, other_key, caplog):
    _, _, codes = enrolled(container, make, "wrong.key")
    IdentityServicer(factory).signing_key()  # a signing key sealed with the right KEK
    other_key()
    fresh = IdentityServicer(factory)  # a process started with the wrong KEK
    with caplog.at_level(logging.ERROR, logger="identity.store"):
        context = login(fresh, "wrong.key", "123456")
    # no token, no way around the second factor: 503 at the gateway
    assert isinstance(context, StubContext) and context.code == grpc.StatusCode.UNAVAILABLE
    assert context.error["code"] == "SERVICE_UNAVAILABLE" and "администратор" in context.error["message"]
    assert any("sealed with identity secret key" in r.getMessage() and sealing.box().key_id in r.getMessage()
               for r in caplog.records)
    # a recovery code does not get around it either (its keyed hash does not match)
    assert login(fresh, "wrong.key", codes[0]).error["code"] == "INVALID_CREDENTIALS"
    context = StubContext()
    with pytest.raises(Aborted):
        fresh.GetPublicKeys(identity_pb2.PublicKeysRequest(), context)
    assert context.code == grpc.StatusCode.UNAVAILABLE
    # nameko: enrolment answers SERVICE_UNAVAILABLE (the gateway's 503), it does not crash
    teacher = make.user(make.school(), ["teacher"], login="wrong.key2")
    call(container, "begin_totp", ctx_of(teacher))  # sealed with the key of that moment
    sealing.use_key(sealing.generate_key())  # ...and the key changes again
    with pytest.raises(SecretsUnavailable):
        call(container, "confirm_totp", ctx_of(teacher), "123456")


def test_a_sealed_secret_copied_to_another_user_does_not_open(container, servicer, make, db_url):
    _, secret, _ = enrolled(container, make, "victim")
    attacker, _, _ = enrolled(container, make, "attacker")
    raw(db_url, "UPDATE totp_secrets SET secret_sealed = (SELECT t.secret_sealed FROM totp_secrets t "
                "JOIN users u ON u.id = t.user_id WHERE u.login = 'victim') WHERE user_id = :a", a=attacker.id)
    context = login(servicer, "attacker", next_code(secret))
    assert isinstance(context, StubContext) and context.code == grpc.StatusCode.UNAVAILABLE


def test_sealing_round_trip_and_tamper_detection():
    box = sealing.SecretBox(sealing.generate_key())
    sealed = box.seal("JBSWY3DPEHPK3PXP", context="totp:u1")
    assert sealed != box.seal("JBSWY3DPEHPK3PXP", context="totp:u1")  # a fresh nonce each time
    assert box.open(sealed, context="totp:u1") == "JBSWY3DPEHPK3PXP"
    with pytest.raises(sealing.DamagedSecret):
        box.open(sealed, context="totp:u2")
    head, kid, body = sealed.split(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    with pytest.raises(sealing.DamagedSecret):
        box.open(f"{head}.{kid}.{flipped}", context="totp:u1")
    with pytest.raises(sealing.DamagedSecret):
        box.open("JBSWY3DPEHPK3PXP", context="totp:u1")
    with pytest.raises(sealing.WrongSecretKey, match="sealed with identity secret key"):
        sealing.SecretBox(sealing.generate_key()).open(sealed, context="totp:u1")


def test_the_key_file_is_created_once_and_private(tmp_path):
    key = sealing.load_key(tmp_path, environ={})
    path = tmp_path / "keys" / "identity.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sealing.load_key(tmp_path, environ={}) == key
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
    other = sealing.generate_key()
    assert sealing.load_key(tmp_path, environ={sealing.KEY_ENV: base64.b64encode(other).decode()}) == other
    with pytest.raises(ValueError, match=sealing.KEY_ENV):
        sealing.load_key(tmp_path, environ={sealing.KEY_ENV: "c2hvcnQ="})


def test_0004_seals_existing_rows_and_downgrade_opens_them(pg_databases):
    url = pg_databases.create("identity_seal")
    upgrade("identity", url, "0002_access")
    new = credentials.new_signing_key()
    secret = totp.new_secret()
    raw(url, "INSERT INTO schools (id, name, created_at) VALUES ('s1', 'Школа', now())")
    raw(url, "INSERT INTO users (id, school_id, login, login_key, full_name, password_hash, roles, active, "
             "created_at) VALUES ('u1', 's1', 'T', 't', 'Учитель', 'x', '[\"teacher\"]', true, now())")
    code = totp.new_recovery_codes()[0]
    raw(url, "INSERT INTO totp_secrets (user_id, secret, enabled, recovery_hashes, created_at) "
             "VALUES ('u1', :s, true, :h, now())", s=secret, h=json.dumps([totp.recovery_sha256(code)]))
    raw(url, "INSERT INTO signing_keys (kid, private_pem, public_jwk, created_at, active) "
             "VALUES (:k, :p, '{}', now(), true)", k=new.kid, p=new.private_pem)
    upgrade("identity", url)
    ((sealed_secret,),) = raw(url, "SELECT secret_sealed FROM totp_secrets")
    ((sealed_key,),) = raw(url, "SELECT private_key_sealed FROM signing_keys")
    assert sealing.is_sealed(sealed_secret) and secret not in sealed_secret
    assert sealing.is_sealed(sealed_key) and "PRIVATE KEY" not in sealed_key
    assert sealing.box().open(sealed_secret, context="totp:u1") == secret
    assert sealing.box().open(sealed_key, context=f"signing-key:{new.kid}") == new.private_pem
    ((hashes,),) = raw(url, "SELECT recovery_hashes FROM totp_secrets")
    assert hashes == [totp.recovery_hash(code)] and hashes[0].startswith("h1:")
    command.downgrade(alembic_config("identity", url), "0002_access")
    assert raw(url, "SELECT secret FROM totp_secrets") == [(secret,)]
    assert raw(url, "SELECT private_pem FROM signing_keys") == [(new.private_pem,)]
    assert raw(url, "SELECT recovery_hashes FROM totp_secrets") == [([],)]  # an HMAC cannot be undone
    upgrade("identity", url)
    ((again,),) = raw(url, "SELECT secret_sealed FROM totp_secrets")
    assert sealing.box().open(again, context="totp:u1") == secret
