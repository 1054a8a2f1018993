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
ERR_LIMIT = "Параметр limit должен быть целым числом от 1 до 100"
ERR_CURSOR = "Некорректный курсор постраничного вывода"
ERR_IDS = "Параметр ids должен быть списком идентификаторов уведомлений (не более {max})"
ERR_RECIPIENT = "Вы не можете писать этим адресатам"
ERR_NOT_FOUND = "Не найдено"
ERR_NEWS_ROLE = "У вас нет права публиковать новости и объявления"
ERR_CLASS_PARENTS = "Писать всем родителям класса может только классный руководитель или администрация"
ERR_ATTACHMENT_SIZE = "Вложения больше допустимого размера ({max} КБ в сумме)"
ERR_FOLDER = "Папка должна быть inbox или sent"
ERR_QUERY = "Текст поиска (q) должен быть не длиннее {max} символов"

ABSENCE_TITLE = "Пропуск урока"
ABSENCE_BODY = "{student}: {status} на уроке «{subject}» {date}"
ATTENDANCE_STATUS = {
    "absent": "отсутствие",
    "absent_excused": "отсутствие по уважительной причине",
    "excused": "отсутствие по уважительной причине",
    "sick": "отсутствие по болезни",
    "ill": "отсутствие по болезни",
    "valid_reason": "отсутствие по уважительной причине",
    "late": "опоздание",
}
LATE_ENTRY_TITLE = "Урок записан с опозданием"
LATE_ENTRY_BODY = "«{subject}», {klass}, урок {date}: {how}"
LATE_ENTRY_HOW = {"late": "записан не в день урока", "overdue": "записан позже трёх дней после урока"}
UNKNOWN_CLASS = "класс"
LATE_FINAL_TITLE = "Итоговая отметка выставлена с опозданием"
LATE_FINAL_BODY = "«{subject}», {klass}, {student}: итоговая отметка {period} выставлена позже двух дней после окончания периода"
LATE_FINAL_PERIOD = {"year": "за год", "quarter": "за четверть", "trimester": "за триместр",
                     "half_year": "за полугодие"}
LATE_FINAL_OTHER_PERIOD = "за период"
HOMEWORK_TITLE = "Новое домашнее задание"
HOMEWORK_BODY = "«{subject}» на {date}: {homework}"
MESSAGE_TITLE = "Новое сообщение"
MESSAGE_BODY = "{sender}: {subject}"
UNKNOWN_SENDER = "Пользователь"
# the sender shown for letters the system writes (reports produced by themselves)
SYSTEM_SENDER = "Электронный журнал"
NEWS_TITLE = {"news": "Новость школы", "announcement": "Объявление"}
NEWS_BODY = "{title}"

# E-mail
EMAIL_SUBJECT = "Электронный журнал: {title}"
DIGEST_SUBJECT = "Электронный журнал: сводка за {date}"
DIGEST_HEADING = "Сводка уведомлений за {date}"
EMAIL_FOOTER = "Это письмо отправлено автоматически. Изменить настройки уведомлений можно в личном кабинете."

BACKUP_DRILL_TITLE = "Резервная копия не прошла проверку восстановления"
BACKUP_DRILL_BODY = ("Резервная копия {backup_id} не восстанавливается так, как была записана. {detail} "
                     "Сделайте новую копию и проверьте её (раздел «Резервные копии»).")
