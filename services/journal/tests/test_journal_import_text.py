"""The student import's readers never hand a database broken text (R-S2):
a NUL or a lone UTF-16 surrogate in a cell is that row's error, with its
number, and the other rows are read; a sheet the XML parser cannot read is
the file's error (400), never an unexpected exception (500)."""
from __future__ import annotations

import io
import zipfile

import pytest
from openpyxl import Workbook

from journal.domain import imports as im

HEADER = ["ФИО ученика", "Дата рождения", "Пол", "Логин ученика", "ФИО родителя", "E-mail родителя",
          "Логин родителя"]


def row(n: int, **changes) -> list:
    cells = {"full_name": f"Ученик Номер {n}", "birth_date": "01.03.2015", "sex": "м", "login": f"pupil.{n}",
             "parent_full_name": f"Родитель Номер {n}", "parent_email": f"p{n}@example.ru",
             "parent_login": f"parent.{n}", **changes}
    return [cells[k] for k in ("full_name", "birth_date", "sex", "login", "parent_full_name", "parent_email",
                               "parent_login")]


def csv_bytes(rows) -> bytes:
    return "\n".join(";".join(r) for r in rows).encode("utf-8")


@pytest.mark.parametrize("where", ["full_name", "parent_login", "parent_email"])
def test_a_nul_in_a_csv_cell_is_its_rows_error_and_the_other_rows_are_read(where):
    content = csv_bytes([HEADER, row(1), row(2, **{where: "Иван\x00ов"}), row(3)])
    rows, problems = im.parse_rows(im.read_table(content))
    assert [r.number for r in rows] == [2, 4]
    (problem,) = problems
    assert problem["row"] == 3 and im.LABELS[where] in problem["message"]
    assert "\x00" not in "".join(str(v) for r in rows for v in vars(r).values())
    with pytest.raises(im.FileRejected):  # UTF-16 (NULs from the first line on) is still no CSV we read
        im.read_table("\n".join(";".join(r) for r in [HEADER, row(1)]).encode("utf-16-le"))
    with pytest.raises(im.FileRejected):  # nor is a header with broken text
        im.parse_rows([[*HEADER[:-1], "Логин\x00родителя"], row(1)])


def test_a_lone_surrogate_in_a_cell_is_its_rows_error():
    """Whatever reader gave the cells (a CSV decoder never makes one, a
    future reader might): the row is refused, with its number."""
    rows, problems = im.parse_rows([HEADER, row(1, full_name="Ива\ud800нов"), row(2)])
    assert [r.number for r in rows] == [3]
    assert problems == [{"row": 2, "message": problems[0]["message"]}]
    assert "ФИО ученика" in problems[0]["message"]


def xlsx_with_cell(raw: bytes) -> bytes:
    book = Workbook()
    book.active.append(HEADER)
    book.active.append(row(1, full_name="PLACEHOLDER"))
    plain = io.BytesIO()
    book.save(plain)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(plain.getvalue())) as zin, zipfile.ZipFile(out, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name.endswith("sheet1.xml"):
                data = data.replace(b"PLACEHOLDER", raw)
            zout.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize("raw", [b"a&#0;b", b"a&#xD800;b", b"a\xed\xa0\x80b", b"a\x00b"])
def test_an_xlsx_cell_the_parser_refuses_rejects_the_file_as_unreadable(raw):
    with pytest.raises(im.FileRejected):
        im.read_table(xlsx_with_cell(raw))
