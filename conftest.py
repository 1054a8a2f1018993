"""Root conftest: the kernel's library patches (kernel.patches) before any
other import. Service tests run under eventlet's monkey patching as well
(nameko's pytest plugin no longer patches): `make test` sets
EJOURNAL_TEST_EVENTLET=1 for that run."""
import os

from kernel import patches

patches.install(eventlet=os.environ.get("EJOURNAL_TEST_EVENTLET") == "1")

pytest_plugins = ["kernel.testing"]
