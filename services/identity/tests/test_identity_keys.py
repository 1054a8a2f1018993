"""Key rotation without logging everyone out (key ids)."""
from __future__ import annotations

import datetime as dt

import pytest
from ejournal.identity.v1 import identity_pb2
from sqlalchemy import select

from kernel.auth import KeySet, TokenError
from kernel.db import transaction
from kernel.events import utcnow

from identity import keys, store
from identity.grpc_server import IdentityServicer
from identity_helpers import StubContext


def jwks(servicer) -> KeySet:
    return KeySet(servicer.GetPublicKeys(identity_pb2.PublicKeysRequest(), StubContext()).jwks_json)


def login(servicer):
    return servicer.Login(identity_pb2.LoginRequest(login="rotor", password="correct-horse-42"), StubContext())


def test_rotation_keeps_old_tokens_valid_until_retired(factory, make):
    make.user(make.school(), ["teacher"], login="rotor")
    servicer = IdentityServicer(factory, access_ttl=900)
    before = login(servicer).access_token
    new_kid = keys.rotate(factory)
    after = login(servicer).access_token
    keyset = jwks(servicer)
    assert keyset.verify(before).user_id == keyset.verify(after).user_id  # both verify
    import jwt
    assert jwt.get_unverified_header(after)["kid"] == new_kid != jwt.get_unverified_header(before)["kid"]
    assert keys.retire(factory, older_than=dt.timedelta(minutes=16)) == []  # too early: tokens may live
    with transaction(factory) as s:  # pretend the rotation was 20 minutes ago
        for key in s.scalars(select(store.SigningKey)):
            key.created_at = utcnow() - dt.timedelta(minutes=20 if key.kid == new_kid else 30)
    assert len(keys.retire(factory, older_than=dt.timedelta(minutes=16))) == 1
    keyset = jwks(servicer)
    keyset.verify(after)
    with pytest.raises(TokenError):
        keyset.verify(before)
