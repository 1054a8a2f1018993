"""The export side of the backup contract (proto ejournal.export.v1), the
same for every service: stream every table of the service's metadata."""
from __future__ import annotations

import datetime as dt
import decimal
import json

from sqlalchemy import func, select, text


def _jsonable(value):
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def schema_revision(conn) -> str:
    try:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar() or ""
    except Exception:
        return ""


def export_tables(engine, metadata, chunk_rows: int = 500):
    """Yield ``(table_name, rows, revision)`` for every table, ``chunk_rows``
    at a time, in a stable order (by primary key). Runs in one read
    transaction so that the copy is consistent."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        revision = schema_revision(conn)
        for table in metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            result = conn.execution_options(stream_results=True).execute(select(table).order_by(*order))
            batch = []
            sent = False
            for row in result.mappings():
                batch.append({k: _jsonable(v) for k, v in row.items()})
                if len(batch) >= chunk_rows:
                    yield table.name, batch, revision
                    batch, sent = [], True
            if batch or not sent:
                yield table.name, batch, revision


def count_rows(engine, metadata) -> dict:
    with engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar() for t in metadata.sorted_tables}


def add_export_servicer(server, engine, metadata) -> str:
    """Register the Export service on ``server``; returns its full name."""
    from ejournal.export.v1 import export_pb2, export_pb2_grpc

    class ExportServicer(export_pb2_grpc.ExportServicer):
        def ExportData(self, request, context):
            for name, rows, revision in export_tables(engine, metadata):
                yield export_pb2.ExportChunk(
                    table=name, rows_json=json.dumps(rows, ensure_ascii=False).encode(),
                    row_count=len(rows), schema_revision=revision)

        def CountRows(self, request, context):
            return export_pb2.RowCounts(counts=count_rows(engine, metadata))

    export_pb2_grpc.add_ExportServicer_to_server(ExportServicer(), server)
    return export_pb2.DESCRIPTOR.services_by_name["Export"].full_name
