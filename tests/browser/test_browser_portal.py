"""The portal in a real browser (Chromium through Playwright), at desktop
and phone width: a parent signs in and reads the child's diary (R-A3);
every page is screenshotted and checked with axe-core."""
from __future__ import annotations

import datetime as dt

import pytest

from localrun.client import Api

from conftest import axe_violations, shot

PASSWORD = "browser-pass-2026"


@pytest.fixture(scope="module")
def family(platform):
    """A class with a lesson and a mark yesterday, a pupil and their consenting parent."""
    env = platform.env
    admin = Api(platform.url).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
    today = dt.date.today()
    year = admin.post("/years", {"name": "Год браузера", "starts_on": (today - dt.timedelta(days=30)).isoformat(),
                                 "ends_on": (today + dt.timedelta(days=90)).isoformat(), "periods": [
                                     {"name": "1 полугодие", "kind": "half_year",
                                      "starts_on": (today - dt.timedelta(days=30)).isoformat(),
                                      "ends_on": (today + dt.timedelta(days=90)).isoformat()}]})
    tag = dt.datetime.now().strftime("%H%M%S%f")
    teacher = admin.post("/users", {"login": f"br.teacher.{tag}", "full_name": "Смирнова Ольга Николаевна",
                                    "roles": ["teacher", "class_teacher"], "password": PASSWORD})["id"]
    klass = admin.post("/classes", {"year_id": year["id"], "grade": 7, "letter": "Б", "class_teacher_id": teacher})["id"]
    maths = admin.post("/subjects", {"name": f"Алгебра {tag}"})["id"]
    admin.post("/assignments", {"teacher_id": teacher, "class_id": klass, "subject_id": maths, "hours_per_week": 4})
    pupil = admin.post("/users", {"login": f"br.pupil.{tag}", "full_name": "Иванов Пётр Алексеевич",
                                  "roles": ["student"], "password": PASSWORD})["id"]
    admin.post(f"/classes/{klass}/students", {"student_id": pupil, "order_no": "№ 7-у",
                                              "on": (today - dt.timedelta(days=30)).isoformat()})
    parent_login = f"br.parent.{tag}"
    parent = admin.post("/users", {"login": parent_login, "full_name": "Иванова Мария Сергеевна",
                                   "roles": ["parent"], "password": PASSWORD})["id"]
    admin.post(f"/students/{pupil}/parents", {"parent_id": parent, "relation": "мать"})
    admin.put(f"/parents/{parent}/consent", {"given": True, "signed_on": today.isoformat()})
    teacher_api = Api(platform.url).login(f"br.teacher.{tag}", PASSWORD)
    day = today - dt.timedelta(days=1)
    lesson = teacher_api.post("/lessons", {"class_id": klass, "subject_id": maths, "date": day.isoformat(),
                                           "topic": "Линейные уравнения", "lesson_type": "урок",
                                           "homework": "§12, № 245"})
    teacher_api.put(f"/lessons/{lesson['id']}/marks", {"marks": [{"student_id": pupil, "value": 5}]})
    return {"parent_login": parent_login, "day": day}


def test_a_parent_reads_the_child_s_diary_r_a3(platform, page, family):
    page.goto(platform.url + "/")
    page.get_by_label("Логин").fill(family["parent_login"])
    page.get_by_label("Пароль").fill(PASSWORD)
    page.get_by_role("button", name="Войти").click()
    diary = page.locator("#diary")
    diary.get_by_text("Линейные уравнения").wait_for()
    assert "§12, № 245" in diary.inner_text()
    assert diary.locator(".mark").first.inner_text().strip() == "5"
    shot(page, "portal-parent-diary")
    assert axe_violations(page) == []
