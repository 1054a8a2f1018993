"""Deadlines of nameko RPC requests: a request its caller gave up on is never
carried out later (a teacher who got 503 and typed the marks again must not
get them twice).

Every request goes out with an AMQP ``expiration`` equal to the time its
caller still waits (the broker drops it unread after that, e.g. while the
service is down) and the header ``nameko.deadline``: the absolute time, UTC
epoch seconds, after which nobody waits for the answer.
``kernel.nameko.rpc.service_rpc`` refuses to start a request whose deadline
has passed (one delivered in time may still wait for a free worker). A
worker that calls another service passes on the earlier of its own deadline
and its call's timeout. The header goes through nameko's context data
(``deadline``), so even a plain nameko proxy passes the caller's deadline on.

The deadline is wall-clock time: the gateway's and the services' clocks must
agree to well within the shortest timeout (NTP).
"""
from __future__ import annotations

import math
import time

from nameko.rpc import MethodProxy, ServiceProxy

#: nameko context data key; on the wire the header ``nameko.deadline``
DEADLINE_KEY = "deadline"
DEADLINE_HEADER = "nameko." + DEADLINE_KEY
#: the shortest expiration sent (kombu sends whole milliseconds; 0 would
#: mean "deliver now or drop")
MIN_EXPIRATION = 0.001


def parse(value) -> float | None:
    """A deadline header's value as epoch seconds, or None if it is not one
    (absent, or not a finite number: such a request has no deadline)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def seconds_late(value, now: float | None = None) -> float:
    """How long ago the deadline ``value`` passed (> 0), else 0.0 (in time,
    or no deadline)."""
    deadline = parse(value)
    if deadline is None:
        return 0.0
    late = (time.time() if now is None else now) - deadline
    return late if late > 0 else 0.0


def wait_for(timeout: float, inherited=None, now: float | None = None) -> float:
    """How long a call that waits ``timeout`` seconds may take, made by a
    worker whose own request has the deadline ``inherited`` (if any): never
    past that deadline (0.0 when it has passed)."""
    inherited = parse(inherited)
    if inherited is None:
        return timeout
    left = inherited - (time.time() if now is None else now)
    return max(0.0, min(timeout, left))


class DeadlineMethodProxy(MethodProxy):
    """nameko's MethodProxy whose request carries ``expiration`` and the
    deadline header, from ``timeout`` (seconds the caller waits) and the
    calling worker's own deadline."""

    def __init__(self, worker_ctx, service_name, method_name, reply_listener, *, timeout: float, **options):
        super().__init__(worker_ctx, service_name, method_name, reply_listener, **options)
        self.timeout = timeout

    def get_message_headers(self, worker_ctx):
        # MethodProxy._call asks for the headers just before it publishes:
        # the deadline and the expiration are taken at that moment.
        headers = super().get_message_headers(worker_ctx)
        now = time.time()
        wait = wait_for(self.timeout, worker_ctx.data.get(DEADLINE_KEY), now)
        headers[DEADLINE_HEADER] = now + wait
        self.publisher.expiration = max(wait, MIN_EXPIRATION)
        return headers


class DeadlineServiceProxy(ServiceProxy):
    """``proxy.method(*args)`` through :class:`DeadlineMethodProxy`;
    ``timeout`` is a number or a function that gives one at call time."""

    def __init__(self, worker_ctx, service_name, reply_listener, *, timeout, **options):
        super().__init__(worker_ctx, service_name, reply_listener, **options)
        self.timeout = timeout

    def __getattr__(self, name):
        timeout = self.timeout() if callable(self.timeout) else self.timeout
        return DeadlineMethodProxy(self.worker_ctx, self.service_name, name, self.reply_listener,
                                   timeout=timeout, **self.options)
