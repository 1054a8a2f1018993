"""kernel.service_base and kernel.export_server: the header every service
shares and the export-only gRPC main."""
from __future__ import annotations

import grpc
from nameko.standalone.rpc import ServiceRpcProxy
from sqlalchemy import Column, Integer, MetaData, Table, create_engine

from kernel import export_server
from kernel.events import kernel_tables
from kernel.nameko import Database, DeadLetters, EntrypointMetrics, Outbox, service_rpc
from kernel.service_base import service_base

metadata = MetaData()
tables = kernel_tables(metadata)
Table("things", metadata, Column("id", Integer, primary_key=True))


class Based(service_base(tables)):
    name = "kbased"

    @service_rpc
    def echo(self, value):
        return value


def test_the_base_declares_db_outbox_dead_letters_and_metrics():
    assert isinstance(Based.db, Database) and isinstance(Based.outbox, Outbox)
    assert isinstance(Based.dead_letters, DeadLetters) and isinstance(Based.metrics, EntrypointMetrics)
    assert Based.outbox.outbox is tables["outbox"]
    # two services get their own providers, not one shared instance
    assert service_base(tables).db is not Based.db


def test_health_and_own_rpcs_answer_over_the_broker(container_factory, rabbit_config, tmp_path):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    engine = create_engine(url)
    metadata.create_all(engine)
    engine.dispose()
    container = container_factory(Based, {**rabbit_config, "DATABASE_URL": url})
    container.start()
    with ServiceRpcProxy("kbased", rabbit_config) as proxy:
        assert proxy.health() == {"status": "ok", "service": "kbased"}
        assert proxy.echo(5) == 5


def test_serve_exports_registers_the_export_stream_and_disposes_the_engine(monkeypatch, tmp_path):
    monkeypatch.setenv("EJOURNAL_REPORTS_DATABASE_URL", f"sqlite:///{tmp_path / 'r.db'}")
    monkeypatch.setenv("EJOURNAL_REPORTS_GRPC_PORT", "6101")
    monkeypatch.setenv("EJOURNAL_REPORTS_GRPC_METRICS_PORT", "6102")
    seen = {}

    def serve(service, port, metrics_port, register, health):
        server = grpc.server(thread_pool=None)
        seen.update(service=service, ports=(port, metrics_port), names=register(server), health=health())

    monkeypatch.setattr(export_server, "serve", serve)
    assert export_server.serve_exports("reports", metadata) == 0
    assert seen["service"] == "reports" and seen["ports"] == (6101, 6102)
    assert seen["names"] == ["ejournal.export.v1.Export"]
