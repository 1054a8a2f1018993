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
    assert body["checks"] == {**{f"{s}.rpc": "ok" for s in NAMEKO}, **{f"{s}.grpc": "ok" for s in GRPC},
                              "backup.worker": "ok"}
    assert sorted(c["service"] for c in fake.rpc_calls) == sorted(NAMEKO)
    assert {c["method"] for c in fake.rpc_calls} == {"health"}
    assert {c["timeout"] for c in fake.rpc_calls} == {2.0}
    assert {c["correlation_id"] for c in fake.rpc_calls} == {response.headers["X-Correlation-Id"]}
    assert_documented(response, "/readyz", "GET")


def test_readyz_shows_the_detail_a_service_adds(client, fake):
    """reports adds its self-check (marks against the journal's counts)."""
    all_healthy(fake)
    check = {"checked_at": "2026-12-07T10:00:00+00:00", "compared": 4, "differences": 1,
             "items": [{"school_id": "s", "class_id": "c", "period_id": "p", "journal": 3, "reports": 2}]}
    fake.rpc_answers[("reports", "health")] = {"status": "ok", "service": "reports", "detail": {"selfcheck": check}}
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["detail"] == {"reports": {"selfcheck": check}}
    assert_documented(response, "/readyz", "GET")


def test_readyz_names_what_failed(client, fake):
    all_healthy(fake)
    fake.rpc_answers[("journal", "health")] = RpcTimeout(2)
    fake.rpc_answers[("backup", "health")] = UnknownService("backup")
    fake.health["reports"] = FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connect failed")
    fake.health["messaging"] = "NOT_SERVING"
    fake.worker = "unavailable"
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["error"] == "SERVICE_UNAVAILABLE"
    assert body["details"]["failed"] == ["backup.rpc", "backup.worker", "journal.rpc", "messaging.grpc",
                                         "reports.grpc"]
    assert body["checks"]["backup.worker"] == "unavailable"
    assert body["checks"]["journal.rpc"] == "timeout"
    assert body["checks"]["backup.rpc"] == "not_running"
    assert body["checks"]["reports.grpc"] == "unavailable"
    assert body["checks"]["messaging.grpc"] == "not_serving"
    assert body["checks"]["identity.rpc"] == "ok"
    assert_documented(response, "/readyz", "GET")


def test_the_backup_worker_is_checked_on_its_healthz(monkeypatch):
    """The worker serves no RPC: /readyz asks its /healthz (real HTTP), so a
    worker that is down shows in the detail like any other process."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from kernel import config as kernel_config
    from gateway.clients import Clients

    class Health(BaseHTTPRequestHandler):
        status = 200

        def do_GET(self):
            self.send_response(Health.status if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    clients = Clients(kernel_config.load())
    try:
        monkeypatch.setenv("EJOURNAL_BACKUP_WORKER_HEALTH_URL", f"http://127.0.0.1:{port}/healthz")
        assert clients.worker_health(timeout=2) == "ok"
        Health.status = 503
        assert clients.worker_health(timeout=2) == "unhealthy"
    finally:
        server.shutdown()
        server.server_close()
    assert clients.worker_health(timeout=2) == "unavailable"  # nothing listens there any more
