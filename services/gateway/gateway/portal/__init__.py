"""The web portal: server-rendered pages in Russian (Jinja2), a cookie
session, a CSRF token on every form and no inline script or style (the
gateway's CSP). It reaches the services exactly as the API does: the same
clients (gateway.clients) and, before every page, the same central access
decision (gateway.guard) as the API route that serves the same data.

``bp`` is registered by gateway.app; :func:`init` reads the session key.
"""
from __future__ import annotations

from flask import Blueprint, request
from flask.templating import Environment

from gateway.portal import core

bp = Blueprint("portal", __name__, template_folder="templates", static_folder="static",
               static_url_path="/assets")


@bp.before_request
def _session_and_csrf():
    if request.endpoint == "portal.static":
        return None
    core.current_session()
    if request.method == "POST":
        core.check_csrf()
    return None


@bp.after_request
def _save(response):
    return core.save_session(response)


bp.register_error_handler(Exception, core.handle_error)


class PageEnvironment(Environment):
    """The pages' Jinja environment: ``x.name`` of a dict reads its key
    first. The pages draw the services' answers, which are dicts, and
    Jinja's default (the attribute first) raises and catches an
    AttributeError for each such read: about 2 µs, thousands of times in
    a class journal grid. A key that shadows a dict method (``items``)
    is read as the key, which is what the pages mean by it."""

    def getattr(self, obj, attribute):
        if type(obj) is dict:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


def init(app) -> None:
    """Set the portal up for ``app`` (its session key and its pages' Jinja
    environment, before anything renders) and register it."""
    app.jinja_environment = PageEnvironment
    core.setup(app)
    app.register_blueprint(bp)


from gateway.portal import helpers, views_account, views_family, views_mail  # noqa: E402,F401  (routes)
from gateway.portal import views_class_teacher, views_reports, views_teacher  # noqa: E402,F401  (routes)
from gateway.portal import views_admin  # noqa: E402,F401  (routes)
from gateway.portal import views_admin_people  # noqa: E402,F401  (routes)
from gateway.portal import views_admin_ops, views_office  # noqa: E402,F401  (routes)


def wants_page() -> bool:
    """A browser asking for a page (not a script asking for JSON) outside the API."""
    from gateway import openapi
    if request.path.startswith(openapi.API_PREFIX + "/") or request.path == openapi.API_PREFIX:
        return False
    return request.accept_mimetypes.accept_html and (
        request.accept_mimetypes["text/html"] >= request.accept_mimetypes["application/json"])
