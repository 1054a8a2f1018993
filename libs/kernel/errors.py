"""Remote errors shared by every service.

A service raises a subclass (in its own ``errors.py``) with a machine code
and a Russian message. nameko carries ``str(exc)``, which is JSON, to the
gateway; the gateway maps ``kind`` to an HTTP status in one table.
"""
from __future__ import annotations

import json


class ServiceError(Exception):
    kind = "bad_request"
    code = "BAD_REQUEST"
    message = "Некорректный запрос"

    def __init__(self, message: str | None = None, *, code: str | None = None, details: dict | None = None):
        self.message = message or self.message
        self.code = code or self.code
        self.details = details or {}
        super().__init__(self.message)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "code": self.code, "message": self.message, "details": self.details}

    def __str__(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def parse(cls, text: str) -> dict | None:
        """The dict of a serialized ServiceError, or None if ``text`` is not one."""
        try:
            data = json.loads(text)
        except (TypeError, ValueError):
            return None
        if isinstance(data, dict) and {"kind", "code", "message"} <= data.keys():
            return data
        return None


class BadRequest(ServiceError):
    kind, code, message = "bad_request", "BAD_REQUEST", "Некорректный запрос"


class ValidationError(BadRequest):
    """Malformed input (400 ``VALIDATION_ERROR``); ``details.field`` names it."""
    code, message = "VALIDATION_ERROR", "Некорректные данные запроса"


def catalogue(messages: dict):
    """``text(key, **values)`` over a service's message catalogue: the
    Russian text for ``key`` with ``values`` filled in."""
    def text(key: str, **values) -> str:
        return messages[key].format(**values)
    return text


class Unauthenticated(ServiceError):
    kind, code, message = "unauthenticated", "UNAUTHENTICATED", "Требуется вход в систему"


class InvalidContext(Unauthenticated):
    """A call without a valid call context (kernel.context): 401 like a bad token."""
    code, message = "INVALID_TOKEN", "Не удалось определить пользователя"


class Forbidden(ServiceError):
    kind, code, message = "forbidden", "FORBIDDEN", "Недостаточно прав"


class NotFound(ServiceError):
    kind, code, message = "not_found", "NOT_FOUND", "Не найдено"


class Conflict(ServiceError):
    kind, code, message = "conflict", "CONFLICT", "Конфликт с существующими данными"


class RuleViolation(ServiceError):
    kind, code, message = "rule", "RULE_VIOLATION", "Нарушено правило ведения журнала"


class RateLimited(ServiceError):
    kind, code, message = "rate_limited", "TOO_MANY_ATTEMPTS", "Слишком много попыток, попробуйте позже"


class ServiceUnavailable(ServiceError):
    """A service this one depends on did not answer in time (503)."""
    kind, code, message = "unavailable", "SERVICE_UNAVAILABLE", "Сервис временно недоступен, попробуйте позже"


class DeadlineExceeded(ServiceUnavailable):
    """An RPC request that arrived after its caller's deadline: not carried
    out (kernel.deadline); the caller, if still waiting, gets 503."""
