"""The small shared kernel of eJournal services: configuration, database
sessions, the event envelope, the transactional outbox and its relay,
idempotent event handling, correlation ids, metrics and access-token
verification. It holds no domain logic."""

import importlib.util as _importlib_util
import sys as _sys

# kombu tries ``import librabbitmq`` in every Connection() it builds (nameko
# built one per published message until kernel.amqp_pool kept one): a
# failing import walks every path entry each time, a few percent of the
# gateway's CPU. We never use librabbitmq: when it is not installed, a None
# in sys.modules makes that import fail at once.
if "librabbitmq" not in _sys.modules and _importlib_util.find_spec("librabbitmq") is None:
    _sys.modules["librabbitmq"] = None
