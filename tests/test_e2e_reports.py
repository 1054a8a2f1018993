"""The progress report (R-R5) end to end through the gateway, on real
RabbitMQ and PostgreSQL with every process started as `make run` starts it:
marks and final marks posted through the API reach reports as journal's
events, and the report counts the final marks once they are posted."""
from __future__ import annotations

import datetime as dt
import json
import uuid
from zoneinfo import ZoneInfo

import pytest
import requests
from jsonschema import Draft202012Validator

from localrun.client import Api

from e2e_support import eventually

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"
SUFFIX = uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def school(platform):
    """7В with one subject and two students, in a year whose first half has
    ended; marks in that half: Андреев 2, 3, 4 (3.00 -> 3), Борисова 5."""
    env, base = platform.env, platform.url
    admin = Api(base).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
    today = dt.datetime.now(ZoneInfo("Europe/Moscow")).date()
    first_start, first_end = today - dt.timedelta(days=80), today - dt.timedelta(days=21)
    year = admin.post("/years", {
        "name": f"Год {SUFFIX}", "starts_on": first_start.isoformat(),
        "ends_on": (today + dt.timedelta(days=200)).isoformat(),
        "periods": [
            {"name": "1 полугодие", "kind": "half_year", "starts_on": first_start.isoformat(),
             "ends_on": first_end.isoformat()},
            {"name": "2 полугодие", "kind": "half_year", "starts_on": (first_end + dt.timedelta(days=1)).isoformat(),
             "ends_on": (today + dt.timedelta(days=200)).isoformat()}]})
    history = admin.post("/subjects", {"name": f"История {SUFFIX}"})

    def user(login, name, roles):
        return admin.post("/users", {"login": f"{login}.{SUFFIX}", "full_name": name, "roles": roles,
                                     "password": PASSWORD})

    ct = user("ct", "Никитина Ольга Петровна", ["teacher", "class_teacher"])
    teacher = user("t", "Фёдоров Антон Ильич", ["teacher"])
    user("d", "Громова Лидия Андреевна", ["deputy"])
    c7 = admin.post("/classes", {"year_id": year["id"], "grade": 7, "letter": "В", "class_teacher_id": ct["id"]})
    admin.post("/assignments", {"teacher_id": teacher["id"], "class_id": c7["id"], "subject_id": history["id"],
                                "hours_per_week": 2})
    students = [user(f"s{i}", name, ["student"]) for i, name in enumerate(["Андреев Глеб", "Борисова Ника"])]
    for s in students:
        admin.post(f"/classes/{c7['id']}/students", {"student_id": s["id"], "order_no": "7-у",
                                                     "on": first_start.isoformat()}, expect=201)
    t = Api(base).login(f"t.{SUFFIX}", PASSWORD)
    for days, marks in ((40, [2, 5]), (35, [3, None]), (30, [4, None])):
        lesson = t.post("/lessons", {"class_id": c7["id"], "subject_id": history["id"],
                                     "date": (today - dt.timedelta(days=days)).isoformat(),
                                     "topic": f"Тема {days}", "lesson_type": "урок"}, expect=201)
        t.put(f"/lessons/{lesson['id']}/marks", {"marks": [
            {"student_id": s["id"], "value": v} for s, v in zip(students, marks) if v is not None]})
    return {"teacher": t, "deputy": Api(base).login(f"d.{SUFFIX}", PASSWORD), "year": year, "history": history,
            "c7": c7, "students": students, "base": base}


