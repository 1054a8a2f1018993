"""The administrator's operations and the school office in a real browser
(Chromium through Playwright), at desktop and at phone width: the
administrator starts a backup and a restore drill from the page and watches
their progress come in without reloading, downloads the archive, filters the
access log and the audit; the deputy director opens the monthly monitoring,
the students at risk of a class, the plan coverage and a mark's history; the
secretary publishes an announcement with a link to a document; the class
teacher opens the class's reports; a teacher and a parent get the 404 page
on every administration address. Every page is screenshotted into
build/screenshots/, checked with axe-core and for sideways scrolling."""
from __future__ import annotations

import datetime as dt
import re
import time

import pytest

from localrun.client import Api

from conftest import check, open_menu, sign_in

PASSWORD = "browser-ops-2026"
ADDRESSES = ("/admin", "/admin/users", "/admin/users/x1", "/admin/years", "/admin/classes", "/admin/subjects",
             "/admin/assignments", "/admin/classes/x1/timetable", "/admin/classes/x1/import",
             "/admin/backups", "/admin/access-log", "/admin/audit", "/admin/backups/x1/status",
             "/admin/backups/x1/drill?since=2026-01-01T00:00:00%2B00:00", "/admin/backups/x1/archive",
             "/office", "/office/at-risk", "/office/coverage", "/office/lessons", "/office/lessons/x1",
             "/office/marks/x1", "/news/new")
SLOW = 180_000  # ms: a backup of every service, and a drill restoring it into scratch databases


@pytest.fixture(scope="module")
def school(platform):
    """An administrator, a deputy, a secretary, a class teacher of 5Б with
    two pupils (one with a two, corrected once, and so at risk), a parent,
    a thematic plan, and a change of roles in the audit."""
    env = platform.env
    boot = Api(platform.url).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
    tag = dt.datetime.now().strftime("%H%M%S%f")
    today = dt.date.today()
    start, end = today - dt.timedelta(days=20), today + dt.timedelta(days=40)

    def user(login, name, roles):
        return boot.post("/users", {"login": f"{login}.{tag}", "full_name": name, "roles": roles,
                                    "password": PASSWORD})["id"]

    user("ops.admin", "Гусева Ирина Павловна", ["admin"])
    user("ops.deputy", "Тихонов Павел Андреевич", ["deputy"])
    user("ops.secretary", "Мельникова Ольга Юрьевна", ["secretary"])
    teacher = user("ops.teacher", "Фёдорова Наталья Ильинична", ["teacher"])
    boot.put(f"/users/{teacher}/roles", {"roles": ["teacher", "class_teacher"]})  # an audit row
    parent = user("ops.parent", "Комаров Денис Олегович", ["parent"])
    boot.put(f"/parents/{parent}/consent", {"given": True, "signed_on": today.isoformat()})
    year = boot.post("/years", {"name": f"Год управления {tag}", "starts_on": start.isoformat(),
                                "ends_on": end.isoformat(), "periods": [
                                    {"name": "2 четверть", "kind": "quarter", "starts_on": start.isoformat(),
                                     "ends_on": end.isoformat()}]})
    period = year["periods"][0]["id"]
    klass = boot.post("/classes", {"year_id": year["id"], "grade": 5, "letter": "Б",
                                   "class_teacher_id": teacher})["id"]
    subject = boot.post("/subjects", {"name": f"Математика {tag}"})["id"]
    boot.post("/assignments", {"teacher_id": teacher, "class_id": klass, "subject_id": subject,
                               "hours_per_week": 4})
    pupils = {}
    for key, name in (("ira", "Орехова Ирина Денисовна"), ("lev", "Шубин Лев Максимович")):
        pupils[key] = user(f"ops.{key}", name, ["student"])
        boot.post(f"/classes/{klass}/students", {"student_id": pupils[key], "order_no": "№ 12-у",
                                                 "on": start.isoformat()})
    boot.post(f"/students/{pupils['ira']}/parents", {"parent_id": parent, "relation": "отец"}, expect=201)
    t = Api(platform.url).login(f"ops.teacher.{tag}", PASSWORD)
    t.post("/plans", {"class_id": klass, "subject_id": subject, "period_id": period,
                      "topics": [{"number": 1, "title": "Дроби", "hours": 10}]})
    lesson = t.post("/lessons", {"class_id": klass, "subject_id": subject,
                                 "date": (today - dt.timedelta(days=1)).isoformat(), "topic": "Сложение дробей",
                                 "lesson_type": "урок"})
    t.put(f"/lessons/{lesson['id']}/marks", {"marks": [{"student_id": pupils["ira"], "value": 5},
                                                       {"student_id": pupils["lev"], "value": 3}]})
    mark = next(m for m in t.get(f"/lessons/{lesson['id']}")["marks"] if m["student"]["id"] == pupils["lev"])
    t.call("PATCH", f"/marks/{mark['id']}", json={"value": 2, "reason": "Ошибка при вводе"})
    return {"tag": tag, "class": klass, "lesson": lesson["id"], "lesson_date": lesson["date"], "mark": mark["id"], "period": period,
            "admin": Api(platform.url).login(f"ops.admin.{tag}", PASSWORD)}


