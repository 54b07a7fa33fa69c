#!/usr/bin/env bash
# Compare rampart's IDS with Snort 3 offline on one core: throughput per
# core, rule loading, peak memory and alerts per rule, on a generated
# capture of HTTP, DNS and TLS traffic with 100, 1,000 and 10,000 content
# rules (the same literals for both), Snort with Hyperscan and with
# Aho-Corasick; and ids/detect's engine against its naive mode. Snort 3
# comes from /work/shared/snort/build.sh (into /opt/snort). Installs what
# else it needs; run as root.
#   bench/ids/run.sh [-rounds N] [-size 200MB] [-rules 100,1000,10000] [-cpu 1] [-naive=false]
#   bench/ids/run.sh -search ""      (rampart alone, no Snort)
set -euo pipefail
cd "$(dirname "$0")/../.."
missing=""
for p in libhyperscan-dev pkg-config util-linux; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
go build -tags hyperscan -o bin/rampart ./cmd/rampart
go build -o bin/ids-writeinputs ./ids/internal/traffic/writeinputs
go test -tags hyperscan -c -o bin/ids-detect.test ./ids/detect
go build -o bin/bench-ids ./bench/ids
exec bin/bench-ids -rampart bin/rampart -writeinputs bin/ids-writeinputs -detect-test bin/ids-detect.test "$@"
