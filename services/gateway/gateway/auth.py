"""Bearer-token authentication: the token is verified locally with
identity's public keys (kernel.auth, EdDSA only); nothing about a bad token
is told to the client beyond 401 INVALID_TOKEN."""
from __future__ import annotations

import collections
import functools
import json
import logging
import threading
import time

import jwt
from flask import current_app, g, request

from kernel.auth import ALGORITHM, Principal, TokenError

from gateway.context import current_clients
from gateway.errors import ApiError

log = logging.getLogger(__name__)
TOKEN_CACHE = "ejournal.gateway.tokens"


class TokenCache:
    """Tokens verified recently, so that a client's next requests skip the
    signature check. An entry lives until its token expires and at most
    ``max_age`` seconds, so a key identity withdrew stops working soon."""

    def __init__(self, size: int = 4096, max_age: float = 60.0, clock=time.time):
        self.size = size
        self.max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: collections.OrderedDict[str, tuple[Principal, float]] = collections.OrderedDict()

    def get(self, token: str) -> Principal | None:
        with self._lock:
            entry = self._entries.get(token)
            if entry is None:
                return None
            principal, until = entry
            if self._clock() >= until:
                del self._entries[token]
                return None
            self._entries.move_to_end(token)
            return principal

    def put(self, token: str, principal: Principal) -> None:
        try:  # the token is verified already; only its expiry is read here
            payload = token.split(".")[1]
            exp = float(json.loads(jwt.utils.base64url_decode(payload))["exp"])
        except (IndexError, KeyError, TypeError, ValueError):
            return
        until = min(exp, self._clock() + self.max_age)
        with self._lock:
            self._entries[token] = (principal, until)
            self._entries.move_to_end(token)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


def invalid_token() -> ApiError:
    return ApiError(401, "INVALID_TOKEN")


def bearer_token(header: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header."""
    scheme, _, token = (header or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 8192:
        raise invalid_token()
    return token


def authenticate(clients, header: str | None, cache: TokenCache | None = None) -> Principal:
    """The caller of a request with this Authorization header, or 401.

    An unknown key id makes the key set refetch (identity may have rotated
    its key); :class:`gateway.clients.JwksCache` limits how often.
    """
    token = bearer_token(header)
    cached = cache.get(token) if cache is not None else None
    if cached is not None:
        return cached
    try:
        unverified = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise invalid_token() from None
    if unverified.get("alg") != ALGORITHM:
        raise invalid_token()
    keys = clients.jwks()
    if unverified.get("kid") not in keys:
        keys = clients.jwks(refresh=True)
    try:
        principal = keys.verify(token)
    except TokenError as exc:
        log.info("rejected access token: %s", exc)
        raise invalid_token() from None
    if cache is not None:
        cache.put(token, principal)
    return principal


def login_required(view):
    """Run ``view`` only for a verified caller, available as ``g.principal``."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        g.principal = authenticate(current_clients(), request.headers.get("Authorization"),
                                   current_app.extensions.get(TOKEN_CACHE))
        return view(*args, **kwargs)
    return wrapper


def require_role(*roles: str) -> None:
    """403 FORBIDDEN unless the caller holds one of ``roles``."""
    if not g.principal.has(*roles):
        raise ApiError(403, "FORBIDDEN")
