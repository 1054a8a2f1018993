"""`make test-faults`: the platform on its own RabbitMQ node and PostgreSQL
cluster, under a careful client posting marks, through one fault after
another: the broker restarted, the database restarted, every platform
process killed with SIGKILL in turn (the launcher restarts it), and a
consumer's queue filled while the consumer is down. Afterwards every mark
the client was told is stored is in the journal exactly once, none it was
refused is, every parent notification exists once, the reports projection
counts what the journal counts, the access log lost no event, and after
every fault the platform was ready again within 30 s. A table of faults x
(lost, doubled, recovery seconds) is printed.

Not collected by `make test` (the name is no test_*.py). Loopback only;
every loop bounded in count and time; about five minutes."""
from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import faults_checks as checks  # noqa: E402
from faults_load import CarefulClient, make_school  # noqa: E402
from faults_servers import PgCluster, RabbitNode  # noqa: E402

MIN_MARKS = int(os.environ.get("EJOURNAL_FAULTS_MARKS", "3000"))
READY_WITHIN = 30.0
SETTLE = 2.0          # seconds of plain load between two faults
FILL_MESSAGES = 150   # the stopped consumer's queue holds at least this many (or FILL_SECONDS passed)
FILL_SECONDS = 20.0


@pytest.fixture(scope="module")
def stack():
    """The private node and cluster, and a platform started on them."""
    from kernel.testing import PgDatabases
    from localrun.launcher import _free_base, platform_env, start_throwaway

    base = Path(tempfile.mkdtemp(prefix="ejournal-faults-"))
    os.chmod(base, 0o755)  # the servers run as their own users when we are root
    ports = _free_base(span=3)
    pg = PgCluster(base, ports)
    rabbit = RabbitNode(base, ports + 1, ports + 2, f"ejfaults{ports}")
    platform = None
    try:
        pg.create()
        rabbit.create()
        dbs = PgDatabases(pg.url)
        env = platform_env(base, dbs, "faults")
        dbs.engine.dispose()
        env["EJOURNAL_AMQP_URI"] = rabbit.url  # vhost "/": the launcher creates no vhost (on no other broker)
        platform = start_throwaway(env, timeout=180)
        platform.said = []
        platform.backoff, platform.out = (0.5, 2.0), platform.said.append
        yield platform, pg, rabbit
    finally:
        if platform is not None:
            platform.stop()
            keep_logs(platform)
        rabbit.remove()
        pg.remove()
        import shutil
        shutil.rmtree(base, ignore_errors=True)


def keep_logs(platform) -> None:
    """The last run's process logs, for a failure's post-mortem: build/faults-logs."""
    import shutil

    kept = Path(__file__).resolve().parents[2] / "build" / "faults-logs"
    shutil.rmtree(kept, ignore_errors=True)
    shutil.copytree(platform.log_dir, kept, dirs_exist_ok=True)


class Watch:
    """The launcher's watch, once every 0.2 s in a thread, as `make run`
    does; a paused process is left down."""

    def __init__(self, platform):
        self.platform = platform
        self.lock = threading.Lock()
        self.paused: list = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watch", daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.2):
            with self.lock:
                self.platform.watch()

    def pause(self, proc):
        with self.lock:
            self.platform.procs.remove(proc)
            self.paused.append(proc)

    def resume(self, proc):
        with self.lock:
            self.paused.remove(proc)
            self.platform._spawn(proc)
            self.platform.procs.append(proc)

    def stop(self):
        self._stop.set()
        self._thread.join(5)


def ready(platform) -> bool:
    try:
        with urllib.request.urlopen(platform.url + "/readyz", timeout=5) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def all_back(platform, watch) -> bool:
    with watch.lock:
        procs = list(platform.procs)
    return (all(p.popen is not None and p.popen.poll() is None and p.restart_at is None for p in procs)
            and platform._gateway_listening() and ready(platform))


