"""Printable documents of reports: PDF and XLSX from ``report["document"]``
alone (see the README's "Documents" section for the shape).

    render(report, "pdf") -> bytes
    render(report, "xlsx") -> bytes
    render_xlsx_to(report, fileobj)   # streams rows; for big sheets
    render_pdf_to(report, fileobj)
    render_journal_archive(archive, "pdf"|"xlsx") -> bytes   # a class journal of a year
"""
from __future__ import annotations

from reports.render.document import FORMATS, cell_text, document_of  # noqa: F401

CONTENT_TYPES = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def render(report: dict, fmt: str) -> bytes:
    """The report as a PDF or an XLSX file; ValueError for another format or a
    report without a proper document."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown document format {fmt!r}: expected one of {', '.join(FORMATS)}")
    doc = document_of(report)
    if fmt == "pdf":
        from reports.render.pdf import render_pdf
        return render_pdf(doc)
    from reports.render.xlsx import render_xlsx
    return render_xlsx(doc)


def render_pdf_to(report: dict, fileobj) -> None:
    from reports.render.pdf import render_pdf_to as write
    write(document_of(report), fileobj)


def render_xlsx_to(report: dict, fileobj) -> None:
    """Write the XLSX to ``fileobj`` (a path or a binary file) row by row."""
    from reports.render.xlsx import render_xlsx_to as write
    write(document_of(report), fileobj)


def render_journal_archive(archive: dict, fmt: str) -> bytes:
    """A class journal of a year (a "journal archive" dict) as PDF or XLSX."""
    from reports.render.archive import render_journal_archive as run
    return run(archive, fmt)
