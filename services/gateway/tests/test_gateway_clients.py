"""The real clients: the JWKS cache, the gRPC wrapper, the gRPC channels
against an in-process gRPC server (this process is not eventlet-patched),
and the nameko RPC pool against the real RabbitMQ with a tiny nameko
service in a subprocess on a fresh vhost."""
from __future__ import annotations

import json
import select
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent import futures

import grpc
import pytest
import requests
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from ejournal.identity.v1 import identity_pb2, identity_pb2_grpc
from kernel import config as kernel_config
from kernel import correlation

from gateway.app import create_app
from gateway.clients import GrpcStub, JwksCache

from gateway_fakes import SigningKey, jwks_of

P = "/api/v1"
MGMT = "http://127.0.0.1:15672/api"
GUEST = ("guest", "guest")


# -- JwksCache and GrpcStub with plain values ------------------------------------

def test_jwks_cache_fetches_once_and_limits_refetches():
    key, now, fetched = SigningKey(), [0.0], []
    cache = JwksCache(lambda: fetched.append(1) or jwks_of(key), min_interval=10, clock=lambda: now[0])
    assert key.kid in cache.get() and key.kid in cache.get()
    assert len(fetched) == 1
    cache.refresh()
    assert len(fetched) == 1  # the first fetch was just now
    now[0] = 10.0
    cache.refresh()
    cache.refresh()
    assert len(fetched) == 2


def test_jwks_cache_failed_refetch_also_counts():
    key, now, calls = SigningKey(), [0.0], []

    def fetch():
        calls.append(now[0])
        if len(calls) > 1:
            raise ConnectionError("identity down")
        return jwks_of(key)

    cache = JwksCache(fetch, min_interval=10, clock=lambda: now[0])
    cache.get()
    now[0] = 20.0
    with pytest.raises(ConnectionError):
        cache.refresh()
    assert key.kid in cache.refresh()  # within 10 s of the failed attempt: the old keys, no call
    assert calls == [0.0, 20.0]


def test_grpc_stub_adds_deadline_and_correlation_metadata():
    seen = []

    class Raw:
        def GetDiary(self, request, timeout=None, metadata=None):
            seen.append((request, timeout, metadata))
            return "reply"

    stub = GrpcStub(Raw(), timeout=5.0)
    correlation.set("cid-12345678")
    try:
        assert stub.GetDiary("req") == "reply"
        assert stub.GetDiary("req", timeout=1.5) == "reply"
    finally:
        correlation.set(None)
    assert seen == [("req", 5.0, (("x-correlation-id", "cid-12345678"),)),
                    ("req", 1.5, (("x-correlation-id", "cid-12345678"),))]


# -- an in-process identity gRPC server -------------------------------------------

