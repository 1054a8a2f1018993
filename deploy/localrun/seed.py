"""The demo school, created through the public API as real users would.

Everything goes through the gateway (so the demo exercises the same paths
as production) with fixed demo passwords printed at start. Seeding happens
once per data dir; a marker file keeps the logins for the next `make run`.
"""
from __future__ import annotations

import datetime as dt
import json
import random
import time
from pathlib import Path

from localrun.client import Api, ApiError

DEMO_PASSWORD = "demo-school-2026"
MARKER = "demo-seed.json"

SUBJECTS = ["Русский язык", "Литература", "Математика", "Английский язык", "История", "Физическая культура"]

STAFF = [
    # login, full name, roles
    ("director", "Орлова Татьяна Михайловна", ["director"]),
    ("deputy", "Морозова Елена Викторовна", ["deputy"]),
    ("smirnova", "Смирнова Ольга Николаевна", ["teacher", "class_teacher"]),
    ("kuznetsov", "Кузнецов Игорь Петрович", ["teacher"]),
    ("volkova", "Волкова Анна Сергеевна", ["teacher", "class_teacher"]),
    ("popov", "Попов Дмитрий Андреевич", ["teacher"]),
]

STUDENTS_5A = [
    ("ivanov.petr", "Иванов Пётр Алексеевич", "М", "Иванова Мария Сергеевна"),
    ("petrova.anna", "Петрова Анна Игоревна", "Ж", "Петров Игорь Викторович"),
    ("sidorov.ilya", "Сидоров Илья Олегович", "М", "Сидорова Наталья Павловна"),
    ("kozlova.dasha", "Козлова Дарья Андреевна", "Ж", "Козлов Андрей Юрьевич"),
    ("novikov.maxim", "Новиков Максим Денисович", "М", "Новикова Ирина Владимировна"),
    ("fedorova.sofia", "Фёдорова София Романовна", "Ж", "Фёдоров Роман Евгеньевич"),
    ("egorov.timur", "Егоров Тимур Артёмович", "М", "Егорова Светлана Олеговна"),
    ("lebedeva.vera", "Лебедева Вера Ильинична", "Ж", "Лебедев Илья Николаевич"),
]

STUDENTS_1A = [
    ("orlov.misha", "Орлов Михаил Кириллович", "М", "Орлова Ксения Андреевна"),
    ("belova.liza", "Белова Елизавета Павловна", "Ж", "Белов Павел Сергеевич"),
    ("gusev.artem", "Гусев Артём Викторович", "М", "Гусева Юлия Игоревна"),
]

TOPICS = {
    "Математика": ["Натуральные числа", "Сложение и вычитание", "Умножение", "Деление с остатком",
                   "Упрощение выражений", "Уравнения", "Площадь прямоугольника", "Объём", "Степень числа"],
    "Русский язык": ["Синтаксис и пунктуация", "Словосочетание", "Предложение", "Главные члены",
                     "Второстепенные члены", "Однородные члены", "Обращение", "Прямая речь", "Диалог"],
}


def year_bounds(today: dt.date):
    start_year = today.year if today.month >= 8 else today.year - 1
    y0, y1 = start_year, start_year + 1
    periods = [
        ("1 четверть", dt.date(y0, 9, 1), dt.date(y0, 10, 26)),
        ("2 четверть", dt.date(y0, 11, 5), dt.date(y0, 12, 28)),
        ("3 четверть", dt.date(y1, 1, 12), dt.date(y1, 3, 22)),
        ("4 четверть", dt.date(y1, 4, 1), dt.date(y1, 5, 31)),
    ]
    return f"{y0}/{y1}", dt.date(y0, 9, 1), dt.date(y1, 5, 31), periods


def school_days(start: dt.date, end: dt.date):
    day = start
    while day <= end:
        if day.weekday() < 5:
            yield day
        day += dt.timedelta(days=1)


