"""The one error table: every kind, 503 for an unreachable or slow service,
500 without a trace for the unexpected."""
from __future__ import annotations

import logging

import grpc
import pytest
from nameko.exceptions import MethodNotFound, RemoteError, RpcTimeout, UnknownService

from gateway.errors import Unavailable, map_exception

from gateway_fakes import FakeRpcError, grpc_error, remote_error

P = "/api/v1"
KINDS = [("bad_request", "VALIDATION_ERROR", 400), ("unauthenticated", "INVALID_CREDENTIALS", 401),
         ("forbidden", "NOT_ASSIGNED", 403), ("not_found", "NOT_FOUND", 404), ("conflict", "ALREADY_EXISTS", 409),
         ("rule", "STUDENT_NOT_IN_CLASS", 422), ("rate_limited", "TOO_MANY_ATTEMPTS", 429),
         ("unavailable", "SERVICE_UNAVAILABLE", 503)]


@pytest.mark.parametrize("kind,code,status", KINDS)
def test_service_error_kinds_map_to_statuses(client, fake, auth, kind, code, status):
    fake.rpc_answers[("journal", "create_subject")] = remote_error(kind, code, "Сообщение службы", {"field": "name"})
    response = client.post(f"{P}/subjects", json={"name": "История"}, headers=auth(roles=["admin"]))
    assert response.status_code == status
    assert response.get_json() == {"error": code, "message": "Сообщение службы", "details": {"field": "name"}}


@pytest.mark.parametrize("status_code,http,default_code", [
    (grpc.StatusCode.INVALID_ARGUMENT, 400, "BAD_REQUEST"),
    (grpc.StatusCode.UNAUTHENTICATED, 401, "UNAUTHENTICATED"),
    (grpc.StatusCode.PERMISSION_DENIED, 403, "FORBIDDEN"),
    (grpc.StatusCode.NOT_FOUND, 404, "NOT_FOUND"),
    (grpc.StatusCode.ALREADY_EXISTS, 409, "CONFLICT"),
    (grpc.StatusCode.FAILED_PRECONDITION, 422, "RULE_VIOLATION"),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, 429, "TOO_MANY_ATTEMPTS"),
])
def test_grpc_statuses_map_to_statuses(client, fake, auth, status_code, http, default_code):
    fake.identity.answers["GetProfile"] = grpc_error(status_code, "SOME_CODE", "Текст")
    response = client.get(f"{P}/me", headers=auth())
    assert response.status_code == http
    assert response.get_json() == {"error": "SOME_CODE", "message": "Текст", "details": {}}
    # details that are not JSON still give the status, a default code and Russian text
    fake.identity.answers["GetProfile"] = FakeRpcError(status_code, "plain text from a server")
    response = client.get(f"{P}/me", headers=auth())
    assert response.status_code == http
    body = response.get_json()
    assert body["error"] == default_code and body["message"] != "plain text from a server"


@pytest.mark.parametrize("exc", [
    RpcTimeout(10), UnknownService("journal"), Unavailable("pool busy"), ConnectionRefusedError(111, "refused"),
    FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connect failed"),
    FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"),
], ids=lambda e: type(e).__name__ + getattr(e, "_code", grpc.StatusCode.OK).name)
def test_unreachable_or_slow_service_is_503(client, fake, auth, exc):
    """API.md: a service behind the gateway that is down is 503, never 500."""
    fake.rpc_answers[("journal", "create_subject")] = exc
    response = client.post(f"{P}/subjects", json={"name": "История"}, headers=auth(roles=["admin"]))
    assert response.status_code == 503
    body = response.get_json()
    assert body["error"] == "SERVICE_UNAVAILABLE"
    assert set(body) == {"error", "message", "details"}


def test_jwks_fetch_failure_is_503(client, fake, auth):
    """Without identity's keys no token can be checked: unavailable, not unauthenticated."""
    headers = auth()
    fake.jwks_doc = FakeRpcError(grpc.StatusCode.UNAVAILABLE, "down")
    response = client.get(f"{P}/me", headers=headers)
    assert response.status_code == 503


@pytest.mark.parametrize("exc", [
    RemoteError("KeyError", "'grade'"),  # a service crashed: no ServiceError JSON
    RemoteError("ServiceError", '{"kind": "strange", "code": "X", "message": "m"}'),
    MethodNotFound("create_subject"),
    ZeroDivisionError("division by zero in the gateway"),
], ids=lambda e: type(e).__name__)
def test_unexpected_errors_are_500_without_trace(client, fake, auth, caplog, exc):
    fake.rpc_answers[("journal", "create_subject")] = exc
    with caplog.at_level(logging.ERROR, logger="gateway"):
        response = client.post(f"{P}/subjects", json={"name": "История"}, headers=auth(roles=["admin"]))
    assert response.status_code == 500
    body = response.get_json()
    cid = response.headers["X-Correlation-Id"]
    assert body == {"error": "INTERNAL_ERROR", "message": body["message"], "details": {"correlation_id": cid}}
    raw = response.get_data(as_text=True)
    for leak in ("Traceback", "grade", "division", "KeyError", "create_subject", "strange"):
        assert leak not in raw
    # ...but the log has it, with the correlation id
    assert any(cid in r.getMessage() and r.exc_info for r in caplog.records)


def test_map_exception_table_directly():
    assert map_exception(remote_error("conflict", "LOGIN_TAKEN")).status == 409
    assert map_exception(grpc_error(grpc.StatusCode.NOT_FOUND, "NOT_FOUND")).status == 404
    assert map_exception(FakeRpcError(grpc.StatusCode.INTERNAL, "boom")) is None
    assert map_exception(FakeRpcError(grpc.StatusCode.UNKNOWN, "boom")) is None
    assert map_exception(FileNotFoundError("x")) is None  # a local bug, not an outage
    assert map_exception(ValueError("x")) is None
