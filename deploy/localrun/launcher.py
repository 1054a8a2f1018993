"""Start, watch and stop every process of the platform on this machine.

One table (:func:`processes`) says what runs; `make run`, the end-to-end
tests and the benchmarks all start the platform through :class:`Platform`,
so what is tested is what is run.
"""
from __future__ import annotations

import contextlib
import json
import os
import random
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


# A crashed process is started again after BACKOFF[0] seconds, doubled after
# every further crash in a row up to BACKOFF[1]; a process that stayed up for
# STABLE_AFTER seconds starts the series anew. It is never given up.
BACKOFF = (1.0, 60.0)
STABLE_AFTER = 60.0

# What a process's log says when a port it needs is taken.
PORT_TAKEN = ("Address already in use", "Connection in use", "cannot bind", "Failed to bind")


class StartFailed(RuntimeError):
    """The platform did not start; ``port_taken`` when a process found one of
    its ports in use (another instance, or a port race)."""

    def __init__(self, message: str, port_taken: bool = False):
        super().__init__(message)
        self.port_taken = port_taken


@dataclass
class Proc:
    name: str
    argv: list
    popen: subprocess.Popen | None = None
    log: Path | None = None
    restarts: int = 0
    crashes: int = 0                 # crashes in a row (reset once it stays up)
    started: float = 0.0             # clock() at the last spawn
    log_offset: int = 0              # the log's size at the last spawn
    restart_at: float | None = None  # when a crashed process starts again
    env: dict | None = None          # settings of this instance over the platform's (extra instances)


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


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def ensure_vhost(amqp_uri: str, default_queue_type: str | None = None) -> None:
    """Create the AMQP vhost of ``amqp_uri`` if it is missing (management
    API first, rabbitmqctl as a fallback); ``default_queue_type`` (e.g.
    ``quorum``) for the queues declared there without an x-queue-type."""
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
        # RabbitMQ 3.10 reads "defaultqueuetype", later versions "default_queue_type"
        qt = {"default_queue_type": default_queue_type, "defaultqueuetype": default_queue_type}
        _http(f"{api}/api/vhosts/{quoted}", "PUT", user, password, qt if default_queue_type else None)
        _http(f"{api}/api/permissions/{quoted}/{urllib.parse.quote(user)}", "PUT", user, password,
              {"configure": ".*", "write": ".*", "read": ".*"})
        return
    except (urllib.error.URLError, OSError):
        pass
    qt = ["--default-queue-type", default_queue_type] if default_queue_type else []
    subprocess.run(["rabbitmqctl", "add_vhost", vhost, *qt], capture_output=True)
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

    def __init__(self, env: dict | None = None, python: str = sys.executable, quiet: bool = False,
                 backoff: tuple[float, float] = BACKOFF, stable_after: float = STABLE_AFTER,
                 clock=time.monotonic, out=None):
        # a None value removes the variable (e.g. a DATABASE_URL of the caller's shell)
        merged = {**os.environ, **(env or {})}
        self.env = {k: v for k, v in merged.items() if v is not None}
        self.python = python
        self.quiet = quiet
        self.backoff = backoff
        self.stable_after = stable_after
        self.clock = clock
        self.out = out  # where messages go (default: print, unless quiet)
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
        if self.out is not None:
            self.out(text)
        elif not self.quiet:
            print(text, flush=True)

    def say_anyway(self, text: str) -> None:
        """Told even by a quiet platform (on stderr: pytest shows it with a failure)."""
        if self.out is not None:
            self.out(text)
        else:
            print(text, file=sys.stderr, flush=True)

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

    def start(self, timeout: float = 120.0, table: list[Proc] | None = None) -> None:
        """Prepare, start every process of ``table`` (default
        :func:`processes`) and wait for /readyz; :class:`StartFailed` if a
        process exits or the platform is not ready within ``timeout``."""
        bootstrap = self.prepare()
        self.say(bootstrap)
        for proc in table if table is not None else processes(self.python):
            self._spawn(proc)
            self.procs.append(proc)
        self.wait_ready(timeout)
        self.check_alive()

    def _spawn(self, proc: Proc) -> None:
        proc.log = self.log_dir / f"{proc.name}.log"
        handle = open(proc.log, "ab")
        proc.log_offset = handle.tell()
        env = {**self.env_of(proc.name), **(proc.env or {})}
        proc.popen = subprocess.Popen(proc.argv, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
        handle.close()
        proc.started = self.clock()

    def add_instance(self, name: str) -> Proc:
        """Start one more instance of the nameko service ``name`` (it competes
        with the first on the same queues and database) or of the gateway
        (another port, same backends), on spare ports of the platform's span;
        it is watched and stopped with the others. Returns its :class:`Proc`
        (``proc.env`` holds its ports)."""
        taken = {int(v) for p in self.procs for k, v in (p.env or {}).items() if k.endswith("_PORT")}
        spare = [self.settings.port_base + o for o in EXTRA_OFFSETS if self.settings.port_base + o not in taken]
        if not spare:
            raise RuntimeError("no spare port left for another instance")
        count = 1 + sum(1 for p in self.procs if p.name == name or p.name.startswith(name + "#"))
        template = {p.name: p for p in processes(self.python)}[name]
        if name == "gateway":
            prom = self.settings.data_dir / f"prometheus-gateway-{count}"
            prom.mkdir(parents=True, exist_ok=True)
            env = {"EJOURNAL_GATEWAY_PORT": str(spare[0]), "PROMETHEUS_MULTIPROC_DIR": str(prom)}
        elif name in config.SERVICES:
            env = {f"EJOURNAL_{name.upper()}_METRICS_PORT": str(spare[0])}
        else:
            raise ValueError(f"{name}: only a nameko service or the gateway is started twice here")
        return self.start_process(Proc(f"{name}#{count}", template.argv, env=env))

    def start_process(self, proc: Proc) -> Proc:
        """Start ``proc`` (one of :func:`processes`, or one stopped before) and watch it."""
        self._spawn(proc)
        self.procs.append(proc)
        return proc

    def stop_process(self, proc: Proc, timeout: float = 15.0) -> None:
        """Stop one process (SIGTERM, SIGKILL after ``timeout``) and stop watching it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.popen.pid, signal.SIGTERM)
        try:
            proc.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGKILL)
            proc.popen.wait(5)
        self.procs.remove(proc)

    def wait_ready(self, timeout: float = 120.0) -> dict:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=5) as resp:
                    # a gateway of another instance on our port is not ours
                    if resp.status == 200 and self._gateway_listening():
                        return json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                last = exc.read().decode(errors="replace")
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            time.sleep(0.5)
        raise StartFailed(f"the platform did not become ready in {timeout:.0f}s: {last}\n{self.tails()}",
                          self.port_taken())

    def _gateway_listening(self) -> bool:
        """Our gunicorn bound its port (its log says so), or there is no
        gateway in this platform's table."""
        gateway = [p for p in self.procs if p.name == "gateway"]
        return not gateway or "Listening at:" in self.log_since_spawn(gateway[0])

    def check_alive(self) -> None:
        for proc in self.procs:
            if proc.popen and proc.popen.poll() is not None:
                raise StartFailed(f"{proc.name} exited with {proc.popen.returncode}\n{self.tail(proc)}",
                                  self.port_taken())

    def port_taken(self) -> bool:
        """A process of this start found a port of ours in use."""
        return any(mark in self.log_since_spawn(proc) for proc in self.procs for mark in PORT_TAKEN)

    def log_since_spawn(self, proc: Proc) -> str:
        try:
            with open(proc.log, "rb") as handle:
                handle.seek(proc.log_offset)
                return handle.read().decode(errors="replace")
        except (OSError, TypeError):
            return ""

    def watch(self) -> None:
        """Restart every process that died, never giving up: after
        ``backoff[0]`` seconds, doubling with each crash in a row up to
        ``backoff[1]``; a process that stayed up ``stable_after`` seconds
        starts the series anew. Every crash (exit code, log, last lines)
        and every restart is told. Call it about once a second."""
        now = self.clock()
        for proc in self.procs:
            if proc.popen is None:
                continue
            code = proc.popen.poll()
            if code is None:
                continue
            if proc.restart_at is None:
                if now - proc.started >= self.stable_after:
                    proc.crashes = 0
                proc.crashes += 1
                delay = min(self.backoff[1], self.backoff[0] * 2 ** (proc.crashes - 1))
                proc.restart_at = now + delay
                lines = self.log_since_spawn(proc).splitlines()[-5:]
                self.say(f"! {proc.name} {describe_exit(code)} (crash {proc.crashes} in a row); "
                         f"restarting in {delay:g} s; log: {proc.log}"
                         + "".join(f"\n    | {line}" for line in lines))
            elif now >= proc.restart_at:
                proc.restart_at = None
                proc.restarts += 1
                self._spawn(proc)
                self.say(f"  {proc.name} restarted (pid {proc.popen.pid}, restart {proc.restarts})")

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


SPAN = 40  # ports a platform takes from its base: offsets 1..30, SMTP at 38, the gateway at 39
EXTRA_OFFSETS = range(31, 38)  # the ports of extra instances (Platform.add_instance)


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = open("/proc/sys/net/ipv4/ip_local_port_range").read().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _free_base(span: int = SPAN, rng: random.Random | None = None) -> int:
    """A port base with ``span`` free ports after it (the gateway's
    included), below the kernel's ephemeral range so that no outgoing
    connection takes one of them between this probe and the bind, and away
    from `make run`'s defaults (8080, 8100..8130). Probing releases the
    ports again: :func:`start_throwaway` retries when a race is lost."""
    rng = rng or random.SystemRandom()
    low, high = 10000, _ephemeral_range()[0] - span - 1
    if high <= low:
        low, high = 61000, 65000 - span
    for _ in range(200):
        base = rng.randrange(low, high)
        if all(_port_free(port) for port in range(base, base + span + 1)):
            return base
    raise RuntimeError("no free port range")


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_env(base: int) -> dict:
    """The port settings of a platform whose ports start at ``base``."""
    return {"EJOURNAL_PORT_BASE": str(base), "EJOURNAL_GATEWAY_PORT": str(base + SPAN - 1),
            "EJOURNAL_SMTP_PORT": str(base + SPAN - 2)}


BACKENDS = ("postgresql", "sqlite")


def platform_env(tmp_path, pg, label: str, backend: str = "postgresql") -> dict:
    """Settings for a throwaway platform (tests, benchmarks) without its
    ports: a new vhost, a temporary data dir and, on ``postgresql``, new
    databases made by ``pg`` (a :class:`kernel.testing.PgDatabases`); on
    ``sqlite`` no database setting at all, so every service takes its
    `make run` default, ``sqlite:///<data dir>/<service>.db``."""
    env = {
        "EJOURNAL_DATA_DIR": str(tmp_path / "data"),
        "EJOURNAL_AMQP_URI": f"amqp://guest:guest@127.0.0.1:5672/ejt-{label}-{uuid.uuid4().hex[:8]}",
        "EJOURNAL_ADMIN_LOGIN": "root.admin",
        "EJOURNAL_ADMIN_PASSWORD": "root-admin-password-1",
        "EJOURNAL_GATEWAY_WORKERS": "2",
        # messaging's e-mail goes to an SMTP server on a reserved port of the
        # range (port_env); tests that read e-mail start one there
        # (tests/test_e2e_messaging.py). Until then the mailer retries with a short backoff.
        "EJOURNAL_SMTP_HOST": "127.0.0.1",
        "EJOURNAL_MAIL_POLL": "0.2",
        "EJOURNAL_MAIL_BACKOFF": "0.5",
        "EJOURNAL_MAIL_MAX_BACKOFF": "2",
        "EJOURNAL_MAIL_MAX_ATTEMPTS": "200",
        # the backup schedule (on in `make run`) only where a test asks for it
        "EJOURNAL_BACKUP_EVERY_HOURS": "0",
    }
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}")
    for name in config.SERVICES:
        key = f"EJOURNAL_{name.upper()}_DATABASE_URL"
        env[key] = pg.create(f"{label}_{name}") if backend == "postgresql" else None
    return env


