"""P1: the parent's week diary read through the gateway, against a bare
Flask+SQLAlchemy endpoint reading the same rows from the same database,
measured in the same run (`make bench`).

Both servers run on this machine on PostgreSQL; the same closed-loop load
(bench/load.py, loopback only, bounded) hits each in alternating rounds;
medians over the rounds are printed with their ratio.

What each side runs (printed with the figures, so a reader can judge the
fairness): the floor is ONE gunicorn process (1 gthread worker x 8 threads)
answering from two SQL queries with no authentication, no access decision,
no access log and no network hop. The gateway side is the whole platform as
`make run` starts it: gunicorn with EJOURNAL_GATEWAY_WORKERS (2) gthread
workers x 8 threads verifying the JWT, asking identity's gRPC Authorize
(cached 2 s), queueing one access event (published in confirmed batches,
stored by identity) and calling journal's gRPC GetDiary (its own process,
16 threads), besides the other services' idle processes. Both share the
machine's cores with each other and with the load generator."""
from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import subprocess
import sys
import tempfile
import time
from zoneinfo import ZoneInfo

import requests

from bench.load import median_of, run_load
from localrun.client import Api
from localrun.launcher import throwaway_platform

SUBJECTS = ["Русский язык", "Литература", "Математика", "Английский язык", "История", "Биология"]
PASSWORD = "bench-password-2026"


