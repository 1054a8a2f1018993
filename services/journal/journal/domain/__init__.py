"""The journal's rules, one module per aggregate: what a request may carry,
what the school's regulation allows, who may do it. Most are pure functions
of plain values (the caller supplies "today", the settings and the rows) that
a unit test calls directly; the few that must read more than one row to
decide (``structure.check_subgroup``, ``lessons.writable_lesson``,
``movements.not_enrolled``, ``movements.promote``, ``finals.period_for``)
take the session as their first argument and read through
:mod:`journal.store`, never commit and publish nothing themselves.
Requirement ids (REQUIREMENTS.md) are cited where a rule comes from.
"""
from journal.domain import attendance, chain, common, finals, imports, lessons, movements, structure

__all__ = ["attendance", "chain", "common", "finals", "imports", "lessons", "movements", "structure"]
