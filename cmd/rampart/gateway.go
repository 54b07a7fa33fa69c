package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/rampart-fw/rampart/config"
	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/firewall/conntrack"
	"github.com/rampart-fw/rampart/firewall/policy"
	"github.com/rampart-fw/rampart/gateway"
	"github.com/rampart-fw/rampart/guard"
	"github.com/rampart-fw/rampart/ids/defrag"
	"github.com/rampart-fw/rampart/srcpos"
	"github.com/spf13/cobra"
)

// gatewayConfig is the gateway: section of the configuration file.
type gatewayConfig struct {
	LAN          config.Value[string] `yaml:"lan"`
	WAN          config.Value[string] `yaml:"wan"`
	Policy       config.Value[string] `yaml:"policy"`
	Workers      config.Value[int]    `yaml:"workers"`
	Metrics      config.Value[string] `yaml:"metrics"`
	ConntrackMax config.Value[int]    `yaml:"conntrack_max"`
	// Checksums: verify (the default) or ignore.
	Checksums config.Value[string] `yaml:"checksums"`
	// The bounds per source address and per source prefix (pf's
	// max-src-states, Linux's connlimit) and the prefix lengths.
	ConntrackPerSource   config.Value[int] `yaml:"conntrack_per_source"`
	ConntrackPerPrefix   config.Value[int] `yaml:"conntrack_per_prefix"`
	ConntrackPrefixLenV4 config.Value[int] `yaml:"conntrack_prefix_len_v4"`
	ConntrackPrefixLenV6 config.Value[int] `yaml:"conntrack_prefix_len_v6"`
	// Adaptive time-outs (pf's adaptive.start and adaptive.end), in
	// percent of conntrack_max.
	ConntrackAdaptiveStart config.Value[int] `yaml:"conntrack_adaptive_start"`
	ConntrackAdaptiveEnd   config.Value[int] `yaml:"conntrack_adaptive_end"`
	// Fragments configures reassembly, which comes before connection
	// tracking and the policy.
	Fragments fragmentsConfig `yaml:"fragments"`
	// Guard holds the defences before connection tracking.
	Guard guardConfig `yaml:"guard"`
}

// Defaults of the per-source bounds, as fractions of conntrack_max: one
// address may hold a sixteenth of the table, one prefix a quarter, so
// that no one host, and no one network short of four, can fill it.
const (
	perSourceShare = 16
	perPrefixShare = 4
)

// tracking checks the keys of connection tracking and checksums, and
// returns the tracker's configuration and the checksum mode; the gateway
// and `rampart inspect` both run with them. Keys left out take their
// defaults. Every problem goes into errs.
func (c *gatewayConfig) tracking(errs *srcpos.List) (conntrack.Config, gateway.ChecksumMode) {
	max := c.ConntrackMax.Or(defaultConntrackMax)
	if max < 1 || max > maxConntrackMax {
		errs.Add(c.ConntrackMax.Errorf("want 1 to %d connections, not %d", maxConntrackMax, max))
		max = defaultConntrackMax
	}
	ct := conntrack.Config{MaxEntries: max}
	for _, v := range []struct {
		val config.Value[int]
		dst *int
		def int
	}{{c.ConntrackPerSource, &ct.PerSource, max / perSourceShare}, {c.ConntrackPerPrefix, &ct.PerPrefix, max / perPrefixShare}} {
		if n := v.val.V; n < 0 || n > maxConntrackMax {
			errs.Add(v.val.Errorf("want 0 (no bound) to %d connections, not %d", maxConntrackMax, n))
			continue
		}
		*v.dst = v.val.Or(v.def)
	}
	for _, v := range []struct {
		val config.Value[int]
		dst *int
		max int
	}{{c.ConntrackPrefixLenV4, &ct.PrefixLen4, 32}, {c.ConntrackPrefixLenV6, &ct.PrefixLen6, 128}} {
		if n := v.val.V; v.val.IsSet() && (n < 1 || n > v.max) {
			errs.Add(v.val.Errorf("want a prefix length of 1 to %d, not %d", v.max, n))
			continue
		}
		*v.dst = v.val.V
	}
	start, end := c.ConntrackAdaptiveStart, c.ConntrackAdaptiveEnd
	inRange := true
	for _, v := range []config.Value[int]{start, end} {
		if n := v.V; v.IsSet() && (n < 1 || n > 1000) {
			errs.Add(v.Errorf("want 1 to 1000 (percent of conntrack_max), not %d", n))
			inRange = false
		}
	}
	// Left out, the end is 120, or just above a start beyond that.
	if s := start.Or(60); inRange && end.IsSet() && s < 100 && end.V <= s {
		errs.Add(end.Errorf("the adaptive end (%d%%) must be above the start (%d%%); a start of 100 or more turns adaptive time-outs off", end.V, s))
	}
	ct.AdaptiveStart, ct.AdaptiveEnd = start.V, end.V
	mode := gateway.ChecksumsVerify
	if c.Checksums.IsSet() {
		m, err := gateway.ParseChecksumMode(c.Checksums.V)
		if err != nil || m == gateway.ChecksumsOffload {
			errs.Add(c.Checksums.Errorf("want verify or ignore, not %q", c.Checksums.V))
		} else {
			mode = m
		}
	}
	return ct, mode
}

