"""Signing-key rotation without logging anyone out: ``python -m identity.keys
rotate`` adds a new Ed25519 key that signs from now on; older keys stay in
the JWKS (tokens they signed keep verifying, by key id) until ``retire``
removes those older than the longest access-token lifetime."""
from __future__ import annotations

import argparse
import datetime as dt
import sys

from sqlalchemy import select

from kernel.db import transaction
from kernel.events import utcnow

from identity import credentials, store


def rotate(session_factory) -> str:
    """A new active key; its kid."""
    new = credentials.new_signing_key()
    with transaction(session_factory) as s:
        store.add_signing_key(s, kid=new.kid, private_pem=new.private_pem, public_jwk=new.public_jwk)
    return new.kid


def retire(session_factory, *, older_than: dt.timedelta) -> list[str]:
    """Deactivate every key but the newest that was replaced more than
    ``older_than`` ago (no token it signed can still be valid)."""
    cutoff = utcnow() - older_than
    with transaction(session_factory) as s:
        keys = list(s.scalars(select(store.SigningKey).where(store.SigningKey.active.is_(True))
                              .order_by(store.SigningKey.created_at.desc(), store.SigningKey.kid)))
        retired = []
        for newer, older in zip(keys, keys[1:]):
            if newer.created_at <= cutoff:  # replaced long enough ago
                older.active = False
                retired.append(older.kid)
        return retired


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m identity.keys", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("rotate", "retire"))
    args = parser.parse_args(argv)
    from kernel import config
    from kernel.db import make_engine, session_factory

    engine = make_engine(config.load().database_url("identity"))
    try:
        factory = session_factory(engine)
        if args.command == "rotate":
            print(f"new signing key {rotate(factory)}")
        else:
            ttl = dt.timedelta(seconds=credentials.access_token_ttl() + 60)
            print(f"retired {', '.join(retire(factory, older_than=ttl)) or 'nothing'}")
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
