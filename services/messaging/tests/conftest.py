"""Fixtures of the messaging tests: one migrated PostgreSQL database per run
(emptied before every test), the real RabbitMQ through nameko's per-test
vhosts, and small factories for ids and event envelopes."""
from __future__ import annotations

import pytest
from nameko.amqp.publish import Publisher
from sqlalchemy import select

from kernel.db import make_engine, session_factory
from kernel.nameko import event_exchange
from kernel.testing import migrated_database, truncate_all

from messaging import store
from messaging.service import Service


@pytest.fixture(scope="session")
def migrated_url(pg_databases):
    return migrated_database(pg_databases, "messaging")


@pytest.fixture
def db_url(migrated_url):
    truncate_all(migrated_url, store.Base.metadata)
    return migrated_url


@pytest.fixture(scope="session")
def _engine(migrated_url):
    engine = make_engine(migrated_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_maker(db_url, _engine):
    return session_factory(_engine)


@pytest.fixture
def session(session_maker):
    with session_maker() as s:
        yield s


@pytest.fixture
def config(rabbit_config, db_url, tmp_path):
    # MAIL_DIR: without an SMTP host the mailer writes files; keep them in tmp.
    return {**rabbit_config, "DATABASE_URL": db_url, "max_workers": 4, "MAIL_DIR": str(tmp_path / "mail")}


@pytest.fixture
def container(container_factory, config):
    c = container_factory(Service, config)
    c.start()
    return c


@pytest.fixture
def publish(config):
    """``publish(producer, envelope_or_raw_body, routing_key)`` onto the
    producer's events exchange, as the outbox relay does."""
    publisher = Publisher(config["AMQP_URI"])

    def _publish(producer: str, body, routing_key: str | None = None):
        key = routing_key or body["type"]
        publisher.publish(body, exchange=event_exchange(producer), routing_key=key)

    return _publish


@pytest.fixture
def rows(session_maker):
    """``rows(Model_or_table, **filters)``: what is in the database now."""
    def _rows(what, **filters):
        with session_maker() as s:
            if hasattr(what, "__table__"):
                query = select(what).filter_by(**filters)
                return list(s.scalars(query))
            return list(s.execute(select(what).filter_by(**filters)).mappings())
    return _rows


@pytest.fixture
def smtp_sink(tmp_path):
    """``smtp_sink(**options)`` starts a real SMTP server (aiosmtpd, see
    messaging_smtp_sink.py) in its own process; returns an object with
    ``port``, ``dir`` and ``messages()`` (the parsed e-mails received)."""
    import email
    import subprocess
    import sys
    from email import policy as email_policy
    from pathlib import Path

    from messaging_testkit import free_port

    procs = []

    class Sink:
        def __init__(self, port, directory):
            self.port, self.dir = port, directory

        def messages(self):
            return [email.message_from_bytes(p.read_bytes(), policy=email_policy.default)
                    for p in sorted(self.dir.glob("*.eml"))]

    def start(tempfail=0, tls=None, user=None, password=None):
        port = free_port()
        directory = tmp_path / f"smtp-{port}"
        args = [sys.executable, str(Path(__file__).with_name("messaging_smtp_sink.py")), "--port", str(port),
                "--dir", str(directory), "--tempfail", str(tempfail)]
        if tls:
            args += ["--tls", *map(str, tls)]
        if user:
            args += ["--user", user, "--password", password]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append(proc)
        line = proc.stdout.readline().decode().strip()
        assert line == "ready", proc.stderr.read().decode()[-2000:]
        return Sink(port, directory)

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def mail_config(config, tmp_path):
    """Service config for mail tests: fast mailer ticks and retries; the
    test adds SMTP_HOST/SMTP_PORT of its sink."""
    return {**config, "MAIL_POLL": 0.1, "MAIL_BACKOFF": 0.2, "MAIL_MAX_ATTEMPTS": 3,
            "MAIL_DIR": str(tmp_path / "mail-files"), "SMTP_FROM": "journal@school.test"}