def start_throwaway(env: dict, *, timeout: float = 180.0, attempts: int = 4, choose_base=None,
                    out=None) -> Platform:
    """Start a platform with ``env`` on free ports; when a process finds a
    port taken (another instance, or a race lost since the probe), stop and
    start again on another base, up to ``attempts`` times.
    ``choose_base()`` picks a base (default :func:`_free_base`)."""
    choose_base = choose_base or _free_base
    for attempt in range(1, attempts + 1):
        base = choose_base()
        platform = Platform({**env, **port_env(base)}, quiet=True, out=out)
        try:
            platform.start(timeout=timeout)
            return platform
        except StartFailed as exc:
            platform.stop()
            if not exc.port_taken or attempt == attempts:
                raise
            platform.say_anyway(f"a port of base {base} is taken; starting again on another base "
                                f"(attempt {attempt + 1}/{attempts})")
        except BaseException:
            platform.stop()
            raise
    raise AssertionError("unreachable")


@contextlib.contextmanager
def throwaway_platform(tmp_dir, label: str, *, timeout: float = 180.0, extra_env: dict | None = None,
                       backend: str = "postgresql", choose_base=None, attempts: int = 4):
    """A whole platform on ``backend`` (new PostgreSQL databases, or SQLite
    files in the data dir as `make run` keeps them), a new vhost, free ports
    and ``tmp_dir``, started and ready; everything it made is removed on
    exit (tests and benchmarks)."""
    from kernel.testing import PgDatabases, admin_url

    pg = PgDatabases(admin_url()) if backend == "postgresql" else None
    env = {**platform_env(Path(tmp_dir), pg, label, backend), **(extra_env or {})}
    platform = None
    try:
        platform = start_throwaway(env, timeout=timeout, attempts=attempts, choose_base=choose_base)
        yield platform
    finally:
        if platform is not None:
            platform.stop()
        delete_vhost(env["EJOURNAL_AMQP_URI"])
        if pg is not None:
            pg.drop_all()
