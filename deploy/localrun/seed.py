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
    ("secretary", "Лебедева Галина Петровна", ["secretary"]),
]

# What `make run` says of each staff login.
STAFF_DUTIES = {
    "director": "director",
    "deputy": "deputy head",
    "smirnova": "teacher of maths, class teacher of 5А",
    "kuznetsov": "teacher of Russian and literature (5А)",
    "volkova": "teacher of maths and Russian, class teacher of 1А",
    "popov": "teacher of PE (5А)",
    "secretary": "school secretary (news and announcements)",
}

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

# 5А's week: (weekday numbers, subject, teacher login)
TIMETABLE_5A = [
    (range(5), "Математика", "smirnova"), (range(5), "Русский язык", "kuznetsov"),
    ((1, 3), "Литература", "kuznetsov"), ((0, 2), "Физическая культура", "popov"),
]
WORK_KINDS = ["oral", "oral", "homework", "test", "practical"]

TOPICS = {
    "Математика": ["Натуральные числа", "Сложение и вычитание", "Умножение", "Деление с остатком",
                   "Упрощение выражений", "Уравнения", "Площадь прямоугольника", "Объём", "Степень числа"],
    "Русский язык": ["Синтаксис и пунктуация", "Словосочетание", "Предложение", "Главные члены",
                     "Второстепенные члены", "Однородные члены", "Обращение", "Прямая речь", "Диалог"],
    "Литература": ["Устное народное творчество", "Русские народные сказки", "Басни Крылова",
                   "Пушкин. Сказка о мёртвой царевне", "Лермонтов. Бородино", "Гоголь. Вечера на хуторе"],
    "Физическая культура": ["Лёгкая атлетика: бег 60 м", "Прыжок в длину", "Подвижные игры",
                            "Волейбол: передача мяча", "Гимнастика", "Теория: режим дня"],
}


def year_bounds(today: dt.date):
    """The school year the demo shows: the one of the latest quarter that
    ended before ``today``, so that the demo always has a finished quarter
    with final marks. From 27 October (1st quarter over) on that is the year
    begun this September; before it (January to May: the year begun last
    September; June to 26 October: last year, its 4th quarter finished) the
    year begun the September before."""
    start_year = today.year if (today.month, today.day) > (10, 26) else today.year - 1
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


def school_today() -> dt.date:
    """Today in the school's time zone: the journal's late flags and
    correction windows count in it, not in the server's UTC."""
    from kernel.config import load
    return dt.datetime.now(load().timezone).date()


def seed(base_url: str, admin_login: str, admin_password: str, today: dt.date | None = None,
         rng: random.Random | None = None, max_days: int | None = None) -> dict:
    """Create the demo school; returns the logins to print."""
    today = today or school_today()
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

    lessons, extras = seed_term(base_url, today, rng, periods, year, subjects, c5a, c1a, students_5a,
                                [people[login] for login, *_ in STUDENTS_1A], max_days=max_days,
                                admin=admin, teacher_ids={login: people[login] for login, *_ in STAFF})

    # Mail and news: the class teacher writes to every parent of 5А,
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

    users = [{"login": admin_login, "id": admin.user["id"], "role": "administrator"}]
    users += [{"login": login, "id": people[login], "role": STAFF_DUTIES[login]} for login, *_ in STAFF]
    for cls, rows in (("5А", STUDENTS_5A), ("1А", STUDENTS_1A)):
        for login, *_ in rows:
            users.append({"login": login, "id": people[login], "role": f"student of {cls}", "class": cls})
            users.append({"login": "parent." + login, "id": people["parent." + login],
                          "role": f"parent of {login}", "class": cls})
    return {"users": users, "password": DEMO_PASSWORD, "lessons": lessons, **extras,
            "classes": {"5А": c5a["id"], "1А": c1a["id"]}, "year_id": year["id"], "year": name,
            "periods": {p["name"]: p["id"] for p in year["periods"]}}


def format_logins(demo: dict, admin_login: str, admin_password: str) -> str:
    """Every demo login with its role and class, as `make run` prints it
    (a marker of an older seed has only ``logins``: role -> login)."""
    users = demo.get("users") or [{"login": login, "role": role} for role, login in demo.get("logins", {}).items()]
    lines = [f"  Admin login: {admin_login} / {admin_password}",
             f"  Demo logins (password {demo['password']}; ids in demo-seed.json):"]
    width = max([len(u["login"]) for u in users] + [10]) + 2
    for user in users:
        if user["login"] != admin_login:
            lines.append(f"    {user['login']:<{width}}{user['role']}")
    return "\n".join(lines)


