"""Per-process Prometheus ``/metrics`` and ``/healthz`` on one port."""
from __future__ import annotations

import json
import threading
from typing import Callable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):  # scrapes every few seconds would flood the log
        pass


def metrics_app(health: Callable[[], dict] | None = None):
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
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]

    return app


def serve(port: int, health: Callable[[], dict] | None = None, host: str | None = None) -> WSGIServer:
    """Serve metrics and health on ``host:port`` from a daemon thread."""
    from kernel.config import bind_host

    host = host or bind_host()
    server = make_server(host, port, metrics_app(health), WSGIServer, handler_class=_QuietHandler)
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
