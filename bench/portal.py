"""The portal's two heaviest pages against the API call that serves the
same data, measured in the same run (`make bench-portal`): the teacher's
journal grid (30 students x 40 lessons) against ``GET
/classes/{id}/journal``, and a parent's diary week against ``GET
/students/{id}/diary`` of the same week.

Both sides go through the same gateway (the same gunicorn workers, token
check, identity's access decision and journal gRPC); the page adds the
portal's session, its other reads (the teacher's classes, the year's
periods, the plan's coverage, the students at risk of the subject) and the
HTML. The same closed-loop load (bench/load.py, loopback only, bounded)
hits each side in alternating rounds; medians over the rounds of p50 and
p95 are printed side by side with their ratio, and each answer's size in
bytes before compression."""
from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
import tempfile
from zoneinfo import ZoneInfo

import requests

from bench.load import median_of, run_load
from localrun.client import Api
from localrun.launcher import throwaway_platform

PASSWORD = "bench-password-2026"
STUDENTS, LESSONS = 30, 40
OTHER_SUBJECTS = ["Русский язык", "Литература", "Английский язык", "История", "Биология", "География", "Физика"]
COOKIE = "ejournal_portal"


def school_days_back(today: dt.date, count: int) -> list[dt.date]:
    """The ``count`` last weekdays before today, oldest first."""
    days, day = [], today - dt.timedelta(days=1)
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= dt.timedelta(days=1)
    return days[::-1]


def seed(api_base: str, env: dict) -> dict:
    """A class of 30 with 40 lessons of mathematics (marks and absences),
    the other subjects' lessons of the last week, a teacher and a parent."""
    admin = Api(api_base).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
    today = dt.datetime.now(ZoneInfo("Europe/Moscow")).date()
    start, end = today - dt.timedelta(days=120), today + dt.timedelta(days=150)
    year = admin.post("/years", {"name": "Бенчмарк", "starts_on": start.isoformat(), "ends_on": end.isoformat(),
                                 "periods": [{"name": "Полугодие", "kind": "half_year",
                                              "starts_on": start.isoformat(), "ends_on": end.isoformat()}]})
    teacher = admin.post("/users", {"login": "bench.portal.teacher", "full_name": "Учитель Порталов",
                                    "roles": ["teacher", "class_teacher"], "password": PASSWORD})["id"]
    klass = admin.post("/classes", {"year_id": year["id"], "grade": 5, "letter": "А",
                                    "class_teacher_id": teacher})["id"]
    maths = admin.post("/subjects", {"name": "Математика"})["id"]
    others = [admin.post("/subjects", {"name": name})["id"] for name in OTHER_SUBJECTS]
    for subject in [maths, *others]:
        admin.post("/assignments", {"teacher_id": teacher, "class_id": klass, "subject_id": subject,
                                    "hours_per_week": 5 if subject == maths else 2})
    students = []
    for n in range(STUDENTS):
        sid = admin.post("/users", {"login": f"bench.p{n}", "full_name": f"Ученик {n:02d}", "roles": ["student"],
                                    "password": PASSWORD})["id"]
        admin.post(f"/classes/{klass}/students", {"student_id": sid, "order_no": "1", "on": start.isoformat()})
        students.append(sid)
    parent = admin.post("/users", {"login": "bench.portal.parent", "full_name": "Родитель Порталов",
                                   "roles": ["parent"], "password": PASSWORD})["id"]
    admin.post(f"/students/{students[0]}/parents", {"parent_id": parent, "relation": "мать"})
    admin.put(f"/parents/{parent}/consent", {"given": True, "signed_on": today.isoformat()})
    teacher_api = Api(api_base).login("bench.portal.teacher", PASSWORD)
    days = school_days_back(today, LESSONS)
    for n, day in enumerate(days):
        lesson = teacher_api.post("/lessons", {"class_id": klass, "subject_id": maths, "date": day.isoformat(),
                                               "topic": f"Тема {n + 1}", "lesson_type": "урок",
                                               "homework": f"§{n + 1}, № {100 + n}"})
        marks = [{"student_id": s, "value": 2 + (i + n) % 4, "kind": "control" if n % 8 == 7 else "oral",
                  "weight": 2 if n % 8 == 7 else 1} for i, s in enumerate(students) if (i + n) % 3]
        teacher_api.put(f"/lessons/{lesson['id']}/marks", {"marks": marks})
        teacher_api.put(f"/lessons/{lesson['id']}/attendance", {"entries": [
            {"student_id": students[(n * 7 + k) % STUDENTS], "status": "absent"} for k in range(2)]})
    monday = days[-1] - dt.timedelta(days=days[-1].weekday())
    week = [d for d in days if d >= monday]
    for day in week:  # a full diary week: the other subjects too
        for number, subject in enumerate(others[:5]):
            lesson = teacher_api.post("/lessons", {"class_id": klass, "subject_id": subject, "date": day.isoformat(),
                                                   "topic": f"Тема {day.day}-{number}", "lesson_type": "урок",
                                                   "homework": "Параграф 12, вопросы 1-5"})
            teacher_api.put(f"/lessons/{lesson['id']}/marks", {"marks": [
                {"student_id": students[0], "value": 3 + number % 3}]})
    return {"class": klass, "subject": maths, "student": students[0], "monday": monday,
            "teacher": ("bench.portal.teacher", teacher_api.token),
            "parent": ("bench.portal.parent", Api(api_base).login("bench.portal.parent", PASSWORD).token)}


