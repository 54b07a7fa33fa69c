package main

import (
	"bufio"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/config"
	"github.com/rampart-fw/rampart/dns/server"
	"github.com/spf13/cobra"
)

// TestConfigCheck: one bad configuration file per kind of bad value in
// every section, each giving exactly these problems with their places
// (FILE stands for the configuration file's path), and exit 2.
func TestConfigCheck(t *testing.T) {
	tests := []struct {
		name string
		want []string
	}{
		{"authoritative-listen-no-port", []string{
			`FILE:2:12: authoritative.listen[0]: want ADDRESS:PORT such as 127.0.0.1:53, not "127.0.0.1"`,
		}},
		{"authoritative-listen-string", []string{
			`FILE:2:11: authoritative.listen: expected a list, found "127.0.0.1:53"`,
		}},
		{"authoritative-metrics", []string{
			`FILE:2:12: authoritative.metrics: want ADDRESS:PORT such as 127.0.0.1:9153, not "9153"`,
		}},
		{"authoritative-zone-bad-origin", []string{
			`FILE:4:15: authoritative.zones[0].origin: "ok..lab." is not a domain name`,
		}},
		{"authoritative-zone-broken", []string{
			`testdata/config/files/broken.zone:5:12: bad A record: "10.0.9.300"`,
			`testdata/config/files/broken.zone:7:1: CNAME and other data (A) at www.broken.lab.: the CNAME is at line 6`,
		}},
		{"authoritative-zone-missing", []string{
			`FILE:3:13: authoritative.zones[0].file: open testdata/config/files/nowhere.zone: no such file or directory`,
		}},
		{"authoritative-zone-no-file", []string{
			`FILE:3:7: authoritative.zones[0]: a zone needs a file`,
		}},
		{"authoritative-zone-unknown-key", []string{
			`FILE:4:7: unknown key "orgin" in authoritative.zones[0] (known keys: file, origin)`,
		}},
		{"authoritative-zones-mapping", []string{
			`FILE:2:10: authoritative.zones: expected a list, found a mapping`,
		}},
		{"every-problem", []string{
			`FILE:2:13: lab.captures: expected a string, found a list`,
			`FILE:4:15: resolver.cache_size: invalid size "lots": want a number of bytes with an optional unit (KiB, MiB, GiB, KB, MB, GB)`,
			`FILE:5:11: resolver.dnssec: use on or off, not "maybe"`,
			`FILE:6:16: resolver.serve_stale: expected true or false, found "perhaps"`,
			`FILE:9:12: gateway.workers: want 0 (one per core) to 256 workers, not -1`,
			`FILE:10:3: unknown key "lna" in gateway (known keys: addresses, checksums, conntrack_adaptive_end, conntrack_adaptive_start, conntrack_max, conntrack_per_prefix, conntrack_per_source, conntrack_prefix_len_v4, conntrack_prefix_len_v6, control, fragments, guard, lan, metrics, mode, nat, policy, routes, wan, workers)`,
			`testdata/config/files/broken.rules:2:7: unknown service "shh"`,
			`testdata/config/files/broken.rules:3:6: port 0 is not a valid port`,
		}},
		{"gateway-bridge-routes", []string{
			`FILE:3:11: gateway.addresses.lan[0]: addresses are router mode's (gateway.mode: router); a bridge has none`,
			`FILE:5:7: gateway.routes[0]: routes are router mode's (gateway.mode: router); a bridge has none`,
		}},
		{"gateway-mode", []string{
			`FILE:2:9: gateway.mode: want bridge or router, not "switch"`,
		}},
		{"gateway-router-addresses", []string{
			`FILE:4:11: gateway.addresses.lan[0]: 10.10.0.0 is the network address of 10.10.0.0/24`,
			`FILE:4:25: gateway.addresses.lan[1]: fe80::1/64 is link-local: the router makes its IPv6 link-local address from the interface's MAC`,
			`FILE:4:37: gateway.addresses.lan[2]: want an address with its prefix length, such as 10.10.0.1/24, not "10.10.0.1"`,
		}},
		{"gateway-router-no-addresses", []string{
			`FILE:4:5: gateway.addresses: router mode needs addresses on lan (addresses.lan)`,
		}},
		{"gateway-router-routes", []string{
			`FILE:8:12: gateway.routes[1].to: destination 198.51.100.1/24 has host bits set (did you mean 198.51.100.0/24?)`,
			`FILE:9:31: gateway.routes[2].via: next hop 192.0.2.1 is in no connected prefix (lan: 10.10.0.0/24; wan: 203.0.113.0/24)`,
			`FILE:10:12: gateway.routes[3].to: destination 127.0.0.0/8 lies in 127.0.0.0/8, which is never routed`,
			`FILE:11:12: gateway.routes[4].to: a second route to 0.0.0.0/0 (the first is routes[0])`,
			`FILE:12:32: gateway.routes[5].via: next hop 203.0.113.7 is not of the family of 2001:db8::/32`,
			`FILE:13:7: gateway.routes[6]: a route needs a destination (to: PREFIX, or default)`,
			`FILE:14:12: gateway.routes[7].to: want a prefix such as 198.51.100.0/24, or default, not "everywhere"`,
			`FILE:14:29: gateway.routes[7].via: want an IP address, not "the-isp"`,
		}},
		{"gateway-checksums", []string{
			`FILE:2:14: gateway.checksums: want verify or ignore, not "auto"`,
		}},
		{"gateway-checksums-offload", []string{
			`FILE:2:14: gateway.checksums: want verify or ignore, not "offload"`,
		}},
		{"gateway-conntrack-adaptive-end", []string{
			`FILE:2:27: gateway.conntrack_adaptive_end: the adaptive end (50%) must be above the start (60%); a start of 100 or more turns adaptive time-outs off`,
		}},
		{"gateway-conntrack-adaptive-order", []string{
			`FILE:3:27: gateway.conntrack_adaptive_end: the adaptive end (70%) must be above the start (80%); a start of 100 or more turns adaptive time-outs off`,
		}},
		{"gateway-conntrack-adaptive-range", []string{
			`FILE:2:29: gateway.conntrack_adaptive_start: want 1 to 1000 (percent of conntrack_max), not 0`,
			`FILE:3:27: gateway.conntrack_adaptive_end: want 1 to 1000 (percent of conntrack_max), not 1001`,
		}},
		{"gateway-conntrack-max-type", []string{
			`FILE:2:18: gateway.conntrack_max: expected an integer, found "1e99"`,
		}},
		{"gateway-conntrack-max", []string{
			`FILE:2:18: gateway.conntrack_max: want 1 to 1073741824 connections, not 0`,
		}},
		{"gateway-conntrack-per-prefix-type", []string{
			`FILE:2:25: gateway.conntrack_per_prefix: expected an integer, found "lots"`,
		}},
		{"gateway-conntrack-per-source", []string{
			`FILE:2:25: gateway.conntrack_per_source: want 0 (no bound) to 1073741824 connections, not -1`,
			`FILE:3:25: gateway.conntrack_per_prefix: want 0 (no bound) to 1073741824 connections, not 2000000000`,
		}},
		{"gateway-conntrack-prefix-len", []string{
			`FILE:2:28: gateway.conntrack_prefix_len_v4: want a prefix length of 1 to 32, not 33`,
			`FILE:3:28: gateway.conntrack_prefix_len_v6: want a prefix length of 1 to 128, not 0`,
		}},
		{"gateway-fragments-forward", []string{
			`FILE:3:14: gateway.fragments.forward: want original or reassembled, not "rebuilt"`,
		}},
		{"gateway-fragments-overlaps", []string{
			`FILE:3:15: gateway.fragments.overlaps: unknown defrag policy "vista" (want drop, first, last, bsd, bsd-right, linux, windows or solaris)`,
		}},
		{"gateway-fragments-per-source", []string{
			`FILE:4:21: gateway.fragments.max_per_source: 2097152 bytes per source is more than max_memory (1048576 bytes)`,
		}},
		{"gateway-fragments-scalar", []string{
			`FILE:2:14: gateway.fragments: expected a mapping, found "64"`,
		}},
		{"gateway-fragments-timeout", []string{
			`FILE:3:14: gateway.fragments.timeout: invalid duration "soon": want a positive duration such as 30s, 5m or 2h`,
		}},
		{"gateway-guard-destinations", []string{
			`FILE:4:13: gateway.guard.synproxy.mode: synproxy mode always needs destinations: the servers it protects`,
		}},
		{"gateway-guard-features", []string{
			`FILE:4:33: gateway.guard.features[0].tcp_flags: unknown TCP flag "BOGUS" in "SYN|BOGUS" (want names from FIN, SYN, RST, PSH, ACK, URG, ECE, CWR joined by |, or none)`,
			`FILE:5:33: gateway.guard.features[1].dst_port: a port needs a proto with ports (tcp, udp, udplite, sctp, dccp)`,
			`FILE:6:18: gateway.guard.features[2].action: action limit needs limit: {rate: ..., burst: ...}`,
			`FILE:7:31: gateway.guard.features[3].payload: payload "a|zz|": |zz| is not hex bytes such as |0d 0a|`,
		}},
		{"gateway-guard-limits", []string{
			`FILE:4:42: gateway.guard.limits.new_connections_per_source.rate: invalid rate "100/d": want a positive number per s, m or h, such as 100/s or 30/m`,
			`FILE:4:56: gateway.guard.limits.new_connections_per_source.burst: a burst needs a valid rate beside it`,
			`FILE:5:32: gateway.guard.limits.icmp_per_source.burst: a burst needs a valid rate beside it`,
			`FILE:6:48: gateway.guard.limits.syn_per_destination.burst: want 1 to 1073741824, not 0`,
		}},
		{"gateway-guard-mode", []string{
			`FILE:4:13: gateway.guard.synproxy.mode: want off, always or auto, not "sometimes"`,
		}},
		{"gateway-guard-reverse-path", []string{
			`FILE:3:19: gateway.guard.reverse_path: strict reverse-path checking needs router mode (gateway.mode: router): a bridge has no routes`,
		}},
		{"gateway-lan", []string{
			`FILE:2:8: gateway.lan: "eth0/1" is not an interface name (1 to 15 bytes, no '/', ':' or spaces)`,
		}},
		{"gateway-metrics", []string{
			`FILE:2:12: gateway.metrics: want ADDRESS:PORT such as 127.0.0.1:9153, not "[::1]"`,
		}},
		{"gateway-policy-broken", []string{
			`testdata/config/files/broken.rules:2:7: unknown service "shh"`,
			`testdata/config/files/broken.rules:3:6: port 0 is not a valid port`,
		}},
		{"gateway-policy-interface", []string{
			`testdata/config/files/iface.rules:1:1: unknown interface "eth5" (known: lan, wan)`,
		}},
		{"gateway-policy-missing", []string{
			`FILE:2:11: gateway.policy: open testdata/config/files/nowhere.rules: no such file or directory`,
		}},
		{"gateway-wan", []string{
			`FILE:2:8: gateway.wan: "an-interface-name-too-long" is not an interface name (1 to 15 bytes, no '/', ':' or spaces)`,
		}},
		{"gateway-workers-negative", []string{
			`FILE:2:12: gateway.workers: want 0 (one per core) to 256 workers, not -1`,
		}},
		{"gateway-workers-type", []string{
			`FILE:2:12: gateway.workers: expected an integer, found a list`,
		}},
		{"gateway-workers", []string{
			`FILE:2:12: gateway.workers: want 0 (one per core) to 256 workers, not 1000`,
		}},
		{"ids-rules-broken", []string{
			`testdata/config/files/broken-ids.rules:2:67: unknown keyword "frobnicate"`,
			`testdata/config/files/broken-ids.rules:3:1: rule has no sid`,
		}},
		{"ids-hops", []string{
			`FILE:3:12: ids.min_ttl: want a TTL from 0 to 255, not 256`,
			`FILE:4:19: ids.default.hops: want a number of routers from 0 to 254, not -1`,
			`FILE:6:36: ids.host_policies[0].hops: want a number of routers from 0 to 254, not 255`,
			`FILE:7:51: ids.host_policies[1].hops: expected an integer, found "two"`,
		}},
		{"ids-section", []string{
			`FILE:2:9: ids.mode: want detect or prevent, not "inline"`,
			`FILE:4:15: ids.vars.HOME_NET: neither addresses nor ports: in $HOME_NET ("[10.0.0.0/8,!nonsense]"): bad address "nonsense"`,
			`FILE:5:12: ids.vars.EMPTY: want an address or port specification such as "[10.0.0.0/8,!10.1.0.0/16]" or "[80,8080]", not an empty string`,
			`FILE:6:21: ids.default.defrag: unknown defrag policy "vista" (want drop, first, last, bsd, bsd-right, linux, windows or solaris)`,
			`FILE:6:36: ids.default.stream: unknown stream policy "bsd-right" (want first, last, bsd, linux, old-linux, windows, vista, solaris, hpux10, hpux11, irix or macos)`,
			`FILE:8:7: ids.host_policies[0]: a host policy needs a prefix, such as 10.10.7.10/32`,
			`FILE:9:7: ids.host_policies[1]: a host policy needs defrag, stream or hops`,
			`FILE:11:16: ids.host_policies[3].prefix: 10.10.7.0/24 already has a policy (FILE:10:16)`,
			`FILE:12:11: ids.rules[0]: open testdata/config/files/nowhere-ids.rules: no such file or directory`,
			`FILE:13:8: ids.eve: directory /nonexistent-dir does not exist`,
		}},
		{"lab-captures-file", []string{
			`FILE:2:13: lab.captures: testdata/config/files/ok.zone is not a folder`,
		}},
		{"lab-topology-broken", []string{
			`testdata/config/files/broken-topology.yaml:7:9: interface a.eth0: unknown network "m"`,
		}},
		{"lab-topology-list", []string{
			`FILE:2:13: lab.topology: expected a string, found a list`,
		}},
		{"lab-topology-missing", []string{
			`FILE:2:13: lab.topology: open testdata/config/files/nowhere.yaml: no such file or directory`,
		}},
		{"lab-unknown-key", []string{
			`FILE:2:3: unknown key "topolgy" in lab (known keys: captures, topology)`,
		}},
		{"proxy-access-log-folder", []string{
			`FILE:2:15: proxy.access_log: no folder /nonexistent-folder for the access log`,
		}},
		{"proxy-access-log-format", []string{
			`FILE:2:22: proxy.access_log_format: use squid or json, not "apache"`,
		}},
		{"proxy-allow-clients", []string{
			`FILE:2:19: proxy.allow_clients[0]: invalid prefix "10.0.0.0/33": expected an address prefix such as 10.0.0.0/24`,
		}},
		{"proxy-block-host", []string{
			`FILE:3:22: proxy.block.hosts[1]: "bad!.test": "!" is not allowed in a host name (letters, digits, '-' and '_'; IDNs in their xn-- form)`,
		}},
		{"proxy-block-list-broken", []string{
			`testdata/config/files/broken.list:2:9: "bad!name.example": "!" is not allowed in a host name (letters, digits, '-' and '_'; IDNs in their xn-- form)`,
		}},
		{"proxy-block-list-missing", []string{
			`FILE:3:13: proxy.block.lists[0]: open testdata/config/files/nowhere.list: no such file or directory`,
		}},
		{"proxy-block-method", []string{
			`FILE:3:15: proxy.block.methods[0]: "GE T" is not a method name (letters only, such as TRACE)`,
		}},
		{"proxy-block-url", []string{
			`FILE:3:12: proxy.block.urls[0]: invalid regular expression "^http://(unclosed": missing closing )`,
		}},
		{"proxy-ca-key-mode", []string{
			`FILE:3:13: proxy.tls.ca_dir: testdata/config/files/proxy-ca-open/ca.key: CA key is readable by others (mode 0644, want 0600): chmod 600 it`,
		}},
		{"proxy-ca-missing", []string{
			`FILE:3:13: proxy.tls.ca_dir: stat testdata/config/files/nowhere-ca/ca.key: no such file or directory (create the CA with: rampart proxy ca init --dir testdata/config/files/nowhere-ca)`,
		}},
		{"proxy-cache-memory", []string{
			`FILE:3:13: proxy.cache.memory: 1024 bytes is less than the 1MiB the cache needs`,
		}},
		{"proxy-connect-ports", []string{
			`FILE:2:24: proxy.connect_ports[1]: want a port from 1 to 65535, not 70000`,
		}},
		{"proxy-content-action", []string{
			`FILE:4:13: proxy.content.action: unknown action "quarantine": want block or strip_script`,
		}},
		{"proxy-content-max-body", []string{
			`FILE:3:15: proxy.content.max_body: invalid size "huge": want a number of bytes with an optional unit (KiB, MiB, GiB, KB, MB, GB)`,
		}},
		{"proxy-hosts-file", []string{
			`testdata/config/files/broken.hosts:1:1: "origin.test" is not an IP address`,
		}},
		{"proxy-intercept-no-ca", []string{
			`FILE:3:17: proxy.tls.intercept[0]: interception needs proxy.tls.ca_dir (create a CA with: rampart proxy ca init --dir DIR)`,
		}},
		{"proxy-listen", []string{
			`FILE:2:12: proxy.listen[0]: want ADDRESS:PORT such as 127.0.0.1:3128, not ":::3128"`,
		}},
		{"proxy-max-connections", []string{
			`FILE:2:31: proxy.max_connections_per_client: want 1 to 1048576 connections, not 0`,
		}},
		{"proxy-rules", []string{
			`FILE:3:7: proxy.rules[0]: a rule needs an action: allow or block`,
			`FILE:5:15: proxy.rules[1].action: use allow or block, not "drop"`,
			`FILE:6:15: proxy.rules[1].times[0]: invalid time range "25:00-26:00": want HH:MM-HH:MM such as 09:00-17:30`,
			`FILE:7:14: proxy.rules[1].days[0]: invalid day "someday": want mon, tue, wed, thu, fri, sat or sun, or a span such as mon-fri`,
			`FILE:8:7: proxy.rules[2]: a rule needs at least one condition (hosts, urls, methods, clients, times, days)`,
		}},
		{"proxy-timeout", []string{
			`FILE:3:11: proxy.timeouts.idle: invalid duration "-1s": want a positive duration such as 30s, 5m or 2h`,
		}},
		{"proxy-unknown-key", []string{
			`FILE:2:3: unknown key "blocks" in proxy (known keys: access_log, access_log_format, allow, allow_clients, block, cache, connect_ports, content, hosts_file, listen, max_connections_per_client, metrics, pac, rules, timeouts, tls)`,
		}},
		{"proxy-upstream-ca", []string{
			`FILE:3:18: proxy.tls.upstream_ca: no PEM certificate in it`,
		}},
		{"resolver-allow", []string{
			`FILE:2:11: resolver.allow[0]: invalid prefix "10.0.0.0/33": expected an address prefix such as 10.0.0.0/24`,
		}},
		{"resolver-cache-size-list", []string{
			`FILE:2:15: resolver.cache_size: expected a string, found a list`,
		}},
		{"resolver-cache-size-small", []string{
			`FILE:2:15: resolver.cache_size: 1KiB is less than the 4KiB a cache needs (room for a full-sized answer)`,
		}},
		{"resolver-cache-size", []string{
			`FILE:2:15: resolver.cache_size: invalid size "lots": want a number of bytes with an optional unit (KiB, MiB, GiB, KB, MB, GB)`,
		}},
		{"resolver-control-empty", []string{
			`FILE:2:12: resolver.control: want the path of a socket, not an empty string`,
		}},
		{"resolver-dnssec-list", []string{
			`FILE:2:11: resolver.dnssec: expected a string, found a list`,
		}},
		{"resolver-dnssec", []string{
			`FILE:2:11: resolver.dnssec: use on or off, not "maybe"`,
		}},
		{"resolver-limits", []string{
			`FILE:2:15: resolver.wait_limit: want 0 (no limit) to 1048576 queries, not -1`,
			`FILE:3:22: resolver.wait_limit_cookie: want 0 (no limit) to 1048576 queries, not 2000000`,
			`FILE:4:20: resolver.discard_timeout: want 0 (never discard) to 3600000 milliseconds, not -5`,
			`FILE:5:19: resolver.tcp_per_source: expected an integer, found "many"`,
			`FILE:6:21: resolver.tcp_idle_timeout: want 1 to 3600 seconds, not 0`,
			`FILE:7:30: resolver.client_ipv4_prefix_length: want a prefix length from 1 to 32, not 33`,
			`FILE:8:30: resolver.client_ipv6_prefix_length: want a prefix length from 1 to 128, not 0`,
		}},
		{"resolver-rrl", []string{
			`FILE:3:27: resolver.rrl.responses_per_second: want 0 (no rate limiting) to 1048576 responses a second, not -5`,
			`FILE:4:11: resolver.rrl.slip: want 0 (drop every limited response) to 10, not 11`,
			`FILE:5:25: resolver.rrl.ipv4_prefix_length: want a prefix length from 1 to 32, not 0`,
			`FILE:6:25: resolver.rrl.ipv6_prefix_length: want a prefix length from 1 to 128, not 129`,
			`FILE:7:21: resolver.fetches_per_zone: want 0 (no bound) to 1048576 queries, not -1`,
		}},
		{"resolver-rrl-scalar", []string{
			`FILE:2:8: resolver.rrl: expected a mapping, found "5"`,
		}},
		{"resolver-listen", []string{
			`FILE:2:12: resolver.listen[0]: invalid address and port "localhost:53": expected 192.0.2.1:53 or [2001:db8::1]:53`,
		}},
		{"resolver-max-ttl", []string{
			`FILE:2:12: resolver.max_ttl: 4000000000 seconds is more than the 2147483647 a TTL can be (RFC 2181)`,
		}},
		{"resolver-metrics", []string{
			`FILE:2:12: resolver.metrics: want ADDRESS:PORT such as 127.0.0.1:9153, not "127.0.0.1:99999"`,
		}},
		{"resolver-min-over-default-max", []string{
			`FILE:2:12: resolver.min_ttl: 100000 seconds is more than max_ttl (86400)`,
		}},
		{"resolver-min-over-max", []string{
			`FILE:2:12: resolver.min_ttl: 7200 seconds is more than max_ttl (3600)`,
		}},
		{"resolver-min-ttl-type", []string{
			`FILE:2:12: resolver.min_ttl: expected an integer from 0 to 4294967295, found "an hour"`,
		}},
		{"resolver-qname-minimisation", []string{
			`FILE:2:23: resolver.qname_minimisation: expected true or false, found a mapping`,
		}},
		{"resolver-root-hints-broken", []string{
			`testdata/config/files/broken.hints:2:27: bad address "203.0.113.300"`,
		}},
		{"resolver-root-hints-missing", []string{
			`FILE:2:15: resolver.root_hints: open testdata/config/files/nowhere.hints: no such file or directory`,
		}},
		{"resolver-serve-stale", []string{
			`FILE:2:16: resolver.serve_stale: expected true or false, found "sometimes"`,
		}},
		{"resolver-trust-anchor-broken", []string{
			`testdata/config/files/broken.anchors:1:1: trust anchor DS ok.lab. 1: SHA256 digest has 8 octets, want 32`,
			`testdata/config/files/broken.anchors:2:1: trust anchor for ok.lab.: type A, want DS or DNSKEY`,
		}},
		{"resolver-trust-anchor-dnssec-off", []string{
			`FILE:3:17: resolver.trust_anchor: a trust anchor needs DNSSEC on, and resolver.dnssec (FILE:2:11) turns it off`,
		}},
		{"resolver-trust-anchor-missing", []string{
			`FILE:2:17: resolver.trust_anchor: open testdata/config/files/nowhere.anchors: no such file or directory`,
		}},
		{"resolver-upstream-port", []string{
			`FILE:2:18: resolver.upstream_port: expected an integer from 0 to 65535, found "65536"`,
		}},
		{"section-not-a-mapping", []string{
			`FILE:1:10: gateway: expected a mapping, found "eth0"`,
		}},
		{"top-alias", []string{
			`FILE:3:10: aliases are not allowed in configuration`,
		}},
		{"top-duplicate-section", []string{
			`FILE:3:1: duplicate key "lab" in the top level`,
		}},
		{"top-not-a-mapping", []string{
			`FILE:1:1: the top level: expected a mapping, found a list`,
		}},
		{"top-syntax", []string{
			`FILE:2: did not find expected ',' or ']'`,
		}},
		{"top-unknown-section", []string{
			`FILE:1:1: unknown key "resolvr" in the top level (known keys: authoritative, gateway, ids, lab, proxy, resolver)`,
		}},
	}
	// Git keeps no file modes but the executable bit: the proxy's CA keys
	// get theirs here, one as it must be and one readable by others.
	chmodProxyCAKeys(t)
	files, _ := filepath.Glob(filepath.Join("testdata", "config", "bad", "*.yaml"))
	if len(files) != len(tests) {
		t.Errorf("%d files in testdata/config/bad, %d expectations", len(files), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join("testdata", "config", "bad", tt.name+".yaml")
			code, out, errOut := runCLI("config", "check", path)
			var want strings.Builder
			for _, w := range tt.want {
				want.WriteString(strings.ReplaceAll(w, "FILE", path) + "\n")
			}
			n := len(tt.want)
			plural := map[bool]string{true: "", false: "s"}[n == 1]
			want.WriteString("rampart: " + path + ": " + strconv.Itoa(n) + " problem" + plural + "\n")
			if code != 2 || out != "" || errOut != want.String() {
				t.Errorf("exit %d, stdout %q, stderr\n%s\nwant exit 2 and\n%s", code, out, errOut, want.String())
			}
		})
	}
}

