"""Identity's gRPC process (``python -m identity.grpc_server``): Login,
GetPublicKeys, Authorize, GetProfile (proto ejournal.identity.v1) and the
backup Export stream. A plain grpcio server with a thread pool, never inside
nameko; argon2 releases the GIL, so logins run in parallel."""
from __future__ import annotations

import functools
import json
import logging
import threading
import uuid

import grpc
from ejournal.identity.v1 import identity_pb2, identity_pb2_grpc
from prometheus_client import Counter
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from kernel.db import autocommit_connection, transaction
from kernel.events import utcnow
from kernel.grpcserver import abort

from identity import credentials, decisions, domain, sessions, store, totp
from identity.errors import SecretsUnavailable, text

log = logging.getLogger(__name__)

LOGINS = Counter("identity_logins_total", "Login attempts by result", ["result"])
MAX_LOGIN_INPUT = 256
MAX_PASSWORD_INPUT = 1024


def _fail_closed(method):
    """A key-encryption key that does not open the stored secrets (signing
    keys, TOTP secrets) answers UNAVAILABLE (the gateway's 503): never a token
    without its signature key or a login without its second factor."""
    @functools.wraps(method)
    def wrapper(self, request, context):
        try:
            return method(self, request, context)
        except SecretsUnavailable:
            abort(context, grpc.StatusCode.UNAVAILABLE, "SERVICE_UNAVAILABLE", text("secrets_unavailable"))
            return None
    return wrapper


