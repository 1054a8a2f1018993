"""Access-token verification (R-D5): only EdDSA tokens signed by identity's
current keys, of type access, unexpired, for our issuer and audience."""
from __future__ import annotations

import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from gateway_fakes import SigningKey, b64url, jwks_of

P = "/api/v1"


@pytest.fixture
def me_ok(fake):
    from ejournal.identity.v1 import identity_pb2
    fake.identity.answers["GetProfile"] = lambda req: identity_pb2.Profile(id=req.user_id, login="u", roles=["teacher"])
    return fake


def get_me(client, token):
    return client.get(f"{P}/me", headers={"Authorization": f"Bearer {token}"})


def assert_invalid(response):
    assert response.status_code == 401
    body = response.get_json()
    assert body["error"] == "INVALID_TOKEN"
    assert "вход" in body["message"]


def test_valid_token_gives_principal(client, me_ok, signing_key):
    response = get_me(client, signing_key.token(sub="user-42", roles=["teacher"]))
    assert response.status_code == 200
    assert response.get_json()["id"] == "user-42"
    assert me_ok.jwks_fetches == 1


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc",
                                    "Bearer not-a-jwt", "Bearer " + "a" * 9000])
def test_missing_or_malformed_header(client, me_ok, header):
    headers = {"Authorization": header} if header is not None else {}
    assert_invalid(client.get(f"{P}/me", headers=headers))
    assert me_ok.identity.calls == []


@pytest.mark.parametrize("header", [{"alg": "EdDSA", "kid": ["list"]}, {"alg": ["EdDSA"]},
                                    {"alg": "EdDSA", "kid": {"a": 1}}, {"alg": "EdDSA"}])
def test_odd_headers_are_401_not_500(client, me_ok, signing_key, header):
    _, payload, signature = signing_key.token().split(".")
    assert_invalid(get_me(client, f"{b64url(json.dumps(header).encode())}.{payload}.{signature}"))


def test_expired_token(client, me_ok, signing_key):
    assert_invalid(get_me(client, signing_key.token(now=time.time() - 3600, ttl=900)))


def test_token_signed_by_another_key_with_our_kid(client, me_ok, signing_key):
    forger = SigningKey(kid=signing_key.kid)
    assert_invalid(get_me(client, forger.token()))


def test_alg_none(client, me_ok, signing_key):
    good = signing_key.token()
    _, payload, _ = good.split(".")
    header = b64url(json.dumps({"alg": "none", "kid": signing_key.kid, "typ": "JWT"}).encode())
    assert_invalid(get_me(client, f"{header}.{payload}."))


