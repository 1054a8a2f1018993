"""OpenAPI paths and schemas of identity's session, password, people and
audit routes; merged into gateway.openapi's document."""
from __future__ import annotations

from gateway.openapi import API_PREFIX as P, DATE, ID, ROLES, _closed, _op, _open, _path_id, _query

REQUEST_SCHEMAS = {
    "RefreshRequest": _closed({
        "refresh_token": {"type": "string", "minLength": 1, "maxLength": 256},
    }, ["refresh_token"]),
    "LogoutRequest": _closed({
        "refresh_token": {"type": "string", "minLength": 1, "maxLength": 256},
    }, ["refresh_token"]),
    "ChangePasswordRequest": _closed({
        "old_password": {"type": "string", "minLength": 1, "maxLength": 256},
        "new_password": {"type": "string", "minLength": 1, "maxLength": 256},
    }, ["old_password", "new_password"], "Staff: at least 12 characters; never a common password."),
    "TotpConfirmRequest": _closed({
        "code": {"type": "string", "minLength": 1, "maxLength": 20},
    }, ["code"]),
    "SetRolesRequest": _closed({
        "roles": {"type": "array", "items": {"enum": ROLES}, "minItems": 1, "uniqueItems": True},
    }, ["roles"]),
}

RESPONSE_SCHEMAS = {
    "User": _open({
        "id": ID, "school_id": ID, "login": {"type": "string"}, "full_name": {"type": "string"},
        "roles": {"type": "array", "items": {"enum": ROLES}},
        "email": {"type": ["string", "null"]}, "birth_date": {"type": ["string", "null"]},
        "sex": {"type": ["string", "null"]}, "active": {"type": "boolean"},
        "created_at": {"type": ["string", "null"]},
    }, ["id", "login", "full_name", "roles"]),
    "TotpSecret": _open({
        "secret": {"type": "string", "description": "Base32; shown once"},
        "otpauth_uri": {"type": "string", "description": "otpauth:// URI for a QR code"},
    }),
    "RecoveryCodes": _open({
        "recovery_codes": {"type": "array", "items": {"type": "string"}, "description": "Shown once"},
    }),
    "Unlocked": _open({"user_id": ID, "cleared": {"type": "integer", "description": "Failures removed"}}),
    "AuditRecord": _open({
        "id": ID, "action": {"type": "string"}, "actor_id": {"type": ["string", "null"]},
        "target_id": {"type": ["string", "null"]}, "before": {}, "after": {},
        "correlation_id": {"type": ["string", "null"]}, "at": {"type": "string"},
    }, ["id", "action", "at"]),
    "AccessRecord": _open({
        "id": ID, "user_id": ID, "roles": {"type": "array", "items": {"type": "string"}},
        "method": {"type": "string"}, "route": {"type": "string"}, "resource_id": {"type": ["string", "null"]},
        "status": {"type": "integer"}, "address": {"type": ["string", "null"]},
        "correlation_id": {"type": ["string", "null"]}, "at": {"type": "string"},
    }, ["id", "user_id", "method", "route", "status", "at"]),
    "AccessList": _open({
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/AccessRecord"}},
        "next_cursor": {"type": ["string", "null"]},
    }),
    "Activity": _open({
        "month": {"type": "string"},
        "by_user": {"type": "array", "items": _open({"user_id": ID, "requests": {"type": "integer"}})},
        "by_role": {"type": "array", "items": _open({"role": {"type": "string"}, "requests": {"type": "integer"}})},
        "by_class": {"type": "array", "items": _open({"class_id": ID, "requests": {"type": "integer"}})},
    }),
    "AuditList": _open({
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/AuditRecord"}},
        "next_cursor": {"type": ["string", "null"]},
    }),
}

