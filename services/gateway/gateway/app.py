"""The gateway's Flask application factory (flaskr style).

``create_app(config=None, clients=None)``: settings are read from the
environment (kernel.config.load) when the app is created, never at import;
``config`` overrides Flask config keys (tests); ``clients`` replaces the
process's service clients (tests inject a fake). Without it, the real
:class:`gateway.clients.Clients` is built on first use, in the worker.
"""
from __future__ import annotations

import logging
import re
import time

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

from kernel import config as kernel_config
from kernel import correlation

from gateway import (
    access_log, api, bodies, api_identity, api_journal_marks, api_journal_reads, api_journal_structure, api_messaging,
    api_people_reads, errors, guard, invalidation, metrics, ops, portal,
)
from gateway.auth import REVOCATIONS, TOKEN_CACHE, Revocations, TokenCache
from gateway.context import EXTENSION, PROFILES, ClientsHolder
from gateway.jsonprovider import FastJSONProvider
from gateway.messages import MESSAGES, text
from gateway.validation import printable

log = logging.getLogger("gateway")
access = logging.getLogger("gateway.requests")
QUIET_PATHS = ("/healthz", "/metrics")  # probes and scrapes: logged at DEBUG

DEFAULTS = {
    "MAX_CONTENT_LENGTH": bodies.DEFAULT,  # per route: gateway.bodies
    "RPC_TIMEOUT": 10.0,        # seconds, every nameko call
    "GRPC_TIMEOUT": 5.0,        # seconds, every gRPC deadline
    "RPC_POOL_SIZE": 8,         # started proxies per process (= gunicorn threads)
    "READY_TIMEOUT": 2.0,       # seconds, each /readyz check
    "JWKS_MIN_INTERVAL": 10.0,  # seconds between two refetches of identity's keys
    "TOKEN_CACHE_SIZE": 4096,   # verified tokens remembered per process (0: off)
    "TOKEN_CACHE_SECONDS": 60.0,
    "DECISION_CACHE_SIZE": 10000,   # identity's access decisions remembered per process (0: off)
    "DECISION_CACHE_SECONDS": 2.0,  # how long one is trusted: the bound on a revoked relationship
    "PROFILE_CACHE_SECONDS": 30.0,  # the portal menu's profile per user, emptied with the decisions
    "ACCESS_LOG_BATCH": 200,        # access events per broker message, at most
    # seconds a batch may wait for more events after its first: fewer, larger
    # messages cost the consumers less per event (a graceful stop still flushes)
    "ACCESS_LOG_LINGER": 2.0,
}

# A client's X-Correlation-Id is adopted only if it cannot pollute logs or
# headers, and fits the 64 characters the outbox keeps.
SANE_CORRELATION_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")

JSON_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
PORTAL_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
              "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")

ACCESS_LOG = "ejournal.gateway.access_log"

HTTP_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}


