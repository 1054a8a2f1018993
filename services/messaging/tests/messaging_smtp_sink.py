"""A real SMTP server for the tests (aiosmtpd), run as its own process so
that asyncio never meets eventlet's monkey patching.

``python messaging_smtp_sink.py --port P --dir D [--tempfail N] [--tls CERT KEY]
[--user U --password W]``: every accepted message is written to ``D`` as
``<n>.eml`` (written then renamed, so readers never see half a file).
Recipients whose address starts with ``reject`` get ``550``; the first
``N`` messages get ``451`` (a temporary failure, to exercise retries).
The process prints ``ready`` once it listens.
"""
from __future__ import annotations

import argparse
import itertools
import os
import ssl
import sys
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, directory: Path, tempfail: int):
        self.directory = directory
        self.tempfail = tempfail
        self.counter = itertools.count(1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().startswith("reject"):
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.tempfail > 0:
            self.tempfail -= 1
            return "451 4.3.0 Try again later"
        n = next(self.counter)
        tmp = self.directory / f"{n:06d}.tmp"
        header = f"X-Sink-Rcpt: {','.join(envelope.rcpt_tos)}\r\nX-Sink-Tls: {int(bool(session.ssl))}\r\n"
        tmp.write_bytes(header.encode() + envelope.original_content)
        os.replace(tmp, self.directory / f"{n:06d}.eml")
        return "250 Message accepted"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--tempfail", type=int, default=0)
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args(argv)
    directory = Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)
    kwargs = {}
    if args.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*args.tls)
        kwargs.update(tls_context=context, require_starttls=True)
    if args.user:
        def authenticator(server, session, envelope, mechanism, data):
            ok = isinstance(data, LoginPassword) and data.login.decode() == args.user \
                and data.password.decode() == args.password
            return AuthResult(success=ok)
        kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=bool(args.tls))
    controller = Controller(Sink(directory, args.tempfail), hostname="127.0.0.1", port=args.port, **kwargs)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
