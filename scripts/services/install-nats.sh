#!/usr/bin/env bash
# Builds (once per machine) a current nats-server with JetStream. Last stdout line: NATS_SERVER=<path>.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"
NATS_VERSION="${NATS_VERSION:-v2.14.9}"
go_install_bin "github.com/nats-io/nats-server/v2@$NATS_VERSION" "nats-server-$NATS_VERSION"
echo "NATS_SERVER=$MCPV8_BIN_DIR/nats-server-$NATS_VERSION"
