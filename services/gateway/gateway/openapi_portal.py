"""The portal's pages (gateway.portal) as the OpenAPI document lists them (HTML, outside
``/api/v1``): one row per rule and method, the single list the document and
the blueprint are checked against (services/gateway/tests)."""
from __future__ import annotations

# rule (OpenAPI form), method, summary
PAGES = [
    ("/", "get", "Портал: вход или главная страница"),
    ("/login", "get", "Портал: вход"),
    ("/login", "post", "Портал: вход (логин и пароль)"),
    ("/login/code", "get", "Портал: второй фактор сотрудника"),
    ("/login/code", "post", "Портал: второй фактор сотрудника (код)"),
    ("/logout", "post", "Портал: выход"),
    ("/diary", "get", "Портал: дневник за неделю"),
    ("/results", "get", "Портал: итоговые оценки и прогноз"),
    ("/timetable", "get", "Портал: расписание"),
    ("/notifications", "get", "Портал: уведомления"),
    ("/mail", "get", "Портал: почта (входящие, отправленные)"),
    ("/mail/new", "get", "Портал: новое письмо"),
    ("/mail/new", "post", "Портал: отправить письмо (или найти получателей, не теряя написанного)"),
    ("/mail/recipients", "get", "Портал: список тех, кому можно писать, по поиску (часть формы письма)"),
    ("/mail/{id}", "get", "Портал: письмо и его переписка"),
    ("/mail/{id}/attachments/{attachment_id}", "get", "Портал: вложение письма"),
    ("/news", "get", "Портал: новости и объявления"),
    ("/profile", "get", "Портал: профиль и настройки"),
    ("/profile/password", "post", "Портал: сменить пароль"),
    ("/profile/notifications", "post", "Портал: настройки уведомлений"),
    ("/assets/{filename}", "get", "Портал: стили и скрипт"),
    ("/teaching", "get", "Портал: мои классы (учитель)"),
    ("/teaching/classes/{class_id}/journal", "get", "Портал: журнал класса по предмету и периоду"),
    ("/teaching/classes/{class_id}/plan", "get", "Портал: выполнение плана по предмету за период"),
    ("/teaching/classes/{class_id}/lessons", "post", "Портал: записать урок"),
    ("/teaching/classes/{class_id}/finals", "post", "Портал: выставить итоговую оценку"),
    ("/teaching/lessons/{lesson_id}/marks", "post", "Портал: оценки за урок"),
    ("/teaching/lessons/{lesson_id}/attendance", "post", "Портал: посещаемость урока"),
    ("/teaching/marks/{mark_id}", "get", "Портал: оценка и её история"),
    ("/teaching/marks/{mark_id}", "post", "Портал: исправить оценку"),
    ("/teaching/marks/{mark_id}/remove", "post", "Портал: отменить оценку с причиной"),
    ("/teaching/class/{class_id}", "get", "Портал: список класса с родителями (классный руководитель)"),
    ("/teaching/class/{class_id}/attendance", "get", "Портал: посещаемость класса за неделю"),
    ("/teaching/class/{class_id}/attendance/{lesson_id}", "post", "Портал: исправить посещаемость урока"),
    ("/teaching/class/{class_id}/letter", "get", "Портал: письмо всем родителям класса"),
    ("/teaching/class/{class_id}/letter", "post", "Портал: отправить письмо родителям класса"),
    ("/reports", "get", "Портал: отчёты (форма, таблицы отчёта, ссылки на PDF и XLSX, архив журналов)"),
    ("/reports/{kind}/{fmt}", "get", "Портал: файл отчёта (PDF или XLSX)"),
    ("/reports/archives/{id}/{fmt}", "get", "Портал: файл архивного журнала (PDF или XLSX)"),
    ("/admin", "get", "Портал: администрирование (разделы)"),
    ("/admin/users", "get", "Портал: пользователи (поиск по ФИО, логину и роли; форма нового пользователя)"),
    ("/admin/users", "post", "Портал: создать пользователя с ролями (начальный пароль показывается один раз)"),
    ("/admin/users/{user_id}", "get", "Портал: карточка пользователя (роли, разблокировка входа)"),
    ("/admin/users/{user_id}/roles", "post", "Портал: изменить роли пользователя"),
    ("/admin/users/{user_id}/unlock", "post", "Портал: разблокировать вход пользователя"),
    ("/admin/years", "get", "Портал: учебные годы и их периоды; форма нового года"),
    ("/admin/years", "post", "Портал: открыть учебный год с периодами"),
    ("/admin/classes", "get", "Портал: классы учебного года с классными руководителями; форма нового класса"),
    ("/admin/classes", "post", "Портал: создать класс"),
    ("/admin/classes/{class_id}/timetable", "get", "Портал: расписание класса на период (правка по строкам)"),
    ("/admin/classes/{class_id}/timetable", "post", "Портал: сохранить расписание класса (конфликты показываются в строках)"),
    ("/admin/classes/{class_id}/import", "get", "Портал: загрузка учеников и родителей класса из CSV или XLSX"),
    ("/admin/classes/{class_id}/import", "post", "Портал: загрузить файл (каждая ошибочная строка с номером и причиной)"),
    ("/admin/subjects", "get", "Портал: предметы и их акцент; форма нового предмета"),
    ("/admin/subjects", "post", "Портал: создать предмет"),
    ("/admin/subjects/{subject_id}", "post", "Портал: изменить акцент предмета"),
    ("/admin/assignments", "get", "Портал: назначение учителя на предмет в классе"),
    ("/admin/assignments", "post", "Портал: назначить учителя"),
]


def paths() -> dict:
    """OpenAPI path items of the portal's pages."""
    out: dict = {}
    for rule, method, summary in PAGES:
        op_id = "portal_" + ("home" if rule == "/" else rule.strip("/").replace("/", "_").replace("{", "")
                             .replace("}", "")) + ("_" + method if method != "get" else "")
        params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                  for name in ("id", "attachment_id", "filename", "class_id", "lesson_id", "mark_id",
                               "user_id", "subject_id", "kind", "fmt") if "{" + name + "}" in rule]
        responses = {"200": {"description": "An HTML page (a download for an attachment)",
                             "content": {"text/html": {"schema": {"type": "string"}}}},
                     "303": {"description": "After a form, or to the login page"},
                     "403": {"description": "A form without its CSRF token (an HTML page)"},
                     "404": {"description": "Absent or not the caller's (an HTML page)"}}
        out.setdefault(rule, {})[method] = {
            "operationId": op_id, "summary": summary, "tags": ["portal"], "security": [],
            **({"parameters": params} if params else {}), "responses": responses}
    return out
