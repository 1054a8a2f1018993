"""kernel.context: one decoder of the RPC call context, one error (401 INVALID_TOKEN)."""
from __future__ import annotations

import pytest

from kernel.context import CallContext
from kernel.errors import InvalidContext, ServiceError


def test_a_gateway_ctx_is_decoded():
    who = CallContext.from_rpc({"actor_id": "u", "school_id": "s", "roles": ["teacher", "admin"],
                                "correlation_id": "c"})
    assert who == CallContext("u", "s", frozenset({"admin", "teacher"}), "c")
    assert who.has("admin") and who.has("parent", "teacher") and not who.has("parent")
    assert who.as_dict() == {"actor_id": "u", "school_id": "s", "roles": ["admin", "teacher"],
                             "correlation_id": "c"}


def test_correlation_id_is_optional_and_roles_may_be_empty():
    who = CallContext.from_rpc({"actor_id": "u", "school_id": "s", "roles": [], "correlation_id": 5})
    assert who.correlation_id is None and who.roles == frozenset()


@pytest.mark.parametrize("ctx, field", [
    (None, "ctx"), ("admin", "ctx"), ([], "ctx"),
    ({}, "ctx.actor_id"), ({"actor_id": "", "school_id": "s", "roles": []}, "ctx.actor_id"),
    ({"actor_id": "  ", "school_id": "s", "roles": []}, "ctx.actor_id"),
    ({"actor_id": 5, "school_id": "s", "roles": []}, "ctx.actor_id"),
    ({"actor_id": "u", "roles": []}, "ctx.school_id"), ({"actor_id": "u", "school_id": 1, "roles": []}, "ctx.school_id"),
    ({"actor_id": "u", "school_id": "s"}, "ctx.roles"), ({"actor_id": "u", "school_id": "s", "roles": "admin"}, "ctx.roles"),
    ({"actor_id": "u", "school_id": "s", "roles": [1]}, "ctx.roles"),
])
def test_a_missing_or_malformed_ctx_is_401_invalid_token(ctx, field):
    with pytest.raises(InvalidContext) as err:
        CallContext.from_rpc(ctx)
    assert isinstance(err.value, ServiceError)
    assert (err.value.kind, err.value.code, err.value.details) == ("unauthenticated", "INVALID_TOKEN",
                                                                   {"field": field})
