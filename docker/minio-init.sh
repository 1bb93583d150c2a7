#!/bin/sh
# MinIO, once: the evidence bucket with Object Lock, and a witnessbox user that may read and
# write objects and set their retention, but never delete, bypass retention or administer.
# Refuses to go on with a bucket that has no Object Lock unless WITNESSBOX_ALLOW_UNLOCKED=1.
set -eu
bucket="${WITNESSBOX_BUCKET:-evidence}"
mc alias set root http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
mc mb --ignore-existing --with-lock "root/$bucket"
if ! mc retention info --default "root/$bucket" >/dev/null 2>&1; then
  if [ "${WITNESSBOX_ALLOW_UNLOCKED:-0}" != 1 ]; then
    echo "error: bucket $bucket has no Object Lock: evidence could be deleted; use a new bucket" \
         "(created with --with-lock) or set WITNESSBOX_ALLOW_UNLOCKED=1" >&2
    exit 1
  fi
  echo "warning: bucket $bucket has no Object Lock (WITNESSBOX_ALLOW_UNLOCKED=1)" >&2
fi
cat > /tmp/witnessbox-policy.json <<JSON
{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket",
     "s3:GetBucketObjectLockConfiguration"], "Resource": ["arn:aws:s3:::$bucket"]},
  {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:GetObjectRetention",
     "s3:PutObjectRetention", "s3:GetObjectLegalHold"], "Resource": ["arn:aws:s3:::$bucket/*"]}
]}
JSON
if [ "$WITNESSBOX_S3_ACCESS_KEY" = "$MINIO_ROOT_USER" ]; then
  echo "error: WITNESSBOX_S3_ACCESS_KEY must not be the MinIO root user" >&2
  exit 1
fi
mc admin policy create root witnessbox /tmp/witnessbox-policy.json  # creates or replaces
mc admin user add root "$WITNESSBOX_S3_ACCESS_KEY" "$WITNESSBOX_S3_SECRET_KEY"
mc admin policy attach root witnessbox --user "$WITNESSBOX_S3_ACCESS_KEY" 2>/dev/null \
  || mc admin user info root "$WITNESSBOX_S3_ACCESS_KEY" | grep -q witnessbox  # attached before
echo "bucket $bucket ready (Object Lock), user $WITNESSBOX_S3_ACCESS_KEY with policy witnessbox"
