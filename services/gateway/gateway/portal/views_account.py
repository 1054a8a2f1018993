"""Signing in (password, then the staff second factor when it is on),
signing out, the profile with the password and notification settings."""
from __future__ import annotations

import time

from flask import g, redirect, render_template, request, url_for

from ejournal.identity.v1 import identity_pb2

from gateway import convert, errors
from gateway.context import call_ctx, current_clients
from gateway.portal import bp, core
from gateway.portal.helpers import is_family, profile
from gateway.portal.texts import EMAIL_MODES, T
from gateway.validation import problems

MAX_INPUT = 1024  # login, password and code fields: identity refuses longer ones anyway


@bp.get("/")
def home():
    sess = core.current_session()
    if not sess.signed_in():
        return login()
    core.sign_in_required()
    return redirect(url_for("portal.diary" if is_family() else "portal.notifications"), 303)


def _login_form(message=None, status=200, login_value=""):
    return render_template("portal/login.html", message=message, login_value=login_value,
                           next=request.values.get("next") or ""), status


@bp.get("/login")
def login():
    return _login_form()


def _try_login(login_value: str, password: str, code: str = ""):
    """identity's Login as the API's ``POST /auth/login`` calls it: the token
    pair, or the refusal as an ApiError."""
    try:
        reply = current_clients().identity.Login(identity_pb2.LoginRequest(
            login=login_value, password=password, client_address=request.remote_addr or "", totp_code=code))
    except Exception as exc:  # noqa: BLE001 - mapped to the error table
        api_error = errors.map_exception(exc)
        if api_error is None or api_error.status >= 500:
            raise
        return None, api_error
    g.logged_in = (reply.user_id, reply.school_id, tuple(reply.roles))  # for the access log (R-A6)
    return convert.token_pair(reply), None


def _signed_in(pair):
    sess = core.current_session()
    target = core.safe_next(request.form.get("next") or sess.get("pending", {}).get("next"))
    sess.start(pair)
    return redirect(target, 303)


@bp.post("/login")
def login_post():
    login_value = request.form.get("login", "")[:MAX_INPUT]
    password = request.form.get("password", "")[:MAX_INPUT]
    if not login_value.strip() or not password:
        return _login_form(T["login_required"], 400, login_value)
    pair, refused = _try_login(login_value, password)
    if pair is not None:
        return _signed_in(pair)
    if refused.code == "TOTP_REQUIRED":
        # the second step needs what was typed here: kept sealed in the session, briefly
        sess = core.current_session()
        sess.put("pending", {"login": login_value, "password": password, "until": int(time.time()) + core.PENDING_SECONDS,
                             "next": request.form.get("next") or ""})
        return redirect(url_for("portal.login_code"), 303)
    status = refused.status if refused.status in (401, 403, 429) else 400
    return _login_form(refused.message, status, login_value)


def _pending():
    pending = core.current_session().get("pending")
    if not isinstance(pending, dict) or int(pending.get("until") or 0) < time.time():
        return None
    return pending


@bp.get("/login/code")
def login_code():
    if _pending() is None:
        return core.to_login(T["code_expired"] if core.current_session().take("pending") else None)
    return render_template("portal/login_code.html", message=None)


@bp.post("/login/code")
def login_code_post():
    pending = _pending()
    if pending is None:
        core.current_session().take("pending")
        return core.to_login(T["code_expired"])
    code = request.form.get("code", "").strip()[:MAX_INPUT]
    if not code:
        return render_template("portal/login_code.html", message=T["code_required"]), 400
    pair, refused = _try_login(pending["login"], pending["password"], code)
    if pair is not None:
        return _signed_in(pair)
    if refused.status == 429:
        core.current_session().take("pending")
    # the password was right (identity asks for the code only then): a refusal here is the code's
    message = T["code_wrong"] if refused.code == "INVALID_CREDENTIALS" else refused.message
    return render_template("portal/login_code.html", message=message), (
        refused.status if refused.status in (401, 403, 429) else 400)


@bp.post("/logout")
def logout():
    sess = core.current_session()
    if sess.signed_in():
        try:
            core.sign_in_required()
            current_clients().identity.Logout(identity_pb2.LogoutRequest(
                refresh_token=sess["refresh"], user_id=g.principal.user_id))
        except core.SignedOut:
            pass
        except Exception as exc:  # noqa: BLE001 - the cookie goes anyway; identity's refusal changes nothing
            if errors.map_exception(exc) is None:
                raise
    sess.clear()
    sess.put("notice", T["signed_out"])
    return redirect(url_for("portal.login"), 303)


# -- profile ---------------------------------------------------------------------------------------

def _settings():
    core.allow("GET /me/notification-settings")
    return current_clients().rpc("messaging", "get_notification_settings", call_ctx())


def _profile_page(password_message=None, settings_message=None, status=200, settings=None):
    core.allow("GET /me")
    return render_template("portal/profile.html", me=profile(), settings=settings or _settings(),
                           email_modes=EMAIL_MODES, password_message=password_message,
                           settings_message=settings_message), status


@bp.get("/profile")
@core.page
def profile_page():
    return _profile_page()


@bp.post("/profile/password")
@core.page
def change_password():
    core.allow("PUT /me/password")
    old, new, again = (request.form.get(k, "")[:MAX_INPUT] for k in ("old_password", "new_password", "again"))
    if new != again:
        return _profile_page(password_message=T["passwords_differ"], status=400)
    data = {"old_password": old, "new_password": new}
    found = problems("ChangePasswordRequest", data)
    if found:
        return _profile_page(password_message=core.message_of(core.ApiError(
            400, "VALIDATION_ERROR", details={"problems": found})), status=400)
    try:
        current_clients().rpc("identity", "change_password", call_ctx(), old, new,
                              keep_session=g.principal.session_id or None)
    except Exception as exc:  # noqa: BLE001
        return _profile_page(password_message=core.message_of(exc), status=400)
    core.current_session().put("notice", T["password_changed"])
    return redirect(url_for("portal.profile_page"), 303)


@bp.post("/profile/notifications")
@core.page
def notification_settings():
    core.allow("PUT /me/notification-settings")
    data = {"email": request.form.get("email", "")}
    if data["email"] == "daily" and request.form.get("digest_time"):
        data["digest_time"] = request.form["digest_time"]
    found = problems("NotificationSettingsRequest", data)
    if found:
        return _profile_page(settings_message=core.message_of(core.ApiError(
            400, "VALIDATION_ERROR", details={"problems": found})), status=400)
    try:
        current_clients().rpc("messaging", "set_notification_settings", call_ctx(), data)
    except Exception as exc:  # noqa: BLE001
        return _profile_page(settings_message=core.message_of(exc), status=400)
    core.current_session().put("notice", T["settings_saved"])
    return redirect(url_for("portal.profile_page"), 303)
