#!/usr/bin/env bash
# Compare rampart's resolver with Unbound in the lab: cached-answer QPS with
# dnsperf, cold resolution of 2,000 distinct names, and resident memory with
# 1,000,000 cached names. Installs what it needs; run as root.
#   bench/dns/run.sh [-quick]
#   bench/dns/run.sh -loopback -rounds 3 -cold-rounds 3   (loopback, NSD, no validation)
set -euo pipefail
cd "$(dirname "$0")/../.."
missing=""
for p in dnsperf unbound nsd iproute2 curl; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
go build -o bin/rampart ./cmd/rampart
exec go run ./bench/dns -rampart bin/rampart "$@"
