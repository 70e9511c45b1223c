#!/usr/bin/env bash
# Builds (once per machine) a real S3-compatible server for integration tests: the Versity S3
# Gateway (versitygw, maintained, Apache-2.0) with its posix backend, from the Go module proxy.
# It enforces SigV4 (wrong secret -> 403) and conditional writes (If-None-Match: * / If-Match
# -> 412, serialised by lock files under DATA_DIR/.vgwlocks). MinIO, used before, was archived.
# Cold build ~2 min on 2 cores (~60 MB static binary); warm: <1 s.
# Last stdout lines: S3_SERVER_KIND=versitygw, S3_SERVER_VERSION=<tag>, then S3_SERVER=<abs path>.
#
# Start it (single process, single-account mode: the root credentials are the S3 credentials;
# ready in ~0.1 s):
#   ROOT_ACCESS_KEY_ID=<access key> ROOT_SECRET_ACCESS_KEY=<secret> \
#     "$S3_SERVER" --port 127.0.0.1:PORT --health /health --quiet posix DATA_DIR
#   health: GET http://127.0.0.1:PORT/health -> 200
# DATA_DIR must support user xattrs (ext4, xfs, overlayfs do); each top-level directory is a bucket.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"

VERSITYGW_VERSION="${VERSITYGW_VERSION:-v1.8.0}"
name="versitygw-$VERSITYGW_VERSION"

go_install_bin "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" "$name"

if ! "$MCPV8_BIN_DIR/$name" --version >/dev/null 2>&1; then
  log "$MCPV8_BIN_DIR/$name does not run; removing it (run again to rebuild)"
  rm -f "$MCPV8_BIN_DIR/$name"
  exit 1
fi

echo "S3_SERVER_KIND=versitygw"
echo "S3_SERVER_VERSION=$VERSITYGW_VERSION"
echo "S3_SERVER=$MCPV8_BIN_DIR/$name"
