"""A throttled login answers 429 with a Retry-After header (RFC 9110,
seconds) beside ``details.retry_after``, from identity's RESOURCE_EXHAUSTED
as kernel.grpcserver.abort shapes it."""
from __future__ import annotations

import grpc
import pytest

from kernel.grpcserver import abort

from gateway.openapi import document
from gateway_doc import assert_documented
from gateway_fakes import FakeRpcError

P = "/api/v1"


class _Captured(Exception):
    pass


class _Context:
    def abort(self, code, details):
        self.code, self.details = code, details
        raise _Captured()


def identity_refusal(code, error_code, details=None) -> FakeRpcError:
    """The error the gateway's gRPC client raises for identity's abort."""
    context = _Context()
    with pytest.raises(_Captured):
        abort(context, code, error_code, "Слишком много неудачных попыток входа", details)
    return FakeRpcError(context.code, context.details)


def test_a_throttled_login_says_when_to_retry(client, fake):
    """R-A2 (login throttling): 429 TOO_MANY_ATTEMPTS with Retry-After."""
    fake.identity.answers["Login"] = identity_refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, "TOO_MANY_ATTEMPTS",
                                                      {"retry_after": 4})
    response = client.post(f"{P}/auth/login", json={"login": "petrova", "password": "верный-пароль"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "4"
    assert response.get_json()["error"] == "TOO_MANY_ATTEMPTS"
    assert response.get_json()["details"] == {"retry_after": 4}
    assert_documented(response, f"{P}/auth/login", "POST")
    documented = document()["components"]["responses"]["TooManyRequests"]
    assert documented["headers"]["Retry-After"]["schema"]["type"] == "integer"

    # no header without the seconds, nor on another error
    fake.identity.answers["Login"] = identity_refusal(grpc.StatusCode.RESOURCE_EXHAUSTED, "TOO_MANY_ATTEMPTS")
    response = client.post(f"{P}/auth/login", json={"login": "petrova", "password": "x"})
    assert response.status_code == 429 and "Retry-After" not in response.headers
    fake.identity.answers["Login"] = identity_refusal(grpc.StatusCode.UNAUTHENTICATED, "INVALID_CREDENTIALS",
                                                      {"retry_after": 4})
    response = client.post(f"{P}/auth/login", json={"login": "petrova", "password": "x"})
    assert response.status_code == 401 and "Retry-After" not in response.headers
