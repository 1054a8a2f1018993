"""Mark posted -> notification stored, end to end through RabbitMQ
(`make bench-notifications`).

The messaging service runs as `make run` runs it (``python -m kernel.runner
messaging``) on a fresh PostgreSQL database and RabbitMQ vhost; its
projections hold ``--students`` students with one parent each. This process
publishes ``mark_posted`` envelopes onto ``journal.events`` exactly as the
journal's outbox relay does, paced at ``--rate`` events/s for ``--seconds``,
and reads back when each notification was stored (``created_at``; same
machine, same clock; ``created_at`` is taken inside the handler's
transaction, a few milliseconds before its commit). Beside it, the floor:
the broker's own publish -> consume of bodies of the same size at the same
pace, and unpaced (its ceiling), measured in the same run. Medians of
``--rounds`` alternating rounds. Goal: p99 <= 200 ms at 1,000 events/s.
Loopback only, bounded in events and time.

messaging handles ``mark_posted`` in batches (kernel.batching): each round
also prints the mean batch size read from the service's /metrics. The
machine's load average is printed at the start: on a shared 2-core machine
the floor itself moves from run to run, so compare within one run.

How to read it: bench/README.md."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

from kombu import Connection, Consumer, Exchange, Producer, Queue
from sqlalchemy import func, select

from kernel.db import make_engine, session_factory
from kernel.events import envelope
from kernel.migrate import upgrade
from kernel.testing import PgDatabases, admin_url
from localrun.launcher import _free_base, delete_vhost, ensure_vhost

SCHOOL = str(uuid.uuid4())


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


def seed(url: str, students: int) -> list[str]:
    from messaging import store

    now = dt.datetime.now(dt.timezone.utc)
    ids = [str(uuid.uuid4()) for _ in range(students)]
    engine = make_engine(url)
    with session_factory(engine)() as s:
        subject = str(uuid.uuid4())
        store.save_subject(s, school_id=SCHOOL, subject_id=subject, name="Математика")
        for n, student in enumerate(ids):
            parent = str(uuid.uuid4())
            store.save_user_created(s, user_id=student, school_id=SCHOOL, full_name=f"Ученик {n}",
                                    roles=["student"], as_of=now)
            store.save_user_created(s, user_id=parent, school_id=SCHOOL, full_name=f"Родитель {n}",
                                    roles=["parent"], as_of=now)
            store.save_parent_link(s, school_id=SCHOOL, student_id=student, parent_id=parent, relation="мать")
        s.commit()
    engine.dispose()
    return ids


def mark_event(student: str) -> dict:
    return envelope(type="mark_posted", producer="journal", school_id=SCHOOL, actor_id=str(uuid.uuid4()), payload={
        "mark_id": str(uuid.uuid4()), "lesson_id": str(uuid.uuid4()), "student_id": student,
        "class_id": str(uuid.uuid4()), "subject_id": str(uuid.uuid4()), "subject_name": "Математика",
        "date": dt.date.today().isoformat(), "value": 5, "kind": "oral", "weight": 1, "comment": None,
        "teacher_id": str(uuid.uuid4())})


def paced_publish(amqp: str, exchange: Exchange, routing_key: str, bodies: list, rate: float) -> dict:
    """Publish ``bodies`` at ``rate``/s; {key: wall-clock publish time}."""
    sent = {}
    with Connection(amqp) as conn:
        producer = Producer(conn.channel())
        exchange = exchange(producer.channel)
        exchange.declare()
        start = time.perf_counter()
        for i, (key, body) in enumerate(bodies):
            due = start + i / rate if rate else 0
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent[key] = time.time()
            producer.publish(body, exchange=exchange, routing_key=routing_key, serializer="json", delivery_mode=2)
    return sent


def messaging_round(amqp: str, url: str, students: list, rate: float, seconds: float) -> dict:
    from messaging import store

    n = int(rate * seconds)
    events = [mark_event(students[i % len(students)]) for i in range(n)]
    bodies = [(e["payload"]["mark_id"], e) for e in events]
    engine = make_engine(url)
    factory = session_factory(engine)
    with factory() as s:
        before = s.scalar(select(func.count(store.Notification.id)))
    sent = paced_publish(amqp, Exchange("journal.events", type="topic", durable=True), "mark_posted", bodies, rate)
    deadline = time.monotonic() + max(60.0, seconds * 10, n / 20)  # bounded, even for a slow consumer
    while time.monotonic() < deadline:
        with factory() as s:
            if s.scalar(select(func.count(store.Notification.id))) - before >= n:
                break
        time.sleep(0.2)
    with factory() as s:
        rows = s.execute(select(store.Notification.data, store.Notification.created_at)).all()
    engine.dispose()
    stored = {r.data.get("mark_id"): r.created_at.timestamp() for r in rows if r.data.get("mark_id") in sent}
    lat = [(stored[k] - sent[k]) * 1000 for k in stored]
    span = max(stored.values()) - min(sent.values()) if stored else float("nan")
    return {"events": n, "stored": len(stored), "eps": len(stored) / span if stored else 0.0,
            "p50": pct(lat, 0.5), "p99": pct(lat, 0.99)}


def broker_round(amqp: str, size: int, n: int, rate: float) -> dict:
    """The floor: publish -> consume of ``n`` bodies of ``size`` bytes (persistent, acked)."""
    exchange = Exchange(f"bench.floor.{uuid.uuid4().hex[:6]}", type="direct", durable=False, auto_delete=True)
    queue = Queue(f"bench.floor.{uuid.uuid4().hex[:6]}", exchange=exchange, routing_key="k", durable=False,
                  auto_delete=True)
    got, done = {}, threading.Event()
    ready = threading.Event()

    def consume():
        with Connection(amqp) as conn:
            def on_message(body, message):
                got[body["k"]] = time.time()
                message.ack()
                if len(got) >= n:
                    done.set()
            with Consumer(conn, queues=[queue], callbacks=[on_message], prefetch_count=100):
                ready.set()
                deadline = time.monotonic() + 120
                while not done.is_set() and time.monotonic() < deadline:
                    try:
                        conn.drain_events(timeout=1)
                    except TimeoutError:
                        pass

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    ready.wait(10)
    pad = "x" * max(0, size - 60)
    bodies = [(str(i), {"k": str(i), "pad": pad}) for i in range(n)]
    sent = paced_publish(amqp, exchange, "k", bodies, rate)
    done.wait(120)
    thread.join(5)
    lat = [(got[k] - sent[k]) * 1000 for k in got]
    span = max(got.values()) - min(sent.values()) if got else float("nan")
    return {"events": n, "stored": len(got), "eps": len(got) / span if got else 0.0,
            "p50": pct(lat, 0.5), "p99": pct(lat, 0.99)}


def batch_stats(metrics_url: str) -> tuple[float, float]:
    """(batches, deliveries) of messaging's mark_posted batch consumer so far."""
    count = total = 0.0
    try:
        text = urllib.request.urlopen(metrics_url, timeout=5).read().decode()
    except OSError:
        return count, total
    for line in text.splitlines():
        if 'consumer="messaging.on_mark_posted"' not in line:
            continue
        if line.startswith("ejournal_event_batch_size_count"):
            count = float(line.rsplit(" ", 1)[1])
        elif line.startswith("ejournal_event_batch_size_sum"):
            total = float(line.rsplit(" ", 1)[1])
    return count, total


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux /proc): the
    cost per event that does not depend on how busy the machine is."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def wait_http(url: str, proc, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("messaging exited early")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--students", type=int, default=300)
    args = parser.parse_args(argv)
    if args.rate * args.seconds > 50_000:
        raise SystemExit("bounded: at most 50,000 events per round")

    pg = PgDatabases(admin_url())
    url = pg.create("bench_messaging")
    base = _free_base()
    amqp = f"amqp://guest:guest@127.0.0.1:5672/ejb-notif-{uuid.uuid4().hex[:8]}"
    ensure_vhost(amqp)
    tmp = Path(tempfile.mkdtemp(prefix="ejournal-bench-notif-"))
    proc = None
    try:
        upgrade("messaging", url)
        students = seed(url, args.students)
        env = {**os.environ, "EJOURNAL_MESSAGING_DATABASE_URL": url, "EJOURNAL_AMQP_URI": amqp,
               "EJOURNAL_DATA_DIR": str(tmp), "EJOURNAL_PORT_BASE": str(base), "EJOURNAL_SMTP_HOST": ""}
        proc = subprocess.Popen([sys.executable, "-m", "kernel.runner", "messaging"], env=env,
                                stdout=subprocess.DEVNULL, stderr=open(tmp / "messaging.log", "wb"))
        wait_http(f"http://127.0.0.1:{base + 13}/healthz", proc)
        size = len(json.dumps(mark_event(students[0]), ensure_ascii=False).encode())
        # warm-up: connections, pools, plans
        messaging_round(amqp, url, students, min(args.rate, 200.0), 1.0)
        n = int(args.rate * args.seconds)
        print(f"mark_posted -> notification stored: {args.rounds} rounds x {n} events at {args.rate:.0f}/s; "
              f"body {size} bytes; {args.students} students with a parent each; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
        metrics_url = f"http://127.0.0.1:{base + 13}/metrics"
        runs, floors, ceilings = [], [], []
        for r in range(args.rounds):
            b0, d0 = batch_stats(metrics_url)
            cpu0 = cpu_seconds(proc.pid)
            runs.append(messaging_round(amqp, url, students, args.rate, args.seconds))
            cpu1 = cpu_seconds(proc.pid)
            b1, d1 = batch_stats(metrics_url)
            runs[-1]["batch"] = (d1 - d0) / (b1 - b0) if b1 > b0 else float("nan")
            # (includes the mailer's and the outbox relay's idle polling during the round)
            runs[-1]["cpu_ms"] = (cpu1 - cpu0) * 1000 / max(1, runs[-1]["stored"])
            floors.append(broker_round(amqp, size, n, args.rate))
            ceilings.append(broker_round(amqp, size, n, 0))
            m, f, c = runs[-1], floors[-1], ceilings[-1]
            print(f"  round {r + 1}: messaging {m['eps']:.0f} ev/s (p50 {m['p50']:.1f} ms, p99 {m['p99']:.1f} ms, "
                  f"{m['stored']}/{m['events']} stored, mean batch {m['batch']:.1f}, "
                  f"{m['cpu_ms']:.2f} ms CPU/event); broker paced {f['eps']:.0f}/s (p50 {f['p50']:.1f}, "
                  f"p99 {f['p99']:.1f} ms); broker unpaced {c['eps']:.0f}/s", flush=True)

        def med(rs, key):
            return statistics.median(x[key] for x in rs)

        print()
        print("medians                                    events/s   p50 ms    p99 ms")
        print(f"  mark posted -> notification stored     {med(runs, 'eps'):9.0f} {med(runs, 'p50'):8.1f} {med(runs, 'p99'):9.1f}")
        print(f"  broker publish -> consume, same pace   {med(floors, 'eps'):9.0f} {med(floors, 'p50'):8.1f} {med(floors, 'p99'):9.1f}")
        print(f"  broker publish -> consume, unpaced     {med(ceilings, 'eps'):9.0f} {med(ceilings, 'p50'):8.1f} {med(ceilings, 'p99'):9.1f}")
        print(f"  ratio messaging/broker ceiling         {med(runs, 'eps') / med(ceilings, 'eps'):9.2f}")
        print(f"  messaging process CPU per event        {med(runs, 'cpu_ms'):9.2f} ms")
        ok = med(runs, "p99") <= 200 and med(runs, "eps") >= 0.95 * args.rate
        print(f"  goal p99 <= 200 ms at {args.rate:.0f} events/s: {'met' if ok else 'NOT met'}")
        return 0
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        delete_vhost(amqp)
        pg.drop_all()


if __name__ == "__main__":
    sys.exit(main())
