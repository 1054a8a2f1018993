"""What importing the kernel does to the process."""
import sys


def test_kombu_no_longer_probes_for_librabbitmq_on_every_connection():
    """kombu tries ``import librabbitmq`` in every Connection(); nameko
    builds one per published message. The kernel makes that failing import
    instant when librabbitmq is not installed (it is not here)."""
    import kernel  # noqa: F401
    from kombu.transport import supports_librabbitmq

    assert "librabbitmq" in sys.modules and sys.modules["librabbitmq"] is None
    assert supports_librabbitmq() is None
