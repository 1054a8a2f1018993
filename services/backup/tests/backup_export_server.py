"""A stand-in data-owning service for the worker process test: a SQLite
database served through kernel.export on a real gRPC server (its own
process: no grpcio in the eventlet-patched test process).

    python backup_export_server.py <sqlite path> <grpc port> <metrics port>
"""
from __future__ import annotations

import sys

REVISION = "0007"


def pupils() -> list[dict]:
    # Two schools: a school's export holds its own pupils and, through the
    # foreign key, their marks (kernel.export).
    return [{"id": f"p{i:04d}", "school_id": "s2" if i == 2 else "s1", "full_name": f"Ученик {i}",
             "class_name": "5А"} for i in range(3)]


def marks() -> list[dict]:
    # More than one Export chunk (kernel.export sends 500 rows at a time).
    return [{"id": i + 1, "pupil_id": f"p{i % 3:04d}", "value": 2 + i % 4} for i in range(1203)]


def main(argv) -> None:
    from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, insert, text

    from kernel.db import make_engine
    from kernel.export import add_export_servicer
    from kernel.grpcserver import serve

    path, port, metrics_port = argv[0], int(argv[1]), int(argv[2])
    metadata = MetaData()
    pupil_t = Table("pupils", metadata, Column("id", String(36), primary_key=True),
                    Column("school_id", String(36), nullable=False),
                    Column("full_name", String(200)), Column("class_name", String(10)))
    mark_t = Table("marks", metadata, Column("id", Integer, primary_key=True),
                   Column("pupil_id", ForeignKey("pupils.id")), Column("value", Integer))
    engine = make_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": REVISION})
        conn.execute(insert(pupil_t), pupils())
        conn.execute(insert(mark_t), marks())
    serve("journal", port, metrics_port, lambda server: [add_export_servicer(server, engine, metadata)])


if __name__ == "__main__":
    main(sys.argv[1:])
