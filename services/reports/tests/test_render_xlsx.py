"""XLSX documents: read back with openpyxl (sheets, types, formats, panes)."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import load_workbook

from render_samples import big, long_portrait, wide_landscape, with_chart
from reports.render import render, render_xlsx_to
from reports.render.xlsx import sheet_name


def book(report):
    return load_workbook(io.BytesIO(render(report, "xlsx")))


def test_summary_sheet_first_with_header_facts():
    wb = book(long_portrait(5))
    assert wb.sheetnames == ["Отчёт", "Ученики класса"]
    first = wb["Отчёт"]
    cells = {row[0]: row[1:] for row in first.iter_rows(values_only=True) if row and row[0]}
    assert "Итоги успеваемости" in cells
    assert cells["Школа"][0].startswith("МБОУ «Средняя")
    assert cells["Класс"][0] == "5А"
    assert cells["Период"][0] == "1 четверть 2026/2027"
    assert cells["Дата печати"][0] == dt.datetime(2026, 10, 27, 9, 15)
    assert cells["Классный руководитель"][0] == "____________ / ____________"
    texts = [v for row in first.iter_rows(values_only=True) for v in row if isinstance(v, str)]
    assert "Средний балл взвешенный; пустая клетка: отметок нет." in texts


def test_table_sheet_types_formats_frozen_header_and_widths():
    report = long_portrait(150)
    rows = report["document"]["sections"][0]["table"]["rows"]
    ws = book(report)["Ученики класса"]
    assert ws.freeze_panes == "A2"
    header = [c.value for c in ws[1]]
    assert header == ["№", "Ученик", "Дата рождения", "Отметок", "Средний балл", "Посещаемость", "Примечание"]
    assert all(c.font.b for c in ws[1])
    assert ws.max_row == 1 + len(rows) + 1  # header, rows, totals
    for i, source in enumerate(rows, start=2):
        n, name, born, count, avg, att, comment = ws[i]
        assert n.value == source["n"] and isinstance(n.value, int)
        assert name.value == source["name"]
        assert born.value == dt.datetime.fromisoformat(source["born"])  # a real date
        assert born.is_date and born.number_format == "DD.MM.YYYY"
        assert count.value == source["count"] and count.data_type == "n"
        if source["avg"] is None:
            assert avg.value is None
        else:
            assert avg.value == pytest.approx(source["avg"]) and avg.number_format == "0.00"
        if source["att"] is None:
            assert att.value is None
        else:
            assert att.value == pytest.approx(source["att"] / 100) and att.number_format == "0.0%"
        assert comment.value == source["comment"]
    totals = [c.value for c in ws[ws.max_row]]
    assert totals[1] == "Итого" and totals[3] == sum(r["count"] for r in rows)
    assert ws[ws.max_row][1].font.b
    widths = {k: d.width for k, d in ws.column_dimensions.items()}
    assert widths["A"] < widths["B"]  # "№" narrower than the names
    assert widths["G"] >= len("Переведён из 5Б (приказ № 12-у от 01.09.2026)")
    assert all(6 <= w <= 60 for w in widths.values())


def test_chart_only_section_becomes_a_data_sheet():
    wb = book(wide_landscape())
    assert wb.sheetnames == ["Отчёт", "Итоговые отметки", "Распределение отметок"]
    ws = wb["Распределение отметок"]
    assert [c.value for c in ws[1]] == ["Отметки по предметам", "«5»", "«4»", "«3»", "«2»"]
    assert [c.value for c in ws[2]] == ["Русский язык", 5, 12, 8, 1]
    assert ws.cell(8, 5).value is None  # a None value stays an empty cell


def test_sheet_names_are_valid_and_unique():
    taken = {"отчёт"}
    long = "Сводная ведомость успеваемости и посещаемости: 5А/5Б [итог]?"
    first = sheet_name(long, taken, "Таблица 1")
    second = sheet_name(long, taken, "Таблица 2")
    for name in (first, second):
        assert len(name) <= 31 and not set("[]:*?/\\") & set(name)
    assert first != second and second.endswith("(2)")
    assert sheet_name("Отчёт", taken, "Таблица 3") == "Отчёт (2)"
    assert sheet_name("  ''  ", taken, "Таблица 4") == "Таблица 4"

    report = with_chart()
    section = report["document"]["sections"][0]
    report["document"]["sections"] = [dict(section, title="Неделя: 1/2 [*]"), dict(section, title="Неделя: 1/2 [*]")]
    names = book(report).sheetnames
    assert names == ["Отчёт", "Неделя 1 2", "Неделя 1 2 (2)"]


def test_streaming_to_a_file(tmp_path):
    path = tmp_path / "big.xlsx"
    with open(path, "wb") as out:
        render_xlsx_to(big(300, 12), out)
    ws = load_workbook(path, read_only=True)["Данные"]
    rows = list(ws.iter_rows(values_only=True))
    assert len(rows) == 301
    assert rows[0][0] == "Колонка 0"


def test_table_sheets_print_like_the_pdf():
    ws = book(wide_landscape())["Итоговые отметки"]
    assert ws.page_setup.orientation == "landscape" and ws.page_setup.paperSize == 9
    assert ws.print_title_rows == "$1:$1"
    setup = ws.page_setup  # one page wide (1 is the default width, left out), as many pages tall as needed
    assert ws.sheet_properties.pageSetUpPr.fitToPage and setup.fitToWidth in (None, 1) and setup.fitToHeight == 0
    assert "Страница &P из &N" in ws.oddFooter.right.text
    assert ws.auto_filter.ref == "A1:S31"  # header and the 30 rows
