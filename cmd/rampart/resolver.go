package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rampart-fw/rampart/config"
	"github.com/rampart-fw/rampart/dns/cache"
	"github.com/rampart-fw/rampart/dns/dnssec"
	"github.com/rampart-fw/rampart/dns/resolver"
	"github.com/rampart-fw/rampart/dns/server"
	"github.com/rampart-fw/rampart/dns/validate"
	"github.com/spf13/cobra"
)

// resolverConfig is the resolver: section of the configuration file.
type resolverConfig struct {
	Listen      []config.AddrPort `yaml:"listen"`
	Allow       []config.Prefix   `yaml:"allow"`
	RootHints   string            `yaml:"root_hints"`
	Metrics     string            `yaml:"metrics"`
	Control     string            `yaml:"control"`
	DNSSEC      string            `yaml:"dnssec"`
	TrustAnchor string            `yaml:"trust_anchor"`
	CacheSize   string            `yaml:"cache_size"`
	MinTTL      uint32            `yaml:"min_ttl"`
	MaxTTL      uint32            `yaml:"max_ttl"`
	ServeStale  bool              `yaml:"serve_stale"`
	QNAMEMin    *bool             `yaml:"qname_minimisation"`
	// labWeaken is set only by the hidden --lab-weaken flag, never from a
	// configuration file.
	labWeaken bool
	// labWeakenBailiwick is set only by the hidden --lab-weaken-bailiwick
	// flag: the resolver caches out-of-bailiwick records.
	labWeakenBailiwick bool
	// UpstreamPort is the port of authoritative servers (53); only tests
	// and labs that run them elsewhere change it.
	UpstreamPort uint16 `yaml:"upstream_port"`
}

func init() { subcommands = append(subcommands, newResolverCommand) }

// The lab's weakened resolver: --lab-weaken works only when the lab has set
// LabWeakenEnv to LabWeakenConsent in the resolver's environment, so that no
// configuration file or stray flag can make a production resolver
// poisonable.
const (
	LabWeakenEnv     = "RAMPART_LAB_WEAKEN"
	LabWeakenConsent = "yes-i-want-a-poisonable-resolver"
	LabWeakPort      = 33333
)

