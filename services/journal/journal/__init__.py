"""The journal service: school years and periods, subjects, classes,
enrolment, teacher assignments, lessons and versioned marks (REQUIREMENTS.md
R-S, R-J). nameko entrypoints live in :mod:`journal.service`, the gRPC hot
reads in :mod:`journal.grpc_server`, the rules in :mod:`journal.domain`."""
