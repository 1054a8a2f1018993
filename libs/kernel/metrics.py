"""Per-process Prometheus ``/metrics`` and ``/healthz`` on one port."""
from __future__ import annotations

import json
import threading
from socketserver import ThreadingMixIn
from typing import Callable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):  # scrapes every few seconds would flood the log
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    """One thread per request: a long answer (the backup worker's archive
    downloads) never holds up /healthz and /metrics."""
    daemon_threads = True


def metrics_app(health: Callable[[], dict] | None = None, routes: dict | None = None):
    """``/healthz``, ``/metrics`` and, for a path under one of ``routes``'
    prefixes, that WSGI app."""
    prom = make_wsgi_app()

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            try:
                body = health() if health else {"status": "ok"}
                status = "200 OK" if body.get("status") == "ok" else "503 Service Unavailable"
            except Exception as exc:  # a failing check is an answer, not a crash
                body, status = {"status": "error", "error": type(exc).__name__}, "503 Service Unavailable"
            data = json.dumps(body).encode()
            start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
            return [data]
        if path == "/metrics":
            return prom(environ, start_response)
        for prefix, route in (routes or {}).items():
            if path.startswith(prefix):
                return route(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]

    return app


def serve(port: int, health: Callable[[], dict] | None = None, host: str | None = None,
          routes: dict | None = None) -> WSGIServer:
    """Serve metrics and health (and ``routes``, see :func:`metrics_app`) on
    ``host:port`` from a daemon thread."""
    from kernel.config import bind_host

    host = host or bind_host()
    server = make_server(host, port, metrics_app(health, routes), _ThreadingServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name=f"metrics:{port}", daemon=True)
    thread.start()
    return server


def db_health(engine) -> Callable[[], dict]:
    """A health check that the database answers."""
    from sqlalchemy import text

    def check():
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok"}

    return check
