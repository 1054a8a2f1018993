"""Run a service's gRPC server as a plain grpcio process (never inside
nameko: see ARCHITECTURE.md "Runtime notes"), with the standard gRPC health
service, /metrics and a clean stop on SIGTERM."""
from __future__ import annotations

import logging
import signal
import threading
import time
from concurrent import futures
from typing import Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import Counter, Histogram

from kernel import config, correlation, metrics
from kernel.db import transient_error

GRPC_SECONDS = Histogram("ejournal_grpc_seconds", "gRPC call duration", ["service", "method"])
GRPC_ERRORS = Counter("ejournal_grpc_errors_total", "gRPC calls that ended in error", ["service", "method", "code"])

CORRELATION_KEY = "x-correlation-id"
calls = logging.getLogger("kernel.grpc.calls")  # one line per call


class _Observe(grpc.ServerInterceptor):
    """Times calls and adopts the caller's correlation id. A method's
    wrapped handler is built once (its name, metric child and log level
    with it) and kept while the server hands out the same handler."""

    def __init__(self, service: str):
        self.service = service
        self._wrapped: dict[str, tuple] = {}  # full method name -> (its handler, that handler wrapped)

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if handler is None:
            return handler
        known = self._wrapped.get(details.method)
        if known is None or known[0] is not handler:
            known = self._wrapped[details.method] = (handler, self._wrap(handler, details.method))
        return known[1]

    def _wrap(self, handler, full_method: str):
        service = self.service
        method = full_method.rsplit("/", 1)[-1]
        rpc = f"{service}.{method}"
        level = logging.DEBUG if full_method.startswith("/grpc.health.") else logging.INFO  # probes
        seconds_of = GRPC_SECONDS.labels(service, method)

        def finish(context, started):
            seconds = time.perf_counter() - started
            seconds_of.observe(seconds)
            code = context.code() if hasattr(context, "code") else None
            name = "OK" if code is None else getattr(code, "name", str(code))
            if code not in (None, grpc.StatusCode.OK):
                GRPC_ERRORS.labels(service, method, name).inc()
            if calls.isEnabledFor(level):
                calls.log(level, "%s.%s %s", service, method, name,
                          extra={"rpc": rpc, "code": name, "duration_ms": round(seconds * 1000, 2)})

        if handler.unary_unary is not None:
            inner = handler.unary_unary

            def unary(request, context):
                correlation.set(_caller_correlation(context))
                started = time.perf_counter()
                try:
                    return inner(request, context)
                except Exception as exc:
                    if transient_error(exc):
                        database_unavailable(context, exc)
                    raise
                finally:
                    finish(context, started)

            return grpc.unary_unary_rpc_method_handler(
                unary, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            def streaming(request, context):
                correlation.set(_caller_correlation(context))
                started = time.perf_counter()
                try:
                    yield from inner_stream(request, context)
                except Exception as exc:
                    if transient_error(exc):
                        database_unavailable(context, exc)
                    raise
                finally:
                    finish(context, started)

            return grpc.unary_stream_rpc_method_handler(
                streaming, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        return handler


def _caller_correlation(context) -> str | None:
    """The caller's correlation id (its metadata's last ``x-correlation-id``), or None."""
    found = None
    for key, value in context.invocation_metadata() or ():
        if key == CORRELATION_KEY:
            found = value
    return found


def database_unavailable(context, exc: BaseException) -> None:
    """End a call whose database connection was lost (a restart): UNAVAILABLE,
    which the gateway answers with 503 and a client may retry, not UNKNOWN (500)."""
    logging.getLogger("kernel.grpcserver").warning("database unavailable: %s", type(exc).__name__)
    abort(context, grpc.StatusCode.UNAVAILABLE, "SERVICE_UNAVAILABLE", "database unavailable")


def serve(service: str, port: int, metrics_port: int, register: Callable[[grpc.Server], list],
          health_check: Callable[[], dict] | None = None, workers: int = 16,
          host: str | None = None) -> None:
    """Build, start and block until SIGTERM/SIGINT.

    ``register(server)`` adds the servicers and returns the full service
    names to mark SERVING in the health service.
    """
    host = host or config.bind_host()
    correlation.setup_logging(f"{service}.grpc")
    log = logging.getLogger("kernel.grpcserver")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers), interceptors=[_Observe(service)],
                         options=[("grpc.max_receive_message_length", 64 * 1024 * 1024),
                                  ("grpc.max_send_message_length", 64 * 1024 * 1024),
                                  # a port another instance holds is an error, not a shared port
                                  ("grpc.so_reuseport", 0)])
    names = register(server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in list(names) + [""]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    bound = server.add_insecure_port(f"{host}:{port}")
    if not bound:
        raise SystemExit(f"{service}.grpc: cannot bind {host}:{port}")
    metrics.serve(metrics_port, health_check)
    server.start()
    log.info("%s gRPC listening on %s:%s", service, host, port)
    done = threading.Event()

    def _stop(signum, frame):
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    done.wait()
    for name in list(names) + [""]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    server.stop(grace=5).wait()


def abort(context, code: grpc.StatusCode, error_code: str, message: str, details: dict | None = None):
    """End a call with a status whose details the gateway maps (JSON);
    ``details`` (optional) reach the client as the error's ``details``."""
    import json
    body = {"code": error_code, "message": message}
    if details:
        body["details"] = details
    context.abort(code, json.dumps(body, ensure_ascii=False))
