"""Configuration read from the environment when a process starts.

Nothing here runs at import time: call :func:`load` from an entrypoint.

Ports: the gateway listens on ``EJOURNAL_GATEWAY_PORT`` (8080); every other
port is ``EJOURNAL_PORT_BASE`` (default 8100) plus a fixed offset, so a second
instance only needs another base, another gateway port and another data dir.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

SERVICES = ("identity", "journal", "messaging", "reports", "backup")

# Offsets from EJOURNAL_PORT_BASE. One table so that no two processes collide.
PORT_OFFSETS = {
    # gRPC servers (plain grpcio processes)
    "identity.grpc": 1,
    "journal.grpc": 2,
    "messaging.grpc": 3,
    "reports.grpc": 4,
    # Prometheus /metrics and /healthz of each process
    "identity.metrics": 11,
    "journal.metrics": 12,
    "messaging.metrics": 13,
    "reports.metrics": 14,
    "backup.metrics": 15,
    "identity.grpc.metrics": 21,
    "journal.grpc.metrics": 22,
    "messaging.grpc.metrics": 23,
    "reports.grpc.metrics": 24,
    "backup.worker.metrics": 25,
    "gateway.metrics": 30,
}


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    gateway_host: str
    gateway_port: int
    port_base: int
    amqp_uri: str
    school_name: str
    admin_login: str
    admin_password: str
    grpc_host: str = "127.0.0.1"
    timezone_name: str = "Europe/Moscow"
    database_urls: dict = field(default_factory=dict)
    grpc_targets: dict = field(default_factory=dict)

    @property
    def timezone(self):
        """The school's time zone: its dates ("today", "this week") use it."""
        from zoneinfo import ZoneInfo
        return ZoneInfo(self.timezone_name)

    def port(self, key: str) -> int:
        """The port of one process endpoint, e.g. ``port("journal.grpc")``."""
        env_name = "EJOURNAL_" + key.upper().replace(".", "_") + "_PORT"
        explicit = _env(env_name)
        if explicit:
            return int(explicit)
        return self.port_base + PORT_OFFSETS[key]

    def database_url(self, service: str) -> str:
        return self.database_urls[service]

    def grpc_target(self, service: str) -> str:
        """host:port a client dials for ``service``'s gRPC server."""
        return self.grpc_targets.get(service) or f"{self.grpc_host}:{self.port(service + '.grpc')}"

    def nameko_config(self, service: str) -> dict:
        """The nameko container config for ``service``."""
        return {
            "AMQP_URI": self.amqp_uri,
            "DATABASE_URL": self.database_url(service),
            "EJOURNAL_SERVICE": service,
            "DATA_DIR": str(self.data_dir),
            "max_workers": int(_env("EJOURNAL_MAX_WORKERS", "10")),
            "parent_calls_tracked": 10,
        }


def bind_host() -> str:
    """The address every server of this process binds: loopback locally,
    0.0.0.0 in containers (``EJOURNAL_BIND_HOST``)."""
    return _env("EJOURNAL_BIND_HOST", "127.0.0.1")


def default_vhost(gateway_port: int) -> str:
    # Two local instances on different gateway ports get different vhosts, so
    # their RPC and events never mix, with no extra setting.
    return f"ejournal-{gateway_port}"


def load() -> Settings:
    """Read the settings from the environment (call once, at start)."""
    data_dir = Path(_env("EJOURNAL_DATA_DIR", "var")).resolve()
    gateway_port = int(_env("EJOURNAL_GATEWAY_PORT", "8080"))
    port_base = int(_env("EJOURNAL_PORT_BASE", "8100"))
    amqp_uri = _env("EJOURNAL_AMQP_URI") or (
        "amqp://guest:guest@127.0.0.1:5672/" + default_vhost(gateway_port)
    )
    urls = {}
    for name in SERVICES:
        urls[name] = _env(f"EJOURNAL_{name.upper()}_DATABASE_URL") or f"sqlite:///{data_dir / (name + '.db')}"
    targets = {}
    for name in SERVICES:
        target = _env(f"EJOURNAL_{name.upper()}_GRPC_TARGET")
        if target:
            targets[name] = target
    return Settings(
        data_dir=data_dir,
        gateway_host=_env("EJOURNAL_GATEWAY_HOST", "127.0.0.1"),
        gateway_port=gateway_port,
        port_base=port_base,
        amqp_uri=amqp_uri,
        school_name=_env("EJOURNAL_SCHOOL_NAME", "Демонстрационная школа"),
        admin_login=_env("EJOURNAL_ADMIN_LOGIN", "admin"),
        admin_password=_env("EJOURNAL_ADMIN_PASSWORD", "admin-demo-password"),
        grpc_host=_env("EJOURNAL_GRPC_HOST", "127.0.0.1"),
        timezone_name=_env("EJOURNAL_TIMEZONE", "Europe/Moscow"),
        database_urls=urls,
        grpc_targets=targets,
    )