class FakeIdentity(identity_pb2_grpc.IdentityServicer):
    """Answers like identity's server will (kernel.grpcserver.abort JSON details)."""

    def __init__(self, key: SigningKey):
        self.key = key
        self.metadata: list[dict] = []

    def _seen(self, context):
        self.metadata.append(dict(context.invocation_metadata()))

    def Login(self, request, context):
        self._seen(context)
        if request.password != "верный пароль":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, json.dumps(
                {"code": "INVALID_CREDENTIALS", "message": "Неверный логин или пароль"}, ensure_ascii=False))
        return identity_pb2.TokenPair(access_token=self.key.token(sub="u-login", roles=["parent"]),
                                      refresh_token="r", expires_in=900, user_id="u-login", roles=["parent"],
                                      school_id="school-1")

    def GetPublicKeys(self, request, context):
        self._seen(context)
        return identity_pb2.PublicKeys(jwks_json=json.dumps(jwks_of(self.key)))

    def Authorize(self, request, context):
        self._seen(context)
        return identity_pb2.AuthorizeReply(allowed=True)

    def GetProfile(self, request, context):
        self._seen(context)
        return identity_pb2.Profile(id=request.user_id, login="petrova", full_name="Петрова Анна",
                                    roles=["parent"])


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def identity_server():
    key = SigningKey()
    servicer = FakeIdentity(key)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    identity_pb2_grpc.add_IdentityServicer_to_server(servicer, server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, f"127.0.0.1:{port}"
    server.stop(grace=None)


def settings_for(monkeypatch, identity_target: str, amqp_uri: str | None = None):
    monkeypatch.setenv("EJOURNAL_IDENTITY_GRPC_TARGET", identity_target)
    for svc in ("journal", "messaging", "reports"):  # nothing listens there
        monkeypatch.setenv(f"EJOURNAL_{svc.upper()}_GRPC_TARGET", f"127.0.0.1:{closed_port()}")
    monkeypatch.setenv("EJOURNAL_AMQP_URI", amqp_uri or "amqp://guest:guest@127.0.0.1:5672/gateway-test-absent")
    return kernel_config.load()


def test_real_grpc_clients_map_statuses_and_carry_correlation_ids(monkeypatch, identity_server):
    servicer, target = identity_server
    app = create_app({"TESTING": True, "SETTINGS": settings_for(monkeypatch, target), "GRPC_TIMEOUT": 2.0})
    client = app.test_client()
    try:
        response = client.post(f"{P}/auth/login", json={"login": "petrova", "password": "верный пароль"},
                               headers={"X-Correlation-Id": "login-req-0001"})
        assert response.status_code == 200
        assert servicer.metadata[-1]["x-correlation-id"] == "login-req-0001"
        token = response.get_json()["access_token"]

        response = client.post(f"{P}/auth/login", json={"login": "petrova", "password": "нет"})
        assert response.status_code == 401
        assert response.get_json() == {"error": "INVALID_CREDENTIALS", "message": "Неверный логин или пароль",
                                       "details": {}}

        # the token is checked with the keys fetched over gRPC
        response = client.get(f"{P}/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200 and response.get_json()["id"] == "u-login"

        # journal's gRPC server is down: 503 quickly, not 500, not a hang
        started = time.monotonic()
        response = client.get(f"{P}/students/st1/diary", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 503
        assert response.get_json()["error"] == "SERVICE_UNAVAILABLE"
        assert time.monotonic() - started < 3
    finally:
        app.extensions["ejournal.gateway"].close()


# -- the RPC pool against the real RabbitMQ ----------------------------------------

NAMEKO_SERVICE = r'''
import eventlet
eventlet.monkey_patch()
import sys
from nameko.contextdata import ContextDataProvider
from nameko.rpc import rpc
from nameko.runners import ServiceRunner
from kernel.errors import Conflict


class CorrelationId(ContextDataProvider):
    context_key = "correlation_id"


class Messaging:
    name = "messaging"
    correlation_id = CorrelationId()

    @rpc
    def health(self):
        return {"status": "ok", "service": "messaging"}

    @rpc
    def list_notifications(self, ctx, limit=50, cursor=None):
        if cursor == "slow":
            eventlet.sleep(3)
        if cursor == "conflict":
            raise Conflict("Курсор уже использован", code="ALREADY_EXISTS", details={"cursor": cursor})
        eventlet.sleep(0.005)  # let concurrent calls interleave
        return {"items": [{"id": ctx["actor_id"], "kind": "echo", "title": str(limit), "body": "",
                           "data": {"header_cid": self.correlation_id, "ctx_cid": ctx["correlation_id"]},
                           "created_at": "", "read": False}],
                "next_cursor": None}


runner = ServiceRunner({"AMQP_URI": sys.argv[1], "max_workers": 20})
runner.add_service(Messaging)
runner.start()
print("ready", flush=True)
runner.wait()
'''


@pytest.fixture
def rabbit_vhost():
    """A fresh vhost made through the management API, deleted afterwards."""
    name = f"gateway-test-{uuid.uuid4().hex[:10]}"
    requests.put(f"{MGMT}/vhosts/{name}", auth=GUEST, timeout=10).raise_for_status()
    requests.put(f"{MGMT}/permissions/{name}/guest", auth=GUEST, timeout=10,
                 json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{name}"
    finally:
        requests.delete(f"{MGMT}/vhosts/{name}", auth=GUEST, timeout=10)


@pytest.fixture
def nameko_messaging(rabbit_vhost):
    proc = subprocess.Popen([sys.executable, "-c", NAMEKO_SERVICE, rabbit_vhost], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        line = proc.stdout.readline() if ready else ""
        if line.strip() != "ready":
            proc.kill()
            raise AssertionError(f"nameko service did not start: {line!r} {proc.stderr.read()[-2000:]}")
        yield rabbit_vhost
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_rpc_pool_on_real_rabbitmq(monkeypatch, identity_server, nameko_messaging):
    """8 threads share the pool: every answer is the caller's own (no crossed
    frames), the pool never grows past its size, a timeout is 503 and the
    proxy that timed out is thrown away."""
    servicer, target = identity_server
    app = create_app({"TESTING": True, "SETTINGS": settings_for(monkeypatch, target, nameko_messaging),
                      "RPC_TIMEOUT": 1.0, "RPC_POOL_SIZE": 8, "READY_TIMEOUT": 2.0})
    holder = app.extensions["ejournal.gateway"]
    errors: list = []

    def worker(n: int):
        client = app.test_client()
        for i in range(15):
            user = f"user-{n}-{i}"
            cid = f"cid-{n:02d}-{i:04d}-x"
            token = servicer.key.token(sub=user, roles=["parent"])
            response = client.get(f"{P}/notifications?limit={n + 1}",
                                  headers={"Authorization": f"Bearer {token}", "X-Correlation-Id": cid})
            try:
                assert response.status_code == 200, response.get_json()
                item = response.get_json()["items"][0]
                assert item["id"] == user and item["title"] == str(n + 1)
                assert item["data"] == {"header_cid": cid, "ctx_cid": cid}
            except AssertionError as exc:
                errors.append(exc)

    try:
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors[:3]
        pool = holder.get().pool
        assert 1 <= pool.started <= 8 and pool.discarded == 0
        assert pool.idle_count() == pool.started

        # a ServiceError raised in the real service crosses nameko as
        # RemoteError JSON and keeps its kind, code, text and details;
        # that reply is complete, so the proxy stays in the pool
        client = app.test_client()
        token = servicer.key.token(sub="u-conflict", roles=["parent"])
        response = client.get(f"{P}/notifications?cursor=conflict", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 409
        assert response.get_json() == {"error": "ALREADY_EXISTS", "message": "Курсор уже использован",
                                       "details": {"cursor": "conflict"}}
        assert pool.discarded == 0

        client = app.test_client()
        token = servicer.key.token(sub="slow-user", roles=["parent"])
        started = time.monotonic()
        response = client.get(f"{P}/notifications?cursor=slow", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 503
        assert response.get_json()["error"] == "SERVICE_UNAVAILABLE"
        assert time.monotonic() - started < 2.5
        assert pool.discarded == 1
        response = client.get(f"{P}/notifications", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200  # the pool recovered
        assert response.get_json()["items"][0]["id"] == "slow-user"

        # readiness against the same real clients: messaging answers, the
        # services that are not running are named
        body = client.get("/readyz").get_json()
        assert body["checks"]["messaging.rpc"] == "ok"
        assert body["checks"]["identity.grpc"] == "ok"
        assert body["checks"]["journal.rpc"] == "not_running"
        assert body["checks"]["journal.grpc"] == "unavailable"
    finally:
        holder.close()


def test_broker_unreachable_is_503(monkeypatch, identity_server):
    servicer, target = identity_server
    settings = settings_for(monkeypatch, target, f"amqp://guest:guest@127.0.0.1:{closed_port()}/")
    app = create_app({"TESTING": True, "SETTINGS": settings, "RPC_TIMEOUT": 1.0})
    token = servicer.key.token(sub="u", roles=["parent"])
    try:
        response = app.test_client().get(f"{P}/notifications", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 503
        assert response.get_json()["error"] == "SERVICE_UNAVAILABLE"
    finally:
        app.extensions["ejournal.gateway"].close()


def requests_sent(amqp_uri: str, *calls) -> list:
    """Make each ``(args, timeout)`` call of ``probe.ping`` through the
    gateway's RpcPool (nobody answers: each ends in RpcTimeout) and take
    its request off the service's queue while the caller still waits (the
    request expires with the call)."""
    from kombu import Connection, Exchange, Queue

    from nameko.exceptions import RpcTimeout

    from gateway.clients import RpcPool

    queue = Queue("rpc-probe", Exchange("nameko-rpc", type="topic", durable=True), routing_key="probe.*",
                  durable=True)
    pool = RpcPool(amqp_uri, size=1, timeout=0.5)
    got, failures = [], []
    with Connection(amqp_uri) as conn:
        queue(conn.channel()).declare()
        channel = conn.channel()
        try:
            for args, timeout in calls:
                def call():
                    try:
                        pool.call("probe", "ping", args, timeout=timeout)
                    except RpcTimeout:
                        return
                    failures.append("answered")

                caller = threading.Thread(target=call)
                caller.start()
                message = None
                for _ in range(200):  # bounded: 2 s
                    message = queue(channel).get(no_ack=True)
                    if message is not None or not caller.is_alive():
                        break
                    time.sleep(0.01)
                caller.join(timeout=10)
                got.append(message)
        finally:
            pool.close()
    assert not failures
    assert all(m is not None for m in got), "a request never reached the service's queue"
    return got


def test_rpc_requests_are_not_written_to_the_brokers_disk(rabbit_vhost):
    """The gateway's RPC requests go out with delivery mode 1 (a request
    is worthless once its caller gave up; events stay persistent), still
    with publisher confirms: the request reaches the service's queue."""
    (message,) = requests_sent(rabbit_vhost, (({"k": 1},), 1.0))
    assert message.properties["delivery_mode"] == 1
    assert json.loads(message.body)["args"] == [{"k": 1}]


def test_rpc_requests_expire_with_their_timeout_and_carry_their_deadline(rabbit_vhost):
    """A request the gateway gave up on (503) must never be carried out
    later: it expires in the broker after the call's timeout and names its
    deadline (UTC epoch seconds), which the service checks before it starts
    (kernel.deadline)."""
    from kernel.deadline import DEADLINE_HEADER

    sent = time.time()
    first, second = requests_sent(rabbit_vhost, (({"k": 1},), None), (({"k": 2},), 0.8))
    done = time.time()
    # the pool's timeout, then a call's own; the deadline is the send's time plus the timeout
    assert (first.properties.get("expiration"), second.properties.get("expiration")) == ("500", "800")
    assert sent + 0.5 - 0.01 <= first.headers[DEADLINE_HEADER] <= done + 0.5 + 0.01
    assert second.headers[DEADLINE_HEADER] - first.headers[DEADLINE_HEADER] >= 0.75
