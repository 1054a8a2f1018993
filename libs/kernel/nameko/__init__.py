"""The kernel's nameko glue, one module per concern. Only service
entrypoints import it; rules and store code never see nameko, so a move to
another worker framework stays here.

- :mod:`.database`: ``Database``, a session per worker.
- :mod:`.outbox`: ``Outbox``, events recorded in the worker's transaction
  and relayed to the broker with publisher confirms.
- :mod:`.dead_letters`: ``DeadLetters``, poison messages kept in a table and
  on the dead-letter queue.
- :mod:`.handlers`: ``on_event`` and ``handles``, idempotent, poison-safe
  event handlers.
- :mod:`.rpc`: ``service_rpc`` and ``RpcProxy``, RPC with deadlines.
- :mod:`.consumer`: the queue consumer every entrypoint shares (undecodable
  deliveries dead-lettered).
- :mod:`.metrics`: the Prometheus metrics and ``EntrypointMetrics``.

The names services use are importable from here.
"""
from kernel.nameko.database import Database, WorkerDb
from kernel.nameko.dead_letters import DEAD_LETTER_EXCHANGE, DEAD_LETTER_QUEUE, DeadLetters
from kernel.nameko.handlers import handles, on_event, valid_or_dead_lettered
from kernel.nameko.metrics import EntrypointMetrics
from kernel.nameko.outbox import PACKED_HEADER, Outbox, RelayIncomplete, WorkerOutbox, event_exchange
from kernel.nameko.rpc import RpcProxy, service_rpc
from kernel.nameko.consumer import Undecodable, consumer_name, undecodable

__all__ = [
    "DEAD_LETTER_EXCHANGE", "DEAD_LETTER_QUEUE", "PACKED_HEADER", "Database", "DeadLetters", "EntrypointMetrics",
    "Outbox", "RelayIncomplete", "RpcProxy", "Undecodable", "WorkerDb", "WorkerOutbox", "consumer_name",
    "event_exchange", "handles", "on_event", "service_rpc", "undecodable", "valid_or_dead_lettered",
]
