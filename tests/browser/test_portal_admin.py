"""The administrator's school set-up in a real browser (Chromium through
Playwright), at desktop and at phone width: the administrator opens
«Администрирование» from the menu, creates a teacher with two roles (the
initial password is shown once, and it signs the teacher in), opens a new
year with two half-years, a class with that teacher as class teacher, a
subject with its emphasis, and assigns the teacher; sets the class's
timetable (a teacher twice at once is shown in its row first), imports the
class's pupils from an XLSX file with one bad row (shown, fixed, imported); changes the teacher's
roles and unlocks the login on the user card. Then the teacher and a
parent get the 404 page on every administration address. Every page is
screenshotted into build/screenshots/, checked with axe-core (no serious
or critical violation) and for sideways scrolling."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from openpyxl import Workbook

from localrun.client import Api

from conftest import check, open_menu, sign_in, through_progress

PASSWORD = "browser-admin-2026"
HEADER = ["ФИО ученика", "Дата рождения", "Пол", "Логин ученика", "ФИО родителя", "E-mail родителя",
          "Логин родителя", "Кем приходится"]
ADDRESSES = ("/admin", "/admin/users", "/admin/years", "/admin/classes", "/admin/subjects", "/admin/assignments")


@pytest.fixture(scope="module")
def school(platform):
    """A fresh administrator (so no other journey's change of the bootstrap
    one matters) and a parent with consent."""
    env = platform.env
    boot = Api(platform.url).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
    tag = dt.datetime.now().strftime("%H%M%S%f")
    boot.post("/users", {"login": f"adm.admin.{tag}", "full_name": "Семёнова Галина Петровна", "roles": ["admin"],
                         "password": PASSWORD})
    parent = boot.post("/users", {"login": f"adm.parent.{tag}", "full_name": "Лебедев Олег Иванович",
                                  "roles": ["parent"], "password": PASSWORD})["id"]
    boot.put(f"/parents/{parent}/consent", {"given": True, "signed_on": dt.date.today().isoformat()})
    return {"tag": tag, "admin": Api(platform.url).login(f"adm.admin.{tag}", PASSWORD)}


def xlsx(path, rows) -> str:
    book = Workbook()
    for row in [HEADER, *rows]:
        book.active.append(row)
    book.save(path)
    return str(path)


def test_the_administrator_sets_up_a_school_year(platform, page, school, tmp_path):
    tag, width = school["tag"], page.width_name
    sign_in(page, platform, f"adm.admin.{tag}", PASSWORD)
    page.locator("#menu").wait_for(state="attached")
    open_menu(page, "Администрирование")
    page.get_by_role("heading", name="Администрирование", exact=True).wait_for()
    check(page, "portal-admin-home")

    # a teacher with two roles; the initial password is shown once
    page.get_by_role("link", name="Пользователи", exact=True).first.click()
    page.get_by_role("heading", name="Пользователи", exact=True).wait_for()
    teacher_name = f"Крылова Мария Андреевна {width}"
    teacher_login = f"adm.teacher.{width}.{tag}"
    page.get_by_label("ФИО", exact=True).fill(teacher_name)
    page.get_by_label("Логин", exact=True).fill(teacher_login)
    page.get_by_label("учитель", exact=True).check()
    page.get_by_label("классный руководитель", exact=True).check()
    page.get_by_role("button", name="Создать").click()
    page.get_by_role("heading", name="Учётная запись создана").wait_for()
    password = page.locator(".created code.secret").inner_text().strip()
    assert len(password) >= 8
    assert "классный руководитель, учитель" in page.locator(".created").inner_text()
    check(page, "portal-admin-user-created")

    page.get_by_label("ФИО или логин").fill(teacher_login)
    page.get_by_label("Роль", exact=True).select_option(label="классный руководитель")
    page.get_by_role("button", name="Найти").click()
    page.get_by_role("heading", name="Найдено: 1").wait_for()
    assert "Пароль показан только сейчас" not in page.content()
    check(page, "portal-admin-users")

    # the year with two half-years
    year_name = f"Год {width} {tag}"
    start = dt.date.today() + dt.timedelta(days=400)  # after every other journey's year: the latest one
    middle, end = start + dt.timedelta(days=120), start + dt.timedelta(days=270)
    page.get_by_role("navigation", name="Администрирование").get_by_role("link", name="Учебный год").click()
    page.get_by_role("heading", name="Открыть учебный год").wait_for()
    form = page.locator("form", has=page.get_by_role("heading", name="Открыть учебный год"))
    form.get_by_label("Название", exact=True).first.fill(year_name)
    page.locator("#year-start").fill(start.isoformat())
    page.locator("#year-end").fill(end.isoformat())
    for i, (name, first, last) in enumerate((("1 полугодие", start, middle),
                                             ("2 полугодие", middle + dt.timedelta(days=1), end))):
        page.locator(f"#period-{i}-name").fill(name)
        page.locator(f"#period-{i}-kind").select_option(label="полугодие")
        page.locator(f"#period-{i}-starts_on").fill(first.isoformat())
        page.locator(f"#period-{i}-ends_on").fill(last.isoformat())
    page.get_by_role("button", name="Открыть учебный год").click()
    page.get_by_text(f"Учебный год {year_name} открыт, периодов: 2").wait_for()
    year_card = page.locator(".year", has=page.get_by_role("heading", name=year_name))
    assert "1 полугодие" in year_card.inner_text() and "2 полугодие" in year_card.inner_text()
    check(page, "portal-admin-years")

    # a class of that year with the new teacher as its class teacher
    page.get_by_role("navigation", name="Администрирование").get_by_role("link", name="Классы").click()
    page.get_by_label("Учебный год").select_option(label=year_name)
    page.get_by_role("button", name="Показать").click()
    page.get_by_role("heading", name=f"Классы {year_name}").wait_for()
    page.get_by_label("Параллель").fill("8")
    page.get_by_label("Буква").fill("в")
    page.get_by_label("Классный руководитель").select_option(label=teacher_name)
    page.get_by_role("button", name="Создать класс").click()
    page.get_by_text("Класс 8В создан").wait_for()
    row = page.locator("tr", has=page.get_by_role("rowheader", name="8В"))
    assert teacher_name in row.inner_text()
    check(page, "portal-admin-classes")

    # a subject with its emphasis, then the emphasis changed
    subject = f"Астрономия {width} {tag}"
    page.get_by_role("navigation", name="Администрирование").get_by_role("link", name="Предметы").click()
    page.get_by_label("Название").fill(subject)
    page.get_by_label("Акцентный").select_option(label="да")
    page.get_by_role("button", name="Создать предмет").click()
    page.get_by_text(f"Предмет «{subject}» создан").wait_for()
    page.get_by_role("button", name=f"Снять акцент: {subject}").click()
    page.get_by_text(f"«{subject}»: требование письменных работ для итоговой оценки снято").wait_for()
    assert page.get_by_role("button", name=f"Сделать акцентным: {subject}").is_visible()
    check(page, "portal-admin-subjects")

    # the teacher assigned to the class and subject
    page.get_by_role("navigation", name="Администрирование").get_by_role("link", name="Назначения учителей").click()
    page.get_by_label("Учебный год").select_option(label=year_name)
    page.get_by_role("button", name="Показать").click()
    page.get_by_role("heading", name=f"Назначить учителя ({year_name})").wait_for()
    page.get_by_label("Учитель", exact=True).select_option(label=teacher_name)
    page.get_by_label("Класс", exact=True).select_option(label="8В")
    page.get_by_label("Предмет", exact=True).select_option(label=subject)
    page.get_by_label("Часов в неделю").fill("2")
    page.get_by_role("button", name="Назначить").click()
    page.get_by_text("Учитель назначен").wait_for()
    check(page, "portal-admin-assignments")

    # the class's timetable: the same teacher twice at once is shown in its row, then fixed
    page.get_by_role("navigation", name="Администрирование").get_by_role("link", name="Классы").click()
    page.get_by_label("Учебный год").select_option(label=year_name)
    page.get_by_role("button", name="Показать").click()
    page.get_by_role("link", name="Расписание 8В").click()
    page.get_by_role("heading", name="Расписание 8В").wait_for()
    for i, (day, number, room) in enumerate((("Понедельник", "1", "21"), ("Понедельник", "1", "22"))):
        page.locator(f"#slot-{i}-weekday").select_option(label=day)
        page.locator(f"#slot-{i}-number").fill(number)
        page.locator(f"#slot-{i}-subject_id").select_option(label=subject)
        page.locator(f"#slot-{i}-teacher_id").select_option(label=teacher_name)
        page.locator(f"#slot-{i}-room").fill(room)
    page.get_by_role("button", name="Сохранить расписание").click()
    conflict = page.locator("tr.conflict:not(.conflict-note)")
    conflict.first.wait_for()
    assert conflict.count() == 1 and "Строка 2" in conflict.inner_text()
    note = page.get_by_role("list", name="Конфликты строки 2").inner_text()
    assert f"{teacher_name} уже ведёт урок в это время в строке 1" in note
    check(page, "portal-admin-timetable-conflict")
    page.locator("#slot-1-number").fill("2")
    page.get_by_role("button", name="Сохранить расписание").click()
    page.get_by_text("Расписание 8В сохранено: уроков в неделю — 2").wait_for()
    check(page, "portal-admin-timetable")

    # the class's pupils from a spreadsheet: a row without a birth date is shown, fixed, then imported
    page.get_by_role("link", name=re.compile("^← Классы")).click()
    page.get_by_role("link", name="Загрузить учеников 8В").click()
    page.get_by_role("heading", name="Загрузка учеников 8В").wait_for()
    pupil = ["Соколов Артём", "12.04.2013", "м", f"adm.sokolov.{width}.{tag}", "Соколова Вера",
             "sokolova@example.ru", f"adm.sokolova.{width}.{tag}", "мать"]
    bad = ["Лебедева Ника", "", "ж", f"adm.lebedeva.{width}.{tag}", "Лебедев Юрий", "lebedev@example.ru",
           f"adm.lebedev.{width}.{tag}", "отец"]
    page.get_by_label("Файл CSV или XLSX").set_input_files(xlsx(tmp_path / "8v-bad.xlsx", [pupil, bad]))
    page.get_by_label("Номер приказа о зачислении").fill("№ 8-у")
    page.get_by_label("Дата зачисления").fill(start.isoformat())
    through_progress(page, "Загрузить", "portal-admin-import-progress")
    page.get_by_role("heading", name="Строки с ошибками").wait_for()
    rows = page.locator("section", has=page.get_by_role("heading", name="Строки с ошибками")).locator("tbody tr")
    assert rows.count() == 1 and "Строка 3" in rows.inner_text()
    check(page, "portal-admin-import-bad-row")
    bad[1] = "30.11.2013"
    page.get_by_label("Файл CSV или XLSX").set_input_files(xlsx(tmp_path / "8v.xlsx", [pupil, bad]))
    through_progress(page, "Загрузить", "portal-admin-import-progress-clean")
    page.get_by_role("heading", name="Файл загружен").wait_for()
    assert page.locator(".created code.secret").count() == 4  # two pupils, two parents
    check(page, "portal-admin-import-done")

    # what the pages did, as the API sees it: the shown password signs the teacher in
    teacher = Api(platform.url).login(teacher_login, password)
    mine = teacher.get("/me/classes")["items"]
    assert [(r["class"]["name"], r["subject"]["name"]) for r in mine] == [("8В", subject)]
    me = teacher.get("/me")
    assert set(me["roles"]) == {"teacher", "class_teacher"}

    # the user card: roles changed, the login unlocked
    page.get_by_role("navigation", name="Администрирование").get_by_role("link", name="Пользователи").click()
    page.get_by_label("ФИО или логин").fill(teacher_login)
    page.get_by_role("button", name="Найти").click()
    page.get_by_role("link", name=teacher_name).click()
    page.get_by_role("heading", name=teacher_name, exact=True).wait_for()
    check(page, "portal-admin-user")
    page.get_by_label("редактор новостей").check()
    page.get_by_role("button", name="Сохранить роли").click()
    page.get_by_text(re.compile("Роли сохранены: классный руководитель, учитель, редактор новостей")).wait_for()
    page.get_by_role("button", name="Разблокировать вход").click()
    page.get_by_text(re.compile(r"Вход разблокирован")).wait_for()
    card = school["admin"].get(f"/users?q={teacher_login}")["items"]
    assert len(card) == 1 and set(card[0]["roles"]) == {"teacher", "class_teacher", "news_editor"}


@pytest.mark.parametrize("who", ["teacher", "parent"])
def test_others_get_the_404_page_on_every_administration_address(platform, page, school, who):
    tag = school["tag"]
    login = f"adm.parent.{tag}" if who == "parent" else f"adm.other-teacher.{page.width_name}.{who}.{tag}"
    if who == "teacher":
        school["admin"].post("/users", {"login": login, "full_name": "Зайцев Игорь Олегович",
                                        "roles": ["teacher", "class_teacher"], "password": PASSWORD})
    sign_in(page, platform, login, PASSWORD)
    page.locator("#menu").wait_for(state="attached")
    assert page.locator("#menu").get_by_role("link", name="Администрирование").count() == 0
    for address in ADDRESSES:
        answer = page.goto(platform.url + address)
        assert answer.status == 404, address
        page.get_by_role("heading", name="Страница не найдена").wait_for()
    check(page, f"portal-admin-404-{who}")
