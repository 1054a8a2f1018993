"""Fixtures of the gateway tests: an app with fake service clients and a
signing key that mints identity-style access tokens."""
from __future__ import annotations

import pytest

from kernel import config as kernel_config

from gateway.app import create_app

from gateway_fakes import FakeClients, SigningKey, jwks_of

PORTAL_KEY = "q" * 43  # the portal's session key (32 bytes, URL-safe base64): no key file in tests


@pytest.fixture
def signing_key():
    return SigningKey()


@pytest.fixture
def fake(signing_key):
    from ejournal.identity.v1 import identity_pb2
    clients = FakeClients(jwks_of(signing_key))
    # every resource route asks the central decision first; these tests are
    # about what follows, so identity allows unless a test says otherwise
    clients.identity.answers["Authorize"] = identity_pb2.AuthorizeReply(allowed=True, reason="policy")
    return clients


@pytest.fixture
def app(fake):
    return create_app({"TESTING": True, "SETTINGS": kernel_config.load(), "PORTAL_SESSION_KEY": PORTAL_KEY}, clients=fake)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def auth(signing_key):
    """``auth(roles=..., sub=..., school_id=...)`` -> request headers with a valid token."""
    def make(**claims):
        return {"Authorization": f"Bearer {signing_key.token(**claims)}"}
    return make
