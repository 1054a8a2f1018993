"""The printable document every report carries under ``report["document"]``:
its checks and the way a value is shown in a cell.

Renderers read nothing else, so a new report kind prints once its builder
fills this shape (see the package's README section)."""
from __future__ import annotations

import datetime as dt
import math
from decimal import ROUND_HALF_UP, Context, Decimal

COLUMN_TYPES = ("text", "int", "number", "percent", "date")
ORIENTATIONS = ("portrait", "landscape")
FORMATS = ("pdf", "xlsx")


def document_of(report: dict) -> dict:
    """``report["document"]`` checked for the parts renderers rely on;
    ValueError naming the first wrong part."""
    if not isinstance(report, dict):
        raise ValueError("report must be a dict")
    doc = report.get("document")
    if not isinstance(doc, dict):
        raise ValueError("report has no 'document'")
    if not isinstance(doc.get("title"), str) or not doc["title"].strip():
        raise ValueError("document.title must be a non-empty string")
    if doc.get("orientation", "portrait") not in ORIENTATIONS:
        raise ValueError("document.orientation must be 'portrait' or 'landscape'")
    header = doc.get("header")
    if not isinstance(header, dict) or not isinstance(header.get("school"), str):
        raise ValueError("document.header.school must be a string")
    sections = doc.get("sections")
    if not isinstance(sections, list):
        raise ValueError("document.sections must be a list")
    for i, section in enumerate(sections):
        if not isinstance(section, dict):
            raise ValueError(f"document.sections[{i}] must be a dict")
        table = section.get("table")
        if table is not None:
            columns = table.get("columns") if isinstance(table, dict) else None
            if not isinstance(columns, list) or not columns:
                raise ValueError(f"document.sections[{i}].table.columns must be a non-empty list")
            for column in columns:
                if not isinstance(column, dict) or not isinstance(column.get("key"), str):
                    raise ValueError(f"document.sections[{i}].table: every column needs a key")
                if column.get("type", "text") not in COLUMN_TYPES:
                    raise ValueError(
                        f"document.sections[{i}].table: column {column['key']!r} has an unknown type")
        chart = section.get("chart")
        if chart is not None:
            if not isinstance(chart, dict) or not isinstance(chart.get("labels"), list) \
                    or not isinstance(chart.get("series"), list):
                raise ValueError(f"document.sections[{i}].chart needs labels and series")
    signatures = doc.get("signatures") or []
    if not isinstance(signatures, list):
        raise ValueError("document.signatures must be a list")
    return doc


def parse_date(value) -> dt.date | None:
    """A date from an ISO string (a datetime's date part too), or None."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value)
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def parse_datetime(value) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _decimal_text(value, places: int = 2, trim: bool = False) -> str:
    """A number with ``places`` decimals (half up) and a decimal comma, the
    Russian way: 4.5 -> '4,50'; ``trim`` drops trailing zeros (4.5 -> '4,5')."""
    # precision for any float's whole digits (up to 309) plus the decimals
    number = Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP,
                                          context=Context(prec=400))
    text = format(number, "f")
    if trim and "." in text:
        text = text.rstrip("0").rstrip(".")
    if text.startswith("-") and not text.strip("-0.,"):
        text = text[1:]
    return text.replace(".", ",")


def cell_text(value, type_: str = "text") -> str:
    """How a value is shown in a printed cell; None is an empty cell."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, bool):
        return "да" if value else "нет"
    if type_ == "int" and isinstance(value, (int, float, Decimal)):
        return str(int(value)) if float(value).is_integer() else _decimal_text(value, trim=True)
    if type_ == "number" and isinstance(value, int):
        return str(value)  # a count in a column of numbers (e.g. "value" beside shares)
    if type_ == "number" and isinstance(value, (float, Decimal)):
        return _decimal_text(value)
    if type_ == "percent" and isinstance(value, (int, float, Decimal)):
        return _decimal_text(value, 1) + "%"
    if type_ == "date":
        moment = parse_datetime(value) if isinstance(value, str) and len(value) > 10 else None
        if moment is not None:
            return moment.strftime("%d.%m.%Y %H:%M")
        day = parse_date(value)
        if day is not None:
            return day.strftime("%d.%m.%Y")
    return str(value)


def printed_at_text(value) -> str:
    moment = parse_datetime(value)
    return moment.strftime("%d.%m.%Y %H:%M") if moment else (value or "")


def header_lines(header: dict) -> list[tuple[str, str]]:
    """The labelled header facts in print order (absent ones left out)."""
    lines = [("Школа", header.get("school") or "")]
    if header.get("class"):
        lines.append(("Класс", header["class"]))
    if header.get("period"):
        lines.append(("Период", header["period"]))
    lines.append(("Дата печати", printed_at_text(header.get("printed_at"))))
    return lines


def short_number(value) -> str:
    """A number as short as it goes (chart labels): 4.5 -> '4,5', 5.0 -> '5'."""
    return "" if value is None else _decimal_text(value, 2, trim=True)