// fragmentsConfig is the gateway.fragments section.
type fragmentsConfig struct {
	Timeout               config.Value[config.Duration] `yaml:"timeout"`
	MaxMemory             config.Value[config.Size]     `yaml:"max_memory"`
	MaxPerSource          config.Value[config.Size]     `yaml:"max_per_source"`
	MaxDatagramsPerSource config.Value[int]             `yaml:"max_datagrams_per_source"`
	MaxFragments          config.Value[int]             `yaml:"max_fragments"`
	Overlaps              config.Value[string]          `yaml:"overlaps"`
}

// check turns the section into the defragmenter's configuration; keys
// left out take its defaults. Every problem goes into errs.
func (c *fragmentsConfig) check(errs *srcpos.List) defrag.Config {
	var d defrag.Config
	d.Timeout = c.Timeout.V.D()
	for _, v := range []struct {
		val config.Value[config.Size]
		dst *int
	}{{c.MaxMemory, &d.MaxMemory}, {c.MaxPerSource, &d.MaxPerSource}} {
		*v.dst = int(v.val.V.Bytes())
	}
	if c.MaxMemory.IsSet() && c.MaxPerSource.IsSet() && d.MaxPerSource > d.MaxMemory {
		errs.Add(c.MaxPerSource.Errorf("%d bytes per source is more than max_memory (%d bytes)", d.MaxPerSource, d.MaxMemory))
	}
	for _, v := range []struct {
		val config.Value[int]
		dst *int
	}{{c.MaxDatagramsPerSource, &d.MaxDatagramsPerSource}, {c.MaxFragments, &d.MaxFragments}} {
		if n := v.val.V; n < 0 || n > 1<<20 {
			errs.Add(v.val.Errorf("want 1 to %d, not %d", 1<<20, n))
			continue
		}
		*v.dst = v.val.V
	}
	if c.Overlaps.IsSet() {
		p, err := defrag.ParsePolicy(c.Overlaps.V)
		if err != nil {
			errs.Add(c.Overlaps.Errorf("%v", err))
		} else {
			d.Policies = defrag.NewHostPolicies(p)
		}
	}
	return d
}

// gatewaySetup is a checked gatewayConfig with its defaults filled in.
type gatewaySetup struct {
	lan, wan   string
	policyPath string
	policy     *policy.Policy // nil when none is named
	workers    int
	metrics    string
	conntrack  conntrack.Config
	checksums  gateway.ChecksumMode
	fragments  defrag.Config
	guard      guard.Config
}

// Bounds of the gateway's numbers: fanout queues per interface (the
// datapath's limit) and tracked connections (conntrack's).
const (
	maxWorkers      = 256
	maxConntrackMax = 1 << 30
	// defaultConntrackMax is about 50 MiB of connection table.
	defaultConntrackMax = 262144
)

