#!/usr/bin/env bash
# Compare rampart's proxy with Squid on this machine: requests per second
# and latency with wrk through each proxy to a local origin, for
# uncacheable and cacheable responses, rampart's content filter on.
# Installs what it needs; run as root.
#   bench/proxy/run.sh [-rounds N] [-seconds S] [-connections C]
set -euo pipefail
cd "$(dirname "$0")/../.."
missing=""
for p in squid-openssl wrk; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
go build -o bin/rampart ./cmd/rampart
go build -o bin/bench-proxy ./bench/proxy
exec bin/bench-proxy -rampart bin/rampart "$@"
