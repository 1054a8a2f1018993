"""Test helpers of messaging: factories of test data (fresh ids, event
envelopes; never hard-coded ids) and helpers for tests that start real
processes. A service-specific module name so that it does not clash with
other services' test helpers on sys.path."""
from __future__ import annotations

import datetime as dt
import json
import socket
import time
import urllib.request
import uuid

from kernel.events import envelope


def new_id() -> str:
    return str(uuid.uuid4())


def make_envelope(type: str, payload: dict, *, producer: str, school_id: str | None,
                  occurred_at: dt.datetime | None = None, **overrides) -> dict:
    """An envelope exactly as the kernel's outbox writes it."""
    env = envelope(type=type, producer=producer, payload=payload, school_id=school_id, actor_id=new_id())
    if occurred_at is not None:
        env["occurred_at"] = occurred_at.isoformat()
    env.update(overrides)
    return env


def mark_payload(*, student_id: str, subject_id: str | None = None, value=5, date="2026-10-12",
                 subject_name="Математика", **extra) -> dict:
    payload = {
        "mark_id": new_id(), "lesson_id": new_id(), "student_id": student_id, "class_id": new_id(),
        "subject_id": subject_id or new_id(), "subject_name": subject_name, "date": date, "value": value,
        "kind": "oral", "weight": 1, "comment": None, "teacher_id": new_id(),
    }
    payload.update(extra)
    return payload


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc, timeout: float = 20.0) -> dict:
    """The JSON of a process's /healthz once it answers (fails if the process dies)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"process exited early: {proc.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                return json.loads(resp.read())
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer in {timeout}s")


def waiter(container, method, n=1, timeout=15):
    """Wait until ``method`` has handled ``n`` messages. A batch handler
    (kernel.batching) handles a list of messages per worker: each counts."""
    from nameko.testing.services import entrypoint_waiter

    count = {"n": 0}

    def done(worker_ctx, result, exc_info):
        args = worker_ctx.args
        count["n"] += len(args[0]) if args and isinstance(args[0], list) else 1
        return count["n"] >= n

    return entrypoint_waiter(container, method, callback=done, timeout=timeout)