class IdentityServicer(identity_pb2_grpc.IdentityServicer):
    """The Identity gRPC API over a session factory (tests call the methods
    directly with a stub context)."""

    def __init__(self, session_factory: sessionmaker, *, access_ttl: int | None = None,
                 autocommit: Engine | None = None):
        self.factory = session_factory
        # an Engine whose connections stay in autocommit (main()), else
        # ``session_factory``'s connections switched per use
        self.autocommit = autocommit
        self.access_ttl = access_ttl if access_ttl is not None else credentials.access_token_ttl()
        self._key_lock = threading.Lock()
        self._private_keys: dict = {}  # kid -> parsed private key

    # --- keys ---------------------------------------------------------------

    def signing_key(self):
        """``(kid, private_key)`` of the active key, created on first need."""
        with self._key_lock:
            with transaction(self.factory) as s:
                row = store.active_signing_key(s)
                if row is None:
                    new = credentials.new_signing_key()
                    row = store.add_signing_key(s, kid=new.kid, private_pem=new.private_pem,
                                                public_jwk=new.public_jwk)
                    log.info("created signing key %s", new.kid)
                kid, pem = row.kid, row.private_pem
            if kid not in self._private_keys:
                self._private_keys[kid] = credentials.load_private_key(pem)
            return kid, self._private_keys[kid]

    @_fail_closed
    def GetPublicKeys(self, request, context):
        self.signing_key()  # a JWKS is never empty: verifiers may start before the first login
        with transaction(self.factory) as s:
            keys = store.public_jwks(s)
        return identity_pb2.PublicKeys(jwks_json=json.dumps(credentials.jwks(keys)))

    # --- login --------------------------------------------------------------

    @_fail_closed
    def Login(self, request, context):
        login, password = request.login, request.password
        if not login or not password or len(login) > MAX_LOGIN_INPUT or len(password) > MAX_PASSWORD_INPUT:
            credentials.verify_password(None, password[:MAX_PASSWORD_INPUT] or "-")  # same cost as a miss
            return self._invalid(context)
        now = utcnow()
        # Throttling is keyed by the login typed, not the user: an unknown login
        # is throttled exactly like a known one (no account enumeration).
        account_key = "login:" + domain.login_key(login)
        address_key = "addr:" + (request.client_address or "-")
        # One statement, without BEGIN/COMMIT round trips (autocommit): the
        # throttle counts, the user (with whether a second factor is on) and
        # the signing key's id; the hash is the cost.
        with autocommit_connection(self.autocommit, self.factory) as connection:
            failures, user, totp_on, kid = store.login_reads(
                connection, account_key=account_key, address_key=address_key, since=now - domain.THROTTLE_WINDOW,
                login=login)
            password_hash = user.password_hash if user is not None else None
        (account_failures, last_failure), (address_failures, _) = failures[account_key], failures[address_key]
        verdict = domain.throttle(account_failures, last_failure, address_failures,
                                  credentials.address_limit(), now)
        if not verdict.allowed:
            LOGINS.labels("throttled").inc()
            abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED, "TOO_MANY_ATTEMPTS", text("too_many_attempts"),
                  {"retry_after": verdict.retry_after})
            return None
        # Unknown logins verify against a dummy hash: same answer, similar time.
        ok = credentials.verify_password(password_hash, password) and user.active
        second = self._second_factor(user, request.totp_code) if ok and totp_on else "ok"
        if second == "required":
            abort(context, grpc.StatusCode.UNAUTHENTICATED, "TOTP_REQUIRED", text("totp_required"))
            return None
        if not ok or second == "wrong":
            with transaction(self.factory) as s:
                store.add_login_failures(s, keys=(account_key, address_key), at=utcnow())
                if account_failures + 1 in (domain.FREE_FAILURES, domain.ACCOUNT_LIMIT):
                    store.add_audit(s, action="login_locked", school_id=user.school_id if user else None,
                                    target_id=user.id if user else account_key,
                                    after={"failures": account_failures + 1,
                                           "address": request.client_address or None})
            return self._invalid(context)
        refresh, family_id = credentials.new_refresh_token(), str(uuid.uuid4())
        if domain.needs_consent(user.roles) or account_failures or credentials.needs_rehash(password_hash):
            with transaction(self.factory) as s:
                if domain.needs_consent(user.roles) and not store.consent_given(s, parent_id=user.id):
                    LOGINS.labels("no_consent").inc()
                    abort(context, grpc.StatusCode.PERMISSION_DENIED, "NO_CONSENT", text("no_consent"))
                    return None
                if account_failures and store.clear_login_failures(s, key=account_key) >= domain.FREE_FAILURES:
                    store.add_audit(s, action="login_unlocked", school_id=user.school_id, target_id=user.id,
                                    before={"failures": account_failures})
                if credentials.needs_rehash(password_hash):
                    store.set_password_hash(s, user_id=user.id,
                                            password_hash=credentials.hash_password(password))
                store.add_refresh_token(s, user=user, token_hash=credentials.token_hash(refresh),
                                        family_id=family_id, expires_at=utcnow() + credentials.REFRESH_TTL)
        else:
            # the usual login writes its refresh token alone: one statement
            with autocommit_connection(self.autocommit, self.factory) as connection:
                store.add_refresh_token(connection, user=user, token_hash=credentials.token_hash(refresh),
                                        family_id=family_id, expires_at=utcnow() + credentials.REFRESH_TTL)
        LOGINS.labels("ok").inc()
        return self._pair(user, refresh, family_id, kid=kid)

    def _second_factor(self, user, code: str) -> str:
        """"ok" (none enabled, or a good code, which is then spent),
        "required" (no code given) or "wrong" (counted as a failed login)."""
        with transaction(self.factory) as s:
            row = store.get_totp(s, user_id=user.id, lock=True)
            if row is None or not row.enabled:
                return "ok"
            if not code:
                return "required"
            if totp.is_recovery_code(code):
                digest = totp.recovery_hash(code)
                if digest not in row.recovery_hashes:
                    return "wrong"
                row.recovery_hashes = [h for h in row.recovery_hashes if h != digest]
                store.add_audit(s, action="recovery_code_used", school_id=user.school_id, actor_id=user.id,
                                target_id=user.id, after={"left": len(row.recovery_hashes)})
                return "ok"
            step = totp.matching_step(row.secret, code, last_step=row.last_step)
            if step is None:
                return "wrong"
            row.last_step = step
            return "ok"

    def _pair(self, user, refresh: str, session_id: str, *, kid: str | None = None):
        """The token pair of one session: the access token names it (``sid``).
        ``kid``: the active key's id just read, when its private key is
        already open in this process (else it is read and opened here)."""
        key = self._private_keys.get(kid) if kid is not None else None
        if key is None:
            kid, key = self.signing_key()
        access = credentials.issue_access_token(
            private_key=key, kid=kid, user_id=user.id, school_id=user.school_id, roles=user.roles,
            login=user.login, ttl=self.access_ttl, session_id=session_id)
        return identity_pb2.TokenPair(access_token=access, refresh_token=refresh, expires_in=self.access_ttl,
                                      user_id=user.id, roles=list(user.roles), school_id=user.school_id)

    def _invalid(self, context):
        LOGINS.labels("invalid").inc()
        abort(context, grpc.StatusCode.UNAUTHENTICATED, "INVALID_CREDENTIALS", text("invalid_credentials"))

    # --- sessions -----------------------------------------------------------

    @_fail_closed
    def Refresh(self, request, context):
        """Rotate: the presented token is spent, a new one of the same family
        is issued. A spent or revoked token presented again means it was
        stolen (or the client is confused): the whole family is revoked."""
        token = request.refresh_token
        if not token or len(token) > MAX_LOGIN_INPUT:
            return self._invalid_token(context)
        now = utcnow()
        reused = False
        with transaction(self.factory) as s:
            row = store.find_refresh_token(s, token_hash=credentials.token_hash(token))
            if row is None:
                return self._invalid_token(context)
            if row.used_at is not None or row.revoked_at is not None:
                if store.revoke_family(s, family_id=row.family_id):
                    store.add_audit(s, action="refresh_reuse", school_id=row.school_id, target_id=row.user_id,
                                    after={"family_id": row.family_id,
                                           "address": request.client_address or None})
                    # the thief's access token of that session dies too, not only its refresh token
                    sessions.record_revocation(s, user_id=row.user_id, school_id=row.school_id,
                                               reason="refresh_reuse", session_ids=[row.family_id])
                reused = True
            else:
                user = store.get_user(s, user_id=row.user_id)
                expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=now.tzinfo)
                if user is None or not user.active or expires <= now:
                    return self._invalid_token(context)
                if domain.needs_consent(user.roles) and not store.consent_given(s, parent_id=user.id):
                    store.revoke_family(s, family_id=row.family_id)
                    abort(context, grpc.StatusCode.PERMISSION_DENIED, "NO_CONSENT", text("no_consent"))
                    return None
                row.used_at = now
                family_id = row.family_id
                refresh = credentials.new_refresh_token()
                store.add_refresh_token(s, user=user, token_hash=credentials.token_hash(refresh),
                                        family_id=row.family_id, expires_at=row.expires_at)
        if reused:  # committed above: the revocation must survive the error answer
            LOGINS.labels("refresh_reuse").inc()
            return self._invalid_token(context)
        return self._pair(user, refresh, family_id)

    def Logout(self, request, context):
        """Revoke the session of ``refresh_token`` if it is the caller's; an
        unknown or foreign token changes nothing (and says nothing). The
        access tokens of that session stop working at the gateway at once
        (``sessions_revoked``)."""
        token = request.refresh_token
        revoked = False
        if token and len(token) <= MAX_LOGIN_INPUT:
            with transaction(self.factory) as s:
                row = store.find_refresh_token(s, token_hash=credentials.token_hash(token))
                if row is not None and row.user_id == request.user_id:
                    revoked = store.revoke_family(s, family_id=row.family_id) > 0
                    sessions.record_revocation(s, user_id=row.user_id, school_id=row.school_id, reason="logout",
                                               session_ids=[row.family_id], actor_id=row.user_id)
        return identity_pb2.LogoutReply(revoked=revoked)

    def ListRevocations(self, request, context):
        """Revocations an unexpired access token may still hit (a gateway
        worker loads them before it trusts any token)."""
        with transaction(self.factory) as s:
            rows = store.current_revocations(s, now=utcnow())
            return identity_pb2.Revocations(items=[identity_pb2.Revocation(
                user_id=r.user_id, session_id=r.session_id or "", before=r.before,
                until=int(r.expires_at.timestamp()), reason=r.reason) for r in rows])

    def _invalid_token(self, context):
        abort(context, grpc.StatusCode.UNAUTHENTICATED, "INVALID_TOKEN", text("invalid_token"))

    # --- access decisions ---------------------------------------------------

    def Authorize(self, request, context):
        for name in ("subject_id", "action", "resource_type", "resource_id"):
            if not getattr(request, name):
                abort(context, grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION_ERROR",
                      text("argument_required", field=name))
                return None
        subject = decisions.Subject(request.subject_id, request.school_id, frozenset(request.roles))
        resource = decisions.Resource(request.resource_type, request.resource_id)
        context = dict(request.context)
        with transaction(self.factory) as s:
            facts = store.access_facts(s, subject_id=subject.user_id, resource=resource, context=context)
        decision = decisions.decide(subject, request.action, resource, facts, context)
        return identity_pb2.AuthorizeReply(allowed=decision.allowed, denial=decision.denial, reason=decision.reason)

    # --- profile ------------------------------------------------------------

    def GetProfile(self, request, context):
        with transaction(self.factory) as s:
            user = store.get_user(s, user_id=request.user_id)
            if user is None:
                abort(context, grpc.StatusCode.NOT_FOUND, "NOT_FOUND", text("user_not_found"))
                return None
            roles = list(user.roles)
            children = []
            if "parent" in roles:
                for child in store.children_of(s, parent_id=user.id):
                    children.append(identity_pb2.Child(
                        id=child.id, full_name=child.full_name,
                        class_id=store.class_of_student(s, student_id=child.id) or ""))
            classes = []
            if "class_teacher" in roles:
                classes += [identity_pb2.ClassRef(id=c, role="class_teacher")
                            for c in store.classes_of_class_teacher(s, teacher_id=user.id)]
            if "student" in roles:
                own = store.class_of_student(s, student_id=user.id)
                if own:
                    classes.append(identity_pb2.ClassRef(id=own, role="student"))
            return identity_pb2.Profile(
                id=user.id, login=user.login, full_name=user.full_name, roles=roles, children=children,
                classes=classes, school_id=user.school_id, email=user.email or "")


def register(server, engine, factory, autocommit=None) -> list[str]:
    """Add the Identity and Export servicers; their names for the health service."""
    from kernel.export import add_export_servicer

    identity_pb2_grpc.add_IdentityServicer_to_server(IdentityServicer(factory, autocommit=autocommit), server)
    export_name = add_export_servicer(server, engine, store.Base.metadata)
    return [identity_pb2.DESCRIPTOR.services_by_name["Identity"].full_name, export_name]


def main() -> None:
    from kernel import config, metrics
    from kernel.db import make_engine, session_factory
    from kernel.grpcserver import serve

    settings = config.load()
    url = settings.database_url("identity")
    engine = make_engine(url)
    factory = session_factory(engine)
    # a login's reads and its refresh token: autocommit connections of their own (PostgreSQL)
    autocommit = make_engine(url, isolation_level="AUTOCOMMIT") if url.startswith("postgresql") else None
    serve("identity", settings.port("identity.grpc"), settings.port("identity.grpc.metrics"),
          lambda server: register(server, engine, factory, autocommit),
          metrics.db_health(engine))


if __name__ == "__main__":
    main()
