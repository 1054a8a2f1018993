"""The portal's family pages in a real browser (Chromium through
Playwright), each test at desktop and at phone width: signing in (a wrong
password, the staff second factor), a parent's and a student's journey
through every page, another child's diary as the 404 page, a form without
its CSRF token refused. Every page is screenshotted into build/screenshots/,
checked with axe-core (no serious or critical violation) and for sideways
scrolling."""
from __future__ import annotations

import base64
import datetime as dt
import re
import threading
import time

import pyotp
import pytest

from localrun.client import Api

from conftest import WIDTHS, check, open_menu, sign_in

PASSWORD = "browser-family-2026"
LETTER_SUBJECT = "Родительское собрание в четверг"


@pytest.fixture(scope="module")
def school(platform):
    """7Б with a teacher, three pupils: two of them children of one parent,
    the third another family's; lessons with marks, homework and an absence,
    a timetable, a letter with an attachment, news with a link, and a
    secretary with the second factor on."""
    env = platform.env
    admin = Api(platform.url).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
    today = dt.date.today()
    start, end = today - dt.timedelta(days=40), today + dt.timedelta(days=90)
    year = admin.post("/years", {"name": "Год семьи", "starts_on": start.isoformat(), "ends_on": end.isoformat(),
                                 "periods": [{"name": "1 полугодие", "kind": "half_year",
                                              "starts_on": start.isoformat(), "ends_on": end.isoformat()}]})
    tag = dt.datetime.now().strftime("%H%M%S%f")

    def user(login, name, roles):
        return admin.post("/users", {"login": f"{login}.{tag}", "full_name": name, "roles": roles,
                                     "password": PASSWORD})["id"]

    teacher = user("fam.teacher", "Смирнова Ольга Николаевна", ["teacher", "class_teacher"])
    klass = admin.post("/classes", {"year_id": year["id"], "grade": 7, "letter": "Б",
                                    "class_teacher_id": teacher})["id"]
    maths = admin.post("/subjects", {"name": f"Алгебра {tag}"})["id"]
    admin.post("/assignments", {"teacher_id": teacher, "class_id": klass, "subject_id": maths, "hours_per_week": 4})
    pupils = {}
    for key, name in (("petr", "Иванов Пётр Алексеевич"), ("olga", "Иванова Ольга Алексеевна"),
                      ("other", "Сидоров Илья Олегович")):
        pupils[key] = user(f"fam.{key}", name, ["student"])
        admin.post(f"/classes/{klass}/students", {"student_id": pupils[key], "order_no": "№ 7-у",
                                                  "on": start.isoformat()})
    parent = user("fam.parent", "Иванова Мария Сергеевна", ["parent"])
    other_parent = user("fam.otherparent", "Сидорова Наталья Павловна", ["parent"])
    for child, who in (("petr", parent), ("olga", parent), ("other", other_parent)):
        admin.post(f"/students/{pupils[child]}/parents", {"parent_id": who, "relation": "мать"})
    for who in (parent, other_parent):
        admin.put(f"/parents/{who}/consent", {"given": True, "signed_on": today.isoformat()})
    admin.put(f"/classes/{klass}/timetable", {"period_id": year["periods"][0]["id"], "slots": [
        {"weekday": 1, "number": 2, "subject_id": maths, "teacher_id": teacher, "room": "214"},
        {"weekday": 3, "number": 1, "subject_id": maths, "teacher_id": teacher, "room": "214"}]})

    teacher_api = Api(platform.url).login(f"fam.teacher.{tag}", PASSWORD)
    day = today - dt.timedelta(days=1)
    earlier = day - dt.timedelta(days=7)
    old = teacher_api.post("/lessons", {"class_id": klass, "subject_id": maths, "date": earlier.isoformat(),
                                        "topic": "Степень с натуральным показателем", "lesson_type": "урок"})
    teacher_api.put(f"/lessons/{old['id']}/marks", {"marks": [{"student_id": pupils["petr"], "value": 4}]})
    lesson = teacher_api.post("/lessons", {"class_id": klass, "subject_id": maths, "date": day.isoformat(),
                                           "topic": "Линейные уравнения", "lesson_type": "урок",
                                           "homework": "§12, № 245"})
    teacher_api.put(f"/lessons/{lesson['id']}/marks", {"marks": [
        {"student_id": pupils["petr"], "value": 5, "kind": "control", "weight": 2, "comment": "Отличная работа"},
        {"student_id": pupils["other"], "value": 3}]})
    teacher_api.put(f"/lessons/{lesson['id']}/attendance", {"entries": [
        {"student_id": pupils["olga"], "status": "absent"}]})
    for period_id, value in ((year["periods"][0]["id"], 5), (year["id"], 4)):  # the half-year's and the year's
        teacher_api.put("/final-marks", {"student_id": pupils["petr"], "subject_id": maths, "period_id": period_id,
                                         "value": value})
    letter = teacher_api.post("/messages", {"to": [parent], "subject": LETTER_SUBJECT,
                                            "body": "Здравствуйте!\nСобрание в четверг в 18:00, кабинет 214.",
                                            "attachments": [{"name": "повестка.txt", "content_type": "text/plain",
                                                             "content_base64": base64.b64encode(
                                                                 "1. Итоги полугодия".encode()).decode()}]})
    editor = user("fam.editor", "Кравцова Нина Ивановна", ["news_editor"])
    Api(platform.url).login(f"fam.editor.{tag}", PASSWORD).post("/news", {
        "title": "Каникулы с 29 декабря", "body": "Зимние каникулы начинаются 29 декабря.",
        "audience": {"school": True}, "links": [{"title": "Приказ о каникулах", "url": "/news"}]})
    secretary = user("fam.secretary", "Белова Ирина Петровна", ["secretary"])
    sec_api = Api(platform.url).login(f"fam.secretary.{tag}", PASSWORD)
    secret = sec_api.post("/me/totp", expect=201)["secret"]
    used = {"step": int(time.time() // 30)}
    sec_api.post("/me/totp/confirm", {"code": pyotp.TOTP(secret).at(used["step"] * 30)}, expect=200)
    return {"tag": tag, "teacher": teacher, "pupils": pupils, "parent": parent, "other_parent": other_parent,
            "letter": letter["id"], "klass": klass, "editor": editor, "secretary": secretary,
            "totp": {"secret": secret, "used": used, "lock": threading.Lock()}}


def login_as(who: str, school) -> str:
    return f"fam.{who}.{school['tag']}"


def fresh_code(totp) -> str:
    """A code of a time step not used yet (identity refuses a replayed
    step; the clock's neighbours are accepted), waiting for the next
    step when every usable one is spent."""
    with totp["lock"]:
        while True:
            now = int(time.time() // 30)
            for step in (now, now + 1):
                if step > totp["used"]["step"]:
                    totp["used"]["step"] = step
                    return pyotp.TOTP(totp["secret"]).at(step * 30)
            time.sleep(max(0.2, (now + 1) * 30 - time.time() + 0.2))








def test_login_page_and_a_wrong_password(platform, page, school):
    page.goto(platform.url + "/")
    assert page.get_by_role("heading", name="Вход").is_visible()
    check(page, "portal-login")
    sign_in(page, platform, login_as("parent", school), "not-the-password")
    alert = page.get_by_role("alert")
    assert "парол" in alert.inner_text().lower()
    assert page.get_by_label("Логин").input_value() == login_as("parent", school)
    check(page, "portal-login-wrong-password")
    page.get_by_label("Пароль").fill(PASSWORD)
    page.get_by_role("button", name="Войти").click()
    page.get_by_role("heading", name="Дневник").wait_for()


def test_staff_second_factor(platform, page, school):
    sign_in(page, platform, login_as("secretary", school), PASSWORD)
    page.get_by_role("heading", name="Одноразовый код").wait_for()
    check(page, "portal-login-code")
    page.get_by_label("Код").fill("000000")
    page.get_by_role("button", name="Подтвердить").click()
    assert "код" in page.get_by_role("alert").inner_text().lower()
    page.get_by_label("Код").fill(fresh_code(school["totp"]))
    page.get_by_role("button", name="Подтвердить").click()
    page.get_by_role("heading", name="Уведомления").wait_for()
    assert "Белова Ирина Петровна" in page.locator(".who").inner_text()
    page.get_by_role("button", name="Выйти").click()
    page.get_by_role("heading", name="Вход").wait_for()
    assert "Вы вышли" in page.get_by_role("status").inner_text()


def test_a_parent_s_journey(platform, page, school):
    sign_in(page, platform, login_as("parent", school), PASSWORD)
    diary = page.locator("#diary")
    # the latest week with entries, the first child
    diary.get_by_text("Линейные уравнения").wait_for()
    text = diary.inner_text()
    assert "§12, № 245" in text and "Отличная работа" in text and "контрольная работа, вес 2" in text
    assert diary.locator(".mark").first.inner_text().strip() == "5"
    check(page, "portal-parent-diary")
    page.get_by_role("link", name="← Предыдущая неделя").click()
    diary.get_by_text("Степень с натуральным показателем").wait_for()
    assert diary.locator(".mark").first.inner_text().strip() == "4"
    check(page, "portal-parent-diary-previous-week")
    # the other child
    page.get_by_label("Ребёнок").select_option(label="Иванова Ольга Алексеевна")
    page.get_by_role("button", name="Показать").click()
    diary.get_by_text("Линейные уравнения").wait_for()
    assert "отсутствовал(а)" in diary.inner_text() and not diary.locator(".mark").count()
    check(page, "portal-parent-diary-second-child")
    page.get_by_label("Ребёнок").select_option(label="Иванов Пётр Алексеевич")
    page.get_by_role("button", name="Показать").click()

    open_menu(page, "Итоги")
    page.get_by_role("heading", name=re.compile("Прогноз итоговой оценки")).wait_for()
    finals = page.locator("table.finals")
    headings = finals.locator("thead th").all_inner_texts()
    assert headings[1:] == ["1 полугодие", "Год семьи"]  # final marks by period, the year last
    row = finals.locator("tbody tr", has_text="Алгебра")
    assert row.locator(".mark").all_inner_texts() == ["5", "4"]
    assert "Алгебра" in page.locator("table").last.inner_text()  # the forecast names its subject
    check(page, "portal-parent-results")

    open_menu(page, "Расписание")
    page.get_by_role("heading", name="Понедельник").wait_for()
    assert "каб. 214" in page.locator(".timetable").inner_text()
    check(page, "portal-parent-timetable")

    open_menu(page, "Уведомления")
    notes = page.locator("#notifications")
    notes.wait_for()
    assert notes.locator(".item").count() >= 1
    check(page, "portal-parent-notifications")

    open_menu(page, "Почта")
    page.get_by_role("link", name=LETTER_SUBJECT).first.click()
    body = page.locator("#letter-body")
    assert "кабинет 214" in body.inner_text()
    with page.expect_download() as download:
        page.get_by_role("link", name="повестка.txt").click()
    assert download.value.suggested_filename == "повестка.txt"
    check(page, "portal-parent-letter")
    page.get_by_role("link", name="Ответить").click()
    page.get_by_role("heading", name="Ответ на письмо").wait_for()
    check(page, "portal-parent-compose-reply")
    answer = f"Спасибо, придём ({page.width_name})."
    page.get_by_label("Текст").fill(answer)
    page.get_by_label(re.compile("^Вложения")).set_input_files(
        files=[{"name": "справка.txt", "mimeType": "text/plain", "buffer": "Справка".encode()}])
    page.get_by_role("button", name="Отправить").click()
    assert "Письмо отправлено" in page.get_by_role("status").inner_text()
    assert answer in page.locator("#letter-body").inner_text()
    assert page.get_by_role("link", name="справка.txt").is_visible()
    assert page.get_by_role("heading", name="Переписка").is_visible()  # the teacher's letter in the thread
    check(page, "portal-parent-sent-letter")
    page.get_by_role("link", name="← Отправленные").click()
    page.locator("#letters").wait_for()
    check(page, "portal-parent-mail-sent")
    page.get_by_role("link", name="Входящие").click()
    check(page, "portal-parent-mail-inbox")

    open_menu(page, "Новости")
    page.get_by_role("heading", name="Каникулы с 29 декабря").wait_for()
    assert page.get_by_role("link", name="Приказ о каникулах").is_visible()
    check(page, "portal-parent-news")

    open_menu(page, "Профиль")
    assert page.locator("#profile-name").inner_text() == "Иванова Мария Сергеевна"
    check(page, "portal-parent-profile")
    page.get_by_label("раз в день (сводка)").check()
    page.get_by_label("Время ежедневной сводки").fill("19:30")
    page.get_by_role("button", name="Сохранить").click()
    assert "сохранены" in page.get_by_role("status").inner_text()
    assert page.get_by_label("раз в день (сводка)").is_checked()
    assert page.get_by_label("Время ежедневной сводки").input_value() == "19:30"
    # a mistyped repetition, then a password change there and back
    page.get_by_label("Текущий пароль").fill(PASSWORD)
    page.get_by_label("Новый пароль", exact=True).fill("another-family-pass-1")
    page.get_by_label("Новый пароль ещё раз").fill("another-family-pass-2")
    page.get_by_role("button", name="Сменить пароль").click()
    assert "не совпадают" in page.get_by_role("alert").inner_text()
    check(page, "portal-parent-profile-error")
    for old, new in ((PASSWORD, "another-family-pass-1"), ("another-family-pass-1", PASSWORD)):
        page.get_by_label("Текущий пароль").fill(old)
        page.get_by_label("Новый пароль", exact=True).fill(new)
        page.get_by_label("Новый пароль ещё раз").fill(new)
        page.get_by_role("button", name="Сменить пароль").click()
        assert "Пароль изменён" in page.get_by_role("status").inner_text()


def test_a_student_s_journey(platform, page, school):
    sign_in(page, platform, login_as("petr", school), PASSWORD)
    diary = page.locator("#diary")
    diary.get_by_text("Линейные уравнения").wait_for()
    assert page.locator(".child-switch").count() == 0
    check(page, "portal-student-diary")
    for name, heading, shot_name in (("Итоги", "Итоги и прогноз", "results"), ("Расписание", "Расписание", "timetable"),
                                     ("Уведомления", "Уведомления", "notifications"), ("Новости", "Новости и объявления",
                                                                                       "news"),
                                     ("Профиль", "Профиль", "profile")):
        open_menu(page, name)
        page.get_by_role("heading", name=heading, exact=True).wait_for()
        check(page, f"portal-student-{shot_name}")
    # a letter to the teacher, picked from the people the student may write to
    open_menu(page, "Почта")
    check(page, "portal-student-mail")
    page.get_by_role("link", name="Написать письмо").click()
    page.get_by_label("Найти получателя по фамилии или имени").fill("Смирнова")  # the list follows the typing
    teacher = page.locator(f"#to-{school['teacher']}")
    teacher.wait_for()
    label = page.locator(f"label[for='to-{school['teacher']}']").inner_text()
    assert label == "Смирнова Ольга Николаевна — классный руководитель, 7Б"
    check(page, "portal-student-compose")
    teacher.check()
    page.get_by_label("Тема").fill("Вопрос по домашнему заданию")
    page.get_by_label("Текст").fill("Ольга Николаевна, в № 245 ответ 7?")
    page.get_by_role("button", name="Отправить").click()
    assert "Письмо отправлено" in page.get_by_role("status").inner_text()
    assert "Смирнова Ольга Николаевна" in page.locator("main").inner_text()
    # someone a student may not write to is not in the list; the "find" button works as a plain form
    page.goto(platform.url + "/mail/new")
    page.get_by_label("Тема").fill("Привет")
    page.get_by_label("Найти получателя по фамилии или имени").fill("Сидорова")
    with page.expect_navigation():
        page.get_by_role("button", name="Найти").click()
    page.get_by_text("Никого не найдено.").wait_for()
    assert page.get_by_label("Тема").input_value() == "Привет"  # the form kept
    assert page.locator(f"#to-{school['other_parent']}").count() == 0
    check(page, "portal-student-compose-nobody")


def test_a_letter_without_script(platform, browser, width, school):
    """The compose form is a plain form: found, picked and sent with scripts off."""
    w, h = WIDTHS[width]
    context = browser.new_context(viewport={"width": w, "height": h}, locale="ru-RU", java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, platform, login_as("olga", school), PASSWORD)
        page.goto(platform.url + "/mail/new")
        page.get_by_label("Тема").fill("Без скриптов")
        page.get_by_label("Найти получателя по фамилии или имени").fill("Смирнова")
        page.get_by_role("button", name="Найти").click()
        page.locator(f"#to-{school['teacher']}").check()
        assert page.get_by_label("Тема").input_value() == "Без скриптов"
        page.get_by_label("Текст").fill("Ольга Николаевна, письмо из браузера без скриптов.")
        page.get_by_role("button", name="Отправить").click()
        assert "Письмо отправлено" in page.get_by_role("status").inner_text()
    finally:
        context.close()


def test_another_child_s_diary_is_the_404_page(platform, page, school):
    sign_in(page, platform, login_as("parent", school), PASSWORD)
    page.locator("#diary").wait_for()
    for url in (f"/diary?child={school['pupils']['other']}", f"/results?child={school['pupils']['other']}",
                f"/timetable?child={school['pupils']['other']}", "/mail/00000000-0000-4000-8000-000000000000",
                "/no-such-page"):
        response = page.goto(platform.url + url)
        assert response.status == 404, url
        assert page.get_by_role("heading", name="Страница не найдена").is_visible(), url
        assert "Сидоров" not in page.content()
    check(page, "portal-404")
    # the student sees their own diary only
    page.get_by_role("button", name="Выйти").click()
    sign_in(page, platform, login_as("petr", school), PASSWORD)
    page.locator("#diary").wait_for()
    assert page.goto(platform.url + f"/diary?child={school['pupils']['olga']}").status == 404


def test_a_form_without_its_csrf_token_is_refused(platform, page, school):
    sign_in(page, platform, login_as("parent", school), PASSWORD)
    page.locator("#diary").wait_for()
    for form in ({"email": "off"}, {"email": "off", "csrf": "forged"}):
        answer = page.request.post(platform.url + "/profile/notifications", form=form, max_redirects=0)
        assert answer.status == 403 and "Форма устарела" in answer.text()
    # the same through the page: the token taken out of the form before it is sent
    page.goto(platform.url + "/profile")
    page.evaluate("() => document.querySelectorAll('input[name=csrf]').forEach(i => i.remove())")
    page.get_by_label("не присылать").check()
    page.get_by_role("button", name="Сохранить").click()
    page.get_by_role("heading", name="Форма устарела").wait_for()
    check(page, "portal-csrf-refused")
    page.goto(platform.url + "/profile")
    assert not page.get_by_label("не присылать").is_checked()
    # nor can the login form be posted from elsewhere
    answer = page.request.post(platform.url + "/login", form={"login": "x", "password": "y"}, max_redirects=0)
    assert answer.status == 403


def tab_to(page, predicate: str, limit: int = 40) -> None:
    """Press Tab until the focused element satisfies ``predicate`` (a JS
    expression over ``el``)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => {{ const el = document.activeElement; return !!({predicate}); }}"):
            return
    raise AssertionError(f"Tab never reached {predicate}")


def test_the_keyboard_alone_signs_in_and_moves_around(platform, page, school):
    page.goto(platform.url + "/login")
    tab_to(page, "el.classList.contains('skip')")
    tab_to(page, "el.id === 'login'")
    page.keyboard.type(login_as("petr", school))
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.locator("#diary").get_by_text("Линейные уравнения").wait_for()
    if page.locator(".menu-toggle").is_visible():  # a phone: the menu opens from its button
        tab_to(page, "el.classList.contains('menu-toggle')")
        page.keyboard.press("Enter")
        assert page.locator(".menu-toggle").get_attribute("aria-expanded") == "true"
    tab_to(page, "el.textContent.trim() === 'Почта'")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Почта").wait_for()
    tab_to(page, "el.textContent.trim() === 'Написать письмо'")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Новое письмо").wait_for()
