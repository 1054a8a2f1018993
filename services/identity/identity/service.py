"""The identity nameko service: the kernel's service base (database,
outbox, dead letters, metrics, ``health``) and the entrypoint mixins of
:mod:`identity.entrypoints`."""
from __future__ import annotations

from kernel.service_base import service_base

from identity.entrypoints.access import Access
from identity.entrypoints.bulk import BulkRpc
from identity.entrypoints.families import Families
from identity.entrypoints.directory import Directory
from identity.entrypoints.passwords import Passwords
from identity.entrypoints.projections import Projections
from identity.entrypoints.users import Users
from identity.store import tables


class Service(Users, Directory, Passwords, Access, Projections, BulkRpc, Families, service_base(tables)):
    name = "identity"
