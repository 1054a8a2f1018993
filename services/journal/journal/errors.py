"""The journal's remote errors. ``kind`` picks the HTTP status in the
gateway's table (docs/contracts.md), ``code`` is the API's machine code,
the message is Russian user text."""
from __future__ import annotations

from kernel.errors import (
    BadRequest, Conflict, Forbidden, NotFound, RuleViolation, ServiceError, Unauthenticated,
)

__all__ = [
    "ServiceError", "ValidationError", "InvalidContext", "NotAllowed", "NotAssigned", "NotFound",
    "AlreadyExists", "AlreadyEnrolled", "InvalidMark", "ExemptNotAllowed", "NoMarksInGrade1",
    "NoHomeworkInGrade1", "StudentNotInClass", "LessonOutsidePeriod", "YearClosed", "InvalidPeriods",
    "RoleMismatch", "DateOutsideYear", "LessonInFuture", "SubstituteNotAssigned", "Unavailable",
]


class ValidationError(BadRequest):
    """Malformed input (400). ``details.field`` names the offending field."""
    code, message = "VALIDATION_ERROR", "Некорректные данные"


class InvalidContext(Unauthenticated):
    """The call context lacks the actor or the school (401)."""
    code, message = "INVALID_TOKEN", "Не удалось определить пользователя"


class NotAllowed(Forbidden):
    code, message = "FORBIDDEN", "Недостаточно прав"


class NotAssigned(Forbidden):
    """R-A3: a teacher writes only to the classes and subjects assigned to them."""
    code, message = "NOT_ASSIGNED", "Вы не ведёте этот предмет в этом классе"


class AlreadyExists(Conflict):
    code, message = "ALREADY_EXISTS", "Такая запись уже существует"


class AlreadyEnrolled(Conflict):
    code, message = "ALREADY_ENROLLED", "Ученик уже зачислен в класс этого учебного года"


class InvalidMark(RuleViolation):
    code, message = "INVALID_MARK", "Недопустимая отметка: разрешены целые числа от 2 до 5"


class ExemptNotAllowed(RuleViolation):
    """R-J9: "осв." is not a mark; exempt students are graded on theory."""
    code, message = "EXEMPT_NOT_ALLOWED", "Запись «осв.» недопустима: оценивается теоретическая часть"


class NoMarksInGrade1(RuleViolation):
    code, message = "NO_MARKS_IN_GRADE_1", "В первом классе отметки не ставятся"


class NoHomeworkInGrade1(RuleViolation):
    code, message = "NO_HOMEWORK_IN_GRADE_1", "В первом классе домашнее задание не задаётся"


class StudentNotInClass(RuleViolation):
    code, message = "STUDENT_NOT_IN_CLASS", "Ученик не числится в классе на дату урока"


class LessonOutsidePeriod(RuleViolation):
    code, message = "LESSON_OUTSIDE_PERIOD", "Дата урока не попадает ни в один учебный период"


class YearClosed(RuleViolation):
    code, message = "YEAR_CLOSED", "Учебный год закрыт и находится в архиве"


class InvalidPeriods(RuleViolation):
    code, message = "INVALID_PERIODS", "Учебные периоды заданы неверно"


class RoleMismatch(RuleViolation):
    code, message = "ROLE_MISMATCH", "У пользователя нет нужной роли"


class DateOutsideYear(RuleViolation):
    code, message = "DATE_OUTSIDE_YEAR", "Дата не относится к учебному году"


class LessonInFuture(RuleViolation):
    code, message = "LESSON_IN_FUTURE", "Нельзя ставить отметки за урок, который ещё не прошёл"


class SubstituteNotAssigned(RuleViolation):
    code, message = "SUBSTITUTE_NOT_ASSIGNED", "Заменяемый учитель не ведёт этот предмет в этом классе"


class Unavailable(ServiceError):
    """A service this one depends on did not answer in time (503)."""
    kind, code, message = "unavailable", "SERVICE_UNAVAILABLE", "Сервис временно недоступен, попробуйте позже"


# --- school structure over the year (journal.structure, journal.imports) ---

class MovementBeforeAdmission(RuleViolation):
    code, message = "MOVEMENT_BEFORE_ADMISSION", "Дата движения должна быть позже даты зачисления"


class NotEnrolled(RuleViolation):
    code, message = "NOT_ENROLLED", "Ученик не числится ни в одном классе этого учебного года"


class SameClass(RuleViolation):
    code, message = "SAME_CLASS", "Ученик уже учится в этом классе"


class OtherYear(RuleViolation):
    code, message = "OTHER_YEAR", "Перевод возможен только в класс того же учебного года"


class YearAlreadyClosed(Conflict):
    code, message = "YEAR_ALREADY_CLOSED", "Учебный год уже закрыт"


class YearNotEnded(RuleViolation):
    code, message = ("YEAR_NOT_ENDED", "Учебный год ещё не закончился. Чтобы закрыть его досрочно, "
                                       "подтвердите это: early: true")


class NoNextYear(RuleViolation):
    code, message = "NO_NEXT_YEAR", "Для перевода учеников сначала откройте следующий учебный год"


class AlreadyInSubgroup(Conflict):
    code, message = "ALREADY_IN_SUBGROUP", "Ученик уже входит в подгруппу по этому предмету"


class TimetableConflict(Conflict):
    code, message = "TIMETABLE_CONFLICT", "Учитель или кабинет заняты в это время"


class ImportIncomplete(ServiceError):
    """A service failed half-way through an import; the same file again completes it (503)."""
    kind, code, message = ("unavailable", "IMPORT_INCOMPLETE",
                           "Загрузка прервана: сервис недоступен. Загрузите тот же файл ещё раз, когда он заработает")
# --- corrections, attendance, final marks (issue 4, part B) -----------------

class MarkRemoved(RuleViolation):
    code, message = "MARK_REMOVED", "Отметка удалена; её нельзя изменить"


class NothingChanged(RuleViolation):
    code, message = "NOTHING_CHANGED", "Новое значение совпадает с текущим"


class CorrectionClosed(RuleViolation):
    code, message = "CORRECTION_CLOSED", "Срок исправления посещаемости истёк; обратитесь к классному руководителю"


class PeriodNotFound(NotFound):
    code, message = "NOT_FOUND", "Учебный период не найден"


class NotAssignedForFinal(Forbidden):
    code, message = "NOT_ASSIGNED", "Итоговую отметку ставит учитель, ведущий предмет в классе ученика"
