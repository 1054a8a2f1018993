"""A service's gRPC call whose database connection was lost (PostgreSQL
restarted under it) ends UNAVAILABLE, which the gateway answers with 503,
not UNKNOWN (a 500); any other error is still UNKNOWN. (Here, not in
libs/tests: a gRPC server does not run under eventlet's patching.)"""
from __future__ import annotations

from concurrent import futures

import grpc
import pytest
from sqlalchemy.exc import OperationalError

from gateway.errors import map_exception
from kernel.grpcserver import _Observe


def failing(exc):
    def call(request, context):
        raise exc
    return grpc.unary_unary_rpc_method_handler(call)


@pytest.fixture
def channel():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), interceptors=[_Observe("test")])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("t.T", {
        "Lost": failing(OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))),
        "Bug": failing(ValueError("a bug"))})])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        yield ch
    server.stop(0)


def failure(channel, method) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        channel.unary_unary(f"/t.T/{method}")(b"", timeout=10)
    return caught.value


def test_a_lost_database_connection_is_unavailable(channel):
    lost = failure(channel, "Lost")
    assert lost.code() == grpc.StatusCode.UNAVAILABLE
    answer = map_exception(lost)
    assert (answer.status, answer.code) == (503, "SERVICE_UNAVAILABLE")


def test_any_other_error_stays_unknown(channel):
    bug = failure(channel, "Bug")
    assert bug.code() == grpc.StatusCode.UNKNOWN and map_exception(bug) is None
