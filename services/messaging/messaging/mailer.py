"""The e-mail sender of messaging: a loop in the nameko process that builds
daily digests and delivers the queue (``emails`` table) with retries.

Each tick: (1) for every person with a daily digest whose time (school
time zone) has come today and who has not had today's digest, queue one
digest of the notifications not already e-mailed; (2) deliver due queued
e-mails: sent, or retried later with exponential backoff, or failed for
good after ``MAIL_MAX_ATTEMPTS`` attempts or a 5xx refusal.
Delivery is at least once: a crash between the SMTP answer and the commit
sends that one e-mail again (it carries the same X-Ejournal-Email-Id).

Between ticks the loop sleeps until something can be due: e-mail queued or a
digest setting saved in this process (:func:`wake`), the next retry of a
queued e-mail, the next minute (digest times are minutes) or ``IDLE_WAIT``
seconds; never less than ``MAIL_POLL`` seconds after the last tick. An idle
platform pays a tick a minute instead of several a second.
"""
from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

import eventlet
import eventlet.event
from nameko.extensions import DependencyProvider
from prometheus_client import Counter, Gauge

from kernel.db import session_factory, shared_engine, transaction

from messaging import domain, mail, store

log = logging.getLogger(__name__)

EMAILS = Counter("messaging_emails_total", "E-mails by outcome (queued, sent, retry, failed)", ["result"])
EMAIL_QUEUE = Gauge("messaging_email_queue", "E-mails waiting in the outgoing queue")
EMAIL_LAG = Gauge("messaging_email_queue_lag_seconds", "Age of the oldest queued e-mail")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def queue_digests(factory, settings: mail.MailSettings, now: dt.datetime) -> int:
    """Queue today's due digests; the number queued."""
    tz = ZoneInfo(settings.timezone)
    local = now.astimezone(tz)
    today = local.date()
    queued = 0
    with transaction(factory) as session:
        for setting in store.digest_candidates(session, today=today):
            if local.strftime("%H:%M") < setting.digest_time:
                continue
            since = domain.as_utc(setting.last_digest_at) if setting.last_digest_at else now - dt.timedelta(days=1)
            items = store.digest_items(session, recipient_id=setting.user_id, since=since, until=now)
            person = store.get_person(session, user_id=setting.user_id)
            if items and person is not None and person.email:
                subject, text_body, html_body = mail.render_digest(today, items)
                if store.queue_email(session, school_id=setting.school_id, recipient_id=setting.user_id,
                                     address=person.email, kind="digest", subject=subject, text_body=text_body,
                                     html_body=html_body, digest_key=f"{setting.user_id}:{today.isoformat()}",
                                     now=now):
                    queued += 1
            # A day without news is a day done too: no empty digests.
            setting.last_digest_on, setting.last_digest_at = today, now
    if queued:
        EMAILS.labels("queued").inc(queued)
    return queued


def deliver_due(factory, settings: mail.MailSettings, now: dt.datetime, batch: int = 20) -> dict:
    """Try every due queued e-mail once; counts by outcome."""
    outcome = {"sent": 0, "retry": 0, "failed": 0}
    with transaction(factory) as session:
        for email in store.due_emails(session, now=now, limit=batch):
            msg = mail.build(settings, address=email.address, subject=email.subject, text_body=email.text_body,
                             html_body=email.html_body, email_id=email.id)
            email.attempts += 1
            try:
                mail.deliver(settings, msg)
            except mail.PermanentFailure as exc:
                email.status, email.last_error = "failed", str(exc)[:2000]
                outcome["failed"] += 1
            except Exception as exc:  # temporary: the server is down, busy, or said 4xx
                email.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                if email.attempts >= settings.max_attempts:
                    email.status = "failed"
                    outcome["failed"] += 1
                else:
                    email.next_attempt_at = now + dt.timedelta(seconds=settings.next_delay(email.attempts))
                    outcome["retry"] += 1
            else:
                email.status, email.sent_at, email.last_error = "sent", utcnow(), None
                outcome["sent"] += 1
    for result, n in outcome.items():
        if n:
            EMAILS.labels(result).inc(n)
    return outcome


def refresh_gauges(factory, now: dt.datetime) -> dt.datetime | None:
    """Set the queue's gauges; when its next e-mail is due (None: empty)."""
    with factory() as session:
        count, lag, due = store.queue_stats(session, now=now)
    EMAIL_QUEUE.set(count)
    EMAIL_LAG.set(lag)
    return due


def tick(factory, settings: mail.MailSettings, now: dt.datetime | None = None) -> dict:
    """One round; ``next_due``: when the queue's next e-mail is due (None: empty)."""
    now = now or utcnow()
    queued = queue_digests(factory, settings, now)
    outcome = deliver_due(factory, settings, now)
    due = refresh_gauges(factory, now)
    return {"digests": queued, **outcome, "next_due": due}


#: The longest the loop sleeps with nothing due (the gauges' refresh).
IDLE_WAIT = 30.0


def idle_wait(settings: mail.MailSettings, now: dt.datetime, next_due: dt.datetime | None) -> float:
    """Seconds until the next tick: the next retry, the next minute or
    :data:`IDLE_WAIT`, whichever comes first, but at least ``poll``."""
    wait = min(IDLE_WAIT, 60.0 - now.second - now.microsecond / 1e6 + 0.05)
    if next_due is not None:
        wait = min(wait, (domain.as_utc(next_due) - now).total_seconds())
    return max(settings.poll, wait)


class _Wake:
    """What :func:`wake` sets and the loop waits on (eventlet: the nameko process's hub)."""

    def __init__(self):
        self._event = eventlet.event.Event()

    def set(self) -> None:
        if not self._event.ready():
            self._event.send(True)

    def wait(self, timeout: float) -> None:
        """Until :meth:`set` or ``timeout`` seconds, then armed again (a
        set() after this returned is for the tick that follows: it sees the
        committed e-mail anyway)."""
        event = self._event
        if not event.ready():
            with eventlet.Timeout(timeout, False):
                event.wait()
        self._event = eventlet.event.Event()


_WAKE = _Wake()


def wake() -> None:
    """E-mail was queued or a digest setting changed (after the commit):
    the mailer of this process ticks now rather than at its next due time."""
    _WAKE.set()


class Mailer(DependencyProvider):
    """Runs :func:`tick` every ``MAIL_POLL`` seconds in the service process
    (``MAIL_POLL=0``: no loop; tests then drive :func:`tick` with their own clock)."""

    def setup(self):
        self.settings = mail.MailSettings.from_config(self.container.config)
        self.engine = shared_engine(self.container.config["DATABASE_URL"])
        self.factory = session_factory(self.engine)
        self._running = False

    def start(self):
        if self.settings.poll <= 0:
            return
        self._running = True
        self.container.spawn_managed_thread(self._loop, identifier="messaging.mailer")

    def stop(self):
        self._running = False
        wake()  # the loop ends now, not after its wait

    def kill(self):
        self._running = False
        wake()

    def _loop(self):
        while self._running:
            try:
                due = tick(self.factory, self.settings)["next_due"]
                wait = idle_wait(self.settings, utcnow(), due)
            except Exception:  # database down: keep the queue, try again
                log.exception("mailer tick failed; retrying")
                wait = self.settings.poll
            eventlet.sleep(self.settings.poll)  # the shortest spacing of two ticks
            _WAKE.wait(max(0.0, wait - self.settings.poll))

    def get_dependency(self, worker_ctx):
        return self.settings
