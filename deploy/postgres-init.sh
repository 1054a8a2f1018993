#!/usr/bin/env bash
# PostgreSQL init script (run once, by the postgres image's entrypoint, on an
# empty data volume): one database per service, each owned by a login role of
# the same name. CONNECT is revoked from PUBLIC, so a service whose URL points
# at another service's database is refused instead of silently writing there
# (ARCHITECTURE.md: no service reads or writes another's database).
#
# Needs POSTGRES_USER / POSTGRES_DB (set by the image) and EJOURNAL_DB_PASSWORD.
set -euo pipefail

: "${EJOURNAL_DB_PASSWORD:?EJOURNAL_DB_PASSWORD must be set for the service roles}"

create_service_db() {
  # psql variables (:"name" quotes an identifier, :'password' a literal), so
  # nothing from the environment is pasted into SQL text.
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
       -v name="$1" -v password="$EJOURNAL_DB_PASSWORD" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name" ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"name" TO :"name";
SQL
}

# One line per service of kernel.config.SERVICES (tests/test_compose.py checks it).
create_service_db identity
create_service_db journal
create_service_db messaging
create_service_db reports
create_service_db backup
