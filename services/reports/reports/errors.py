"""Remote errors of the reports service and its catalogue of Russian user
text (kinds map to HTTP statuses in the gateway's one table,
docs/contracts.md "Errors")."""
from __future__ import annotations

from kernel import errors as base

MESSAGES = {
    "validation": "Некорректные параметры запроса",
    "id_required": "Не указан идентификатор «{field}»",
    "id_invalid": "Некорректный идентификатор «{field}»",
    "staff_only": "Отчёты доступны администрации, классным руководителям и учителям",
    "class_not_found": "Класс не найден",
    "period_not_found": "Учебный период не найден",
    "period_not_in_class_year": "Учебный период не относится к учебному году класса",
    "kind_unknown": "Неизвестный вид отчёта «{kind}»",
    "format_unknown": "Неизвестный формат «{format}»: json, pdf или xlsx",
    "month_invalid": "Месяц указывается как ГГГГ-ММ",
    "week_invalid": "Неделя указывается датой любого её дня: ГГГГ-ММ-ДД",
    "param_required": "Для этого отчёта нужен параметр «{field}»",
    "school_reports": "Отчёт по всей школе доступен администрации; укажите класс",
    "year_not_found": "Учебный год не найден",
    "no_year_for_month": "В этом месяце нет учебного года",
    "archives_for_administration": "Архив журналов доступен администрации школы",
    "archive_not_found": "Архив журнала не найден",
    "archive_format_unknown": "Неизвестный формат «{format}»: pdf или xlsx",
    "job_not_found": "Задание не найдено",
    "job_failed": "Файлы отчёта не сделаны из-за внутренней ошибки. Попробуйте ещё раз",
}

text = base.catalogue(MESSAGES)


class ValidationError(base.ValidationError):
    message = MESSAGES["validation"]


class NotAllowed(base.Forbidden):
    code, message = "FORBIDDEN", MESSAGES["staff_only"]


class ClassNotFound(base.NotFound):
    code, message = "NOT_FOUND", MESSAGES["class_not_found"]


class PeriodNotFound(base.NotFound):
    code, message = "NOT_FOUND", MESSAGES["period_not_found"]


class PeriodNotInClassYear(base.RuleViolation):
    code, message = "PERIOD_NOT_IN_CLASS_YEAR", MESSAGES["period_not_in_class_year"]


class SchoolReportsForAdministration(base.Forbidden):
    code, message = "FORBIDDEN", MESSAGES["school_reports"]


class YearNotFound(base.NotFound):
    code, message = "NOT_FOUND", MESSAGES["year_not_found"]


class ArchivesForAdministration(base.Forbidden):
    code, message = "FORBIDDEN", MESSAGES["archives_for_administration"]


class ArchiveNotFound(base.NotFound):
    code, message = "NOT_FOUND", MESSAGES["archive_not_found"]


class JobNotFound(base.NotFound):
    code, message = "NOT_FOUND", MESSAGES["job_not_found"]