def test_final_marks_are_the_progress_basis_once_posted_R_R5(school, platform):
    """Before final marks the half-year counts rounded averages (Андреев's 3
    passes); once posted, his final 2 fails him and the answer says so."""
    andreev, borisova = (s["id"] for s in school["students"])
    first_half = school["year"]["periods"][0]["id"]
    query = f"/reports/progress?class_id={school['c7']['id']}&period_id={first_half}&format=json"

    def report_when(check):
        def probe():
            # the class reaches identity and reports as events: until then 403/404
            resp = school["deputy"].request("GET", query)
            return resp.json() if resp.status_code == 200 and check(resp.json()) else None
        return eventually(probe)

    def cell(report, student_id):
        return next(r for r in report["students"] if r["id"] == student_id)["subjects"][0]

    before = report_when(lambda r: [cell(r, andreev)["count"], cell(r, borisova)["count"]] == [3, 1])
    assert before["basis"] == "current_averages"
    assert (cell(before, andreev)["rounded"], cell(before, andreev)["counted"]) == (3, 3)
    assert before["summary"]["pass_rate"] == 100.0 and before["summary"]["failing"] == 0

    for student_id, value in ((andreev, 2), (borisova, 5)):
        school["teacher"].put("/final-marks", {"student_id": student_id, "subject_id": school["history"]["id"],
                                               "period_id": first_half, "value": value})
    after = report_when(lambda r: r["finals"]["posted"] == 2)
    assert after["basis"] == "final_marks"
    assert (cell(after, andreev)["rounded"], cell(after, andreev)["final"], cell(after, andreev)["counted"]) == \
        (3, 2, 2)
    assert after["summary"] == {"students": 2, "pass_rate": 50.0, "quality": 50.0, "excellent": 1,
                                "with_one_3": 0, "failing": 1, "without_marks": 0}
    # the second half-year has no final marks: its basis stays the current averages
    second = school["deputy"].get(query.replace(first_half, school["year"]["periods"][1]["id"]))
    assert second["basis"] == "current_averages"

    # the answer is the shape the OpenAPI document publishes
    spec = requests.get(platform.url + "/api/v1/openapi.json", timeout=5).json()
    schema = {**spec["components"]["schemas"]["Report"], "components": spec["components"]}
    assert list(Draft202012Validator(schema).iter_errors(after)) == []


def test_every_kind_through_the_gateway_as_json_files(school, platform):
    """Each kind answers through reports' document stream with the file's
    names in Content-Disposition; the class teacher gets their class, never
    the school; the progress sheet counts the final marks posted above."""
    c7, half = school["c7"]["id"], school["year"]["periods"][0]["id"]
    month = school["year"]["periods"][0]["starts_on"][:7]
    queries = {
        "class-fill": f"period_id={half}", "student-finals": f"class_id={c7}",
        "attendance": f"class_id={c7}&period_id={half}", "class-teacher": f"class_id={c7}&period_id={half}",
        "progress": f"class_id={c7}&period_id={half}", "progress-sheet": f"class_id={c7}&period_id={half}",
        "attendance-sheet": f"class_id={c7}&period_id={half}", "journal-monitoring": f"month={month}",
        "user-activity": f"month={month}", "forecast": f"class_id={c7}&period_id={half}",
    }
    spec = requests.get(platform.url + "/api/v1/openapi.json", timeout=5).json()
    schemas = spec["components"]["schemas"]
    for kind, query in queries.items():
        resp = school["deputy"].request("GET", f"/reports/{kind}?{query}&format=json")
        assert resp.status_code == 200, (kind, resp.text)
        body = resp.json()
        assert body["kind"] == kind and body["document"]["sections"], kind
        # the kind's own schema of the published document, and the route's oneOf
        [name] = [n for n, s in schemas.items() if s.get("properties", {}).get("kind") == {"const": kind}]
        for schema in (schemas[name], schemas["Report"]):
            errors = Draft202012Validator({**schema, "components": spec["components"]}).iter_errors(body)
            assert [f"{list(e.absolute_path)}: {e.message}" for e in errors] == [], (kind, name)
        assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
        disposition = resp.headers["Content-Disposition"]
        assert disposition.startswith(f'inline; filename="{kind}') and "filename*=UTF-8''" in disposition, disposition
    monitoring = school["deputy"].get(f"/reports/journal-monitoring?month={month}")
    row = next(r for r in monitoring["classes"] if r["class_id"] == c7)
    assert row["students"] == 2
    sheet = school["deputy"].get(f"/reports/progress-sheet?class_id={c7}&period_id={half}")
    assert sheet["basis"] in ("final_marks", "current_averages")
    teacher = school["teacher"]
    assert teacher.request("GET", f"/reports/progress-sheet?period_id={half}").status_code == 403
    parent_like = teacher.request("GET", f"/reports/journal-monitoring?month={month}")
    assert parent_like.status_code == 403


