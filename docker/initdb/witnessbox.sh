#!/bin/bash
# The witnessbox catalogue lives beside Airflow's metadata database, owned by its own role.
set -euo pipefail
: "${WITNESSBOX_DB_PASSWORD:?set WITNESSBOX_DB_PASSWORD in docker/.env}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v pw="$WITNESSBOX_DB_PASSWORD" <<'SQL'
CREATE ROLE witnessbox LOGIN PASSWORD :'pw';
CREATE DATABASE witnessbox OWNER witnessbox;
REVOKE ALL ON DATABASE witnessbox FROM PUBLIC;
SQL