func newResolverCommand(a *app) *cobra.Command {
	var (
		listen, allow                     []string
		rootHints, metrics, control       string
		dnssecMode, trustAnchor, cacheStr string
		noQmin, serveStale                bool
		upstreamPort                      uint16
		labWeaken, labWeakenBailiwick     bool
	)
	cmd := &cobra.Command{
		Use:   "resolver",
		Short: "Run the caching recursive DNS resolver",
		Long: `Run rampart's caching recursive DNS resolver. It resolves iteratively from the
root hints (IANA's by default) and never forwards: priming, referrals, QNAME
minimisation (RFC 9156), glueless delegations, CNAME/DNAME chains, EDNS0 with
a 1232-byte buffer and TCP on truncation, server selection by measured RTT,
and a budget of time and upstream queries per client query. Answers are cached
by TTL, negative answers by the SOA minimum (RFC 2308), under a memory bound;
cached answers are served from wire form without re-encoding, popular ones
are refreshed before they expire, and --serve-stale answers with expired data
when upstream fails (RFC 8767).

Answers are validated with DNSSEC (--dnssec on, the default: IANA's root KSKs
built in, or --trust-anchor FILE); bogus answers get SERVFAIL with an Extended
DNS Error (RFC 8914), and the AD bit marks validated ones. Against cache
poisoning: a random ID and source port for every upstream query, 0x20 case
randomisation, bailiwick and credibility rules, a near miss moves the query
to TCP and holds the name off UDP, DF on upstream UDP, DNS cookies as client
and server, and limits on the work one client query can cause.

Only clients in the allowed networks are answered (--allow; by default
loopback and this machine's own private networks); everyone else gets REFUSED,
so the resolver is never open. A local control socket serves
'rampart resolver stats' and 'rampart resolver flush NAME'.

Example:
  rampart resolver --listen 127.0.0.1:53 --metrics 127.0.0.1:9153`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := a.cfg.Resolver
			fl := cmd.Flags()
			if fl.Changed("listen") {
				cfg.Listen = nil
				for _, l := range listen {
					ap, err := netip.ParseAddrPort(l)
					if err != nil {
						return usageErrorf("--listen %q: want ADDRESS:PORT such as 127.0.0.1:53 or [::1]:53", l)
					}
					cfg.Listen = append(cfg.Listen, config.AddrPort{AddrPort: ap})
				}
			}
			if fl.Changed("allow") {
				cfg.Allow = nil
				for _, p := range allow {
					pfx, err := netip.ParsePrefix(p)
					if err != nil {
						return usageErrorf("--allow %q: want a prefix such as 10.0.0.0/8", p)
					}
					cfg.Allow = append(cfg.Allow, config.Prefix{Prefix: pfx})
				}
			}
			setString(fl.Changed("root-hints"), &cfg.RootHints, rootHints)
			setString(fl.Changed("metrics"), &cfg.Metrics, metrics)
			setString(fl.Changed("control"), &cfg.Control, control)
			setString(fl.Changed("dnssec"), &cfg.DNSSEC, dnssecMode)
			setString(fl.Changed("trust-anchor"), &cfg.TrustAnchor, trustAnchor)
			setString(fl.Changed("cache-size"), &cfg.CacheSize, cacheStr)
			if fl.Changed("no-qname-minimisation") {
				v := !noQmin
				cfg.QNAMEMin = &v
			}
			if fl.Changed("serve-stale") {
				cfg.ServeStale = serveStale
			}
			if fl.Changed("upstream-port") {
				cfg.UpstreamPort = upstreamPort
			}
			if labWeaken {
				if os.Getenv(LabWeakenEnv) != LabWeakenConsent {
					return usageErrorf("--lab-weaken makes the resolver poisonable and is only for the lab's attack demonstrations; it is refused unless the lab sets %s", LabWeakenEnv)
				}
				cfg.labWeaken = true
			}
			if labWeakenBailiwick {
				if os.Getenv(LabWeakenEnv) != LabWeakenConsent {
					return usageErrorf("--lab-weaken-bailiwick makes the resolver poisonable and is only for the lab's attack demonstrations; it is refused unless the lab sets %s", LabWeakenEnv)
				}
				cfg.labWeakenBailiwick = true
			}
			return runResolver(cmd.Context(), a, cfg)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&listen, "listen", nil, "ADDRESS:PORT to serve on, UDP and TCP; repeatable (default 127.0.0.1:53 and [::1]:53)")
	f.StringArrayVar(&allow, "allow", nil, "client prefix allowed to query; repeatable (default: loopback and this machine's private networks)")
	f.StringVar(&rootHints, "root-hints", "", "root hints file in named.root format (default: IANA's, built in)")
	f.StringVar(&metrics, "metrics", "", "ADDRESS:PORT to serve Prometheus metrics (/metrics) and profiles (/debug/pprof/) on")
	// Persistent, so that 'rampart resolver stats --control PATH' names the
	// socket of the resolver it talks to, as unbound-control's -s does.
	cmd.PersistentFlags().StringVar(&control, "control", server.DefaultControlPath, "control socket path (mode 0600)")
	f.StringVar(&dnssecMode, "dnssec", "on", "DNSSEC validation: on or off")
	f.StringVar(&trustAnchor, "trust-anchor", "", "trust anchor file (DS or DNSKEY records; default: IANA's root KSKs, built in)")
	f.StringVar(&cacheStr, "cache-size", "64MiB", "memory bound of the cache (e.g. 64MiB, 1GiB)")
	f.BoolVar(&noQmin, "no-qname-minimisation", false, "send the full query name to every server (RFC 9156 off)")
	f.BoolVar(&serveStale, "serve-stale", false, "answer with expired data when upstream fails (RFC 8767)")
	f.Uint16Var(&upstreamPort, "upstream-port", 53, "port of the authoritative servers (labs and tests only)")
	_ = f.MarkHidden("upstream-port")
	f.BoolVar(&labWeaken, "lab-weaken", false, "lab only: a fixed source port, no 0x20, no cookies, no spoof detection")
	_ = f.MarkHidden("lab-weaken")
	f.BoolVar(&labWeakenBailiwick, "lab-weaken-bailiwick", false, "lab only: cache out-of-bailiwick records, as resolvers did before 1997")
	_ = f.MarkHidden("lab-weaken-bailiwick")

	cmd.AddCommand(&cobra.Command{
		Use:   "stats",
		Short: "Print the counters of a running resolver (over its control socket)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := server.ControlRequest(controlPath(a, cmd), "stats")
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), out)
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "flush NAME",
		Short: "Remove NAME and everything below it from a running resolver's cache",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := server.ControlRequest(controlPath(a, cmd), "flush", args[0])
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), out)
			return nil
		},
	})
	cmd.AddCommand(newReplayCommand(a))
	return cmd
}

