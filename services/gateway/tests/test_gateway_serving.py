"""The gateway as the launcher starts it: gunicorn with gateway.gunicorn_conf
and gateway.wsgi:app, two gthread workers, metrics summed across workers."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gunicorn_serves_the_app_with_multiprocess_metrics(tmp_path):
    port = free_port()
    env = {**os.environ, "EJOURNAL_GATEWAY_PORT": str(port), "EJOURNAL_GATEWAY_HOST": "127.0.0.1",
           "EJOURNAL_DATA_DIR": str(tmp_path), "EJOURNAL_GATEWAY_WORKERS": "2"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:gateway.gunicorn_conf",
                             "gateway.wsgi:app"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
        session = requests.Session()
        for _ in range(40):
            session.get(f"{base}/healthz", timeout=5, headers={"Connection": "close"})
        response = requests.get(f"{base}/api/v1/me", timeout=5)
        assert response.status_code == 401 and response.headers["X-Frame-Options"] == "DENY"
        text = requests.get(f"{base}/metrics", timeout=5).text
        counts = re.findall(r'gateway_requests_total\{method="GET",route="/healthz",status="200"\} ([0-9.]+)',
                            text)
        assert counts and float(counts[0]) >= 41  # every worker's requests, summed by the collector
        assert (tmp_path / "prometheus" / f"gateway-{port}").is_dir()
        pids = {int(m) for m in re.findall(r"_(\d+)\.db", " ".join(
            os.listdir(tmp_path / "prometheus" / f"gateway-{port}")))}
        assert len(pids) >= 1
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        output = proc.stdout.read()
        assert "Traceback" not in output, output[-3000:]
