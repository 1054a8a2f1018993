"""messaging's RPC entrypoints declare ``expected_exceptions=ServiceError``:
a refusal (403, 404, 422...) is an answer, so nameko logs it as a warning,
not as an error with a traceback. Real RabbitMQ and PostgreSQL."""
from __future__ import annotations

import logging

import pytest
from nameko.rpc import Rpc
from nameko.testing.services import entrypoint_hook

from kernel.errors import ServiceError

from messaging.service import Service


def rpc_entrypoints(cls) -> dict:
    return {name: ep for name in dir(cls) for ep in getattr(getattr(cls, name), "nameko_entrypoints", ())
            if isinstance(ep, Rpc)}


def expects(ep, exc) -> bool:
    expected = ep.expected_exceptions
    return any(issubclass(exc, e) for e in (expected if isinstance(expected, tuple) else (expected,)))


def test_every_rpc_expects_service_errors():
    rpcs = rpc_entrypoints(Service)
    assert {"send_message", "list_notifications", "health"} <= set(rpcs)
    lax = [name for name, ep in rpcs.items() if not expects(ep, ServiceError)]
    assert lax == []


def test_a_refusal_is_a_warning_not_an_error(container, caplog):
    with caplog.at_level(logging.WARNING, logger="nameko.containers"):
        with pytest.raises(ServiceError):
            with entrypoint_hook(container, "list_notifications") as hook:
                hook({"roles": ["teacher"]})
    logged = [r for r in caplog.records if r.name == "nameko.containers"]
    assert [r.getMessage() for r in logged if r.levelno >= logging.ERROR] == []
    assert any("(expected) error handling worker" in r.getMessage() for r in logged)
