"""P2: mark entry, a class of 30 marks per request through the gateway
(PUT /lessons/{id}/marks: token check, validation, RPC, the journal's rules,
marks + their first hash-chain version + the packed outbox row of the 30
mark_posted events + the Idempotency-Key in one transaction), against raw
driver inserts of the same rows (marks and mark_versions, 30 per
transaction, psycopg2 execute_values) into the same database, measured in
the same run (`make bench-marks`); then the same with 6 marks per request
(a small save), with the platform's CPU per request (all its processes).

Both sides use the same number of client threads in alternating rounds,
bounded in time and count, loopback only; medians over the rounds.

What each side does: the floor is 8 psycopg2 connections in this process
writing 2 multi-row INSERTs and a commit per class. The gateway side also
writes the outbox row and the idempotency key in that transaction, checks
the token, the teacher's assignment and the enrolment, and the platform
keeps running what those events cause: the journal's outbox relay publishes
one packed message per class, and messaging, reports and identity consume
it in batches on the same cores (their backlog is part of the measured
cost: a consumer that keeps up spends its CPU in the gateway's rounds, one
that lags spends it in the floor's)."""
from __future__ import annotations

import argparse
import datetime as dt
import os
import http.client
import json
import statistics
import tempfile
import threading
import time
import urllib.parse
import uuid
from zoneinfo import ZoneInfo

import psycopg2
from psycopg2.extras import execute_values
from sqlalchemy.engine import make_url

from bench.grid import cpu_seconds, tree
from journal.domain.chain import GENESIS_HASH, chain_hash, version_content
from localrun.client import Api
from localrun.launcher import throwaway_platform

PASSWORD = "bench-password-2026"
CLASS_SIZE = 30


def seed_class(api_base: str, env: dict):
    """A class of 30, a maths teacher, a lesson yesterday; the teacher's token."""
    admin = Api(api_base).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
    today = dt.datetime.now(ZoneInfo("Europe/Moscow")).date()
    start, end = today - dt.timedelta(days=60), today + dt.timedelta(days=150)
    year = admin.post("/years", {"name": "Бенчмарк P2", "starts_on": start.isoformat(), "ends_on": end.isoformat(),
                                 "periods": [{"name": "Полугодие", "kind": "half_year",
                                              "starts_on": start.isoformat(), "ends_on": end.isoformat()}]})
    teacher = admin.post("/users", {"login": "bench.marks.teacher", "full_name": "Учитель Оценкин",
                                    "roles": ["teacher", "class_teacher"], "password": PASSWORD})
    klass = admin.post("/classes", {"year_id": year["id"], "grade": 8, "letter": "В", "class_teacher_id": teacher["id"]})
    subject = admin.post("/subjects", {"name": "Алгебра (бенчмарк)"})
    admin.post("/assignments", {"teacher_id": teacher["id"], "class_id": klass["id"], "subject_id": subject["id"],
                                "hours_per_week": 4})
    students = []
    for n in range(CLASS_SIZE):
        sid = admin.post("/users", {"login": f"bench.m{n}", "full_name": f"Ученик {n}", "roles": ["student"],
                                    "password": PASSWORD})["id"]
        admin.post(f"/classes/{klass['id']}/students", {"student_id": sid, "order_no": "1", "on": start.isoformat()})
        students.append(sid)
    api = Api(api_base).login("bench.marks.teacher", PASSWORD)
    lesson = api.post("/lessons", {"class_id": klass["id"], "subject_id": subject["id"],
                                   "date": (today - dt.timedelta(days=1)).isoformat(), "topic": "Контрольная работа",
                                   "lesson_type": "урок"})
    return api.token, teacher["id"], lesson["id"], students


def class_marks(students: list[str], n: int, size: int = CLASS_SIZE) -> list[dict]:
    """``size`` marks: the whole class, or a small batch of students that moves with ``n``."""
    if size < len(students):
        first = (n * size) % len(students)
        students = (students + students)[first:first + size]
    return [{"student_id": s, "value": 2 + (i + n) % 4, "kind": "control", "weight": 2}
            for i, s in enumerate(students)]


