#!/usr/bin/env bash
# Builds (once per machine) a real S3-compatible server for integration tests: MinIO, from the
# Go module proxy (its git tags are not semver, so it is pinned by pseudo-version). It enforces
# SigV4 (wrong secret -> 403) and conditional writes (If-None-Match: * / If-Match -> 412).
# Cold build ~12 min on 2 cores (~150 MB binary; Go module/build caches grow by a few GB); warm: <1 s.
# Last stdout lines: S3_SERVER_KIND=minio, then S3_SERVER=<abs path>.
#
# Start it (single process, ready in ~1 s):
#   MINIO_ROOT_USER=<access key, >=3 chars> MINIO_ROOT_PASSWORD=<secret, >=8 chars> \
#   MINIO_BROWSER=off MINIO_UPDATE=off MINIO_CI_CD=1 \
#     "$S3_SERVER" server --quiet --anonymous --address 127.0.0.1:PORT DATA_DIR
#   health: GET http://127.0.0.1:PORT/minio/health/ready -> 200
# MINIO_BROWSER=off matters: otherwise it also opens a web console on a random port on all interfaces.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"

MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
name="minio-$MINIO_VERSION"

go_install_bin "github.com/minio/minio@$MINIO_VERSION" "$name"

if ! "$MCPV8_BIN_DIR/$name" --version >/dev/null 2>&1; then
  log "$MCPV8_BIN_DIR/$name does not run; removing it (run again to rebuild)"
  rm -f "$MCPV8_BIN_DIR/$name"
  exit 1
fi

echo "S3_SERVER_KIND=minio"
echo "S3_SERVER=$MCPV8_BIN_DIR/$name"
