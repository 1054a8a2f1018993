"""Per-request helpers shared by the views: the process's clients, the
verified caller and the RPC ``ctx`` built from it."""
from __future__ import annotations

import threading

from flask import current_app, g

from kernel import correlation

EXTENSION = "ejournal.gateway"
PROFILES = "ejournal.gateway.profiles"  # the portal menu's profiles (gateway.guard.DecisionCache)


class ClientsHolder:
    """Creates the process's :class:`gateway.clients.Clients` on first use,
    i.e. in the worker after gunicorn forked, never in the master."""

    def __init__(self, factory, clients=None):
        self._factory = factory
        self._clients = clients
        self._lock = threading.Lock()

    def get(self):
        if self._clients is None:
            with self._lock:
                if self._clients is None:
                    self._clients = self._factory()
        return self._clients

    def close(self):
        if self._clients is not None and hasattr(self._clients, "close"):
            self._clients.close()


def current_clients():
    """The clients of this process."""
    return current_app.extensions[EXTENSION].get()


def principal():
    """The verified caller (set by :func:`gateway.guard.check`)."""
    return g.principal


def call_ctx() -> dict:
    """The ``ctx`` every RPC gets first (docs/contracts.md "The call context")."""
    p = g.principal
    return {"actor_id": p.user_id, "school_id": p.school_id, "roles": list(p.roles),
            "correlation_id": correlation.get()}
