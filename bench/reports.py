"""R-R6 at school size: the progress summary sheet (progress-sheet, JSON)
of a 1,000-student school (36 classes of 28, 15 subjects, one term, about
600,000 marks) built by the reports service's own code from its
projections, against one SQL ``GROUP BY`` over the same marks in the same
database (count and weighted sum per student and subject), measured in the
same run (`make bench-reports`).

In the same run: one class's progress sheet as PDF (goal at most 1 s), the
school's sheet as XLSX in a child process of its own (goal at most 5 s and
a peak resident memory under 300 MB: the child's VmHWM, the interpreter
included), and the marks projection's throughput: ``mark_posted`` envelopes
fed through the reports service's own batch handler
(``Service.on_mark_posted``: envelope checks, payload reader, one
transaction and one multi-row INSERT per batch of ``MARK_BATCH``) into the
same database, against raw psycopg2 inserts of the same rows in batches of
the same size (goal at least 1,000 events/s).

Both sides run in this process on one connection, in alternating rounds;
medians over the rounds. The report side is what the gRPC Document stream
does for format=json (reports.documents.produce): every query of the
builder, the pure rules, the printable layout and the JSON encoding; not
the gRPC hop. Goals (issue "Reports"): the sheet in at most 2 s, and at
most 3 times the GROUP BY. The seed goes straight into a scratch reports
database (COPY), so no platform is started."""
from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
import types
import uuid

import psycopg2
from psycopg2.extras import execute_values
from sqlalchemy.engine import make_url

from kernel.context import CallContext
from kernel.db import make_engine, session_factory, transaction
from kernel.events import envelope
from kernel.testing import PgDatabases, admin_url, migrated_database
from reports import documents

GRADES = range(5, 11)  # 6 grades x 6 letters = 36 classes
LETTERS = "АБВГДЕ"
CLASS_SIZE = 28
SUBJECTS = 15
MARKS_PER_CELL = 40  # 36 x 28 x 15 x 40 = 604,800 marks
TERM = (dt.date(2026, 9, 1), dt.date(2026, 12, 28))
SUBJECT_NAMES = ["Алгебра", "Английский язык", "Биология", "География", "Геометрия", "Информатика", "История",
                 "Литература", "Музыка", "Обществознание", "Русский язык", "Технология", "Физика",
                 "Физическая культура", "Химия"]


def ident() -> str:
    return str(uuid.uuid4())


def copy(cur, table: str, columns: tuple, rows) -> int:
    buf, n = io.StringIO(), 0
    for row in rows:
        buf.write("\t".join("\\N" if v is None else str(v) for v in row) + "\n")
        n += 1
    buf.seek(0)
    cur.copy_from(buf, table, columns=columns)
    return n


def seed(dsn: str) -> dict:
    """The school straight into the reports projections."""
    rnd = random.Random(15)
    school, year, term = ident(), ident(), ident()
    subjects = [ident() for _ in range(SUBJECTS)]
    classes = [(ident(), g, letter) for g in GRADES for letter in LETTERS]
    now = "2026-09-01T00:00:00+00:00"
    days = [TERM[0] + dt.timedelta(days=d) for d in range((TERM[1] - TERM[0]).days + 1)
            if (TERM[0] + dt.timedelta(days=d)).weekday() < 5]
    conn = psycopg2.connect(dsn)
    marks = 0
    with conn, conn.cursor() as cur:
        copy(cur, "years", ("id", "school_id", "name", "starts_on", "ends_on"),
             [(year, school, "2026/2027", "2026-09-01", "2027-05-31")])
        copy(cur, "periods", ("id", "school_id", "year_id", "name", "kind", "starts_on", "ends_on"),
             [(term, school, year, "1 полугодие", "half_year", TERM[0], TERM[1])])
        copy(cur, "subjects", ("id", "school_id", "name", "emphasis"),
             [(s, school, n, "false") for s, n in zip(subjects, SUBJECT_NAMES)])
        copy(cur, "classes", ("id", "school_id", "year_id", "grade", "letter", "name", "class_teacher_id"),
             [(c, school, year, g, letter, f"{g}{letter}", None) for c, g, letter in classes])
        copy(cur, "teacher_assignments", ("id", "school_id", "teacher_id", "class_id", "subject_id", "hours_per_week",
                                          "subgroup_id"),
             [(ident(), school, ident(), c, s, 2, None) for c, _, _ in classes for s in subjects])
        students = [(ident(), c) for c, _, _ in classes for _ in range(CLASS_SIZE)]
        copy(cur, "people", ("id", "school_id", "login", "full_name", "roles", "roles_at", "sex"),
             [(s, school, f"s{i}", f"Ученик{i:04d} Тестовый", '["student"]', now, "male" if i % 2 else "female")
              for i, (s, _) in enumerate(students)])
        copy(cur, "enrolments", ("class_id", "student_id", "school_id", "order_no", "enrolled_on"),
             [(c, s, school, "1-у", "2026-09-01") for s, c in students])

        def mark_rows():
            for student, class_id in students:
                level = rnd.choice((2.6, 3.4, 3.9, 4.4, 4.8))
                for subject in subjects:
                    for _ in range(MARKS_PER_CELL):
                        value = min(5, max(2, round(rnd.gauss(level, 0.7))))
                        yield (ident(), school, None, student, class_id, subject, rnd.choice(days), value, "oral",
                               rnd.choice((1, 1, 1, 2)), None, now, 1, "false")
        marks = copy(cur, "marks", ("id", "school_id", "lesson_id", "student_id", "class_id", "subject_id", "date",
                                    "value", "kind", "weight", "teacher_id", "posted_at", "version", "removed"),
                     mark_rows())
        cur.execute("ANALYZE")
    conn.close()
    return {"school": school, "term": term, "students": len(students), "marks": marks, "classes": len(classes),
            "class": classes[0][0], "subjects": subjects, "class_students": [s for s, c in students if c == classes[0][0]]}


