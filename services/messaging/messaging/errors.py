"""Remote errors of the messaging service (mapped by the gateway's one table)."""
from __future__ import annotations

from kernel.errors import BadRequest

from messaging import texts


class ValidationError(BadRequest):
    """An RPC argument is missing, of the wrong type or out of range."""
    code = "VALIDATION_ERROR"
    message = texts.ERR_VALIDATION
