"""Remote errors of the messaging service (mapped by the gateway's one table)."""
from __future__ import annotations

from kernel import errors as base

from messaging import texts


class ValidationError(base.ValidationError):
    """An RPC argument is missing, of the wrong type or out of range."""
    message = texts.ERR_VALIDATION


class RecipientNotAllowed(base.Forbidden):
    """R-M1/R-A3: the sender may not write to (some of) the recipients."""
    code = "RECIPIENT_NOT_ALLOWED"
    message = texts.ERR_RECIPIENT
