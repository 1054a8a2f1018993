"""The messaging gRPC process: ``python -m messaging.grpc_server``. Only the
backup Export stream and the standard health service (kernel.export_server)."""
from __future__ import annotations

import sys

from kernel.export_server import serve_exports
from messaging.store import Base

if __name__ == "__main__":
    sys.exit(serve_exports("messaging", Base.metadata))