def test_alg_hs256_with_the_public_key_as_secret(client, me_ok, signing_key):
    """The classic key-confusion attack: HMAC keyed with the public key."""
    public_raw = signing_key.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    public_pem = signing_key.public.public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
    _, payload, _ = signing_key.token().split(".")
    header = b64url(json.dumps({"alg": "HS256", "kid": signing_key.kid, "typ": "JWT"}).encode())
    for secret in (public_raw, public_pem, json.dumps(signing_key.jwk()).encode()):
        # PyJWT refuses to sign this, so forge it by hand as an attacker would
        signature = b64url(hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        assert_invalid(get_me(client, f"{header}.{payload}.{signature}"))


def test_tampered_payload(client, me_ok, signing_key):
    header, payload, signature = signing_key.token(roles=["student"]).split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    claims["roles"] = ["admin"]
    forged_payload = b64url(json.dumps(claims).encode())
    assert_invalid(get_me(client, f"{header}.{forged_payload}.{signature}"))


@pytest.mark.parametrize("claims", [{"typ": "refresh"}, {"iss": "someone-else"}, {"aud": "other-app"}])
def test_wrong_type_issuer_or_audience(client, me_ok, signing_key, claims):
    assert_invalid(get_me(client, signing_key.token(**claims)))


def test_unknown_kid_triggers_one_refetch_and_accepts_a_rotated_key(client, me_ok, signing_key):
    """identity rotated its key: the first token with the new kid refetches the JWKS once."""
    assert get_me(client, signing_key.token()).status_code == 200
    assert me_ok.jwks_fetches == 1
    rotated = SigningKey()
    me_ok.jwks_doc = jwks_of(signing_key, rotated)
    me_ok.now += 11  # past the refetch limit
    assert get_me(client, rotated.token()).status_code == 200
    assert me_ok.jwks_fetches == 2
    assert get_me(client, rotated.token()).status_code == 200  # now cached
    assert me_ok.jwks_fetches == 2


def test_made_up_kids_refetch_at_most_once_per_10_seconds(client, me_ok, signing_key):
    assert get_me(client, signing_key.token()).status_code == 200
    me_ok.now += 60  # the cache is old enough for one refetch
    strangers = [SigningKey() for _ in range(5)]
    for stranger in strangers:
        assert_invalid(get_me(client, stranger.token()))
    assert me_ok.jwks_fetches == 2
    me_ok.now += 10.5
    assert_invalid(get_me(client, strangers[0].token()))
    assert me_ok.jwks_fetches == 3


def test_known_kid_never_refetches(client, me_ok, signing_key):
    for _ in range(3):
        assert_invalid(get_me(client, signing_key.token(now=time.time() - 3600)))
    assert me_ok.jwks_fetches == 1


def test_public_routes_need_no_token(client, fake):
    assert client.get("/healthz").status_code == 200
    assert client.get(f"{P}/openapi.json").status_code == 200
    assert client.get("/").status_code == 200
    assert fake.jwks_fetches == 0


@pytest.mark.parametrize("method,url", [
    ("POST", "/users"), ("POST", "/students/x/parents"), ("PUT", "/parents/x/consent"), ("POST", "/years"),
    ("POST", "/subjects"), ("POST", "/classes"), ("POST", "/classes/x/students"), ("POST", "/assignments"),
    ("POST", "/lessons"), ("PUT", "/lessons/x/marks"), ("GET", "/students/x/diary"), ("GET", "/notifications"),
    ("GET", "/reports/progress"), ("POST", "/backups"), ("GET", "/backups"), ("GET", "/me"),
])
def test_every_private_route_demands_a_token(client, fake, method, url):
    """Authentication comes before validation: no token, no information."""
    response = client.open(P + url, method=method, json={"unexpected": True})
    assert_invalid(response)
    assert fake.rpc_calls == [] and fake.identity.calls == []


def test_token_cache_honours_expiry_age_and_size(signing_key):
    """Cached verification never outlives the token nor max_age."""
    from gateway.auth import TokenCache
    from kernel.auth import Principal

    now = [1_000_000.0]
    cache = TokenCache(size=2, max_age=60, clock=lambda: now[0])
    who = Principal(user_id="u", school_id="s", roles=("teacher",))
    short = signing_key.token(now=now[0], ttl=30)
    long = signing_key.token(now=now[0], ttl=900, login="other")
    cache.put(short, who)
    cache.put(long, who)
    assert cache.get(short) == who and cache.get(long) == who
    now[0] += 31
    assert cache.get(short) is None          # the token expired
    assert cache.get(long) == who
    now[0] += 30
    assert cache.get(long) is None           # max_age passed: verify again
    for n in range(3):
        cache.put(signing_key.token(now=now[0], login=f"u{n}"), who)
    assert len(cache._entries) == 2          # bounded


def test_app_verifies_a_token_once_until_the_cache_says_expired(client, me_ok, signing_key, app, monkeypatch):
    from gateway.auth import TOKEN_CACHE
    from kernel.auth import KeySet

    verified = []
    real_verify = KeySet.verify
    monkeypatch.setattr(KeySet, "verify", lambda self, token, **kw: verified.append(1) or real_verify(self, token, **kw))
    cache = app.extensions[TOKEN_CACHE]
    now = [time.time()]
    monkeypatch.setattr(cache, "_clock", lambda: now[0])
    token = signing_key.token(ttl=20)
    assert get_me(client, token).status_code == 200
    assert get_me(client, token).status_code == 200
    assert len(verified) == 1
    now[0] += 21  # past exp as far as the cache knows: verified again
    get_me(client, token)
    assert len(verified) == 2
