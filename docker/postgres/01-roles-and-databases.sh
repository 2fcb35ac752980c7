#!/bin/bash
# Runs once, when the PostgreSQL volume is empty (docker-entrypoint-initdb.d), as the superuser.
# Logins and databases; every password comes from the environment (.env), none is committed.
#   pipeline      owns the warehouse `explosion_monitor`, no superuser; CREATEROLE for the pipeline's own roles
#                 (em_loader, em_transformer, em_publisher, open_data_reader, analist), CREATEDB for the rebuild
#                 DAG; pg_use_reserved_connections (reserved_connections takes effect at the first restart).
#   airflow       owns Airflow's metadata database `airflow`.
#   metabase      owns Metabase's application database `metabase`.
#   bi_reader     the login Metabase reads the published marts with (the pipeline grants it SELECT).
#   minio_events  may only insert MinIO's bucket notifications into ops.minio_events.
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v pipeline_pw="$PIPELINE_DB_PASSWORD" -v airflow_pw="$AIRFLOW_DB_PASSWORD" \
  -v metabase_pw="$METABASE_DB_PASSWORD" -v bi_pw="$BI_READER_PASSWORD" \
  -v events_pw="$MINIO_EVENTS_DB_PASSWORD" <<'SQL'
create role pipeline login createrole createdb password :'pipeline_pw';
create database explosion_monitor owner pipeline;
-- issue 12: the pipeline may take the reserved slots readers cannot, and set the readers' temp_file_limit
grant pg_use_reserved_connections to pipeline;
grant set on parameter temp_file_limit to pipeline;
alter system set reserved_connections = 10;
-- readers (PUBLIC) get no CONNECT or TEMP on databases that are not theirs
revoke connect, temporary on database postgres from public;
create role airflow login password :'airflow_pw';
create database airflow owner airflow;
revoke connect, temporary on database airflow from public;
create role metabase login password :'metabase_pw';
create database metabase owner metabase;
revoke connect, temporary on database metabase from public;
create role bi_reader login password :'bi_pw';
grant bi_reader to pipeline with admin option;
create role minio_events login password :'events_pw';
SQL

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname explosion_monitor \
  -f "$(dirname "${BASH_SOURCE[0]}")/sql/minio_events.sql"
