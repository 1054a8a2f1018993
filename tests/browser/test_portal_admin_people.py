"""The administrator's people pages in a real browser (Chromium through
Playwright), at desktop and at phone width: a parent's password reset with
the family's letter downloaded as PDF and read back (the printed password
signs the parent in); a subgroup and a withdrawn consent on the class page
(the parent can no longer sign in); a transfer by order from the student's
page; and a year closed with its promotion summary shown before the order
is confirmed. Every page is screenshotted into build/screenshots/, checked
with axe-core and for sideways scrolling."""
from __future__ import annotations

import datetime as dt
import io
import re

import pytest
import requests
from pypdf import PdfReader

from localrun.client import Api

from conftest import check, sign_in, through_progress

PASSWORD = "browser-people-2026"


def year_body(name: str, start: dt.date, end: dt.date) -> dict:
    return {"name": name, "starts_on": start.isoformat(), "ends_on": end.isoformat(),
            "periods": [{"name": "Год", "kind": "half_year", "starts_on": start.isoformat(),
                         "ends_on": end.isoformat()}]}


@pytest.fixture(scope="module")
def school(platform):
    """A fresh administrator; per width a year of today with 9А and 9Б, a
    pupil of 9А with a parent who gave consent, and a past year (with the
    year after it) whose one pupil of 10А is promoted at its close."""
    env = platform.env
    boot = Api(platform.url).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
    tag = dt.datetime.now().strftime("%H%M%S%f")
    boot.post("/users", {"login": f"ppl.admin.{tag}", "full_name": "Орлова Нина Сергеевна", "roles": ["admin"],
                         "password": PASSWORD})
    admin = Api(platform.url).login(f"ppl.admin.{tag}", PASSWORD)
    teacher = admin.post("/users", {"login": f"ppl.ct.{tag}", "full_name": "Белова Анна Ильинична",
                                    "roles": ["teacher", "class_teacher"], "password": PASSWORD})["id"]
    subject = admin.post("/subjects", {"name": f"Английский язык {tag}"})["id"]
    today = dt.date.today()
    worlds = {}
    for i, width in enumerate(("desktop", "phone")):
        start = today - dt.timedelta(days=30)
        year = admin.post("/years", year_body(f"Люди {width} {tag}", start, today + dt.timedelta(days=200)))["id"]
        classes = {letter: admin.post("/classes", {"year_id": year, "grade": 9, "letter": letter,
                                                   "class_teacher_id": teacher})["id"] for letter in ("А", "Б")}
        pupil_name = f"Ершов Павел {width}"
        pupil = admin.post("/users", {"login": f"ppl.pupil.{width}.{tag}", "full_name": pupil_name,
                                      "roles": ["student"], "password": PASSWORD})["id"]
        admin.post(f"/classes/{classes['А']}/students", {"student_id": pupil, "order_no": "№ 1-у",
                                                         "on": start.isoformat()})
        parent_name = f"Ершова Ольга {width}"
        parent = admin.post("/users", {"login": f"ppl.parent.{width}.{tag}", "full_name": parent_name,
                                       "roles": ["parent"], "password": PASSWORD})["id"]
        admin.post(f"/students/{pupil}/parents", {"parent_id": parent, "relation": "мать"})
        admin.put(f"/parents/{parent}/consent", {"given": True, "signed_on": today.isoformat()})
        # a past year of its own decade (no other year between it and the next one) with one pupil of 10А
        old_start = dt.date(1980 + 10 * i, 9, 1)
        old_name, next_name = f"Прошлый {width} {tag}", f"Следующий {width} {tag}"
        old = admin.post("/years", year_body(old_name, old_start, dt.date(old_start.year + 1, 5, 31)))["id"]
        admin.post("/years", year_body(next_name, dt.date(old_start.year + 1, 9, 1),
                                       dt.date(old_start.year + 2, 5, 31)))
        c10 = admin.post("/classes", {"year_id": old, "grade": 10, "letter": "А", "class_teacher_id": teacher})["id"]
        senior = admin.post("/users", {"login": f"ppl.senior.{width}.{tag}", "full_name": f"Зуев Кирилл {width}",
                                       "roles": ["student"], "password": PASSWORD})["id"]
        admin.post(f"/classes/{c10}/students", {"student_id": senior, "order_no": "№ 9-у",
                                                "on": old_start.isoformat()})
        worlds[width] = {"year": year, "year_name": f"Люди {width} {tag}", "classes": classes, "pupil": pupil,
                         "pupil_name": pupil_name, "parent": parent, "parent_name": parent_name,
                         "parent_login": f"ppl.parent.{width}.{tag}", "old": old, "old_name": old_name,
                         "next_name": next_name}
    return {"tag": tag, "admin": admin, "subject": f"Английский язык {tag}", "worlds": worlds}