// TestConfigCheckOK: a file that sets every key, and names files that
// exist and parse, is ok.
func TestConfigCheckOK(t *testing.T) {
	chmodProxyCAKeys(t)
	path := filepath.Join("testdata", "config", "good.yaml")
	code, out, errOut := runCLI("config", "check", path)
	if code != 0 || out != path+": ok\n" || errOut != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	var cfg fileConfig
	if err := config.LoadFile(path, &cfg); err != nil {
		t.Fatal(err)
	}
	// Every key is set, so that the file shows every one being checked.
	var unset []string
	walkValues(reflect.ValueOf(cfg), "", func(key string, set bool) {
		if !set {
			unset = append(unset, key)
		}
	})
	if len(unset) > 0 {
		t.Errorf("good.yaml leaves out %v", unset)
	}
	if code, _, errOut := runCLI("config", "check", filepath.Join("testdata", "config", "missing.yaml")); code != 2 || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: exit %d, %q", code, errOut)
	}
}

func chmodProxyCAKeys(t *testing.T) {
	t.Helper()
	for dir, mode := range map[string]os.FileMode{"proxy-ca": 0o600, "proxy-ca-open": 0o644} {
		if err := os.Chmod(filepath.Join("testdata", "config", "files", dir, "ca.key"), mode); err != nil {
			t.Fatal(err)
		}
	}
}

