"""Both owners of a journal write's access rule, asked directly on the
running platform: identity's central decision (its ``authorize`` RPC, the
same function as the gRPC Authorize the gateway asks) and the journal's own
verdict (the journal's nameko RPC called with the same call context, as the
gateway would call it once identity said yes). Used by the access matrix
and the end-to-end tests to show that the two agree (kernel.access_rules)."""
from __future__ import annotations

import base64
import json
import time
import uuid

from nameko.exceptions import RemoteError

from gateway.clients import RpcPool
from kernel.errors import ServiceError

# How the journal says "not allowed" or "not yours"; any other error means
# the write got past its access check and broke some other rule.
REFUSALS = ("forbidden", "not_found")


def claims(token: str) -> dict:
    """The access token's claims (already verified by whoever issued it)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def call_ctx(token: str) -> dict:
    """The ``ctx`` the gateway builds from this token (docs/contracts.md)."""
    c = claims(token)
    return {"actor_id": c["sub"], "school_id": c["school_id"], "roles": list(c["roles"]),
            "correlation_id": uuid.uuid4().hex}


class Verdicts:
    def __init__(self, platform):
        self.pool = RpcPool(platform.env["EJOURNAL_AMQP_URI"], size=2, timeout=30)

    def identity(self, token: str, action: str, resource_type: str, resource_id: str, context: dict | None = None,
                 timeout: float = 30.0) -> dict:
        """identity's decision ``{allowed, denial, reason}``, once identity
        has heard of the resource (a "deferred" answer is no decision: the
        journal's events are still on their way)."""
        context = {k: v for k, v in (context or {}).items() if isinstance(v, str) and v}
        deadline = time.monotonic() + timeout
        while True:
            answer = self.pool.call("identity", "authorize", (call_ctx(token), action, resource_type, resource_id,
                                                              context))
            if answer["reason"] != "deferred":
                return answer
            if time.monotonic() > deadline:
                raise AssertionError(f"identity never heard of {resource_type} {resource_id}")
            time.sleep(0.2)

    def journal(self, token: str, method: str, *args) -> tuple[bool, str]:
        """``(allowed, what)``: the journal did the write, or refused it
        (``what`` = its error code). Any other error fails the caller."""
        try:
            self.pool.call("journal", method, (call_ctx(token), *args))
        except RemoteError as exc:
            parsed = ServiceError.parse(exc.value) or {}
            if parsed.get("kind") in REFUSALS:
                return False, parsed.get("code", "")
            raise AssertionError(f"journal.{method} failed past its access check: {exc.exc_type} {exc.value}")
        return True, "done"

    def close(self) -> None:
        self.pool.close()
