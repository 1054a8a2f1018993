"""XLSX of a report's document, written by XlsxWriter in constant-memory
mode: each row goes to a temporary file as soon as the next one starts, so a
big table costs one row of memory, and column widths and the frozen header
are set after the rows (widths from the whole content).

A first sheet "Отчёт" carries the title and header facts, the sheets list,
notes and signatures; then one sheet per section table (or the chart's data
where a section has only a chart): a bold header row, frozen; ints and
numbers as numbers; percents (0..100 in the document) as fractions with a
percent format, so 87.5 shows as 87,5 %; dates as dates."""
from __future__ import annotations

import datetime as dt
import io
import math
import re

import xlsxwriter

from reports.render.document import cell_text, header_lines, parse_date, parse_datetime

SUMMARY_SHEET = "Отчёт"
MAX_SHEET_NAME = 31
FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
MIN_WIDTH, MAX_WIDTH = 6, 60
NUMBER_FORMATS = {"int": "0", "number": "0.00", "percent": "0.0%", "date": "DD.MM.YYYY",
                  "datetime": "DD.MM.YYYY HH:MM"}
SIGNATURE_LINE = "____________ / ____________"


def sheet_name(wanted: str | None, taken: set[str], fallback: str) -> str:
    """An Excel-valid sheet name: no []:*?/\\, not empty, not starting or
    ending with an apostrophe, at most 31 characters, unique (case-insensitive)
    among ``taken``, which it joins."""
    name = FORBIDDEN.sub(" ", wanted or "")
    name = re.sub(r"\s+", " ", name).strip().strip("'").strip() or fallback
    if name.lower() == "history":
        name = fallback
    base = name[:MAX_SHEET_NAME].rstrip()
    candidate, n = base, 1
    while candidate.lower() in taken:
        n += 1
        suffix = f" ({n})"
        candidate = base[:MAX_SHEET_NAME - len(suffix)].rstrip() + suffix
    taken.add(candidate.lower())
    return candidate


class _Formats:
    def __init__(self, wb):
        self.bold = wb.add_format({"bold": True})
        self.title = wb.add_format({"bold": True, "font_size": 14})
        self.wrap = wb.add_format({"text_wrap": True, "valign": "top"})
        self.head = wb.add_format({"bold": True, "bg_color": "#E6E9EE", "text_wrap": True, "valign": "vcenter",
                                   "border": 1})
        self.plain = {k: wb.add_format({"num_format": f}) for k, f in NUMBER_FORMATS.items()}
        self.total = {k: wb.add_format({"num_format": f, "bold": True}) for k, f in NUMBER_FORMATS.items()}
        self.left_datetime = wb.add_format({"num_format": NUMBER_FORMATS["datetime"], "align": "left"})


def _write(ws, row: int, col: int, value, type_: str, formats: dict, text_format=None) -> None:
    """One typed cell; a value that does not fit its column type is written as it is."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        if text_format is not None:
            ws.write_blank(row, col, None, text_format)
        return
    if type_ in ("int", "number", "percent") and isinstance(value, (int, float)) and not isinstance(value, bool):
        if type_ == "percent":
            ws.write_number(row, col, value / 100, formats["percent"])
        elif (type_ == "int" and float(value).is_integer()) or (type_ == "number" and isinstance(value, int)):
            ws.write_number(row, col, int(value), formats["int"])
        else:
            ws.write_number(row, col, float(value), formats["number"])
        return
    if type_ == "date":
        if isinstance(value, str) and len(value) == 10:
            try:
                ws.write_datetime(row, col, dt.date.fromisoformat(value), formats["date"])
                return
            except ValueError:
                pass
        if isinstance(value, str) and len(value) > 10:
            moment = parse_datetime(value)
            if moment is not None:
                ws.write_datetime(row, col, moment.replace(tzinfo=None), formats["datetime"])
                return
        day = parse_date(value)
        if day is not None:
            ws.write_datetime(row, col, day, formats["date"])
            return
    if isinstance(value, bool):
        ws.write_boolean(row, col, value, text_format)
    elif isinstance(value, (int, float)):
        ws.write_number(row, col, value, text_format)
    else:
        ws.write_string(row, col, str(value), text_format)


def _width(text: str) -> int:
    return max((len(line) for line in text.split("\n")), default=0)


def _shown_width(value, type_: str) -> int:
    """About how many characters a cell shows (cheap: no formatting)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if type_ == "number":
            return len(f"{value:.2f}")
        if type_ == "percent":
            return len(f"{value:.1f}") + 1
        return len(str(value))
    if type_ == "date":
        return 16 if isinstance(value, str) and len(value) > 10 else 10
    return _width(value if isinstance(value, str) else cell_text(value, type_))


def _page_setup(ws, doc: dict) -> None:
    """Printable as the PDF: A4, the document's orientation, one page wide,
    the header row on every page, school and page numbers in the margins."""
    ws.set_paper(9)  # A4
    if doc.get("orientation") == "landscape":
        ws.set_landscape()
    ws.fit_to_pages(1, 0)
    header = doc.get("header") or {}
    facts = " · ".join(v for v in (header.get("school"), header.get("class"), header.get("period")) if v)
    ws.set_header("&L&8" + facts.replace("&", "&&")[:200])
    ws.set_footer("&L&8" + doc["title"].replace("&", "&&")[:100] + "&R&8Страница &P из &N")