def admin_tabs(page, name: str) -> None:
    page.get_by_role("navigation", name="Администрирование").get_by_role("link", name=name).click()


def test_the_administrator_resets_a_parents_password_and_prints_the_familys_letter(platform, page, school):
    w = school["worlds"][page.width_name]
    sign_in(page, platform, f"ppl.admin.{school['tag']}", PASSWORD)
    page.locator("#menu").wait_for(state="attached")
    page.goto(platform.url + "/admin/users")
    page.get_by_label("ФИО или логин").fill(w["parent_login"])
    page.get_by_role("button", name="Найти").click()
    page.get_by_role("link", name=w["parent_name"]).click()
    page.get_by_role("heading", name=w["parent_name"], exact=True).wait_for()
    page.get_by_role("button", name="Сбросить пароль").click()
    page.get_by_role("heading", name="Пароль сброшен").wait_for()
    password = page.locator(".created code.secret").inner_text().strip()
    assert len(password) >= 10 and password != PASSWORD
    check(page, "portal-admin-password-reset")
    # the old password no longer works, the new one does
    assert requests.post(f"{platform.url}/api/v1/auth/login", json={"login": w["parent_login"], "password": PASSWORD},
                         timeout=30).status_code == 401
    Api(platform.url).login(w["parent_login"], password)

    for button, greeting in (("Письмо семье (PDF)", "Уважаемые родители"), ("Письмо пользователю (PDF)", "Уважаемый")):
        with page.expect_download() as download:
            page.get_by_role("button", name=button).click()
        content = open(download.value.path(), "rb").read()
        assert content.startswith(b"%PDF")
        text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages)
        assert greeting in text and w["parent_login"] in text and password in text, text
        assert platform.url.split("//")[1] in text and "Профиль" in text
    # the password is in no log of the platform
    logs = sorted(platform.log_dir.glob("*.log"))
    assert any(log.name.startswith("gateway") for log in logs), logs
    for log in logs:
        assert password not in log.read_text(errors="replace"), log.name


