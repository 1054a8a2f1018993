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
    assert {c["revision"] for c in answer["chunks"]} == {"0010_report_jobs"}  # the head of reports' history

    with urllib.request.urlopen(f"http://127.0.0.1:{grpc_server['metrics_port']}/metrics", timeout=5) as resp:
        assert b'ejournal_grpc_seconds_count{method="CountRows",service="reports"} 1.0' in resp.read()

    # a supervisor's stop: calls drain, the process exits 0
    proc = grpc_server["proc"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0


DOCUMENT_CLIENT = r"""
import json, sys
import grpc
from ejournal.reports.v1 import reports_pb2, reports_pb2_grpc

channel = grpc.insecure_channel(sys.argv[1])
grpc.channel_ready_future(channel).result(timeout=10)
stub = reports_pb2_grpc.ReportsStub(channel)
out = []
for request in json.loads(sys.argv[2]):
    try:
        chunks = list(stub.Document(reports_pb2.DocumentRequest(**request), timeout=30))
        first = chunks[0]
        out.append({"chunks": len(chunks), "content_type": first.content_type, "filename_ascii": first.filename_ascii,
                    "filename": first.filename, "size": first.size,
                    "body": b"".join(c.data for c in chunks).decode()})
    except grpc.RpcError as exc:
        out.append({"status": exc.code().name, "details": json.loads(exc.details())})
print(json.dumps(out))
"""


def test_document_stream_answers_a_report_as_a_file_and_refuses_as_the_error_table(grpc_server, db_url):
    """The report's JSON as a file (content type, ASCII and Russian names,
    size), in chunks; refusals are statuses whose details the gateway maps."""
    school, klass, year, q1 = new_id(), new_id(), new_id(), new_id()
    student, subject = new_id(), new_id()
    engine = make_engine(db_url)
    with transaction(session_factory(engine)) as s:
        store.save_year(s, school_id=school, year={"id": year, "name": "2026/2027", "starts_on": dt.date(2026, 9, 1),
                                                   "ends_on": dt.date(2027, 5, 31)},
                        periods=[{"id": q1, "name": "1 четверть", "kind": "quarter",
                                  "starts_on": dt.date(2026, 9, 1), "ends_on": dt.date(2026, 10, 26)}])
        store.save_class(s, school_id=school, school_class={"id": klass, "year_id": year, "grade": 5, "letter": "А",
                                                            "name": "5А", "class_teacher_id": None})
        store.save_subject(s, school_id=school, subject={"id": subject, "name": "Математика"})
        store.save_user(s, school_id=school, at=dt.datetime(2026, 9, 1, tzinfo=dt.timezone.utc),
                        user={"id": student, "login": "s", "full_name": "Алексеева Мария", "roles": ["student"]})
        store.save_enrolment(s, school_id=school, enrolment={"student_id": student, "class_id": klass,
                                                             "order_no": "1", "enrolled_on": dt.date(2026, 9, 1)})
        for day in range(2, 40):
            store.save_mark(s, school_id=school, posted_at=dt.datetime(2026, 9, 2, tzinfo=dt.timezone.utc), mark={
                "id": new_id(), "lesson_id": None, "student_id": student, "class_id": klass, "subject_id": subject,
                "date": dt.date(2026, 9, 1) + dt.timedelta(days=day % 50), "value": 5, "kind": "oral", "weight": 1,
                "teacher_id": None})
    engine.dispose()
    deputy = {"actor_id": new_id(), "school_id": school, "roles": ["deputy"]}
    requests = [
        {**deputy, "kind": "progress", "format": "json", "class_id": klass, "period_id": q1},
        {**deputy, "roles": ["parent"], "kind": "progress", "format": "json", "class_id": klass, "period_id": q1},
        {**deputy, "kind": "no-such", "format": "json"},
        {**deputy, "kind": "progress", "format": "doc", "class_id": klass, "period_id": q1},
        {**deputy, "kind": "progress", "format": "json", "class_id": new_id(), "period_id": q1},
        {**deputy, "roles": ["teacher"], "kind": "progress-sheet", "format": "json", "period_id": q1},
    ]
    out = subprocess.run([sys.executable, "-c", DOCUMENT_CLIENT, grpc_server["target"], json.dumps(requests)],
                         cwd=ROOT, capture_output=True, timeout=60,
                         env={k: v for k, v in os.environ.items() if k != "EJOURNAL_TEST_EVENTLET"})
    assert out.returncode == 0, out.stderr.decode()
    ok, parent, kind, fmt, unknown, school_wide = json.loads(out.stdout)
    report = json.loads(ok["body"])
    assert report["kind"] == "progress" and report["students"][0]["subjects"][0]["count"] == 38
    assert (ok["content_type"], ok["size"]) == ("application/json; charset=utf-8", len(ok["body"].encode()))
    assert ok["filename_ascii"] == "progress-5A-2026-09.json"
    assert ok["filename"] == "Итоги успеваемости класса 5А 1 четверть (01.09.2026–26.10.2026).json"
    assert (parent["status"], parent["details"]["code"]) == ("PERMISSION_DENIED", "FORBIDDEN")
    assert (kind["status"], kind["details"]["details"]) == ("INVALID_ARGUMENT", {"field": "kind"})
    assert (fmt["status"], fmt["details"]["details"]) == ("INVALID_ARGUMENT", {"field": "format"})
    assert (unknown["status"], unknown["details"]["code"]) == ("NOT_FOUND", "NOT_FOUND")
    assert (school_wide["status"], school_wide["details"]["code"]) == ("PERMISSION_DENIED", "FORBIDDEN")


def test_a_document_is_sent_in_chunks():
    from reports.documents import Document
    data = bytes(range(256)) * 4096  # 1 MiB
    pieces = list(Document(data, "application/pdf", "a.pdf", "а.pdf").chunks(256 * 1024))
    assert [len(p) for p in pieces] == [256 * 1024] * 4 and b"".join(pieces) == data
    assert list(Document(b"", "application/pdf", "a.pdf", "а.pdf").chunks()) == [b""]
