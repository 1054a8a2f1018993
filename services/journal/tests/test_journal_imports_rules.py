"""Unit tests of journal.domain.imports (R-S2): CSV and XLSX are read into numbered
rows, every bad row is reported with its number and reason, the file must
agree with itself and with identity's answers."""
from __future__ import annotations

import io

import pytest
from openpyxl import Workbook

from journal.domain import imports as im

HEADER = ["ФИО ученика", "Дата рождения", "Пол", "Логин ученика", "ФИО родителя", "E-mail родителя",
          "Логин родителя", "Кем приходится"]
ROW_A = ["Иванов Иван Иванович", "01.03.2015", "м", "ivanov.i", "Иванова Мария Петровна", "ivanova@example.ru",
         "ivanova.m", "мать"]
ROW_B = ["Петрова Анна Сергеевна", "2015-07-15", "ж", "petrova.a", "Петров Сергей Олегович", "petrov@example.ru",
         "petrov.s", ""]


def csv_bytes(rows, delimiter=";", encoding="utf-8-sig"):
    return "\n".join(delimiter.join(r) for r in rows).encode(encoding)


def xlsx_bytes(rows):
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_r_s2_csv_semicolon_utf8_and_cp1251_read_the_same():
    for content in (csv_bytes([HEADER, ROW_A, ROW_B]), csv_bytes([HEADER, ROW_A, ROW_B], encoding="cp1251"),
                    csv_bytes([HEADER, ROW_A, ROW_B], delimiter=",")):
        rows, problems = im.parse_rows(im.read_table(content))
        assert problems == []
        assert [(r.number, r.login, r.birth_date, r.relation) for r in rows] == [
            (2, "ivanov.i", "2015-03-01", "мать"), (3, "petrova.a", "2015-07-15", "родитель")]


def test_r_s2_xlsx_with_a_real_date_cell():
    import datetime as dt
    rows, problems = im.parse_rows(im.read_table(xlsx_bytes([HEADER, [*ROW_A[:1], dt.datetime(2015, 3, 1), *ROW_A[2:]]])))
    assert problems == [] and rows[0].birth_date == "2015-03-01" and rows[0].parent_email == "ivanova@example.ru"
    assert rows[0].student() == {"login": "ivanov.i", "full_name": "Иванов Иван Иванович", "roles": ["student"],
                                 "birth_date": "2015-03-01", "sex": "м"}
    assert rows[0].parent()["roles"] == ["parent"]


def test_r_s2_every_bad_row_is_reported_with_its_number_blank_rows_skipped():
    table = [HEADER, ROW_A, [""] * 8, ["Сидоров", "", "м", "sidorov", "", "x@y.ru", "sid.p", ""],
             [*ROW_B[:1], "31.02.2015", *ROW_B[2:]]]
    rows, problems = im.parse_rows(table)
    assert [r.number for r in rows] == [2]
    assert problems == [{"row": 4, "message": "Не заполнено: дата рождения, ФИО родителя"},
                        {"row": 5, "message": "Дата рождения: ожидается ДД.ММ.ГГГГ"}]


@pytest.mark.parametrize("header,message", [
    (HEADER[:-2], "Нет столбцов: логин родителя"),
    ([*HEADER, "Класс"], "Неизвестные столбцы: Класс"),
    ([*HEADER[:7], "Пол"], "Столбец «Пол» повторяется"),
])
def test_r_s2_the_header_must_name_known_columns(header, message):
    with pytest.raises(im.FileRejected) as exc:
        im.parse_rows([header, ROW_A])
    assert str(exc.value) == message


def test_r_s2_empty_or_garbage_file_is_rejected():
    with pytest.raises(im.FileRejected):
        im.parse_rows(im.read_table(b""))
    with pytest.raises(im.FileRejected):
        im.parse_rows([HEADER, [""] * 8])
    with pytest.raises(im.FileRejected):
        im.read_table(b"PK\x03\x04not really a zip")
    with pytest.raises(im.FileRejected):
        im.parse_rows([HEADER] + [ROW_A] * (im.MAX_ROWS + 1))


def rows_of(*raw):
    rows, problems = im.parse_rows([HEADER, *raw])
    assert problems == []
    return rows


def test_r_s2_a_student_with_two_parents_takes_two_rows():
    second = [*ROW_A[:4], "Иванов Пётр", "ivanov.p@example.ru", "ivanov.p", "отец"]
    assert im.check_consistency(rows_of(ROW_A, second)) == []


def test_r_s2_the_file_must_agree_with_itself():
    other_kid_same_login = [*ROW_B[:3], "ivanov.i", *ROW_B[4:]]
    parent_is_a_student = [*ROW_B[:6], "ivanov.i", ""]
    problems = im.check_consistency(rows_of(ROW_A, other_kid_same_login, ROW_A, parent_is_a_student))
    assert {"row": 3, "message": "Логин «ivanov.i» уже указан в строке 2 для другого ученика"} in problems
    assert {"row": 4, "message": "Эта пара ученик-родитель уже есть в файле"} in problems
    assert {"row": 5, "message": "Логин родителя «ivanov.i» указан и как логин ученика"} in problems


def test_r_s2_identity_answers_and_enrolments_make_row_errors():
    rows = rows_of(ROW_A, ROW_B)
    resolved = {
        "ivanov.i": {"status": "existing", "id": "u1", "roles": ["student"], "parent_ids": []},
        "ivanova.m": {"status": "invalid", "message": "Неверный адрес почты"},
        "petrova.a": {"status": "existing", "id": "u2", "roles": ["teacher"], "parent_ids": []},
        "petrov.s": {"status": "taken", "message": "Логин «petrov.s» уже занят"},
    }
    problems = im.check_resolution(rows, resolved, enrolled_elsewhere={"u1": "5Б"})
    assert problems == [
        {"row": 2, "message": "Данные родителя: Неверный адрес почты"},
        {"row": 2, "message": "Ученик уже учится в 5Б: оформите перевод"},
        {"row": 3, "message": "Логин «petrova.a» принадлежит пользователю без роли «student»"},
        {"row": 3, "message": "Данные родителя: Логин «petrov.s» уже занят"},
    ]
    fine = {k: {"status": "new"} for k in resolved}
    assert im.check_resolution(rows, fine, enrolled_elsewhere={}) == []
