"""The year-end archive of a class journal: one printable PDF per class and
the same data as XLSX, from a "journal archive" dict (shape in the README's
"Year-end archive" section).

The PDF follows the paper journal: a title page; per subject the grid of
marks and attendance (students × lesson dates, a table per month), the final
marks, and the list of lessons with their topics and homework; then the
summary of year marks and absences and the signed-off page."""
from __future__ import annotations

import datetime as dt
import io
from collections import defaultdict

from reportlab.lib.units import mm
from reportlab.platypus import CondPageBreak, PageBreak, Paragraph, Spacer, Table, TableStyle

from kernel import pdf_fonts as fonts
from reports.render import pdf
from reports.render.document import parse_date
from reports.render.xlsx import render_xlsx_to

ATTENDANCE_LETTERS = {"absent": "Н", "excused": "У", "ill": "Б", "late": "О"}
MISSED = ("absent", "excused", "ill")
MONTHS = ("январь", "февраль", "март", "апрель", "май", "июнь", "июль", "август", "сентябрь", "октябрь",
          "ноябрь", "декабрь")
GRID_COLUMNS = 31  # lesson columns in one printed grid
SIGNATURES = ("Классный руководитель", "Заместитель директора по УВР", "Директор")


# --- input -----------------------------------------------------------------

def _need(mapping, key, kind, where):
    value = mapping.get(key) if isinstance(mapping, dict) else None
    if not isinstance(value, kind):
        raise ValueError(f"journal archive: {where}{key} is missing or of a wrong type")
    return value


def check(archive: dict) -> dict:
    """The archive checked for what the renderers rely on; ValueError naming
    the first wrong part."""
    if not isinstance(archive, dict):
        raise ValueError("journal archive must be a dict")
    _need(archive, "school", str, "")
    _need(_need(archive, "year", dict, ""), "name", str, "year.")
    _need(_need(archive, "class", dict, ""), "name", str, "class.")
    for i, period in enumerate(_need(archive, "periods", list, "")):
        _need(period, "id", str, f"periods[{i}].")
        _need(period, "name", str, f"periods[{i}].")
    for i, student in enumerate(_need(archive, "students", list, "")):
        _need(student, "id", str, f"students[{i}].")
        _need(student, "full_name", str, f"students[{i}].")
    for i, subject in enumerate(_need(archive, "subjects", list, "")):
        where = f"subjects[{i}]."
        _need(subject, "name", str, where)
        for j, lesson in enumerate(_need(subject, "lessons", list, where)):
            _need(lesson, "id", str, f"{where}lessons[{j}].")
            if parse_date(lesson.get("date")) is None:
                raise ValueError(f"journal archive: {where}lessons[{j}].date is not an ISO date")
        for key in ("marks", "attendance", "finals"):
            if not isinstance(subject.get(key, []), list):
                raise ValueError(f"journal archive: {where}{key} must be a list")
    return archive


def _lessons(subject: dict) -> list[dict]:
    return sorted(subject["lessons"], key=lambda l: (parse_date(l["date"]), l.get("number") or 0, l["id"]))


def _grid(subject: dict) -> dict:
    """{(student_id, lesson_id): shown cell}: marks in order, then the attendance letter."""
    cells = defaultdict(list)
    for mark in subject.get("marks") or []:
        if mark.get("value") is not None:
            cells[(mark.get("student_id"), mark.get("lesson_id"))].append(str(mark["value"]))
    for entry in subject.get("attendance") or []:
        letter = ATTENDANCE_LETTERS.get(entry.get("status"))
        if letter:
            cells[(entry.get("student_id"), entry.get("lesson_id"))].append(letter)
    return {key: " ".join(values) for key, values in cells.items()}


def _finals(subject: dict) -> dict:
    return {(f.get("student_id"), f.get("period_id")): f.get("value") for f in subject.get("finals") or []}


