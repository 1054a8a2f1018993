"""How the kernel talks to the broker: RPC replies (kombu and nameko patches:
test_kernel_patches)."""


class Echo:
    name = "kecho"

    from kernel.nameko import service_rpc as _service_rpc

    @_service_rpc
    def echo(self, value):
        return {"value": value}

    @_service_rpc
    def refuse(self):
        from kernel.errors import NotFound
        raise NotFound("Нет такого")


def test_service_rpc_answers_over_the_broker_without_reply_confirms(container_factory, rabbit_config):
    """service_rpc replies through the broker (a real round trip, errors
    included) with a publisher that neither waits for confirms nor persists
    the reply (it goes to the caller's exclusive reply queue)."""
    from nameko.constants import NON_PERSISTENT
    from nameko.exceptions import RemoteError
    from nameko.standalone.rpc import ServiceRpcProxy

    from kernel.nameko.rpc import _ReplyPublisher

    container = container_factory(Echo, rabbit_config)
    container.start()
    with ServiceRpcProxy("kecho", rabbit_config, timeout=10) as proxy:
        assert proxy.echo("ок") == {"value": "ок"}
        try:
            proxy.refuse()
        except RemoteError as exc:
            assert exc.exc_type == "NotFound"
        else:
            raise AssertionError("the refusal did not reach the caller")
    assert _ReplyPublisher.use_confirms is False and _ReplyPublisher.delivery_mode == NON_PERSISTENT
