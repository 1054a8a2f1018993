"""The class journal grid (``GET /classes/{id}/journal``) through the
gateway, against a bare one-process Flask+SQLAlchemy endpoint building the
same JSON from the same database (bench/bare_grid.py), measured in the same
run (`make bench-grid`): a class of 30 students x 40 lessons of one subject
and period, and a class of 8 x 22.

Both answers are compared first (the whole JSON): the run stops if they
differ. Then alternating rounds of the same closed-loop load (bench/load.py,
loopback only, bounded) with 1 and with 4 client threads hit each side;
besides throughput each round reads the CPU time (user + system, from
/proc/<pid>/stat) of every process of each side before and after, and
prints the server CPU per request: the platform's (the gateway's gunicorn
master and workers, identity's gRPC decision and its consumer of the access
log, journal's gRPC server, every other idle process) against the bare
process's. PostgreSQL's own CPU is not counted on either side (same queries'
worth on both)."""
from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

import requests

from bench.diary import free_port, wait_http
from bench.load import median_of, run_load
from bench.portal import PASSWORD, school_days_back
from localrun.client import Api
from localrun.launcher import throwaway_platform

CASES = [(30, 40), (8, 22)]
CLK = os.sysconf("SC_CLK_TCK")
# The processes a grid request passes through (the access event is stored by
# identity's consumer); the others' CPU (pollers, relays) is printed apart.
PATH = ("gateway", "identity-grpc", "identity", "journal-grpc")


