"""Start, watch and stop every process of the platform on this machine.

One table (:func:`processes`) says what runs; `make run`, the end-to-end
tests and the benchmarks all start the platform through :class:`Platform`,
so what is tested is what is run.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from kernel import config

GRPC_SERVICES = ("identity", "journal", "messaging", "reports")


@dataclass
class Proc:
    name: str
    argv: list
    popen: subprocess.Popen | None = None
    log: Path | None = None
    restarts: int = 0


def processes(python: str = sys.executable) -> list[Proc]:
    """Every long-running process of the platform, in start order."""
    procs = []
    for name in config.SERVICES:
        procs.append(Proc(name, [python, "-m", "kernel.runner", name]))
    for name in GRPC_SERVICES:
        procs.append(Proc(f"{name}-grpc", [python, "-m", f"{name}.grpc_server"]))
    procs.append(Proc("backup-worker", [python, "-m", "backup.worker"]))
    procs.append(Proc("gateway", [python, "-m", "gunicorn", "-c", "python:gateway.gunicorn_conf", "gateway.wsgi:app"]))
    return procs


def ensure_vhost(amqp_uri: str) -> None:
    """Create the AMQP vhost of ``amqp_uri`` if it is missing (management
    API first, rabbitmqctl as a fallback)."""
    parsed = urllib.parse.urlparse(amqp_uri)
    vhost = urllib.parse.unquote(parsed.path[1:]) if parsed.path not in ("", "/") else "/"
    if vhost == "/":
        return
    user = parsed.username or "guest"
    password = parsed.password or "guest"
    host = parsed.hostname or "127.0.0.1"
    api = os.environ.get("EJOURNAL_RABBIT_API", f"http://{host}:15672")
    quoted = urllib.parse.quote(vhost, safe="")
    try:
        _http(f"{api}/api/vhosts/{quoted}", "PUT", user, password)
        _http(f"{api}/api/permissions/{quoted}/{urllib.parse.quote(user)}", "PUT", user, password,
              {"configure": ".*", "write": ".*", "read": ".*"})
        return
    except (urllib.error.URLError, OSError):
        pass
    subprocess.run(["rabbitmqctl", "add_vhost", vhost], capture_output=True)
    result = subprocess.run(["rabbitmqctl", "set_permissions", "-p", vhost, user, ".*", ".*", ".*"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"cannot create RabbitMQ vhost {vhost!r}: {result.stderr.strip()}")


def delete_vhost(amqp_uri: str) -> None:
    parsed = urllib.parse.urlparse(amqp_uri)
    vhost = urllib.parse.unquote(parsed.path[1:])
    api = os.environ.get("EJOURNAL_RABBIT_API", f"http://{parsed.hostname or '127.0.0.1'}:15672")
    try:
        _http(f"{api}/api/vhosts/{urllib.parse.quote(vhost, safe='')}", "DELETE",
              parsed.username or "guest", parsed.password or "guest")
    except (urllib.error.URLError, OSError):
        subprocess.run(["rabbitmqctl", "delete_vhost", vhost], capture_output=True)


def _http(url, method, user, password, body=None):
    import base64
    data = json.dumps(body or {}).encode()
    req = urllib.request.Request(url, data=data if method != "DELETE" else None, method=method)
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status


class Platform:
    """The platform's processes for one set of settings (environment)."""

    def __init__(self, env: dict | None = None, python: str = sys.executable, quiet: bool = False):
        self.env = {**os.environ, **(env or {})}
        self.python = python
        self.quiet = quiet
        old = os.environ.copy()
        os.environ.update(self.env)
        try:
            self.settings = config.load()
        finally:
            os.environ.clear()
            os.environ.update(old)
        self.log_dir = self.settings.data_dir / "logs"
        self.procs: list[Proc] = []
        prom = self.settings.data_dir / "prometheus-gateway"
        self.env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(prom))

    @property
    def url(self) -> str:
        return f"http://{self.settings.gateway_host}:{self.settings.gateway_port}"

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, flush=True)

    def env_of(self, name: str | None) -> dict:
        """The environment of the process ``name`` (None: a one-off step).
        Only the gateway's workers share their Prometheus values through
        ``PROMETHEUS_MULTIPROC_DIR``, as in docker-compose.yml: every other
        process serves its own /metrics from memory, and one that wrote into
        the gateway's directory would show up in the gateway's /metrics."""
        if name == "gateway":
            return self.env
        return {k: v for k, v in self.env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}

    def run_step(self, *args: str) -> str:
        result = subprocess.run([self.python, *args], env=self.env_of(None), capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def prepare(self) -> str:
        """Migrate every database and bootstrap the school and first admin."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        prom = Path(self.env["PROMETHEUS_MULTIPROC_DIR"])
        prom.mkdir(parents=True, exist_ok=True)
        for stale in prom.glob("*.db"):
            stale.unlink()
        ensure_vhost(self.settings.amqp_uri)
        self.say("migrating databases...")
        self.run_step("-m", "kernel.migrate")
        self.run_step("-m", "kernel.topology")
        return self.run_step("-m", "identity.bootstrap").strip()

    def start(self, timeout: float = 120.0) -> None:
        bootstrap = self.prepare()
        self.say(bootstrap)
        for proc in processes(self.python):
            self._spawn(proc)
            self.procs.append(proc)
        self.wait_ready(timeout)

    def _spawn(self, proc: Proc) -> None:
        proc.log = self.log_dir / f"{proc.name}.log"
        handle = open(proc.log, "ab")
        proc.popen = subprocess.Popen(proc.argv, env=self.env_of(proc.name), stdout=handle, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
        handle.close()

    def wait_ready(self, timeout: float = 120.0) -> dict:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=5) as resp:
                    if resp.status == 200:
                        return json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                last = exc.read().decode(errors="replace")
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            time.sleep(0.5)
        raise RuntimeError(f"the platform did not become ready in {timeout:.0f}s: {last}\n{self.tails()}")

    def check_alive(self) -> None:
        for proc in self.procs:
            if proc.popen and proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}\n{self.tail(proc)}")

    def watch(self, max_restarts: int = 3) -> None:
        """Restart a process that died (a few times), telling the user."""
        for proc in self.procs:
            if proc.popen and proc.popen.poll() is not None:
                code = proc.popen.returncode
                if proc.restarts >= max_restarts:
                    continue
                proc.restarts += 1
                self.say(f"! {proc.name} exited with {code}; restarting ({proc.restarts}/{max_restarts}); log: {proc.log}")
                self._spawn(proc)

    def tail(self, proc: Proc, lines: int = 30) -> str:
        try:
            text = proc.log.read_text(errors="replace").splitlines()[-lines:]
        except (OSError, AttributeError):
            return ""
        return f"--- {proc.name} ---\n" + "\n".join(text)

    def tails(self) -> str:
        return "\n".join(self.tail(p, 15) for p in self.procs)

    def stop(self, timeout: float = 15.0) -> None:
        for proc in reversed(self.procs):
            if proc.popen and proc.popen.poll() is None:
                try:
                    os.killpg(proc.popen.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            if not proc.popen:
                continue
            try:
                proc.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.popen.wait(5)
        self.procs = []


def _free_base(span: int = 40) -> int:
    """A port base with ``span`` free ports after it (and a free gateway port)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + span >= 65000:
            continue
        ok = True
        for port in range(base, base + span + 1):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port range")


def platform_env(tmp_path, pg, label: str) -> dict:
    """Settings for a throwaway platform (tests, benchmarks): free ports, a
    new vhost, a temporary data dir and new PostgreSQL databases made by
    ``pg`` (a :class:`kernel.testing.PgDatabases`)."""
    base = _free_base()
    env = {
        "EJOURNAL_DATA_DIR": str(tmp_path / "data"),
        "EJOURNAL_PORT_BASE": str(base),
        "EJOURNAL_GATEWAY_PORT": str(base + 39),
        "EJOURNAL_AMQP_URI": f"amqp://guest:guest@127.0.0.1:5672/ejt-{label}-{uuid.uuid4().hex[:8]}",
        "EJOURNAL_ADMIN_LOGIN": "root.admin",
        "EJOURNAL_ADMIN_PASSWORD": "root-admin-password-1",
        "EJOURNAL_GATEWAY_WORKERS": "2",
        # messaging's e-mail goes to an SMTP server on a reserved port of the
        # range; tests that read e-mail start one there (tests/test_e2e_messaging.py).
        # Until then the mailer retries with a short backoff.
        "EJOURNAL_SMTP_HOST": "127.0.0.1",
        "EJOURNAL_SMTP_PORT": str(base + 38),
        "EJOURNAL_MAIL_POLL": "0.2",
        "EJOURNAL_MAIL_BACKOFF": "0.5",
        "EJOURNAL_MAIL_MAX_BACKOFF": "2",
        "EJOURNAL_MAIL_MAX_ATTEMPTS": "200",
    }
    for name in config.SERVICES:
        env[f"EJOURNAL_{name.upper()}_DATABASE_URL"] = pg.create(f"{label}_{name}")
    return env


@contextlib.contextmanager
def throwaway_platform(tmp_dir, label: str, *, timeout: float = 180.0, extra_env: dict | None = None):
    """A whole platform on new PostgreSQL databases, a new vhost, free
    ports and ``tmp_dir``, started and ready; everything it made is removed
    on exit (tests and benchmarks)."""
    from kernel.testing import PgDatabases, admin_url

    pg = PgDatabases(admin_url())
    env = {**platform_env(Path(tmp_dir), pg, label), **(extra_env or {})}
    platform = Platform(env, quiet=True)
    try:
        platform.start(timeout=timeout)
        yield platform
    finally:
        platform.stop()
        delete_vhost(env["EJOURNAL_AMQP_URI"])
        pg.drop_all()
