"""The gateway's clients of the services behind it, one :class:`Clients`
per process, built lazily after gunicorn forked the worker.

- nameko RPC through a bounded pool of started ``ClusterRpcProxy``: one
  shared proxy across threads corrupts AMQP frames and a proxy per request
  is 4x slower (ARCHITECTURE.md "Runtime notes"). Each proxy serves one
  thread at a time, every call has a timeout, and a proxy is thrown away
  after any failure that may have left its connection out of step (it is
  kept after a RemoteError: that is a complete, well-formed reply). Every
  request expires with its timeout and carries its deadline, so that a
  request the gateway gave up on is never carried out (kernel.deadline).
- gRPC channels to identity, journal and reports (its document stream),
  and the health checks of every gRPC server, every call with a deadline and the correlation id as
  ``x-correlation-id`` metadata.
- the identity public keys (JWKS), cached and refetched at most once per
  ``jwks_min_interval`` seconds when a token names an unknown key id.
"""
from __future__ import annotations

import collections
import logging
import os
import threading
import time
from typing import Callable

import grpc
from amqp.exceptions import AMQPError
from kombu.exceptions import OperationalError as KombuOperationalError
from nameko.exceptions import BadRequest as NamekoBadRequest
from nameko.exceptions import RemoteError, UnknownService
from nameko.constants import NON_PERSISTENT
from nameko.standalone.rpc import ClusterRpcProxy

from kernel import correlation
from kernel.auth import KeySet
from kernel.deadline import DeadlineMethodProxy

from gateway.errors import Unavailable

log = logging.getLogger(__name__)

CORRELATION_KEY = "x-correlation-id"  # the metadata key kernel.grpcserver adopts
GRPC_SERVICES = ("identity", "journal", "messaging", "reports")


class JwksCache:
    """identity's public keys, fetched on first use and refetched (at most
    once per ``min_interval`` seconds, successful or not) on demand."""

    def __init__(self, fetch: Callable[[], str | dict], min_interval: float = 10.0,
                 clock: Callable[[], float] = time.monotonic):
        self._fetch = fetch
        self._min_interval = min_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: KeySet | None = None
        self._attempted_at: float | None = None

    def get(self) -> KeySet:
        """The cached key set (fetched now if there is none yet)."""
        keys = self._keys
        if keys is not None:
            return keys
        with self._lock:
            if self._keys is None:
                self._load()
            return self._keys

    def refresh(self) -> KeySet:
        """Refetch unless the last attempt was less than ``min_interval`` ago,
        so that tokens with made-up key ids cannot hammer identity."""
        with self._lock:
            recent = self._attempted_at is not None and self._clock() - self._attempted_at < self._min_interval
            if self._keys is None or not recent:
                self._load()
            return self._keys

    def _load(self) -> None:
        self._attempted_at = self._clock()
        self._keys = KeySet(self._fetch())


class _PooledProxy:
    """One started ClusterRpcProxy, used by one thread at a time."""

    def __init__(self, amqp_uri: str, timeout: float):
        # WorkerContext keeps this very dict, so per-call context data (the
        # correlation id header) is set by mutating it.
        self.data: dict = {}
        self.default_timeout = timeout
        self.standalone = ClusterRpcProxy({"AMQP_URI": amqp_uri}, context_data=self.data, timeout=timeout)
        self.standalone.start()
        self.consumer = self.standalone._reply_listener.queue_consumer
        self.last_used = time.monotonic()

    def call(self, service: str, method: str, args: tuple, kwargs: dict, timeout: float | None,
             correlation_id: str | None):
        if correlation_id:
            self.data["correlation_id"] = correlation_id
        else:
            self.data.pop("correlation_id", None)
        # nameko's standalone proxy implements its timeout as the socket
        # timeout of the reply consumer; one thread owns this proxy, so
        # changing it per call is safe.
        self.consumer.timeout = timeout = timeout or self.default_timeout
        try:
            return self._method(service, method, timeout)(*args, **kwargs)
        finally:
            self.consumer.timeout = self.default_timeout
            self.last_used = time.monotonic()

    def _method(self, service: str, method: str, timeout: float) -> DeadlineMethodProxy:
        # A request is worth nothing once its caller has given up on it: it
        # expires in the broker after ``timeout`` and carries that deadline,
        # which the service checks before it starts (kernel.deadline), so a
        # request the gateway answered 503 is never carried out later. Nor
        # is it written to the broker's disk (delivery mode 1): a broker
        # restart loses it and the caller gets 503. Publisher confirms stay
        # on: an unknown service is still refused at once.
        return DeadlineMethodProxy(self.standalone._worker_ctx, service, method, self.standalone._reply_listener,
                                   timeout=timeout, delivery_mode=NON_PERSISTENT)

    def stop(self) -> None:
        try:
            self.standalone.stop()
        except Exception:  # already broken; we are throwing it away anyway
            log.debug("error while stopping an RPC proxy", exc_info=True)