GROUP_BY = """SELECT student_id, subject_id, count(*), sum(value * weight), sum(weight)
FROM marks WHERE school_id = %s AND removed = false AND date BETWEEN %s AND %s
GROUP BY student_id, subject_id"""


def produce(sessions, data: dict, kind: str, params: dict, fmt: str):
    who = CallContext(ident(), data["school"], frozenset({"deputy"}), None)
    with sessions() as session:
        return documents.produce(session, who, kind, params, fmt, school_name="Школа",
                                 now=dt.datetime.now(dt.timezone.utc))


def xlsx_child(url: str, data: dict) -> None:
    """The school's sheet as XLSX in this (fresh) process: seconds, bytes, peak RSS."""
    engine = make_engine(url)
    t0 = time.perf_counter()
    doc = produce(session_factory(engine), data, "progress-sheet", {"period_id": data["term"]}, "xlsx")
    seconds = time.perf_counter() - t0
    engine.dispose()
    print(json.dumps({"seconds": seconds, "bytes": len(doc.data), "peak_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM, which starts afresh at
    exec (ru_maxrss keeps the forking parent's high-water mark)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_xlsx(url: str, data: dict) -> dict:
    arg = json.dumps({"url": url, "school": data["school"], "term": data["term"]})
    out = subprocess.run([sys.executable, "-m", "bench.reports", "--xlsx-child", arg], capture_output=True,
                         check=True, timeout=300, env=os.environ)
    return json.loads(out.stdout.decode().strip().splitlines()[-1])


def mark_envelopes(data: dict, n: int) -> list[dict]:
    rnd = random.Random(7)
    students = data["class_students"]
    return [envelope(type="mark_posted", producer="journal", school_id=data["school"], actor_id=None, payload={
        "mark_id": ident(), "lesson_id": ident(), "student_id": rnd.choice(students), "class_id": data["class"],
        "subject_id": rnd.choice(data["subjects"]), "subject_name": "Алгебра", "date": "2026-12-29",
        "value": rnd.randint(2, 5), "kind": "oral", "weight": 1, "comment": None, "teacher_id": ident()})
        for _ in range(n)]


def run_projection(sessions, envs: list[dict]) -> float:
    """Seconds for the reports service's own mark_posted batch handler to
    project ``envs`` (batches of MARK_BATCH, one transaction each)."""
    from reports.service import MARK_BATCH, Service

    service = types.SimpleNamespace(db=types.SimpleNamespace(transaction=lambda: transaction(sessions)),
                                    dead_letters=None)
    t0 = time.perf_counter()
    for start in range(0, len(envs), MARK_BATCH):
        outcomes = Service.on_mark_posted(service, envs[start:start + MARK_BATCH])
        assert all(o == outcomes[0] for o in outcomes)
    return time.perf_counter() - t0


def run_raw_inserts(dsn: str, envs: list[dict]) -> float:
    """Seconds for raw psycopg2 inserts of the same rows, same batches."""
    from reports.service import MARK_BATCH

    rows = []
    for env in envs:
        p = env["payload"]
        rows.append((ident(), env["school_id"], p["lesson_id"], p["student_id"], p["class_id"], p["subject_id"],
                     p["date"], p["value"], p["kind"], p["weight"], p["teacher_id"], env["occurred_at"], 1, False))
    conn = psycopg2.connect(dsn)
    t0 = time.perf_counter()
    for start in range(0, len(rows), MARK_BATCH):
        with conn, conn.cursor() as cur:
            execute_values(cur, "INSERT INTO marks (id, school_id, lesson_id, student_id, class_id, subject_id, "
                                "date, value, kind, weight, teacher_id, posted_at, version, removed) VALUES %s "
                                "ON CONFLICT (id) DO NOTHING", rows[start:start + MARK_BATCH], page_size=MARK_BATCH)
    seconds = time.perf_counter() - t0
    conn.close()
    return seconds


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reports", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--events", type=int, default=20000, help="mark_posted events per projection round")
    parser.add_argument("--xlsx-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.xlsx_child:
        spec = json.loads(args.xlsx_child)
        xlsx_child(spec["url"], spec)
        return 0
    pg = PgDatabases(admin_url())
    try:
        url = migrated_database(pg, "reports")
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        started = time.perf_counter()
        data = seed(dsn)
        print(f"seeded {data['students']} students in {data['classes']} classes, {data['marks']} marks "
              f"in {time.perf_counter() - started:.1f} s; load average {os.getloadavg()[0]:.1f}")
        engine = make_engine(url)
        sessions = session_factory(engine)
        raw = psycopg2.connect(dsn)
        report_times, sql_times, pdf_times, xlsx_runs, size, pdf_size = [], [], [], [], 0, 0
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            doc = produce(sessions, data, "progress-sheet", {"period_id": data["term"]}, "json")
            report_times.append(time.perf_counter() - t0)
            size = len(doc.data)
            t0 = time.perf_counter()
            with raw.cursor() as cur:
                cur.execute(GROUP_BY, (data["school"], TERM[0], TERM[1]))
                rows = cur.fetchall()
            sql_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            doc = produce(sessions, data, "progress-sheet", {"period_id": data["term"], "class_id": data["class"]},
                          "pdf")
            pdf_times.append(time.perf_counter() - t0)
            pdf_size = len(doc.data)
            xlsx_runs.append(run_xlsx(url, data))
        raw.close()
        report, sql = statistics.median(report_times), statistics.median(sql_times)
        print(f"progress-sheet JSON: median {report:.3f} s over {args.rounds} rounds ({size / 1e6:.1f} MB); "
              f"goal <= 2 s: {verdict(report <= 2)}")
        print(f"one SQL GROUP BY ({len(rows)} groups): median {sql:.3f} s")
        print(f"ratio report / GROUP BY: {report / sql:.2f}; goal <= 3: {verdict(report / sql <= 3)}")
        pdf = statistics.median(pdf_times)
        print(f"class progress-sheet PDF ({CLASS_SIZE} students x {SUBJECTS} subjects, {pdf_size / 1e3:.0f} KB): "
              f"median {pdf:.3f} s; goal <= 1 s: {verdict(pdf <= 1)}")
        xlsx = statistics.median(r["seconds"] for r in xlsx_runs)
        peak = max(r["peak_mb"] for r in xlsx_runs)
        print(f"school progress-sheet XLSX ({xlsx_runs[-1]['bytes'] / 1e6:.1f} MB, child process): median "
              f"{xlsx:.3f} s; goal <= 5 s: {verdict(xlsx <= 5)}; peak RSS {peak:.0f} MB (highest of "
              f"{len(xlsx_runs)} runs); goal < 300 MB: {verdict(peak < 300)}")
        projected, raws = [], []
        for i in range(args.rounds):
            envs = mark_envelopes(data, args.events)
            # alternate which side goes first: each side's rows make the table (and its indexes) bigger
            for side in ((0, 1) if i % 2 == 0 else (1, 0)):
                if side == 0:
                    projected.append(args.events / run_projection(sessions, envs))
                else:
                    raws.append(args.events / run_raw_inserts(dsn, envs))
        engine.dispose()
        rate, floor = statistics.median(projected), statistics.median(raws)
        print(f"mark_posted projection ({args.events} events a round): median {rate:,.0f} events/s; raw inserts "
              f"of the same rows {floor:,.0f} rows/s; ratio {rate / floor:.2f}; goal >= 1,000 events/s: "
              f"{verdict(rate >= 1000)}")
    finally:
        pg.drop_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