def _final_columns(archive: dict) -> list[tuple[str, str]]:
    """(period id, title) of the final-mark columns: the periods, then the year."""
    out = [(p["id"], p["name"]) for p in archive["periods"]]
    year_id = archive["year"].get("id")
    if year_id and year_id not in {p for p, _ in out}:
        out.append((year_id, "Год"))
    return out


def _student_label(student: dict) -> str:
    return student["full_name"] + (f" ({student['note']})" if student.get("note") else "")


def _month_chunks(lessons: list[dict]):
    """(title, lessons) per month, a month longer than GRID_COLUMNS split."""
    by_month: dict[tuple[int, int], list] = defaultdict(list)
    for lesson in lessons:
        day = parse_date(lesson["date"])
        by_month[(day.year, day.month)].append(lesson)
    for (year, month), items in sorted(by_month.items()):
        parts = [items[i:i + GRID_COLUMNS] for i in range(0, len(items), GRID_COLUMNS)]
        for n, part in enumerate(parts, start=1):
            suffix = f", часть {n}" if len(parts) > 1 else ""
            yield f"{MONTHS[month - 1].capitalize()} {year}{suffix}", part


def archive_from_rows(*, school: str, year: dict, periods: list, school_class: dict, class_teacher: str | None,
                      roster: list, subjects: list, lessons: list, marks: list, attendance: list, finals: list,
                      teachers: dict | None = None, closed_order: str | None = None,
                      printed_at: str | None = None) -> dict:
    """A journal archive from projection rows (plain dicts named as the
    projections' columns), so that the year-end job only has to read them:

    - ``year`` {id, name}; ``periods`` [{id, name, starts_on}] (any order);
      ``school_class`` {id, name};
    - ``roster`` [{student_id, full_name, left_on}] (a student who left gets
      the note «выбыл(а) dd.mm.yyyy»); ``subjects`` [{id, name}];
      ``teachers`` {subject_id: full name};
    - ``lessons`` [{id, subject_id, date, topic, homework | has_homework}];
    - ``marks`` [{lesson_id, student_id, subject_id, value, removed}] (removed
      ones dropped); ``attendance`` [{lesson_id, student_id, subject_id,
      status}] ("present" dropped); ``finals`` [{student_id, subject_id,
      period_id, value}].

    Only subjects with a lesson or a final mark are kept, sorted by name;
    the roster by name (ё as е)."""
    def day(value):
        return parse_date(value).isoformat() if parse_date(value) else None

    def name_key(text):
        return (text or "").lower().replace("ё", "е")

    students = []
    for row in sorted(roster, key=lambda r: (name_key(r.get("full_name")), r["student_id"])):
        left = parse_date(row.get("left_on"))
        students.append({"id": row["student_id"], "full_name": row.get("full_name") or "—",
                         "note": f"выбыл(а) {left:%d.%m.%Y}" if left else None})
    by_subject: dict = defaultdict(lambda: {"lessons": [], "marks": [], "attendance": [], "finals": []})
    for lesson in lessons:
        homework = lesson.get("homework")
        if homework is None and lesson.get("has_homework"):
            homework = "задано"
        by_subject[lesson["subject_id"]]["lessons"].append(
            {"id": lesson["id"], "date": day(lesson["date"]), "topic": lesson.get("topic"), "homework": homework})
    for mark in marks:
        if not mark.get("removed"):
            by_subject[mark["subject_id"]]["marks"].append(
                {"student_id": mark["student_id"], "lesson_id": mark.get("lesson_id"), "value": mark["value"]})
    for entry in attendance:
        if entry.get("status") in ATTENDANCE_LETTERS:
            by_subject[entry["subject_id"]]["attendance"].append(
                {"student_id": entry["student_id"], "lesson_id": entry["lesson_id"], "status": entry["status"]})
    for final in finals:
        by_subject[final["subject_id"]]["finals"].append(
            {"student_id": final["student_id"], "period_id": final["period_id"], "value": final["value"]})
    names = {s["id"]: s.get("name") or "Предмет" for s in subjects}
    out_subjects = []
    for subject_id, data in by_subject.items():
        if not data["lessons"] and not data["finals"]:
            continue
        out_subjects.append({"id": subject_id, "name": names.get(subject_id, "Предмет"),
                             "teacher": (teachers or {}).get(subject_id), **data})
    out_subjects.sort(key=lambda s: (name_key(s["name"]), s["id"]))
    ordered = sorted(periods, key=lambda p: (str(p.get("starts_on") or ""), p["id"]))
    return {"school": school, "printed_at": printed_at,
            "year": {"id": year["id"], "name": year["name"], "closed_order": closed_order},
            "class": {"id": school_class["id"], "name": school_class["name"], "class_teacher": class_teacher},
            "periods": [{"id": p["id"], "name": p["name"]} for p in ordered],
            "students": students, "subjects": out_subjects}


