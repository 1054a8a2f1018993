"""Access-token verification: every service verifies locally with the
identity service's public keys (JWKS), the algorithm pinned to EdDSA."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import jwt
from jwt import PyJWK

ALGORITHM = "EdDSA"
ISSUER = "ejournal-identity"
AUDIENCE = "ejournal"


class TokenError(Exception):
    """The token is missing, malformed, expired or not signed by identity."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: taken from a verified access token."""
    user_id: str
    school_id: str
    roles: tuple
    login: str = ""
    # when the token was issued (``iat``): lets a verifier end sessions
    # that started before a revocation; not part of the caller's identity
    issued_at: int = field(default=0, compare=False)
    # the login session (``sid``, identity's refresh-token family): lets a
    # verifier refuse the tokens of one ended session at once
    session_id: str = field(default="", compare=False)

    def has(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)


class KeySet:
    """Public keys by key id, from a JWKS document (``{"keys": [...]}``)."""

    def __init__(self, jwks: dict | str):
        if isinstance(jwks, str):
            jwks = json.loads(jwks)
        self.keys = {}
        for jwk in jwks.get("keys", []):
            self.keys[jwk["kid"]] = PyJWK(jwk, algorithm=ALGORITHM)

    def __contains__(self, kid):
        return kid in self.keys

    def verify(self, token: str, *, leeway: int = 5) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenError("malformed token") from exc
        if header.get("alg") != ALGORITHM:
            raise TokenError("algorithm not allowed")
        key = self.keys.get(header.get("kid"))
        if key is None:
            raise TokenError("unknown key id")
        try:
            claims = jwt.decode(
                token, key.key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
                leeway=leeway, options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenError(str(exc)) from exc
        if claims.get("typ") != "access":
            raise TokenError("not an access token")
        return Principal(
            user_id=claims["sub"], school_id=claims.get("school_id", ""),
            roles=tuple(claims.get("roles", ())), login=claims.get("login", ""),
            issued_at=int(claims.get("iat", 0)), session_id=str(claims.get("sid") or ""),
        )
