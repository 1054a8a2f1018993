"""E-mail of messaging: Russian templates (plain text and HTML), the SMTP
settings, and one delivery attempt. No database, no nameko here; the
queue lives in the store and the loop in :mod:`messaging.mailer`.
"""
from __future__ import annotations

import datetime as dt
import os
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from jinja2 import Environment, StrictUndefined

from messaging import texts

_env = Environment(autoescape=False, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_html = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)

INSTANT_TEXT = _env.from_string("""{{ title }}

{{ body }}

--
{{ footer }}
""")
INSTANT_HTML = _html.from_string("""<!doctype html>
<html lang="ru"><body>
<h2>{{ title }}</h2>
<p>{{ body }}</p>
<hr><p><small>{{ footer }}</small></p>
</body></html>
""")
DIGEST_TEXT = _env.from_string("""{{ heading }}

{% for n in items %}
- {{ n.title }}: {{ n.body }}
{% endfor %}

--
{{ footer }}
""")
DIGEST_HTML = _html.from_string("""<!doctype html>
<html lang="ru"><body>
<h2>{{ heading }}</h2>
<ul>
{% for n in items %}
<li><b>{{ n.title }}</b>: {{ n.body }}</li>
{% endfor %}
</ul>
<hr><p><small>{{ footer }}</small></p>
</body></html>
""")


def render_instant(title: str, body: str) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of one notification."""
    ctx = {"title": title, "body": body, "footer": texts.EMAIL_FOOTER}
    return texts.EMAIL_SUBJECT.format(title=title), INSTANT_TEXT.render(ctx), INSTANT_HTML.render(ctx)


def render_digest(day: dt.date, items) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of a daily digest; ``items`` have ``title`` and ``body``."""
    date = day.strftime("%d.%m.%Y")
    ctx = {"heading": texts.DIGEST_HEADING.format(date=date), "items": list(items), "footer": texts.EMAIL_FOOTER}
    return texts.DIGEST_SUBJECT.format(date=date), DIGEST_TEXT.render(ctx), DIGEST_HTML.render(ctx)


def _cfg(config: dict, key: str, default=None):
    value = config.get(key)
    if value in (None, ""):
        value = os.environ.get(f"EJOURNAL_{key}")
    return default if value in (None, "") else value


def _flag(value) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class MailSettings:
    """SMTP settings (container config key or ``EJOURNAL_<KEY>`` env var).

    Without ``SMTP_HOST`` e-mails are written as ``.eml`` files into
    ``MAIL_DIR`` (default ``<DATA_DIR>/mail``): the local demo needs no
    mail server.
    """
    host: str | None
    port: int
    starttls: bool
    user: str | None
    password: str | None
    sender: str
    cafile: str | None
    mail_dir: Path
    timeout: float
    poll: float
    max_attempts: int
    backoff: float
    max_backoff: float
    timezone: str

    @classmethod
    def from_config(cls, config: dict) -> "MailSettings":
        data_dir = Path(_cfg(config, "DATA_DIR", "var"))
        return cls(
            host=_cfg(config, "SMTP_HOST"), port=int(_cfg(config, "SMTP_PORT", 25)),
            starttls=_flag(_cfg(config, "SMTP_STARTTLS", "false")),
            user=_cfg(config, "SMTP_USER"), password=_cfg(config, "SMTP_PASSWORD"),
            sender=_cfg(config, "SMTP_FROM", "ejournal@localhost"),
            cafile=_cfg(config, "SMTP_CAFILE"),
            mail_dir=Path(_cfg(config, "MAIL_DIR", str(data_dir / "mail"))),
            timeout=float(_cfg(config, "SMTP_TIMEOUT", 10)),
            poll=float(_cfg(config, "MAIL_POLL", 1.0)),
            max_attempts=int(_cfg(config, "MAIL_MAX_ATTEMPTS", 6)),
            backoff=float(_cfg(config, "MAIL_BACKOFF", 5.0)),
            max_backoff=float(_cfg(config, "MAIL_MAX_BACKOFF", 3600.0)),
            timezone=_cfg(config, "TIMEZONE", "Europe/Moscow"),
        )

    def next_delay(self, attempts: int) -> float:
        """Exponential backoff after ``attempts`` failed attempts."""
        return min(self.max_backoff, self.backoff * (2 ** max(0, attempts - 1)))


class PermanentFailure(Exception):
    """The server refused the message for good (5xx): no retry."""


def build(settings: MailSettings, *, address: str, subject: str, text_body: str, html_body: str,
          email_id: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = address
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(idstring=email_id.replace("-", ""), domain="ejournal.local")
    # Receivers (and tests) can recognise a retry of the same e-mail.
    msg["X-Ejournal-Email-Id"] = email_id
    msg.set_content(text_body)
    msg.add_alternative(html_body, subtype="html")
    return msg


def deliver(settings: MailSettings, msg: EmailMessage) -> None:
    """One attempt. Raises :class:`PermanentFailure` on a 5xx refusal and
    any other exception for a temporary problem."""
    if not settings.host:
        settings.mail_dir.mkdir(parents=True, exist_ok=True)
        name = f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.eml"
        tmp = settings.mail_dir / (name + ".tmp")
        tmp.write_bytes(bytes(msg))
        tmp.rename(settings.mail_dir / name)  # readers never see half a file
        return
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
            if settings.starttls:
                # The system's CAs, or SMTP_CAFILE for a school's own mail server.
                smtp.starttls(context=ssl.create_default_context(cafile=settings.cafile))
            if settings.user:
                smtp.login(settings.user, settings.password or "")
            smtp.send_message(msg)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        if codes and all(500 <= c < 600 for c in codes):
            raise PermanentFailure(str(exc)) from exc
        raise
    except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
        if 500 <= exc.smtp_code < 600:
            raise PermanentFailure(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
        raise
