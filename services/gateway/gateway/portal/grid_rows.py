"""The class journal grid's rows as HTML, drawn in Python: a grid repeats
its row (cells, the lesson being edited, the evidence and the final-mark
form) for each of 30-odd students and a thousand cells, and the template
engine's escaping of each value cost more than the rest of the page. Every
value that comes from the journal is escaped here (``html.escape``); the
result is one ``Markup`` for the template's ``<tbody>``."""
from __future__ import annotations

from html import escape

from markupsafe import Markup

from gateway.portal.texts import ATTENDANCE, MARK_KINDS

ATTENDANCE_LETTERS = {"absent": "Н", "excused": "У", "ill": "Б", "late": "О"}
MARK_VALUES = (5, 4, 3, 2)
RISK_REASONS = {
    "LOW_FORECAST": "прогноз — 2", "FEW_MARKS": "отметок меньше, чем нужно для итоговой",
    "NO_WRITTEN_WORK": "не хватает письменных работ",
}


def mark_links(marks: list, mark_base: str) -> str:
    """A cell's marks (GridMark), each a link to its page (the kind in a tooltip unless oral)."""
    out = []
    for m in marks:
        kind, value = m.kind, int(m.value)
        title = "" if kind == "oral" else f' title="{escape(MARK_KINDS.get(kind, kind))}"'
        out.append(f'<a class="mark mark-{value}" href="{mark_base}{escape(m.id)}"{title}>{value}</a>')
    return "".join(out)


def cell(found: dict | None, mark_base: str) -> str:
    """One grid cell's marks and attendance letter (``found``: the cell's
    GridMark list and GridAttendance)."""
    if found is None:
        return "<td></td>"
    status = found["attendance"].status if found["attendance"] else ""
    letter = (f'<abbr title="{ATTENDANCE[status]}">{ATTENDANCE_LETTERS[status]}</abbr>'
              if status in ATTENDANCE_LETTERS else "")
    return f"<td>{mark_links(found['marks'], mark_base)}{letter}</td>"


def _options(values, chosen) -> str:
    return "".join(f'<option value="{v}"{" selected" if v == chosen else ""}>{v}</option>' for v in values)


def _editing_cell(sid: str, name: str, found: dict | None, mark_base: str) -> str:
    """The column of the lesson being edited: its marks and letter, and the
    inputs of the marks and attendance forms (``form=`` ties them to those)."""
    status = found["attendance"].status if found and found["attendance"] else ""
    marks = mark_links(found["marks"], mark_base) if found else ""
    letter = (f'<abbr title="{ATTENDANCE[status]}">{ATTENDANCE_LETTERS[status]}</abbr>'
              if status in ATTENDANCE_LETTERS else "")
    statuses = "".join(f'<option value="{code}"{" selected" if code == status else ""}>{label}</option>'
                       for code, label in ATTENDANCE.items())
    return (f'<td class="editing"><span class="cell-marks">{marks}</span><span class="cell-att">{letter}</span>'
            f'<span class="cell-edit"><label class="sr-only" for="mark-{sid}">Оценка: {name}</label>'
            f'<select id="mark-{sid}" name="mark-{sid}" form="marks-form" class="mark-input">'
            f'<option value="">—</option>{_options(MARK_VALUES, None)}</select>'
            f'<label class="sr-only" for="att-{sid}">Посещение: {name}</label>'
            f'<select id="att-{sid}" name="att-{sid}" form="att-form" class="att-input">'
            f'<option value=""{"" if status else " selected"}>—</option>{statuses}</select>'
            f'<input type="hidden" name="was-{sid}" value="{escape(status)}" form="att-form"></span></td>')


