"""Passwords (argon2id) and tokens (Ed25519-signed JWT access tokens, opaque
refresh tokens). Pure computation: the store keeps the results."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import secrets
import uuid
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kernel.auth import ALGORITHM, AUDIENCE, ISSUER

# OWASP Password Storage Cheat Sheet, argon2id minimum: m=19 MiB, t=2, p=1.
HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
ACCESS_TTL_DEFAULT = 900
REFRESH_TTL = dt.timedelta(days=30)

_dummy_hash: str | None = None


def hash_password(password: str) -> str:
    """An argon2id PHC string for ``password``."""
    return HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches. With no hash (unknown login) it checks a
    fixed dummy hash instead, so both failures cost the same time."""
    global _dummy_hash
    if password_hash is None:
        if _dummy_hash is None:
            _dummy_hash = HASHER.hash(secrets.token_urlsafe(16))
        password_hash, known = _dummy_hash, False
    else:
        known = True
    try:
        HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return known


def needs_rehash(password_hash: str) -> bool:
    """The hash was made with weaker parameters than today's."""
    try:
        return HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return False


def access_token_ttl() -> int:
    """Seconds an access token lives (``EJOURNAL_ACCESS_TOKEN_TTL``, default 900)."""
    raw = os.environ.get("EJOURNAL_ACCESS_TOKEN_TTL", "")
    try:
        value = int(raw) if raw else ACCESS_TTL_DEFAULT
    except ValueError:
        value = ACCESS_TTL_DEFAULT
    return value if value > 0 else ACCESS_TTL_DEFAULT


ADDRESS_LIMIT_DEFAULT = 1000


def address_limit() -> int:
    """Failed logins per client address per hour (``EJOURNAL_LOGIN_ADDRESS_LIMIT``,
    default 1000; 0 switches the cap off). Generous: a school's whole network
    may sit behind one NAT address."""
    raw = os.environ.get("EJOURNAL_LOGIN_ADDRESS_LIMIT", "")
    try:
        value = int(raw) if raw else ADDRESS_LIMIT_DEFAULT
    except ValueError:
        value = ADDRESS_LIMIT_DEFAULT
    return max(0, value)


# --- signing keys ----------------------------------------------------------------

def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class NewSigningKey:
    kid: str
    private_pem: str
    public_jwk: dict


def new_signing_key() -> NewSigningKey:
    """A fresh Ed25519 key; its kid is the RFC 7638 thumbprint of the public JWK."""
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    x = _b64url(raw)
    thumbprint = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"), sort_keys=True)
    kid = _b64url(hashlib.sha256(thumbprint.encode()).digest())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": ALGORITHM, "use": "sig"}
    return NewSigningKey(kid=kid, private_pem=pem, public_jwk=jwk)


def load_private_key(pem: str) -> Ed25519PrivateKey:
    return serialization.load_pem_private_key(pem.encode(), password=None)


def jwks(public_jwks) -> dict:
    """The JWKS document ``{"keys": [...]}`` that kernel.auth.KeySet reads."""
    return {"keys": list(public_jwks)}


# --- tokens ------------------------------------------------------------------------

def issue_access_token(*, private_key, kid: str, user_id: str, school_id: str, roles, login: str,
                       ttl: int, now: dt.datetime | None = None, session_id: str | None = None) -> str:
    """An access token that kernel.auth.KeySet verifies; ``sid`` names its
    login session (the refresh-token family) so that ending the session
    ends the token too."""
    now = now or dt.datetime.now(dt.timezone.utc)
    iat = int(now.timestamp())
    claims = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": user_id, "school_id": school_id,
        "roles": list(roles), "login": login, "typ": "access",
        "iat": iat, "exp": iat + int(ttl), "jti": uuid.uuid4().hex,
    }
    if session_id:
        claims["sid"] = session_id
    return jwt.encode(claims, private_key, algorithm=ALGORITHM, headers={"kid": kid})


def new_refresh_token() -> str:
    """32 random bytes, URL-safe: shown to the client once, stored only as a hash."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """sha256 hex of a refresh token (what the store keeps)."""
    return hashlib.sha256(token.encode()).hexdigest()
