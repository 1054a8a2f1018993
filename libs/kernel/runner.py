"""Run one service's nameko process: ``python -m kernel.runner journal``.

Patches first (``kernel.patches.install``: eventlet must patch before
anything else is imported), reads the settings from the environment, serves /metrics and /healthz on the
service's metrics port and runs the service class ``<service>.service:Service``.
"""
from __future__ import annotations

from kernel import patches

patches.install(eventlet=True)  # must precede every other import

import eventlet  # noqa: E402
import importlib  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

from kernel import config, correlation, metrics  # noqa: E402
from kernel.db import make_engine  # noqa: E402


def main(argv=None) -> int:
    argv = argv if argv is not None else sys.argv[1:]
    if not argv:
        print("usage: python -m kernel.runner <service>", file=sys.stderr)
        return 2
    name = argv[0]
    settings = config.load()
    correlation.setup_logging(name)
    log = logging.getLogger("kernel.runner")

    from nameko.runners import ServiceRunner

    module = importlib.import_module(f"{name}.service")
    service_cls = module.Service
    nameko_config = settings.nameko_config(name)
    engine = make_engine(nameko_config["DATABASE_URL"])

    runner = ServiceRunner(nameko_config)
    runner.add_service(service_cls)

    stopping = eventlet.event.Event()

    def _stop(signum, frame):
        if not stopping.ready():
            stopping.send(signum)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    runner.start()
    # /healthz only after the container started: healthy means its queues exist
    metrics.serve(settings.port(f"{name}.metrics"), metrics.db_health(engine))
    log.info("%s started (metrics on %s)", name, settings.port(f"{name}.metrics"))
    runner_thread = eventlet.spawn(runner.wait)
    while not stopping.ready():
        if runner_thread.dead:  # a container died: exit non-zero so a supervisor sees it
            log.error("%s container stopped unexpectedly", name)
            return 1
        eventlet.sleep(0.5)
    log.info("%s stopping", name)
    with eventlet.Timeout(10, False):
        runner.stop()
        return 0
    runner.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
