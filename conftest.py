"""Root conftest. Service tests run under eventlet's monkey patching
(nameko's pytest plugin no longer patches): `make test` sets
EJOURNAL_TEST_EVENTLET=1 for that run, and it must happen before any import."""
import os

if os.environ.get("EJOURNAL_TEST_EVENTLET") == "1":
    import eventlet

    eventlet.monkey_patch()

pytest_plugins = ["kernel.testing"]
