"""The journal's persistence: the models (:mod:`journal.store.models`, whose
names this package re-exports) and one query module per aggregate.

Queries are functions taking the session and keyword-only arguments, so the
same code serves nameko workers, the gRPC process and tests. Every lookup by
id is scoped to the caller's school, so an id from another school reads as
"not found".
"""
from journal.store.models import (
    Assignment, AttendanceEntry, AttendanceVersion, Base, Enrolment, FinalMark, Job, Lesson, Mark, MarkVersion, Period,
    Person, Plan, PlanTopic, SchoolClass, Subgroup, SubgroupMember, Subject, TimetableSlot, Year, YearClosure,
    idempotency_keys, tables,
)
from journal.store import attendance, finals, imports, jobs, lessons, listing, movements, reads, structure

__all__ = [
    "Assignment", "AttendanceEntry", "AttendanceVersion", "Base", "Enrolment", "FinalMark", "Job", "Lesson", "Mark",
    "MarkVersion", "Period", "Person", "Plan", "PlanTopic", "SchoolClass", "Subgroup", "SubgroupMember", "Subject",
    "TimetableSlot", "Year", "YearClosure", "idempotency_keys", "tables",
    "attendance", "finals", "imports", "jobs", "lessons", "listing", "movements", "reads", "structure",
]
