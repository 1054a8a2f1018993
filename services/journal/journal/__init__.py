"""The journal service: school years and periods, subjects, classes,
enrolment, teacher assignments, lessons, versioned marks, attendance and
final marks (REQUIREMENTS.md R-S, R-J, R-F). The nameko service is
:mod:`journal.service` (its entrypoints in :mod:`journal.entrypoints`), the
gRPC reads :mod:`journal.grpc_server`, the rules :mod:`journal.domain`, the
models and queries :mod:`journal.store`."""