def seed_week(api_base: str, env: dict, students: int = 25):
    """One class, a full school week (6 lessons a day) with marks; returns
    the parent's token, the student id and the week."""
    admin = Api(api_base).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
    today = dt.datetime.now(ZoneInfo("Europe/Moscow")).date()
    monday = today - dt.timedelta(days=today.weekday() + 7)  # last week: all lessons in the past
    start, end = today - dt.timedelta(days=120), today + dt.timedelta(days=150)
    year = admin.post("/years", {"name": "Бенчмарк", "starts_on": start.isoformat(), "ends_on": end.isoformat(),
                                 "periods": [{"name": "Полугодие", "kind": "half_year",
                                              "starts_on": start.isoformat(), "ends_on": end.isoformat()}]})
    teacher = admin.post("/users", {"login": "bench.teacher", "full_name": "Учитель Бенчмарков",
                                    "roles": ["teacher", "class_teacher"], "password": PASSWORD})
    klass = admin.post("/classes", {"year_id": year["id"], "grade": 7, "letter": "Б", "class_teacher_id": teacher["id"]})
    subject_ids = [admin.post("/subjects", {"name": s})["id"] for s in SUBJECTS]
    ids = []
    for n in range(students):
        sid = admin.post("/users", {"login": f"bench.s{n}", "full_name": f"Ученик {n}", "roles": ["student"],
                                    "password": PASSWORD})["id"]
        admin.post(f"/classes/{klass['id']}/students", {"student_id": sid, "order_no": "1", "on": start.isoformat()})
        ids.append(sid)
    parent = admin.post("/users", {"login": "bench.parent", "full_name": "Родитель", "roles": ["parent"],
                                   "password": PASSWORD})
    admin.post(f"/students/{ids[0]}/parents", {"parent_id": parent["id"], "relation": "мать"})
    admin.put(f"/parents/{parent['id']}/consent", {"given": True, "signed_on": today.isoformat()})
    for day in range(5):
        date = monday + dt.timedelta(days=day)
        for number, subject in enumerate(subject_ids):
            lesson = admin.post("/lessons", {"class_id": klass["id"], "subject_id": subject, "date": date.isoformat(),
                                             "topic": f"Тема {day}-{number}", "lesson_type": "урок",
                                             "homework": "Параграф 12, вопросы 1-5"})
            marks = [{"student_id": s, "value": 2 + (i + day + number) % 4} for i, s in enumerate(ids[:12])]
            admin.put(f"/lessons/{lesson['id']}/marks", {"marks": marks})
    token = Api(api_base).login("bench.parent", PASSWORD).token
    return token, ids[0], monday, monday + dt.timedelta(days=6)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def lesson_marks(diary: dict) -> list:
    return [(l["lesson_id"], sorted(m["value"] for m in l["marks"])) for d in diary["days"] for l in d["lessons"]]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)

    bare = None
    print("starting the platform on PostgreSQL...", flush=True)
    try:
        with throwaway_platform(tempfile.mkdtemp(prefix="ejournal-bench-"), "bench") as platform:
            env = platform.env
            token, student, first, last = seed_week(platform.url, env)
            query = f"from={first.isoformat()}&to={last.isoformat()}"
            gateway_url = f"{platform.url}/api/v1/students/{student}/diary?{query}"
            headers = {"Authorization": f"Bearer {token}"}

            port = free_port()
            bare_env = {**os.environ, "EJOURNAL_BENCH_DB": env["EJOURNAL_JOURNAL_DATABASE_URL"]}
            bare = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "1", "-k", "gthread", "--threads", "8",
                                     "-b", f"127.0.0.1:{port}", "--log-level", "warning", "bench.bare_diary:create_app()"],
                                    env=bare_env)
            bare_url = f"http://127.0.0.1:{port}/diary/{student}?{query}"
            wait_http(bare_url)

            through = requests.get(gateway_url, headers=headers, timeout=10).json()
            floor = requests.get(bare_url, timeout=10).json()
            if lesson_marks(through) != lesson_marks(floor) or not lesson_marks(through):
                raise RuntimeError("the gateway and the floor do not return the same diary")
            lessons = len(lesson_marks(through))
            print(f"diary week: {lessons} lessons, {sum(len(m) for _, m in lesson_marks(through))} marks; "
                  f"{args.rounds} rounds x {args.seconds:.0f}s, {args.threads} client threads; "
                  f"{os.cpu_count()} cores", flush=True)
            print(f"  floor: 1 gunicorn process (1 worker x 8 threads), 2 SQL queries, no auth; gateway: "
                  f"{env.get('EJOURNAL_GATEWAY_WORKERS', '2')} gunicorn workers x 8 threads + identity (Authorize, "
                  f"access log) + journal gRPC (GetDiary) processes", flush=True)

            gw_runs, floor_runs = [], []
            for n in range(args.rounds):
                gw_runs.append(run_load(gateway_url, headers, threads=args.threads, seconds=args.seconds))
                floor_runs.append(run_load(bare_url, {}, threads=args.threads, seconds=args.seconds))
                g, f = gw_runs[-1], floor_runs[-1]
                print(f"  round {n + 1}: gateway {g['rps']:.0f} req/s (p50 {g['p50_ms']:.1f} ms, p99 {g['p99_ms']:.1f} ms, "
                      f"errors {g['errors']}); floor {f['rps']:.0f} req/s (p50 {f['p50_ms']:.1f} ms, "
                      f"p99 {f['p99_ms']:.1f} ms, errors {f['errors']})", flush=True)

            # one more gateway round for the CPU of each process per read (PostgreSQL apart)
            from bench.grid import PATH, database_backends, measured, tree  # grid imports this module
            pids = {p.name: tree(p.popen.pid) for p in platform.procs if p.popen}
            # the platform's database connections, when PostgreSQL runs here (the floor's stay idle)
            backends = database_backends([v for k, v in env.items() if k.endswith("_DATABASE_URL")])
            if backends:
                pids["postgres"] = backends
            cpu = measured(gateway_url, headers, pids, threads=args.threads, seconds=args.seconds)
            pg = cpu["cpu_parts"].pop("postgres", None)
            if pg is not None:
                cpu["idle_ms"] -= pg
            g_rps, f_rps = median_of(gw_runs, "rps"), median_of(floor_runs, "rps")
            print()
            print(f"CPU per diary read, ms: {cpu['cpu_ms']:.1f} on its path ("
                  + ", ".join(f"{k} {cpu['cpu_parts'][k]:.1f}" for k in PATH)
                  + f"), others {cpu['idle_ms']:.1f}"
                  + (f", PostgreSQL's backends {pg:.1f}" if pg is not None else "")
                  + f"; {cpu['rps']:.0f} req/s in that round")
            print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores")
            print("P1 diary read (medians)      req/s     p50 ms    p99 ms")
            print(f"  through the gateway      {g_rps:8.0f}  {median_of(gw_runs, 'p50_ms'):9.1f} {median_of(gw_runs, 'p99_ms'):9.1f}")
            print(f"  bare Flask+SQLAlchemy    {f_rps:8.0f}  {median_of(floor_runs, 'p50_ms'):9.1f} {median_of(floor_runs, 'p99_ms'):9.1f}")
            print(f"  ratio gateway/floor      {g_rps / f_rps:8.2f}   (goal: >= 0.75)")
            return 0
    finally:
        if bare is not None:
            bare.terminate()
            bare.wait(10)


if __name__ == "__main__":
    sys.exit(main())
