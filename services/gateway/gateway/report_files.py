"""A report file streamed from reports to the client: its chunks as the
body, ``Content-Type`` and ``Content-Length`` from the first chunk, and a
``Content-Disposition`` with an ASCII file name and the Russian one
(RFC 6266 / RFC 5987 ``filename*``)."""
from __future__ import annotations

import base64
import logging
import re
from urllib.parse import quote

import grpc
from flask import Response

log = logging.getLogger(__name__)

_UNSAFE_ASCII = re.compile(r'[^A-Za-z0-9._-]+')


def content_disposition(ascii_name: str, name: str, *, attachment: bool) -> str:
    """``attachment; filename="progress-5A.pdf"; filename*=UTF-8''...``."""
    plain = _UNSAFE_ASCII.sub("-", ascii_name).strip("-") or "report"
    value = f'{"attachment" if attachment else "inline"}; filename="{plain}"'
    if name:
        value += "; filename*=UTF-8''" + quote(name, safe="")
    return value


def response(first, rest, *, attachment: bool) -> Response:
    """The HTTP answer for a document stream whose first chunk is ``first``."""

    def body():
        yield first.data
        try:
            for chunk in rest:
                yield chunk.data
        except grpc.RpcError:
            # the headers are sent: the client sees a body shorter than
            # Content-Length, never a document that looks whole
            log.exception("a report stream broke off")

    headers = {"Content-Disposition": content_disposition(first.filename_ascii, first.filename,
                                                          attachment=attachment),
               "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    if first.size:
        headers["Content-Length"] = str(first.size)
    return Response(body(), status=200, content_type=first.content_type, headers=headers)


def archive_response(found: dict) -> Response:
    """An archived journal's file (reports' ``archive_file`` answer) as a download."""
    data = base64.b64decode(found["content_base64"])
    headers = {"Content-Disposition": content_disposition(found["filename_ascii"], found["filename"],
                                                          attachment=True),
               "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
               "Content-Length": str(len(data))}
    return Response(data, status=200, content_type=found["content_type"], headers=headers)