def create_app(config: dict | None = None, clients=None) -> Flask:
    """Build the gateway app; see the module docstring."""
    app = Flask("gateway")
    app.json = FastJSONProvider(app)
    app.config.update(DEFAULTS)
    app.config.from_prefixed_env("EJOURNAL_GATEWAY")  # e.g. EJOURNAL_GATEWAY_RPC_TIMEOUT=5
    app.config.update(config or {})
    settings = app.config.get("SETTINGS") or kernel_config.load()
    app.config["SETTINGS"] = settings
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    def build_clients():
        from gateway.clients import Clients
        return Clients(settings, rpc_timeout=float(app.config["RPC_TIMEOUT"]),
                       grpc_timeout=float(app.config["GRPC_TIMEOUT"]),
                       pool_size=int(app.config["RPC_POOL_SIZE"]),
                       jwks_min_interval=float(app.config["JWKS_MIN_INTERVAL"]))

    app.extensions[EXTENSION] = ClientsHolder(build_clients, clients)
    if int(app.config["TOKEN_CACHE_SIZE"]) > 0:
        app.extensions[TOKEN_CACHE] = TokenCache(int(app.config["TOKEN_CACHE_SIZE"]),
                                                 float(app.config["TOKEN_CACHE_SECONDS"]))
    if int(app.config["DECISION_CACHE_SIZE"]) > 0:
        decisions = guard.DecisionCache(int(app.config["DECISION_CACHE_SIZE"]),
                                        float(app.config["DECISION_CACHE_SECONDS"]))
        app.extensions[guard.DECISIONS] = decisions
        # relationship events empty the cache at once and end revoked sessions
        # (off with fake clients unless asked for)
        if app.config.get("DECISION_INVALIDATION", clients is None):
            revocations = app.extensions[REVOCATIONS] = Revocations()

            # the portal's menu profile (names, children, classes): only relationship
            # events change it, so it lives longer, and only where they are heard
            profiles = app.extensions[PROFILES] = guard.DecisionCache(
                int(app.config["DECISION_CACHE_SIZE"]), float(app.config["PROFILE_CACHE_SECONDS"]))

            def on_relationship(event_type, body):
                decisions.clear()
                profiles.clear()
                if event_type is None:  # (re)connected: events may have been missed
                    revocations.mark_stale()
                ended = invalidation.session_revocation(event_type, body) if event_type else None
                if ended:
                    revocations.revoke(*ended)

            decisions.invalidator = invalidation.Invalidator(settings.amqp_uri, on_relationship)
    # R-A6: access events; off for tests that inject fake clients unless asked for.
    if app.config.get("ACCESS_LOG", clients is None):
        app.extensions[ACCESS_LOG] = access_log.AccessLog(settings.amqp_uri,
                                                          max_batch=int(app.config["ACCESS_LOG_BATCH"]),
                                                          linger=float(app.config["ACCESS_LOG_LINGER"]))
    app.register_blueprint(api.bp)
    app.register_blueprint(api_journal_structure.bp)
    app.register_blueprint(api_journal_marks.bp)
    app.register_blueprint(api_journal_reads.bp)
    app.register_blueprint(api_messaging.bp)
    app.register_blueprint(api_identity.bp)
    app.register_blueprint(api_people_reads.bp)
    app.register_blueprint(ops.bp)
    portal.init(app)  # the web pages (gateway.portal): their own session, the same clients and guard
    _install_hooks(app)
    _install_error_handlers(app)
    return app


def _install_hooks(app: Flask) -> None:
    # The hooks run on every request: they take the request and ``g`` out of
    # their proxies once (each proxied attribute is a context lookup).
    @app.before_request
    def _start():
        req, ctx = request._get_current_object(), g._get_current_object()
        ctx.started = time.perf_counter()
        offered = req.headers.get(correlation.HEADER, "")
        ctx.correlation_id = offered if SANE_CORRELATION_ID.fullmatch(offered) else correlation.new_id()
        correlation.set(ctx.correlation_id)
        rule = req.url_rule
        if rule is not None:  # the routes that take larger bodies (gateway.bodies)
            key = guard.route_key(rule.rule, req.method)
            if key in bodies.ROUTES:
                req.max_content_length = bodies.limit(key)

    # then, before any view: who, may they, clean text, valid query and body
    guard.install(app)

    @app.after_request
    def _finish(response):
        req, ctx = request._get_current_object(), g._get_current_object()
        cid = ctx.get("correlation_id")
        if cid:
            response.headers[correlation.HEADER] = cid
        _security_headers(response, req.path)
        _record_access(app, response, req, ctx)
        rule = req.url_rule
        route = rule.rule if rule is not None else "<unmatched>"
        seconds = time.perf_counter() - ctx.get("started", time.perf_counter())
        method, status = req.method, response.status_code
        metrics.observe(route, method, status, seconds)
        principal = ctx.get("principal")
        # one line per request (the route, never the path: ids and query stay out of the log)
        access.log(logging.DEBUG if req.path in QUIET_PATHS else logging.INFO, "%s %s %s", method, route, status,
                   extra={"event": "http", "method": method, "route": route, "status": status,
                          "duration_ms": round(seconds * 1000, 2),
                          "actor_id": principal.user_id if principal is not None else None})
        return response

    @app.teardown_request
    def _clear(_exc=None):
        correlation.set(None)


