"""Every process logs JSON lines (kernel.correlation.setup_logging): time,
level, service, correlation id, actor id where known, the logger, the
message and the named fields a call gives; secrets masked in the message
and the exception; nothing else of a record (no stray extra) reaches the line."""
from __future__ import annotations

import io
import json
import logging

import pytest

from kernel import correlation


@pytest.fixture
def lines():
    """The JSON lines the root logger writes, set up as every process sets it up."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    correlation.setup_logging("journal")
    stream = io.StringIO()
    root.handlers[0].stream = stream
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.handlers[:], root.level = saved
    correlation.set(None)
    correlation.set_actor(None)


def test_a_line_has_the_ids_the_fields_and_nothing_else(lines):
    correlation.set("c0ffee12")
    correlation.set_actor("u-1")
    logging.getLogger("kernel.test").info("post_marks %s", "done",
                                          extra={"rpc": "journal.post_marks", "duration_ms": 12.5,
                                                 "email": "ivanova@example.org", "full_name": "Иванова"})
    [line] = lines()
    assert line.pop("time").endswith("+00:00")
    assert line == {"level": "INFO", "service": "journal", "correlation_id": "c0ffee12", "actor_id": "u-1",
                    "logger": "kernel.test", "message": "post_marks done", "rpc": "journal.post_marks",
                    "duration_ms": 12.5}


def test_ids_given_with_the_call_win_and_none_are_null(lines):
    correlation.set("request-id")
    logging.getLogger("kernel.test").info("published", extra={"correlation_id": "row-id", "event": "published"})
    correlation.set(None)
    logging.getLogger("kernel.test").warning("no request")
    first, second = lines()
    assert (first["correlation_id"], first["event"]) == ("row-id", "published")
    assert (second["correlation_id"], second["actor_id"], second["level"]) == (None, None, "WARNING")


def test_secrets_are_masked_in_the_message_and_the_exception(lines):
    try:
        raise RuntimeError("login failed: password='hunter2-secret' Bearer eyJhbGc.eyJzdWIi.sig")
    except RuntimeError:
        logging.getLogger("kernel.test").exception("body %s", {"login": "ivanov", "new_password": "another-secret"})
    [line] = lines()
    text = json.dumps(line, ensure_ascii=False)
    for secret in ("hunter2-secret", "another-secret", "eyJhbGc.eyJzdWIi.sig"):
        assert secret not in text
    assert "RuntimeError" in line["exception"] and "***" in line["message"]


def test_the_screen_before_the_patterns_lets_no_secret_through():
    """Plain ASCII lines skip the patterns; every kind of secret, in any
    case, and any non-ASCII line still takes them."""
    from kernel.redact import MASK, redact

    plain = "GET /api/v1/students/<id>/diary 200"
    assert redact(plain) is plain
    for line, secret in (("PASSWORD=hunter2", "hunter2"), ("Old_Password: 'x1y2'", "x1y2"),
                         ("refresh_token=abc.def", "abc.def"), ("BEARER abc123", "abc123"),
                         ("token eyJhbGc.eyJzdWIi.sig", "eyJhbGc.eyJzdWIi.sig"),
                         ("hash $argon2id$v=19$m=19456", "$argon2id$"),
                         ("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----", "MIIE"),
                         ("pa\u017fsword=hunter2", "hunter2"),  # case-insensitive matching pairs U+017F with s
                         ("пароль password=hunter2", "hunter2")):
        cleaned = redact(line)
        assert secret not in cleaned and MASK in cleaned, line