def seed(base_url: str, admin_login: str, admin_password: str, today: dt.date | None = None,
         rng: random.Random | None = None) -> dict:
    """Create the demo school; returns the logins to print."""
    today = today or dt.date.today()
    rng = rng or random.Random(2026)
    admin = Api(base_url).login(admin_login, admin_password)

    name, starts, ends, periods = year_bounds(today)
    year = admin.post("/years", {"name": name, "starts_on": starts.isoformat(), "ends_on": ends.isoformat(),
                                 "periods": [{"name": n, "kind": "quarter", "starts_on": a.isoformat(),
                                              "ends_on": b.isoformat()} for n, a, b in periods]})
    subjects = {s: admin.post("/subjects", {"name": s})["id"] for s in SUBJECTS}

    people = {}
    for login, full_name, roles in STAFF:
        people[login] = admin.post("/users", {"login": login, "full_name": full_name, "roles": roles,
                                              "password": DEMO_PASSWORD})["id"]

    c5a = admin.post("/classes", {"year_id": year["id"], "grade": 5, "letter": "А", "class_teacher_id": people["smirnova"]})
    c1a = admin.post("/classes", {"year_id": year["id"], "grade": 1, "letter": "А", "class_teacher_id": people["volkova"]})

    for teacher, cls, subject, hours in [
        ("smirnova", c5a, "Математика", 5), ("kuznetsov", c5a, "Русский язык", 5),
        ("kuznetsov", c5a, "Литература", 3), ("popov", c5a, "Физическая культура", 2),
        ("volkova", c1a, "Математика", 4), ("volkova", c1a, "Русский язык", 5),
    ]:
        admin.post("/assignments", {"teacher_id": people[teacher], "class_id": cls["id"],
                                    "subject_id": subjects[subject], "hours_per_week": hours})

    def add_students(cls, rows, class_teacher_login):
        teacher = Api(base_url).login(class_teacher_login, DEMO_PASSWORD)
        ids = []
        for login, full_name, sex, parent_name in rows:
            sid = teacher.post("/users", {"login": login, "full_name": full_name, "roles": ["student"],
                                          "sex": sex, "password": DEMO_PASSWORD})["id"]
            parent_login = "parent." + login
            # An address, so that the demo's notification e-mails land in var/mail/.
            pid = teacher.post("/users", {"login": parent_login, "full_name": parent_name, "roles": ["parent"],
                                          "email": f"{parent_login}@demo-school.test",
                                          "password": DEMO_PASSWORD})["id"]
            teacher.post(f"/students/{sid}/parents", {"parent_id": pid, "relation": "мать" if parent_name.split()[0].endswith("а") else "отец"})
            teacher.put(f"/parents/{pid}/consent", {"given": True, "signed_on": starts.isoformat()})
            teacher.post(f"/classes/{cls['id']}/students", {"student_id": sid, "order_no": "№ 45-у",
                                                            "on": starts.isoformat()})
            people[login], people[parent_login] = sid, pid
            ids.append(sid)
        return ids

    students_5a = add_students(c5a, STUDENTS_5A, "smirnova")
    add_students(c1a, STUDENTS_1A, "volkova")

    # Three weeks of maths and Russian in 5А, up to yesterday, inside the current period.
    current = next(((a, b) for _, a, b in periods if a <= today <= b), None)
    lessons = 0
    if current:
        first = max(current[0], today - dt.timedelta(days=21))
        teachers = {"Математика": Api(base_url).login("smirnova", DEMO_PASSWORD),
                    "Русский язык": Api(base_url).login("kuznetsov", DEMO_PASSWORD)}
        for number, day in enumerate(school_days(first, today - dt.timedelta(days=1))):
            for subject, teacher in teachers.items():
                topic = TOPICS[subject][number % len(TOPICS[subject])]
                lesson = teacher.post("/lessons", {
                    "class_id": c5a["id"], "subject_id": subjects[subject], "date": day.isoformat(),
                    "topic": topic, "lesson_type": "комбинированный",
                    "homework": f"§{number + 3}, упр. {number * 2 + 10}"})
                lessons += 1
                chosen = rng.sample(students_5a, k=3)
                marks = [{"student_id": s, "value": rng.choice([3, 4, 4, 5, 5, 2]),
                          "kind": rng.choice(["oral", "homework", "test"])} for s in chosen]
                teacher.put(f"/lessons/{lesson['id']}/marks", {"marks": marks})

    # Mail and news (issue 5): the class teacher writes to every parent of 5А,
    # the director posts school news, the deputy an announcement for 5А's parents.
    # Messaging learns classes and parents from events: wait for them briefly.
    def settled(call, tries: int = 50):
        for attempt in range(tries):
            try:
                return call()
            except ApiError as exc:
                if exc.status not in (403, 404) or attempt == tries - 1:
                    raise
                time.sleep(0.2)

    director = Api(base_url).login("director", DEMO_PASSWORD)
    director.post("/news", {"title": "Начало учебного года", "kind": "news", "audience": {"school": True},
                            "body": "Поздравляем учеников, родителей и учителей с началом учебного года!"})
    deputy = Api(base_url).login("deputy", DEMO_PASSWORD)
    settled(lambda: deputy.post("/news", {
        "title": "Родительское собрание 5А", "kind": "announcement", "audience": {"parents_of_class": c5a["id"]},
        "body": "Собрание состоится в пятницу в 18:00 в кабинете 21.",
        "links": [{"title": "Приказ о проведении собраний", "url": "https://example.org/orders/12.pdf"}]}))
    head = Api(base_url).login("smirnova", DEMO_PASSWORD)
    settled(lambda: head.post("/messages", {
        "to_parents_of_class": c5a["id"], "subject": "Экскурсия",
        "body": "Уважаемые родители! В следующую среду класс едет на экскурсию в музей. Классный руководитель."}))

    logins = {
        "admin": admin_login,
        "director": "director", "deputy": "deputy", "class teacher 5А (maths)": "smirnova",
        "teacher (Russian)": "kuznetsov", "student 5А": "ivanov.petr", "parent": "parent.ivanov.petr",
    }
    return {"logins": logins, "password": DEMO_PASSWORD, "lessons": lessons,
            "classes": {"5А": c5a["id"], "1А": c1a["id"]}, "year_id": year["id"],
            "periods": {p["name"]: p["id"] for p in year["periods"]}}


def seed_once(data_dir: Path, base_url: str, admin_login: str, admin_password: str) -> dict:
    marker = data_dir / MARKER
    if marker.exists():
        return json.loads(marker.read_text())
    result = seed(base_url, admin_login, admin_password)
    marker.write_text(json.dumps(result, ensure_ascii=False, indent=2))
    return result
