"""The year-end archive (R-D4) on the real RabbitMQ and PostgreSQL: the
journal's ``year_closed`` makes one PDF and one XLSX per class of the year
from the projections, stored once; the administration lists and downloads
them, nobody else."""
from __future__ import annotations

import base64
import io

import openpyxl
import pytest
from nameko.testing.services import entrypoint_hook
from pypdf import PdfReader

from kernel.db import new_id
from reports.errors import ArchiveNotFound, ArchivesForAdministration, ValidationError


def call(container, method, *args):
    with entrypoint_hook(container, method) as hook:
        return hook(*args)


def test_a_closed_year_archives_every_class_journal_once(container, school, ctx_for):
    year = school.year()
    q1 = year["periods"][0]
    math = school.subject("Математика")
    class_id = school.school_class(year["year_id"])
    other = school.school_class(year["year_id"], grade=6, letter="Б")
    a = school.student(class_id, "Алексеева Мария")
    b = school.student(class_id, "Борисов Илья")
    lesson_id = new_id()
    school.journal("lesson_recorded", {
        "lesson_id": lesson_id, "class_id": class_id, "subject_id": math, "subject_name": "Математика",
        "teacher_id": new_id(), "date": "2026-10-05", "topic": "Дроби", "lesson_type": "урок", "work_type": None,
        "homework": "№ 1", "subgroup_id": None, "substitute_for": None, "late": False, "overdue": False,
        "imported": False, "recorded_on": None})
    for student, value in ((a, 5), (b, 3)):
        school.journal("mark_posted", {**school.mark_payload(class_id, student, math, "2026-10-05", value),
                                       "lesson_id": lesson_id})
    school.journal("attendance_recorded", {"lesson_id": lesson_id, "class_id": class_id, "subject_id": math,
                                           "subject_name": "Математика", "date": "2026-10-05", "reason": None,
                                           "entries": [{"student_id": b, "status": "ill", "previous": None}]})
    school.final(class_id, a, math, q1["id"], 5)
    closed = {"year_id": year["year_id"], "order_no": "№ 77-о", "next_year_id": None, "promoted": 2,
              "graduated": 0, "held_back": 0}
    school.journal("year_closed", closed)
    school.journal("year_closed", closed)  # redelivered or repeated: nothing twice

    deputy = ctx_for(school.school_id, "deputy")
    items = call(container, "list_archives", deputy, year["year_id"])["items"]
    assert [i["class"]["name"] for i in items] == ["5А", "6Б"]
    first = items[0]
    assert first["order_no"] == "№ 77-о" and first["year"] == {"id": year["year_id"], "name": "2026/2027"}
    assert [f["format"] for f in first["files"]] == ["pdf", "xlsx"] and all(f["size"] > 0 for f in first["files"])
    assert call(container, "list_archives", deputy, None)["items"] == items
    assert call(container, "list_archives", ctx_for(new_id(), "deputy"), None)["items"] == []  # another school

    pdf = call(container, "archive_file", deputy, first["id"], "pdf")
    data = base64.b64decode(pdf["content_base64"])
    assert data.startswith(b"%PDF-") and pdf["size"] == len(data) == first["files"][0]["size"]
    assert pdf["content_type"] == "application/pdf" and pdf["filename"].endswith(".pdf")
    text = " ".join("\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages).split())
    for expected in ("Алексеева Мария", "Борисов Илья", "Математика", "Дроби", "№ 77-о", "05.10.2026"):
        assert expected in text, expected
    xlsx = call(container, "archive_file", deputy, first["id"], "xlsx")
    book = openpyxl.load_workbook(io.BytesIO(base64.b64decode(xlsx["content_base64"])))
    cells = {v for sheet in book.worksheets for row in sheet.iter_rows(values_only=True) for v in row}
    assert {"Алексеева Мария", "Борисов Илья", "Дроби"} <= cells

    with pytest.raises(ArchivesForAdministration):
        call(container, "list_archives", ctx_for(school.school_id, "teacher", "class_teacher"), None)
    with pytest.raises(ValidationError) as bad:
        call(container, "archive_file", deputy, first["id"], "doc")
    assert bad.value.details["field"] == "format"
    with pytest.raises(ArchiveNotFound):
        call(container, "archive_file", deputy, new_id(), "pdf")