def _comparable(report: dict) -> dict:
    """A report without the moments it was made."""
    out = {k: v for k, v in report.items() if k != "generated_at"}
    out["document"] = {**report["document"], "header": {**report["document"]["header"], "printed_at": None}}
    return out


def test_the_same_reports_after_a_rebuild_from_the_owners_exports(school, platform):
    """`python -m reports.rebuild` empties the projections and refills them
    from journal's and identity's Export streams: every report is the same.
    (user-activity is left out: the requests of this very test add to it.)"""
    import os
    import subprocess
    import sys

    c7, half = school["c7"]["id"], school["year"]["periods"][0]["id"]
    month = school["year"]["periods"][0]["starts_on"][:7]
    queries = [f"progress?class_id={c7}&period_id={half}", f"progress-sheet?class_id={c7}&period_id={half}",
               f"attendance-sheet?class_id={c7}&period_id={half}", f"class-teacher?class_id={c7}&period_id={half}",
               f"student-finals?class_id={c7}", f"forecast?class_id={c7}&period_id={half}",
               f"journal-monitoring?month={month}&class_id={c7}", f"class-fill?class_id={c7}&period_id={half}"]
    before = {q: _comparable(school["deputy"].get(f"/reports/{q}")) for q in queries}
    out = subprocess.run([sys.executable, "-m", "reports.rebuild"], env={**os.environ, **platform.env},
                         capture_output=True, timeout=300)
    assert out.returncode == 0, out.stderr.decode()
    rebuilt = json.loads(out.stdout)["rebuilt"]
    assert rebuilt["marks"] >= 4 and rebuilt["final_marks"] >= 2 and rebuilt["people"] >= 4
    after = {q: _comparable(school["deputy"].get(f"/reports/{q}")) for q in queries}
    for q in queries:
        assert after[q] == before[q], q


def _queries(school) -> dict:
    c7, half = school["c7"]["id"], school["year"]["periods"][0]["id"]
    month = school["year"]["periods"][0]["starts_on"][:7]
    return {
        "class-fill": f"period_id={half}", "student-finals": f"class_id={c7}",
        "attendance": f"class_id={c7}&period_id={half}", "class-teacher": f"class_id={c7}&period_id={half}",
        "progress": f"class_id={c7}&period_id={half}", "progress-sheet": f"class_id={c7}&period_id={half}",
        "attendance-sheet": f"class_id={c7}&period_id={half}", "journal-monitoring": f"month={month}",
        "user-activity": f"month={month}&class_id={c7}", "forecast": f"class_id={c7}&period_id={half}",
    }


def _squeezed(text: str) -> str:
    """Text without white space: a table cell may wrap over lines."""
    return "".join(text.split())


def _table_sheets(document: dict):
    """(section, sheet index) of every section that has a sheet: the sheet
    «Отчёт» first, then one per table, or per chart-only section."""
    index = 0
    for section in document["sections"]:
        if section.get("table") or section.get("chart"):
            index += 1
            yield section, index


