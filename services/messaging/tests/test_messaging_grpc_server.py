"""The messaging gRPC process (Export + health), started as a real
subprocess: the test process is monkey-patched by eventlet, so neither the
grpcio server nor its client may run in it; the client is a subprocess too."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest

from messaging import domain, store
from messaging_testkit import free_port, new_id, wait_healthy

CLIENT = r"""
import json, sys
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ejournal.export.v1 import export_pb2, export_pb2_grpc

with grpc.insecure_channel(sys.argv[1]) as channel:
    grpc.channel_ready_future(channel).result(timeout=10)
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    stub = export_pb2_grpc.ExportStub(channel)
    counts = stub.CountRows(export_pb2.ExportRequest(), timeout=5).counts
    tables = {}
    for chunk in stub.ExportData(export_pb2.ExportRequest(), timeout=10):
        tables.setdefault(chunk.table, []).extend(json.loads(chunk.rows_json))
    print(json.dumps({"health": health_pb2.HealthCheckResponse.ServingStatus.Name(health.status),
                      "counts": dict(counts), "tables": tables}, ensure_ascii=False))
"""


@pytest.fixture
def grpc_server(db_url):
    port, metrics_port = free_port(), free_port()
    env = {**os.environ, "EJOURNAL_MESSAGING_DATABASE_URL": db_url, "EJOURNAL_MESSAGING_GRPC_PORT": str(port),
           "EJOURNAL_MESSAGING_GRPC_METRICS_PORT": str(metrics_port), "EJOURNAL_BIND_HOST": "127.0.0.1"}
    env.pop("EJOURNAL_TEST_EVENTLET", None)
    proc = subprocess.Popen([sys.executable, "-m", "messaging.grpc_server"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        health = wait_healthy(f"http://127.0.0.1:{metrics_port}/healthz", proc)
        yield {"target": f"127.0.0.1:{port}", "metrics": metrics_port, "health": health, "proc": proc}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_export_streams_every_table_and_health_serves(grpc_server, session_maker):
    """R-D1/R-D2: backup copies messaging's data through the Export stream."""
    school, parent = new_id(), new_id()
    with session_maker() as s:
        store.save_parent_link(s, school_id=school, student_id=new_id(), parent_id=parent, relation="мать")
        store.add_notifications(s, school_id=school, source_event_id=new_id(), drafts=[
            domain.NotificationDraft(recipient_id=parent, kind="mark", title="Новая оценка", body="Тест",
                                     data={"value": 5})])
        s.commit()
    assert grpc_server["health"] == {"status": "ok"}

    out = subprocess.run([sys.executable, "-c", CLIENT, grpc_server["target"]], capture_output=True, timeout=60,
                         env={k: v for k, v in os.environ.items() if k != "EJOURNAL_TEST_EVENTLET"})
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    result = json.loads(out.stdout)
    assert result["health"] == "SERVING"
    assert set(result["counts"]) == {t.name for t in store.Base.metadata.sorted_tables}
    assert result["counts"]["notifications"] == 1 and result["counts"]["parent_links"] == 1
    assert result["counts"]["people"] == 0
    [note] = result["tables"]["notifications"]
    assert (note["recipient_id"], note["body"], note["data"]) == (parent, "Тест", {"value": 5})

    with urllib.request.urlopen(f"http://127.0.0.1:{grpc_server['metrics']}/metrics", timeout=5) as resp:
        assert b"ejournal_grpc_seconds" in resp.read()

    proc = grpc_server["proc"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
