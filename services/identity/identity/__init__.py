"""The identity service: people, credentials, roles, the relations that decide
access, personal-data consent; signs the access tokens every service verifies."""