def test_every_kind_as_pdf_and_xlsx_carries_the_json_numbers(school, platform):
    """Each kind as PDF and XLSX through the gateway: the PDF's text (pypdf)
    shows the document's title, the Cyrillic names and every cell of the
    JSON's tables as printed; the XLSX read back with openpyxl has a frozen
    header, the columns' titles, numbers as numbers and the same values."""
    import io
    import os
    import pathlib

    import openpyxl
    from pypdf import PdfReader

    from reports.render.document import cell_text

    # the marks and final marks of the fixture reach reports first
    c7, half = school["c7"]["id"], school["year"]["periods"][0]["id"]
    def marked():
        resp = school["deputy"].request("GET", f"/reports/progress?class_id={c7}&period_id={half}")
        return resp.status_code == 200 and sum(r["subjects"][0]["count"] for r in resp.json()["students"]) == 4
    eventually(marked)
    names = ["Андреев Глеб", "Борисова Ника"]
    keep = os.environ.get("EJOURNAL_TEST_REPORTS_DIR")  # where to leave the files to look at
    for kind, query in _queries(school).items():
        report = school["deputy"].get(f"/reports/{kind}?{query}&format=json")
        document = report["document"]
        volatile = kind == "user-activity"  # the requests of this very test add to it

        pdf = school["deputy"].request("GET", f"/reports/{kind}?{query}&format=pdf")
        assert pdf.status_code == 200, (kind, pdf.text)
        assert pdf.headers["Content-Type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF-")
        assert int(pdf.headers["Content-Length"]) == len(pdf.content)
        if keep:
            pathlib.Path(keep, f"{kind}.pdf").write_bytes(pdf.content)
        disposition = pdf.headers["Content-Disposition"]
        assert disposition.startswith(f'attachment; filename="{kind}') and '.pdf"' in disposition, disposition
        assert "filename*=UTF-8''" in disposition and disposition.endswith(".pdf"), disposition
        reader = PdfReader(io.BytesIO(pdf.content))
        text = _squeezed("\n".join(page.extract_text() for page in reader.pages))
        assert _squeezed(document["title"]) in text, kind
        assert _squeezed(document["header"]["school"]) in text, kind
        assert "Страница1из" in text, kind
        if kind not in ("class-fill", "journal-monitoring", "user-activity", "forecast"):  # not per student
            for name in names:
                assert _squeezed(name) in text, (kind, name)
        for section in document["sections"]:
            table = section.get("table")
            if not table:
                continue
            for column in table["columns"]:
                assert _squeezed(column["title"]) in text, (kind, column["title"])
            if volatile:
                continue
            for row in table["rows"] + ([table["totals"]] if table.get("totals") else []):
                for column in table["columns"]:
                    shown = _squeezed(cell_text(row[column["key"]], column["type"]))
                    assert shown in text, (kind, column["key"], shown)

        xlsx = school["deputy"].request("GET", f"/reports/{kind}?{query}&format=xlsx")
        assert xlsx.status_code == 200, (kind, xlsx.text)
        assert xlsx.headers["Content-Type"] == \
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        disposition = xlsx.headers["Content-Disposition"]
        assert disposition.startswith(f'attachment; filename="{kind}') and '.xlsx"' in disposition, disposition
        assert "filename*=UTF-8''" in disposition and disposition.endswith(".xlsx"), disposition
        book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
        assert book.sheetnames[0] == "Отчёт"
        for section, index in _table_sheets(document):
            table = section.get("table")
            if not table:
                continue
            sheet = book.worksheets[index]
            assert sheet.freeze_panes == "A2", (kind, sheet.title)
            values = list(sheet.iter_rows(values_only=True))
            assert list(values[0]) == [c["title"] for c in table["columns"]], (kind, sheet.title)
            expected = table["rows"] + ([table["totals"]] if table.get("totals") else [])
            assert len(values) - 1 == len(expected), (kind, sheet.title)
            for got, row in zip(values[1:], expected):
                for cell, column in zip(got, table["columns"]):
                    value = row[column["key"]]
                    if value is None:
                        assert cell in (None, ""), (kind, column["key"], cell)
                    elif column["type"] in ("int", "number"):
                        assert isinstance(cell, (int, float)), (kind, column["key"], cell)
                        if not volatile:
                            assert cell == pytest.approx(value), (kind, column["key"], cell, value)
                    elif column["type"] == "percent":
                        assert isinstance(cell, (int, float)), (kind, column["key"], cell)
                        if not volatile:
                            assert cell == pytest.approx(value / 100), (kind, column["key"])
                    elif column["type"] == "date":
                        assert isinstance(cell, dt.datetime), (kind, column["key"], cell)
                    elif column["type"] == "text" and not volatile:
                        assert cell == value, (kind, column["key"], cell, value)


