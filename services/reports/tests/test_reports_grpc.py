"""The reports gRPC process (`python -m reports.grpc_server`) run as a real
subprocess on the test database; a second, un-patched subprocess is the gRPC
client (this test process runs under eventlet, where grpcio must not run).
Covers the backup Export contract (R-D1, R-D2) and the health services."""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from kernel.db import make_engine, new_id, session_factory, transaction
from reports import store

ROOT = Path(__file__).resolve().parents[3]

CLIENT = r"""
import json, sys
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ejournal.export.v1 import export_pb2, export_pb2_grpc

channel = grpc.insecure_channel(sys.argv[1])
grpc.channel_ready_future(channel).result(timeout=10)
export = export_pb2_grpc.ExportStub(channel)
counts = dict(export.CountRows(export_pb2.ExportRequest(), timeout=10).counts)
chunks = [{"table": c.table, "rows": json.loads(c.rows_json), "revision": c.schema_revision}
          for c in export.ExportData(export_pb2.ExportRequest(), timeout=10)]
health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
print(json.dumps({"counts": counts, "chunks": chunks, "health": health.status}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"grpc server exited with {proc.returncode}: {proc.stderr.read().decode()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                return json.loads(resp.read())
        except OSError:
            time.sleep(0.1)
    raise AssertionError("grpc server did not become healthy")


@pytest.fixture
def grpc_server(db_url):
    port, metrics_port = free_port(), free_port()
    env = {**os.environ, "EJOURNAL_REPORTS_DATABASE_URL": db_url, "EJOURNAL_REPORTS_GRPC_PORT": str(port),
           "EJOURNAL_REPORTS_GRPC_METRICS_PORT": str(metrics_port), "EJOURNAL_BIND_HOST": "127.0.0.1"}
    env.pop("EJOURNAL_TEST_EVENTLET", None)
    proc = subprocess.Popen([sys.executable, "-m", "reports.grpc_server"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        health = wait_healthy(f"http://127.0.0.1:{metrics_port}/healthz", proc)
        yield {"target": f"127.0.0.1:{port}", "metrics_port": metrics_port, "health": health, "proc": proc}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.stderr.close()


def test_export_streams_every_table_counts_rows_and_stops_cleanly_R_D2(db_url, grpc_server):
    school, klass, student, subject = new_id(), new_id(), new_id(), new_id()
    engine = make_engine(db_url)
    with transaction(session_factory(engine)) as s:
        store.save_subject(s, school_id=school, subject={"id": subject, "name": "Математика"})
        store.save_mark(s, school_id=school, posted_at=dt.datetime(2026, 9, 2, tzinfo=dt.timezone.utc), mark={
            "id": new_id(), "lesson_id": None, "student_id": student, "class_id": klass, "subject_id": subject,
            "date": dt.date(2026, 9, 2), "value": 5, "kind": "oral", "weight": 1, "teacher_id": None})
    engine.dispose()
    assert grpc_server["health"] == {"status": "ok"}

    out = subprocess.run([sys.executable, "-c", CLIENT, grpc_server["target"]], cwd=ROOT, capture_output=True,
                         timeout=60, env={k: v for k, v in os.environ.items() if k != "EJOURNAL_TEST_EVENTLET"})
    assert out.returncode == 0, out.stderr.decode()
    answer = json.loads(out.stdout)

    assert answer["health"] == 1  # SERVING
    assert answer["counts"]["marks"] == 1 and answer["counts"]["subjects"] == 1 and answer["counts"]["years"] == 0
    tables = {c["table"] for c in answer["chunks"]}
    assert tables == set(store.Base.metadata.tables)
    marks = [row for c in answer["chunks"] if c["table"] == "marks" for row in c["rows"]]
    assert [(m["value"], m["date"], m["school_id"]) for m in marks] == [(5, "2026-09-02", school)]
    assert {c["revision"] for c in answer["chunks"]} == {"0006_report_projections"}  # the head of reports' history

    with urllib.request.urlopen(f"http://127.0.0.1:{grpc_server['metrics_port']}/metrics", timeout=5) as resp:
        assert b'ejournal_grpc_seconds_count{method="CountRows",service="reports"} 1.0' in resp.read()

    # a supervisor's stop: calls drain, the process exits 0
    proc = grpc_server["proc"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
