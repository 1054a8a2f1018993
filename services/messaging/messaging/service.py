"""messaging's nameko service: the kernel's service base (database,
outbox, dead letters, metrics, ``health``), the mailer loop and the
entrypoint mixins of :mod:`messaging.entrypoints`.

Run with ``python -m kernel.runner messaging``.
"""
from __future__ import annotations

from kernel.service_base import service_base

from messaging.entrypoints.mail import Mail
from messaging.entrypoints.news import News
from messaging.entrypoints.notifications import Notifications
from messaging.entrypoints.projections import Projections
from messaging.entrypoints.recipients import Recipients
from messaging.mailer import Mailer
from messaging.store import tables


class Service(Projections, Notifications, Mail, Recipients, News, service_base(tables)):
    name = "messaging"

    mailer = Mailer()
