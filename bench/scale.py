"""One instance against two, in the same run on the same machine
(`make bench-scale`).

The write path: a class of 30 marks per request, ``PUT /lessons/{id}/marks``
through the gateway to the journal's nameko service (its rules, the marks,
the outbox row, the Idempotency-Key). Rounds alternate one gateway and one
journal process with two of each (the second gateway on its own port, the
client threads split between both; the two journal processes compete on the
same RPC queue and outbox), the extra ones started or stopped between
rounds; each round prints the platform's CPU per request (all its
processes, the consumers included).

The consumers: with one instance each of messaging and of reports running
but frozen (SIGSTOP), ``--backlog`` requests of marks are posted (their
events wait in the durable queues); all instances are thawed at once and
the time until their /metrics together count the backlog's ``mark_posted``
events handled is taken; then the same with two instances of each (the
extra one started, or stopped again, between rounds, which alternate).
Events per second, medians of ``--rounds`` rounds; the share each instance
handled is printed.

The figure to read is the ratio two/one of the same run: on a shared
2-core machine both sides move with the load (printed), and two instances
can only go faster where one left cores idle. Loopback only, bounded in
requests and time; the platform and everything it made is removed."""
from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import statistics
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from zoneinfo import ZoneInfo

from prometheus_client.parser import text_string_to_metric_families

from bench.grid import cpu_seconds, tree
from bench.marks import CLASS_SIZE, closed_loop, gateway_work
from localrun.client import Api
from localrun.launcher import throwaway_platform

PASSWORD = "bench-password-2026"
CONSUMERS = {"messaging": "messaging.on_mark_posted", "reports": "reports.on_mark_posted"}


def seed(base: str, env: dict, lessons: int):
    """A class of 30, each student with a parent (so messaging notifies), a
    teacher and ``lessons`` lessons; the teacher's token and the lesson ids."""
    admin = Api(base).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
    today = dt.datetime.now(ZoneInfo("Europe/Moscow")).date()
    start, end = today - dt.timedelta(days=200), today + dt.timedelta(days=150)
    year = admin.post("/years", {"name": "Бенчмарк масштаба", "starts_on": start.isoformat(), "ends_on": end.isoformat(),
                                 "periods": [{"name": "Год", "kind": "half_year", "starts_on": start.isoformat(),
                                              "ends_on": end.isoformat()}]})
    teacher = admin.post("/users", {"login": "bench.scale.teacher", "full_name": "Учитель Масштабов",
                                    "roles": ["teacher", "class_teacher"], "password": PASSWORD})
    klass = admin.post("/classes", {"year_id": year["id"], "grade": 10, "letter": "А", "class_teacher_id": teacher["id"]})
    subject = admin.post("/subjects", {"name": "Физика (бенчмарк)"})
    admin.post("/assignments", {"teacher_id": teacher["id"], "class_id": klass["id"], "subject_id": subject["id"],
                                "hours_per_week": 4})
    students = []
    for n in range(CLASS_SIZE):
        sid = admin.post("/users", {"login": f"bench.sc{n}", "full_name": f"Ученик {n}", "roles": ["student"],
                                    "password": PASSWORD})["id"]
        pid = admin.post("/users", {"login": f"bench.pc{n}", "full_name": f"Родитель {n}", "roles": ["parent"],
                                    "password": PASSWORD})["id"]
        admin.post(f"/students/{sid}/parents", {"parent_id": pid, "relation": "мать"})
        admin.post(f"/classes/{klass['id']}/students", {"student_id": sid, "order_no": "1", "on": start.isoformat()})
        students.append(sid)
    api = Api(base).login("bench.scale.teacher", PASSWORD)
    lesson_ids = [api.post("/lessons", {"class_id": klass["id"], "subject_id": subject["id"],
                                        "date": (today - dt.timedelta(days=1 + n % 180)).isoformat(),
                                        "topic": f"Тема {n}", "lesson_type": "урок"})["id"] for n in range(lessons)]
    return api.token, lesson_ids, students


