"""Off-site targets on real servers (R-D1): an S3-compatible server (moto's
server mode on a loopback port) and Debian's OpenSSH sshd (started here on
a loopback port with a throwaway host key, user key and config). Each is
uploaded to, listed, downloaded from and deleted from; the worker copies
every archive to every target, retries a failing one with backoff, raises
its alert metric and still gives the others their copy; a restore fetches
an archive from a target when the local copy is gone.

Here, not in services/backup/tests: boto3 and paramiko run in the backup
worker and the restore command, plain processes, and are tested the same
way (no eventlet monkey patching, which this directory's run has not)."""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from kernel.db import make_engine, new_id, session_factory, transaction
from kernel.testing import migrated_database, truncate_all
from kernel.export import export_tables
from kernel.migrate import upgrade

from backup import domain, store
from backup.crypto import generate_key
from backup.targets import (
    LocalDirTarget, SftpTarget, S3Target, TargetConfig, TargetError, open_target, parse_targets,
)
from backup.archive import read_archive, read_stream
from backup.worker import Worker, WorkerConfig, warn_about_keys

UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def backup_db_url(pg_databases):
    return migrated_database(pg_databases, "backup")


@pytest.fixture
def factory(backup_db_url):
    truncate_all(backup_db_url, store.Base.metadata)
    engine = make_engine(backup_db_url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def key():
    return generate_key()


@pytest.fixture
def target(tmp_path):
    return LocalDirTarget(tmp_path / "backups")


@pytest.fixture
def queue(factory):
    def make(*, trigger=domain.MANUAL):
        backup_id = new_id()
        with transaction(factory) as session:
            store.create_backup(session, backup_id=backup_id, trigger=trigger, started_at=dt.datetime.now(UTC))
        return backup_id
    return make


@pytest.fixture
def fetch(factory):
    def get(backup_id):
        with transaction(factory) as session:
            return store.as_dict(store.get_backup(session, backup_id=backup_id))
    return get


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited: {proc.stdout.read().decode(errors='replace')[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not listen on {port}")


@pytest.fixture(scope="module")
def s3_endpoint():
    """moto's S3-compatible HTTP server, in its own process."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_port(port, proc, "moto server")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    import boto3
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    bucket = f"school-{new_id()[:8]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return TargetConfig("offsite", f"s3://{bucket}/ejournal?endpoint={s3_endpoint}", 720.0, {"part_mb": "5"})


SSHD = "/usr/sbin/sshd"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """Debian's sshd on a loopback port: a throwaway host key, a user key in
    authorized_keys and a config of its own; nothing of the system's."""
    if not os.path.exists(SSHD):
        pytest.fail("openssh-server is not installed: bash deploy/local/ensure-services.sh sshd")
    tmp = tmp_path_factory.mktemp("sshd")
    os.chmod(tmp, 0o700)
    for name in ("host_key", "user_key", "other_host_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / name)], check=True)
    (tmp / "authorized_keys").write_text((tmp / "user_key.pub").read_text())
    os.chmod(tmp / "authorized_keys", 0o600)
    port = free_port()
    import pwd
    user = pwd.getpwuid(os.getuid()).pw_name
    (tmp / "sshd_config").write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {tmp / 'host_key'}",
        f"AuthorizedKeysFile {tmp / 'authorized_keys'}", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "PubkeyAuthentication yes", "PermitRootLogin prohibit-password",
        "UsePAM no", "StrictModes no", f"PidFile {tmp / 'sshd.pid'}", "Subsystem sftp internal-sftp",
        f"AllowUsers {user}", "LogLevel ERROR"]) + "\n")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(tmp / "sshd_config")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_port(port, proc, "sshd")
        host_pub = (tmp / "host_key.pub").read_text().split()
        (tmp / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
        other = (tmp / "other_host_key.pub").read_text().split()
        (tmp / "wrong_known_hosts").write_text(f"[127.0.0.1]:{port} {other[0]} {other[1]}\n")
        yield {"port": port, "user": user, "dir": tmp}
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def sftp(sshd, tmp_path):
    root = tmp_path / "remote" / "backups"
    return TargetConfig("server", f"sftp://{sshd['user']}@127.0.0.1:{sshd['port']}{root}", 720.0,
                        {"ssh_key": str(sshd["dir"] / "user_key"), "known_hosts": str(sshd["dir"] / "known_hosts")})


def archive_file(tmp_path, size=12 * 1024 * 1024) -> Path:
    path = tmp_path / f"source-{size}.bin"
    path.write_bytes(os.urandom(size))
    return path


def blob_roundtrip(target, tmp_path):
    """The storage primitives the chunked layout stands on."""
    big = archive_file(tmp_path)
    with open(big, "rb") as source:
        target.put_blob("chunks/aa", source)
    target.put_blob("chunks/bb", io.BytesIO(b"small"))
    target.put_blob("b1.index", io.BytesIO(b"index"))
    assert sorted(target.list_blobs("chunks/")) == ["aa", "bb"]
    assert target.list_blobs("b1.") == ["index"]
    stream = target.get_blob("chunks/aa")
    try:
        assert b"".join(iter(lambda: stream.read(65536), b"")) == big.read_bytes()
    finally:
        stream.close()
    target.delete_blob("chunks/aa")
    assert target.list_blobs("chunks/") == ["bb"]


def test_s3_target_uploads_in_parts_lists_downloads_and_deletes(s3, tmp_path):
    target = open_target(s3)
    assert isinstance(target, S3Target) and target.name == s3.name
    blob_roundtrip(target, tmp_path)
    keys = [o["Key"] for o in target.client.list_objects_v2(Bucket=target.bucket)["Contents"]]
    assert sorted(keys) == ["ejournal/b1.index", "ejournal/chunks/bb"]


def test_s3_target_without_its_bucket_fails_clearly(s3, tmp_path):
    broken = open_target(TargetConfig("x", s3.url.replace("s3://school-", "s3://missing-"), 720.0, {}))
    with pytest.raises(Exception, match="NoSuchBucket|does not exist"):
        broken.put_blob("chunks/x", io.BytesIO(b"x"))


def test_sftp_target_uploads_lists_downloads_and_deletes(sftp, tmp_path):
    target = open_target(sftp)
    assert isinstance(target, SftpTarget)
    with target.connected():
        blob_roundtrip(target, tmp_path)
    remote = Path(target.path)
    assert sorted(p.name for p in remote.iterdir()) == ["b1.index", "chunks"]  # no .part left
    assert [p.name for p in (remote / "chunks").iterdir()] == ["bb"]


def test_sftp_target_refuses_an_unknown_host_key(sftp, sshd, tmp_path):
    import paramiko
    wrong = TargetConfig(sftp.label, sftp.url, 720.0, {**sftp.options,
                                                       "known_hosts": str(sshd["dir"] / "wrong_known_hosts")})
    with pytest.raises((paramiko.SSHException, paramiko.BadHostKeyException)):
        open_target(wrong).put_blob("chunks/x", io.BytesIO(b"x"))
    assert not Path(open_target(sftp).path).exists()


def test_targets_from_the_settings(tmp_path):
    env = {"EJOURNAL_BACKUP_TARGETS": "offsite, server",
           "EJOURNAL_BACKUP_TARGET_OFFSITE": "s3://bucket/school?endpoint=http://127.0.0.1:9",
           "EJOURNAL_BACKUP_TARGET_OFFSITE_EVERY_HOURS": "168",
           "EJOURNAL_BACKUP_TARGET_SERVER": "sftp://backup@example.org/srv/ej",
           "EJOURNAL_BACKUP_TARGET_SERVER_KNOWN_HOSTS": "/etc/ej/known_hosts"}
    local, offsite, server = parse_targets(env, tmp_path)
    assert (local.label, local.kind, local.every_hours) == ("local", "local", 336.0)
    assert local.name == f"local:{(tmp_path / 'backups').resolve()}"
    assert (offsite.kind, offsite.every_hours, offsite.name) == ("s3", 168.0, "s3://bucket/school")
    assert (server.kind, server.every_hours, server.name) == ("sftp", 720.0, "sftp://backup@example.org/srv/ej")
    assert server.options == {"known_hosts": "/etc/ej/known_hosts"}
    assert parse_targets({"EJOURNAL_BACKUP_EVERY_HOURS": "0"}, tmp_path)[0].every_hours == 0
    for bad in ({"EJOURNAL_BACKUP_TARGETS": "x"}, {"EJOURNAL_BACKUP_TARGETS": "Bad-Name"},
                {"EJOURNAL_BACKUP_TARGETS": "x", "EJOURNAL_BACKUP_TARGET_X": "ftp://h/p"},
                {"EJOURNAL_BACKUP_TARGETS": "local", "EJOURNAL_BACKUP_TARGET_LOCAL": "file:///x"},
                {"EJOURNAL_BACKUP_EVERY_HOURS": "often"}):
        with pytest.raises(ValueError):
            parse_targets(bad, tmp_path)
    with pytest.raises(ValueError, match="KNOWN_HOSTS"):
        open_target(parse_targets({"EJOURNAL_BACKUP_TARGETS": "s", "EJOURNAL_BACKUP_TARGET_S": "sftp://u@h/p"},
                                  tmp_path)[1])


def test_a_key_beside_the_archives_is_warned_about(tmp_path, caplog):
    target = LocalDirTarget(tmp_path / "backups")
    target.ensure()
    assert warn_about_keys(target, [], tmp_path / "data") == []
    (target.root / "backup.key").write_text("secret")
    assert warn_about_keys(target, [], tmp_path / "data") == [target.root / "backup.key"]
    inside = LocalDirTarget(tmp_path / "data")  # the data dir itself as a target: its keys/ are inside
    assert (tmp_path / "data" / "keys" / "backup.key").resolve() in warn_about_keys(inside, [], tmp_path / "data")
    assert "keep the keys away from the archives" in caplog.text


def _metric(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def source(tmp_path):
    from messaging.store import Base
    url = f"sqlite:///{tmp_path / 'messaging.db'}"
    upgrade("messaging", url)
    engine = make_engine(url)
    yield {"messaging": lambda: export_tables(engine, Base.metadata)}
    engine.dispose()


def test_worker_copies_to_every_target_retries_a_failing_one_and_alerts(factory, target, key, queue, fetch,
                                                                       source, s3, sftp, tmp_path):
    dead = TargetConfig("dead", f"s3://nobucket/x?endpoint=http://127.0.0.1:{free_port()}", 720.0, {})
    remotes = [(c, open_target(c, key)) for c in (s3, sftp, dead)]
    pauses = []
    worker = Worker(factory, sources=source, target=target, key=key, remotes=remotes, sleep=pauses.append,
                    config=WorkerConfig(backup_dir=target.root, target_attempts=3, target_retry_delay=0.5))
    copies_before = _metric("backup_target_copies_total", target="dead", outcome="failed")
    backup_id = queue()
    assert worker.work_once() == domain.DONE
    row = fetch(backup_id)
    assert row["targets"] == [target.name, s3.name, sftp.name]
    assert row["failed_targets"] == [dead.name]
    assert pauses == [0.5, 1.0]  # three tries, the pause doubled
    assert _metric("backup_target_failing", target="dead") == 1
    assert _metric("backup_target_failing", target="offsite") == 0
    assert _metric("backup_target_copies_total", target="dead", outcome="failed") == copies_before + 1
    local = read_archive(target.archive_path(backup_id), key)
    for _, remote in remotes[:2]:
        assert remote.list_ids() == [backup_id]
        with remote.open(backup_id) as stream:  # reassembled from its chunks
            again = read_stream(stream, key, backup_id=backup_id)
        assert again.manifest == local.manifest and again.rows == local.rows

    # a scheduled backup copies only to the targets whose interval has passed
    scheduled = queue(trigger=domain.SCHEDULED)
    assert worker.work_once() == domain.DONE
    assert fetch(scheduled)["targets"] == [target.name, dead.name] or fetch(scheduled)["failed_targets"] == [dead.name]
    assert s3.name not in fetch(scheduled)["targets"]


def test_restore_fetches_the_archive_from_a_target_when_the_local_copy_is_gone(
        factory, target, key, queue, fetch, source, sftp, tmp_path, monkeypatch):
    import base64
    from backup import restore

    worker = Worker(factory, sources=source, target=target, key=key, remotes=[(sftp, open_target(sftp, key))],
                    config=WorkerConfig(backup_dir=target.root))
    backup_id = queue()
    assert worker.work_once() == domain.DONE
    shutil.rmtree(target.root)  # the machine and its disk are lost
    data = tmp_path / "new-data"
    monkeypatch.setenv("EJOURNAL_DATA_DIR", str(data))
    monkeypatch.setenv("EJOURNAL_BACKUP_KEY", base64.b64encode(key).decode())
    monkeypatch.setenv("EJOURNAL_BACKUP_DIR", str(target.root))
    monkeypatch.setenv("EJOURNAL_BACKUP_TARGETS", "server")
    monkeypatch.setenv("EJOURNAL_BACKUP_TARGET_SERVER", sftp.url)
    monkeypatch.setenv("EJOURNAL_BACKUP_TARGET_SERVER_SSH_KEY", sftp.options["ssh_key"])
    monkeypatch.setenv("EJOURNAL_BACKUP_TARGET_SERVER_KNOWN_HOSTS", sftp.options["known_hosts"])
    for name in ("identity", "journal", "messaging", "reports", "backup"):
        monkeypatch.delenv(f"EJOURNAL_{name.upper()}_DATABASE_URL", raising=False)
    out = io.StringIO()
    assert restore.main([backup_id], out=out) == 0, out.getvalue()
    assert f"fetching {backup_id} from {sftp.name}" in out.getvalue()
    assert (data / "messaging.db").exists() and (data / "backup.db").exists()
    assert not list(Path(tempfile_dir()).glob(f".{backup_id}.*"))


def tempfile_dir():
    import tempfile
    return tempfile.gettempdir()


def test_an_unchanged_table_is_not_uploaded_again(factory, target, key, queue, fetch, s3, sftp, tmp_path):
    """Per-table chunks: the second backup sends only the tables that
    changed; pruning the first leaves the chunks the second still uses."""
    from messaging.store import Base
    from sqlalchemy import insert

    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade("messaging", url)
    engine = make_engine(url)
    people = Base.metadata.tables["people"]
    news = Base.metadata.tables["news"]
    with engine.begin() as conn:
        conn.execute(insert(people), [{"user_id": f"u{i}", "school_id": "s", "full_name": f"Ученик {i}" * 20,
                                       "roles": ["student"], "updated_at": dt.datetime.now(UTC)}
                                      for i in range(2000)])
    source = {"messaging": lambda: export_tables(engine, Base.metadata)}
    remotes = [(c, open_target(c, key)) for c in (s3, sftp)]
    worker = Worker(factory, sources=source, target=target, key=key, remotes=remotes,
                    config=WorkerConfig(backup_dir=target.root))
    sent = {}
    for round_ in (1, 2):
        if round_ == 2:  # one table changes between the two backups
            with engine.begin() as conn:
                conn.execute(insert(news), [{"id": "n1", "school_id": "s", "author_id": "u1", "kind": "news",
                                             "audience": "school", "title": "Новость", "body": "Текст", "links": [],
                                             "created_at": dt.datetime.now(UTC)}])
        before = {c.label: REGISTRY.get_sample_value("backup_chunk_bytes_total", {"target": c.label,
                                                                                  "kind": "uploaded"}) or 0
                  for c, _ in remotes}
        backup_id = queue()
        assert worker.work_once() == domain.DONE
        sent[round_] = {c.label: REGISTRY.get_sample_value("backup_chunk_bytes_total",
                                                           {"target": c.label, "kind": "uploaded"}) - before[c.label]
                        for c, _ in remotes}
    for label in ("offsite", "server"):
        assert sent[1][label] > 200_000            # everything the first time
        assert 0 < sent[2][label] < sent[1][label] / 20  # then the changed table only
    # a chunk the second backup still uses survives pruning the first
    first, second = sorted(fetch_all(factory), key=lambda r: r["started_at"])
    for config, remote in remotes:
        remote.delete(first["id"])
        remote.collect_garbage([second["manifest"]])
        with remote.open(second["id"]) as stream:
            assert read_stream(stream, key, backup_id=second["id"]).manifest["backup_id"] == second["id"]
    engine.dispose()


def fetch_all(factory):
    from sqlalchemy import select
    with transaction(factory) as session:
        return [store.as_dict(b) for b in session.scalars(select(store.Backup))]


@pytest.fixture
def catalogue(backup_db_url):
    """The backup service's own catalogue as a source, as the worker has it."""
    engine = make_engine(backup_db_url)
    yield {"backup": lambda: export_tables(engine, store.Base.metadata)}
    engine.dispose()


def _target_env(config: TargetConfig, target, key, data: Path) -> dict:
    """The settings naming ``config`` as the only off-site target."""
    import base64
    env = {**os.environ, "EJOURNAL_DATA_DIR": str(data), "EJOURNAL_BACKUP_KEY": base64.b64encode(key).decode(),
           "EJOURNAL_BACKUP_DIR": str(target.root), "EJOURNAL_BACKUP_TARGETS": "server",
           "EJOURNAL_BACKUP_TARGET_SERVER": config.url}
    for name, value in config.options.items():
        env[f"EJOURNAL_BACKUP_TARGET_SERVER_{name.upper()}"] = value
    return env


def _get(app, path, query=""):
    from wsgiref.util import setup_testing_defaults
    environ = {"PATH_INFO": path, "QUERY_STRING": query, "REQUEST_METHOD": "GET"}
    setup_testing_defaults(environ)
    answer = {}

    def start_response(status, headers):
        answer["status"], answer["headers"] = status, dict(headers)
    body = app(environ, start_response)
    try:
        data = b"".join(body)
    finally:
        getattr(body, "close", lambda: None)()
    return answer["status"], answer["headers"], data


@pytest.mark.parametrize("kind", ["s3", "sftp"])
def test_drill_and_download_read_an_offsite_target_when_the_local_copy_is_gone(
        kind, request, factory, target, key, queue, fetch, source, catalogue, tmp_path):
    from backup import drill
    from backup.worker import archives_app

    config = request.getfixturevalue(kind)
    remote = open_target(config, key)
    worker = Worker(factory, sources={**source, **catalogue}, target=target, key=key, remotes=[(config, remote)],
                    config=WorkerConfig(backup_dir=target.root))
    backup_id = queue()
    assert worker.work_once() == domain.DONE
    row = fetch(backup_id)
    local = read_archive(target.archive_path(backup_id), key)
    target.archive_path(backup_id).unlink()  # the local copy is pruned (or the disk lost)
    env = _target_env(config, target, key, tmp_path / "data")

    result = drill.run_subprocess(backup_id, backup_id=backup_id, sha256=row["sha256"], env=env)
    assert result["ok"] is True, result
    assert result["checked_rows"] == sum(t["rows"] for svc in local.manifest["services"].values()
                                         for t in svc["tables"].values())
    assert result["checked_rows"] > 0  # the catalogue's own rows at least
    assert not list(Path(tempfile_dir()).glob(f".{backup_id}.*"))  # the fetched copy is removed

    app = archives_app(factory, target, [remote])
    with transaction(factory) as session:
        ticket = store.issue_ticket(session, backup_id=backup_id, issued_to=None, now=dt.datetime.now(UTC),
                                    seconds=60)
    status, headers, body = _get(app, f"/archives/{backup_id}", f"ticket={ticket}")
    assert status == "200 OK" and headers["Content-Length"] == str(len(body))
    assert headers["Content-Disposition"] == f'attachment; filename="{backup_id}.ejbak"'
    again = read_stream(io.BytesIO(body), key, backup_id=backup_id)  # still encrypted, whole and checked
    assert again.manifest == local.manifest and again.rows == local.rows

    # gone from the off-site target too: nothing to drill, nothing to download
    remote.delete(backup_id)
    result = drill.run_subprocess(backup_id, backup_id=backup_id, sha256=row["sha256"], env=env)
    assert result["ok"] is False and drill.missing(result)
    with transaction(factory) as session:
        ticket = store.issue_ticket(session, backup_id=backup_id, issued_to=None, now=dt.datetime.now(UTC),
                                    seconds=60)
    assert _get(app, f"/archives/{backup_id}", f"ticket={ticket}")[0] == "404 Not Found"


def test_a_drill_of_a_tampered_offsite_chunk_fails(factory, target, key, queue, fetch, source, s3, tmp_path):
    from backup import chunks, drill

    remote = open_target(s3, key)
    worker = Worker(factory, sources=source, target=target, key=key, remotes=[(s3, remote)],
                    config=WorkerConfig(backup_dir=target.root))
    backup_id = queue()
    assert worker.work_once() == domain.DONE
    target.archive_path(backup_id).unlink()
    name = sorted(remote.list_blobs(chunks.CHUNKS))[0]
    blob = remote.get_blob(chunks.CHUNKS + name)
    try:
        data = bytearray(blob.read())
    finally:
        blob.close()
    data[-20] ^= 0x01
    remote.put_blob(chunks.CHUNKS + name, io.BytesIO(bytes(data)))
    result = drill.run_subprocess(backup_id, backup_id=backup_id, sha256=fetch(backup_id)["sha256"],
                                  env=_target_env(s3, target, key, tmp_path / "data"))
    assert result["ok"] is False and result["mismatches"] and not drill.missing(result)