def test_the_administrator_backs_up_and_drills_from_the_page(platform, page, school):
    polled = []
    page.on("request", lambda r: polled.append(r.url) if r.url.endswith("/status") or "/status?" in r.url else None)
    sign_in(page, platform, f"ops.admin.{school['tag']}", PASSWORD)
    page.locator("#menu").wait_for(state="attached")
    open_menu(page, "Администрирование")
    page.get_by_role("link", name="Резервные копии", exact=True).first.click()
    page.get_by_role("heading", name="Резервные копии", exact=True).wait_for()
    page.get_by_role("heading", name="Хранилища и расписание").wait_for()
    check(page, "portal-admin-backups")

    page.get_by_role("button", name="Создать копию сейчас").click()
    page.get_by_role("heading", name=re.compile("^Резервная копия от")).wait_for()
    backup_id = page.url.rstrip("/").split("/")[-1]
    if page.locator("#progress[data-done='false']").count():
        page.get_by_role("link", name="Обновить").wait_for()  # the page without script asks again by a link
        check(page, "portal-admin-backup-running")
    page.get_by_text("Копия создана.").wait_for(timeout=SLOW)  # the script reloads the page once it is done
    check(page, "portal-admin-backup-done")

    with page.expect_download() as download:
        page.get_by_role("link", name="Скачать архив").click()
    path = download.value.path()
    assert download.value.suggested_filename.endswith(".ejbak")
    assert path.stat().st_size > 0

    page.get_by_role("button", name="Проверить восстановление").click()
    page.get_by_role("heading", name="Проверка восстановления").wait_for()
    # the drill restores every service's data into scratch databases: the first page shows it under way
    assert page.locator("#progress").inner_text().startswith("Идёт проверка восстановления"), \
        page.locator("#progress").inner_text()
    page.get_by_role("link", name="Обновить").wait_for()
    check(page, "portal-admin-drill-running")
    page.get_by_text("Проверка восстановления пройдена: данные архива совпали.").wait_for(timeout=SLOW)
    assert any("/drill/status?since=" in url for url in polled), polled
    check(page, "portal-admin-drill-done")

    row = next(b for b in school["admin"].get("/backups")["items"] if b["id"] == backup_id)
    assert row["status"] == "done" and row["drill_ok"] is True and row["drilled_at"]
    page.get_by_role("link", name="← Резервные копии").click()
    listed = page.get_by_role("row").filter(has_text="пройдено")
    assert listed.count() >= 1


