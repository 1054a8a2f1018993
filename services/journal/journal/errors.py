"""The journal's remote errors and its catalogue of Russian user text.
``kind`` picks the HTTP status in the gateway's table (docs/contracts.md),
``code`` is the API's machine code."""
from __future__ import annotations

from kernel.errors import (
    BadRequest, Conflict, Forbidden, InvalidContext, NotFound, RuleViolation, ServiceError,
)

__all__ = [
    "ServiceError", "ValidationError", "InvalidContext", "NotAllowed", "NotAssigned", "NotFound",
    "AlreadyExists", "AlreadyEnrolled", "InvalidMark", "ExemptNotAllowed", "NoMarksInGrade1",
    "NoHomeworkInGrade1", "StudentNotInClass", "LessonOutsidePeriod", "YearClosed", "InvalidPeriods",
    "RoleMismatch", "DateOutsideYear", "LessonInFuture", "SubstituteNotAssigned", "Unavailable",
]


# One catalogue of the user-facing text the rules and the entrypoints raise
# (the error classes below carry their own default message).
MESSAGES = {
    "attendance_entries_empty": "Передайте непустой список отметок посещаемости",
    "attendance_entries_too_many": "Не больше {max_attendance_entries} записей за один запрос",
    "student_twice": "Ученик указан дважды",
    "attendance_reason_required": "Укажите причину исправления посещаемости",
    "attendance_class_teacher_window": "Классный руководитель исправляет посещаемость за текущую и прошлую неделю",
    "field_not_object": "Поле «{field}» должно быть объектом",
    "date_required": "Не указана дата «{field}»",
    "date_format": "Дата «{field}» должна быть в формате ГГГГ-ММ-ДД",
    "date_invalid": "Дата «{field}» не существует",
    "field_not_string": "Поле «{field}» должно быть строкой",
    "field_required": "Не заполнено поле «{field}»",
    "field_too_long": "Поле «{field}» длиннее {max_len} символов",
    "id_required": "Не указан идентификатор «{field}»",
    "id_invalid": "Некорректный идентификатор «{field}»",
    "field_not_integer": "Поле «{field}» должно быть целым числом",
    "field_out_of_range": "Поле «{field}» должно быть от {low} до {high}",
    "emphasis_boolean": "Укажите emphasis: true или false",
    "no_current_period": "Сегодня не идёт ни один учебный период; укажите period_id",
    "file_xlsx_unreadable": "Не удалось прочитать файл XLSX",
    "file_encoding_unknown": "Не удалось определить кодировку файла",
    "file_not_a_table": "Файл не похож на CSV или XLSX",
    "file_header_broken": "В заголовке файла недопустимые символы",
    "file_column_twice": "Столбец «{column}» повторяется",
    "file_empty": "Файл пуст",
    "file_too_many_rows": "Не больше {max_rows} строк за одну загрузку",
    "row_birth_date": "Дата рождения: ожидается ДД.ММ.ГГГГ",
    "file_no_students": "В файле нет ни одной строки с учениками",
    "row_login_is_parent_login": "Логин ученика совпадает с логином родителя",
    "row_login_taken_in_file": "Логин «{login}» уже указан в строке {number} для другого ученика",
    "row_parent_login_taken_in_file": "Логин родителя «{parent_login}» уже указан в строке {number} для "
                                      "другого человека",
    "row_pair_twice": "Эта пара ученик-родитель уже есть в файле",
    "row_parent_login_is_student_login": "Логин родителя «{parent_login}» указан и как логин ученика",
    "row_login_without_role": "Логин «{login}» принадлежит пользователю без роли «{role}»",
    "row_enrolled_elsewhere": "Ученик уже учится в {class_name}: оформите перевод",
    "lessons_empty": "Передайте непустой список уроков",
    "lessons_too_many": "Не больше {max_lessons} уроков за один запрос",
    "paper_lesson_not_past": "Из бумажного журнала переносятся только прошедшие уроки; сегодняшний урок "
                             "записывается в электронный журнал как обычно",
    "paper_entry_before_lesson": "Запись в бумажном журнале не может быть раньше урока",
    "paper_entry_in_future": "Дата записи в бумажном журнале не может быть в будущем",
    "teacher_not_assigned": "Учитель не ведёт этот предмет в этом классе",
    "substitute_self": "Нельзя заменять самого себя",
    "mark_value_range": "Недопустимая отметка: разрешены целые числа от {low} до {max_mark}",
    "marks_empty": "Передайте непустой список отметок",
    "marks_too_many": "Не больше {max_marks_per_request} отметок за один запрос",
    "range_reversed": "Конец периода раньше начала",
    "diary_range_too_long": "Дневник можно запросить не больше чем за {max_diary_days} дня",
    "correction_empty": "Укажите новую отметку (value), вид, вес или комментарий",
    "correction_not_allowed": "Исправлять отметку может учитель, который ведёт этот предмет в классе (или "
                              "заменял на этом уроке), завуч или директор",
    "lesson_not_found": "Урок не найден",
    "field_not_boolean": "Поле «{name}» должно быть true или false",
    "held_back_not_list": "Поле «held_back» должно быть списком",
    "held_back_unknown": "Ученики из списка оставленных на повторное обучение не учатся в этом году",
    "slots_not_list": "Поле «slots» должно быть списком уроков",
    "slots_too_many": "Не больше {max_slots} уроков в неделю",
    "subgroup_not_found": "Подгруппа не найдена в этом классе по этому предмету",
    "plan_topics_empty": "Укажите темы плана",
    "plan_topics_too_many": "Не больше {max_plan_topics} тем в плане",
    "plan_topic_numbers_twice": "Номера тем повторяются",
    "student_not_found": "Ученик не найден",
    "year_ends_before_start": "Учебный год должен заканчиваться позже, чем начинается",
    "year_too_long": "Учебный год не может длиться дольше календарного года",
    "periods_empty": "Укажите учебные периоды (четверти, триместры или полугодия)",
    "period_kind": "Вид периода: quarter, trimester или half_year",
    "period_ends_before_start": "Период заканчивается раньше, чем начинается",
    "period_outside_year": "Период выходит за границы учебного года",
    "period_names_twice": "Названия периодов повторяются",
    "periods_overlap": "Периоды пересекаются",
    "class_letter": "Литера класса должна состоять из букв",
    "hours_range": "Часов в неделю: число больше 0 и не больше 40",
    "hours_step": "Часов в неделю: целое число или половина часа",
    "subgroup_students_empty": "Укажите учеников подгруппы",
    "subgroup_students_too_many": "В подгруппе не больше {max_subgroup_students} учеников",
    "students_twice": "Ученики в списке повторяются",
    "user_not_found": "Пользователь не найден",
    "subject_not_found": "Предмет не найден",
    "class_not_found": "Класс не найден",
    "import_not_allowed": "Загружать учеников может администратор или классный руководитель этого класса",
    "file_broken": "Файл повреждён",
    "mark_not_found": "Отметка не найдена",
    "year_not_found": "Учебный год не найден",
    "job_not_found": "Задание не найдено",
    "job_failed": "Задание не выполнено из-за внутренней ошибки. Попробуйте ещё раз",
    "period_not_in_class_year": "Период не найден в учебном году класса",
    "plan_exists": "План по этому предмету в этом классе на этот период уже есть",
    "period_not_found": "Период не найден",
    "year_name_taken": "Учебный год с таким названием уже открыт",
    "subject_name_taken": "Такой предмет уже есть",
    "class_exists": "Класс {name} уже есть в этом учебном году",
    "enrol_not_allowed": "Зачислять может администратор или классный руководитель этого класса",
    "assignment_exists": "Учитель уже назначен на этот предмет в этом классе",
    "split_not_allowed": "Делить класс на подгруппы может завуч или классный руководитель",
    "grid_request_incomplete": "Не указаны школа, класс, предмет или пользователь",
    "study_period_not_found": "Учебный период не найден",
    "diary_request_incomplete": "Не указан ученик или школа",
    "attendance_status": "Посещаемость: {statuses}",
    "role_missing": "У пользователя нет роли: {roles}",
    "file_columns_unknown": "Неизвестные столбцы: {columns}",
    "file_columns_missing": "Нет столбцов: {columns}",
    "row_cells_broken": "Недопустимые символы (нулевой байт или непарный суррогат) в столбцах: {columns}",
    "row_cells_missing": "Не заполнено: {columns}",
    "row_student_data": "Данные ученика: {message}",
    "row_parent_data": "Данные родителя: {message}",
    "mark_kind": "Вид работы: {kinds}",
    "final_warning.THIN_EVIDENCE": "Текущих отметок меньше, чем требует положение: {marks_count} из {required}",
    "final_warning.NO_WRITTEN_WORK": "Нет ни одной письменной, лабораторной или практической работы",
    "final_warning.WRITTEN_WORK_REQUIRED": "По этому предмету итоговая отметка выставляется с обязательным "
                                           "учётом письменных, лабораторных и практических работ, а их в периоде "
                                           "{written_works} из {written_required}",
    "final_warning.FAR_FROM_AVERAGE": "Итоговая отметка отличается от средневзвешенной ({weighted_average}) "
                                      "на 1 и более",
    "final_warning.LATE": "Итоговая отметка выставлена позже 2 дней после окончания периода",
    # the list reads (journal.domain.reads)
    "page_limit": "Параметр limit должен быть целым числом от 1 до {max}",
    "page_cursor": "Некорректный курсор страницы; начните список сначала",
    "range_reversed": "Дата «to» раньше даты «from»",
}


def text(key: str, **values) -> str:
    """The Russian text for ``key`` with ``values`` filled in."""
    return MESSAGES[key].format(**values)


class ValidationError(BadRequest):
    """Malformed input (400). ``details.field`` names the offending field."""
    code, message = "VALIDATION_ERROR", "Некорректные данные"


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


# --- the school year over time and the imports ------------------------------

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


class JobInterrupted(ServiceError):
    """A job's worker stopped half-way (a job's ``error``, never an RPC's answer)."""
    kind, code, message = ("unavailable", "JOB_INTERRUPTED",
                           "Работа прервана. Запустите её ещё раз: уже сделанное не повторится")


# --- corrections, attendance, final marks ---------------------------------

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
