"""The TOTP second factor with recovery codes (pyotp), enrolment
over nameko RPC and login over the gRPC servicer, on real RabbitMQ and
PostgreSQL."""
from __future__ import annotations

import time

import pyotp
import pytest
from ejournal.identity.v1 import identity_pb2
from nameko.testing.services import entrypoint_hook

from identity import totp
from identity.errors import Forbidden, TotpEnabled, ValidationError
from identity_helpers import Aborted, StubContext, ctx_of

PASSWORD = "correct-horse-42"


def call(container, method, *args):
    with entrypoint_hook(container, method) as hook:
        return hook(*args)


def login(servicer, name, code=""):
    context = StubContext()
    try:
        return servicer.Login(identity_pb2.LoginRequest(login=name, password=PASSWORD, totp_code=code), context)
    except Aborted:
        return context.error["code"]


def test_totp_codes_work_once_and_only_near_now():
    secret = totp.new_secret()
    now = time.time()
    code = pyotp.TOTP(secret).at(now)
    step = totp.matching_step(secret, code, now=now)
    assert step is not None
    assert totp.matching_step(secret, code, now=now, last_step=step) is None  # replay
    assert totp.matching_step(secret, code, now=now + 600) is None  # too old
    assert totp.matching_step(secret, "12345", now=now) is None
    codes = totp.new_recovery_codes()
    assert len(set(codes)) == 10 and all(totp.is_recovery_code(c) for c in codes)


def test_staff_enrol_then_login_needs_the_code(container, servicer, make):
    school = make.school()
    teacher = make.user(school, ["teacher"], login="twofa")
    begun = call(container, "begin_totp", ctx_of(teacher))
    assert begun["otpauth_uri"].startswith("otpauth://totp/") and "twofa" in begun["otpauth_uri"]
    assert login(servicer, "twofa").access_token  # not on until confirmed
    with pytest.raises(ValidationError):
        call(container, "confirm_totp", ctx_of(teacher), "000000")
    app = pyotp.TOTP(begun["secret"])
    codes = call(container, "confirm_totp", ctx_of(teacher), app.now())["recovery_codes"]
    assert len(codes) == 10
    with pytest.raises(TotpEnabled):
        call(container, "begin_totp", ctx_of(teacher))
    assert login(servicer, "twofa") == "TOTP_REQUIRED"
    assert login(servicer, "twofa", "999999") == "INVALID_CREDENTIALS"
    # the code used to confirm is spent; a recovery code works exactly once
    assert login(servicer, "twofa", codes[0]).access_token
    assert login(servicer, "twofa", codes[0]) == "INVALID_CREDENTIALS"
    assert login(servicer, "twofa", codes[1].upper()).access_token


def test_family_cannot_enrol(container, make):
    school = make.school()
    student = make.user(school, ["student"], login="kid2")
    with pytest.raises(Forbidden):
        call(container, "begin_totp", ctx_of(student))
    with pytest.raises(ValidationError):
        call(container, "confirm_totp", ctx_of(student), "123456")
