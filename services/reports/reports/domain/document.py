"""The printable layout every report dict carries under ``"document"``: one
shape for all kinds, so that a renderer (PDF, XLSX) needs no per-kind code.
The shape is documented in services/reports/README.md ("The document")."""
from __future__ import annotations

import datetime as dt

TYPES = ("text", "int", "number", "percent", "date")
PORTRAIT, LANDSCAPE = "portrait", "landscape"

# signature lines of the paper forms
CLASS_TEACHER = "Классный руководитель"
DEPUTY = "Заместитель директора по УВР"
DIRECTOR = "Директор"


def column(key: str, title: str, type: str = "text") -> dict:
    if type not in TYPES:
        raise ValueError(f"unknown column type {type!r}")
    return {"key": key, "title": title, "type": type}


def table(columns: list[dict], rows: list[dict], totals: dict | None = None) -> dict:
    """A table: every row holds exactly the columns' keys (missing ones None)."""
    keys = [c["key"] for c in columns]
    return {"columns": columns, "rows": [{k: _cell(row.get(k)) for k in keys} for row in rows],
            "totals": None if totals is None else {k: _cell(totals.get(k)) for k in keys}}


def bar_chart(title: str, labels: list[str], series: list[tuple[str, list]]) -> dict:
    return {"type": "bar", "title": title, "labels": [str(label) for label in labels],
            "series": [{"name": name, "values": [v or 0 for v in values]} for name, values in series]}


def section(title: str | None = None, *, table: dict | None = None, chart: dict | None = None,
            note: str | None = None) -> dict:
    return {"title": title, "table": table, "chart": chart, "note": note}


def document(*, title: str, school: str, printed_at: dt.datetime | str, sections: list[dict],
             subtitle: str | None = None, orientation: str = PORTRAIT, class_name: str | None = None,
             period: str | None = None, signatures: list[str] | tuple = ()) -> dict:
    if orientation not in (PORTRAIT, LANDSCAPE):
        raise ValueError(f"unknown orientation {orientation!r}")
    printed = printed_at.isoformat() if isinstance(printed_at, dt.datetime) else printed_at
    return {"title": title, "subtitle": subtitle, "orientation": orientation,
            "header": {"school": school, "class": class_name, "period": period, "printed_at": printed},
            "sections": sections, "signatures": list(signatures)}


def _cell(value):
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def period_label(period: dict | None) -> str | None:
    """"1 четверть (01.09.2026–26.10.2026)"."""
    if not period:
        return None
    span = f"{_ru_date(period.get('starts_on'))}–{_ru_date(period.get('ends_on'))}"
    return f"{period['name']} ({span})" if period.get("name") else span


def _ru_date(value) -> str:
    if isinstance(value, str):
        value = dt.date.fromisoformat(value)
    return value.strftime("%d.%m.%Y") if value else ""
