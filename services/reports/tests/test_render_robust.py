"""Any well-formed document renders: odd values in cells (text in a number
column, negative and huge numbers, very long words, NaN, nested values),
empty sections, charts with missing or extra values; the files read back."""
from __future__ import annotations

import io
import math

from hypothesis import HealthCheck, given, settings, strategies as st
from openpyxl import load_workbook
from pypdf import PdfReader

from reports.render import render

TYPES = ["text", "int", "number", "percent", "date"]
words = st.text(alphabet="абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВЁЯ XYZxyz0123456789-«»№.,;:()/[]*?'\"&<>",
                min_size=0, max_size=60)
values = st.one_of(st.none(), words, st.integers(-10**12, 10**12),
                   st.floats(allow_nan=True, allow_infinity=False, width=32), st.booleans(),
                   st.sampled_from(["2026-09-01", "2026-13-45", "2026-10-27T09:15:00+03:00", ""]),
                   st.lists(st.integers(), max_size=3))


@st.composite
def documents(draw):
    sections = []
    for n in range(draw(st.integers(0, 3))):
        table = None
        if draw(st.booleans()):
            columns = [{"key": f"c{i}", "title": draw(words), "type": draw(st.sampled_from(TYPES))}
                       for i in range(draw(st.integers(1, 12)))]
            rows = [{c["key"]: draw(values) for c in columns} for _ in range(draw(st.integers(0, 12)))]
            totals = {columns[0]["key"]: "Итого"} if draw(st.booleans()) else None
            table = {"columns": columns, "rows": rows, "totals": totals}
        chart = None
        if draw(st.booleans()):
            labels = draw(st.lists(words, min_size=0, max_size=12))
            chart = {"type": "bar", "title": draw(words), "labels": labels,
                     "series": [{"name": draw(words),
                                 "values": draw(st.lists(st.one_of(st.none(), st.integers(0, 500),
                                                                   st.floats(0, 100)), max_size=14))}
                                for _ in range(draw(st.integers(0, 4)))]}
        sections.append({"title": draw(st.one_of(st.none(), words)), "table": table, "chart": chart,
                         "note": draw(st.one_of(st.none(), words))})
    return {"document": {
        "title": "Отчёт " + draw(words), "subtitle": draw(st.one_of(st.none(), words)),
        "orientation": draw(st.sampled_from(["portrait", "landscape"])),
        "header": {"school": draw(words), "class": draw(st.one_of(st.none(), words)),
                   "period": draw(st.one_of(st.none(), words)),
                   "printed_at": draw(st.sampled_from(["2026-10-27T09:15:00+03:00", "вчера", None]))},
        "sections": sections, "signatures": draw(st.lists(words, max_size=3))}}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(documents())
def test_any_document_renders_and_reads_back(report):
    pdf = render(report, "pdf")
    reader = PdfReader(io.BytesIO(pdf))
    assert "Страница 1 из" in reader.pages[0].extract_text()
    book = load_workbook(io.BytesIO(render(report, "xlsx")))
    assert book.sheetnames[0] == "Отчёт"
    for sheet in book.worksheets[1:]:
        assert sheet.freeze_panes == "A2"
        for row in sheet.iter_rows(values_only=True):
            for value in row:
                assert not (isinstance(value, float) and math.isnan(value))
