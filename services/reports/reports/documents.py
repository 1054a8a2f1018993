"""A report as a file: the bytes of its JSON, or of its PDF or XLSX made by
``reports.render.render(report, fmt)`` from the report dict (its
``document`` layout), with the content type and the file names the
gateway's ``Content-Disposition`` carries (an ASCII one and the Russian one,
RFC 5987)."""
from __future__ import annotations

import datetime as dt
import json

from kernel import errors as base
from reports import build
from reports.errors import ValidationError, text
from reports.render import render

__all__ = ["Document", "produce", "render_bytes", "monthly_letter"]

CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
CHUNK = 256 * 1024


class Document:
    def __init__(self, data: bytes, content_type: str, filename_ascii: str, filename: str):
        self.data, self.content_type = data, content_type
        self.filename_ascii, self.filename = filename_ascii, filename

    def chunks(self, size: int = CHUNK):
        """The bytes in pieces of at most ``size`` (one empty piece for none)."""
        if not self.data:
            yield b""
        for start in range(0, len(self.data), size):
            yield self.data[start:start + size]


def require_format(fmt) -> str:
    if fmt not in build.FORMATS:
        raise ValidationError(text("format_unknown", format=str(fmt)[:20]), details={"field": "format"})
    return fmt


def render_bytes(report: dict, fmt: str) -> bytes:
    """The report's bytes in ``fmt``."""
    if fmt == "json":
        return json.dumps(report, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return render(report, fmt)


def produce(session, who, kind, params: dict, fmt, *, school_name: str, now: dt.datetime) -> Document:
    """Build the report for ``who`` and turn it into a file."""
    fmt = require_format(fmt)
    report = build.Builder(session, who, school_name=school_name, now=now).build(kind, params)
    ascii_name, russian = build.filename(report, fmt)
    return Document(render_bytes(report, fmt), CONTENT_TYPES[fmt], ascii_name, russian)


# kernel error kind -> gRPC status name (the gateway maps it back: errors.GRPC_KINDS)
GRPC_STATUS = {
    base.BadRequest.kind: "INVALID_ARGUMENT", base.Unauthenticated.kind: "UNAUTHENTICATED",
    base.Forbidden.kind: "PERMISSION_DENIED", base.NotFound.kind: "NOT_FOUND",
    base.Conflict.kind: "ALREADY_EXISTS", base.RuleViolation.kind: "FAILED_PRECONDITION",
    base.RateLimited.kind: "RESOURCE_EXHAUSTED",
}


def monthly_letter(report: dict) -> str:
    """The text of the letter that carries a monthly monitoring report."""
    s = report["summary"]

    def pct(value):
        return "—" if value is None else f"{value:g}%"
    return (f"Мониторинг ведения электронного журнала за {report['document']['header']['period']} "
            f"во вложении (PDF).\n"
            f"Учителей, ведущих журнал: {pct(s['teachers_share'])}; учащихся без отметок: {pct(s['no_marks_share'])}; "
            f"с одной отметкой: {pct(s['one_mark_share'])}; уроков с домашним заданием: {pct(s['homework_share'])}; "
            f"несвоевременных записей: {s['late']}; итоговых отметок с опозданием: {s['late_finals']}.\n"
            f"Письмо сформировано автоматически.")
