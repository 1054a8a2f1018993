"""Fixtures of the gateway tests: an app with fake service clients and a
signing key that mints identity-style access tokens."""
from __future__ import annotations

import pytest

from kernel import config as kernel_config

from gateway.app import create_app

from gateway_fakes import FakeClients, SigningKey, jwks_of


@pytest.fixture
def signing_key():
    return SigningKey()


@pytest.fixture
def fake(signing_key):
    return FakeClients(jwks_of(signing_key))


@pytest.fixture
def app(fake):
    return create_app({"TESTING": True, "SETTINGS": kernel_config.load()}, clients=fake)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def auth(signing_key):
    """``auth(roles=..., sub=..., school_id=...)`` -> request headers with a valid token."""
    def make(**claims):
        return {"Authorization": f"Bearer {signing_key.token(**claims)}"}
    return make
