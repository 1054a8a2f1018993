"""Remote errors of the reports service (kinds map to HTTP statuses in the
gateway's one table, docs/contracts.md "Errors")."""
from __future__ import annotations

from kernel.errors import BadRequest, Forbidden, NotFound, RuleViolation


class ValidationError(BadRequest):
    code = "VALIDATION_ERROR"
    message = "Некорректные параметры запроса"


class NotAllowed(Forbidden):
    code = "FORBIDDEN"
    message = "Отчёты доступны только сотрудникам школы"


class ClassNotFound(NotFound):
    code = "NOT_FOUND"
    message = "Класс не найден"


class PeriodNotFound(NotFound):
    code = "NOT_FOUND"
    message = "Учебный период не найден"


class PeriodNotInClassYear(RuleViolation):
    code = "PERIOD_NOT_IN_CLASS_YEAR"
    message = "Учебный период не относится к учебному году класса"
