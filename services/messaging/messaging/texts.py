"""The message catalogue: every Russian text a user of messaging can see.

One place, so that wording is reviewed together and a later e-mail or
translation layer has a single source.
"""
from __future__ import annotations

# Notifications
MARK_TITLE = "Новая оценка"
MARK_BODY = "{student}: оценка {value} по предмету «{subject}» за {date}"
# Used when the student's user_created has not reached us yet (events from
# different queues may arrive in any order).
UNKNOWN_STUDENT = "Ваш ребёнок"
UNKNOWN_SUBJECT = "без названия"

# Errors
ERR_VALIDATION = "Некорректные данные запроса"
ERR_CTX = "Не передан контекст вызова (пользователь и школа)"
ERR_LIMIT = "Параметр limit должен быть целым числом от 1 до 100"
ERR_CURSOR = "Некорректный курсор постраничного вывода"
ERR_IDS = "Параметр ids должен быть списком идентификаторов уведомлений (не более {max})"
