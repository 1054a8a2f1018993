"""Liveness and readiness."""
from __future__ import annotations

import grpc
from nameko.exceptions import RpcTimeout, UnknownService

from gateway_doc import assert_documented
from gateway_fakes import FakeRpcError

NAMEKO = ("identity", "journal", "messaging", "reports", "backup")
GRPC = ("identity", "journal", "messaging", "reports")


def all_healthy(fake):
    for svc in NAMEKO:
        fake.rpc_answers[(svc, "health")] = {"status": "ok", "service": svc}


def test_healthz_calls_nothing(client, fake):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert fake.rpc_calls == [] and fake.identity.calls == []


def test_readyz_checks_every_service_with_short_timeouts(client, fake):
    all_healthy(fake)
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["checks"] == {**{f"{s}.rpc": "ok" for s in NAMEKO}, **{f"{s}.grpc": "ok" for s in GRPC}}
    assert sorted(c["service"] for c in fake.rpc_calls) == sorted(NAMEKO)
    assert {c["method"] for c in fake.rpc_calls} == {"health"}
    assert {c["timeout"] for c in fake.rpc_calls} == {2.0}
    assert {c["correlation_id"] for c in fake.rpc_calls} == {response.headers["X-Correlation-Id"]}
    assert_documented(response, "/readyz", "GET")


def test_readyz_names_what_failed(client, fake):
    all_healthy(fake)
    fake.rpc_answers[("journal", "health")] = RpcTimeout(2)
    fake.rpc_answers[("backup", "health")] = UnknownService("backup")
    fake.health["reports"] = FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connect failed")
    fake.health["messaging"] = "NOT_SERVING"
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["error"] == "SERVICE_UNAVAILABLE"
    assert body["details"]["failed"] == ["backup.rpc", "journal.rpc", "messaging.grpc", "reports.grpc"]
    assert body["checks"]["journal.rpc"] == "timeout"
    assert body["checks"]["backup.rpc"] == "not_running"
    assert body["checks"]["reports.grpc"] == "unavailable"
    assert body["checks"]["messaging.grpc"] == "not_serving"
    assert body["checks"]["identity.rpc"] == "ok"
    assert_documented(response, "/readyz", "GET")
