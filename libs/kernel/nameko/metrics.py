"""The Prometheus metrics of the nameko side of a service (events relayed,
handled and dead-lettered, outbox lag, entrypoint durations, errors and
expired requests) and :class:`EntrypointMetrics`, which times every
entrypoint."""
from __future__ import annotations

import logging
import time

from nameko.extensions import DependencyProvider
from prometheus_client import Counter, Gauge, Histogram

from kernel import correlation

EVENTS_PUBLISHED = Counter("ejournal_events_published_total", "Events relayed from the outbox", ["service", "type"])
EVENTS_HANDLED = Counter("ejournal_events_handled_total", "Events handled", ["consumer", "result"])
DEAD_LETTERS = Counter("ejournal_dead_letters_total", "Events moved to the dead-letter queue", ["consumer"])
OUTBOX_LAG = Histogram("ejournal_outbox_lag_seconds", "Time from outbox write to broker confirm", ["service"])
OUTBOX_OLDEST = Gauge("ejournal_outbox_oldest_unsent_seconds",
                      "Age of the oldest outbox row the broker has not confirmed (0: none)", ["service"])
log = logging.getLogger("kernel.nameko.entrypoints")  # one line per RPC and event delivery
RPC_SECONDS = Histogram("ejournal_entrypoint_seconds", "Entrypoint duration", ["service", "entrypoint"])
RPC_ERRORS = Counter("ejournal_entrypoint_errors_total", "Entrypoints that raised", ["service", "entrypoint", "error"])
RPC_EXPIRED = Counter("ejournal_rpc_expired_total", "RPC requests not started: their caller's deadline had passed",
                      ["service", "method"])


class EntrypointMetrics(DependencyProvider):
    """Times every entrypoint, counts errors, sets the correlation and actor
    ids, and logs one line per RPC and per event delivery (kernel.correlation's
    JSON: ``rpc`` or ``event`` and ``consumer``, ``duration_ms``, ``error``)."""

    def worker_setup(self, worker_ctx):
        worker_ctx.data.setdefault("correlation_id", worker_ctx.data.get("correlation_id"))
        correlation.set(worker_ctx.data.get("correlation_id"))
        correlation.set_actor(_actor_of(worker_ctx))
        worker_ctx.data["_started"] = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        name = worker_ctx.entrypoint.method_name
        service = worker_ctx.container.service_name
        started = worker_ctx.data.get("_started")
        seconds = time.perf_counter() - started if started is not None else None
        if seconds is not None:
            RPC_SECONDS.labels(service, name).observe(seconds)
        if exc_info is not None:
            RPC_ERRORS.labels(service, name, exc_info[0].__name__).inc()
        _log_worker(worker_ctx, service, name, seconds, exc_info)
        correlation.set_actor(None)


def _actor_of(worker_ctx) -> str | None:
    """The actor of an RPC (its ``ctx``, docs/contracts.md "The call context")."""
    args = worker_ctx.args
    first = args[0] if args else None
    actor = first.get("actor_id") if isinstance(first, dict) else None
    return actor if isinstance(actor, str) else None


def _log_worker(worker_ctx, service: str, name: str, seconds, exc_info) -> None:
    from nameko.events import EventHandler
    from nameko.rpc import Rpc

    entrypoint = worker_ctx.entrypoint
    fields = {"duration_ms": None if seconds is None else round(seconds * 1000, 2),
              "correlation_id": worker_ctx.data.get("correlation_id") or correlation.get()}
    if exc_info is not None:
        fields["error"] = exc_info[0].__name__
    if isinstance(entrypoint, Rpc):
        fields["rpc"] = f"{service}.{name}"
        level = logging.DEBUG if name == "health" else logging.INFO  # readiness probes
    elif isinstance(entrypoint, EventHandler):
        from kernel.nameko.consumer import consumer_name

        fields["event"] = f"{entrypoint.source_service}.{entrypoint.event_type}"
        fields["consumer"] = consumer_name(worker_ctx.container, entrypoint)
        # a delivery (or a batch of them) may carry the events of several
        # requests: one line per request, so that each one's id finds it
        for cid, count in _requests_of(entrypoint, worker_ctx.args).items():
            log.info("%s %s (%d events)", fields["consumer"], "failed" if exc_info else "done", count,
                     extra={**fields, "correlation_id": cid or fields["correlation_id"] or "-", "count": count})
        return
    else:  # timers
        fields["rpc"] = f"{service}.{name}"
        level = logging.DEBUG
    log.log(level, "%s %s", fields["rpc"], "failed" if exc_info else "done", extra=fields)


def _requests_of(entrypoint, args) -> dict:
    """``{correlation id: events}`` of an event handler's delivery: one
    body, or (a batch handler, kernel.batching) a list of bodies; each body
    one envelope or a packed list of them."""
    from kernel.batching import BatchEventHandler
    from kernel.events import unpack

    bodies = (args[0] if args and isinstance(args[0], list) else []) if isinstance(entrypoint, BatchEventHandler) \
        else list(args[:1])
    found: dict = {}
    for body in bodies:
        for env in unpack(body):
            cid = env.get("correlation_id") if isinstance(env, dict) else None
            cid = cid if isinstance(cid, str) else None
            found[cid] = found.get(cid, 0) + 1
    return found or {None: 0}
