"""PDF documents: read back with pypdf (text, page count, fonts, page size)."""
from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from render_samples import long_portrait, wide_landscape, with_chart
from reports.render import cell_text, render, render_pdf_to

A4_PORTRAIT = (595, 842)


def read(data: bytes) -> PdfReader:
    assert data.startswith(b"%PDF-")
    return PdfReader(io.BytesIO(data))


def text_of(reader: PdfReader) -> list[str]:
    return [page.extract_text() for page in reader.pages]


def page_size(page) -> tuple[int, int]:
    box = page.mediabox
    return round(float(box.width)), round(float(box.height))


def test_long_table_spans_pages_with_header_page_numbers_and_names():
    report = long_portrait(150)
    reader = read(render(report, "pdf"))
    pages = text_of(reader)
    total = len(pages)
    assert total >= 3
    for number, text in enumerate(pages, start=1):
        assert f"Страница {number} из {total}" in text
        assert "МБОУ «Средняя общеобразовательная школа № 17" in text
        assert "Класс: 5А" in text and "Период: 1 четверть 2026/2027" in text
        assert "Дата печати: 27.10.2026 09:15" in text
        assert page_size(reader.pages[number - 1]) == A4_PORTRAIT
    # the table header is on every page the table reaches
    table_pages = [t for t in pages if "Алексеева" in t or "Борисов" in t or "Фёдоров" in t]
    assert len(table_pages) >= 3
    for text in table_pages:
        assert "Ученик" in text and "Посещаемость" in text
    whole = "\n".join(pages)
    rows = report["document"]["sections"][0]["table"]["rows"]
    for row in rows:
        assert row["name"] in whole
    # numbers as printed: decimal comma, percent sign, dates as dd.mm.yyyy
    sample = rows[12]
    assert cell_text(sample["avg"], "number") in whole and "," in cell_text(sample["avg"], "number")
    assert cell_text(sample["att"], "percent") in whole
    assert cell_text(sample["born"], "date") in whole
    assert "Итоги успеваемости" in pages[0] and "5А класс, 1 четверть" in pages[0]
    assert "Итого" in whole
    # signatures at the end of the last page
    assert "Классный руководитель" in pages[-1]
    assert "____________ / ____________" in pages[-1]


def test_every_font_is_embedded_and_is_dejavu():
    reader = read(render(wide_landscape(), "pdf"))
    names = set()
    for page in reader.pages:
        fonts = page["/Resources"]["/Font"]
        for ref in fonts.values():
            font = ref.get_object()
            names.add(str(font["/BaseFont"]))
            descendants = font.get("/DescendantFonts")
            target = descendants[0].get_object() if descendants else font
            descriptor = target.get("/FontDescriptor")
            assert descriptor is not None, f"{font['/BaseFont']} has no descriptor: not embedded"
            descriptor = descriptor.get_object()
            assert "/FontFile2" in descriptor, f"{font['/BaseFont']} is not embedded"
    assert names and all("DejaVuSans" in n for n in names), names


def test_landscape_wide_table_fits_and_has_chart():
    report = wide_landscape()
    reader = read(render(report, "pdf"))
    first = reader.pages[0]
    assert page_size(first) == (842, 595)
    whole = "\n".join(text_of(reader))
    for column in report["document"]["sections"][0]["table"]["columns"]:
        # every header word printed: no column pushed off the page
        for word in column["title"].split():
            assert word in whole
    assert "Ёлкин Мария" in whole
    # the chart's title, labels and legend are text in the PDF (vector chart)
    assert "Отметки по предметам" in whole
    assert "Обществознание" in whole and "«5»" in whole
    assert "Заместитель директора по УВР" in whole


def test_chart_values_and_empty_cells():
    report = with_chart()
    whole = "\n".join(text_of(read(render(report, "pdf"))))
    assert "Доля присутствовавших, %" in whole
    assert "96,5%" in whole and "94,1%" in whole  # table cells
    assert "Страница 1 из 1" in whole


def test_table_without_rows_says_so_and_none_cells_are_empty():
    report = long_portrait(3)
    report["document"]["sections"].append({"title": "Выбывшие", "table": {
        "columns": [{"key": "name", "title": "Ученик", "type": "text"}], "rows": [], "totals": None},
        "chart": None, "note": None})
    whole = "\n".join(text_of(read(render(report, "pdf"))))
    assert "Нет данных" in whole
    assert "None" not in whole


def test_stream_variant_writes_the_same_document():
    report = with_chart()
    out = io.BytesIO()
    render_pdf_to(report, out)
    assert "Посещаемость" in text_of(read(out.getvalue()))[0]


@pytest.mark.parametrize("bad", [
    {}, {"document": None}, {"document": {"title": "", "header": {"school": "x"}, "sections": []}},
    {"document": {"title": "T", "header": {"school": "x"}, "sections": [{"table": {"columns": []}}]}},
    {"document": {"title": "T", "header": {"school": "x"}, "sections": [
        {"table": {"columns": [{"key": "a", "type": "money"}], "rows": []}}]}},
    {"document": {"title": "T", "orientation": "upside-down", "header": {"school": "x"}, "sections": []}},
])
def test_malformed_documents_are_value_errors(bad):
    with pytest.raises(ValueError):
        render(bad, "pdf")


def test_unknown_format_is_a_value_error():
    with pytest.raises(ValueError, match="format"):
        render(with_chart(), "docx")


def test_cell_text():
    assert cell_text(None, "number") == ""
    assert cell_text(4.5, "number") == "4,50"
    assert cell_text(2.345, "number") == "2,35"  # half up, as the school counts
    assert cell_text(33.3, "percent") == "33,3%"
    assert cell_text(12, "int") == "12"
    assert cell_text(4, "number") == "4" and cell_text(4.0, "number") == "4,00"  # a count stays whole
    assert cell_text("2026-09-01", "date") == "01.09.2026"
    assert cell_text("Иванов", "text") == "Иванов"


def test_a_table_too_wide_for_the_page_keeps_its_numbers_whole():
    from kernel import pdf_fonts as fonts
    from reports.render import pdf
    fonts.register()
    report = wide_landscape(12)
    table = report["document"]["sections"][0]["table"]
    table["columns"] += [{"key": f"x{i}", "title": f"Очень длинное название колонки {i}", "type": "number"}
                         for i in range(8)]
    for row in table["rows"]:
        row.update({f"x{i}": 1234.5 + i for i in range(8)})
    avail = pdf.A4[0] - 2 * pdf.MARGIN_X
    flowable = pdf._table(table, avail)
    assert sum(flowable._colWidths) <= avail + 0.01
    report["document"]["orientation"] = "portrait"
    whole = "\n".join(text_of(read(render(report, "pdf"))))
    for i in range(8):
        assert f"{1234.5 + i:.2f}".replace(".", ",") in whole.split()  # not broken over two lines
