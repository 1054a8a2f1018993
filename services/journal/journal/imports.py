"""The bulk import of students with their parents (R-S2), pure Python:
read a CSV or XLSX file into numbered rows, check each row and the file as
a whole, and plan what to create. No database, no broker.

A row is one student with one parent; a student with two parents takes two
rows with the same student login. Row numbers are the spreadsheet's (the
header is row 1), so a class teacher finds the row the message names.

Columns (header names in Russian or English, any case and order):
ФИО ученика, дата рождения, пол, логин ученика, ФИО родителя,
e-mail родителя, логин родителя, кем приходится (optional, "родитель").
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass

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


# --- reading the file ----------------------------------------------------------

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
        raise FileRejected("Не удалось прочитать файл XLSX") from None
    try:
        sheet = book.worksheets[0]
        return [list(row) for _, row in zip(range(MAX_ROWS + 2), sheet.iter_rows(values_only=True))]
    except Exception:  # read_only sheets are parsed here, lazily: a broken sheet fails now
        raise FileRejected("Не удалось прочитать файл XLSX") from None
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
        raise FileRejected("Не удалось определить кодировку файла")
    if "\x00" in decoded.split("\n", 1)[0]:  # a binary file (old .xls, UTF-16): NULs from the start
        raise FileRejected("Файл не похож на CSV или XLSX")
    first = decoded.split("\n", 1)[0]
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    return [row for _, row in zip(range(MAX_ROWS + 2), csv.reader(io.StringIO(decoded), delimiter=delimiter))]


def header_map(header: list) -> dict[str, int]:
    """``{column key: index}`` from the header row; unknown headers are
    refused so that a typo does not silently drop a column."""
    found, unknown = {}, []
    if any(_broken(_cell(cell)) for cell in header):
        raise FileRejected("В заголовке файла недопустимые символы")
    for i, cell in enumerate(header):
        name = _cell(cell).casefold()
        if not name:
            continue
        key = _ALIASES.get(name)
        if key is None:
            unknown.append(_cell(cell))
        elif key in found:
            raise FileRejected(f"Столбец «{_cell(cell)}» повторяется")
        else:
            found[key] = i
    if unknown:
        raise FileRejected("Неизвестные столбцы: " + ", ".join(unknown))
    missing = [LABELS[k] for k in REQUIRED if k not in found]
    if missing:
        raise FileRejected("Нет столбцов: " + ", ".join(missing))
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
        raise FileRejected("Файл пуст")
    columns = header_map(table[0])
    if len(table) > MAX_ROWS + 1:
        raise FileRejected(f"Не больше {MAX_ROWS} строк за одну загрузку")
    rows, problems = [], []
    for number, raw in enumerate(table[1:], start=2):
        cells = {key: _cell(raw[i]) if i < len(raw) else "" for key, i in columns.items()}
        if not any(cells.values()):
            continue
        broken = [LABELS[k] for k, v in cells.items() if _broken(v)]
        if broken:  # no database keeps a NUL or a lone surrogate: the row is refused, not the file
            problems.append({"row": number, "message": "Недопустимые символы (нулевой байт или непарный "
                                                       "суррогат) в столбцах: " + ", ".join(broken)})
            continue
        missing = [LABELS[k] for k in REQUIRED if not cells.get(k)]
        if missing:
            problems.append({"row": number, "message": "Не заполнено: " + ", ".join(missing)})
            continue
        born = birth_date(cells["birth_date"])
        if born is None:
            problems.append({"row": number, "message": "Дата рождения: ожидается ДД.ММ.ГГГГ"})
            continue
        rows.append(Row(number=number, full_name=cells["full_name"], birth_date=born, sex=cells["sex"],
                        login=cells["login"], parent_full_name=cells["parent_full_name"],
                        parent_email=cells["parent_email"], parent_login=cells["parent_login"],
                        relation=cells.get("relation") or DEFAULT_RELATION))
    if not rows and not problems:
        raise FileRejected("В файле нет ни одной строки с учениками")
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
            problems.append({"row": row.number, "message": "Логин ученика совпадает с логином родителя"})
            continue
        first = students.setdefault(key, row)
        if (first.full_name, first.birth_date, first.sex) != (row.full_name, row.birth_date, row.sex):
            problems.append({"row": row.number, "message": f"Логин «{row.login}» уже указан в строке "
                                                           f"{first.number} для другого ученика"})
        pfirst = parents.setdefault(pkey, row)
        if (pfirst.parent_full_name, pfirst.parent_email) != (row.parent_full_name, row.parent_email):
            problems.append({"row": row.number, "message": f"Логин родителя «{row.parent_login}» уже указан в "
                                                           f"строке {pfirst.number} для другого человека"})
        if (key, pkey) in pairs:
            problems.append({"row": row.number, "message": "Эта пара ученик-родитель уже есть в файле"})
        pairs.add((key, pkey))
    for row in rows:
        if row.parent_login.casefold() in students:
            problems.append({"row": row.number,
                             "message": f"Логин родителя «{row.parent_login}» указан и как логин ученика"})
    return sorted(problems, key=lambda p: p["row"])


def check_resolution(rows: list[Row], resolved: dict[str, dict], *, enrolled_elsewhere: dict[str, str]) -> list[dict]:
    """Problems identity's answers (``{login casefold: resolve_users
    answer}``) and the journal's enrolments reveal: invalid data, logins of
    another school or with the wrong role, a student already studying in
    another class this year (``{student_id: class name}``: a transfer, not an import)."""
    problems = []
    for row in rows:
        for login, role, who in ((row.login, "student", "ученика"), (row.parent_login, "parent", "родителя")):
            answer = resolved[login.casefold()]
            status = answer["status"]
            if status in ("invalid", "taken"):
                problems.append({"row": row.number, "message": f"Данные {who}: {answer['message']}"})
            elif status == "existing" and role not in answer["roles"]:
                problems.append({"row": row.number,
                                 "message": f"Логин «{login}» принадлежит пользователю без роли «{role}»"})
        answer = resolved[row.login.casefold()]
        if answer["status"] == "existing" and answer["id"] in enrolled_elsewhere:
            problems.append({"row": row.number, "message": f"Ученик уже учится в {enrolled_elsewhere[answer['id']]}: "
                                                           "оформите перевод"})
    return sorted(problems, key=lambda p: p["row"])
