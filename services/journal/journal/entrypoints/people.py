"""The people projection: identity's ``user_created`` and ``roles_changed``
keep the names and roles an RPC may reference."""
from __future__ import annotations

from kernel.nameko import handles, on_event

from journal import domain, events, store


class People:
    """Handlers of identity's events."""

    @on_event(events.IDENTITY, events.USER_CREATED)
    @handles("journal.user_created", store.tables["processed_events"])
    def on_user_created(self, session, envelope):
        """Keep the person (name, roles) an RPC may reference later."""
        self._apply_person(session, envelope)

    @on_event(events.IDENTITY, events.ROLES_CHANGED)
    @handles("journal.roles_changed", store.tables["processed_events"])
    def on_roles_changed(self, session, envelope):
        """Keep a person's roles current (events may arrive out of order)."""
        self._apply_person(session, envelope)

    @staticmethod
    def _apply_person(session, envelope):
        facts = domain.structure.person_from_event(envelope)
        if facts is None:
            return
        roles = list(facts.roles) if facts.roles is not None else None
        store.structure.save_person(session, user_id=facts.user_id, school_id=facts.school_id, at=facts.at,
                                    full_name=facts.full_name, roles=roles)
