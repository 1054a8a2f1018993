"""Token verification (algorithm pinned, keys by kid) and settings."""
import datetime as dt
import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from kernel import auth, config


def make_key(kid):
    key = Ed25519PrivateKey.generate()
    jwk = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid=kid, alg="EdDSA", use="sig")
    return key, jwk


def sign(key, kid, **over):
    now = dt.datetime.now(dt.timezone.utc)
    claims = {"iss": auth.ISSUER, "aud": auth.AUDIENCE, "sub": "u1", "school_id": "s1",
              "roles": ["parent"], "login": "p", "typ": "access", "iat": now,
              "exp": now + dt.timedelta(minutes=5)}
    claims.update(over)
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})


def test_valid_token_gives_principal():
    key, jwk = make_key("k1")
    keys = auth.KeySet({"keys": [jwk]})
    who = keys.verify(sign(key, "k1"))
    assert who == auth.Principal(user_id="u1", school_id="s1", roles=("parent",), login="p")
    assert who.has("parent") and not who.has("admin")


@pytest.mark.parametrize("case", ["expired", "wrong_key", "unknown_kid", "alg_none", "refresh_typ", "other_aud"])
def test_bad_tokens_are_refused(case):
    key, jwk = make_key("k1")
    other, _ = make_key("k1")
    keys = auth.KeySet({"keys": [jwk]})
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    token = {
        "expired": lambda: sign(key, "k1", exp=past, iat=past - dt.timedelta(minutes=5)),
        "wrong_key": lambda: sign(other, "k1"),
        "unknown_kid": lambda: sign(key, "k2"),
        "alg_none": lambda: jwt.encode({"sub": "u1", "typ": "access"}, None, algorithm="none", headers={"kid": "k1"}),
        "refresh_typ": lambda: sign(key, "k1", typ="refresh"),
        "other_aud": lambda: sign(key, "k1", aud="elsewhere"),
    }[case]()
    with pytest.raises(auth.TokenError):
        keys.verify(token)


def test_ports_never_collide_and_move_with_the_base(monkeypatch):
    monkeypatch.setenv("EJOURNAL_PORT_BASE", "9100")
    monkeypatch.setenv("EJOURNAL_GATEWAY_PORT", "9080")
    monkeypatch.setenv("EJOURNAL_DATA_DIR", "/tmp/ej-other")
    s = config.load()
    ports = [s.port(k) for k in config.PORT_OFFSETS]
    assert len(set(ports)) == len(ports) and min(ports) > 9100
    assert s.gateway_port not in ports
    assert s.amqp_uri.endswith("/ejournal-9080")
    assert s.database_url("journal") == "sqlite:////tmp/ej-other/journal.db"
    monkeypatch.setenv("EJOURNAL_JOURNAL_DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1/j")
    assert config.load().database_url("journal").startswith("postgresql")
