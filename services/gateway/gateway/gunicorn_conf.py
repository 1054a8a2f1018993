"""gunicorn settings of the gateway:
``python -m gunicorn -c python:gateway.gunicorn_conf gateway.wsgi:app``.

gthread workers (plain threads, no eventlet: the gRPC clients need that),
``EJOURNAL_GATEWAY_WORKERS`` processes (default 2) of 8 threads. Prometheus
runs in multiprocess mode so that /metrics sums every worker.
"""
import glob
import os

from kernel import config as _config

_settings = _config.load()

bind = f"{_settings.gateway_host}:{_settings.gateway_port}"
worker_class = "gthread"
workers = int(os.environ.get("EJOURNAL_GATEWAY_WORKERS") or 2)
threads = 8
timeout = 30
graceful_timeout = 10
keepalive = 5
# Bodies are capped by the app (gateway.bodies: 1 MiB, more on a few routes); headers here.
limit_request_line = 8190
limit_request_fields = 100

# gunicorn's control socket (gunicornc) is per instance, under the data dir:
# its default ($XDG_RUNTIME_DIR or ~/.gunicorn/gunicorn.ctl) is one path that
# every gateway on the machine would share.
control_socket = str(_settings.data_dir / "run" / f"gateway-{_settings.gateway_port}.ctl")
if len(control_socket.encode()) > 100:  # AF_UNIX paths end at 107 bytes
    import hashlib
    import tempfile
    _tag = hashlib.sha256(str(_settings.data_dir).encode()).hexdigest()[:16]
    control_socket = os.path.join(tempfile.gettempdir(), f"ejournal-{_tag}-{_settings.gateway_port}.ctl")

# Must be in the environment before any worker imports prometheus_client.
_prom_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or str(
    _settings.data_dir / "prometheus" / f"gateway-{_settings.gateway_port}")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _prom_dir


def on_starting(server):
    """Start from empty metric files: the pids of a previous run are gone."""
    os.makedirs(_prom_dir, exist_ok=True)
    for path in glob.glob(os.path.join(_prom_dir, "*.db")):
        os.remove(path)


def post_fork(server, worker):
    """Deliberately builds nothing: the app creates its RPC pool and gRPC
    channels on first use inside the worker, so no socket crosses a fork."""


def post_worker_init(worker):
    """Start listening for relationship events as soon as the worker runs
    (not at its first request): a session revoked before then must still
    end in this worker (gateway.invalidation). Publish at exit the access
    events of requests still answered after ``worker_exit`` (a worker whose
    master died finishes its requests after that hook: gateway.access_log)."""
    import atexit

    app = getattr(worker, "wsgi", None)
    decisions = getattr(app, "extensions", {}).get("ejournal.gateway.decisions")
    if decisions is not None and decisions.invalidator is not None:
        decisions.invalidator.ensure_started()
    sink = getattr(app, "extensions", {}).get("ejournal.gateway.access_log")
    if sink is not None:
        atexit.register(sink.flush_at_exit)


def worker_exit(server, worker):
    """Publish the access events still queued in this worker (R-A6) before
    it goes, within a few seconds (gateway.access_log)."""
    app = getattr(worker, "wsgi", None)
    sink = getattr(app, "extensions", {}).get("ejournal.gateway.access_log")
    if sink is not None:
        sink.flush(timeout=5.0)


def child_exit(server, worker):
    """Let the multiprocess collector drop the dead worker's live gauges."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, _prom_dir)
