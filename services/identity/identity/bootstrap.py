"""First start of a deployment: ``python -m identity.bootstrap``.

Creates the school (when there is none) and the first administrator (when
that login does not exist), publishing ``user_created`` through the outbox
that the running identity service relays. Safe to run on every start.
Prints one line: ``school_id=<id> admin=<login> created=<yes|no>``.
"""
from __future__ import annotations

import argparse
import sys

from kernel.db import transaction
from kernel.events import envelope, record
from kernel.errors import ServiceError

from identity import credentials, domain, events, store
from identity.errors import text


def bootstrap(session_factory, *, school_name: str, admin_login: str, admin_password: str) -> dict:
    """Ensure a school and its first admin exist; idempotent.

    Returns ``{school_id, admin_id, admin, created, school_created, admin_created}``.
    """
    school_name = domain.require_str(school_name, "school_name", max_len=300)
    login = domain.validate_login(admin_login)
    roles = ("admin",)
    with transaction(session_factory) as s:
        existing = store.find_user_by_login(s, login=login)
        if existing is not None:
            return _result(existing.school_id, existing, school_created=False, admin_created=False)
    password = domain.validate_password(admin_password, roles=roles, login=login)
    password_hash = credentials.hash_password(password)  # outside the transaction: it takes a while
    with transaction(session_factory) as s:
        existing = store.find_user_by_login(s, login=login)
        if existing is not None:  # another bootstrap won the race
            return _result(existing.school_id, existing, school_created=False, admin_created=False)
        school = store.first_school(s)
        school_created = school is None
        if school_created:
            school = store.add_school(s, name=school_name)
        new = domain.NewUser(login=login, full_name=text("admin_full_name"), roles=roles, email=None,
                             birth_date=None, sex=None, password=password)
        admin = store.add_user(s, school_id=school.id, new=new, password_hash=password_hash, created_by=None)
        record(s, store.tables["outbox"], envelope(
            type=events.USER_CREATED, producer=events.PRODUCER, payload=events.user_created(admin),
            school_id=school.id, actor_id=None))
        return _result(school.id, admin, school_created=school_created, admin_created=True)


def _result(school_id: str, admin, *, school_created: bool, admin_created: bool) -> dict:
    return {"school_id": school_id, "admin_id": admin.id, "admin": admin.login,
            "created": school_created or admin_created,
            "school_created": school_created, "admin_created": admin_created}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m identity.bootstrap", description=__doc__.splitlines()[0])
    parser.add_argument("--migrate", action="store_true", help="apply identity's migrations first")
    args = parser.parse_args(argv)

    from kernel import config
    from kernel.db import make_engine, session_factory

    settings = config.load()
    url = settings.database_url("identity")
    if args.migrate:
        from kernel.migrate import upgrade
        upgrade("identity", url)
    engine = make_engine(url)
    try:
        result = bootstrap(session_factory(engine), school_name=settings.school_name,
                           admin_login=settings.admin_login, admin_password=settings.admin_password)
    except ServiceError as exc:
        print(f"bootstrap failed: {exc.message}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(f"school_id={result['school_id']} admin={result['admin']} created={'yes' if result['created'] else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
