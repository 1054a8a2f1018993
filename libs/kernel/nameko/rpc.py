"""RPC entrypoints and proxies: :func:`service_rpc` (expected errors,
deadlines, replies without publisher confirms, malformed requests
dead-lettered) and :class:`RpcProxy` (requests that carry a deadline)."""
from __future__ import annotations

import functools
import inspect
import logging

from nameko.amqp.publish import Publisher
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY, AMQP_URI_CONFIG_KEY, DEFAULT_SERIALIZER, LOGIN_METHOD_CONFIG_KEY, NON_PERSISTENT,
    SERIALIZER_CONFIG_KEY,
)
from nameko.exceptions import IncorrectSignature
from nameko.rpc import Responder, Rpc, RpcConsumer, get_rpc_exchange
from nameko.rpc import RpcProxy as NamekoRpcProxy

from kernel import deadline
from kernel.db import transient_error
from kernel.errors import DeadlineExceeded, ServiceError, ServiceUnavailable
from kernel.nameko.consumer import _QueueConsumer
from kernel.nameko.metrics import RPC_EXPIRED

log = logging.getLogger(__name__)


class _ReplyPublisher(Publisher):
    # An RPC reply goes to the caller's exclusive, auto-deleted reply queue:
    # nothing to persist, and a confirm would only make the worker wait for
    # the broker's ack (a lost reply is the caller's timeout, after which an
    # Idempotency-Key retry gets the stored result).
    use_confirms = False
    delivery_mode = NON_PERSISTENT


class _Responder(Responder):
    publisher_cls = _ReplyPublisher


def _malformed_request(body, message) -> str | None:
    """What makes a decoded delivery on an RPC queue no nameko request (None
    when it is one). nameko would answer it with an error, or, without a
    ``reply_to``, fail in its responder and kill the whole container."""
    if not message.properties.get("reply_to"):
        return "no reply_to"
    if not isinstance(body, dict):
        return f"the body is {type(body).__name__}, not an object"
    if not isinstance(body.get("args"), list) or not isinstance(body.get("kwargs"), dict):
        return "no args list and kwargs object"
    return None


class _RpcConsumer(RpcConsumer):
    """nameko's RpcConsumer, answering through :class:`_Responder`; a
    delivery that is no request (undecodable, :class:`_QueueConsumer`, or
    malformed) is dead-lettered, never run or answered."""

    queue_consumer = _QueueConsumer()

    def handle_message(self, body, message):
        problem = _malformed_request(body, message)
        if problem is not None:
            self.queue_consumer.keep_poison(self, message, f"malformed request: {problem}")
            return
        super().handle_message(body, message)

    def handle_result(self, message, result, exc_info):
        config = self.container.config
        responder = _Responder(
            config[AMQP_URI_CONFIG_KEY], get_rpc_exchange(config), config.get(SERIALIZER_CONFIG_KEY, DEFAULT_SERIALIZER),
            message, ssl=config.get(AMQP_SSL_CONFIG_KEY), login_method=config.get(LOGIN_METHOD_CONFIG_KEY))
        result, exc_info = responder.send_response(result, exc_info)
        self.queue_consumer.ack_message(message)
        return result, exc_info


#: The keyword under which :class:`_Rpc` hands a request's deadline to the
#: :func:`service_rpc` wrapper (never seen by the service's method).
_DEADLINE_ARG = "_ejournal_deadline"


class _Rpc(Rpc):
    rpc_consumer = _RpcConsumer()

    def handle_message(self, body, message):
        # The deadline travels with the request to its worker, which checks
        # it when it starts: a request delivered in time may still wait for
        # a free worker (kernel.deadline).
        value = (message.headers or {}).get(deadline.DEADLINE_HEADER)
        if value is not None and isinstance(body, dict) and isinstance(body.get("kwargs"), dict):
            body = {**body, "kwargs": {**body["kwargs"], _DEADLINE_ARG: value}}
        super().handle_message(body, message)

    def check_signature(self, args, kwargs):
        # nameko's own check, against the service's method rather than
        # service_rpc's (*args, **kwargs) wrapper
        fn = getattr(self.container.service_cls, self.method_name)
        fn = getattr(fn, "__wrapped__", fn)
        if _DEADLINE_ARG in kwargs:
            kwargs = {k: v for k, v in kwargs.items() if k != _DEADLINE_ARG}
        try:
            inspect.getcallargs(fn, None, *args, **kwargs)
        except TypeError as exc:
            raise IncorrectSignature(str(exc))


def service_rpc(fn):
    """``@service_rpc``: every service's RPC entrypoint (all of a service's
    RPCs must use it: a second kind of RPC entrypoint would consume the same
    queue). A ServiceError (403, 404, 422...) is an answer, not a fault:
    nameko logs it as a warning, not as an error with a traceback. Replies go
    out without publisher confirms and non-persistent (:class:`_ReplyPublisher`).

    A request whose deadline (kernel.deadline) has passed when its worker
    starts is not carried out: it is answered with
    :class:`kernel.errors.DeadlineExceeded` (503), counted in
    ``ejournal_rpc_expired_total{service,method}`` and logged.

    A lost database connection (PostgreSQL restarting) is answered with
    :class:`kernel.errors.ServiceUnavailable` (503: a client retries, with
    its Idempotency-Key for a write), not as an unexpected error (500)."""
    @functools.wraps(fn)
    def run(self, *args, **kwargs):
        if _DEADLINE_ARG in kwargs:
            late = deadline.seconds_late(kwargs.pop(_DEADLINE_ARG))
            if late:
                _refuse_late(getattr(self, "name", type(self).__name__), fn.__name__, late)
        try:
            return fn(self, *args, **kwargs)
        except Exception as exc:
            if not transient_error(exc):
                raise
            log.warning("%s.%s: database unavailable (%s)", getattr(self, "name", type(self).__name__),
                        fn.__name__, type(exc).__name__)
            raise ServiceUnavailable(details={"reason": "database"}) from exc
    return _Rpc.decorator(expected_exceptions=ServiceError)(run)


def _refuse_late(service: str, method: str, late: float):
    RPC_EXPIRED.labels(service, method).inc()
    log.warning("%s.%s not started: its caller's deadline passed %.3f s ago", service, method, late)
    raise DeadlineExceeded(details={"late_seconds": round(late, 3)})


class RpcProxy(NamekoRpcProxy):
    """nameko's RpcProxy whose requests carry a deadline (kernel.deadline):
    ``timeout`` seconds from the call, or the calling request's own deadline
    if that is earlier. ``timeout`` is a number or a function of the
    container's config (e.g. a setting), read when the service starts. The
    caller still bounds its wait itself (``eventlet.Timeout``)."""

    def __init__(self, target_service, *, timeout, **options):
        super().__init__(target_service, **options)
        self.timeout = timeout

    def setup(self):
        super().setup()
        self.seconds = float(self.timeout(self.container.config) if callable(self.timeout) else self.timeout)

    def get_dependency(self, worker_ctx):
        return deadline.DeadlineServiceProxy(worker_ctx, self.target_service, self.rpc_reply_listener,
                                             timeout=self.seconds, **self.options)
