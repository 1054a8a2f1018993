"""The reports page in a real browser, at desktop and phone width: the
deputy director opens «Отчёты» from the menu, picks the progress report of
5А for the quarter and sees the class's table; the page is screenshotted,
checked with axe-core and for sideways scrolling."""
from __future__ import annotations

import datetime as dt
import io
import re
import time
from pathlib import Path

import openpyxl
import pytest
from pypdf import PdfReader

from localrun.client import Api

from conftest import check, open_menu, sign_in, through_progress

PASSWORD = "browser-reports-2026"
YEAR_NAME = "Год отчётов"


@pytest.fixture(scope="module")
def school(platform):
    """5А with three pupils, marks in mathematics and Russian, and a deputy director."""
    env = platform.env
    admin = Api(platform.url).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
    today = dt.date.today()
    start, end = today - dt.timedelta(days=20), today + dt.timedelta(days=40)
    tag = dt.datetime.now().strftime("%H%M%S%f")
    year = admin.post("/years", {"name": f"{YEAR_NAME} {tag}", "starts_on": start.isoformat(),
                                 "ends_on": end.isoformat(), "periods": [
                                     {"name": "2 четверть", "kind": "quarter", "starts_on": start.isoformat(),
                                      "ends_on": end.isoformat()}]})

    def user(login, name, roles):
        return admin.post("/users", {"login": f"{login}.{tag}", "full_name": name, "roles": roles,
                                     "password": PASSWORD})["id"]

    teacher = user("rep.teacher", "Кузнецова Марина Олеговна", ["teacher", "class_teacher"])
    user("rep.deputy", "Соколова Елена Викторовна", ["deputy"])
    klass = admin.post("/classes", {"year_id": year["id"], "grade": 5, "letter": "А",
                                    "class_teacher_id": teacher})["id"]
    subjects = {}
    for key, name in (("maths", "Математика"), ("russian", "Русский язык")):
        subjects[key] = admin.post("/subjects", {"name": f"{name} {tag}"})["id"]
        admin.post("/assignments", {"teacher_id": teacher, "class_id": klass, "subject_id": subjects[key],
                                    "hours_per_week": 4})
    pupils = {}
    for key, name in (("anna", "Белова Анна Игоревна"), ("boris", "Воронов Борис Петрович"),
                      ("yolkin", "Ёлкин Пётр Сергеевич")):
        pupils[key] = user(f"rep.{key}", name, ["student"])
        admin.post(f"/classes/{klass}/students", {"student_id": pupils[key], "order_no": "№ 9-у",
                                                  "on": start.isoformat()})
    teacher_api = Api(platform.url).login(f"rep.teacher.{tag}", PASSWORD)
    marks = {"maths": {"anna": 5, "boris": 4, "yolkin": 2}, "russian": {"anna": 5, "boris": 3, "yolkin": 3}}
    for key, subject in subjects.items():
        lesson = teacher_api.post("/lessons", {"class_id": klass, "subject_id": subject,
                                               "date": (today - dt.timedelta(days=1)).isoformat(),
                                               "topic": "Повторение", "lesson_type": "урок"})
        teacher_api.put(f"/lessons/{lesson['id']}/marks", {"marks": [
            {"student_id": pupils[p], "value": v} for p, v in marks[key].items()]})
    period = year["periods"][0]["id"]
    for _ in range(100):  # reports learns the marks from the journal's events
        report = admin.get(f"/reports/progress?class_id={klass}&period_id={period}")
        if sum(s["count"] for st in report["students"] for s in st["subjects"]) == 6:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"the reports projection never had the 6 marks: {report}")
    return {"tag": tag, "year": year, "klass": klass, "period": period}


def test_the_deputy_reads_the_progress_of_5a(platform, page, school):
    sign_in(page, platform, f"rep.deputy.{school['tag']}", PASSWORD)
    page.locator("#menu").wait_for(state="attached")
    open_menu(page, "Отчёты")
    page.get_by_role("heading", name="Отчёты", exact=True).wait_for()
    check(page, "portal-reports-form")

    year_label = school["year"]["name"]
    if page.get_by_label("Учебный год").input_value() != school["year"]["id"]:
        page.get_by_label("Учебный год").select_option(label=year_label)
        page.get_by_role("button", name="Показать").click()
        page.get_by_text("Периоды и классы обновлены").wait_for()
    page.get_by_label("Отчёт", exact=True).select_option(label="Итоги успеваемости класса")
    page.get_by_label("Период", exact=True).select_option(label="2 четверть")
    page.get_by_label("Класс", exact=True).select_option(label="5А")
    page.get_by_role("button", name="Показать").click()

    report = page.locator("section.report")
    report.get_by_role("heading", name="Итоги успеваемости").wait_for()
    text = report.inner_text()
    for name in ("Белова Анна Игоревна", "Воронов Борис Петрович", "Ёлкин Пётр Сергеевич"):
        assert name in text
    assert "Успеваемость" in text and "66,7%" in text  # Ёлкин has a 2: 2 of 3 pass
    action = report.locator("form.downloads").get_attribute("action")
    assert action.startswith("/reports/progress/files?") and f"class_id={school['klass']}" in action
    check(page, "portal-reports-progress")

    # the files are made by a job: its progress page, then the links
    through_progress(page, "Подготовить файлы PDF и XLSX", "portal-reports-files-progress")
    files = page.locator("section.created")
    files.get_by_role("heading", name=re.compile("Итоги успеваемости")).wait_for()
    links = [a.get_attribute("href") for a in files.locator(".downloads a").all()]
    assert [link.rsplit("/", 1)[-1] for link in links] == ["pdf", "xlsx"] and "/reports/jobs/" in links[0]
    check(page, "portal-reports-files")
    report = files

    # the links download with the portal's session (no bearer token in a browser)
    with page.expect_download() as pdf:
        report.locator(".downloads a", has_text="PDF").click()
    data = Path(pdf.value.path()).read_bytes()
    assert data.startswith(b"%PDF-") and pdf.value.suggested_filename.endswith(".pdf")
    pdf_text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    assert "Белова Анна Игоревна" in " ".join(pdf_text.split())
    with page.expect_download() as xlsx:
        report.locator(".downloads a", has_text="XLSX").click()
    book = openpyxl.load_workbook(io.BytesIO(Path(xlsx.value.path()).read_bytes()))
    assert book.sheetnames[0] == "Отчёт" and xlsx.value.suggested_filename.endswith(".xlsx")
    cells = [v for sheet in book.worksheets[1:] for row in sheet.iter_rows(values_only=True) for v in row]
    assert "Ёлкин Пётр Сергеевич" in cells
