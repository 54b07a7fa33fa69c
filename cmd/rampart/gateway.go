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
	// Fragments configures reassembly, which comes before connection
	// tracking and the policy.
	Fragments fragmentsConfig `yaml:"fragments"`
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
	lan, wan     string
	policyPath   string
	policy       *policy.Policy // nil when none is named
	workers      int
	metrics      string
	conntrackMax int
	fragments    defrag.Config
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
		lan:          c.LAN.Or("lan"),
		wan:          c.WAN.Or("wan"),
		workers:      c.Workers.V,
		metrics:      c.Metrics.V,
		conntrackMax: c.ConntrackMax.Or(defaultConntrackMax),
		policyPath:   c.Policy.V,
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
	if n := s.conntrackMax; n < 1 || n > maxConntrackMax {
		errs.Add(c.ConntrackMax.Errorf("want 1 to %d connections, not %d", maxConntrackMax, n))
	}
	if c.Metrics.V != "" {
		checkListenAddr(&errs, c.Metrics, "127.0.0.1:9153")
	}
	s.fragments = c.Fragments.check(&errs)
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
		LAN, WAN, Policy, Metrics string
		Workers, ConntrackMax     int
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
	return cmd
}

func runGateway(ctx context.Context, a *app, cfg *gatewaySetup) error {
	pol := cfg.policy
	e, err := gateway.New(pol, gateway.Config{Logger: a.log, Conntrack: conntrack.Config{MaxEntries: cfg.conntrackMax}, Fragments: cfg.fragments})
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
