"""Bearer-token authentication: the token is verified locally with
identity's public keys (kernel.auth, EdDSA only); nothing about a bad token
is told to the client beyond 401 INVALID_TOKEN."""
from __future__ import annotations

import collections
import json
import logging
import os
import threading
import time

import jwt
from flask import current_app, request

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
    """Access tokens that no longer count before they expire: whole sessions (the token's ``sid``) ended by a logout, a password
    or role change, a withdrawn consent (R-A4) or a replayed refresh token,
    each kept until every token of it has expired (``until``); and, for
    tokens without a ``sid``, users whose tokens issued before a moment are
    refused (``max_age``). Fed by gateway.invalidation from identity's
    events and loaded from identity (ListRevocations) when the worker
    starts and after the event stream was interrupted. At most ``size``
    sessions and ``size`` users, oldest dropped first."""

    def __init__(self, size: int = 100_000, max_age: float = 3600.0, clock=time.time,
                 reload_interval: float = 1.0):
        self.size, self.max_age, self._clock = size, max_age, clock
        self.reload_interval = reload_interval
        self._lock = threading.Lock()
        self._before: collections.OrderedDict[str, tuple[int, float]] = collections.OrderedDict()
        self._sessions: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._loaded_pid = None
        self._next_load = 0.0

    def revoke(self, user_id: str, before: int, session_ids=(), until: float | None = None) -> None:
        """Refuse ``user_id``'s tokens of ``session_ids`` until ``until``
        (epoch seconds), and their tokens without a session issued before
        ``before`` (epoch seconds)."""
        with self._lock:
            if user_id:
                old = self._before.get(user_id)
                self._before[user_id] = (max(before, old[0]) if old else before, self._clock() + self.max_age)
                self._before.move_to_end(user_id)
                while len(self._before) > self.size:
                    self._before.popitem(last=False)
            for sid in session_ids:
                expiry = float(until) if until else self._clock() + self.max_age
                self._sessions[sid] = max(expiry, self._sessions.get(sid, 0.0))
                self._sessions.move_to_end(sid)
            while len(self._sessions) > self.size:
                self._sessions.popitem(last=False)

    def revoked(self, principal: Principal) -> bool:
        sid = principal.session_id
        with self._lock:
            if sid:
                until = self._sessions.get(sid)
                if until is None:
                    return False
                if self._clock() >= until:
                    del self._sessions[sid]
                    return False
                return True
            entry = self._before.get(principal.user_id)
            if entry is None:
                return False
            before, until = entry
            if self._clock() >= until:
                del self._before[principal.user_id]
                return False
        return principal.issued_at < before

    def mark_stale(self) -> None:
        """Events may have been missed (the consumer (re)connected): load again."""
        self._loaded_pid = None
        self._next_load = 0.0

    def ensure_loaded(self, clients) -> None:
        """Load identity's current revocations once per worker process (and
        after :meth:`mark_stale`); when identity cannot answer, the next
        request tries again (at most every ``reload_interval`` seconds)."""
        if self._loaded_pid == os.getpid():
            return
        now = time.monotonic()
        if now < self._next_load:
            return
        self._next_load = now + self.reload_interval
        try:
            from ejournal.identity.v1 import identity_pb2
            reply = clients.identity.ListRevocations(identity_pb2.ListRevocationsRequest())
        except Exception as exc:  # noqa: BLE001 - identity away: events still arrive; retry soon
            log.warning("could not load session revocations (%s)", type(exc).__name__)
            return
        for item in reply.items:
            if item.session_id:
                self.revoke("", 0, (item.session_id,), item.until)
            else:
                self.revoke(item.user_id, int(item.before))
        self._loaded_pid = os.getpid()


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


def authenticate_request() -> Principal:
    """The verified caller of this request (401 ``INVALID_TOKEN`` for none,
    a bad one, or one of an ended session); gateway.guard asks first thing."""
    principal = authenticate(current_clients(), request.headers.get("Authorization"),
                             current_app.extensions.get(TOKEN_CACHE))
    decisions = current_app.extensions.get("ejournal.gateway.decisions")
    if decisions is not None and decisions.invalidator is not None:
        decisions.invalidator.ensure_started()  # feeds the revocations below
    revocations = current_app.extensions.get(REVOCATIONS)
    if revocations is not None:
        revocations.ensure_loaded(current_clients())
        if revocations.revoked(principal):
            raise invalid_token()
    return principal
