"""The local launcher (deploy/localrun): it never gives up on a crashed
process, and a throwaway platform finds other ports when its first ones
are taken (another instance, a `make run` on the defaults, a race)."""
from __future__ import annotations

import contextlib
import socket
import sys

import pytest
import requests

from localrun.launcher import SPAN, Platform, Proc, _free_base, throwaway_platform

CRASHER = "import sys; print('starting'); print('boom: the database is gone', flush=True); sys.exit(3)"


def crashing_platform(tmp_path, backoff=(1.0, 8.0), stable_after=30.0):
    """A Platform whose table is one process that crashes at once, on a
    clock the test moves."""
    said, now = [], [100.0]
    plat = Platform({"EJOURNAL_DATA_DIR": str(tmp_path / "data")}, backoff=backoff, stable_after=stable_after,
                    clock=lambda: now[0], out=said.append)
    plat.log_dir.mkdir(parents=True)
    proc = Proc("crasher", [sys.executable, "-c", CRASHER])
    plat._spawn(proc)
    plat.procs.append(proc)
    return plat, proc, said, now


def crash_and_restart(plat, proc, now) -> float:
    """Wait for the crash, let watch() see it and restart it when due; the delay it chose."""
    proc.popen.wait(30)
    plat.watch()
    assert proc.restart_at is not None, "the crash was not noticed"
    delay = proc.restart_at - now[0]
    first = proc.popen
    now[0] = proc.restart_at - 0.01
    plat.watch()
    assert proc.popen is first, "restarted before its delay"
    now[0] = proc.restart_at
    plat.watch()
    assert proc.popen is not first and proc.restart_at is None, "not restarted when due"
    return delay


def test_a_crashing_process_is_restarted_forever_with_a_growing_capped_delay(tmp_path):
    """`make run` kept restarting only three times and then fell silent."""
    plat, proc, said, now = crashing_platform(tmp_path)
    try:
        delays = [crash_and_restart(plat, proc, now) for _ in range(7)]
    finally:
        plat.stop()
    assert delays == [1, 2, 4, 8, 8, 8, 8]
    assert proc.restarts == 7
    crashes = [line for line in said if line.startswith("! crasher")]
    restarts = [line for line in said if "crasher restarted" in line]
    assert len(crashes) == 7 and len(restarts) == 7
    for n, (line, delay) in enumerate(zip(crashes, delays), start=1):
        assert f"exited with code 3 (crash {n} in a row); restarting in {delay:g} s" in line
        assert str(proc.log) in line
        # the last lines of this run's log, not of every run before it
        assert line.count("boom: the database is gone") == 1


def test_a_process_that_stayed_up_starts_the_delays_anew(tmp_path):
    plat, proc, said, now = crashing_platform(tmp_path)
    try:
        assert [crash_and_restart(plat, proc, now) for _ in range(4)] == [1, 2, 4, 8]
        now[0] += 30  # it ran for stable_after before this crash
        assert crash_and_restart(plat, proc, now) == 1
    finally:
        plat.stop()
    assert said[-2].startswith("! crasher exited with code 3 (crash 1 in a row)")


def test_a_process_killed_by_a_signal_is_told_so(tmp_path):
    plat, proc, said, now = crashing_platform(tmp_path)
    proc.argv = [sys.executable, "-c", "import time; time.sleep(60)"]
    try:
        proc.popen.wait(30)
        plat.watch()
        now[0] = proc.restart_at
        plat.watch()
        proc.popen.kill()
        proc.popen.wait(30)
        now[0] += 0.5
        plat.watch()
    finally:
        plat.stop()
    assert "! crasher was killed by SIGKILL (crash 2 in a row); restarting in 2 s" in said[-1]


# --- ports -------------------------------------------------------------------------------------


@contextlib.contextmanager
def listening(ports):
    """Hold ``ports`` on 127.0.0.1 as a running instance would (those another
    process already holds are left to it)."""
    held = []
    try:
        for port in ports:
            sock = socket.socket()
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                sock.close()
                continue
            sock.listen()
            held.append(sock)
        yield held
    finally:
        for sock in held:
            sock.close()


def test_the_platform_starts_on_other_ports_when_its_first_ones_are_taken(tmp_path):
    """A `make run` on the defaults (8080, 8100..8130) and an instance on the
    very base the launcher picks first: the throwaway platform (as the
    end-to-end fixture starts it, here on SQLite) loses the race, sees the
    port taken and starts again on another base."""
    taken = _free_base()
    bases = iter([taken])

    def choose():
        return next(bases, None) or _free_base()

    make_run_ports = [8080, *range(8100, 8131)]
    with listening(make_run_ports), listening(range(taken, taken + SPAN)) as held:
        assert len(held) == SPAN
        with throwaway_platform(tmp_path, "ports", backend="sqlite", choose_base=choose, timeout=120) as plat:
            base = plat.settings.port_base
            assert base != taken and not taken <= plat.settings.gateway_port < taken + SPAN
            assert requests.get(plat.url + "/readyz", timeout=10).status_code == 200
            assert plat.settings.database_url("journal").startswith("sqlite:///")
            # its gunicorn's control socket is its own, under its data dir
            ctl = plat.settings.data_dir / "run" / f"gateway-{plat.settings.gateway_port}.ctl"
            with socket.socket(socket.AF_UNIX) as client:
                client.connect(str(ctl))


def test_a_start_that_fails_for_another_reason_is_not_retried(tmp_path, monkeypatch):
    """Only a taken port is worth another base: a broken process fails the start at once."""
    from localrun import launcher

    chosen = []

    def choose():
        chosen.append(_free_base())
        return chosen[-1]

    broken = [Proc("broken", [sys.executable, "-c", "raise SystemExit('no configuration')"])]
    monkeypatch.setattr(launcher, "processes", lambda python=sys.executable: broken)
    with pytest.raises(launcher.StartFailed) as failed:
        with throwaway_platform(tmp_path, "broken", backend="sqlite", choose_base=choose, timeout=60):
            pass
    assert not failed.value.port_taken and len(chosen) == 1
    assert "no configuration" in str(failed.value)


# --- the gateway's gunicorn ----------------------------------------------------------------------


def gunicorn_settings(monkeypatch, **env) -> dict:
    import runpy

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/nonexistent/prometheus")
    return runpy.run_module("gateway.gunicorn_conf")


def test_two_instances_have_their_own_control_sockets(tmp_path, monkeypatch):
    """Two gateways side by side shared gunicorn's default control socket."""
    first = gunicorn_settings(monkeypatch, EJOURNAL_DATA_DIR=str(tmp_path / "var"), EJOURNAL_GATEWAY_PORT="8080")
    second = gunicorn_settings(monkeypatch, EJOURNAL_DATA_DIR=str(tmp_path / "var2"), EJOURNAL_GATEWAY_PORT="8090")
    assert first["control_socket"] == str(tmp_path / "var" / "run" / "gateway-8080.ctl")
    assert second["control_socket"] == str(tmp_path / "var2" / "run" / "gateway-8090.ctl")
    deep = tmp_path / ("d" * 120)
    long_a = gunicorn_settings(monkeypatch, EJOURNAL_DATA_DIR=str(deep / "a"))["control_socket"]
    long_b = gunicorn_settings(monkeypatch, EJOURNAL_DATA_DIR=str(deep / "b"))["control_socket"]
    assert long_a != long_b and len(long_a.encode()) <= 100
