"""``python -m backup.worker`` as the real process it is (R-D1, R-D2): it
pulls a real gRPC Export stream, writes and verifies the archive, serves
/healthz and /metrics, fails a backup whose source is down, and stops
cleanly on SIGTERM. Both gRPC ends run in subprocesses, never in this
eventlet-patched test process."""
from __future__ import annotations

import base64
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

from backup import domain
from backup.archive import read_archive
from backup.crypto import generate_key

import backup_export_server as export_server

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def procs():
    started = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_worker_process_backs_up_over_grpc_and_stops_on_sigterm(tmp_path, db_url, queue, fetch, procs):
    key = generate_key()
    grpc_port, grpc_metrics, worker_metrics = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "EJOURNAL_DATA_DIR": str(tmp_path / "var"),
        "EJOURNAL_BACKUP_DATABASE_URL": db_url,
        "EJOURNAL_BACKUP_DIR": str(tmp_path / "backups"),
        "EJOURNAL_BACKUP_KEY": base64.b64encode(key).decode(),
        "EJOURNAL_BACKUP_SOURCES": "journal",
        "EJOURNAL_JOURNAL_GRPC_TARGET": f"127.0.0.1:{grpc_port}",
        "EJOURNAL_BACKUP_WORKER_METRICS_PORT": str(worker_metrics),
        "EJOURNAL_BACKUP_POLL_SECONDS": "0.2",
        "EJOURNAL_BACKUP_EXPORT_TIMEOUT": "10",
        "EJOURNAL_BACKUP_RETRY_DELAY": "0.2",
    }
    env.pop("EJOURNAL_TEST_EVENTLET", None)
    # Both processes start together (their start-up dominates this test).
    server = subprocess.Popen([sys.executable, str(HERE / "backup_export_server.py"), str(tmp_path / "journal.db"),
                               str(grpc_port), str(grpc_metrics)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    procs.append(server)
    worker = subprocess.Popen([sys.executable, "-m", "backup.worker"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    procs.append(worker)
    base = f"http://127.0.0.1:{worker_metrics}"
    wait_for(lambda: http_get(f"{base}/healthz")[0] == 200, 20, "worker /healthz")
    wait_for(lambda: http_get(f"http://127.0.0.1:{grpc_metrics}/healthz")[0] == 200, 20, "export server")

    good = queue()
    wait_for(lambda: fetch(good)["status"] != domain.RUNNING, 20, "the backup")
    row = fetch(good)
    assert row["status"] == domain.DONE, row["error"]
    assert row["verified"] and row["targets"] == [f"local:{tmp_path / 'backups'}"]
    contents = read_archive(tmp_path / "backups" / f"{good}.ejbak", key, backup_id=good)
    assert contents.rows["journal"] == {"pupils": export_server.pupils(), "marks": export_server.marks()}
    # the catalogue itself is in the archive too (a restore brings it back)
    assert good in {b["id"] for b in contents.rows["backup"]["backups"]}
    assert contents.manifest["services"]["journal"]["schema_revision"] == export_server.REVISION
    assert contents.size == row["size"]

    # The source goes down: tried, retried once, then failed with the reason.
    server.send_signal(signal.SIGTERM)
    server.wait(10)
    down = queue()
    wait_for(lambda: fetch(down)["status"] == domain.FAILED, 20, "the failed backup")
    error = fetch(down)["error"]
    assert "journal" in error and "UNAVAILABLE" in error
    assert not (tmp_path / "backups" / f"{down}.ejbak").exists()

    status, metrics = http_get(f"{base}/metrics")
    assert status == 200
    assert 'backup_runs_total{status="done"} 1.0' in metrics
    assert 'backup_runs_total{status="failed"} 1.0' in metrics
    assert f"backup_bytes_total {float(row['size'])}" in metrics
    assert "backup_seconds_count 2.0" in metrics

    worker.send_signal(signal.SIGTERM)
    assert worker.wait(10) == 0
    output = worker.stdout.read().decode()
    assert "backup worker stopped" in output


SCOPED_CLIENT = """
import json, sys
import grpc
from ejournal.export.v1 import export_pb2, export_pb2_grpc
from backup.sources import GrpcSource
target, school = sys.argv[1], sys.argv[2]
channel = grpc.insecure_channel(target)
grpc.channel_ready_future(channel).result(timeout=20)
counts = export_pb2_grpc.ExportStub(channel).CountRows(export_pb2.ExportRequest(school_id=school), timeout=10).counts
tables = {}
for table, rows, _ in GrpcSource(target, timeout=10, school_id=school).export("b1"):
    tables.setdefault(table, []).extend(rows)
print(json.dumps({"counts": dict(counts), "tables": tables}))
"""


def test_export_over_grpc_honours_school_id(tmp_path, procs):
    """ExportData and CountRows with a school_id (real gRPC, both ends in
    subprocesses): that school's pupils and, through the foreign key, their marks."""
    grpc_port, grpc_metrics = free_port(), free_port()
    env = {**os.environ}
    env.pop("EJOURNAL_TEST_EVENTLET", None)
    server = subprocess.Popen([sys.executable, str(HERE / "backup_export_server.py"), str(tmp_path / "journal.db"),
                               str(grpc_port), str(grpc_metrics)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    procs.append(server)
    wait_for(lambda: http_get(f"http://127.0.0.1:{grpc_metrics}/healthz")[0] == 200, 20, "export server")
    client = subprocess.run([sys.executable, "-c", SCOPED_CLIENT, f"127.0.0.1:{grpc_port}", "s2"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert client.returncode == 0, client.stderr
    result = json.loads(client.stdout)
    pupils = [p for p in export_server.pupils() if p["school_id"] == "s2"]
    marks = [m for m in export_server.marks() if m["pupil_id"] == "p0002"]
    assert result["tables"] == {"pupils": pupils, "marks": marks}
    assert result["counts"] == {"pupils": 1, "marks": len(marks)}