def portal_cookie(base: str, login: str) -> str:
    """A portal session of ``login`` through the login form."""
    session = requests.Session()
    page = session.get(f"{base}/login", timeout=30).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    answer = session.post(f"{base}/login", data={"csrf": csrf, "login": login, "password": PASSWORD},
                          allow_redirects=False, timeout=30)
    if answer.status_code != 303 or COOKIE not in session.cookies:
        raise RuntimeError(f"portal login of {login} failed: {answer.status_code}")
    return f"{COOKIE}={session.cookies[COOKIE]}"


def fetch(url: str, headers: dict) -> requests.Response:
    answer = requests.get(url, headers={**headers, "Accept-Encoding": "identity"}, allow_redirects=False, timeout=60)
    if answer.status_code != 200:
        raise RuntimeError(f"{url}: {answer.status_code}")
    return answer


def compare(name: str, api_name: str, page: tuple, api: tuple, args) -> tuple[dict, dict]:
    """Alternating rounds of the page and its API call; the medians."""
    page_runs, api_runs = [], []
    for n in range(args.rounds):
        page_runs.append(run_load(*page, threads=args.threads, seconds=args.seconds))
        api_runs.append(run_load(*api, threads=args.threads, seconds=args.seconds))
        p, a = page_runs[-1], api_runs[-1]
        print(f"  {name} round {n + 1}: page p50 {p['p50_ms']:.1f} ms, p95 {p['p95_ms']:.1f} ms "
              f"({p['requests']} req, errors {p['errors']}); API p50 {a['p50_ms']:.1f} ms, "
              f"p95 {a['p95_ms']:.1f} ms ({a['requests']} req, errors {a['errors']})", flush=True)
    medians = lambda runs: {k: median_of(runs, k) for k in ("p50_ms", "p95_ms", "rps")}  # noqa: E731
    return medians(page_runs), medians(api_runs)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=2, help="client threads (latency: keep it low)")
    args = parser.parse_args(argv)

    print("starting the platform on PostgreSQL...", flush=True)
    with throwaway_platform(tempfile.mkdtemp(prefix="ejournal-bench-"), "bench") as platform:
        base = platform.url
        school = seed(base, platform.env)
        monday = school["monday"].isoformat()
        sunday = (school["monday"] + dt.timedelta(days=6)).isoformat()
        cases = {
            "grid": (f"{base}/teaching/classes/{school['class']}/journal?subject={school['subject']}",
                     f"{base}/api/v1/classes/{school['class']}/journal?subject_id={school['subject']}", "teacher",
                     "GET /classes/{id}/journal"),
            "diary": (f"{base}/diary?child={school['student']}&week={monday}",
                      f"{base}/api/v1/students/{school['student']}/diary?from={monday}&to={sunday}", "parent",
                      "GET /students/{id}/diary"),
        }
        results = {}
        for name, (page_url, api_url, who, api_name) in cases.items():
            login, token = school[who]
            page_headers = {"Cookie": portal_cookie(base, login), "Accept": "text/html"}
            api_headers = {"Authorization": f"Bearer {token}"}
            page, api = fetch(page_url, page_headers), fetch(api_url, api_headers)
            data = api.json()
            if name == "grid":
                shown = len(data["lessons"]), len(data["students"]), len(data["marks"])
                if shown[:2] != (LESSONS, STUDENTS) or "Ученик 29" not in page.text:
                    raise RuntimeError(f"the grid is not the seeded one: {shown}")
                what = f"{shown[1]} students x {shown[0]} lessons, {shown[2]} marks"
            else:
                lessons = sum(len(d["lessons"]) for d in data["days"])
                if not lessons or "Тема" not in page.text:
                    raise RuntimeError("the diary week is empty")
                what = f"{lessons} lessons"
            print(f"{name}: {what}; page {len(page.content)} B, API {len(api.content)} B", flush=True)
            results[name] = (*compare(name, api_name, (page_url, page_headers), (api_url, api_headers), args),
                             len(page.content), len(api.content), api_name)

        print()
        print(f"{args.rounds} rounds x {args.seconds:.0f} s, {args.threads} client threads, {os.cpu_count()} cores; "
              f"load: {os.getloadavg()[0]:.2f}")
        print("portal pages (medians)              p50 ms   p95 ms    bytes")
        for name, (page, api, page_size, api_size, api_name) in results.items():
            label = {"grid": "journal grid page", "diary": "diary page"}[name]
            print(f"  {label:<32} {page['p50_ms']:8.1f} {page['p95_ms']:8.1f} {page_size:8d}")
            print(f"  {api_name:<32} {api['p50_ms']:8.1f} {api['p95_ms']:8.1f} {api_size:8d}")
            print(f"  {'ratio page/API':<32} {page['p50_ms'] / api['p50_ms']:8.2f} "
                  f"{page['p95_ms'] / api['p95_ms']:8.2f}   (goal <= 1.5; page <= 200000 B)")
        print("  quiet machine goals: grid page p95 <= 300 ms, diary page p95 <= 150 ms")
        return 0


if __name__ == "__main__":
    sys.exit(main())