def test_closing_the_year_archives_each_class_journal_R_D4(school, platform):
    """Closing the school year (last in this module: the year is then
    read-only) makes 7В's journal as PDF and XLSX, listed for the deputy
    director at /archives and downloadable; a teacher is refused."""
    import io

    import openpyxl
    from pypdf import PdfReader

    env = platform.env
    admin = Api(platform.url).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
    year_id = school["year"]["id"]
    admin.post(f"/years/{year_id}/close", {"order_no": "77-о", "promote": False, "early": True})

    def listed():
        resp = school["deputy"].request("GET", f"/archives?year_id={year_id}")
        assert resp.status_code == 200, resp.text
        return resp.json()["items"] or None
    items = eventually(listed, timeout=60)
    assert [i["class"]["name"] for i in items] == ["7В"]
    archive = items[0]
    assert archive["order_no"] == "77-о" and archive["year"]["id"] == year_id
    assert {f["format"] for f in archive["files"]} == {"pdf", "xlsx"}

    pdf = school["deputy"].request("GET", f"/archives/{archive['id']}/file?format=pdf")
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    assert len(pdf.content) == next(f["size"] for f in archive["files"] if f["format"] == "pdf")
    disposition = pdf.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="journal-archive-') and "filename*=UTF-8''" in disposition
    text = " ".join("\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages).split())
    for expected in ("Андреев Глеб", "Борисова Ника", "Никитина Ольга Петровна", f"История {SUFFIX}",
                     "Тема 40", "Тема 35", "77-о", "Журнал проверен и сдан в архив"):
        assert expected in text, expected

    xlsx = school["deputy"].request("GET", f"/archives/{archive['id']}/file?format=xlsx")
    assert xlsx.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    grid = next(ws for ws in book.worksheets if ws.title.startswith("Отметки"))
    rows = {row[1]: [str(v) for v in row[2:] if v not in (None, "")]
            for row in grid.iter_rows(min_row=2, values_only=True)}
    assert rows["Андреев Глеб"] == ["2", "3", "4"] and rows["Борисова Ника"] == ["5"]

    assert school["teacher"].request("GET", f"/archives?year_id={year_id}").status_code == 403
    assert school["deputy"].request("GET", f"/archives/{archive['id']}/file?format=doc").status_code == 400


def test_a_report_s_files_as_a_job_are_polled_then_downloaded(school, platform):
    """POST /reports/{kind}/files: 202 at once, the reports service renders the PDF and the XLSX from its
    own event, GET /jobs/{id} shows the progress and the files, which only the one who asked gets."""
    half = school["year"]["periods"][0]["id"]
    query = f"class_id={school['c7']['id']}&period_id={half}"
    started = school["deputy"].post(f"/reports/progress/files?{query}", expect=202)
    job = eventually(lambda: (j := school["deputy"].get(f"/jobs/{started['job_id']}"))["status"] in (
        "done", "failed") and j)
    assert job["status"] == "done" and (job["done"], job["total"]) == (2, 2), job
    assert [f["format"] for f in job["result"]["files"]] == ["pdf", "xlsx"]
    pdf = school["deputy"].request("GET", f"/jobs/{started['job_id']}/files/pdf", expect=200)
    assert pdf.content.startswith(b"%PDF") and "attachment" in pdf.headers["Content-Disposition"]
    xlsx = school["deputy"].request("GET", f"/jobs/{started['job_id']}/files/xlsx", expect=200)
    assert xlsx.content[:2] == b"PK"
    school["teacher"].request("GET", f"/jobs/{started['job_id']}", expect=404)
    school["teacher"].request("GET", f"/jobs/{started['job_id']}/files/pdf", expect=404)