class RpcPool:
    """A bounded pool of started nameko proxies (see the module docstring)."""

    def __init__(self, amqp_uri: str, *, size: int = 8, timeout: float = 10.0,
                 acquire_timeout: float | None = None, max_idle: float = 60.0):
        self.amqp_uri = amqp_uri
        self.size = size
        self.timeout = timeout
        self.acquire_timeout = timeout if acquire_timeout is None else acquire_timeout
        # Idle connections can be cut by firewalls without either side
        # noticing; a proxy unused for this long is replaced rather than trusted.
        self.max_idle = max_idle
        self._slots = threading.BoundedSemaphore(size)
        self._idle: collections.deque[_PooledProxy] = collections.deque()
        self._lock = threading.Lock()
        self.started = 0
        self.discarded = 0

    def call(self, service: str, method: str, args: tuple = (), kwargs: dict | None = None, *,
             timeout: float | None = None, correlation_id: str | None = None):
        """Call ``service.method(*args, **kwargs)``; raises what nameko raises
        (RemoteError, RpcTimeout, UnknownService) or :class:`Unavailable`."""
        if not self._slots.acquire(timeout=self.acquire_timeout):
            raise Unavailable("all RPC proxies are busy")
        try:
            pooled = self._checkout()
            keep = False
            try:
                result = pooled.call(service, method, args, kwargs or {}, timeout, correlation_id)
                keep = True
                return result
            except (RemoteError, NamekoBadRequest, UnknownService):
                # A complete reply arrived (or the broker refused the request
                # before anything was sent): the proxy's consumer is in step.
                # Anything else (timeout, socket error) may leave a late
                # reply behind, so that proxy is thrown away.
                keep = True
                raise
            except (OSError, RuntimeError) as exc:
                # socket errors, or nameko's "consumer has been disconnected"
                raise Unavailable(f"RPC to {service} failed: {type(exc).__name__}") from exc
            finally:
                if keep:
                    self._checkin(pooled)
                else:
                    self._discard(pooled)
        finally:
            self._slots.release()

    def _checkout(self) -> _PooledProxy:
        now = time.monotonic()
        while True:
            with self._lock:
                pooled = self._idle.pop() if self._idle else None
            if pooled is None:
                break
            if now - pooled.last_used <= self.max_idle:
                return pooled
            self._discard(pooled)
        try:
            pooled = _PooledProxy(self.amqp_uri, self.timeout)
        except (OSError, AMQPError, KombuOperationalError) as exc:
            raise Unavailable(f"cannot connect to the broker: {type(exc).__name__}") from exc
        with self._lock:
            self.started += 1
        return pooled

    def _checkin(self, pooled: _PooledProxy) -> None:
        with self._lock:
            self._idle.append(pooled)

    def _discard(self, pooled: _PooledProxy) -> None:
        with self._lock:
            self.discarded += 1
        pooled.stop()

    def idle_count(self) -> int:
        with self._lock:
            return len(self._idle)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = list(self._idle), collections.deque()
        for pooled in idle:
            pooled.stop()


class GrpcStub:
    """A generated stub whose every call carries a deadline and the
    current correlation id: ``clients.identity.Login(request)``."""

    def __init__(self, stub, timeout: float):
        self._stub = stub
        self._timeout = timeout

    def __getattr__(self, name: str):
        method = getattr(self._stub, name)
        default_timeout = self._timeout

        def call(request, *, timeout: float | None = None):
            cid = correlation.get()
            metadata = ((CORRELATION_KEY, cid),) if cid else ()
            return method(request, timeout=timeout or default_timeout, metadata=metadata)

        call.__name__ = name
        return call