def test_the_access_log_and_the_audit_are_filtered(platform, page, school):
    tag = school["tag"]
    deputy = Api(platform.url).login(f"ops.deputy.{tag}", PASSWORD)
    deputy.get("/me")
    sign_in(page, platform, f"ops.admin.{tag}", PASSWORD)
    page.locator("#menu").wait_for(state="attached")
    page.goto(platform.url + "/admin/access-log")
    page.get_by_role("heading", name="Журнал доступа", exact=True).wait_for()
    check(page, "portal-admin-access-log")

    today = dt.date.today().isoformat()
    for _ in range(60):  # identity keeps the gateway's access events as they come
        page.get_by_label("Пользователь (ФИО или логин)").fill(f"ops.deputy.{tag}")
        page.get_by_label("С даты").fill(today)
        page.get_by_label("По дату").fill(today)
        page.get_by_role("button", name="Показать").click()
        page.get_by_role("heading", name=re.compile("^Обращения:")).wait_for()
        if page.locator("td[data-label='Запрос']", has_text="GET /api/v1/me").count():
            break
        time.sleep(0.5)
    else:
        raise AssertionError("the deputy's GET /me never came into the access log")
    page.get_by_text("Пользователь: Тихонов Павел Андреевич").wait_for()
    users = page.locator("tbody tr td[data-label='Пользователь']").all_inner_texts()
    assert users and all(u.startswith("Тихонов Павел Андреевич") for u in users), users
    check(page, "portal-admin-access-log-filtered")

    page.get_by_role("navigation", name="Администрирование").get_by_role("link", name="Аудит").click()
    page.get_by_role("heading", name="Аудит", exact=True).wait_for()
    page.get_by_label("Пользователь (ФИО или логин)").fill(f"ops.teacher.{tag}")
    page.get_by_label("Действие").select_option(label="изменены роли")
    page.get_by_label("С даты").fill((dt.date.today() + dt.timedelta(days=1)).isoformat())
    page.get_by_role("button", name="Показать").click()
    page.get_by_role("heading", name="Записи: 0").wait_for()  # nothing from tomorrow on
    page.get_by_label("С даты").fill((dt.date.today() - dt.timedelta(days=1)).isoformat())
    page.get_by_label("По дату").fill((dt.date.today() + dt.timedelta(days=1)).isoformat())
    page.get_by_role("button", name="Показать").click()
    page.get_by_role("heading", name="Записи: 1").wait_for()
    row = page.locator("tbody tr").first.inner_text()
    assert "изменены роли" in row and "Фёдорова Наталья Ильинична" in row \
        and "роли: учитель → роли: учитель, классный руководитель" in row, row
    check(page, "portal-admin-audit")


def test_the_deputy_opens_the_monitoring_the_students_at_risk_and_a_mark_s_history(platform, page, school):
    sign_in(page, platform, f"ops.deputy.{school['tag']}", PASSWORD)
    page.locator("#menu").wait_for(state="attached")
    open_menu(page, "Управление")
    page.get_by_role("heading", name="Управление", exact=True).wait_for()
    check(page, "portal-office-home")

    page.get_by_role("link", name="Мониторинг ведения журнала").click()
    page.get_by_role("heading", name="Отчёты", exact=True).wait_for()
    assert page.get_by_label("Отчёт", exact=True).evaluate("e => e.value") == "journal-monitoring"
    page.locator("table").first.wait_for()
    check(page, "portal-office-monitoring")

    page.goto(platform.url + "/office")
    page.get_by_role("navigation", name="Управление").get_by_role("link", name="Группа риска").click()
    page.get_by_label("Учебный год").select_option(label=f"Год управления {school['tag']}")
    page.get_by_role("button", name="Показать").click()
    page.get_by_label("Класс").select_option(label="5Б")
    page.get_by_role("button", name="Показать").click()
    page.get_by_role("heading", name="5Б, 2 четверть: учеников в группе риска — 2").wait_for()
    lev = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Шубин Лев Максимович"))
    ira = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Орехова Ирина Денисовна"))
    assert "прогноз — 2" in lev.inner_text() and "прогноз — 2" not in ira.inner_text()
    assert "отметок меньше, чем нужно для итоговой" in ira.inner_text()
    check(page, "portal-office-at-risk")

    page.get_by_role("navigation", name="Управление").get_by_role("link", name="Выполнение программы").click()
    page.get_by_label("Учебный год").select_option(label=f"Год управления {school['tag']}")
    page.get_by_role("button", name="Показать").click()
    page.get_by_role("heading", name="Фёдорова Наталья Ильинична").wait_for()
    assert "5Б" in page.get_by_role("row").filter(has_text="Математика").first.inner_text()
    check(page, "portal-office-coverage")

    page.get_by_role("navigation", name="Управление").get_by_role("link", name="Истории исправлений").click()
    page.get_by_label("Учебный год").select_option(label=f"Год управления {school['tag']}")
    page.get_by_role("button", name="Показать").click()
    page.get_by_label("Класс").select_option(label="5Б")
    page.get_by_label("Неделя (любой её день)").fill(school["lesson_date"])
    page.get_by_role("button", name="Показать").click()
    check(page, "portal-office-lessons")
    page.get_by_role("link", name=re.compile("Сложение дробей")).click()
    page.get_by_role("heading", name="История посещаемости").wait_for()
    check(page, "portal-office-lesson")
    page.get_by_role("link", name=re.compile("Шубин Лев Максимович: 2")).click()
    page.get_by_role("heading", name="История оценки").wait_for()
    page.get_by_text("Цепочка версий проверена").wait_for()
    assert page.locator("tbody tr").count() == 2
    assert "Ошибка при вводе" in page.locator("tbody tr").nth(1).inner_text()
    check(page, "portal-office-mark-history")


