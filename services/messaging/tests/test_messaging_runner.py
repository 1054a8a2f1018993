"""The production entrypoint ``python -m kernel.runner messaging`` as a
real process: it consumes journal's mark_posted from RabbitMQ, writes the
notifications and exposes messaging_notifications_created_total."""
from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

from nameko.exceptions import UnknownService
from nameko.standalone.rpc import ServiceRpcProxy

from messaging import store
from messaging_testkit import free_port, make_envelope, mark_payload, new_id, wait_healthy


def metric(text: str, kind: str) -> float:
    found = re.search(r'^messaging_notifications_created_total\{kind="%s"\} (\S+)$' % kind, text, re.M)
    return float(found.group(1)) if found else 0.0


def rpc_health(proxy, timeout: float = 20.0) -> dict:
    """health() once the nameko consumers exist: the runner answers /healthz
    before its container has declared its queues."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return proxy.health()
        except UnknownService:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_runner_process_notifies_parents_and_counts_them(rabbit_config, db_url, session_maker, publish, rows):
    school, student, parent = new_id(), new_id(), new_id()
    with session_maker() as s:
        store.save_user_created(s, user_id=student, school_id=school, full_name="Иванов Пётр", roles=["student"],
                                as_of=dt.datetime.now(dt.timezone.utc))
        store.save_parent_link(s, school_id=school, student_id=student, parent_id=parent, relation="мать")
        s.commit()

    metrics_port = free_port()
    env = {**os.environ, "EJOURNAL_AMQP_URI": rabbit_config["AMQP_URI"], "EJOURNAL_MESSAGING_DATABASE_URL": db_url,
           "EJOURNAL_MESSAGING_METRICS_PORT": str(metrics_port), "EJOURNAL_BIND_HOST": "127.0.0.1"}
    env.pop("EJOURNAL_TEST_EVENTLET", None)
    proc = subprocess.Popen([sys.executable, "-m", "kernel.runner", "messaging"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_healthy(f"http://127.0.0.1:{metrics_port}/healthz", proc) == {"status": "ok"}
        with ServiceRpcProxy("messaging", rabbit_config, timeout=15) as messaging:
            assert rpc_health(messaging) == {"status": "ok", "service": "messaging"}
            publish("journal", make_envelope("mark_posted", mark_payload(student_id=student, value=4),
                                             producer="journal", school_id=school))
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not rows(store.Notification):
                time.sleep(0.1)
            page = messaging.list_notifications({"actor_id": parent, "school_id": school, "roles": ["parent"]})
        assert [item["body"] for item in page["items"]] == [
            "Иванов Пётр: оценка 4 по предмету «Математика» за 12.10.2026"]
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as resp:
            assert metric(resp.read().decode(), "mark") == 1.0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(20) == 0, proc.stderr.read().decode()[-2000:]
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
