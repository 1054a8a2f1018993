"""The gateway's one catalogue of user-facing (Russian) texts, by key."""
from __future__ import annotations

MESSAGES = {
    # error codes the gateway answers itself
    "VALIDATION_ERROR": "Некорректные данные запроса",
    "MALFORMED_JSON": "Тело запроса должно быть JSON-объектом",
    "JSON_TOO_DEEP": "Слишком глубокая вложенность JSON",
    "INVALID_TOKEN": "Требуется вход в систему: токен доступа отсутствует, неверен или истёк",
    "FORBIDDEN": "Недостаточно прав",
    "NOT_FOUND": "Не найдено",
    "METHOD_NOT_ALLOWED": "Метод не поддерживается для этого адреса",
    "PAYLOAD_TOO_LARGE": "Слишком большой запрос",
    "BAD_REQUEST": "Некорректный запрос",
    "SERVICE_UNAVAILABLE": "Служба временно недоступна, попробуйте позже",
    "INTERNAL_ERROR": "Внутренняя ошибка сервера. Сообщите администратору код запроса",
    "REPORT_NOT_AVAILABLE": "Этот отчёт пока недоступен",
    "NOT_READY": "Не все службы доступны",
    # default texts by error kind, when a service sent none
    "kind.bad_request": "Некорректный запрос",
    "kind.unauthenticated": "Требуется вход в систему",
    "kind.forbidden": "Недостаточно прав",
    "kind.not_found": "Не найдено",
    "kind.conflict": "Конфликт с существующими данными",
    "kind.rule": "Нарушено правило ведения журнала",
    "kind.rate_limited": "Слишком много попыток, попробуйте позже",
    "kind.unavailable": "Сервис временно недоступен, попробуйте позже",
    # schema problems (details.problems[].message)
    "problem.required": "обязательное поле",
    "problem.unknown": "неизвестное поле",
    "problem.type": "неверный тип значения",
    "problem.format": "неверный формат",
    "problem.pattern": "неверный формат",
    "problem.enum": "недопустимое значение",
    "problem.minLength": "слишком короткое значение",
    "problem.maxLength": "слишком длинное значение",
    "problem.minimum": "слишком маленькое значение",
    "problem.maximum": "слишком большое значение",
    "problem.exclusiveMinimum": "слишком маленькое значение",
    "problem.minItems": "слишком мало элементов",
    "problem.maxItems": "слишком много элементов",
    "problem.uniqueItems": "элементы не должны повторяться",
    "problem.other": "недопустимое значение",
    "problem.date": "ожидается дата в формате ГГГГ-ММ-ДД",
    "problem.date_order": "дата начала позже даты окончания",
    "problem.date_range": "слишком длинный период (не больше 92 дней)",
    "problem.integer": "ожидается целое число",
    "problem.text": "недопустимые символы: нулевой байт или непарный суррогат UTF-16",
}


def text(key: str) -> str:
    """The Russian text for ``key`` (the key itself if it is missing, so a
    forgotten entry shows up in review instead of crashing a request)."""
    return MESSAGES.get(key, key)