def _record_access(app: Flask, response, req, ctx) -> None:
    """One access event per authenticated API request or portal page (R-A6),
    and one per successful login (who logged in is known only from the answer)."""
    sink = app.extensions.get(ACCESS_LOG)
    rule = req.url_rule
    if sink is None or rule is None:
        return
    if not (req.path.startswith("/api/v1/") or (req.blueprint == "portal" and req.endpoint != "portal.static")):
        return
    principal = ctx.get("principal")
    if principal is not None:
        user_id, school_id, roles = principal.user_id, principal.school_id, principal.roles
    else:  # the login view leaves who logged in here
        user_id, school_id, roles = ctx.get("logged_in") or (None, None, ())
    if not user_id:
        return
    try:
        sink.record(access_log.access_event(
            user_id=user_id, school_id=school_id, roles=roles, method=req.method, route=rule.rule,
            resource_id=_logged_id((req.view_args or {}).get("id")), status=response.status_code,
            correlation_id=ctx.get("correlation_id"), address=req.remote_addr))
    except Exception:  # noqa: BLE001 - the log must never break the answer
        log.exception("could not queue an access event")


def _logged_id(value):
    """A path id as the access log keeps it: a refused one (broken text) is
    recorded too, its NULs and lone surrogates shown as U+FFFD, so that no
    database refuses the event."""
    return printable(value)[:64] if isinstance(value, str) else None


# Every answer's headers beside these two, which depend on the answer:
# Content-Security-Policy (a page's or JSON's) and Cache-Control (no-store but on static files).
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    # Browsers honour HSTS only over HTTPS (the TLS proxy in front); harmless on plain HTTP.
    ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"),
)
_SECURITY_NAMES = frozenset(name.lower() for name, _ in SECURITY_HEADERS) | {"content-security-policy",
                                                                             "cache-control"}


def _security_headers(response, path: str) -> None:
    headers = response.headers
    added = list(SECURITY_HEADERS)
    added.append(("Content-Security-Policy", PORTAL_CSP if response.mimetype == "text/html" else JSON_CSP))
    if not path.startswith("/static/") and path != "/favicon.ico":
        added.append(("Cache-Control", "no-store"))
    if _SECURITY_NAMES.isdisjoint([name.lower() for name in headers.keys()]):
        headers.extend(added)  # none there yet (the usual answer): appended, no search per header
    else:  # a view set one: replaced, as before
        for name, value in added:
            headers[name] = value


def _install_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if exc.code == 404 and request.url_rule is None and portal.wants_page():
            return portal.core.error_page(404)  # a browser on an unknown address: the portal's 404 page
        code = HTTP_CODES.get(exc.code, f"HTTP_{exc.code}")
        message = text(code) if code in MESSAGES else text("BAD_REQUEST")
        details = {"max_bytes": request.max_content_length} if exc.code == 413 else None
        api_error = guard.concealed(errors.ApiError(exc.code or 500, code, message, details))
        response = jsonify(api_error.body())
        response.status_code = api_error.status
        if exc.code == 405 and getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def _any_error(exc: Exception):
        api_error = errors.map_exception(exc)
        if api_error is None:
            # Logged with the correlation id (the log filter adds it) and the
            # trace; the client sees a generic text and the id only.
            log.exception("unexpected error [%s] on %s %s", correlation.get(), request.method, request.path)
            api_error = errors.internal(correlation.get())
        elif api_error.status >= 500:
            log.warning("[%s] %s %s -> %s (%s: %s)", correlation.get(), request.method, request.path,
                        api_error.status, type(exc).__name__, exc)
        else:
            api_error = guard.concealed(api_error)
        response = jsonify(api_error.body())
        retry_after = api_error.details.get("retry_after") if api_error.status == 429 else None
        if type(retry_after) is int and retry_after > 0:
            response.headers["Retry-After"] = str(retry_after)  # RFC 9110: seconds
        return response, api_error.status