def seed(api_base: str, env: dict) -> list[dict]:
    """One class per case (students x lessons of mathematics with marks in
    two cells of three, two absences a lesson), one teacher."""
    admin = Api(api_base).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
    today = dt.datetime.now(ZoneInfo("Europe/Moscow")).date()
    start, end = today - dt.timedelta(days=120), today + dt.timedelta(days=150)
    year = admin.post("/years", {"name": "Бенчмарк", "starts_on": start.isoformat(), "ends_on": end.isoformat(),
                                 "periods": [{"name": "Полугодие", "kind": "half_year",
                                              "starts_on": start.isoformat(), "ends_on": end.isoformat()}]})
    teacher = admin.post("/users", {"login": "bench.grid.teacher", "full_name": "Учитель Сеткин",
                                    "roles": ["teacher", "class_teacher"], "password": PASSWORD})["id"]
    maths = admin.post("/subjects", {"name": "Математика"})["id"]
    teacher_api = Api(api_base).login("bench.grid.teacher", PASSWORD)
    out = []
    for number, (size, count) in enumerate(CASES):
        klass = admin.post("/classes", {"year_id": year["id"], "grade": 5 + number, "letter": "А",
                                        "class_teacher_id": teacher})["id"]
        admin.post("/assignments", {"teacher_id": teacher, "class_id": klass, "subject_id": maths,
                                    "hours_per_week": 5})
        students = []
        for n in range(size):
            sid = admin.post("/users", {"login": f"bench.g{number}.{n}", "full_name": f"Ученик {n:02d}",
                                        "roles": ["student"], "password": PASSWORD})["id"]
            admin.post(f"/classes/{klass}/students", {"student_id": sid, "order_no": "1", "on": start.isoformat()})
            students.append(sid)
        for n, day in enumerate(school_days_back(today, count)):
            lesson = teacher_api.post("/lessons", {"class_id": klass, "subject_id": maths, "date": day.isoformat(),
                                                   "topic": f"Тема {n + 1}", "lesson_type": "урок",
                                                   "homework": f"§{n + 1}, № {100 + n}"})
            marks = [{"student_id": s, "value": 2 + (i + n) % 4, "kind": "control" if n % 8 == 7 else "oral",
                      "weight": 2 if n % 8 == 7 else 1} for i, s in enumerate(students) if (i + n) % 3]
            teacher_api.put(f"/lessons/{lesson['id']}/marks", {"marks": marks})
            teacher_api.put(f"/lessons/{lesson['id']}/attendance", {"entries": [
                {"student_id": students[(n * 7 + k) % size], "status": "absent"} for k in range(2)]})
        out.append({"class": klass, "subject": maths, "students": size, "lessons": count})
    return out, teacher_api.token


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (gunicorn's workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLK
        except (OSError, IndexError, ValueError):
            pass
    return total


def database_backends(urls) -> list[int]:
    """The PostgreSQL server processes of the open connections to these
    databases when the server runs on this machine (each checked to be a
    ``postgres`` process here); [] otherwise. Taken when the pools are warm,
    so a round's connections are all among them."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    urls = [u for u in urls if u and u.startswith("postgresql")]
    if not urls:
        return []
    engine = create_engine(urls[0], poolclass=NullPool)
    try:
        with engine.connect() as conn:
            pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = ANY(:names) "
                                     "AND pid <> pg_backend_pid()"),
                                {"names": sorted({make_url(u).database for u in urls})}).scalars().all()
    finally:
        engine.dispose()
    local = []
    for pid in pids:
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip().startswith("postgres"):
                local.append(pid)
        except OSError:
            pass
    return local


def measured(url: str, headers: dict, pids: dict[str, list[int]], *, threads: int, seconds: float) -> dict:
    """One round of load; the CPU of each named group of processes per request."""
    before = {name: cpu_seconds(p) for name, p in pids.items()}
    run = run_load(url, headers, threads=threads, seconds=seconds, warmup=0.0)
    spent = {name: cpu_seconds(p) - before[name] for name, p in pids.items()}
    n = max(run["requests"] + run["errors"], 1)
    run["cpu_ms"] = 1000 * sum(v for k, v in spent.items() if k in PATH or len(pids) == 1) / n
    run["idle_ms"] = 1000 * sum(v for k, v in spent.items() if k not in PATH and len(pids) > 1) / n
    run["cpu_parts"] = {name: 1000 * s / n for name, s in spent.items()}
    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--threads", default="1,4", help="client threads, comma-separated")
    args = parser.parse_args(argv)
    thread_counts = [int(t) for t in args.threads.split(",")]

    bare = None
    print("starting the platform on PostgreSQL...", flush=True)
    try:
        with throwaway_platform(tempfile.mkdtemp(prefix="ejournal-bench-grid-"), "benchg") as platform:
            env = platform.env
            classes, token = seed(platform.url, env)
            port = free_port()
            bare = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "1", "-k", "gthread", "--threads", "8",
                                     "-b", f"127.0.0.1:{port}", "--log-level", "warning", "bench.bare_grid:create_app()"],
                                    env={**os.environ, "EJOURNAL_BENCH_DB": env["EJOURNAL_JOURNAL_DATABASE_URL"]})
            headers = {"Authorization": f"Bearer {token}"}
            platform_pids = {p.name: tree(p.popen.pid) for p in platform.procs if p.popen}
            results = []
            for case in classes:
                gateway_url = f"{platform.url}/api/v1/classes/{case['class']}/journal?subject_id={case['subject']}"
                bare_url = f"http://127.0.0.1:{port}/grid/{case['class']}?subject_id={case['subject']}"
                wait_http(bare_url)
                through = requests.get(gateway_url, headers={**headers, "Accept-Encoding": "identity"}, timeout=30)
                floor = requests.get(bare_url, timeout=30)
                if through.status_code != 200 or through.json() != floor.json():
                    raise RuntimeError(f"the gateway and the floor do not return the same grid: "
                                       f"{through.status_code} {through.text[:300]}")
                data = through.json()
                if (len(data["students"]), len(data["lessons"])) != (case["students"], case["lessons"]):
                    raise RuntimeError("the grid is not the seeded one")
                label = f"{case['students']} x {case['lessons']}"
                print(f"grid {label}: {len(data['marks'])} marks, {len(data['attendance'])} absences, "
                      f"{len(data['at_risk'])} at risk; {len(through.content)} B", flush=True)
                bare_pids = {"bare": tree(bare.pid)}
                for threads in thread_counts:
                    gw_runs, floor_runs = [], []
                    for n in range(args.rounds):
                        gw_runs.append(measured(gateway_url, headers, platform_pids, threads=threads,
                                                seconds=args.seconds))
                        floor_runs.append(measured(bare_url, {}, bare_pids, threads=threads, seconds=args.seconds))
                        g, f = gw_runs[-1], floor_runs[-1]
                        parts = ", ".join(f"{k} {g['cpu_parts'][k]:.1f}" for k in PATH)
                        print(f"  {label}, {threads} thr, round {n + 1}: gateway {g['rps']:.0f} req/s, "
                              f"CPU {g['cpu_ms']:.1f} ms/req ({parts}; others {g['idle_ms']:.1f}; errors {g['errors']}); "
                              f"bare {f['rps']:.0f} req/s, CPU {f['cpu_ms']:.1f} ms/req (errors {f['errors']})",
                              flush=True)
                    results.append((label, threads, gw_runs, floor_runs, len(through.content)))

            print()
            print(f"{args.rounds} rounds x {args.seconds:.0f} s; {os.cpu_count()} cores; "
                  f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            print(f"  platform: {env.get('EJOURNAL_GATEWAY_WORKERS', '2')} gateway workers + identity + journal gRPC "
                  f"(+ idle processes); bare: 1 gunicorn process (1 worker x 8 threads), no auth")
            print("  CPU: user + system of the request's processes (gateway, identity-grpc, identity, journal-grpc)")
            print("grid (medians)        thr   gw req/s  bare req/s  ratio   gw CPU ms/req  bare CPU ms/req")
            for label, threads, gw_runs, floor_runs, size in results:
                g, f = median_of(gw_runs, "rps"), median_of(floor_runs, "rps")
                print(f"  {label:<18} {threads:4d} {g:10.0f} {f:11.0f} {g / f:6.2f} {median_of(gw_runs, 'cpu_ms'):15.1f}"
                      f" {median_of(floor_runs, 'cpu_ms'):16.1f}")
            print("  goal: ratio >= 0.5")
            return 0
    finally:
        if bare is not None:
            bare.terminate()
            bare.wait(10)


if __name__ == "__main__":
    sys.exit(main())
