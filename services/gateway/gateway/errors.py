"""The ONE table from errors behind the gateway to HTTP answers.

Services raise ``kernel.errors.ServiceError`` subclasses; nameko carries
their JSON in ``RemoteError.value``. gRPC servers abort with a status code
and JSON details ``{"code", "message"}``. Both land here, and so do the
gateway's own refusals (:class:`ApiError`). Every answer has the shape
``{"error": CODE, "message": "русский текст", "details": {...}}``.
"""
from __future__ import annotations

import json
import socket

import grpc
from amqp.exceptions import AMQPError
from kombu.exceptions import OperationalError as KombuOperationalError
from nameko.exceptions import RemoteError, RpcTimeout, UnknownService

from kernel.errors import (
    BadRequest, Conflict, Forbidden, NotFound, RateLimited, RuleViolation, ServiceError,
    ServiceUnavailable, Unauthenticated,
)

from gateway.messages import text

# kind -> (HTTP status, default code). The default code is used only when a
# gRPC status arrives without JSON details.
ERROR_TABLE = {
    BadRequest.kind: (400, BadRequest.code),
    Unauthenticated.kind: (401, Unauthenticated.code),
    Forbidden.kind: (403, Forbidden.code),
    NotFound.kind: (404, NotFound.code),
    Conflict.kind: (409, Conflict.code),
    RuleViolation.kind: (422, RuleViolation.code),
    RateLimited.kind: (429, RateLimited.code),
    ServiceUnavailable.kind: (503, ServiceUnavailable.code),
}

# gRPC status -> kind (docs/contracts.md "Errors").
GRPC_KINDS = {
    grpc.StatusCode.INVALID_ARGUMENT: BadRequest.kind,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated.kind,
    grpc.StatusCode.PERMISSION_DENIED: Forbidden.kind,
    grpc.StatusCode.NOT_FOUND: NotFound.kind,
    grpc.StatusCode.ALREADY_EXISTS: Conflict.kind,
    grpc.StatusCode.FAILED_PRECONDITION: RuleViolation.kind,
    grpc.StatusCode.RESOURCE_EXHAUSTED: RateLimited.kind,
}

# A service behind the gateway is down or too slow: 503, never 500.
GRPC_UNAVAILABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
# Broker trouble as nameko/kombu/amqp raise it. Plain OSError is left out on
# purpose (a local file error is a bug, 500); the RPC client wraps socket
# errors of a call into Unavailable itself.
TRANSPORT_ERRORS = (RpcTimeout, UnknownService, ConnectionError, TimeoutError, socket.gaierror,
                    AMQPError, KombuOperationalError)


class Unavailable(Exception):
    """A dependency cannot be reached (raised by the gateway's own clients,
    e.g. when the RPC pool stays exhausted or a proxy lost its broker)."""


class ApiError(Exception):
    """An answer of the error table, raised by gateway code or mapped from
    a service error."""

    def __init__(self, status: int, code: str, message: str | None = None, details: dict | None = None):
        self.status = status
        self.code = code
        self.message = message or text(code)
        self.details = details or {}
        super().__init__(f"{status} {code}")

    def body(self) -> dict:
        return {"error": self.code, "message": self.message, "details": self.details}


def unavailable(details: dict | None = None) -> ApiError:
    return ApiError(503, "SERVICE_UNAVAILABLE", details=details)


def internal(correlation_id: str | None) -> ApiError:
    # The message is generic on purpose: no exception text reaches a client.
    return ApiError(500, "INTERNAL_ERROR", details={"correlation_id": correlation_id} if correlation_id else {})


def from_kind(kind: str, code: str | None, message: str | None, details: dict | None) -> ApiError | None:
    """The answer for a service error of ``kind``, or None if the kind is unknown."""
    entry = ERROR_TABLE.get(kind)
    if entry is None:
        return None
    status, default_code = entry
    return ApiError(status, code or default_code, message or text(f"kind.{kind}"),
                    details if isinstance(details, dict) else {})


def from_grpc(exc: grpc.RpcError) -> ApiError | None:
    """The answer for a failed gRPC call, or None if its status is not in the table."""
    code = exc.code() if hasattr(exc, "code") else None
    if code in GRPC_UNAVAILABLE:
        return unavailable()
    kind = GRPC_KINDS.get(code)
    if kind is None:
        return None
    raw = exc.details() if hasattr(exc, "details") else None
    try:
        data = json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    return from_kind(kind, data.get("code"), data.get("message"), data.get("details"))


def map_exception(exc: BaseException) -> ApiError | None:
    """The error-table answer for ``exc``; None means "unexpected" (500, logged)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, RemoteError):
        data = ServiceError.parse(exc.value)
        if data is None:
            return None
        return from_kind(data["kind"], data["code"], data["message"], data.get("details"))
    if isinstance(exc, grpc.RpcError):
        return from_grpc(exc)
    if isinstance(exc, (Unavailable,) + TRANSPORT_ERRORS):
        return unavailable()
    return None