def test_the_class_page_makes_a_subgroup_records_consent_and_transfers_a_pupil(platform, page, school):
    w = school["worlds"][page.width_name]
    sign_in(page, platform, f"ppl.admin.{school['tag']}", PASSWORD)
    page.locator("#menu").wait_for(state="attached")
    page.goto(platform.url + "/admin/classes")
    page.get_by_label("Учебный год").select_option(label=w["year_name"])
    page.get_by_role("button", name="Показать").click()
    page.get_by_role("link", name="Ученики, подгруппы, согласие 9А").click()
    page.get_by_role("heading", name="Ученики 9А").wait_for()

    # a subgroup of the class
    page.get_by_label("Предмет подгруппы").select_option(label=school["subject"])
    page.get_by_label("Название подгруппы").fill("1 группа")
    page.get_by_label(w["pupil_name"], exact=True).check()
    page.get_by_role("button", name="Создать подгруппу").click()
    page.get_by_text("Подгруппа «1 группа» создана: учеников — 1.").wait_for()
    assert "1 группа" in page.locator("tr", has=page.get_by_role("rowheader", name=w["pupil_name"])).inner_text()

    # the parent withdraws consent: recorded with its date, and the parent can no longer sign in
    day = dt.date.today() - dt.timedelta(days=1)
    signed = day.isoformat()
    page.get_by_label(f"Согласие ({w['parent_name']})").select_option(label="отозвано")
    page.get_by_label(f"Дата подписи ({w['parent_name']})").fill(signed)
    page.get_by_role("button", name=f"Записать согласие: {w['parent_name']}").click()
    page.get_by_text(re.compile(rf"Согласие записано: отозвано, {day.day} \S+ {day.year}")).wait_for()
    state = page.get_by_role("form", name=f"Согласие: {w['parent_name']}").inner_text()
    assert re.search(rf"согласие отозвано {day.day} \S+ {day.year}", state), state
    check(page, "portal-admin-class-people")
    answer = requests.post(f"{platform.url}/api/v1/auth/login",
                           json={"login": w["parent_login"], "password": PASSWORD}, timeout=30)
    assert answer.status_code in (401, 403)
    audit = school["admin"].get(f"/audit?target_id={w['parent']}&action=consent_recorded")["items"]
    assert audit[0]["after"] == {"given": False}

    # the pupil moves to 9Б by order
    page.get_by_role("link", name=f"Движение: {w['pupil_name']}").click()
    page.get_by_role("heading", name=w["pupil_name"], exact=True).wait_for()
    page.get_by_label("Класс, куда переводится").select_option(label="9Б")
    page.get_by_label("Номер приказа о переводе").fill("№ 17-п")
    page.get_by_label("Первый день в новом классе").fill(dt.date.today().isoformat())
    page.get_by_role("button", name="Перевести").click()
    page.get_by_text("Ученик переведён в класс 9Б (приказ № 17-п).").wait_for()
    history = page.locator("section", has=page.get_by_role("heading", name="Движение ученика")).inner_text()
    assert "9А" in history and "9Б" in history and "№ 17-п" in history and "перевод" in history
    check(page, "portal-admin-student-movements")
    moves = school["admin"].get(f"/students/{w['pupil']}/movements")["items"]
    assert [(m["class_name"], m["left_order_no"]) for m in moves] == [("9А", "№ 17-п"), ("9Б", None)]


def test_the_administrator_closes_a_year_after_seeing_the_promotion_summary(platform, page, school):
    w = school["worlds"][page.width_name]
    sign_in(page, platform, f"ppl.admin.{school['tag']}", PASSWORD)
    page.locator("#menu").wait_for(state="attached")
    page.goto(platform.url + "/admin/years")
    page.get_by_role("link", name=f"Закрыть учебный год {w['old_name']}").click()
    page.get_by_role("heading", name=f"Закрытие учебного года {w['old_name']}").wait_for()
    summary = page.locator("section", has=page.get_by_role("heading", name="Итоги перевода до приказа"))
    text = summary.inner_text()
    assert re.search(r"Переводятся в следующий класс\s*1", text), text
    assert w["next_name"] in text and "Будут созданы классы" in text and "11А" in text
    check(page, "portal-admin-year-close-preview")

    # the pedagogical council keeps the pupil back: the summary says so before the order, then it is undone
    senior = f"Зуев Кирилл {page.width_name}"
    page.locator("summary", has_text="10А").click()
    page.get_by_label(senior).check()
    page.get_by_role("button", name="Показать итоги").click()
    page.get_by_role("heading", name=f"Закрытие учебного года {w['old_name']}").wait_for()
    text = summary.inner_text()
    assert re.search(r"Остаются на повторное обучение\s*1", text) and re.search(
        r"Переводятся в следующий класс\s*0", text), text
    assert page.get_by_label(senior).is_checked()
    check(page, "portal-admin-year-close-held-back")
    page.get_by_label(senior).uncheck()
    page.get_by_role("button", name="Показать итоги").click()
    page.get_by_role("heading", name=f"Закрытие учебного года {w['old_name']}").wait_for()
    assert re.search(r"Переводятся в следующий класс\s*1", summary.inner_text())
    # nothing is written yet
    assert not next(y for y in school["admin"].get("/years?limit=200")["items"] if y["id"] == w["old"])["closed"]

    page.get_by_label("Номер приказа о закрытии года").fill("№ 101-у")
    through_progress(page, "Закрыть учебный год", "portal-admin-year-close-progress")
    page.get_by_role("heading", name="Учебный год закрыт").wait_for()
    done = page.locator(".created").inner_text()
    assert "№ 101-у" in done and re.search(r"Переведены в следующий класс\s*1", done)
    check(page, "portal-admin-year-closed")
    assert next(y for y in school["admin"].get("/years?limit=200")["items"] if y["id"] == w["old"])["closed"]
