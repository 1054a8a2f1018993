"""Year-end archive of a class journal: PDF and XLSX read back."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from render_samples import journal_archive
from reports.render import render_journal_archive
from reports.render.archive import archive_document


@pytest.fixture(scope="module")
def archive():
    return journal_archive(students=25, subjects=3)


@pytest.fixture(scope="module")
def pdf_pages(archive):
    data = render_journal_archive(archive, "pdf")
    reader = PdfReader(io.BytesIO(data))
    return reader, [p.extract_text() for p in reader.pages]


def test_pdf_title_page_subjects_and_page_numbers(archive, pdf_pages):
    reader, pages = pdf_pages
    total = len(pages)
    assert "КЛАССНЫЙ ЖУРНАЛ" in pages[0] and "5А класс" in pages[0] and "2026/2027 учебный год" in pages[0]
    assert "Классный руководитель: Иванова Анна Петровна" in pages[0]
    for number, (page, text) in enumerate(zip(reader.pages, pages), start=1):
        assert f"Страница {number} из {total}" in text
        assert "Класс: 5А" in text
        assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (842, 595)
    for subject in archive["subjects"]:
        assert any(f"{subject['name']} — учитель {subject['teacher']}" in t for t in pages)


def test_pdf_grid_holds_marks_attendance_and_topics(archive, pdf_pages):
    _, pages = pdf_pages
    whole = "\n".join(pages)
    maths = archive["subjects"][0]
    start = next(i for i, t in enumerate(pages) if f"{maths['name']} — учитель" in t)
    first_grid = pages[start]
    assert "Сентябрь 2026" in first_grid
    for student in archive["students"]:
        assert student["full_name"] in first_grid
    assert "Дмитриева Мария (выбыл 12.03.2027)" in first_grid
    # letters of the attendance in the September grid
    september = {e["lesson_id"] for e in maths["attendance"]} & {
        l["id"] for l in maths["lessons"] if l["date"].startswith("2026-09")}
    assert september and any(letter in first_grid.split() for letter in ("Н", "У", "Б", "О"))
    for month in ("Октябрь 2026", "Январь 2027", "Май 2027"):
        assert month in whole
    last = maths["lessons"][-1]
    assert last["topic"] in whole
    assert "Итоговые отметки" in whole and "Год" in whole and "4 четверть" in whole


def test_pdf_summary_and_signed_off_page(archive, pdf_pages):
    _, pages = pdf_pages
    summary = next(t for t in pages if "Сводная ведомость итоговых отметок и пропусков" in t)
    missed = sum(1 for s in archive["subjects"] for e in s["attendance"] if e["status"] != "late")
    assert "Итого" in summary and str(missed) in summary
    last = pages[-1]
    assert "Журнал проверен и сдан в архив" in last
    assert f"Уроков проведено: {sum(len(s['lessons']) for s in archive['subjects'])}" in last
    assert "Приказ о завершении учебного года: № 85-о от 31.05.2027" in last
    for label in ("Классный руководитель", "Заместитель директора по УВР", "Директор"):
        assert label in last
    assert last.count("____________ / ____________") == 3
    assert "М. П." in last


def test_pdf_fonts_embedded(pdf_pages):
    reader, _ = pdf_pages
    for page in reader.pages[:3]:
        for ref in page["/Resources"]["/Font"].values():
            font = ref.get_object()
            target = font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font
            assert "/FontFile2" in target["/FontDescriptor"].get_object()


def test_xlsx_has_the_same_data(archive):
    wb = load_workbook(io.BytesIO(render_journal_archive(archive, "xlsx")))
    maths = archive["subjects"][0]
    name = maths["name"]
    assert wb.sheetnames[:4] == ["Отчёт", f"Отметки — {name}", f"Итоги — {name}", f"Уроки — {name}"]
    assert wb.sheetnames[-1] == "Сводная ведомость"
    grid = wb[f"Отметки — {name}"]
    header = [c.value for c in grid[1]]
    assert header[:3] == ["№", "Ученик", "01.09"] and len(header) == 2 + len(maths["lessons"])
    assert grid.freeze_panes == "A2"
    lesson_col = {l["id"]: i for i, l in enumerate(sorted(maths["lessons"], key=lambda l: l["date"]), start=3)}
    student_row = {s["id"]: i for i, s in enumerate(archive["students"], start=2)}
    mark = maths["marks"][0]
    assert str(mark["value"]) in grid.cell(student_row[mark["student_id"]], lesson_col[mark["lesson_id"]]).value
    absence = next(e for e in maths["attendance"] if e["status"] == "absent")
    assert "Н" in grid.cell(student_row[absence["student_id"]], lesson_col[absence["lesson_id"]]).value
    lessons = wb[f"Уроки — {name}"]
    assert lessons.cell(2, 2).value == dt.datetime(2026, 9, 1) and lessons.cell(2, 2).number_format == "DD.MM.YYYY"
    assert lessons.cell(2, 3).value == maths["lessons"][0]["topic"]
    finals = wb[f"Итоги — {name}"]
    assert [c.value for c in finals[1]] == ["№", "Ученик", "1 четверть", "2 четверть", "3 четверть", "4 четверть",
                                            "Год"]
    assert finals.cell(6, 7).value is None  # the student who left has no year mark


def test_archive_document_is_a_valid_generic_document(archive):
    from reports.render import render
    doc = archive_document(archive)
    assert render({"document": doc}, "xlsx").startswith(b"PK")


@pytest.mark.parametrize("broken", [
    lambda a: a.pop("students"),
    lambda a: a["subjects"][0]["lessons"][0].update(date="1 сентября"),
    lambda a: a["class"].pop("name"),
])
def test_malformed_archive_is_a_value_error(broken):
    archive = journal_archive(students=3, subjects=1)
    broken(archive)
    with pytest.raises(ValueError, match="journal archive"):
        render_journal_archive(archive, "pdf")


def test_unknown_format():
    with pytest.raises(ValueError):
        render_journal_archive(journal_archive(students=2, subjects=1), "csv")


def test_archive_from_projection_rows():
    from reports.render.archive import archive_from_rows
    archive = archive_from_rows(
        school="Школа № 17", year={"id": "y", "name": "2026/2027"}, closed_order="№ 85-о",
        periods=[{"id": "q2", "name": "2 четверть", "starts_on": dt.date(2026, 11, 5)},
                 {"id": "q1", "name": "1 четверть", "starts_on": dt.date(2026, 9, 1)}],
        school_class={"id": "c", "name": "5А"}, class_teacher="Иванова А. П.",
        roster=[{"student_id": "s2", "full_name": "Ёлкин Пётр", "left_on": dt.date(2027, 3, 12)},
                {"student_id": "s1", "full_name": "Егорова Анна", "left_on": None}],
        subjects=[{"id": "m", "name": "Математика"}, {"id": "r", "name": "Русский язык"},
                  {"id": "x", "name": "Черчение"}],
        teachers={"m": "Петров С. И."},
        lessons=[{"id": "l2", "subject_id": "m", "date": dt.date(2026, 9, 3), "topic": "Дроби", "has_homework": True},
                 {"id": "l1", "subject_id": "m", "date": dt.date(2026, 9, 1), "topic": "Числа", "has_homework": False},
                 {"id": "l3", "subject_id": "r", "date": dt.date(2026, 9, 2), "topic": "Звуки", "homework": "упр. 5"}],
        marks=[{"lesson_id": "l1", "student_id": "s1", "subject_id": "m", "value": 5, "removed": False},
               {"lesson_id": "l1", "student_id": "s2", "subject_id": "m", "value": 2, "removed": True}],
        attendance=[{"lesson_id": "l2", "student_id": "s2", "subject_id": "m", "status": "ill"},
                    {"lesson_id": "l2", "student_id": "s1", "subject_id": "m", "status": "present"}],
        finals=[{"student_id": "s1", "subject_id": "m", "period_id": "y", "value": 5}],
        printed_at="2027-06-01T10:00:00+03:00")
    assert [s["full_name"] for s in archive["students"]] == ["Егорова Анна", "Ёлкин Пётр"]  # ё as е
    assert archive["students"][1]["note"] == "выбыл(а) 12.03.2027"
    assert [p["id"] for p in archive["periods"]] == ["q1", "q2"]
    assert [s["name"] for s in archive["subjects"]] == ["Математика", "Русский язык"]  # no lesson of Черчение
    maths = archive["subjects"][0]
    assert maths["teacher"] == "Петров С. И." and len(maths["marks"]) == 1
    assert maths["attendance"] == [{"student_id": "s2", "lesson_id": "l2", "status": "ill"}]
    assert {l["id"]: l["homework"] for l in maths["lessons"]} == {"l2": "задано", "l1": None}
    assert archive["year"]["closed_order"] == "№ 85-о"
    pages = [p.extract_text() for p in PdfReader(io.BytesIO(render_journal_archive(archive, "pdf"))).pages]
    whole = "\n".join(pages)
    assert "Ёлкин Пётр (выбыл(а) 12.03.2027)" in whole and "Б" in whole.split()
    assert "Приказ о завершении учебного года: № 85-о" in pages[-1]
