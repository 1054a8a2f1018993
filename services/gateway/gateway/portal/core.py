"""The portal's plumbing: its session on every request, who is signed in
(the access token kept in the session, refreshed when due, verified and
checked for revocation exactly as the API does), the CSRF check of every
form, the central access decision for a page, and the HTML error pages."""
from __future__ import annotations

import logging
import threading
from functools import wraps
from urllib.parse import urlsplit

from flask import current_app, g, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from ejournal.identity.v1 import identity_pb2
from kernel import correlation

from gateway import convert, errors, guard
from gateway.auth import REVOCATIONS, TOKEN_CACHE, authenticate
from gateway.context import current_clients
from gateway.errors import ApiError
from gateway.messages import text
from gateway.portal import session as sessions
from gateway.portal.texts import FIELDS, T

log = logging.getLogger("gateway.portal")

SEALER = "ejournal.gateway.portal.sealer"
PROXIES = "ejournal.gateway.portal.proxies"
PENDING_SECONDS = 300  # how long the staff login's second step may take


class SignedOut(Exception):
    """No usable session: to the login page."""

    def __init__(self, notice: str | None = None):
        super().__init__(notice or "")
        self.notice = notice


_SETUP_LOCK = threading.Lock()


def setup(app) -> None:
    """The trusted proxies, read once per app; the session key is read on
    the first portal request (so an app that serves only the API never
    touches the key file)."""
    app.extensions[PROXIES] = sessions.trusted_proxies()


def _sealer() -> sessions.Sealer:
    app = current_app
    sealer = app.extensions.get(SEALER)
    if sealer is None:
        with _SETUP_LOCK:
            sealer = app.extensions.get(SEALER)
            if sealer is None:
                key = app.config.get("PORTAL_SESSION_KEY")
                key = sessions.decode_key(key) if key else sessions.load_key(app.config["SETTINGS"].data_dir)
                sealer = app.extensions[SEALER] = sessions.Sealer(key)
    return sealer


def current_session() -> sessions.Session:
    found = g.get("portal_session")
    if found is None:
        data = _sealer().open(request.cookies.get(sessions.COOKIE))
        found = g.portal_session = sessions.Session(data if data is not None else {})
    return found


def save_session(response):
    sess = g.get("portal_session")
    if sess is None or not sess.modified:
        return response
    secure = sessions.over_tls(request, current_app.extensions[PROXIES])
    if sess:
        response.set_cookie(sessions.COOKIE, _sealer().seal(dict(sess)), httponly=True,
                            samesite="Strict", secure=secure, path="/")
    else:
        response.delete_cookie(sessions.COOKIE, httponly=True, samesite="Strict", secure=secure, path="/")
    return response


# -- who is signed in ----------------------------------------------------------------------------

def _verify(token: str):
    """The verified principal of ``token`` (401 ApiError otherwise), the
    same checks as gateway.auth.authenticate_request."""
    clients = current_clients()
    principal = authenticate(clients, f"Bearer {token}", current_app.extensions.get(TOKEN_CACHE))
    decisions = current_app.extensions.get(guard.DECISIONS)
    if decisions is not None and decisions.invalidator is not None:
        decisions.invalidator.ensure_started()
    revocations = current_app.extensions.get(REVOCATIONS)
    if revocations is not None:
        revocations.ensure_loaded(clients)
        if revocations.revoked(principal):
            raise ApiError(401, "INVALID_TOKEN")
    return principal


def _refresh(sess) -> None:
    try:
        reply = current_clients().identity.Refresh(identity_pb2.RefreshRequest(
            refresh_token=sess.get("refresh") or "", client_address=request.remote_addr or ""))
    except Exception as exc:  # noqa: BLE001 - mapped below
        api_error = errors.map_exception(exc)
        if api_error is not None and api_error.status in (400, 401, 403, 404):
            sess.clear()
            sess.modified = True
            raise SignedOut(T["session_ended"]) from None
        raise
    sess.set_tokens(convert.token_pair(reply))


def sign_in_required() -> None:
    """Set ``g.principal`` from the session (refreshing its tokens when
    due), or raise :class:`SignedOut`."""
    sess = current_session()
    if not sess.signed_in():
        raise SignedOut()
    if sess.due():
        _refresh(sess)
    try:
        g.principal = _verify(sess["access"])
    except ApiError as exc:
        if exc.status != 401:
            raise
        _refresh(sess)  # e.g. a key rotation, or the clock: one more try with a fresh pair
        try:
            g.principal = _verify(sess["access"])
        except ApiError:
            sess.clear()
            sess.modified = True
            raise SignedOut(T["session_ended"]) from None