def term_bounds(periods, today: dt.date):
    """The term the demo shows: from the start of the finished quarter (the
    latest one that ended before ``today``) to yesterday, within the year;
    (None, None) when no quarter has ended yet."""
    ordered = sorted((a, b) for _, a, b in periods)
    finished = [(a, b) for a, b in ordered if b < today]
    if not finished:
        return None, None
    return finished[-1][0], min(today - dt.timedelta(days=1), ordered[-1][1])


def finished_quarters(periods, today: dt.date) -> list[str]:
    """The names of the quarters of the demo's term that are over: the ones
    that get final marks."""
    first, _ = term_bounds(periods, today)
    if first is None:
        return []
    return [name for name, a, b in periods if first <= b < today]


# How the demo's past term was kept on paper before the school moved to this
# journal (R-J5): most lessons entered on their day, some within the 3-day
# grace, a few later. Days after the lesson -> weight.
PAPER_LAG = {0: 80, 1: 8, 2: 4, 3: 2, 4: 3, 6: 2, 9: 1}
# The last school days before "today" are entered in this journal by the
# teachers themselves, now: they are honestly late.
LIVE_DAYS = 3
IMPORT_CHUNK = 200


def plan_term(days, rng, subjects, c5a, c1a, teacher_ids):
    """Every lesson of the term as ``(login, body)``, in date order, with the
    day its paper entry was made (``recorded_on``) drawn from PAPER_LAG."""
    lags, weights = list(PAPER_LAG), list(PAPER_LAG.values())
    plan = []
    for number, day in enumerate(days):
        for weekdays, subject, login in TIMETABLE_5A:
            if day.weekday() not in weekdays:
                continue
            topic = TOPICS[subject][number % len(TOPICS[subject])]
            control = subject == "Математика" and day.weekday() == 3
            plan.append((login, {
                "class_id": c5a["id"], "subject_id": subjects[subject], "date": day.isoformat(),
                "topic": ("Контрольная работа: " + topic) if control else topic, "lesson_type": "комбинированный",
                "work_type": "контрольная работа" if control else None,
                "homework": f"§{number + 3}, упр. {number * 2 + 10}"}))
        # 1А: topics and attendance only, no marks and no homework (R-J4)
        plan.append(("volkova", {"class_id": c1a["id"], "subject_id": subjects["Математика"], "date": day.isoformat(),
                                 "topic": "Счёт до " + str(10 + number % 10), "lesson_type": "урок"}))
    for login, body in plan:
        lag = rng.choices(lags, weights)[0]
        body["recorded_on"] = (dt.date.fromisoformat(body["date"]) + dt.timedelta(days=lag)).isoformat()
        body["teacher_id"] = teacher_ids.get(login)
    return plan


def enter_lessons(admin, api, plan, live_from: dt.date, today: dt.date) -> list[dict]:
    """The lessons of ``plan``: before ``live_from`` transcribed from the paper
    journal by the admin (POST /imports/lessons, marked imported, late only
    when the paper entry was), from then on recorded by their teachers
    (POST /lessons, late because entered now). The answers in plan order."""
    out: list = [None] * len(plan)
    paper = [i for i, (_, body) in enumerate(plan) if dt.date.fromisoformat(body["date"]) < live_from]
    for start in range(0, len(paper), IMPORT_CHUNK):
        chunk = paper[start:start + IMPORT_CHUNK]
        bodies = [{**plan[i][1], "recorded_on": min(plan[i][1]["recorded_on"], today.isoformat())} for i in chunk]
        answer = admin.post("/imports/lessons", {"lessons": [{k: v for k, v in b.items() if v is not None}
                                                             for b in bodies]})
        for i, lesson in zip(chunk, answer["lessons"]):
            out[i] = lesson
    for i, (login, body) in enumerate(plan):
        if out[i] is None:
            out[i] = api[login].post("/lessons", {k: v for k, v in body.items()
                                                  if k not in ("teacher_id", "recorded_on")})
    return out


