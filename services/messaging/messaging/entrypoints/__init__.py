"""messaging's nameko entrypoints, one mixin per concern: :mod:`.projections`
(other services' facts), :mod:`.notifications` (notifications from events,
their list and settings), :mod:`.mail` (internal mail) and :mod:`.news`.
:class:`messaging.service.Service` combines them. Entrypoints decode, call
domain/store, encode: the rules are in ``domain`` and ``policy``."""
from __future__ import annotations

from kernel.nameko import handles, on_event

from messaging.store import tables

PROCESSED = tables["processed_events"]


def on(producer_and_type):
    """``on_event`` for a ``(producer, type)`` pair of :mod:`messaging.events`."""
    return on_event(*producer_and_type)


def handled(handler_name):
    """kernel ``handles`` under the consumer name ``messaging.<handler_name>``."""
    return handles(f"messaging.{handler_name}", PROCESSED)


def roles_of(person, who) -> list:
    """The roles of the projection are the truth of messaging; the token's
    roles (``who``, a kernel CallContext) help only until user_created has arrived."""
    return list(person.roles) if person is not None and person.roles else sorted(who.roles)
