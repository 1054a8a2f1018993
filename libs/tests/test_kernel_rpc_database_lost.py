"""An RPC whose database connection was lost (PostgreSQL restarted under
it) answers ServiceUnavailable, which the gateway maps to 503, not an
unexpected error (500); any other error stays unexpected."""
from __future__ import annotations

import pytest
from nameko.exceptions import RemoteError
from sqlalchemy.exc import OperationalError

from kernel.errors import ServiceError
from kernel.nameko import service_rpc


class Failing:
    name = "kdblost"

    @service_rpc
    def lost(self):
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))

    @service_rpc
    def bug(self):
        raise ValueError("a bug")


def test_a_lost_database_connection_is_service_unavailable(container_factory, rabbit_config):
    from nameko.standalone.rpc import ServiceRpcProxy

    container_factory(Failing, rabbit_config).start()
    with ServiceRpcProxy("kdblost", rabbit_config, timeout=10) as proxy:
        with pytest.raises(RemoteError) as lost:
            proxy.lost()
        with pytest.raises(RemoteError) as bug:
            proxy.bug()
    answer = ServiceError.parse(lost.value.value)
    assert (answer["kind"], answer["code"]) == ("unavailable", "SERVICE_UNAVAILABLE")
    assert ServiceError.parse(bug.value.value) is None and bug.value.exc_type == "ValueError"