def wait_back(platform, watch, since: float, timeout: float = READY_WITHIN + 30) -> float:
    """Seconds from ``since`` (a fault's start; a server restart's end) until
    every process runs and /readyz is green; inf past ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all_back(platform, watch):
            return time.monotonic() - since
        time.sleep(0.2)
    return float("inf")


def kill9(platform, watch, name):
    def fault():
        (proc,) = [p for p in platform.procs if p.name == name]
        first = proc.popen
        os.kill(first.pid, signal.SIGKILL)
        killed = time.monotonic()  # recovery counts from the kill
        first.wait(30)
        deadline = killed + 30
        while proc.popen is first and time.monotonic() < deadline:  # the launcher restarts it
            time.sleep(0.1)
        return killed
    return fault


def restart_server(server):
    def fault():
        server.restart()
        return time.monotonic()  # recovery counts from the server being back
    return fault


def fill_queue(platform, watch, rabbit, name):
    """Stop ``name`` (left down), let its queues fill under the load, start it."""
    def fault():
        (proc,) = [p for p in platform.procs if p.name == name]
        watch.pause(proc)
        os.killpg(proc.popen.pid, signal.SIGTERM)
        proc.popen.wait(30)
        deadline = time.monotonic() + FILL_SECONDS
        while time.monotonic() < deadline:
            depth = sum(n for q, n in rabbit.queue_depths().items()
                        if q.rpartition("--")[2].startswith(name + "."))
            if depth >= FILL_MESSAGES:
                break
            time.sleep(0.5)
        platform.filled = depth
        watch.resume(proc)
        return time.monotonic()
    return fault


def test_nothing_is_lost_or_doubled_under_faults(stack, capsys):
    platform, pg, rabbit = stack
    school = make_school(platform.url, platform.env)
    watch = Watch(platform)
    faults = [("rabbitmq restart", restart_server(rabbit)), ("postgresql restart", restart_server(pg))]
    faults += [(f"kill -9 {p.name}", kill9(platform, watch, p.name)) for p in platform.procs]
    faults.append(("messaging queue filled while down", fill_queue(platform, watch, rabbit, "messaging")))
    phase = {"name": "steady"}
    client = CarefulClient(school, lambda: phase["name"])
    recovery: dict[str, float] = {}
    try:
        client.start()
        try:
            time.sleep(SETTLE)
            for name, fault in faults:
                phase["name"] = name
                recovery[name] = wait_back(platform, watch, fault())
                time.sleep(SETTLE)
                phase["name"] = "steady"
            # the rest of the marks without faults, bounded by the client's max_requests
            deadline = time.monotonic() + 240
            while client.marks_told_stored() < MIN_MARKS and time.monotonic() < deadline:
                time.sleep(0.5)
        finally:
            client.stop()
        drain_seconds = checks.wait_drained(platform.env, rabbit)
        all_ready = wait_back(platform, watch, time.monotonic(), READY_WITHIN)
    finally:
        watch.stop()  # before the fixture stops the platform: nothing may restart meanwhile

    outcomes = client.outcomes
    journal = checks.journal_marks(platform.env)
    notes = checks.notifications_per_mark(platform.env)
    logged = checks.access_log_ids(platform.env)
    rows, problems = {}, []
    for o in outcomes:
        row = rows.setdefault(o.phase, {"requests": 0, "stored": 0, "refused": 0, "lost": 0, "doubled": 0,
                                        "n_lost": 0, "n_doubled": 0, "log_lost": 0, "retried": 0,
                                        "500": 0})
        row["requests"] += 1
        row["retried"] += o.attempts > 1
        row["500"] += o.errors.count("500")  # a fault is 503 (retry), never an unexpected error
        for cid in o.answered_ok:
            if cid not in logged:
                row["log_lost"] += 1
                problems.append(f"the access event of {cid} (answered 200) is not in the access log")
        if o.told_stored:
            row["stored"] += len(o.marks)
            for mark, mark_id in zip(o.marks, o.stored_ids):
                found = journal.get(mark["comment"], [])
                row["lost"] += not found
                row["doubled"] += max(0, len(found) - 1)
                if [f[0] for f in found] != [mark_id]:
                    problems.append(f"{mark['comment']}: told {mark_id}, journal has {found}")
                for f in found:
                    n = notes.get((f[0], school.parents[mark["student_id"]]), 0)
                    row["n_lost"] += n == 0
                    row["n_doubled"] += max(0, n - 1)
        elif o.refused:
            row["refused"] += 1
            stored = [m["comment"] for m in o.marks if m["comment"] in journal]
            if stored:
                problems.append(f"request {o.seq} was refused ({o.status}) but {stored} are stored")
            if not o.refused_on_purpose:
                problems.append(f"request {o.seq} of valid marks was refused: {o.errors[-1:]}")
        else:
            problems.append(f"request {o.seq} gave up after {o.attempts} attempts: {o.errors[-3:]}")
        if o.refused_on_purpose and o.told_stored:
            problems.append(f"request {o.seq} naming a student outside the class was stored")

    j_counts, r_counts = checks.counts_per_class_and_subject(platform.env)
    selfcheck = checks.reports_selfcheck(platform.settings.amqp_uri, platform.env_of(None))
    dead = checks.dead_letters(platform.env)
    event_queues = {q: kind for q, kind in rabbit.queue_types().items() if q.startswith("evt-")}
    dropped = checks.gateway_dropped(platform)

    table = format_table(rows, recovery)
    with capsys.disabled():
        print("\n" + table)
        print(f"marks told stored: {client.marks_told_stored()}, requests: {len(outcomes)}, "
              f"drained in {drain_seconds:.1f} s, filled queue: {getattr(platform, 'filled', 0)} messages, "
              f"reports self-check: {selfcheck['differences']} differences of {selfcheck['compared']}, "
              f"access events dropped (metric): {dropped:g}, dead letters: {dead or 0}")
        for line in problems[:20]:
            print("  problem:", line)

    assert client.marks_told_stored() >= MIN_MARKS
    assert not problems, f"{len(problems)} problems, first: {problems[:5]}"
    kinds = ("lost", "doubled", "n_lost", "n_doubled", "log_lost", "500")
    assert {k: sum(r[k] for r in rows.values()) for k in kinds} == dict.fromkeys(kinds, 0), table
    assert j_counts == r_counts, f"journal {j_counts} != reports {r_counts}"
    assert selfcheck["differences"] == 0, selfcheck
    assert dead == {}, dead
    assert event_queues and set(event_queues.values()) == {"quorum"}, event_queues  # as deployed
    slow = {name: s for name, s in recovery.items() if s > READY_WITHIN}
    assert not slow, f"not ready within {READY_WITHIN:.0f}s after: {slow}"
    assert all_ready <= READY_WITHIN


def format_table(rows: dict, recovery: dict) -> str:
    head = (f"{'fault':34} {'requests':>8} {'retried':>7} {'500s':>4} {'marks':>6} {'lost':>5} {'doubled':>7} "
            f"{'notif lost':>10} {'notif doubled':>13} {'log lost':>8} {'recovery s':>10}")
    lines = [head, "-" * len(head)]
    for name in ["steady", *recovery]:
        r = rows.get(name, {})
        rec = recovery.get(name)
        lines.append(f"{name:34} {r.get('requests', 0):>8} {r.get('retried', 0):>7} {r.get('500', 0):>4} "
                     f"{r.get('stored', 0):>6} "
                     f"{r.get('lost', 0):>5} {r.get('doubled', 0):>7} {r.get('n_lost', 0):>10} "
                     f"{r.get('n_doubled', 0):>13} {r.get('log_lost', 0):>8} "
                     f"{'' if rec is None else f'{rec:.1f}':>10}")
    return "\n".join(lines)