def _final_cell(n: int, sid: str, name: str, row: dict, form_head: str | None, final_key: str) -> str:
    """The final mark, its warnings (R-F4) and, when the grid is of a period, its form."""
    final = row["final"]
    if final:
        value = int(final["value"])
        shown = f'<span class="mark mark-{value}">{value}</span>' + (
            ' <span class="flag flag-late">поздно</span>' if final.get("late") else "")
    else:
        value, shown = None, "—"
    if row["risk"]:
        shown += '<ul class="warnings">' + "".join(
            f"<li>{escape(RISK_REASONS.get(r, r))}</li>" for r in row["risk"]["reasons"]) + "</ul>"
    if form_head is None:
        return f'<td class="final">{shown}</td>'
    blank = "" if final else '<option value="">—</option>'
    return (f'<td class="final">{shown}{form_head}<input type="hidden" name="key" value="{final_key}-{n}">'
            f'<input type="hidden" name="student" value="{sid}">'
            f'<label class="sr-only" for="final-{sid}">Итоговая оценка: {name}</label>'
            f'<select id="final-{sid}" name="value">{blank}'
            f'{_options(MARK_VALUES, value)}</select> '
            f'<button type="submit" class="small" aria-label="Выставить итоговую: {name}">Выставить</button> '
            f'<span class="save-status" role="status"></span></form></td>')


def heads_html(lessons: list[dict], editing: dict | None, column: str) -> Markup:
    """The lessons' column heads: the date, a link that opens the lesson for
    editing (``column``: the grid's address), the topic in a tooltip, and
    the late and overdue flags."""
    edit_id = editing["id"] if editing else None
    out = []
    for lesson in lessons:
        current = lesson["id"] == edit_id
        date, aria = lesson["date"], ' aria-current="true"' if current else ""
        flags = (' <span class="flag flag-late" title="Урок записан с опозданием">поздно</span>'
                 if lesson["late"] else "") + (
            ' <span class="flag flag-overdue" title="Оценки выставлены позже срока">просрочено</span>'
            if lesson["overdue"] else "")
        out.append(f'<th scope="col" class="lesson-col{" editing" if current else ""}">'
                   f'<a href="{escape(column)}&amp;lesson={escape(lesson["id"])}#grid"'
                   f'{aria} title="{escape(lesson["topic"])}">'
                   f'{escape(date[8:10])}.{escape(date[5:7])}</a>{flags}</th>')
    return Markup("".join(out))


def rows_html(rows: list[dict], lessons: list[dict], cells: dict, editing: dict | None, mark_base: str, *,
              final_action: str | None, csrf: str, final_key: str, subject_id: str, period_id: str | None,
              period_arg: str | None) -> Markup:
    """Every ``<tr>`` of the grid's body: the student, the lessons' cells
    (the edited lesson's with its inputs), the weighted average and the
    final-mark cell (its form only when ``final_action`` is given)."""
    form_head = None
    if final_action is not None:
        form_head = (f'<form method="post" action="{escape(final_action)}" class="js-save final-form">'
                     f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
                     f'<input type="hidden" name="subject" value="{escape(subject_id)}">'
                     f'<input type="hidden" name="period_id" value="{escape(period_id or "")}">'
                     f'<input type="hidden" name="period" value="{escape(period_arg or "")}">')
    edit_id = editing["id"] if editing else None
    key = escape(final_key)
    out = []
    for n, row in enumerate(rows, 1):
        sid, name = escape(row["student"]["id"]), escape(row["student"]["full_name"])
        sid_raw = row["student"]["id"]
        parts = [f'<tr><th scope="row" class="student-col">{name}</th>']
        for lesson in lessons:
            found = cells.get((sid_raw, lesson["id"]))
            parts.append(_editing_cell(sid, name, found, mark_base) if lesson["id"] == edit_id
                         else cell(found, mark_base))
        evidence = row["evidence"]
        average = f"{evidence['weighted']:.2f}".replace(".", ",") if evidence["weighted"] is not None else "—"
        parts.append(f'<td class="evidence">{average} <span class="meta">{evidence["count"]} отм., '
                     f'письм. {evidence["written"]}</span></td>')
        parts.append(_final_cell(n, sid, name, row, form_head, key))
        parts.append("</tr>\n")
        out.append("".join(parts))
    return Markup("".join(out))