def seed_term(base_url, today, rng, periods, year, subjects, c5a, c1a, students_5a, students_1a, max_days=None,
              admin=None, teacher_ids=None):
    """A term of lessons with attendance and marks (a written work in maths
    every week), some corrections and removals with reasons, an attendance
    correction by the class teacher, and the finished quarter's final marks.
    The term was kept on paper: the admin transcribes it (imported lessons,
    late or overdue only where the paper entry was, R-J5); the last
    LIVE_DAYS school days are entered by the teachers now, so they are late."""
    first, last = term_bounds(periods, today)
    if first is None or last < first:
        return 0, {}
    inside = [(a, b) for _, a, b in periods]
    days = [d for d in school_days(first, last) if any(a <= d <= b for a, b in inside)]
    if max_days:
        days = days[-max_days:]
    api = {login: Api(base_url).login(login, DEMO_PASSWORD) for login in ("smirnova", "kuznetsov", "popov", "volkova")}
    plan = plan_term(days, rng, subjects, c5a, c1a, teacher_ids or {})
    live_from = days[-LIVE_DAYS] if admin is not None and len(days) > LIVE_DAYS else days[0]
    entered = iter(enter_lessons(admin, api, plan, live_from, today))
    lessons, posted, attendance_lessons = 0, [], []
    for number, day in enumerate(days):
        for weekdays, subject, login in TIMETABLE_5A:
            if day.weekday() not in weekdays:
                continue
            control = subject == "Математика" and day.weekday() == 3
            lesson = next(entered)
            lessons += 1
            statuses = [rng.choices(["present", "absent", "ill", "late", "excused"], [90, 3, 3, 3, 1])[0]
                        for _ in students_5a]
            api[login].put(f"/lessons/{lesson['id']}/attendance", {"entries": [
                {"student_id": s, "status": st} for s, st in zip(students_5a, statuses)]})
            attendance_lessons.append((day, lesson["id"], login))
            present = [s for s, st in zip(students_5a, statuses) if st in ("present", "late")]
            chosen = present if control else rng.sample(present, k=min(len(present), rng.randint(2, 4)))
            if not chosen:
                continue
            marks = [{"student_id": s, "value": rng.choice([2, 3, 4, 4, 5, 5]),
                      "kind": "control" if control else rng.choice(WORK_KINDS),
                      "weight": 2 if control else 1} for s in chosen]
            answer = api[login].put(f"/lessons/{lesson['id']}/marks", {"marks": marks},
                                    headers={"Idempotency-Key": f"seed-{lesson['id']}"})
            posted += [(login, m["id"], m["value"]) for m in answer["marks"]]
        lesson = next(entered)  # 1А
        lessons += 1
        api["volkova"].put(f"/lessons/{lesson['id']}/attendance", {"entries": [
            {"student_id": s, "status": "present"} for s in students_1a]})
    corrected = removed = 0
    chosen = rng.sample(posted, k=min(5, len(posted)))
    for login, mark_id, value in chosen[:4]:
        api[login].call("PATCH", f"/marks/{mark_id}", json={
            "value": rng.choice([v for v in (3, 4, 5) if v != value]),
            "reason": "Ошибка при выставлении: исправлено по работе ученика"})
        corrected += 1
    for login, mark_id, _ in chosen[4:]:
        api[login].call("DELETE", f"/marks/{mark_id}", json={"reason": "Отметка поставлена не тому ученику"})
        removed += 1
    # the class teacher's weekly correction of attendance (R-J2)
    # the journal's own clock decides the window, not the seed's "today"
    real_today = school_today()
    window = dt.date.fromordinal(real_today.toordinal() - real_today.weekday() - 7)
    recent = [x for x in attendance_lessons if x[0] >= window]
    if recent:  # (a seed for a past date has no lesson in the window: nothing to correct)
        _, lesson_id, _ = recent[0]
        api["smirnova"].put(f"/lessons/{lesson_id}/attendance", {
            "entries": [{"student_id": students_5a[0], "status": "excused"}],
            "reason": "Заявление родителей: семейные обстоятельства"})
    finals = 0
    ended = [p for p in year["periods"] if p["name"] in finished_quarters(periods, today)]
    for period in ended:
        for student in students_5a:
            api["smirnova"].put("/final-marks", {"student_id": student, "subject_id": subjects["Математика"],
                                                 "period_id": period["id"], "value": rng.choice([3, 4, 4, 5])})
            finals += 1
    return lessons, {"marks": len(posted), "corrected": corrected, "removed": removed, "finals": finals,
                     "term": [first.isoformat(), last.isoformat()], "subjects": subjects,
                     "imported": sum(1 for _, body in plan if dt.date.fromisoformat(body["date"]) < live_from)}


def seed_once(data_dir: Path, base_url: str, admin_login: str, admin_password: str, *, say=print,
              today: dt.date | None = None, seed_school=None) -> dict:
    """The demo school of this data dir: seeded on the first run (telling
    so), read back from the marker file on every later one."""
    marker = data_dir / MARKER
    if marker.exists():
        say(f"the demo school was seeded on an earlier run ({marker})")
        return json.loads(marker.read_text())
    say("seeding the demo school (first run only, a few minutes)...")
    result = (seed_school or seed)(base_url, admin_login, admin_password, today=today)
    marker.write_text(json.dumps(result, ensure_ascii=False, indent=2))
    return result