func controlPath(a *app, cmd *cobra.Command) string {
	if f := cmd.Flags().Lookup("control"); f != nil && f.Changed {
		return f.Value.String()
	}
	if a.cfg.Resolver.Control != "" {
		return a.cfg.Resolver.Control
	}
	return server.DefaultControlPath
}

func setString(changed bool, dst *string, v string) {
	if changed {
		*dst = v
	}
}

// parseSize reads sizes such as 64MiB, 512KiB, 1GiB or a number of bytes.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("invalid size %q: want a number with an optional unit (KiB, MiB, GiB)", s)
	}
	return n * mult, nil
}

func runResolver(ctx context.Context, a *app, cfg resolverConfig) error {
	var anchors *dnssec.Anchors
	switch strings.ToLower(cfg.DNSSEC) {
	case "", "on":
		anchors = dnssec.RootAnchors()
		if cfg.TrustAnchor != "" {
			var err error
			if anchors, err = dnssec.LoadAnchors(cfg.TrustAnchor); err != nil {
				return &usageError{err}
			}
		}
	case "off":
		if cfg.TrustAnchor != "" {
			return usageErrorf("--trust-anchor needs --dnssec on")
		}
	default:
		return usageErrorf("--dnssec %q: use on or off", cfg.DNSSEC)
	}
	if len(cfg.Listen) == 0 {
		cfg.Listen = []config.AddrPort{{AddrPort: netip.MustParseAddrPort("127.0.0.1:53")}, {AddrPort: netip.MustParseAddrPort("[::1]:53")}}
	}
	size := int64(64 << 20)
	if cfg.CacheSize != "" {
		var err error
		if size, err = parseSize(cfg.CacheSize); err != nil {
			return usageErrorf("cache size: %v", err)
		}
	}
	hints := resolver.DefaultRootHints()
	if cfg.RootHints != "" {
		f, err := os.Open(cfg.RootHints)
		if err != nil {
			return usageErrorf("root hints: %v", err)
		}
		hints, err = resolver.ParseRootHints(cfg.RootHints, f)
		f.Close()
		if err != nil {
			return &usageError{err}
		}
	}
	var acl *server.ACL
	if len(cfg.Allow) > 0 {
		var ps []netip.Prefix
		for _, p := range cfg.Allow {
			ps = append(ps, p.Prefix)
		}
		acl = server.NewACL(ps)
	}
	c, err := cache.New(cache.Config{MaxBytes: size, MinTTL: time.Duration(cfg.MinTTL) * time.Second,
		MaxTTL: time.Duration(cfg.MaxTTL) * time.Second, ServeStale: cfg.ServeStale})
	if err != nil {
		return usageErrorf("cache: %v", err)
	}
	qmin := cfg.QNAMEMin == nil || *cfg.QNAMEMin
	rcfg := resolver.Config{RootHints: hints, Cache: c.ResolverView(), Logger: a.log,
		QNAMEMinimisation: qmin, Port: cfg.UpstreamPort, MaxTTL: cfg.MaxTTL}
	if cfg.labWeaken {
		// The resolver of 2008: one source port, query names as given, no
		// cookies, and no alarm at wrong-ID answers. The lab runs it to show
		// that its Kaminsky attack works, before it fails against the real
		// configuration.
		rcfg.Transport = &resolver.NetTransport{LabWeakness: &resolver.Weakness{FixedPort: LabWeakPort, IgnoreNearMisses: true}}
		rcfg.Disable0x20, rcfg.DisableCookies = true, true
		a.log.Warn("LAB WEAKENED RESOLVER: fixed source port, no 0x20, no cookies, no spoof detection: it can be poisoned", "port", LabWeakPort)
	}
	if cfg.labWeakenBailiwick {
		// The resolver of 1996: whatever a server puts in its response is
		// believed, whichever zone it was asked as. The lab runs it to show
		// that its bailiwick attack works.
		rcfg.LabAcceptOutOfBailiwick = true
		a.log.Warn("LAB WEAKENED RESOLVER: no bailiwick check, out-of-bailiwick records are cached: it can be poisoned")
	}
	rcfg.DNSSECOK = anchors != nil
	res, err := resolver.New(rcfg)
	if err != nil {
		return usageErrorf("resolver: %v", err)
	}
	reg := newRegistry()
	metrics := server.NewMetrics(reg)
	reg.MustRegister(c.Collector(), newStatsCollector("rampart_dns_resolver", "resolver", func() any { return res.Stats() }))
	var listen []netip.AddrPort
	for _, l := range cfg.Listen {
		listen = append(listen, l.AddrPort)
	}
	var answerer server.Resolver = res
	if anchors != nil {
		val := validate.New(res, dnssec.New(dnssec.Config{Anchors: anchors}), validate.Config{Logger: a.log})
		reg.MustRegister(val.Collector())
		answerer = val
	}
	srv, err := server.New(server.Config{Listen: listen, ACL: acl, Cache: c.ServerView(), Resolver: answerer, Logger: a.log, Metrics: metrics})
	if err != nil {
		return usageErrorf("server: %v", err)
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	if err := serveMetrics(ctx, cfg.Metrics, reg, a.log); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	ctlPath := cfg.Control
	if ctlPath == "" {
		ctlPath = server.DefaultControlPath
	}
	ctl := &server.Control{Path: ctlPath, Log: a.log, Commands: map[string]server.ControlFunc{
		"stats": func([]string) (string, error) {
			return formatStats(map[string]any{"resolver": res.Stats(), "cache": c.Stats()}), nil
		},
		"flush": func(args []string) (string, error) {
			if len(args) != 1 {
				return "", fmt.Errorf("usage: flush NAME")
			}
			n, err := c.Flush(args[0])
			if err != nil {
				return "", err
			}
			res.Forget(args[0])
			return fmt.Sprintf("ok: removed %d entries at or below %s\n", n, dns.Fqdn(args[0])), nil
		},
	}}
	ln, err := ctl.Listen()
	if err != nil {
		return err
	}
	go ctl.Serve(ctx, ln)
	memLimit := server.TuneMemory(size)
	a.log.Info("resolver started", "dnssec", anchors != nil, "listen", fmt.Sprint(srv.Addrs()), "root_hints", len(hints), "cache_bytes", size, "memory_limit", memLimit, "qname_minimisation", qmin, "control", ctlPath)
	return srv.Serve(ctx)
}

// formatStats prints the exported numeric fields of each named struct as
// "group.field=value" lines, sorted, like unbound-control stats.
func formatStats(groups map[string]any) string {
	var lines []string
	for g, v := range groups {
		rv := reflect.ValueOf(v)
		rt := rv.Type()
		for i := 0; i < rt.NumField(); i++ {
			f := rv.Field(i)
			if !rt.Field(i).IsExported() {
				continue
			}
			switch f.Kind() {
			case reflect.Int, reflect.Int64, reflect.Uint64, reflect.Uint32, reflect.Int32:
				lines = append(lines, fmt.Sprintf("%s.%s=%v", g, snake(rt.Field(i).Name), f.Interface()))
			}
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

func snake(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if unicode.IsUpper(r) {
			if i > 0 && (unicode.IsLower(rs[i-1]) || (i+1 < len(rs) && unicode.IsLower(rs[i+1]))) {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// statsCollector exposes a Stats struct's numeric fields as metrics:
// uint64 fields are counters (name_total), int fields gauges.
type statsCollector struct {
	prefix, help string
	get          func() any
}

func newStatsCollector(prefix, help string, get func() any) prometheus.Collector {
	return &statsCollector{prefix: prefix, help: help, get: get}
}

func (s *statsCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(s, ch) }

func (s *statsCollector) Collect(ch chan<- prometheus.Metric) {
	rv := reflect.ValueOf(s.get())
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		f := rv.Field(i)
		name := s.prefix + "_" + snake(rt.Field(i).Name)
		switch f.Kind() {
		case reflect.Uint64:
			ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name+"_total", "The "+s.help+"'s "+snake(rt.Field(i).Name)+" counter.", nil, nil), prometheus.CounterValue, float64(f.Uint()))
		case reflect.Int, reflect.Int64:
			ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name, "The "+s.help+"'s "+snake(rt.Field(i).Name)+".", nil, nil), prometheus.GaugeValue, float64(f.Int()))
		}
	}
}
