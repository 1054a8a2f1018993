"""Test doubles for what lies outside the gateway: the services' clients.

They raise the same exception types the real clients raise (nameko
RemoteError carrying ServiceError JSON, grpc.RpcError with a status code and
JSON details, nameko RpcTimeout), and they use the real JwksCache so that
the refetch limit is the production code.
"""
from __future__ import annotations

import base64
import json
import time
import uuid

import grpc
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm
from nameko.exceptions import RemoteError

from kernel import correlation
from kernel.auth import AUDIENCE, ISSUER

from gateway.clients import JwksCache


class SigningKey:
    """An Ed25519 key pair with a kid, signing tokens the way identity does."""

    def __init__(self, kid: str | None = None):
        self.kid = kid or uuid.uuid4().hex[:12]
        self.private = Ed25519PrivateKey.generate()
        self.public = self.private.public_key()

    def jwk(self) -> dict:
        jwk = OKPAlgorithm.to_jwk(self.public, as_dict=True)
        jwk.update({"kid": self.kid, "alg": "EdDSA", "use": "sig"})
        return jwk

    def token(self, *, sub: str | None = None, school_id: str = "school-1", roles=("teacher",),
              login: str = "user", typ: str = "access", ttl: int = 900, now: float | None = None,
              **extra) -> str:
        now = int(now if now is not None else time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub or str(uuid.uuid4()), "school_id": school_id,
                  "roles": list(roles), "login": login, "typ": typ, "iat": now, "exp": now + ttl, **extra}
        return jwt.encode(claims, self.private, algorithm="EdDSA", headers={"kid": self.kid})


def jwks_of(*keys: SigningKey) -> dict:
    return {"keys": [k.jwk() for k in keys]}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FakeRpcError(grpc.RpcError):
    """What a failed grpcio call raises: an RpcError with code() and details()."""

    def __init__(self, code: grpc.StatusCode, details: str = ""):
        super().__init__(f"{code.name}: {details}")
        self._code = code
        self._details = details

    def code(self):
        return self._code

    def details(self):
        return self._details


def grpc_error(code: grpc.StatusCode, error_code: str | None = None, message: str = "") -> FakeRpcError:
    """An error shaped like kernel.grpcserver.abort's."""
    details = json.dumps({"code": error_code, "message": message}, ensure_ascii=False) if error_code else message
    return FakeRpcError(code, details)


def remote_error(kind: str, code: str, message: str = "текст", details: dict | None = None,
                 exc_type: str = "ServiceError") -> RemoteError:
    """What nameko raises at the caller when a service raised a ServiceError."""
    value = json.dumps({"kind": kind, "code": code, "message": message, "details": details or {}},
                       ensure_ascii=False)
    return RemoteError(exc_type, value)


def _answer(answer, *args):
    if callable(answer) and not isinstance(answer, BaseException):
        answer = answer(*args)
    if isinstance(answer, BaseException):
        raise answer
    return answer


class FakeStub:
    """A gRPC stub wrapper double: records (method, request, correlation id)."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.answers: dict = {}

    def __getattr__(self, method: str):
        if method.startswith("_"):
            raise AttributeError(method)

        def call(request, *, timeout=None):
            self.calls.append((method, request, correlation.get()))
            if method not in self.answers:
                raise AssertionError(f"unexpected gRPC call {method}")
            return _answer(self.answers[method], request)

        return call

    def called(self, method: str) -> list:
        return [request for name, request, _ in self.calls if name == method]


class FakeClients:
    """The gateway's Clients interface without any network."""

    def __init__(self, jwks: dict):
        self.rpc_calls: list[dict] = []
        self.rpc_answers: dict = {}
        self.identity = FakeStub()
        self.journal = FakeStub()
        self.reports = FakeStub()
        self.jwks_doc = jwks
        self.jwks_fetches = 0
        self.now = 1000.0
        self._jwks = JwksCache(self._fetch, min_interval=10.0, clock=lambda: self.now)
        self.health: dict = {}
        self.worker = "ok"

    def _fetch(self):
        self.jwks_fetches += 1
        return _answer(self.jwks_doc)

    def rpc(self, service, method, *args, timeout=None, **kwargs):
        self.rpc_calls.append({"service": service, "method": method, "args": args, "kwargs": kwargs,
                               "timeout": timeout, "correlation_id": correlation.get()})
        key = (service, method)
        if key not in self.rpc_answers:
            raise AssertionError(f"unexpected RPC {service}.{method}")
        return _answer(self.rpc_answers[key], *args)

    def jwks(self, refresh: bool = False):
        return self._jwks.refresh() if refresh else self._jwks.get()

    def grpc_health(self, service, timeout=2.0):
        return _answer(self.health.get(service, "SERVING"))

    def worker_health(self, timeout=2.0):
        return _answer(self.worker)

    def last_rpc(self) -> dict:
        assert self.rpc_calls, "no RPC was made"
        return self.rpc_calls[-1]
