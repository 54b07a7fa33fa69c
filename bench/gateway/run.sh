#!/usr/bin/env bash
# Compare rampart's firewall gateway with nftables in the lab: UDP packets
# per second, TCP connections per second and iperf3 throughput through a
# 1,000-rule stateful policy; with -nat, the same through rampart's router
# mode with NAT on gw against the kernel's nftables masquerade. Installs
# what it needs; run as root.
#   bench/gateway/run.sh [-nat] [-quick] [-rounds N] [-seconds S] [-workers N]
set -euo pipefail
cd "$(dirname "$0")/../.."
missing=""
for p in nftables iperf3 iproute2 ethtool; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
go build -o bin/rampart ./cmd/rampart
go build -o bin/bench-gateway ./bench/gateway
exec bin/bench-gateway -rampart bin/rampart "$@"
