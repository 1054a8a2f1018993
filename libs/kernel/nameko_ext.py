"""The former home of the kernel's nameko glue, kept so that existing
imports work: everything lives in :mod:`kernel.nameko` now, one module per
concern. New code imports from there."""
from kernel.nameko import *  # noqa: F401,F403
from kernel.nameko.consumer import _QueueConsumer  # noqa: F401
from kernel.nameko.handlers import _EventHandler, _handle_one, _transient  # noqa: F401
from kernel.nameko.metrics import (  # noqa: F401
    DEAD_LETTERS, EVENTS_HANDLED, EVENTS_PUBLISHED, OUTBOX_LAG, RPC_ERRORS, RPC_EXPIRED, RPC_SECONDS,
)
from kernel.nameko.outbox import _FrameCollector  # noqa: F401
from kernel.nameko.rpc import _ReplyPublisher, _Responder, _Rpc, _RpcConsumer  # noqa: F401