def closed_loop(work, *, threads: int, seconds: float, max_requests: int = 100_000, warmup: float = 0.5,
                size: int = CLASS_SIZE, pids: list[int] | None = None) -> dict:
    """Run ``work(thread_state, n)`` (returns True on success) in a closed loop."""
    latencies, errors, lock, counts = [], [0], threading.Lock(), []
    budget = [max_requests]
    start_measure = time.perf_counter() + warmup
    stop_at = start_measure + seconds

    def worker(index):
        state, mine, bad, n = {}, [], 0, 0
        while time.perf_counter() < stop_at:
            with lock:
                if budget[0] <= 0:
                    break
                budget[0] -= 1
            t0 = time.perf_counter()
            ok = work(state, index * 1_000_000 + n)
            n += 1
            t1 = time.perf_counter()
            if t0 >= start_measure:
                if ok:
                    mine.append(t1 - t0)
                else:
                    bad += 1
        if "close" in state:
            state["close"]()
        with lock:
            counts.append(n)
            latencies.extend(mine)
            errors[0] += bad

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    cpu_before = cpu_seconds(pids or [])
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    cpu = cpu_seconds(pids or []) - cpu_before
    latencies.sort()
    n = len(latencies)
    done = max(sum(counts), 1)
    return {"requests": n, "errors": errors[0], "marks_per_s": n * size / seconds, "cpu_ms": 1000 * cpu / done,
            "p50_ms": 1000 * latencies[n // 2] if n else float("nan"),
            "p99_ms": 1000 * latencies[min(n - 1, int(n * 0.99))] if n else float("nan")}


def gateway_work(base: str, token: str, lesson_id: str, students: list[str], size: int = CLASS_SIZE):
    parsed = urllib.parse.urlparse(base)
    if parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("load is only ever sent to loopback")
    path = f"/api/v1/lessons/{lesson_id}/marks"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def work(state, n):
        conn = state.get("conn")
        if conn is None:
            conn = state["conn"] = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
            state["close"] = conn.close
        body = json.dumps({"marks": class_marks(students, n, size)})
        try:
            conn.request("PUT", path, body=body, headers={**headers, "Idempotency-Key": str(uuid.uuid4())})
            resp = conn.getresponse()
            resp.read()
            return resp.status == 200
        except (OSError, http.client.HTTPException):
            conn.close()
            state.pop("conn", None)
            return False
    return work


def raw_work(dsn: str, school_id: str, teacher_id: str, lesson_id: str, students: list[str], size: int = CLASS_SIZE):
    """The floor: the same rows (marks + version 1 with its hash) inserted with
    the bare driver, one transaction per class."""
    def work(state, n):
        conn = state.get("conn")
        if conn is None:
            conn = state["conn"] = psycopg2.connect(dsn)
            state["close"] = conn.close
        now = dt.datetime.now(dt.timezone.utc)
        marks, versions = [], []
        for m in class_marks(students, n, size):
            mark_id = str(uuid.uuid4())
            content = version_content(mark_id=mark_id, version=1, lesson_id=lesson_id, student_id=m["student_id"],
                                      value=m["value"], kind=m["kind"], weight=m["weight"], comment=None,
                                      removed=False, by=teacher_id, at=now, reason=None)
            marks.append((mark_id, school_id, lesson_id, m["student_id"], m["value"], m["kind"], m["weight"], None,
                          teacher_id, now, False, 1))
            versions.append((mark_id, 1, school_id, m["value"], m["kind"], m["weight"], None, False, teacher_id, now,
                             None, GENESIS_HASH, chain_hash(content, GENESIS_HASH)))
        try:
            with conn.cursor() as cur:
                execute_values(cur, "INSERT INTO marks (id, school_id, lesson_id, student_id, value, kind, weight, "
                                    "comment, author_id, created_at, removed, version) VALUES %s", marks)
                execute_values(cur, "INSERT INTO mark_versions (mark_id, version, school_id, value, kind, weight, "
                                    "comment, removed, by, at, reason, prev_hash, hash) VALUES %s", versions)
            conn.commit()
            return True
        except psycopg2.Error:
            conn.rollback()
            return False
    return work


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--sizes", default=f"{CLASS_SIZE},6", help="marks per request, comma-separated")
    args = parser.parse_args(argv)
    args.sizes = [int(x) for x in args.sizes.split(",")]

    print("starting the platform on PostgreSQL...", flush=True)
    # The mailer polls at its deployed default (1 s), not at the 0.2 s the
    # throwaway platform uses to keep the e-mail tests short.
    with throwaway_platform(tempfile.mkdtemp(prefix="ejournal-bench-marks-"), "benchm",
                            extra_env={"EJOURNAL_MAIL_POLL": "1.0"}) as platform:
        env = platform.env
        token, teacher_id, lesson_id, students = seed_class(platform.url, env)
        url = make_url(env["EJOURNAL_JOURNAL_DATABASE_URL"])
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute("SELECT school_id FROM lessons WHERE id = %s", (lesson_id,))
            (school_id,) = cur.fetchone()
        conn.close()
        platform_pids = [pid for p in platform.procs if p.popen for pid in tree(p.popen.pid)]
        summary = []
        for size in args.sizes:
            gateway = gateway_work(platform.url, token, lesson_id, students, size)
            floor = raw_work(dsn, school_id, teacher_id, lesson_id, students, size)
            if not gateway({}, 0) or not floor({}, 0):
                raise RuntimeError("a warm-up write failed")
            print(f"{size} marks per request; {args.rounds} rounds x {args.seconds:.0f}s, "
                  f"{args.threads} client threads", flush=True)
            gw_runs, floor_runs = [], []
            for n in range(args.rounds):
                gw_runs.append(closed_loop(gateway, threads=args.threads, seconds=args.seconds, size=size,
                                           pids=platform_pids))
                floor_runs.append(closed_loop(floor, threads=args.threads, seconds=args.seconds, size=size))
                g, f = gw_runs[-1], floor_runs[-1]
                print(f"  round {n + 1}: gateway {g['marks_per_s']:.0f} marks/s (p50 {g['p50_ms']:.1f} ms, "
                      f"p99 {g['p99_ms']:.1f} ms, platform CPU {g['cpu_ms']:.1f} ms/request, errors {g['errors']}); "
                      f"raw inserts {f['marks_per_s']:.0f} marks/s (p50 {f['p50_ms']:.1f} ms, errors {f['errors']})",
                      flush=True)
            summary.append((size, gw_runs, floor_runs))
        med = lambda runs, key: statistics.median(r[key] for r in runs)  # noqa: E731
        print()
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores; platform CPU: "
              f"user + system of all its processes (the relay and the consumers included) per request")
        for size, gw_runs, floor_runs in summary:
            g_rate, f_rate = med(gw_runs, "marks_per_s"), med(floor_runs, "marks_per_s")
            name = "P2 mark entry" if size == CLASS_SIZE else f"{size} marks/request"
            print(f"{name + ' (medians)':<28} marks/s   p50 ms    p99 ms   CPU ms/req")
            print(f"  through the gateway      {g_rate:8.0f}  {med(gw_runs, 'p50_ms'):8.1f} {med(gw_runs, 'p99_ms'):9.1f}"
                  f" {med(gw_runs, 'cpu_ms'):11.1f}")
            print(f"  raw driver inserts       {f_rate:8.0f}  {med(floor_runs, 'p50_ms'):8.1f} "
                  f"{med(floor_runs, 'p99_ms'):9.1f}")
            goal = "   (goal: >= 0.25)" if size == CLASS_SIZE else "   (goal: CPU <= 7.45 ms/request)" if size == 6 else ""
            print(f"  ratio gateway/raw        {g_rate / f_rate:8.2f}{goal}")
        return 0


if __name__ == "__main__":
    import sys
    sys.exit(main())
