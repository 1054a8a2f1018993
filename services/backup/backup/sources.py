"""Where a backup's data comes from: each data-owning service's gRPC Export
stream (proto ejournal.export.v1). A source is any object with
``export(backup_id, correlation_id=None)`` yielding ``(table, rows, revision)``,
so the worker's tests swap in plain iterators.

Only the plain worker process uses :class:`GrpcSource`; grpc is imported
lazily so that importing this module never pulls grpcio into an eventlet
process (ARCHITECTURE.md "Runtime notes").
"""
from __future__ import annotations


DEFAULT_TIMEOUT = 600.0
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
CORRELATION_KEY = "x-correlation-id"


class SourceError(Exception):
    """A service's export failed or sent something that is not an export."""


class GrpcSource:
    """The Export stream of one service at ``target`` (``host:port``)."""

    def __init__(self, target: str, *, timeout: float = DEFAULT_TIMEOUT, school_id: str = ""):
        self.target = target
        self.timeout = timeout
        self.school_id = school_id

    def __repr__(self) -> str:
        return f"GrpcSource({self.target!r})"

    def export(self, backup_id: str, correlation_id: str | None = None):
        """Yield ``(table, rows, revision)`` chunks; :class:`SourceError` on
        any failure (the whole call has one deadline, ``timeout`` seconds)."""
        import grpc
        import orjson
        from ejournal.export.v1 import export_pb2, export_pb2_grpc

        channel = grpc.insecure_channel(self.target, options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)])
        try:
            stub = export_pb2_grpc.ExportStub(channel)
            metadata = [(CORRELATION_KEY, correlation_id)] if correlation_id else None
            call = stub.ExportData(
                export_pb2.ExportRequest(school_id=self.school_id, backup_id=backup_id),
                timeout=self.timeout, metadata=metadata)
            try:
                for chunk in call:
                    try:
                        rows = orjson.loads(chunk.rows_json or b"[]")
                    except (ValueError, orjson.JSONDecodeError):
                        raise SourceError(f"{self.target}: rows of {chunk.table} are not JSON") from None
                    if not isinstance(rows, list) or len(rows) != chunk.row_count:
                        raise SourceError(f"{self.target}: chunk of {chunk.table} has a wrong row count")
                    yield chunk.table, rows, chunk.schema_revision
            except grpc.RpcError as exc:
                code = exc.code() if hasattr(exc, "code") else None
                details = exc.details() if hasattr(exc, "details") else str(exc)
                raise SourceError(f"{self.target}: {getattr(code, 'name', code)}: {details}") from None
            finally:
                call.cancel()  # a no-op when done; stops the server early otherwise
        finally:
            channel.close()
