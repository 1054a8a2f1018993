"""kernel.ids: random version-4 UUIDs from a buffered os.urandom."""
from __future__ import annotations

import os
import re
import threading
import uuid

from kernel import ids
from kernel.correlation import new_id as new_correlation_id
from kernel.db import new_id
from kernel.events import envelope

CANONICAL = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_ids_are_canonical_version_4_uuids_and_never_repeat():
    many = [ids.uuid4_str() for _ in range(20_000)]  # several refills of the buffer
    assert len(set(many)) == len(many)
    for text in many[:600]:
        assert CANONICAL.match(text), text
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text
    assert re.fullmatch(r"[0-9a-f]{32}", ids.uuid4_hex())
    # what the platform's ids are made of
    assert CANONICAL.match(new_id()) and CANONICAL.match(envelope(type="t", producer="p", payload={},
                                                                   school_id=None, actor_id=None)["id"])
    assert uuid.UUID(new_correlation_id()).version == 4


def test_threads_drawing_at_once_never_get_the_same_id():
    got, lock = [], threading.Lock()

    def work():
        mine = [ids.uuid4_str() for _ in range(3000)]
        with lock:
            got.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == len(got) == 12_000


def test_a_forked_child_does_not_repeat_its_parents_ids():
    ids.uuid4_str()  # the parent holds a half-used buffer
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, "".join(ids.uuid4_str() for _ in range(10)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 4096).decode()
    os.close(read)
    parent = "".join(ids.uuid4_str() for _ in range(10))
    assert len(child) == len(parent) == 360 and child != parent
    assert not set(child[i:i + 36] for i in range(0, 360, 36)) & set(parent[i:i + 36] for i in range(0, 360, 36))
