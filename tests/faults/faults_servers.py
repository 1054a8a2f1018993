"""The fault suite's own RabbitMQ node and PostgreSQL cluster: started
under a temporary directory on ports of their own, restarted on demand,
removed at the end. They never touch the machine's shared broker (5672,
its management API) or database server (5432).

Run as root, each server runs as its Debian system user (``rabbitmq``,
``postgres``: initdb refuses root); otherwise as the current user."""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

PG_BIN = Path(os.environ.get("EJOURNAL_PG_BIN", "/usr/lib/postgresql/15/bin"))
RABBIT_BIN = Path(os.environ.get("EJOURNAL_RABBIT_BIN", "/usr/lib/rabbitmq/bin"))


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_port(port: int, up: bool, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port) == up:
            return
        time.sleep(0.2)
    raise RuntimeError(f"port {port} is still {'closed' if up else 'open'} after {timeout:.0f}s")


def as_user(user: str) -> tuple[list, str | None]:
    """(argv prefix, home) to run a server as ``user`` when we are root."""
    if os.geteuid() != 0:
        return [], None
    entry = pwd.getpwnam(user)
    return ["runuser", "-u", user, "--"], entry.pw_dir


def give(path: Path, user: str) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(user)
        for root, dirs, files in os.walk(path):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(name, entry.pw_uid, entry.pw_gid)


class PgCluster:
    """``initdb`` + ``pg_ctl`` in ``base``, listening on 127.0.0.1:``port`` only."""

    def __init__(self, base: Path, port: int):
        self.dir = base / "pg"
        self.port = port
        self.log = base / "pg.log"
        self.prefix, _ = as_user("postgres")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str, timeout: float = 120) -> None:
        result = subprocess.run([*self.prefix, *argv], capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {result.stdout}\n{result.stderr}")

    def create(self) -> None:
        self.dir.mkdir(parents=True)
        self.log.touch()
        give(self.dir.parent, "postgres")
        self._run(str(PG_BIN / "initdb"), "-D", str(self.dir), "-U", "postgres", "--auth=trust", "-N")
        self.start()

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off "
                   f"-c unix_socket_directories={self.dir}")
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.dir), "-o", options, "-l", str(self.log), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.dir), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        if (self.dir / "postmaster.pid").exists():
            try:
                self.stop("immediate")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.dir.parent / "pg", ignore_errors=True)


class RabbitNode:
    """A RabbitMQ node of its own: node name, AMQP and distribution ports,
    data and log dirs, config, no plugins (so no management listener); its
    vhost ``/`` makes durable queues quorum queues."""

    def __init__(self, base: Path, amqp_port: int, dist_port: int, name: str):
        self.base = base / "rabbit"
        self.amqp_port = amqp_port
        self.dist_port = dist_port
        self.node = f"{name}@localhost"
        self.prefix, home = as_user("rabbitmq")
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": home or os.environ.get("HOME", str(self.base)),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(amqp_port),
            "RABBITMQ_DIST_PORT": str(dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.base / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(self.base / "plugins-expand"),
            "RABBITMQ_PID_FILE": str(self.base / "rabbit.pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    def create(self) -> None:
        for sub in ("mnesia", "log", "plugins-expand"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        (self.base / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.amqp_port}\nloopback_users.guest = true\n"
            "log.console = false\nlog.file.level = warning\n")
        (self.base / "advanced.config").write_text("[].\n")
        (self.base / "rabbitmq-env.conf").write_text("")
        (self.base / "enabled_plugins").write_text("[].\n")
        give(self.base, "rabbitmq")
        self.start()
        # every durable queue a quorum queue, as compose and Kubernetes configure the broker
        self.ctl("delete_vhost", "/")
        self.ctl("add_vhost", "/", "--default-queue-type", "quorum")
        self.ctl("set_permissions", "-p", "/", "guest", ".*", ".*", ".*")

    def ctl(self, *args: str, timeout: float = 60) -> str:
        result = subprocess.run([*self.prefix, str(RABBIT_BIN / "rabbitmqctl"), "-n", self.node, "-q", *args],
                                env=self.env, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {result.stdout}\n{result.stderr}")
        return result.stdout

    def start(self, timeout: float = 90) -> None:
        subprocess.run([*self.prefix, str(RABBIT_BIN / "rabbitmq-server"), "-detached"], env=self.env,
                       capture_output=True, timeout=60, check=True)
        self.ctl("wait", "--timeout", str(int(timeout)), str(self.base / "rabbit.pid"), timeout=timeout + 10)
        wait_port(self.amqp_port, True, timeout)

    def stop(self) -> None:
        self.ctl("stop", str(self.base / "rabbit.pid"), timeout=90)
        wait_port(self.amqp_port, False, 30)

    def restart(self) -> None:
        self.stop()
        self.start()

    def queue_depths(self) -> dict[str, int]:
        """{queue: messages ready + unacknowledged} of the default vhost."""
        depths = {}
        for line in self.ctl("list_queues", "name", "messages", "--no-table-headers").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                depths[parts[0]] = int(parts[1])
        return depths

    def queue_types(self) -> dict[str, str]:
        """{queue: type} of the default vhost."""
        rows = (line.split() for line in self.ctl("list_queues", "name", "type", "--no-table-headers").splitlines())
        return {row[0]: row[1] for row in rows if len(row) == 2}

    def remove(self) -> None:
        try:
            self.stop()
        except (RuntimeError, subprocess.TimeoutExpired):
            pid = self.base / "rabbit.pid"
            if pid.exists():
                try:
                    os.kill(int(pid.read_text().strip()), 9)
                except (ValueError, OSError):
                    pass
        shutil.rmtree(self.base, ignore_errors=True)
