"""The launcher's watch on the real platform: processes killed with
SIGKILL again and again are restarted every time (past the third), each
crash and restart is told, and while a process is down /readyz's detail
names it: a gRPC server, a nameko service and the backup worker."""
from __future__ import annotations

import signal
import time

import pytest
import requests

pytestmark = pytest.mark.e2e


def readyz(platform) -> tuple[int, dict]:
    response = requests.get(platform.url + "/readyz", timeout=30)
    return response.status_code, response.json()


def kill_and_watch(platform, name: str, check: str) -> str:
    """SIGKILL ``name``, read /readyz while it is down, let watch() restart
    it and wait until the platform is ready again; the check's state while down."""
    (proc,) = [p for p in platform.procs if p.name == name]
    first = proc.popen
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    platform.watch()
    assert proc.restart_at is not None, f"{name}'s crash was not noticed"
    status, body = readyz(platform)
    assert status == 503 and check in body["details"]["failed"], body
    state = body["checks"][check]
    deadline = time.monotonic() + 60
    while proc.popen is first and time.monotonic() < deadline:
        time.sleep(0.1)
        platform.watch()
    assert proc.popen is not first, f"{name} was not restarted"
    platform.wait_ready(90)
    return state


@pytest.fixture
def watched(platform):
    """The session's platform, watched with short delays, its messages kept."""
    said = []
    saved = platform.backoff, platform.out
    platform.backoff, platform.out = (0.5, 2.0), said.append
    try:
        yield platform, said
    finally:
        platform.backoff, platform.out = saved
        platform.wait_ready(90)


def test_a_grpc_server_killed_again_and_again_is_restarted_every_time(watched):
    platform, said = watched
    states = [kill_and_watch(platform, "journal-grpc", "journal.grpc") for _ in range(4)]
    assert set(states) <= {"unavailable", "timeout"}
    crashes = [line for line in said if line.startswith("! journal-grpc")]
    restarts = [line for line in said if "journal-grpc restarted" in line]
    assert len(crashes) == 4 and len(restarts) == 4
    for n, (line, delay) in enumerate(zip(crashes, ["0.5", "1", "2", "2"]), start=1):
        assert f"was killed by SIGKILL (crash {n} in a row); restarting in {delay} s" in line
        assert "journal-grpc.log" in line


def test_a_dead_nameko_service_and_a_dead_backup_worker_show_in_readyz(watched):
    platform, said = watched
    assert kill_and_watch(platform, "reports", "reports.rpc") in {"timeout", "not_running"}
    assert kill_and_watch(platform, "backup-worker", "backup.worker") == "unavailable"
    assert any(line.startswith("! reports was killed by SIGKILL") for line in said)
    assert any(line.startswith("! backup-worker was killed by SIGKILL") for line in said)
    status, body = readyz(platform)
    assert status == 200 and body["checks"]["backup.worker"] == "ok"