def test_the_secretary_publishes_an_announcement_with_a_document(platform, page, school):
    width = page.width_name
    sign_in(page, platform, f"ops.secretary.{school['tag']}", PASSWORD)
    page.locator("#menu").wait_for(state="attached")
    open_menu(page, "Новости")
    page.get_by_role("link", name="Опубликовать новость или объявление").click()
    page.get_by_role("heading", name="Новость или объявление").wait_for()
    check(page, "portal-news-form")
    title = f"Родительское собрание {width} {school['tag']}"
    page.get_by_label("Заголовок").fill(title)
    page.get_by_label("Текст").fill("Собрание в актовом зале в 18:00.")
    page.get_by_label("Название документа 1").fill("Повестка собрания")
    page.get_by_label("Адрес документа 1").fill("ftp://example")  # refused beside the form, nothing lost
    page.get_by_role("button", name="Опубликовать").click()
    page.get_by_role("alert").wait_for()
    assert page.get_by_label("Заголовок").input_value() == title
    page.get_by_label("Адрес документа 1").fill("/docs/povestka.pdf")
    page.get_by_role("button", name="Опубликовать").click()
    page.get_by_text("Опубликовано.").wait_for()
    item = page.locator("article").filter(has_text=title)
    assert "Объявление" in item.inner_text()
    assert item.get_by_role("link", name="Повестка собрания").get_attribute("href") == "/docs/povestka.pdf"
    check(page, "portal-news-published")


def test_the_class_teacher_opens_the_class_s_reports(platform, page, school):
    sign_in(page, platform, f"ops.teacher.{school['tag']}", PASSWORD)
    page.locator("#menu").wait_for(state="attached")
    page.goto(platform.url + f"/teaching/class/{school['class']}")
    page.get_by_text("Комаров Денис Олегович").first.wait_for()  # the families and consent
    page.get_by_role("link", name="Активность родителей").click()
    # the week's page first (R-A6), the month's report from it
    page.get_by_role("heading", name=re.compile("активность родителей$")).wait_for()
    assert "Заходили" in page.locator("main").inner_text()
    page.get_by_role("link", name=re.compile("за месяц")).click()
    page.get_by_role("heading", name="Отчёты", exact=True).wait_for()
    assert page.get_by_label("Отчёт", exact=True).evaluate("e => e.value") == "user-activity"
    page.locator("table").first.wait_for()
    check(page, "portal-class-parents-activity-month")


@pytest.mark.parametrize("who", ["teacher", "parent"])
def test_a_teacher_or_a_parent_gets_the_404_page_on_every_administration_address(platform, page, school, who):
    sign_in(page, platform, f"ops.{who}.{school['tag']}", PASSWORD)
    page.locator("#menu").wait_for(state="attached")
    menu = page.locator("#menu")
    assert menu.get_by_role("link", name="Администрирование").count() == 0
    assert menu.get_by_role("link", name="Управление").count() == 0
    for address in ADDRESSES:
        answer = page.goto(platform.url + address)
        assert answer.status == 404, address
        page.get_by_role("heading", name="Страница не найдена").wait_for()
    csrf = page.locator("input[name='csrf']").first.get_attribute("value")
    for address in ("/admin/backups", "/admin/backups/x1/drill", "/news/new"):
        answer = page.request.post(platform.url + address, form={"csrf": csrf})
        assert answer.status == 404, address
    check(page, f"portal-admin-ops-404-{who}")