// check makes every check of the gateway's start-up that touches no
// interface: the policy file is read and parsed, and every problem in it
// is reported.
func (c *gatewayConfig) check() (*gatewaySetup, error) {
	var errs srcpos.List
	s := &gatewaySetup{
		lan:        c.LAN.Or("lan"),
		wan:        c.WAN.Or("wan"),
		workers:    c.Workers.V,
		metrics:    c.Metrics.V,
		policyPath: c.Policy.V,
	}
	for _, v := range []config.Value[string]{c.LAN, c.WAN} {
		if v.IsSet() {
			checkIfaceName(&errs, v)
		}
	}
	if c.Policy.V != "" && checkFile(&errs, c.Policy) {
		data, err := os.ReadFile(c.Policy.V)
		if err == nil {
			s.policy, err = policy.Parse(c.Policy.V, data)
		}
		if err != nil {
			fileError(&errs, c.Policy, err)
		}
	}
	if w := c.Workers.V; w < 0 || w > maxWorkers {
		errs.Add(c.Workers.Errorf("want 0 (one per core) to %d workers, not %d", maxWorkers, w))
	}
	if s.workers == 0 {
		s.workers = min(runtime.GOMAXPROCS(0), maxWorkers)
	}
	s.conntrack, s.checksums = c.tracking(&errs)
	if c.Metrics.V != "" {
		checkListenAddr(&errs, c.Metrics, "127.0.0.1:9153")
	}
	s.fragments = c.Fragments.check(&errs)
	s.guard = c.Guard.check(&errs)
	if len(errs) > 0 {
		errs.Sort()
		return nil, errs
	}
	return s, nil
}

// checkIfaceName checks an interface name as Linux does (dev_valid_name).
func checkIfaceName(errs *srcpos.List, v config.Value[string]) {
	n := v.V
	if n == "" || len(n) > 15 || n == "." || n == ".." || strings.ContainsAny(n, "/: \t\n") {
		errs.Add(v.Errorf("%q is not an interface name (1 to 15 bytes, no '/', ':' or spaces)", n))
	}
}

func init() { subcommands = append(subcommands, newGatewayCommand) }

func newGatewayCommand(a *app) *cobra.Command {
	var flags struct {
		LAN, WAN, Policy, Metrics, Checksums string
		Workers, ConntrackMax                int
	}
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run the stateful firewall inline between a lan and a wan interface",
		Long: `Run the firewall as a bump in the wire (bridge mode) between two interfaces:
frames arrive on AF_PACKET rings (TPACKET_V3, one fanout queue per worker),
each is decoded, checked against connection tracking and, when it starts a
connection, against the policy (a ufw-style rule file, see 'rampart fw check
--help'), and either goes out the other interface unchanged, is dropped, or is
answered with a TCP RST or ICMP unreachable for 'reject' rules. Traffic from
lan is outgoing, from wan incoming.

Before a packet may touch connection state, its IPv4 header checksum and its
TCP, UDP, ICMP or ICMPv6 checksum are verified (a checksum the kernel says an
offload owns excepted); one that is wrong is dropped and counted
(bad_checksum): the host it is addressed to would discard it. A connection is
bound to the interface its first packet came in on (its replies must come in
on the other) and to the frame's VLAN IDs. Sources are bounded in the
connections they hold, per address and per prefix; above a fill level every
time-out shrinks (adaptive time-outs), and a full table evicts, when nothing
unassured is left, the connection idle longest (gateway.conntrack_* in
--config).

Before connection tracking, the guard drops spoofed sources (from wan: inside
prefixes, the gateway's own and special-purpose addresses; from lan: sources
outside the inside prefixes), logic attacks (LAND, impossible TCP flags,
source routes, redirects, smurf, ping of death, teardrop), what exceeds the
per-source and per-destination rate limits, and what the feature rules
drop, each counted by reason. Its SYN proxy answers SYNs to protected
servers with SYN cookies and opens the server's side only for a valid ACK
(gateway.guard in --config).

Fragmented datagrams are reassembled first and judged whole; if they pass,
their fragments go out unchanged. Overlapping fragments discard the datagram
(RFC 5722), and fragment memory is bounded per source and in total
(gateway.fragments in --config).

SIGHUP re-reads the policy file: a file with an error is refused and the old
policy keeps running; a good one takes effect at once and cuts established
connections it no longer allows. Counters per rule and per verdict are
Prometheus metrics (--metrics).

Example:
  rampart gateway --lan eth1 --wan eth2 --policy /etc/rampart/gateway.rules`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := a.cfg.Gateway
			fl := cmd.Flags()
			override(fl, "lan", &cfg.LAN, flags.LAN)
			override(fl, "wan", &cfg.WAN, flags.WAN)
			override(fl, "policy", &cfg.Policy, flags.Policy)
			override(fl, "workers", &cfg.Workers, flags.Workers)
			override(fl, "metrics", &cfg.Metrics, flags.Metrics)
			override(fl, "conntrack-max", &cfg.ConntrackMax, flags.ConntrackMax)
			override(fl, "checksums", &cfg.Checksums, flags.Checksums)
			if cfg.Policy.V == "" {
				return usageErrorf("no policy: give --policy FILE (or gateway.policy in --config)")
			}
			setup, err := cfg.check()
			if err != nil {
				return err
			}
			return runGateway(cmd.Context(), a, setup)
		},
	}
	f := cmd.Flags()
	f.StringVar(&flags.LAN, "lan", "lan", "inside interface")
	f.StringVar(&flags.WAN, "wan", "wan", "outside interface")
	f.StringVar(&flags.Policy, "policy", "", "policy file (required, here or as gateway.policy in --config)")
	f.IntVar(&flags.Workers, "workers", 0, "worker goroutines and fanout queues per interface (default: one per core)")
	f.StringVar(&flags.Metrics, "metrics", "", "ADDRESS:PORT to serve Prometheus metrics (/metrics) and profiles (/debug/pprof/) on")
	f.IntVar(&flags.ConntrackMax, "conntrack-max", defaultConntrackMax, "maximum tracked connections")
	f.StringVar(&flags.Checksums, "checksums", "verify", "verify or ignore the checksums of packets before they touch connection state")
	return cmd
}

