"""identity's RPC entrypoints declare ``expected_exceptions=ServiceError``:
a refusal (403, 404, 422...) is an answer, so nameko logs it as a warning,
not as an error with a traceback. Real RabbitMQ and PostgreSQL."""
from __future__ import annotations

import logging

import pytest
from nameko.testing.services import entrypoint_hook

from kernel.errors import ServiceError
from kernel.testing import rpc_entrypoints, rpcs_not_expecting, worker_log

from identity.service import Service


def test_every_rpc_expects_service_errors():
    assert {"create_user", "begin_totp", "resolve_users", "health"} <= set(rpc_entrypoints(Service))
    assert rpcs_not_expecting(Service, ServiceError) == []


def test_a_refusal_is_a_warning_not_an_error(container, caplog):
    with caplog.at_level(logging.WARNING, logger="nameko.containers"):
        with pytest.raises(ServiceError):
            with entrypoint_hook(container, "get_user") as hook:
                hook({"actor_id": "nobody", "school_id": "s1", "roles": ["teacher"], "correlation_id": "c"}, "no-such-user")
    errors, expected = worker_log(caplog)
    assert errors == []
    assert expected
