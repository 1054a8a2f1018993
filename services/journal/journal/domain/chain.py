"""The version chains of marks (R-J7) and attendance (R-J2): the canonical
content of a version, its hash linked to the previous one, and the checks
that find a broken chain or a row that no longer matches its last version.
Pure: the store computes the hashes it writes with these, the tamper check
verifies with them."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Sequence


GENESIS_HASH = "0" * 64        # prev_hash of a mark's first version


def utc_iso(at: dt.datetime) -> str:
    """A stable text form of an instant (naive values are UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.timezone.utc)
    return at.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def version_content(*, mark_id: str, version: int, lesson_id: str, student_id: str, value: int,
                    kind: str, weight: int, comment: str | None, removed: bool, by: str,
                    at: dt.datetime, reason: str | None) -> dict:
    """What one version of a mark says: what the hash covers."""
    return {
        "mark_id": mark_id, "version": version, "lesson_id": lesson_id, "student_id": student_id,
        "value": value, "kind": kind, "weight": weight, "comment": comment, "removed": removed,
        "by": by, "at": utc_iso(at), "reason": reason,
    }


# json.dumps with these arguments builds this encoder on every call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(content: dict) -> str:
    """Sorted keys, no spaces, UTF-8 text: one byte string per content."""
    return _CANONICAL.encode(content)


def chain_hash(content: dict, prev_hash: str) -> str:
    """sha256 over the canonical content followed by the previous hash."""
    return hashlib.sha256((canonical_json(content) + prev_hash).encode("utf-8")).hexdigest()


def verify_chain(versions: Sequence[tuple[dict, str, str]]) -> bool:
    """``versions`` = ``[(content, prev_hash, hash), ...]`` in version order:
    True when the chain is unbroken from :data:`GENESIS_HASH`."""
    prev = GENESIS_HASH
    for expected_version, (content, prev_hash, digest) in enumerate(versions, start=1):
        if content.get("version") != expected_version or prev_hash != prev:
            return False
        if chain_hash(content, prev_hash) != digest:
            return False
        prev = digest
    return True


def attendance_content(*, attendance_id: str, version: int, lesson_id: str, student_id: str, status: str,
                       previous: str | None, by: str, at: dt.datetime, reason: str | None) -> dict:
    """What one version of an attendance entry says: what its hash covers
    (the same chain as a mark's, :func:`journal.domain.chain.chain_hash`)."""
    return {"attendance_id": attendance_id, "version": version, "lesson_id": lesson_id,
            "student_id": student_id, "status": status, "previous": previous, "by": by,
            "at": utc_iso(at), "reason": reason}


def state_problems(current: dict, last_content: dict | None) -> list[str]:
    """Differences between a ``marks`` row and its last version's content:
    a row edited behind the service's back (the chain alone would not see
    an edit of the current-state row)."""
    if last_content is None:
        return ["no_versions"]
    fields = ("value", "kind", "weight", "comment", "removed", "lesson_id", "student_id")
    problems = [f for f in fields if current.get(f) != last_content.get(f)]
    if current.get("version") != last_content.get("version"):
        problems.append("version")
    return problems
