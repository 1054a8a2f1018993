"""The reports service: read models projected from other services' events
(years, subjects, classes, enrolments, assignments, marks, people) and the
report builders that answer from them (R-R)."""