PATHS = {
    f"{P}/auth/refresh": {"post": _op(
        "refresh", "Обновить токены", "auth", public=True, body="RefreshRequest",
        ok=(200, "TokenPair", "A new pair; the presented refresh token stops working"), errors=(400, 401, 403),
        description="401 INVALID_TOKEN for an unknown, expired, revoked or spent token. Presenting a "
                    "spent token again revokes its whole family (every token of that login).")},
    f"{P}/auth/logout": {"post": _op(
        "logout", "Выйти", "auth", body="LogoutRequest", ok=(204, None, "The session is over"),
        description="Revokes the session of the refresh token if it is the caller's; 204 in any case.")},
    f"{P}/me/password": {"put": _op(
        "change_password", "Сменить пароль", "people", body="ChangePasswordRequest",
        ok=(204, None, "Changed; every session of the user ends"), errors=(400,),
        description="400 VALIDATION_ERROR for a wrong old_password or a weak new_password.")},
    f"{P}/me/totp": {"post": _op(
        "begin_totp", "Подключить второй фактор", "auth", ok=(201, "TotpSecret", "A new secret, not yet on"),
        errors=(403, 409), description="Staff only. The factor is on after POST /me/totp/confirm.")},
    f"{P}/me/totp/confirm": {"post": _op(
        "confirm_totp", "Подтвердить второй фактор", "auth", body="TotpConfirmRequest",
        ok=(200, "RecoveryCodes", "On; ten one-time recovery codes, shown once"), errors=(400, 403, 409),
        description="Staff only (403 for students and parents). 400 VALIDATION_ERROR for a wrong code. Every "
                    "session ends; log in again with totp_code.")},
    f"{P}/users/{{id}}": {"get": _op(
        "get_user", "Пользователь", "people", params=[_path_id(description="User id")],
        ok=(200, "User", "The user without secrets"), errors=(404,),
        description="Self, the administration and secretary, the class teacher of the user's class, "
                    "the staff member who issued the login; anyone else gets 404.")},
    f"{P}/users/{{id}}/roles": {"put": _op(
        "set_roles", "Назначить роли", "people", body="SetRolesRequest",
        params=[_path_id(description="User id")], ok=(200, "User", "The user with the new roles"),
        errors=(400, 403, 404),
        description="Admin only, never their own roles (R-A5); audited (who, when, before, after); "
                    "the user's sessions end.")},
    f"{P}/users/{{id}}/unlock": {"post": _op(
        "unlock_login", "Снять блокировку входа", "people", params=[_path_id(description="User id")],
        ok=(200, "Unlocked", "Failed logins cleared"), errors=(403, 404),
        description="Admin only; audited as login_unlocked.")},
    f"{P}/users/{{id}}/password-reset": {"post": _op(
        "reset_password", "Сбросить пароль", "people", params=[_path_id(description="User id")],
        ok=(200, "CreatedUser", "A new generated initial_password, shown once"), errors=(403, 404),
        description="Admin only, never their own (403; PUT /me/password). The old password stops working, every "
                    "session of the user ends, the login's failed attempts are cleared (the new password works "
                    "at once), the second factor is kept. Audited as password_reset; the password is neither "
                    "stored nor logged, only its hash.")},
    f"{P}/audit": {"get": _op(
        "list_audit", "Журнал аудита", "people", params=[
            _query("target_id", {"type": "string", "minLength": 1, "maxLength": 300}),
            _query("action", {"type": "string", "minLength": 1, "maxLength": 60},
                   "roles_changed, consent_recorded, password_changed, password_reset, login_locked, login_unlocked, "
                   "refresh_reuse"),
            _query("from", DATE, "First day (UTC)"), _query("to", DATE, "Last day, inclusive"),
            _query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}),
        ], ok=(200, "AuditList", "Newest first"), errors=(400, 403),
        description="Admin only (R-A5, ASVS V7).")},
    f"{P}/access-log": {"get": _op(
        "list_access", "Журнал доступа", "people", params=[
            _query("user_id", ID), _query("from", DATE, "First day (UTC)"), _query("to", DATE, "Last day, inclusive"),
            _query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}),
        ], ok=(200, "AccessList", "Newest first"), errors=(400, 403),
        description="Admin only (R-A4, R-A6): one record per API request of a user (who, what, when, result, "
                    "correlation id), from the gateway's access events.")},
    f"{P}/activity": {"get": _op(
        "get_activity", "Активность пользователей за месяц", "reports", params=[
            _query("month", {"type": "string", "pattern": r"^\d{4}-(0[1-9]|1[0-2])$"}, "YYYY-MM", required=True),
        ], ok=(200, "Activity", "Requests per user, role and class"), errors=(400, 403),
        description="Admin, director, deputy (R-A6, R-R8). A student counts for their class, a parent for "
                    "each child's class.")},
}