# --- generic tables both renderers share -------------------------------------

def grid_table(archive: dict, subject: dict, lessons: list[dict], day_titles: bool) -> dict:
    cells = _grid(subject)
    columns = [{"key": "n", "title": "№", "type": "int"}, {"key": "name", "title": "Ученик", "type": "text"}]
    for lesson in lessons:
        day = parse_date(lesson["date"])
        columns.append({"key": lesson["id"], "title": f"{day:%d}" if day_titles else f"{day:%d.%m}",
                        "type": "text", "align": "center"})
    rows = []
    for n, student in enumerate(archive["students"], start=1):
        row = {"n": n, "name": _student_label(student)}
        for lesson in lessons:
            row[lesson["id"]] = cells.get((student["id"], lesson["id"]))
        rows.append(row)
    return {"columns": columns, "rows": rows, "totals": None}


def finals_table(archive: dict, subject: dict) -> dict:
    finals = _finals(subject)
    periods = _final_columns(archive)
    columns = [{"key": "n", "title": "№", "type": "int"}, {"key": "name", "title": "Ученик", "type": "text"}]
    columns += [{"key": f"p{i}", "title": title, "type": "text", "align": "center"}
                for i, (_, title) in enumerate(periods)]
    rows = []
    for n, student in enumerate(archive["students"], start=1):
        row = {"n": n, "name": _student_label(student)}
        for i, (period_id, _) in enumerate(periods):
            value = finals.get((student["id"], period_id))
            row[f"p{i}"] = None if value is None else str(value)
        rows.append(row)
    return {"columns": columns, "rows": rows, "totals": None}


def lessons_table(subject: dict) -> dict:
    columns = [{"key": "n", "title": "№", "type": "int"}, {"key": "date", "title": "Дата", "type": "date"},
               {"key": "topic", "title": "Тема урока", "type": "text"},
               {"key": "homework", "title": "Домашнее задание", "type": "text"}]
    rows = [{"n": n, "date": parse_date(l["date"]).isoformat(), "topic": l.get("topic") or None,
             "homework": l.get("homework") or None} for n, l in enumerate(_lessons(subject), start=1)]
    return {"columns": columns, "rows": rows, "totals": None}


