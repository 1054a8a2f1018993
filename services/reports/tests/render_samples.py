"""Synthetic report documents for the renderer tests and the bench."""
from __future__ import annotations

import datetime as dt

SURNAMES = ["Алексеева", "Борисов", "Васильева", "Григорьев", "Дмитриева", "Ёлкин", "Жукова", "Зайцев",
            "Иванова", "Калинин", "Лебедева", "Морозов", "Никитина", "Орлов", "Павлова", "Романов",
            "Смирнова", "Тихонов", "Уварова", "Фёдоров", "Харитонова", "Цветков", "Чернова", "Шубин"]
NAMES = ["Мария", "Иван", "Анна", "Пётр", "Елена", "Сергей", "Ольга", "Дмитрий"]
SUBJECTS = ["Русский язык", "Литература", "Математика", "История", "Обществознание", "География",
            "Биология", "Физика", "Химия", "Информатика", "Английский язык", "Музыка", "ИЗО",
            "Технология", "Физическая культура", "ОБЖ"]


def student(i: int) -> str:
    return f"{SURNAMES[i % len(SURNAMES)]} {NAMES[(i // len(SURNAMES)) % len(NAMES)]}"


def header(**extra):
    return {"school": "МБОУ «Средняя общеобразовательная школа № 17 имени А. С. Пушкина»",
            "class": "5А", "period": "1 четверть 2026/2027",
            "printed_at": "2026-10-27T09:15:00+03:00", **extra}


def long_portrait(rows: int = 150) -> dict:
    """A portrait list of ``rows`` students (3 pages and more), None cells,
    all column types, totals, a note and signatures."""
    columns = [
        {"key": "n", "title": "№", "type": "int"},
        {"key": "name", "title": "Ученик", "type": "text"},
        {"key": "born", "title": "Дата рождения", "type": "date"},
        {"key": "count", "title": "Отметок", "type": "int"},
        {"key": "avg", "title": "Средний балл", "type": "number"},
        {"key": "att", "title": "Посещаемость", "type": "percent"},
        {"key": "comment", "title": "Примечание", "type": "text"},
    ]
    data = []
    for i in range(rows):
        data.append({
            "n": i + 1, "name": student(i),
            "born": (dt.date(2015, 1, 1) + dt.timedelta(days=17 * i)).isoformat(),
            "count": 10 + i % 7,
            "avg": None if i % 11 == 5 else round(3 + (i % 20) / 10, 2),
            "att": None if i % 13 == 7 else round(80 + (i % 21), 1),
            "comment": "Переведён из 5Б (приказ № 12-у от 01.09.2026)" if i % 17 == 3 else None,
        })
    return {"kind": "sample", "document": {
        "title": "Итоги успеваемости", "subtitle": "5А класс, 1 четверть",
        "orientation": "portrait", "header": header(),
        "sections": [{"title": "Ученики класса",
                      "table": {"columns": columns, "rows": data,
                                "totals": {"name": "Итого", "count": sum(r["count"] for r in data),
                                           "avg": 4.12, "att": 90.5}},
                      "chart": None, "note": "Средний балл взвешенный; пустая клетка: отметок нет."}],
        "signatures": ["Классный руководитель", "Заместитель директора по УВР"],
    }}


def wide_landscape(students: int = 30) -> dict:
    """A landscape summary sheet: students × 16 subjects, and a chart."""
    columns = [{"key": "name", "title": "Ученик", "type": "text"}]
    columns += [{"key": f"s{j}", "title": s, "type": "int"} for j, s in enumerate(SUBJECTS)]
    columns += [{"key": "avg", "title": "Средний балл", "type": "number"},
                {"key": "missed", "title": "Пропущено уроков", "type": "int"}]
    rows = []
    for i in range(students):
        row = {"name": student(i), "avg": round(3.5 + (i % 15) / 10, 2), "missed": i % 9}
        for j in range(len(SUBJECTS)):
            row[f"s{j}"] = None if (i + j) % 19 == 0 else 2 + (i * 7 + j * 3) % 4
        rows.append(row)
    return {"kind": "sample", "document": {
        "title": "Сводная ведомость успеваемости", "subtitle": None,
        "orientation": "landscape", "header": header(),
        "sections": [
            {"title": "Итоговые отметки", "table": {"columns": columns, "rows": rows, "totals": None},
             "chart": None, "note": None},
            {"title": "Распределение отметок",
             "table": None,
             "chart": {"type": "bar", "title": "Отметки по предметам",
                       "labels": SUBJECTS[:8],
                       "series": [{"name": "«5»", "values": [5, 7, 4, 6, 3, 8, 5, 6]},
                                  {"name": "«4»", "values": [12, 10, 13, 9, 14, 10, 11, 12]},
                                  {"name": "«3»", "values": [8, 9, 8, 10, 9, 7, 9, 8]},
                                  {"name": "«2»", "values": [1, 0, 2, 1, 0, 1, None, 0]}]},
             "note": "Отметки четвертных итогов."},
        ],
        "signatures": ["Заместитель директора по УВР"],
    }}


