"""The gateway's Prometheus metrics. gunicorn runs several worker
processes, so with ``PROMETHEUS_MULTIPROC_DIR`` set (gunicorn_conf sets it)
every scrape aggregates all workers' files."""
from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess,
)

REQUESTS = Counter("gateway_requests_total", "HTTP requests answered by the gateway",
                   ["route", "method", "status"])
SECONDS = Histogram("gateway_request_seconds", "Time to answer an HTTP request", ["route"])


# (route, method, status) -> its counter and histogram children: labels() takes
# a lock and builds its key per call; the routes and statuses are few
_CHILDREN: dict = {}


def observe(route: str, method: str, status: int, seconds: float) -> None:
    children = _CHILDREN.get((route, method, status))
    if children is None:
        children = _CHILDREN[(route, method, status)] = (REQUESTS.labels(route, method, str(status)),
                                                         SECONDS.labels(route))
    children[0].inc()
    children[1].observe(seconds)


def render() -> tuple[bytes, str]:
    """The exposition text and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST
