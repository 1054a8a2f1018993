"""Rules of the two imports.

Students with their parents (R-S2): read a CSV or XLSX file into numbered
rows, check each row and the file as a whole, and count what an applied
import changed. A row is one student with one parent; a student with two
parents takes two rows with the same student login. Row numbers are the
spreadsheet's (the header is row 1), so a class teacher finds the row the
message names. Columns (header names in Russian or English, any case and
order): ФИО ученика, дата рождения, пол, логин ученика, ФИО родителя,
e-mail родителя, логин родителя, кем приходится (optional, "родитель").

Lessons from the paper journal (R-J1): a school that moves to this journal
mid-year transcribes the lessons already held without making every one of
them look like a late electronic entry. Only the admin imports; every
imported lesson says so (``imported``) with ``recorded_on``, the day of its
paper entry, and ``entered_at`` stays the real moment of the import; late
and overdue are computed from ``recorded_on`` exactly as R-J5 computes them
from the entry day; only lessons already held; each lesson names the teacher
who gave it, who must keep that journal (a substitute too).

Pure: no database, no broker.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass

from kernel.context import CallContext
from kernel.errors import ServiceError

from journal import errors
from journal.domain.common import _invalid, ident, parse_date, require_mapping
from journal.domain.lessons import LessonSpec, entry_flags, require_journal_access, validate_lesson


MAX_ROWS = 1000
XLSX_MAGIC = b"PK\x03\x04"
DEFAULT_RELATION = "родитель"
COLUMNS = {
    "full_name": ("фио ученика", "ученик", "фио", "full_name", "student_full_name"),
    "birth_date": ("дата рождения", "дата рождения ученика", "birth_date"),
    "sex": ("пол", "sex"),
    "login": ("логин ученика", "логин", "login", "student_login"),
    "parent_full_name": ("фио родителя", "родитель", "parent_full_name"),
    "parent_email": ("e-mail родителя", "email родителя", "эл. почта родителя", "почта родителя", "parent_email"),
    "parent_login": ("логин родителя", "parent_login"),
    "relation": ("кем приходится", "степень родства", "relation"),
}
REQUIRED = ("full_name", "birth_date", "sex", "login", "parent_full_name", "parent_email", "parent_login")
LABELS = {"full_name": "ФИО ученика", "birth_date": "дата рождения", "sex": "пол", "login": "логин ученика",
          "parent_full_name": "ФИО родителя", "parent_email": "e-mail родителя", "parent_login": "логин родителя",
          "relation": "кем приходится"}
_ALIASES = {alias: key for key, aliases in COLUMNS.items() for alias in aliases}
_RU_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")


class FileRejected(ValueError):
    """The file as a whole cannot be read (not a row's fault)."""


@dataclass(frozen=True)
class Row:
    number: int
    full_name: str
    birth_date: str          # YYYY-MM-DD
    sex: str
    login: str
    parent_full_name: str
    parent_email: str
    parent_login: str
    relation: str

    def student(self) -> dict:
        """``create_user`` data of the student."""
        return {"login": self.login, "full_name": self.full_name, "roles": ["student"],
                "birth_date": self.birth_date, "sex": self.sex}

    def parent(self) -> dict:
        """``create_user`` data of the parent."""
        return {"login": self.parent_login, "full_name": self.parent_full_name, "roles": ["parent"],
                "email": self.parent_email}


def read_table(content: bytes) -> list[list]:
    """The file's cells, row by row: XLSX (first sheet) or CSV (UTF-8 or
    Windows-1251, ``;`` or ``,``)."""
    if content.startswith(XLSX_MAGIC):
        return _read_xlsx(content)
    return _read_csv(content)


def _read_xlsx(content: bytes) -> list[list]:
    from openpyxl import load_workbook  # imported here: only imports pay for it
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a broken archive
        raise FileRejected(errors.text("file_xlsx_unreadable")) from None
    try:
        sheet = book.worksheets[0]
        return [list(row) for _, row in zip(range(MAX_ROWS + 2), sheet.iter_rows(values_only=True))]
    except Exception:  # read_only sheets are parsed here, lazily: a broken sheet fails now
        raise FileRejected(errors.text("file_xlsx_unreadable")) from None
    finally:
        book.close()


def _read_csv(content: bytes) -> list[list]:
    for encoding in ("utf-8-sig", "cp1251"):
        try:
            decoded = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - cp1251 decodes any byte string
        raise FileRejected(errors.text("file_encoding_unknown"))
    if "\x00" in decoded.split("\n", 1)[0]:  # a binary file (old .xls, UTF-16): NULs from the start
        raise FileRejected(errors.text("file_not_a_table"))
    first = decoded.split("\n", 1)[0]
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    return [row for _, row in zip(range(MAX_ROWS + 2), csv.reader(io.StringIO(decoded), delimiter=delimiter))]


def header_map(header: list) -> dict[str, int]:
    """``{column key: index}`` from the header row; unknown headers are
    refused so that a typo does not silently drop a column."""
    found, unknown = {}, []
    if any(_broken(_cell(cell)) for cell in header):
        raise FileRejected(errors.text("file_header_broken"))
    for i, cell in enumerate(header):
        name = _cell(cell).casefold()
        if not name:
            continue
        key = _ALIASES.get(name)
        if key is None:
            unknown.append(_cell(cell))
        elif key in found:
            raise FileRejected(errors.text("file_column_twice", column=_cell(cell)))
        else:
            found[key] = i
    if unknown:
        raise FileRejected(errors.text("file_columns_unknown", columns=", ".join(unknown)))
    missing = [LABELS[k] for k in REQUIRED if k not in found]
    if missing:
        raise FileRejected(errors.text("file_columns_missing", columns=", ".join(missing)))
    return found


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())


_BROKEN = re.compile("[\x00\ud800-\udfff]")


def _broken(text: str) -> bool:
    """A NUL (PostgreSQL refuses it in text) or a lone surrogate (not UTF-8);
    an XLSX cell carries either as ``_x0000_`` / ``_xD800_``."""
    return _BROKEN.search(text) is not None


def birth_date(value: str) -> str | None:
    """``ДД.ММ.ГГГГ`` or ``ГГГГ-ММ-ДД`` (what a spreadsheet gives) as ISO."""
    m = _RU_DATE.match(value)
    try:
        if m:
            return dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1))).isoformat()
        return dt.date.fromisoformat(value).isoformat() if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else None
    except ValueError:
        return None


def parse_rows(table: list[list]) -> tuple[list[Row], list[dict]]:
    """Rows and row errors ``[{row, message}]`` (every one, not the first).
    Blank rows are skipped; the file's own problems raise FileRejected."""
    if not table:
        raise FileRejected(errors.text("file_empty"))
    columns = header_map(table[0])
    if len(table) > MAX_ROWS + 1:
        raise FileRejected(errors.text("file_too_many_rows", max_rows=MAX_ROWS))
    rows, problems = [], []
    for number, raw in enumerate(table[1:], start=2):
        cells = {key: _cell(raw[i]) if i < len(raw) else "" for key, i in columns.items()}
        if not any(cells.values()):
            continue
        broken = [LABELS[k] for k, v in cells.items() if _broken(v)]
        if broken:  # no database keeps a NUL or a lone surrogate: the row is refused, not the file
            problems.append({"row": number, "message": errors.text("row_cells_broken", columns=", ".join(broken))})
            continue
        missing = [LABELS[k] for k in REQUIRED if not cells.get(k)]
        if missing:
            problems.append({"row": number, "message": errors.text("row_cells_missing", columns=", ".join(missing))})
            continue
        born = birth_date(cells["birth_date"])
        if born is None:
            problems.append({"row": number, "message": errors.text("row_birth_date")})
            continue
        rows.append(Row(number=number, full_name=cells["full_name"], birth_date=born, sex=cells["sex"],
                        login=cells["login"], parent_full_name=cells["parent_full_name"],
                        parent_email=cells["parent_email"], parent_login=cells["parent_login"],
                        relation=cells.get("relation") or DEFAULT_RELATION))
    if not rows and not problems:
        raise FileRejected(errors.text("file_no_students"))
    return rows, problems


def check_consistency(rows: list[Row]) -> list[dict]:
    """The file agrees with itself: one login is one person everywhere
    (the same student on two rows has the same data; a login is not both
    a student and a parent), and a student-parent pair appears once."""
    problems = []
    students: dict[str, Row] = {}
    parents: dict[str, Row] = {}
    pairs: set[tuple[str, str]] = set()
    for row in rows:
        key, pkey = row.login.casefold(), row.parent_login.casefold()
        if key == pkey:
            problems.append({"row": row.number, "message": errors.text("row_login_is_parent_login")})
            continue
        first = students.setdefault(key, row)
        if (first.full_name, first.birth_date, first.sex) != (row.full_name, row.birth_date, row.sex):
            problems.append({"row": row.number, "message": errors.text("row_login_taken_in_file", login=row.login,
                                                                       number=first.number)})
        pfirst = parents.setdefault(pkey, row)
        if (pfirst.parent_full_name, pfirst.parent_email) != (row.parent_full_name, row.parent_email):
            problems.append({"row": row.number, "message": errors.text(
                "row_parent_login_taken_in_file", parent_login=row.parent_login, number=pfirst.number)})
        if (key, pkey) in pairs:
            problems.append({"row": row.number, "message": errors.text("row_pair_twice")})
        pairs.add((key, pkey))
    for row in rows:
        if row.parent_login.casefold() in students:
            problems.append({"row": row.number, "message": errors.text(
                "row_parent_login_is_student_login", parent_login=row.parent_login)})
    return sorted(problems, key=lambda p: p["row"])


def check_resolution(rows: list[Row], resolved: dict[str, dict], *, enrolled_elsewhere: dict[str, str]) -> list[dict]:
    """Problems identity's answers (``{login casefold: resolve_users
    answer}``) and the journal's enrolments reveal: invalid data, logins of
    another school or with the wrong role, a student already studying in
    another class this year (``{student_id: class name}``: a transfer, not an import)."""
    problems = []
    for row in rows:
        for login, role, who in ((row.login, "student", "row_student_data"), (row.parent_login, "parent",
                                                                              "row_parent_data")):
            answer = resolved[login.casefold()]
            status = answer["status"]
            if status in ("invalid", "taken"):
                problems.append({"row": row.number, "message": errors.text(who, message=answer["message"])})
            elif status == "existing" and role not in answer["roles"]:
                problems.append({"row": row.number,
                                 "message": errors.text("row_login_without_role", login=login, role=role)})
        answer = resolved[row.login.casefold()]
        if answer["status"] == "existing" and answer["id"] in enrolled_elsewhere:
            problems.append({"row": row.number, "message": errors.text("row_enrolled_elsewhere",
                                                                       class_name=enrolled_elsewhere[answer['id']])})
    return sorted(problems, key=lambda p: p["row"])


def imports_summary(rows, ids, made, linked, enrolled) -> dict:
    """Per student of the file: created (their account is new), updated
    (something else was done: a parent created or linked, an enrolment),
    unchanged (everything was already in place)."""
    outcome: dict[str, str] = {}
    for row in rows:
        key, pkey = row.login.casefold(), row.parent_login.casefold()
        if key in made:
            now = "created"
        elif pkey in made or row.number in linked or ids[key] in enrolled:
            now = "updated"
        else:
            now = "unchanged"
        before = outcome.get(key)
        if before is None or (before, now) in (("unchanged", "updated"),):
            outcome[key] = now
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for value in outcome.values():
        counts[value] += 1
    return counts


# --- lessons from the paper journal -------------------------------------------

MAX_LESSONS = 1000


@dataclass(frozen=True)
class ImportedLesson:
    row: int                  # the index in ``lessons``
    teacher_id: str
    spec: LessonSpec
    recorded_on: dt.date


def at_row(row: int, exc: ServiceError) -> ServiceError:
    """The same error, saying which lesson of the request it is about."""
    details = dict(exc.details or {})
    if "field" in details:
        details["field"] = f"lessons[{row}].{details['field']}"
    details["row"] = row
    return type(exc)(exc.message, code=exc.code, details=details)


def validate_import(data) -> list[ImportedLesson]:
    """Decode ``import_lessons`` data: ``{lessons: [{teacher_id, recorded_on,
    ...the fields of POST /lessons}]}``; every lesson is checked before any
    is written."""
    data = require_mapping(data, "data")
    items = data.get("lessons")
    if not isinstance(items, list) or not items:
        raise _invalid("lessons", errors.text("lessons_empty"))
    if len(items) > MAX_LESSONS:
        raise _invalid("lessons", errors.text("lessons_too_many", max_lessons=MAX_LESSONS))
    out = []
    for row, item in enumerate(items):
        try:
            item = require_mapping(item, "item")
            teacher_id = ident(item.get("teacher_id"), "teacher_id")
            spec = validate_lesson(item, actor_id=teacher_id)
            recorded_on = parse_date(item.get("recorded_on"), "recorded_on")
        except ServiceError as exc:
            raise at_row(row, exc) from None
        out.append(ImportedLesson(row, teacher_id, spec, recorded_on))
    return out


def check_dates(lesson_date: dt.date, recorded_on: dt.date, today: dt.date) -> tuple[bool, bool]:
    """Only past lessons, entered on paper on or after their day and not in
    the future; ``(late, overdue)`` by R-J5 from the paper entry's day."""
    if lesson_date >= today:
        raise _invalid("date", errors.text("paper_lesson_not_past"))
    if recorded_on < lesson_date:
        raise _invalid("recorded_on", errors.text("paper_entry_before_lesson"))
    if recorded_on > today:
        raise _invalid("recorded_on", errors.text("paper_entry_in_future"))
    return entry_flags(lesson_date, recorded_on)


def require_teacher(teacher_id: str, roles, *, class_teacher_id: str | None, assigned_subgroups,
                    subgroup_id: str | None, replaced_subgroups=None) -> None:
    """The teacher named keeps this journal (R-A3, R-S5), as if they entered
    it themselves (:func:`journal.domain.lessons.require_journal_access`): ``roles``
    are theirs; ``replaced_subgroups`` when the lesson names ``substitute_for``."""
    teacher = CallContext(teacher_id, "-", frozenset(roles or ()))
    try:
        require_journal_access(teacher, class_teacher_id=class_teacher_id, subgroup_id=subgroup_id,
                               assigned_subgroups=assigned_subgroups, replaced_subgroups=replaced_subgroups)
    except errors.NotAssigned:
        raise errors.NotAssigned(errors.text("teacher_not_assigned"),
                                 details={"field": "teacher_id"}) from None