def with_chart() -> dict:
    """A short portrait report: a small table and a one-series chart."""
    weeks = [f"{d:%d.%m}" for d in (dt.date(2026, 9, 1) + dt.timedelta(weeks=w) for w in range(8))]
    values = [96.5, 94.0, 91.2, 95.8, 97.1, 89.9, 93.3, 95.0]
    return {"kind": "sample", "document": {
        "title": "Посещаемость", "subtitle": "5А класс, сентябрь — октябрь",
        "orientation": "portrait", "header": header(),
        "sections": [
            {"title": "По неделям",
             "table": {"columns": [{"key": "week", "title": "Неделя с", "type": "text"},
                                   {"key": "share", "title": "Присутствовали", "type": "percent"},
                                   {"key": "missed", "title": "Пропущено уроков", "type": "int"}],
                       "rows": [{"week": w, "share": v, "missed": int(100 - v)} for w, v in zip(weeks, values)],
                       "totals": {"week": "Итого", "share": 94.1, "missed": 48}},
             "chart": {"type": "bar", "title": "Доля присутствовавших, %", "labels": weeks,
                       "series": [{"name": "Присутствовали", "values": values}]},
             "note": None}],
        "signatures": [],
    }}


def big(rows: int = 1000, columns: int = 20) -> dict:
    """A big sheet: ``rows`` × ``columns`` of mixed types."""
    types = ["text", "int", "number", "percent", "date"]
    cols = [{"key": f"c{j}", "title": f"Колонка {j}", "type": types[j % len(types)]} for j in range(columns)]

    def value(i, j):
        t = types[j % len(types)]
        if t == "text":
            return student(i + j)
        if t == "int":
            return i * j % 97
        if t == "number":
            return (i * 31 + j) % 500 / 100
        if t == "percent":
            return (i + j) % 101
        return (dt.date(2026, 9, 1) + dt.timedelta(days=(i + j) % 120)).isoformat()

    return {"kind": "sample", "document": {
        "title": "Большая таблица", "subtitle": None, "orientation": "landscape", "header": header(),
        "sections": [{"title": "Данные", "table": {"columns": cols, "rows": [
            {f"c{j}": value(i, j) for j in range(columns)} for i in range(rows)], "totals": None},
            "chart": None, "note": None}],
        "signatures": []}}


def journal_archive(students: int = 25, subjects: int = 3, weekly: tuple = (5, 3, 2)) -> dict:
    """A class journal of a school year: September to May, ``weekly[i]``
    lessons a week of subject i, marks, attendance and final marks."""
    year_id = "year-2026"
    periods = [{"id": f"q{i}", "name": f"{i} четверть"} for i in range(1, 5)]
    roster = [{"id": f"st{i}", "full_name": student(i), "note": "выбыл 12.03.2027" if i == 4 else None}
              for i in range(students)]
    teachers = ["Иванова Анна Петровна", "Петров Сергей Иванович", "Сидорова Ольга Викторовна"]
    statuses = ["absent", "ill", "excused", "late"]
    out_subjects = []
    for s in range(subjects):
        name = SUBJECTS[(2, 0, 7, 3, 5)[s % 5]] if s < 5 else SUBJECTS[s % len(SUBJECTS)]
        lessons, marks, attendance = [], [], []
        day, n = dt.date(2026, 9, 1), 0
        per_week = weekly[s % len(weekly)]
        while day <= dt.date(2027, 5, 25):
            if day.weekday() < per_week and not (dt.date(2026, 12, 29) <= day <= dt.date(2027, 1, 8)):
                n += 1
                lesson_id = f"{s}-l{n}"
                lessons.append({"id": lesson_id, "date": day.isoformat(),
                                "topic": f"Тема {n}: {name.lower()}, параграф {n}",
                                "homework": f"§ {n}, упражнения {n * 3}–{n * 3 + 2}" if n % 3 else None})
                for i, st in enumerate(roster):
                    if (i + n + s) % 6 == 0:
                        marks.append({"student_id": st["id"], "lesson_id": lesson_id,
                                      "value": 2 + (i * 3 + n + s) % 4})
                    if (i * 7 + n * 3 + s) % 23 == 0:
                        attendance.append({"student_id": st["id"], "lesson_id": lesson_id,
                                           "status": statuses[(i + n) % 4]})
            day += dt.timedelta(days=1)
        finals = []
        for i, st in enumerate(roster):
            for q, period in enumerate(periods):
                if not (i == 4 and q == 3):
                    finals.append({"student_id": st["id"], "period_id": period["id"],
                                   "value": 3 + (i + q + s) % 3})
            if i != 4:
                finals.append({"student_id": st["id"], "period_id": year_id, "value": 3 + (i + s) % 3})
        out_subjects.append({"id": f"sub{s}", "name": name, "teacher": teachers[s % len(teachers)],
                             "lessons": lessons, "marks": marks, "attendance": attendance, "finals": finals})
    return {"school": header()["school"], "printed_at": "2027-06-01T10:00:00+03:00",
            "year": {"id": year_id, "name": "2026/2027", "closed_order": "№ 85-о от 31.05.2027"},
            "class": {"id": "c5a", "name": "5А", "class_teacher": "Иванова Анна Петровна"},
            "periods": periods, "students": roster, "subjects": out_subjects}