// walkValues calls fn for every config.Value in v with whether it is set.
func walkValues(v reflect.Value, key string, fn func(key string, set bool)) {
	if s, ok := v.Interface().(interface{ IsSet() bool }); ok {
		fn(key, s.IsSet())
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if f := v.Type().Field(i); f.IsExported() {
				walkValues(v.Field(i), key+"."+f.Tag.Get("yaml"), fn)
			}
		}
	case reflect.Slice:
		if v.Len() == 0 {
			fn(key, false)
		}
		for i := 0; i < v.Len(); i++ {
			walkValues(v.Index(i), key, fn)
		}
	}
}

// TestConfigFlags: a value set by a flag is named by the flag, and a flag
// wins over the file.
func TestConfigFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(file, []byte("resolver:\n  cache_size: lots\n  dnssec: maybe\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string // the whole of stderr
	}{
		{[]string{"resolver", "--cache-size", "lots", "--listen", "127.0.0.1:0"},
			`rampart: --cache-size: invalid size "lots": want a number of bytes with an optional unit (KiB, MiB, GiB, KB, MB, GB)`},
		{[]string{"resolver", "--dnssec", "maybe", "--listen", "127.0.0.1:0"}, `rampart: --dnssec: use on or off, not "maybe"`},
		{[]string{"resolver", "--dnssec", "off", "--trust-anchor", "x.anchors", "--listen", "127.0.0.1:0"},
			"rampart: --trust-anchor: a trust anchor needs DNSSEC on, and --dnssec turns it off"},
		{[]string{"--config", file, "resolver", "--cache-size", "1MiB", "--listen", "127.0.0.1:0"},
			"rampart: " + file + `:3:11: resolver.dnssec: use on or off, not "maybe"`},
		{[]string{"--config", file, "resolver", "--dnssec", "maybe", "--listen", "127.0.0.1:0"},
			"rampart: --dnssec: use on or off, not \"maybe\"\n" +
				file + `:2:15: resolver.cache_size: invalid size "lots": want a number of bytes with an optional unit (KiB, MiB, GiB, KB, MB, GB)`},
		{[]string{"gateway", "--policy", "testdata/gateway.rules", "--workers", "-3", "--lan", "a/b"},
			"rampart: --lan: \"a/b\" is not an interface name (1 to 15 bytes, no '/', ':' or spaces)\n--workers: want 0 (one per core) to 256 workers, not -3"},
		{[]string{"gateway", "--policy", "testdata/gateway.rules", "--checksums", "offload"},
			`rampart: --checksums: want verify or ignore, not "offload"`},
		{[]string{"authoritative", "--zone", "testdata/config/files/nowhere.zone"},
			"rampart: --zone: open testdata/config/files/nowhere.zone: no such file or directory"},
		{[]string{"lab", "--topology", "testdata/config/files/nowhere.yaml", "up"},
			"rampart: --topology: open testdata/config/files/nowhere.yaml: no such file or directory"},
	}
	for _, tt := range tests {
		code, _, errOut := runCLI(tt.args...)
		if code != 2 || errOut != tt.want+"\n" {
			t.Errorf("rampart %v: exit %d, stderr\n%s\nwant exit 2 and\n%s", tt.args, code, errOut, tt.want)
		}
	}
}