class Clients:
    """Everything the gateway calls, for one process. Nothing connects
    before the first use, and a copy inherited through fork rebuilds its
    connections instead of sharing the parent's sockets."""

    def __init__(self, settings, *, rpc_timeout: float = 10.0, grpc_timeout: float = 5.0,
                 pool_size: int = 8, jwks_min_interval: float = 10.0):
        self.settings = settings
        self.rpc_timeout = rpc_timeout
        self.grpc_timeout = grpc_timeout
        self.pool_size = pool_size
        self._lock = threading.Lock()
        self._pid = None
        self._pool: RpcPool | None = None
        self._channels: dict[str, grpc.Channel] = {}
        self._stubs: dict[tuple, GrpcStub] = {}
        self._jwks = JwksCache(self._fetch_jwks, jwks_min_interval)

    # -- process-local state -------------------------------------------------
    def _ensure_process(self) -> None:
        pid = os.getpid()
        if self._pid == pid:
            return
        with self._lock:
            if self._pid != pid:
                # forked: the parent's sockets are not ours to use or close
                self._pool = None
                self._channels = {}
                self._stubs = {}
                self._pid = pid

    @property
    def pool(self) -> RpcPool:
        self._ensure_process()
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = RpcPool(self.settings.amqp_uri, size=self.pool_size, timeout=self.rpc_timeout)
        return self._pool

    def channel(self, service: str) -> grpc.Channel:
        self._ensure_process()
        channel = self._channels.get(service)
        if channel is None:
            with self._lock:
                channel = self._channels.get(service)
                if channel is None:
                    # round robin over every address the target resolves to (a
                    # headless Service's pods); one address locally: the same
                    channel = grpc.insecure_channel(self.settings.grpc_target(service), options=[
                        ("grpc.lb_policy_name", "round_robin"),
                        ("grpc.keepalive_time_ms", 30000),
                        ("grpc.keepalive_permit_without_calls", 0),
                    ])
                    self._channels[service] = channel
        return channel

    # -- the interface routes use ---------------------------------------------
    def rpc(self, service: str, method: str, *args, timeout: float | None = None, **kwargs):
        """A nameko RPC with a timeout (``timeout`` is reserved for the call
        itself; every other keyword goes to the remote method)."""
        return self.pool.call(service, method, args, kwargs, timeout=timeout,
                              correlation_id=correlation.get())

    def _stub(self, service: str, stub_class) -> GrpcStub:
        self._ensure_process()
        key = (service, stub_class.__name__)
        stub = self._stubs.get(key)
        if stub is None:
            stub = GrpcStub(stub_class(self.channel(service)), self.grpc_timeout)
            self._stubs[key] = stub
        return stub

    @property
    def identity(self) -> GrpcStub:
        """identity's gRPC API (Login, GetPublicKeys, Authorize, GetProfile)."""
        from ejournal.identity.v1 import identity_pb2_grpc
        return self._stub("identity", identity_pb2_grpc.IdentityStub)

    @property
    def journal(self) -> GrpcStub:
        """journal's gRPC API (GetDiary)."""
        from ejournal.journal.v1 import journal_pb2_grpc
        return self._stub("journal", journal_pb2_grpc.JournalStub)

    @property
    def reports(self) -> GrpcStub:
        """reports' document stream (ejournal.reports.v1.Reports)."""
        from ejournal.reports.v1 import reports_pb2_grpc
        return self._stub("reports", reports_pb2_grpc.ReportsStub)

    def jwks(self, refresh: bool = False) -> KeySet:
        """identity's public keys; ``refresh=True`` when a token names an unknown kid."""
        return self._jwks.refresh() if refresh else self._jwks.get()

    def grpc_health(self, service: str, timeout: float = 2.0) -> str:
        """The standard gRPC health status of ``service``'s server (e.g. "SERVING")."""
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        stub = self._stub(service, health_pb2_grpc.HealthStub)
        reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

    def worker_health(self, timeout: float = 2.0) -> str:
        """The backup worker's /healthz (it serves no RPC): "ok", or why not.
        Its address: ``EJOURNAL_BACKUP_WORKER_HEALTH_URL``, by default its
        metrics port on the gRPC host."""
        import urllib.error
        import urllib.request
        url = os.environ.get("EJOURNAL_BACKUP_WORKER_HEALTH_URL") or (
            f"http://{self.settings.grpc_host}:{self.settings.port('backup.worker.metrics')}/healthz")
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                return "ok" if resp.status == 200 else "unhealthy"
        except urllib.error.HTTPError:
            return "unhealthy"
        except TimeoutError:
            return "timeout"
        except (urllib.error.URLError, OSError) as exc:
            return "timeout" if isinstance(getattr(exc, "reason", None), TimeoutError) else "unavailable"

    def worker_url(self) -> str:
        """The backup worker's HTTP address: ``EJOURNAL_BACKUP_WORKER_URL``,
        else that of its health URL, else its metrics port on the gRPC host."""
        url = os.environ.get("EJOURNAL_BACKUP_WORKER_URL")
        if url:
            return url.rstrip("/")
        health = os.environ.get("EJOURNAL_BACKUP_WORKER_HEALTH_URL")
        if health and health.endswith("/healthz"):
            return health[:-len("/healthz")]
        return f"http://{self.settings.grpc_host}:{self.settings.port('backup.worker.metrics')}"

    def worker_archive(self, backup_id: str, ticket: str, timeout: tuple = (10.0, 600.0)):
        """The backup worker's streamed answer for one archive (requests,
        ``stream=True``: the caller iterates and closes it). The read timeout
        is long: an archive kept only off-site is reassembled before its
        first byte."""
        import requests
        from urllib.parse import quote
        return requests.get(f"{self.worker_url()}/archives/{quote(backup_id, safe='')}",
                            params={"ticket": ticket}, stream=True, timeout=timeout)

    def _fetch_jwks(self) -> str:
        from ejournal.identity.v1 import identity_pb2
        return self.identity.GetPublicKeys(identity_pb2.PublicKeysRequest()).jwks_json

    def close(self) -> None:
        if self._pid != os.getpid():
            return
        if self._pool is not None:
            self._pool.close()
        for channel in self._channels.values():
            channel.close()
        self._channels = {}
        self._stubs = {}
