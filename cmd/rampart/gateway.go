package main

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/firewall/conntrack"
	"github.com/rampart-fw/rampart/gateway"
	"github.com/rampart-fw/rampart/ids/defrag"
	"github.com/spf13/cobra"
)

// gatewayConfig is the gateway: section of the configuration file.
type gatewayConfig struct {
	LAN          string `yaml:"lan"`
	WAN          string `yaml:"wan"`
	Policy       string `yaml:"policy"`
	Workers      int    `yaml:"workers"`
	Metrics      string `yaml:"metrics"`
	ConntrackMax int    `yaml:"conntrack_max"`
	// Fragments configures reassembly, which comes before connection
	// tracking and the policy.
	Fragments fragmentsConfig `yaml:"fragments"`
}

// fragmentsConfig is the gateway: fragments: section.
type fragmentsConfig struct {
	Timeout               string `yaml:"timeout"`                  // 30s: how long a datagram may take to complete
	MaxMemory             string `yaml:"max_memory"`               // 64MiB: fragments held in total
	MaxPerSource          string `yaml:"max_per_source"`           // 2MiB: fragments held for one source address
	MaxDatagramsPerSource int    `yaml:"max_datagrams_per_source"` // 256: datagrams under reassembly for one source
	MaxFragments          int    `yaml:"max_fragments"`            // 128: fragments of one datagram
	Overlaps              string `yaml:"overlaps"`                 // drop (RFC 5722), or the target policy to reassemble by
}

// defrag turns the section into the defragmenter's configuration; zero
// values take its defaults.
func (c fragmentsConfig) defrag() (defrag.Config, error) {
	var d defrag.Config
	if c.Timeout != "" {
		t, err := time.ParseDuration(c.Timeout)
		if err != nil || t <= 0 {
			return d, fmt.Errorf("gateway.fragments.timeout %q: want a duration such as 30s", c.Timeout)
		}
		d.Timeout = t
	}
	for _, s := range []struct {
		key, val string
		dst      *int
	}{{"max_memory", c.MaxMemory, &d.MaxMemory}, {"max_per_source", c.MaxPerSource, &d.MaxPerSource}} {
		if s.val == "" {
			continue
		}
		n, err := parseSize(s.val)
		if err != nil {
			return d, fmt.Errorf("gateway.fragments.%s: %w", s.key, err)
		}
		*s.dst = int(n)
	}
	if c.MaxDatagramsPerSource < 0 || c.MaxFragments < 0 {
		return d, fmt.Errorf("gateway.fragments: max_datagrams_per_source and max_fragments must not be negative")
	}
	d.MaxDatagramsPerSource, d.MaxFragments = c.MaxDatagramsPerSource, c.MaxFragments
	if c.Overlaps != "" {
		p, err := defrag.ParsePolicy(c.Overlaps)
		if err != nil {
			return d, fmt.Errorf("gateway.fragments.overlaps: %w", err)
		}
		d.Policies = defrag.NewHostPolicies(p)
	}
	return d, nil
}

func init() { subcommands = append(subcommands, newGatewayCommand) }

func newGatewayCommand(a *app) *cobra.Command {
	var flags gatewayConfig
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
			if fl.Changed("lan") {
				cfg.LAN = flags.LAN
			}
			if fl.Changed("wan") {
				cfg.WAN = flags.WAN
			}
			if fl.Changed("policy") {
				cfg.Policy = flags.Policy
			}
			if fl.Changed("workers") {
				cfg.Workers = flags.Workers
			}
			if fl.Changed("metrics") {
				cfg.Metrics = flags.Metrics
			}
			if fl.Changed("conntrack-max") {
				cfg.ConntrackMax = flags.ConntrackMax
			}
			return runGateway(cmd.Context(), a, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&flags.LAN, "lan", "lan", "inside interface")
	f.StringVar(&flags.WAN, "wan", "wan", "outside interface")
	f.StringVar(&flags.Policy, "policy", "", "policy file (required, here or as gateway.policy in --config)")
	f.IntVar(&flags.Workers, "workers", 0, "worker goroutines and fanout queues per interface (default: one per core)")
	f.StringVar(&flags.Metrics, "metrics", "", "ADDRESS:PORT to serve Prometheus metrics (/metrics) and profiles (/debug/pprof/) on")
	f.IntVar(&flags.ConntrackMax, "conntrack-max", 262144, "maximum tracked connections")
	return cmd
}

func runGateway(ctx context.Context, a *app, cfg gatewayConfig) error {
	if cfg.Policy == "" {
		return usageErrorf("no policy: give --policy FILE (or gateway.policy in --config)")
	}
	if cfg.LAN == "" {
		cfg.LAN = "lan"
	}
	if cfg.WAN == "" {
		cfg.WAN = "wan"
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	pol, err := loadPolicy(cfg.Policy)
	if err != nil {
		return err
	}
	frags, err := cfg.Fragments.defrag()
	if err != nil {
		return &usageError{err}
	}
	e, err := gateway.New(pol, gateway.Config{Logger: a.log, Conntrack: conntrack.Config{MaxEntries: cfg.ConntrackMax}, Fragments: frags})
	if err != nil {
		return &usageError{err}
	}
	br, err := datapath.OpenBridge(datapath.BridgeConfig{LAN: cfg.LAN, WAN: cfg.WAN, Workers: cfg.Workers})
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
	if err := serveMetrics(ctx, cfg.Metrics, reg, a.log); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	go reloadOnHUP(ctx, func() {
		p, err := loadPolicy(cfg.Policy)
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
	a.log.Info("gateway running", "lan", cfg.LAN, "wan", cfg.WAN, "workers", cfg.Workers, "policy", cfg.Policy, "rules", len(pol.Rules))
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
