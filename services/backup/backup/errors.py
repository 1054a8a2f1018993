"""The backup service's remote errors and its catalogue of Russian user text.

Every error is a :class:`kernel.errors.ServiceError`: ``kind`` picks the HTTP
status in the gateway's table, ``code`` is the API's machine code
(docs/contracts.md "Errors").
"""
from __future__ import annotations

from kernel import errors as base

# One catalogue of user-facing text (errors and the reasons a backup failed,
# which administrators read in the backup list).
MESSAGES = {
    "validation": "Некорректные данные",
    "field_type": "Параметр «{field}» имеет неверный тип",
    "limit_range": "Параметр «limit» должен быть целым числом от 1 до {max}",
    "cursor_invalid": "Некорректный курсор списка",
    "forbidden": "Резервные копии доступны только администратору",
    "source_failed": "Не удалось получить данные сервиса «{service}»: {detail}",
    "archive_failed": "Не удалось записать архив резервной копии: {detail}",
    "verify_failed": "Проверка записанного архива не пройдена: {detail}",
    "abandoned": "Резервное копирование прервано: обработчик перестал отвечать, попытки исчерпаны",
    "no_sources": "Не настроен ни один источник данных для резервного копирования",
    "interrupted_by_restore": "Резервное копирование прервано: данные восстановлены из архива, сделанного во время него",
    "not_found": "Резервная копия не найдена",
    "not_done": "Резервная копия не завершена: проверять и скачивать можно только готовый архив",
    "archive_missing": "Архив резервной копии не найден ни в одном хранилище",
    "drill_failed": "Проверка восстановления резервной копии {backup_id} не пройдена: {detail}",
    "internal": "Внутренняя ошибка резервного копирования: {detail}",
}


text = base.catalogue(MESSAGES)


class ValidationError(base.ValidationError):
    message = MESSAGES["validation"]


class Forbidden(base.Forbidden):
    code, message = "FORBIDDEN", MESSAGES["forbidden"]


class NotFound(base.NotFound):
    code, message = "NOT_FOUND", MESSAGES["not_found"]


class Conflict(base.Conflict):
    code, message = "CONFLICT", MESSAGES["not_done"]
