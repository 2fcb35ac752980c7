#!/bin/sh
# MinIO setup, idempotent (the minio-init service runs it on every `docker compose up`):
# the four feed buckets; the bucket notification of new files in <feed>/incoming/ to PostgreSQL
# (target PIPELINE, configured on the minio service: table ops.minio_events, format access);
# one access key per partner, limited by policy to writing its own incoming/ and reading its own
# quarantine/ reports; and the pipeline's own key for the four buckets.
set -eu

mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
until mc ready local >/dev/null 2>&1; do sleep 1; done

for feed in politie verzekeraars corporaties gemeenten; do
  mc mb --ignore-existing "local/$feed"
  # Replace our notification rule, so that re-running this script never duplicates it.
  mc event remove "local/$feed" arn:minio:sqs::PIPELINE:postgresql --force >/dev/null 2>&1 || true
  mc event add "local/$feed" arn:minio:sqs::PIPELINE:postgresql --event put --prefix incoming/
done

mc admin policy create local pipeline /policies/pipeline.json
mc admin user add local "$PIPELINE_S3_ACCESS_KEY" "$PIPELINE_S3_SECRET_KEY"
mc admin policy attach local pipeline --user "$PIPELINE_S3_ACCESS_KEY" >/dev/null 2>&1 || true

add_partner() {  # feed access_key secret_key
  mc admin policy create local "partner-$1" "/policies/partner-$1.json"
  mc admin user add local "$2" "$3"
  mc admin policy attach local "partner-$1" --user "$2" >/dev/null 2>&1 || true
}
add_partner politie "$PARTNER_POLITIE_ACCESS_KEY" "$PARTNER_POLITIE_SECRET_KEY"
add_partner verzekeraars "$PARTNER_VERZEKERAARS_ACCESS_KEY" "$PARTNER_VERZEKERAARS_SECRET_KEY"
add_partner corporaties "$PARTNER_CORPORATIES_ACCESS_KEY" "$PARTNER_CORPORATIES_SECRET_KEY"
add_partner gemeenten "$PARTNER_GEMEENTEN_ACCESS_KEY" "$PARTNER_GEMEENTEN_SECRET_KEY"

mc event list local/politie
echo "MinIO ready: buckets, notifications, partner keys."