def summary_table(archive: dict) -> dict:
    """Students × subjects: the year's final marks (the last final column), and absences."""
    year_col = _final_columns(archive)[-1][0] if _final_columns(archive) else None
    subjects = archive["subjects"]
    columns = [{"key": "n", "title": "№", "type": "int"}, {"key": "name", "title": "Ученик", "type": "text"}]
    columns += [{"key": f"s{i}", "title": s["name"], "type": "text", "align": "center"}
                for i, s in enumerate(subjects)]
    columns += [{"key": "missed", "title": "Пропущено уроков", "type": "int"},
                {"key": "excused", "title": "из них по уважительной причине и болезни", "type": "int"},
                {"key": "late", "title": "Опозданий", "type": "int"}]
    missed, excused, late = defaultdict(int), defaultdict(int), defaultdict(int)
    for subject in subjects:
        for entry in subject.get("attendance") or []:
            status, student = entry.get("status"), entry.get("student_id")
            if status in MISSED:
                missed[student] += 1
                if status != "absent":
                    excused[student] += 1
            elif status == "late":
                late[student] += 1
    finals = [_finals(s) for s in subjects]
    rows = []
    for n, student in enumerate(archive["students"], start=1):
        row = {"n": n, "name": _student_label(student), "missed": missed[student["id"]],
               "excused": excused[student["id"]], "late": late[student["id"]]}
        for i, marks in enumerate(finals):
            value = marks.get((student["id"], year_col))
            row[f"s{i}"] = None if value is None else str(value)
        rows.append(row)
    totals = {"name": "Итого", "missed": sum(missed.values()), "excused": sum(excused.values()),
              "late": sum(late.values())}
    return {"columns": columns, "rows": rows, "totals": totals}


def _subject_title(subject: dict) -> str:
    return subject["name"] + (f" — учитель {subject['teacher']}" if subject.get("teacher") else "")


def _page_doc(archive: dict) -> dict:
    """The page frame's document: title, header and orientation."""
    cls = archive["class"]
    return {"title": f"Классный журнал {cls['name']} класса, {archive['year']['name']} учебный год",
            "subtitle": None, "orientation": "landscape", "sections": [],
            "header": {"school": archive["school"], "class": cls["name"],
                       "period": f"{archive['year']['name']} учебный год",
                       "printed_at": archive.get("printed_at") or dt.datetime.now(dt.timezone.utc).isoformat()}}


# --- PDF -------------------------------------------------------------------

def _pdf_story(archive: dict, avail: float) -> list:
    styles = pdf._styles()
    cls = archive["class"]
    out = [Spacer(1, 30 * mm),
           Paragraph("КЛАССНЫЙ ЖУРНАЛ", pdf.ParagraphStyle("cover", parent=styles["title"], fontSize=24,
                                                          leading=30)),
           Spacer(1, 6 * mm),
           Paragraph(pdf._escape(f"{cls['name']} класс"), pdf.ParagraphStyle(
               "cover2", parent=styles["title"], fontSize=16, leading=20)),
           Paragraph(pdf._escape(f"{archive['year']['name']} учебный год"), styles["subtitle"]),
           Spacer(1, 4 * mm),
           Paragraph(pdf._escape(archive["school"]), styles["subtitle"])]
    if cls.get("class_teacher"):
        out.append(Paragraph(pdf._escape(f"Классный руководитель: {cls['class_teacher']}"), styles["subtitle"]))
    out.append(Spacer(1, 10 * mm))
    contents = {"columns": [{"key": "n", "title": "№", "type": "int"},
                            {"key": "subject", "title": "Предмет", "type": "text"},
                            {"key": "teacher", "title": "Учитель", "type": "text"},
                            {"key": "lessons", "title": "Уроков", "type": "int"}],
                "rows": [{"n": n, "subject": s["name"], "teacher": s.get("teacher"), "lessons": len(s["lessons"])}
                         for n, s in enumerate(archive["subjects"], start=1)], "totals": None}
    out.append(pdf._table(contents, min(avail, 200 * mm)))
    out.append(Paragraph(pdf._escape(f"Учеников: {len(archive['students'])}"), styles["note"]))

    for subject in archive["subjects"]:
        lessons = _lessons(subject)
        out.append(PageBreak())
        out.append(Paragraph(pdf._escape(_subject_title(subject)), styles["title"]))
        out.append(Paragraph("Отметки и посещаемость (Н — отсутствовал, У — уважительная причина, "
                             "Б — болезнь, О — опоздание)", styles["note"]))
        if not lessons:
            out.append(Paragraph("Уроков не было.", styles["note"]))
        for title, chunk in _month_chunks(lessons):
            out.append(CondPageBreak(50 * mm))
            out.append(Paragraph(pdf._escape(title), styles["section"]))
            out.append(pdf._table(grid_table(archive, subject, chunk, day_titles=True), avail))
        out.append(CondPageBreak(50 * mm))
        out.append(Paragraph("Итоговые отметки", styles["section"]))
        out.append(pdf._table(finals_table(archive, subject), min(avail, 120 * mm + 25 * mm * len(
            _final_columns(archive)))))
        out.append(CondPageBreak(50 * mm))
        out.append(Paragraph("Проведённые уроки", styles["section"]))
        out.append(pdf._table(lessons_table(subject), avail))

    out.append(PageBreak())
    out.append(Paragraph("Сводная ведомость итоговых отметок и пропусков", styles["title"]))
    out.append(Spacer(1, 3 * mm))
    out.append(pdf._table(summary_table(archive), avail))

    out.append(PageBreak())
    out.append(Paragraph("Журнал проверен и сдан в архив", styles["title"]))
    out.append(Spacer(1, 8 * mm))
    facts = [f"Класс: {cls['name']}", f"Учебный год: {archive['year']['name']}",
             f"Учеников: {len(archive['students'])}", f"Предметов: {len(archive['subjects'])}",
             f"Уроков проведено: {sum(len(s['lessons']) for s in archive['subjects'])}"]
    if archive["year"].get("closed_order"):
        facts.append(f"Приказ о завершении учебного года: {archive['year']['closed_order']}")
    for fact in facts:
        out.append(Paragraph(pdf._escape(fact), styles["signature"]))
    signatures = archive.get("signatures") or list(SIGNATURES)
    out.append(pdf._signatures(signatures, styles["signature"]))
    date_line = Table([["«____» ______________ 20____ г.", "М. П."]], colWidths=[80 * mm, 70 * mm], hAlign="LEFT")
    date_line.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), fonts.REGULAR),
                                   ("FONTSIZE", (0, 0), (-1, -1), 10), ("TOPPADDING", (0, 0), (-1, -1), 14)]))
    out.append(date_line)
    return out


