"""Login throttling on the embedded default (SQLite, `make run`), through
identity's real Login on a database made by identity's own migrations."""
from __future__ import annotations

import datetime as dt

import grpc
import pytest
from ejournal.identity.v1 import identity_pb2
from sqlalchemy import update

from kernel.db import make_engine, session_factory, transaction
from kernel.events import utcnow
from kernel.migrate import upgrade

from identity import domain, store
from identity.grpc_server import IdentityServicer
from identity_helpers import Aborted, Factories, StubContext

PASSWORD = "correct-horse-42"


@pytest.fixture
def sqlite_factory(tmp_path):
    url = f"sqlite:///{tmp_path / 'identity.db'}"
    upgrade("identity", url)
    engine = make_engine(url)
    yield session_factory(engine)
    engine.dispose()


def attempt(servicer, password: str):
    """``(status code, error)`` of a failed Login, or ``(None, token pair)``."""
    context = StubContext()
    request = identity_pb2.LoginRequest(login="petrova", password=password, client_address="127.0.0.1")
    try:
        return None, servicer.Login(request, context)
    except Aborted:
        return context.code, context.error


def test_throttled_login_answers_too_many_attempts_then_lets_the_right_password_in(sqlite_factory):
    """R-A2 / ASVS 2.2.1 on SQLite: five wrong passwords, then the right one
    is refused with TOO_MANY_ATTEMPTS and a retry-after (the gateway's 429,
    not a 500 from comparing naive and aware datetimes); once the delay has
    passed, the right password logs in and the failures are cleared."""
    make = Factories(sqlite_factory)
    user = make.user(make.school(), ["parent"], login="petrova", password=PASSWORD)
    make.consent(user.school_id, user.id)
    servicer = IdentityServicer(sqlite_factory, access_ttl=900)

    for _ in range(domain.FREE_FAILURES):
        code, error = attempt(servicer, "wrong-password")
        assert (code, error["code"]) == (grpc.StatusCode.UNAUTHENTICATED, "INVALID_CREDENTIALS")

    code, error = attempt(servicer, PASSWORD)
    assert (code, error["code"]) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "TOO_MANY_ATTEMPTS")
    assert error["details"]["retry_after"] >= 1

    # the delay has passed (the failures stay within the hour's window)
    with transaction(sqlite_factory) as s:
        s.execute(update(store.LoginFailure).values(at=utcnow() - dt.timedelta(minutes=10)))
    code, pair = attempt(servicer, PASSWORD)
    assert code is None and pair.user_id == user.id
    with transaction(sqlite_factory) as s:
        assert store.login_failures(s, key="login:petrova", since=utcnow() - domain.THROTTLE_WINDOW)[0] == 0
