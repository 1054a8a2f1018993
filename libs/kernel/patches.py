"""Every change the kernel makes to the libraries it runs on, in one place.

Importing a kernel module patches nothing: :func:`install` does, and the
processes that talk to RabbitMQ call it once at start, before they import
the rest (the nameko runner ``kernel.runner``, the gateway's
``gateway.wsgi``, and the test set-up in the root ``conftest.py``; the gRPC
processes use neither kombu nor nameko). It is idempotent.

- ``eventlet=True``: eventlet's monkey patching of the standard library,
  which a nameko process needs before anything else is imported.
- kombu: ``import librabbitmq``, which kombu tries in every ``Connection()``
  it builds, fails at once when librabbitmq is not installed (a failing
  import walked every path entry each time, a few percent of the gateway's
  CPU; the platform never uses librabbitmq).
- nameko: ``nameko.amqp.publish.get_producer`` (RPC requests and replies,
  dead letters) finds kombu's producer pool without building a throwaway
  ``Connection`` per message (:mod:`kernel.amqp_pool`).

libs/tests/test_kernel_patches.py checks that each patched attribute still
exists in its library, is still used the way the patch assumes, and is
replaced after :func:`install`, so that an upgrade cannot turn a patch into
a silent no-op.
"""
from __future__ import annotations

import importlib.util
import sys


def no_librabbitmq() -> None:
    """Make ``import librabbitmq`` fail at once (a None in sys.modules)
    unless it is installed."""
    if "librabbitmq" not in sys.modules and importlib.util.find_spec("librabbitmq") is None:
        sys.modules["librabbitmq"] = None


def pooled_publisher() -> None:
    """nameko's Publisher publishes through :func:`kernel.amqp_pool.get_producer`."""
    from nameko.amqp import publish

    from kernel import amqp_pool

    publish.get_producer = amqp_pool.get_producer


#: The library patches, in the order :func:`install` applies them.
LIBRARY_PATCHES = (no_librabbitmq, pooled_publisher)


def install(eventlet: bool = False) -> None:
    """Apply every patch (with ``eventlet=True`` eventlet's monkey patching
    first); calling it again changes nothing."""
    if eventlet:
        import eventlet as _eventlet

        _eventlet.monkey_patch()
    for patch in LIBRARY_PATCHES:
        patch()