def render_archive_pdf_to(archive: dict, fileobj) -> None:
    check(archive)
    pdf.build(_page_doc(archive), lambda avail: _pdf_story(archive, avail), fileobj)


# --- XLSX ------------------------------------------------------------------

def archive_document(archive: dict) -> dict:
    """The archive as a generic document (one sheet per table): per subject
    the year's grid, the final marks and the lessons; then the summary."""
    check(archive)
    doc = _page_doc(archive)
    sections = []
    for subject in archive["subjects"]:
        name = subject["name"]
        # the part first: a long subject name cut to a sheet name's 31 characters keeps it
        sections.append({"title": f"Отметки — {name}", "table": grid_table(
            archive, subject, _lessons(subject), day_titles=False), "chart": None, "note": None})
        sections.append({"title": f"Итоги — {name}", "table": finals_table(archive, subject),
                         "chart": None, "note": None})
        sections.append({"title": f"Уроки — {name}", "table": lessons_table(subject), "chart": None,
                         "note": None})
    sections.append({"title": "Сводная ведомость", "table": summary_table(archive), "chart": None,
                     "note": "Н — отсутствовал, У — уважительная причина, Б — болезнь, О — опоздание."})
    doc["sections"] = sections
    doc["signatures"] = archive.get("signatures") or list(SIGNATURES)
    return doc


def render_journal_archive_to(archive: dict, fmt: str, fileobj) -> None:
    if fmt == "pdf":
        render_archive_pdf_to(archive, fileobj)
    elif fmt == "xlsx":
        render_xlsx_to(archive_document(archive), fileobj)
    else:
        raise ValueError(f"unknown document format {fmt!r}: expected one of pdf, xlsx")


def render_journal_archive(archive: dict, fmt: str) -> bytes:
    """The class journal of a year as one PDF or XLSX file."""
    out = io.BytesIO()
    render_journal_archive_to(archive, fmt, out)
    return out.getvalue()
