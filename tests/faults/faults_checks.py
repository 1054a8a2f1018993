"""What the fault suite counts once the faults are over: straight from
each service's own database on the suite's private cluster, and the
reports service's self-check over RPC."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter, defaultdict

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

SERVICES = ("identity", "journal", "messaging", "reports", "backup")


def engine_of(env: dict, service: str):
    return create_engine(env[f"EJOURNAL_{service.upper()}_DATABASE_URL"], poolclass=NullPool)


def query(env: dict, service: str, sql: str, **params) -> list:
    engine = engine_of(env, service)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).all()
    finally:
        engine.dispose()


def unsent_outbox(env: dict) -> dict[str, int]:
    """{service: outbox rows the broker has not confirmed yet}."""
    return {s: query(env, s, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")[0][0] for s in SERVICES}


def dead_letters(env: dict) -> dict[str, int]:
    return {s: n for s in SERVICES if (n := query(env, s, "SELECT count(*) FROM dead_letters")[0][0])}


def wait_drained(env: dict, rabbit, timeout: float = 120.0) -> float:
    """Wait until every outbox row is confirmed and every queue is empty;
    the seconds it took (AssertionError past ``timeout``)."""
    started = time.monotonic()
    last = None
    while time.monotonic() - started < timeout:
        try:
            outbox = {s: n for s, n in unsent_outbox(env).items() if n}
            queues = {q: n for q, n in rabbit.queue_depths().items() if n and not q.startswith("rpc")}
        except Exception as exc:  # noqa: BLE001 - a server still coming back: look again
            last = repr(exc)
        else:
            last = {"outbox": outbox, "queues": queues}
            if not outbox and not queues:
                return time.monotonic() - started
        time.sleep(1.0)
    raise AssertionError(f"not drained in {timeout:.0f}s: {last}")


def journal_marks(env: dict) -> dict[str, list]:
    """{comment tag: [(mark id, class id, subject id, removed)]} of every mark the suite posted."""
    rows = query(env, "journal", "SELECT m.comment, m.id, l.class_id, l.subject_id, m.removed FROM marks m "
                                 "JOIN lessons l ON l.id = m.lesson_id WHERE m.comment LIKE 'f%'")
    found = defaultdict(list)
    for comment, mark_id, class_id, subject_id, removed in rows:
        found[comment].append((mark_id, class_id, subject_id, removed))
    return found


def notifications_per_mark(env: dict) -> Counter:
    """{(mark id, recipient id): notifications of a new mark}."""
    rows = query(env, "messaging", "SELECT data, recipient_id FROM notifications WHERE source_event_id IS NOT NULL")
    counts = Counter()
    for data, recipient in rows:
        data = data if isinstance(data, dict) else json.loads(data)
        if data.get("mark_id"):
            counts[(data["mark_id"], recipient)] += 1
    return counts


def counts_per_class_and_subject(env: dict) -> tuple[dict, dict]:
    """(journal's, reports') counts of current marks per (class, subject)."""
    journal = query(env, "journal", "SELECT l.class_id, l.subject_id, count(*) FROM marks m "
                                    "JOIN lessons l ON l.id = m.lesson_id WHERE NOT m.removed "
                                    "GROUP BY l.class_id, l.subject_id")
    reports = query(env, "reports", "SELECT class_id, subject_id, count(*) FROM marks WHERE NOT removed "
                                    "GROUP BY class_id, subject_id")
    return ({(c, s): n for c, s, n in journal}, {(c, s): n for c, s, n in reports})


def access_log_ids(env: dict) -> set[str]:
    rows = query(env, "identity", "SELECT correlation_id FROM access_log WHERE correlation_id LIKE 'faults-%'")
    return {r[0] for r in rows}


SELFCHECK = """
import json, sys
from nameko.standalone.rpc import ServiceRpcProxy
with ServiceRpcProxy("reports", {"AMQP_URI": sys.argv[1]}, timeout=60) as reports:
    print(json.dumps(reports.selfcheck()))
"""


def reports_selfcheck(amqp_uri: str, env: dict) -> dict:
    """The reports service's own self-check (its ``selfcheck`` RPC), asked
    from a separate process (nameko's standalone proxy wants its own)."""
    result = subprocess.run([sys.executable, "-c", SELFCHECK, amqp_uri], env=env, capture_output=True, text=True,
                            timeout=120)
    if result.returncode != 0:
        raise AssertionError(f"reports.selfcheck() failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def gateway_dropped(platform) -> float:
    """gateway_access_events_dropped_total of the gateway now running."""
    import urllib.request

    url = f"{platform.url}/metrics"
    body = urllib.request.urlopen(url, timeout=10).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
               if line.startswith("gateway_access_events_dropped_total"))
