"""The reports gRPC process: ``python -m reports.grpc_server``. Only the
backup Export stream and the standard health service (kernel.export_server);
reports are served over nameko RPC."""
from __future__ import annotations

import sys

from kernel.export_server import serve_exports
from reports.store import Base

if __name__ == "__main__":
    sys.exit(serve_exports("reports", Base.metadata))
