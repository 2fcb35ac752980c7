-- MinIO bucket notifications land here (PostgreSQL target, format `access`): MinIO runs
--   INSERT INTO ops.minio_events (event_time, event_data) VALUES ($1, $2)
-- for every s3:ObjectCreated:* in <bucket>/incoming/. The insert trigger NOTIFYs the channel
-- explosion_monitor_drops with the bucket name, which wakes the Airflow watchers (wake=postgres).
-- Same definition as explosion_monitor.orchestration.store.DDL (tests/test_compose.py checks both).
create schema if not exists ops authorization pipeline;
create table if not exists ops.minio_events (
    event_id bigint generated always as identity primary key,
    event_time timestamptz not null,
    event_data jsonb,
    received_at timestamptz not null default now()
);
create or replace function ops.minio_event_notify() returns trigger language plpgsql as $$
begin
    perform pg_notify('explosion_monitor_drops',
                      coalesce(new.event_data #>> '{Records,0,s3,bucket,name}', ''));
    return new;
end $$;
drop trigger if exists minio_event_notify on ops.minio_events;
create trigger minio_event_notify after insert on ops.minio_events
    for each row execute function ops.minio_event_notify();
alter table ops.minio_events owner to pipeline;
alter function ops.minio_event_notify() owner to pipeline;
grant usage on schema ops to minio_events;
grant select, insert on ops.minio_events to minio_events;