func runGateway(ctx context.Context, a *app, cfg *gatewaySetup) error {
	pol := cfg.policy
	e, err := gateway.New(pol, gateway.Config{Logger: a.log, Conntrack: cfg.conntrack, Checksums: cfg.checksums, Fragments: cfg.fragments, Guard: cfg.guard})
	if err != nil {
		return &usageError{err}
	}
	br, err := datapath.OpenBridge(datapath.BridgeConfig{LAN: cfg.lan, WAN: cfg.wan, Workers: cfg.workers})
	if err != nil {
		return err
	}
	defer br.Close()
	reg := newRegistry()
	reg.MustRegister(e.Collector(),
		// What the rings and the transmit path dropped is as much a part
		// of the gateway's verdicts as what the policy dropped.
		newStatsCollector("rampart_datapath_lan", "lan port", func() any { return br.Port(datapath.LAN).Stats() }),
		newStatsCollector("rampart_datapath_wan", "wan port", func() any { return br.Port(datapath.WAN).Stats() }))
	if err := serveMetrics(ctx, cfg.metrics, reg, a.log); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	go reloadOnHUP(ctx, func() {
		p, err := loadPolicy(cfg.policyPath)
		if err == nil {
			_, err = e.Reload(p)
		}
		if err != nil {
			a.log.Error("policy reload refused; the old policy stays in force", "err", err)
		}
	})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				e.Sweep()
			}
		}
	}()
	a.log.Info("gateway running", "lan", cfg.lan, "wan", cfg.wan, "workers", cfg.workers, "policy", cfg.policyPath, "rules", len(pol.Rules))
	err = br.Run(ctx, func(int) datapath.Handler { return e.NewWorker() })
	for _, h := range e.RuleHits() {
		if h.Hits > 0 {
			a.log.Info("rule hits", "line", h.Line, "rule", h.Text, "hits", h.Hits)
		}
	}
	a.log.Info("gateway stopped", "frames", fmt.Sprint(e.Counts()))
	if ctx.Err() != nil {
		return nil
	}
	return err
}