def handled(port: int, consumer: str) -> float:
    """Events ``consumer`` handled (once: a retry is counted again when it is
    handled) in the process serving /metrics on ``port``."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            body = resp.read().decode()
    except OSError:
        return 0.0
    return sum(s.value for f in text_string_to_metric_families(body) for s in f.samples
               if s.name == "ejournal_events_handled_total" and s.labels.get("consumer") == consumer
               and s.labels.get("result") != "retry")


def write_instances(platform, count: int) -> list[str]:
    """Make ``count`` gateways and journal processes run (start or stop the
    extra ones); the gateways' URLs, each answering."""
    for name in ("gateway", "journal"):
        mine = [p for p in platform.procs if p.name.split("#")[0] == name]
        for proc in mine[count:]:
            platform.stop_process(proc)
        for _ in range(count - len(mine)):
            platform.add_instance(name)
    urls = [platform.url] + [f"http://127.0.0.1:{p.env['EJOURNAL_GATEWAY_PORT']}" for p in platform.procs
                             if p.name.startswith("gateway#")]
    deadline = time.monotonic() + 90
    for url in urls:
        while not healthy_url(url + "/readyz"):
            platform.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the gateway at {url} is not ready")
            time.sleep(0.3)
    return urls


def write_round(platform, gateways: list[str], token, lesson_ids, students, threads, seconds) -> dict:
    works = [gateway_work(url, token, lesson_ids[0], students) for url in gateways]
    pids = [pid for p in platform.procs if p.popen for pid in tree(p.popen.pid)]

    def work(state, n):  # thread i always talks to gateway i % len(gateways)
        return works[(n // 1_000_000) % len(works)](state, n)
    return closed_loop(work, threads=threads, seconds=seconds, pids=pids)


def post_backlog(gateway: str, token, lesson_ids, students, requests: int) -> int:
    """``requests`` PUTs of a class's marks (one lesson each, round robin); the marks stored."""
    works = [gateway_work(gateway, token, lesson, students) for lesson in lesson_ids]

    def one(n):
        return works[n % len(works)]({}, n)
    with ThreadPoolExecutor(8) as pool:
        done = sum(pool.map(one, range(requests)))
    return done * CLASS_SIZE


def consumer_instances(platform, count: int) -> dict:
    """Make ``count`` instances of each consumer run (start or stop extra
    ones, wait for their /healthz); ``{service: [(proc, metrics port)]}``."""
    found = {}
    for name in CONSUMERS:
        mine = [p for p in platform.procs if p.name.split("#")[0] == name]
        for proc in mine[count:]:
            platform.stop_process(proc)
        for _ in range(count - len(mine)):
            platform.add_instance(name)
        mine = [p for p in platform.procs if p.name.split("#")[0] == name]
        found[name] = [(p, int((p.env or {}).get(f"EJOURNAL_{name.upper()}_METRICS_PORT")
                               or platform.settings.port(f"{name}.metrics"))) for p in mine]
    deadline = time.monotonic() + 60
    while not all(healthy(port) for pairs in found.values() for _, port in pairs):
        platform.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError("a consumer instance did not become healthy")
        time.sleep(0.2)
    return found


def healthy(port: int) -> bool:
    return healthy_url(f"http://127.0.0.1:{port}/healthz")


def healthy_url(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return resp.status == 200
    except OSError:
        return False


def drain_round(platform, count: int, gateway: str, token, lesson_ids, students, backlog: int,
                timeout: float = 120.0) -> dict:
    """With ``count`` instances of messaging and of reports frozen (SIGSTOP),
    post the backlog; thaw them all at once and time until every instance's
    /metrics together counts the backlog's events handled."""
    instances = consumer_instances(platform, count)
    time.sleep(2)  # let the previous round's stragglers settle before the baseline
    base = {name: [handled(port, CONSUMERS[name]) for _, port in pairs] for name, pairs in instances.items()}
    procs = [proc for pairs in instances.values() for proc, _ in pairs]
    for proc in procs:
        os.kill(proc.popen.pid, signal.SIGSTOP)
    try:
        marks = post_backlog(gateway, token, lesson_ids, students, backlog)
    finally:
        for proc in procs:
            os.kill(proc.popen.pid, signal.SIGCONT)
    cpu0 = {name: cpu_seconds([p.popen.pid for p, _ in pairs]) for name, pairs in instances.items()}
    t0, done = time.monotonic(), {}
    while len(done) < len(CONSUMERS) and time.monotonic() < t0 + timeout:
        for name, pairs in instances.items():
            if name in done:
                continue
            shares = [handled(port, CONSUMERS[name]) - b for (_, port), b in zip(pairs, base[name])]
            if sum(shares) >= marks:
                cpu = cpu_seconds([p.popen.pid for p, _ in pairs]) - cpu0[name]
                done[name] = {"rate": marks / (time.monotonic() - t0), "shares": [int(x) for x in shares],
                              "cpu_ms": 1000 * cpu / marks}
        time.sleep(0.05)
    platform.check_alive()
    if len(done) < len(CONSUMERS):
        raise RuntimeError(f"the backlog of {marks} marks was not drained in {timeout:.0f}s")
    return done


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of a write round")
    parser.add_argument("--threads", type=int, default=8, help="client threads of the write path")
    parser.add_argument("--backlog", type=int, default=200, help="requests of 30 marks queued per drain round")
    args = parser.parse_args(argv)

    print("starting the platform on PostgreSQL...", flush=True)
    with throwaway_platform(tempfile.mkdtemp(prefix="ejournal-bench-scale-"), "benchs",
                            extra_env={"EJOURNAL_MAIL_POLL": "1.0"}) as platform:
        token, lesson_ids, students = seed(platform.url, platform.env, lessons=20)
        print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores",
              flush=True)
        drains = {1: [], 2: []}
        for n in range(args.rounds):  # consumers first, alternating one and two
            for count in (1, 2):
                drains[count].append(drain_round(platform, count, platform.url, token, lesson_ids, students,
                                                 args.backlog))
                r = drains[count][-1]
                print(f"  drain round {n + 1}, {count} instance(s): " + "; ".join(
                    f"{name} {r[name]['rate']:.0f} events/s, CPU {r[name]['cpu_ms']:.2f} ms/event "
                    f"(per instance {r[name]['shares']})" for name in CONSUMERS),
                    flush=True)
        writes = {1: [], 2: []}
        for n in range(args.rounds):  # the write path, alternating one and two
            for count in (1, 2):
                gateways = write_instances(platform, count)
                writes[count].append(write_round(platform, gateways, token, lesson_ids, students, args.threads,
                                                 args.seconds))
                w = writes[count][-1]
                print(f"  write round {n + 1}, {count} instance(s): {w['marks_per_s']:.0f} marks/s "
                      f"(p50 {w['p50_ms']:.1f} ms, platform CPU {w['cpu_ms']:.1f} ms/request, "
                      f"errors {w['errors']})", flush=True)
        platform.check_alive()

        def med(values):
            return statistics.median(values)
        print()
        print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores")
        print("scale (medians)                       one        two   two/one")
        one, two = med(w["marks_per_s"] for w in writes[1]), med(w["marks_per_s"] for w in writes[2])
        print(f"  write path, marks/s           {one:9.0f}  {two:9.0f}   {two / one:7.2f}")
        one, two = med(w["cpu_ms"] for w in writes[1]), med(w["cpu_ms"] for w in writes[2])
        print(f"  write path, CPU ms/request    {one:9.1f}  {two:9.1f}   {two / one:7.2f}")
        for name in CONSUMERS:
            one, two = med(d[name]["rate"] for d in drains[1]), med(d[name]["rate"] for d in drains[2])
            print(f"  {name + ' drain, events/s':<28}  {one:9.0f}  {two:9.0f}   {two / one:7.2f}")
            one, two = med(d[name]["cpu_ms"] for d in drains[1]), med(d[name]["cpu_ms"] for d in drains[2])
            print(f"  {name + ' CPU ms/event':<28}  {one:9.2f}  {two:9.2f}   {two / one:7.2f}")
        return 0


if __name__ == "__main__":
    import sys
    sys.exit(main())
