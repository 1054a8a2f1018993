"""How large a request body the gateway reads: 1 MiB, except for the routes
whose largest legitimate body is larger (each figure below admits it, see
docs/api.md "Body size"). A larger body is refused with 413
``PAYLOAD_TOO_LARGE`` before anything else of it is read; the OpenAPI
document gives each operation's figure."""
from __future__ import annotations

MIB = 1024 * 1024

#: every route not named below (a letter with 512 KiB of attachments, base64, fits)
DEFAULT = MIB

ROUTES = {
    # 500 marks, each comment 500 characters: about 1.7 MB as ASCII-escaped JSON
    "PUT /lessons/{id}/marks": 2 * MIB,
    # 1000 lessons with every text at its maximum: about 13 MB as UTF-8 JSON
    "POST /imports/lessons": 16 * MIB,
    # a CSV or XLSX of at most 1000 rows (journal.domain.imports.MAX_ROWS)
    "POST /imports/students": 4 * MIB,
}


def limit(route_key: str | None) -> int:
    """The most bytes a request to ``route_key`` ("PUT /lessons/{id}/marks") may carry."""
    return ROUTES.get(route_key, DEFAULT)
