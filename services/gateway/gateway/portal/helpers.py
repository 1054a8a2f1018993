"""Template helpers: dates in Russian, names of roles, marks and attendance,
the navigation, the signed-in user's profile."""
from __future__ import annotations

import datetime as dt

from flask import current_app, g, request, url_for

from ejournal.identity.v1 import identity_pb2

from gateway import convert
from gateway.context import PROFILES, current_clients
from gateway.portal import bp, core
from gateway.portal.texts import ATTENDANCE, MARK_KINDS, MONTHS, PERIOD_KINDS, ROLE_NAMES, WEEKDAYS

FAMILY_ROLES = ("parent", "student")
TEACHING_ROLES = ("teacher", "class_teacher")


def profile() -> dict:
    """The signed-in user's profile (GET /me), once per request, and kept
    by the worker for the login session (a new sign-in reads it afresh) for
    a while, where relationship events empty that store (the gateway's
    PROFILES): only they change a profile's children and classes. What a
    page may show is decided apart, never from this."""
    found = g.get("portal_profile")
    if found is None:
        store = current_app.extensions.get(PROFILES)
        key = (g.principal.user_id, g.principal.school_id, g.principal.session_id)
        found = store.get(key) if store is not None else None
        if found is None:
            reply = current_clients().identity.GetProfile(identity_pb2.ProfileRequest(user_id=g.principal.user_id))
            found = convert.profile(reply)
            if store is not None:
                store.put(key, found)
        g.portal_profile = found
    return found


def is_family() -> bool:
    p = g.get("principal")
    return p is not None and p.has(*FAMILY_ROLES)


def is_teacher() -> bool:
    p = g.get("principal")
    return p is not None and p.has(*TEACHING_ROLES)


def nav() -> list[tuple[str, str]]:
    """(endpoint, label) of the menu for the signed-in user."""
    items = []
    if is_teacher():
        items.append(("portal.teaching", "Мои классы"))
    if is_family():
        items += [("portal.diary", "Дневник"), ("portal.results", "Итоги"), ("portal.timetable", "Расписание")]
    from gateway.portal.views_reports import may_see_reports
    if may_see_reports(g.get("principal")):
        items.append(("portal.reports", "Отчёты"))
    from gateway.portal.views_admin import is_admin
    if is_admin(g.get("principal")):
        items.append(("portal.admin_home", "Администрирование"))
    items += [("portal.notifications", "Уведомления"), ("portal.mail", "Почта"), ("portal.news", "Новости"),
              ("portal.profile_page", "Профиль")]
    return items


def ru_date(value, weekday: bool = False) -> str:
    if not value:
        return ""
    day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    text = f"{day.day} {MONTHS[day.month - 1]} {day.year}"
    return f"{WEEKDAYS[day.weekday()]}, {text}" if weekday else text


def ru_datetime(value) -> str:
    if not value:
        return ""
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    from flask import current_app
    moment = moment.astimezone(current_app.config["SETTINGS"].timezone)
    return f"{moment.day} {MONTHS[moment.month - 1]} {moment.year}, {moment:%H:%M}"


@bp.app_template_filter("ru_date")
def _ru_date(value):
    return ru_date(value)


@bp.app_template_filter("ru_day")
def _ru_day(value):
    return ru_date(value, weekday=True)


@bp.app_template_filter("filesize")
def _filesize(size):
    size = int(size or 0)
    if size < 1024:
        return f"{size} Б"
    return f"{size / 1024:.1f} КБ".replace(".", ",")


@bp.app_template_filter("ru_datetime")
def _ru_datetime(value):
    return ru_datetime(value)


def _user_name():
    try:
        return profile()["full_name"]
    except Exception:  # noqa: BLE001 - an error page must render even when identity is away
        return None


@bp.app_context_processor
def _context():
    if request.blueprint != "portal" and g.get("portal_session") is None:
        return {}  # not a portal page (the 404 page of an unknown address is one)
    sess = core.current_session()
    principal = g.get("principal")
    return {
        "csrf_token": sess.csrf(),
        "principal": principal,
        "menu": nav() if principal is not None else [],
        "user_name": _user_name() if principal is not None else None,
        "notice": sess.take("notice"),
        "ROLE_NAMES": ROLE_NAMES, "ATTENDANCE": ATTENDANCE, "MARK_KINDS": MARK_KINDS,
        "PERIOD_KINDS": PERIOD_KINDS, "url_for": url_for,
    }
