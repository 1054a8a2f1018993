"""kernel.aes_keys: the AES-256-GCM key helper of identity and backup."""
from __future__ import annotations

import base64
import os
import stat
import threading

import pytest

from kernel import aes_keys


def test_keys_are_32_random_bytes_and_parse_from_base64():
    key = aes_keys.generate_key()
    assert len(key) == 32 and key != aes_keys.generate_key()
    assert aes_keys.parse_key(base64.b64encode(key).decode() + "\n") == key
    for bad in ("not base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(ValueError, match="MY_KEY"):
            aes_keys.parse_key(bad, name="MY_KEY")


def test_fingerprints_depend_on_key_and_label():
    key = aes_keys.generate_key()
    assert len(aes_keys.fingerprint(key, b"a")) == 8
    assert aes_keys.fingerprint(key, b"a") != aes_keys.fingerprint(key, b"b")
    assert aes_keys.fingerprint(key, b"a") != aes_keys.fingerprint(aes_keys.generate_key(), b"a")


def test_load_key_prefers_the_environment(tmp_path):
    key = aes_keys.generate_key()
    env = {"K": base64.b64encode(key).decode()}
    assert aes_keys.load_key(tmp_path, env="K", file_name="k.key", environ=env) == key
    assert not (tmp_path / "keys").exists()


def test_load_key_creates_one_private_file_even_when_raced(tmp_path):
    keys = []
    threads = [threading.Thread(target=lambda: keys.append(
        aes_keys.load_key(tmp_path, env="K", file_name="k.key", environ={}))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 1 and len(keys) == 8
    path = tmp_path / "keys" / "k.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["k.key"]
    assert aes_keys.load_key(tmp_path, env="K", file_name="k.key", environ={}) == keys[0]
