"""Restoring identity's database from a backup archive: the backup service's
restore (``python -m backup.restore``, and its drills) calls :func:`restore`
with identity's exported tables; the rows go in through identity's own
migrations (kernel.restore), never through another service's code.

Identity's signing keys and TOTP secrets are in the archive sealed with
identity's key-encryption key (identity.sealing). A restore that the
platform could not use afterwards is refused before anything is written:
the KEK given (``--identity-key-file``) or configured (the settings) must be
the one that sealed them. A KEK given as a file and not yet configured is
installed as ``<data dir>/keys/identity.key`` (0600), so that the restored
platform starts with it.
"""
from __future__ import annotations

import base64
import os
from pathlib import Path

from kernel.restore import RestoreRefused, restore_database

from identity import sealing

SERVICE = "identity"
# (table, column) of every sealed value identity exports.
SEALED = (("signing_keys", "private_key_sealed"), ("totp_secrets", "secret_sealed"))


def configured_key(data_dir, environ=None) -> bytes | None:
    """The KEK the settings name, without creating one."""
    environ = os.environ if environ is None else environ
    value = environ.get(sealing.KEY_ENV)
    if value:
        return sealing.parse_key(value)
    path = Path(data_dir) / sealing.KEY_FILE
    if path.exists():
        return sealing.parse_key(path.read_bytes())
    return None


def check_sealed(tables: dict, key: bytes) -> int:
    """:class:`RestoreRefused` unless every sealed value was sealed with
    ``key``; the number of sealed values checked."""
    wanted = sealing.key_id(key)
    checked = 0
    for table, column in SEALED:
        source = tables.get(table)
        if source is None:
            continue
        for row in source():
            value = row.get(column)
            if value is None:
                continue
            if not sealing.is_sealed(value):
                raise RestoreRefused(f"identity: {table}.{column} holds a value that is not sealed")
            kid = value.split(".")[1]
            if kid != wanted:
                raise RestoreRefused(
                    f"identity: the archive's secrets are sealed with identity key {kid}, but the key given is "
                    f"{wanted}; pass the identity key of the backed-up deployment (--identity-key-file)")
            checked += 1
    return checked


def install_key(data_dir, key: bytes) -> Path:
    """Write ``key`` as ``<data_dir>/keys/identity.key`` (0600)."""
    path = Path(data_dir) / sealing.KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, base64.b64encode(key) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def precheck(tables: dict, *, identity_key: bytes | None = None, data_dir=None, check_keys: bool = True,
             **options) -> tuple[bytes | None, bool, int]:
    """Before any service is restored: :class:`RestoreRefused` unless the
    KEK given or configured opens the archive's secrets. ``(key, install,
    sealed values checked)``; ``install`` when the key was given and the
    settings name none."""
    sealed = 0
    install = False
    if check_keys:
        configured = configured_key(data_dir) if data_dir is not None else None
        if identity_key is None:
            identity_key = configured
        elif configured is not None and configured != identity_key:
            raise RestoreRefused(
                f"identity: the settings already name another identity key ({sealing.key_id(configured)}) than "
                f"the one given ({sealing.key_id(identity_key)}); remove it or give that one")
        else:
            install = configured is None and data_dir is not None
        if identity_key is None:
            raise RestoreRefused("identity: no identity key: pass --identity-key-file (the backed-up "
                                 f"deployment's keys/identity.key) or set {sealing.KEY_ENV}")
        sealed = check_sealed(tables, identity_key)
    return identity_key, install, sealed


def restore(url: str, *, revision: str, tables: dict, force: bool = False, progress=None,
            upgrade_to_head: bool = True, check_keys: bool = True, **options) -> dict:
    """Put the archive's tables into the empty database at ``url``;
    ``{tables, rows, sequences, sealed}``. With ``check_keys`` (a real
    restore; a drill compares rows only) the KEK is checked first
    (:func:`precheck`) and, when given and not configured, installed in
    ``data_dir``."""
    identity_key, install, sealed = precheck(tables, check_keys=check_keys, **options)
    if identity_key is not None:
        sealing.use_key(identity_key)  # a data migration on the way to head seals with it
    result = restore_database(SERVICE, url, revision=revision, tables=tables, force=force,
                              progress=progress, upgrade_to_head=upgrade_to_head)
    if install:
        install_key(options["data_dir"], identity_key)
    return {**result, "sealed": sealed}
