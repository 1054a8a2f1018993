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


class Revocations:
    """Users whose earlier access tokens no longer count: a parent whose
    consent was withdrawn (R-A4), a user whose roles changed (R-A5). Fed by
    gateway.invalidation from identity's events; an entry lives as long as
    any token issued before it could (``max_age``), at most ``size`` users."""

    def __init__(self, size: int = 100_000, max_age: float = 3600.0, clock=time.time):
        self.size, self.max_age, self._clock = size, max_age, clock
        self._lock = threading.Lock()
        self._before: collections.OrderedDict[str, tuple[int, float]] = collections.OrderedDict()

    def revoke(self, user_id: str, before: int) -> None:
        """Refuse ``user_id``'s tokens issued before ``before`` (epoch seconds)."""
        with self._lock:
            old = self._before.get(user_id)
            self._before[user_id] = (max(before, old[0]) if old else before, self._clock() + self.max_age)
            self._before.move_to_end(user_id)
            while len(self._before) > self.size:
                self._before.popitem(last=False)

    def revoked(self, principal: Principal) -> bool:
        with self._lock:
            entry = self._before.get(principal.user_id)
            if entry is None:
                return False
            before, until = entry
            if self._clock() >= until:
                del self._before[principal.user_id]
                return False
        return principal.issued_at < before


REVOCATIONS = "ejournal.gateway.revocations"


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
        principal = authenticate(current_clients(), request.headers.get("Authorization"),
                                 current_app.extensions.get(TOKEN_CACHE))
        decisions = current_app.extensions.get("ejournal.gateway.decisions")
        if decisions is not None and decisions.invalidator is not None:
            decisions.invalidator.ensure_started()  # feeds the revocations below
        revocations = current_app.extensions.get(REVOCATIONS)
        if revocations is not None and revocations.revoked(principal):
            raise invalid_token()
        g.principal = principal
        return view(*args, **kwargs)
    return wrapper


def require_role(*roles: str) -> None:
    """403 FORBIDDEN unless the caller holds one of ``roles``."""
    if not g.principal.has(*roles):
        raise ApiError(403, "FORBIDDEN")