// TestConfigurationDoc holds docs/configuration.md and the configuration
// structs together: every key of fileConfig is documented in the table of
// its section and every documented key exists; every flag the doc names
// exists on its section's subcommand; every YAML example decodes.
func TestConfigurationDoc(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		section    string
		documented []string
		flags      = map[string][]string{} // section -> flags named in its tables
		examples   []string
		example    *strings.Builder
	)
	flagRE := regexp.MustCompile("`(--[a-z0-9-]+)")
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		switch {
		case example != nil && text == "```":
			examples = append(examples, example.String())
			example = nil
		case example != nil:
			example.WriteString(text + "\n")
		case text == "```yaml":
			example = &strings.Builder{}
		case strings.HasPrefix(text, "## "):
			section = strings.Trim(strings.TrimPrefix(text, "## "), "` ")
		case strings.HasPrefix(text, "| `"):
			cells := strings.Split(text, "|")
			if len(cells) != 7 {
				t.Errorf("configuration.md:%d: a key's row has %d cells, want 5 (key, type, default, flag, meaning)", line, len(cells)-2)
				continue
			}
			documented = append(documented, section+"."+strings.Trim(cells[1], "` "))
			for _, m := range flagRE.FindAllStringSubmatch(cells[4], -1) {
				flags[section] = append(flags[section], m[1])
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(documented)
	keys := config.Keys(reflect.TypeOf(fileConfig{}))
	for _, k := range keys {
		if _, found := slices.BinarySearch(documented, k); !found {
			t.Errorf("key %s is not documented in docs/configuration.md", k)
		}
	}
	for _, k := range documented {
		if _, found := slices.BinarySearch(keys, k); !found {
			t.Errorf("docs/configuration.md documents %s, which the configuration does not have", k)
		}
	}

	root := newApp(os.Stdout, os.Stderr).rootCommand()
	// A section whose flags are another subcommand's: the IDS runs
	// offline under inspect.
	flagsOf := map[string]string{"ids": "inspect"}
	for section, names := range flags {
		sub := section
		if c, ok := flagsOf[section]; ok {
			sub = c
		}
		cmd, _, err := root.Find([]string{sub})
		if err != nil || cmd == root {
			t.Errorf("docs/configuration.md: section %s is not a subcommand", section)
			continue
		}
		for _, name := range names {
			if !hasFlag(cmd, strings.TrimPrefix(name, "--")) {
				t.Errorf("docs/configuration.md: %s has no flag %s", cmd.CommandPath(), name)
			}
		}
	}

	if len(examples) < 5 {
		t.Errorf("%d YAML examples, want one for the whole file and one per section", len(examples))
	}
	for i, ex := range examples {
		var cfg fileConfig
		if err := config.Decode("example", []byte(ex), &cfg); err != nil {
			t.Errorf("example %d does not decode: %v\n%s", i+1, err, ex)
		}
	}
}

func hasFlag(cmd *cobra.Command, name string) bool {
	return cmd.Flags().Lookup(name) != nil || cmd.PersistentFlags().Lookup(name) != nil || cmd.InheritedFlags().Lookup(name) != nil
}

// rrlDefaults is resolver.rrl left out: off, with BIND's defaults.
var rrlDefaults = server.RRLConfig{Slip: 2, IPv4PrefixLength: 24, IPv6PrefixLength: 56}

// TestResolverLimits: the per-client limits and response rate limiting
// reach the server's configuration, 0 in the file turning a limit off.
func TestResolverLimits(t *testing.T) {
	for _, tt := range []struct {
		name, yaml string
		want       server.Config
	}{
		{"defaults", "resolver: {}\n", server.Config{WaitLimit: 1000, WaitLimitCookie: 10000, DiscardTimeout: 1900 * time.Millisecond,
			TCPPerSource: 64, TCPIdle: 10 * time.Second, ClientPrefix4: 24, ClientPrefix6: 56, RRL: rrlDefaults}},
		{"set", "resolver:\n  wait_limit: 5\n  wait_limit_cookie: 50\n  discard_timeout: 250\n  tcp_per_source: 3\n  tcp_idle_timeout: 2\n" +
			"  client_ipv4_prefix_length: 32\n  client_ipv6_prefix_length: 64\n",
			server.Config{WaitLimit: 5, WaitLimitCookie: 50, DiscardTimeout: 250 * time.Millisecond, TCPPerSource: 3, TCPIdle: 2 * time.Second,
				ClientPrefix4: 32, ClientPrefix6: 64, RRL: rrlDefaults}},
		{"off", "resolver:\n  wait_limit: 0\n  wait_limit_cookie: 0\n  discard_timeout: 0\n  tcp_per_source: 0\n",
			server.Config{WaitLimit: -1, WaitLimitCookie: -1, DiscardTimeout: -1, TCPPerSource: -1, TCPIdle: 10 * time.Second,
				ClientPrefix4: 24, ClientPrefix6: 56, RRL: rrlDefaults}},
		{"rrl", "resolver:\n  rrl:\n    responses_per_second: 5\n    slip: 3\n    ipv4_prefix_length: 32\n    ipv6_prefix_length: 64\n",
			server.Config{WaitLimit: 1000, WaitLimitCookie: 10000, DiscardTimeout: 1900 * time.Millisecond, TCPPerSource: 64, TCPIdle: 10 * time.Second,
				ClientPrefix4: 24, ClientPrefix6: 56, RRL: server.RRLConfig{ResponsesPerSecond: 5, Slip: 3, IPv4PrefixLength: 32, IPv6PrefixLength: 64}}},
		{"rrl slip 0", "resolver:\n  rrl:\n    responses_per_second: 5\n    slip: 0\n",
			server.Config{WaitLimit: 1000, WaitLimitCookie: 10000, DiscardTimeout: 1900 * time.Millisecond, TCPPerSource: 64, TCPIdle: 10 * time.Second,
				ClientPrefix4: 24, ClientPrefix6: 56, RRL: server.RRLConfig{ResponsesPerSecond: 5, Slip: -1, IPv4PrefixLength: 24, IPv6PrefixLength: 56}}},
	} {
		var cfg fileConfig
		if err := config.Decode("limits.yaml", []byte(tt.yaml), &cfg); err != nil {
			t.Fatal(err)
		}
		setup, err := cfg.Resolver.check()
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := setup.limits; !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
	var cfg fileConfig
	if err := config.Decode("fetches.yaml", []byte("resolver:\n  fetches_per_zone: 100\n"), &cfg); err != nil {
		t.Fatal(err)
	}
	if setup, err := cfg.Resolver.check(); err != nil || setup.fetchesPerZone != 100 {
		t.Errorf("fetches_per_zone 100: %v", err)
	}
}
