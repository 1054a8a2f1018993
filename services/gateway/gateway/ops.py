"""Liveness, readiness, metrics and the icon (the routes outside ``/api/v1``
and the portal)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc
from flask import Blueprint, Response, current_app, jsonify, send_from_directory
from nameko.exceptions import RpcTimeout, UnknownService

from kernel import correlation

from gateway import metrics
from gateway.clients import GRPC_SERVICES
from gateway.context import current_clients
from gateway.errors import ApiError
from gateway.messages import text

bp = Blueprint("ops", __name__)

NAMEKO_SERVICES = ("identity", "journal", "messaging", "reports", "backup")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RpcTimeout):
        return "timeout"
    if isinstance(exc, UnknownService):
        return "not_running"
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
        return "timeout" if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED else exc.code().name.lower()
    return "unavailable"


def readiness(clients, timeout: float, correlation_id: str | None, details: dict | None = None) -> dict:
    """``{"<service>.rpc"|"<service>.grpc"|"backup.worker": "ok"|problem}``:
    one check per process behind the gateway (the backup worker's is its
    /healthz), checked concurrently so that one dead process costs
    ``timeout`` once, not once per process. A nameko service's ``health``
    may add a ``detail`` (reports: its self-check): it goes to ``details``
    when given."""

    def rpc_check(service):
        correlation.set(correlation_id)
        try:
            reply = clients.rpc(service, "health", timeout=timeout)
        except Exception as exc:
            return _describe(exc)
        if isinstance(reply, dict) and isinstance(reply.get("detail"), dict):
            details[service] = reply["detail"]
        return "ok" if isinstance(reply, dict) and reply.get("status") == "ok" else "unhealthy"

    def grpc_check(service):
        correlation.set(correlation_id)
        try:
            status = clients.grpc_health(service, timeout=timeout)
        except Exception as exc:
            return _describe(exc)
        return "ok" if status == "SERVING" else status.lower()

    def worker_check(_):
        try:
            return clients.worker_health(timeout=timeout)
        except Exception as exc:
            return _describe(exc)

    details = {} if details is None else details
    jobs = [(f"{s}.rpc", rpc_check, s) for s in NAMEKO_SERVICES]
    jobs += [(f"{s}.grpc", grpc_check, s) for s in GRPC_SERVICES]
    jobs.append(("backup.worker", worker_check, None))
    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="readyz") as pool:
        futures = [(name, pool.submit(fn, service)) for name, fn, service in jobs]
        return {name: future.result() for name, future in futures}


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    details: dict = {}
    checks = readiness(current_clients(), current_app.config["READY_TIMEOUT"], correlation.get(), details)
    failed = sorted(name for name, state in checks.items() if state != "ok")
    if not failed:
        return jsonify({"status": "ok", "checks": checks, **({"detail": details} if details else {})})
    err = ApiError(503, "SERVICE_UNAVAILABLE", text("NOT_READY"), details={"failed": failed, "checks": checks})
    return jsonify({**err.body(), "status": "unavailable", "checks": checks}), 503


@bp.get("/metrics")
def prometheus_metrics():
    body, content_type = metrics.render()
    return Response(body, content_type=content_type)


@bp.get("/favicon.ico")
def favicon():
    """The portal's icon (browsers ask for it at this path)."""
    response = send_from_directory(current_app.static_folder, "favicon.ico", mimetype="image/vnd.microsoft.icon",
                                   max_age=86400)
    return response
