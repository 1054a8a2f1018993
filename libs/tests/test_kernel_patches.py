"""kernel.patches: each patch still finds what it replaces in its library,
the library still uses it the way the patch assumes, and it is replaced
after install() (an upgrade must not turn a patch into a silent no-op)."""
from __future__ import annotations

import inspect
import os
import sys

from kernel import amqp_pool, patches


def test_install_is_idempotent():
    patches.install()
    before = {"librabbitmq": sys.modules.get("librabbitmq", "absent")}
    from nameko.amqp import publish

    before["get_producer"] = publish.get_producer
    patches.install()
    assert sys.modules.get("librabbitmq", "absent") is before["librabbitmq"]
    assert publish.get_producer is before["get_producer"] is amqp_pool.get_producer


def test_kombu_no_longer_probes_for_librabbitmq_on_every_connection():
    """kombu tries ``import librabbitmq`` in every Connection() it builds;
    after install() that import fails at once (librabbitmq is not
    installed here)."""
    import kombu.connection
    from kombu.transport import supports_librabbitmq

    # what the patch relies on: Connection() asks supports_librabbitmq(),
    # which imports librabbitmq
    assert "supports_librabbitmq()" in inspect.getsource(kombu.connection.Connection)
    assert "import librabbitmq" in inspect.getsource(supports_librabbitmq)
    patches.install()
    assert "librabbitmq" in sys.modules and sys.modules["librabbitmq"] is None
    assert supports_librabbitmq() is None


def test_nameko_publishes_through_the_kept_connection():
    from nameko.amqp import publish

    # what the patch relies on: Publisher.publish looks get_producer up in
    # its module at each call
    assert callable(publish.get_producer)
    assert "get_producer" in publish.Publisher.publish.__code__.co_names
    assert inspect.signature(publish.get_producer).parameters.keys() \
        == inspect.signature(amqp_pool.get_producer).parameters.keys()
    patches.install()
    assert publish.get_producer is amqp_pool.get_producer


def test_eventlet_patches_when_asked():
    if os.environ.get("EJOURNAL_TEST_EVENTLET") != "1":
        return  # this run is not monkey-patched, and must not become so
    import eventlet.patcher

    patches.install(eventlet=True)
    assert eventlet.patcher.is_monkey_patched("socket") and eventlet.patcher.is_monkey_patched("thread")


def test_the_relay_can_still_collect_py_amqp_frames():
    """The outbox relay swaps a py-amqp connection's ``frame_writer`` for
    the time of a batch (kernel.nameko.outbox): channels must still write
    through ``connection.frame_writer``, and it must still be settable."""
    from amqp import abstract_channel, connection
    from amqp.method_framing import frame_writer  # noqa: F401 - what the relay builds its writer with

    assert "frame_writer" in inspect.getsource(abstract_channel.AbstractChannel.send_method)
    assert isinstance(connection.Connection.frame_writer, property) and connection.Connection.frame_writer.fset
