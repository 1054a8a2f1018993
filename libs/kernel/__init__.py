"""The small shared kernel of eJournal services: configuration, database
sessions, the event envelope, the transactional outbox and its relay,
idempotent event handling, correlation ids, metrics and access-token
verification. It holds no domain logic. Importing it patches no library:
``kernel.patches.install()`` does."""
