"""The identity service's remote errors and its catalogue of Russian user text.

Every error is a :class:`kernel.errors.ServiceError`: ``kind`` picks the HTTP
status in the gateway's table, ``code`` is the API's machine code
(docs/contracts.md "Errors").
"""
from __future__ import annotations

from kernel import errors as base

# One catalogue of user-facing text, so wording is reviewed in one place.
MESSAGES = {
    "validation": "Некорректные данные",
    "field_required": "Поле «{field}» обязательно",
    "field_type": "Поле «{field}» имеет неверный тип",
    "field_unknown": "Неизвестное поле «{field}»",
    "field_too_long": "Поле «{field}» слишком длинное",
    "date_format": "Поле «{field}» должно быть датой в формате ГГГГ-ММ-ДД",
    "date_future": "Дата в поле «{field}» не может быть в будущем",
    "date_too_old": "Дата в поле «{field}» слишком ранняя",
    "login_format": "Логин должен содержать от 3 до 64 символов: латинские буквы, цифры, точку, дефис "
                    "или подчёркивание, и начинаться с буквы или цифры",
    "login_taken": "Логин «{login}» уже занят",
    "roles_empty": "Нужно указать хотя бы одну роль",
    "roles_unknown": "Неизвестная роль: {roles}",
    "password_short": "Пароль должен содержать не менее {min} символов",
    "password_long": "Пароль должен содержать не более {max} символов",
    "password_is_login": "Пароль не должен совпадать с логином",
    "password_blank": "Пароль не может состоять только из пробелов",
    "email_format": "Некорректный адрес электронной почты",
    "sex_value": "Пол указывается как «м» или «ж» (или «male»/«female»)",
    "full_name_blank": "Укажите ФИО",
    "forbidden": "Недостаточно прав",
    "forbidden_create_roles": "Недостаточно прав для создания пользователя с ролями: {roles}",
    "not_found": "Не найдено",
    "user_not_found": "Пользователь не найден",
    "student_not_found": "Ученик не найден",
    "parent_not_found": "Родитель не найден",
    "school_not_found": "Школа не найдена",
    "link_exists": "Этот родитель уже связан с учеником с другим видом родства",
    "invalid_credentials": "Неверный логин или пароль",
    "no_consent": "Нет согласия на обработку персональных данных: вход невозможен. "
                  "Обратитесь к классному руководителю",
    "password_common": "Этот пароль слишком распространён: его легко подобрать. Выберите другой",
    "password_wrong": "Текущий пароль указан неверно",
    "forbidden_own_roles": "Нельзя изменять собственные роли",
    "forbidden_own_password": "Свой пароль меняют в профиле, а не сбросом",
    "too_many_attempts": "Слишком много неудачных попыток входа. Повторите попытку позже",
    "invalid_token": "Недействительный токен",
    "not_your_class": "Ученик не из вашего класса",
    "totp_required": "Введите одноразовый код из приложения-аутентификатора",
    "totp_wrong": "Неверный одноразовый код",
    "totp_enabled": "Второй фактор уже включён",
    "totp_not_started": "Сначала начните подключение второго фактора",
    "totp_staff_only": "Второй фактор подключают сотрудники школы",
    "secrets_unavailable": "Вход временно невозможен: защищённые данные недоступны. Обратитесь к администратору",
    "argument_required": "Не указан параметр «{field}»",
    "admin_full_name": "Администратор",
    "limit_range": "Размер страницы (limit) должен быть от 1 до {max}",
    "cursor_invalid": "Некорректная позиция списка (cursor): начните список сначала",
}


text = base.catalogue(MESSAGES)


class ValidationError(base.ValidationError):
    message = MESSAGES["validation"]


class InvalidCredentials(base.Unauthenticated):
    code, message = "INVALID_CREDENTIALS", MESSAGES["invalid_credentials"]


class Forbidden(base.Forbidden):
    code, message = "FORBIDDEN", MESSAGES["forbidden"]


class NoConsent(base.Forbidden):
    code, message = "NO_CONSENT", MESSAGES["no_consent"]


class NotFound(base.NotFound):
    code, message = "NOT_FOUND", MESSAGES["not_found"]


class TooManyAttempts(base.RateLimited):
    code, message = "TOO_MANY_ATTEMPTS", MESSAGES["too_many_attempts"]


class InvalidToken(base.Unauthenticated):
    code, message = "INVALID_TOKEN", MESSAGES["invalid_token"]


class TotpEnabled(base.Conflict):
    code, message = "TOTP_ALREADY_ENABLED", MESSAGES["totp_enabled"]


class SecretsUnavailable(base.ServiceUnavailable):
    """The key-encryption key does not open the stored secrets (a wrong or
    lost key): identity fails closed instead of skipping the second factor."""
    code, message = "SERVICE_UNAVAILABLE", MESSAGES["secrets_unavailable"]


class LoginTaken(base.Conflict):
    code, message = "LOGIN_TAKEN", "Логин уже занят"


class AlreadyExists(base.Conflict):
    code, message = "ALREADY_EXISTS", "Уже существует"


def invalid(key: str, field: str | None = None, **values) -> ValidationError:
    """A VALIDATION_ERROR naming the offending ``field`` in its details."""
    if field is not None:
        values.setdefault("field", field)
    return ValidationError(text(key, **values), details={"field": field} if field else {})