def _write_table(wb, fmt: _Formats, name: str, columns: list, rows, totals, doc: dict) -> None:
    ws = wb.add_worksheet(name)
    _page_setup(ws, doc)
    ws.repeat_rows(0)
    keys = [c["key"] for c in columns]
    types = [c.get("type", "text") for c in columns]
    titles = [str(c["title"]) if c.get("title") is not None else c["key"] for c in columns]
    widths = [max((_width(w) for w in t.split()), default=0) + 2 for t in titles]
    for col, title in enumerate(titles):
        ws.write_string(0, col, title, fmt.head)
    line = 0
    for line, row in enumerate(rows, start=1):
        for col, (key, type_) in enumerate(zip(keys, types)):
            value = row.get(key)
            if value is not None:
                _write(ws, line, col, value, type_, fmt.plain)
                shown = _shown_width(value, type_) + 2
                if shown > widths[col]:
                    widths[col] = shown
    if totals:
        line += 1
        for col, (key, type_) in enumerate(zip(keys, types)):
            value = totals.get(key)
            _write(ws, line, col, value, type_, fmt.total, fmt.bold)
            shown = _shown_width(value, type_) + 2 if value is not None else 0
            if shown > widths[col]:
                widths[col] = shown
    for col, (title, width) in enumerate(zip(titles, widths)):
        ws.set_column(col, col, min(MAX_WIDTH, max(MIN_WIDTH, width, min(len(title) + 2, 16))))
    ws.freeze_panes(1, 0)
    if line:
        ws.autofilter(0, 0, line - (1 if totals else 0), len(columns) - 1)


def _chart_table(chart: dict):
    series = [s for s in chart.get("series") or [] if isinstance(s, dict)]
    columns = [{"key": "label", "title": str(chart.get("title") or ""), "type": "text"}]
    columns += [{"key": f"s{i}", "title": str(s.get("name") or f"Ряд {i + 1}"), "type": "number"}
                for i, s in enumerate(series)]
    rows = []
    for j, label in enumerate(chart.get("labels") or []):
        row = {"label": label}
        for i, s in enumerate(series):
            values = s.get("values") or []
            row[f"s{i}"] = values[j] if j < len(values) else None
        rows.append(row)
    return columns, rows


def _write_summary(ws, fmt: _Formats, doc: dict, plan: list) -> None:
    ws.set_column(0, 0, 28)
    ws.set_column(1, 1, 70)
    row = 0
    ws.write_string(row, 0, doc["title"], fmt.title)
    if doc.get("subtitle"):
        row += 1
        ws.write_string(row, 0, doc["subtitle"])
    row += 1
    header = doc.get("header") or {}
    for label, value in header_lines(header):
        row += 1
        ws.write_string(row, 0, label, fmt.bold)
        moment = parse_datetime(header.get("printed_at")) if label == "Дата печати" else None
        if moment is not None:
            ws.write_datetime(row, 1, moment.replace(tzinfo=None), fmt.left_datetime)
        else:
            ws.write_string(row, 1, str(value))
    if plan:
        row += 2
        ws.write_string(row, 0, "Лист", fmt.bold)
        ws.write_string(row, 1, "Раздел", fmt.bold)
        for name, section, *_ in plan:
            row += 1
            ws.write_string(row, 0, name)
            ws.write_string(row, 1, section.get("title") or doc["title"])
    notes = [s["note"] for s in doc.get("sections") or [] if s.get("note")]
    if notes:
        row += 2
        ws.write_string(row, 0, "Примечания", fmt.bold)
        for note in notes:
            row += 1
            ws.write_string(row, 1, note, fmt.wrap)
    if doc.get("signatures"):
        row += 1
        for label in doc["signatures"]:
            row += 1
            ws.write_string(row, 0, label)
            ws.write_string(row, 1, SIGNATURE_LINE)


def render_xlsx_to(doc: dict, fileobj) -> None:
    """Write the workbook to ``fileobj`` (a path or a binary file)."""
    wb = xlsxwriter.Workbook(fileobj, {"constant_memory": True, "strings_to_numbers": False,
                                       "strings_to_formulas": False, "strings_to_urls": False})
    wb.set_properties({"title": doc["title"], "company": (doc.get("header") or {}).get("school") or "",
                       "comments": "eJournal"})
    fmt = _Formats(wb)
    taken: set[str] = set()
    summary = wb.add_worksheet(sheet_name(SUMMARY_SHEET, taken, SUMMARY_SHEET))
    plan = []
    for number, section in enumerate(doc.get("sections") or [], start=1):
        table, chart = section.get("table"), section.get("chart")
        if table:
            columns, rows, totals = table["columns"], table.get("rows") or [], table.get("totals")
            wanted = section.get("title")
        elif chart:
            (columns, rows), totals = _chart_table(chart), None
            wanted = section.get("title") or chart.get("title")
        else:
            continue
        plan.append((sheet_name(wanted or doc["title"], taken, f"Таблица {number}"), section, columns, rows,
                     totals))
    _write_summary(summary, fmt, doc, plan)
    for name, _section, columns, rows, totals in plan:
        _write_table(wb, fmt, name, columns, rows, totals, doc)
    wb.close()


def render_xlsx(doc: dict) -> bytes:
    out = io.BytesIO()
    render_xlsx_to(doc, out)
    return out.getvalue()
