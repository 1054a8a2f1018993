"""The call context every RPC takes first (docs/contracts.md "The call context").

The gateway builds ``ctx`` from a verified access token:
``{"actor_id", "school_id", "roles": [...], "correlation_id"}``. Every
service decodes it with :meth:`CallContext.from_rpc`; a missing or malformed
``ctx`` is one answer everywhere, 401 ``INVALID_TOKEN``
(:class:`kernel.errors.InvalidContext`): the caller cannot be told apart
from one without a valid token. The request's deadline travels beside
``ctx`` (kernel.deadline), not in it.
"""
from __future__ import annotations

from dataclasses import dataclass

from kernel.errors import InvalidContext


@dataclass(frozen=True)
class CallContext:
    """Who calls, for which school, with which roles."""
    actor_id: str
    school_id: str
    roles: frozenset
    correlation_id: str | None = None

    @classmethod
    def from_rpc(cls, ctx) -> "CallContext":
        """Decode ``ctx``; :class:`InvalidContext` (401) naming the bad field otherwise."""
        if not isinstance(ctx, dict):
            raise InvalidContext(details={"field": "ctx"})
        for key in ("actor_id", "school_id"):
            value = ctx.get(key)
            if not isinstance(value, str) or not value.strip():
                raise InvalidContext(details={"field": f"ctx.{key}"})
        roles = ctx.get("roles")
        if not isinstance(roles, (list, tuple)) or not all(isinstance(r, str) for r in roles):
            raise InvalidContext(details={"field": "ctx.roles"})
        cid = ctx.get("correlation_id")
        return cls(ctx["actor_id"], ctx["school_id"], frozenset(roles), cid if isinstance(cid, str) and cid else None)

    def has(self, *roles: str) -> bool:
        """Whether the caller holds at least one of ``roles``."""
        return any(r in self.roles for r in roles)

    def as_dict(self) -> dict:
        """The wire form again (roles sorted), for the outbox and onward calls."""
        return {"actor_id": self.actor_id, "school_id": self.school_id, "roles": sorted(self.roles),
                "correlation_id": self.correlation_id}
