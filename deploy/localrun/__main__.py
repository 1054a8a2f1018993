"""`python -m localrun run`: the body of `make run`."""
from __future__ import annotations

import signal
import sys
import time

from localrun.launcher import Platform
from localrun.seed import format_logins, seed_once


def run() -> int:
    platform = Platform()
    settings = platform.settings
    stop = {"now": False}

    def _stop(signum, frame):
        stop["now"] = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        platform.start()
        demo = seed_once(settings.data_dir, platform.url, settings.admin_login, settings.admin_password,
                         say=lambda line: print(line, flush=True))
    except Exception as exc:
        print(f"\nstart failed: {exc}", file=sys.stderr)
        platform.stop()
        return 1
    print(f"""
eJournal is running.
  Portal:   {platform.url}/
  API:      {platform.url}/api/v1/openapi.json
  Health:   {platform.url}/readyz
  Data:     {settings.data_dir}   (logs in {platform.log_dir})
""")
    print(format_logins(demo, settings.admin_login, settings.admin_password))
    print("\nCtrl-C stops everything.", flush=True)
    while not stop["now"]:
        platform.watch()
        time.sleep(1)
    print("stopping...", flush=True)
    platform.stop()
    print("stopped.")
    return 0


def main(argv=None) -> int:
    argv = argv if argv is not None else sys.argv[1:]
    if argv[:1] == ["run"]:
        return run()
    print("usage: python -m localrun run", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