def check_csrf() -> None:
    """Every POST carries the session's CSRF token in the ``csrf`` field."""
    if not current_session().check_csrf(request.form.get("csrf")):
        raise ApiError(403, "CSRF", T["csrf"])


# -- the central access decision -------------------------------------------------------------------

def allow(route_key: str, resource_id: str | None = None, **context) -> None:
    """The API route ``route_key``'s access decision (gateway.guard.ROUTES)
    for the page that serves the same data: identity's decision on
    ``resource_id`` when the route is about one resource, else the route's
    roles. Raises ApiError 404/403 like the API; the portal shows 404."""
    route = guard.ROUTES[route_key]
    principal = g.principal
    lacks_role = route.roles is not None and not principal.has(*route.roles)
    if route.action and resource_id:
        context = {k: v for k, v in context.items() if v}
        reason = guard.authorize(route.action, route.resource, resource_id, **context)
        if reason == "deferred" and lacks_role:
            raise ApiError(404, "NOT_FOUND")
        return
    if lacks_role:
        raise ApiError(403, "FORBIDDEN")


# -- views and pages -----------------------------------------------------------------------------

def page(endpoint_view):
    """A page for signed-in users."""
    @wraps(endpoint_view)
    def wrapper(*args, **kwargs):
        sign_in_required()
        return endpoint_view(*args, **kwargs)
    wrapper.signed_in = True
    return wrapper


def safe_next(target: str | None) -> str:
    """A local path to go on to after login (never another site)."""
    if not target:
        return url_for("portal.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("portal.home")
    return target


def to_login(notice: str | None = None):
    sess = current_session()
    if notice:
        sess.put("notice", notice)
    nxt = request.full_path.rstrip("?") if request.method == "GET" and request.endpoint != "portal.home" else None
    return redirect(url_for("portal.login", next=nxt) if nxt else url_for("portal.login"), 303)


def error_page(status: int, message: str | None = None):
    titles = {403: T["csrf_title"], 404: T["not_found_title"], 503: T["unavailable_title"]}
    body = {404: T["not_found"], 503: T["unavailable"]}.get(status, message or T["bad_request"])
    if status == 403:
        body = T["csrf"]
    if status >= 500 and status != 503:
        body = T["internal"]
    sess = current_session()
    if g.get("principal") is None and sess.signed_in() and not sess.due():
        try:  # the menu on an unknown address too (no refresh here: its cookie might not be saved)
            g.principal = _verify(sess["access"])
        except Exception:  # noqa: BLE001 - then the page without the menu
            g.principal = None
    return render_template("portal/error.html", status=status, title=titles.get(status, T["error_title"]),
                           message=body, correlation_id=correlation.get() if status >= 500 else None,
                           signed_in=sess.signed_in() and g.get("principal") is not None), status


def handle_error(exc: Exception):
    """Every failure of a portal page as an HTML page: not allowed and not
    found alike are the 404 page (reveal nothing), a dead service 503."""
    if isinstance(exc, SignedOut):
        return to_login(exc.notice)
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        message = text("PAYLOAD_TOO_LARGE") if status == 413 else T["bad_request"]
        return error_page(404 if status in (403, 404) else status, message)
    api_error = errors.map_exception(exc)
    if api_error is None:
        log.exception("unexpected error [%s] on %s %s", correlation.get(), request.method, request.path)
        return error_page(500)
    if api_error.code == "CSRF":
        return error_page(403)
    if api_error.status == 401:
        current_session().clear()
        current_session().modified = True
        return to_login(T["session_ended"])
    if api_error.status in (403, 404):
        return error_page(404)
    if api_error.status >= 500:
        return error_page(503 if api_error.status == 503 else 500)
    return error_page(api_error.status, api_error.message)


def message_of(exc: Exception) -> str:
    """The Russian text to show beside a form for a refused write (the
    service's own text), or re-raise what is not a refusal."""
    api_error = errors.map_exception(exc)
    if api_error is None or api_error.status >= 500 or api_error.status == 401:
        raise exc
    if api_error.status == 400 and api_error.details.get("problems"):
        fields = "; ".join(f"{_field(p.get('field'))}: {p.get('message')}" for p in api_error.details["problems"][:5])
        return f"{api_error.message} ({fields})"
    return api_error.message


def _field(name) -> str:
    name = str(name or "")
    return FIELDS.get(name.split("[")[0].split(".")[0], name)
