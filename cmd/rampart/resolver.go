package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"sort"
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
	"github.com/rampart-fw/rampart/srcpos"
	"github.com/spf13/cobra"
)

// resolverConfig is the resolver: section of the configuration file.
type resolverConfig struct {
	Listen      []config.AddrPort    `yaml:"listen"`
	Allow       []config.Prefix      `yaml:"allow"`
	RootHints   config.Value[string] `yaml:"root_hints"`
	Metrics     config.Value[string] `yaml:"metrics"`
	Control     config.Value[string] `yaml:"control"`
	DNSSEC      config.Value[string] `yaml:"dnssec"`
	TrustAnchor config.Value[string] `yaml:"trust_anchor"`
	CacheSize   config.Value[string] `yaml:"cache_size"`
	MinTTL      config.Value[uint32] `yaml:"min_ttl"`
	MaxTTL      config.Value[uint32] `yaml:"max_ttl"`
	ServeStale  config.Value[bool]   `yaml:"serve_stale"`
	QNAMEMin    config.Value[bool]   `yaml:"qname_minimisation"`
	// Limits on what one client may hold at once (Unbound's names where
	// it has them; see server.Config).
	WaitLimit        config.Value[int] `yaml:"wait_limit"`
	WaitLimitCookie  config.Value[int] `yaml:"wait_limit_cookie"`
	DiscardTimeout   config.Value[int] `yaml:"discard_timeout"` // milliseconds
	TCPPerSource     config.Value[int] `yaml:"tcp_per_source"`
	TCPIdleTimeout   config.Value[int] `yaml:"tcp_idle_timeout"` // seconds
	ClientIPv4Prefix config.Value[int] `yaml:"client_ipv4_prefix_length"`
	ClientIPv6Prefix config.Value[int] `yaml:"client_ipv6_prefix_length"`
	// RRL is response rate limiting (BIND's rate-limit).
	RRL rrlConfig `yaml:"rrl"`
	// FetchesPerZone bounds the upstream queries in flight to one zone's
	// servers (BIND's fetches-per-zone); 0 is no bound.
	FetchesPerZone config.Value[int] `yaml:"fetches_per_zone"`
	// labWeaken is set only by the hidden --lab-weaken flag, never from a
	// configuration file.
	labWeaken bool
	// labWeakenBailiwick is set only by the hidden --lab-weaken-bailiwick
	// flag: the resolver caches out-of-bailiwick records.
	labWeakenBailiwick bool
	// UpstreamPort is the port of authoritative servers (53); only tests
	// and labs that run them elsewhere change it.
	UpstreamPort config.Value[uint16] `yaml:"upstream_port"`
}

// rrlConfig is the resolver.rrl section: BIND's rate-limit settings of
// the same names.
type rrlConfig struct {
	ResponsesPerSecond config.Value[int] `yaml:"responses_per_second"`
	Slip               config.Value[int] `yaml:"slip"`
	IPv4PrefixLength   config.Value[int] `yaml:"ipv4_prefix_length"`
	IPv6PrefixLength   config.Value[int] `yaml:"ipv6_prefix_length"`
}

// check checks the section and returns it as server.RRLConfig fields. In
// the file slip 0 means never slip, as in BIND; in server.RRLConfig zero
// is the default and a negative value never.
func (c *rrlConfig) check(errs *srcpos.List) server.RRLConfig {
	var r server.RRLConfig
	if n := c.ResponsesPerSecond.V; n < 0 || n > server.MaxRRLRate {
		errs.Add(c.ResponsesPerSecond.Errorf("want 0 (no rate limiting) to %d responses a second, not %d", server.MaxRRLRate, n))
	} else {
		r.ResponsesPerSecond = n
	}
	switch n := c.Slip.Or(2); {
	case n < 0 || n > server.MaxRRLSlip:
		errs.Add(c.Slip.Errorf("want 0 (drop every limited response) to %d, not %d", server.MaxRRLSlip, n))
	case n == 0:
		r.Slip = -1
	default:
		r.Slip = n
	}
	r.IPv4PrefixLength = prefixLength(errs, c.IPv4PrefixLength, 24, 32)
	r.IPv6PrefixLength = prefixLength(errs, c.IPv6PrefixLength, 56, 128)
	return r
}

// prefixLength checks a prefix-length key: def when it is unset, else 1
// to bits; 0 (with the error added) when out of range.
func prefixLength(errs *srcpos.List, v config.Value[int], def, bits int) int {
	b := v.Or(def)
	if b < 1 || b > bits {
		errs.Add(v.Errorf("want a prefix length from 1 to %d, not %d", bits, b))
		return 0
	}
	return b
}

// resolverSetup is a checked resolverConfig with its defaults filled in:
// what runResolver starts from.
type resolverSetup struct {
	listen       []netip.AddrPort
	acl          *server.ACL // nil: the server's default
	hints        []dns.RR
	anchors      *dnssec.Anchors // nil: DNSSEC off
	cacheBytes   int64
	cache        *cache.Cache
	metrics      string
	control      string
	qmin         bool
	maxTTL       uint32
	upstreamPort uint16
	labWeaken    bool
	labBailiwick bool
	// limits are the server's per-client limits and response rate
	// limiting, in server.Config's fields (the rest of it unset).
	limits server.Config
	// fetchesPerZone is resolver.Config.FetchesPerZone.
	fetchesPerZone int
}

const (
	// maxTTLLimit is RFC 2181's bound on a TTL.
	maxTTLLimit = 1<<31 - 1
	// minCacheBytes is the smallest cache dns/cache accepts: one shard
	// that holds a full-sized UDP answer.
	minCacheBytes = 4 << 10
)

// check makes every check of the resolver's start-up that needs no socket
// (the trust anchors and root hints are read, the cache is made) and
// reports every problem, each naming its key and place or its flag.
func (c *resolverConfig) check() (*resolverSetup, error) {
	var errs srcpos.List
	s := &resolverSetup{
		metrics:      c.Metrics.V,
		control:      c.Control.Or(server.DefaultControlPath),
		qmin:         c.QNAMEMin.Or(true),
		upstreamPort: c.UpstreamPort.V,
		labWeaken:    c.labWeaken,
		labBailiwick: c.labWeakenBailiwick,
	}
	for _, l := range c.Listen {
		s.listen = append(s.listen, l.AddrPort)
	}
	if len(s.listen) == 0 {
		s.listen = []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:53"), netip.MustParseAddrPort("[::1]:53")}
	}
	if len(c.Allow) > 0 {
		var ps []netip.Prefix
		for _, p := range c.Allow {
			ps = append(ps, p.Prefix)
		}
		s.acl = server.NewACL(ps)
	}
	if c.Metrics.V != "" {
		checkListenAddr(&errs, c.Metrics, "127.0.0.1:9153")
	}
	if c.Control.IsSet() && c.Control.V == "" {
		errs.Add(c.Control.Errorf("want the path of a socket, not an empty string"))
	}
	switch strings.ToLower(c.DNSSEC.Or("on")) {
	case "on":
		s.anchors = dnssec.RootAnchors()
		if c.TrustAnchor.V != "" && checkFile(&errs, c.TrustAnchor) {
			a, err := dnssec.LoadAnchors(c.TrustAnchor.V)
			if err != nil {
				fileError(&errs, c.TrustAnchor, err)
			}
			s.anchors = a
		}
	case "off":
		if c.TrustAnchor.V != "" {
			errs.Add(c.TrustAnchor.Errorf("a trust anchor needs DNSSEC on, and %s turns it off", c.DNSSEC.Src))
		}
	default:
		errs.Add(c.DNSSEC.Errorf("use on or off, not %q", c.DNSSEC.V))
	}
	if c.RootHints.V == "" {
		s.hints = resolver.DefaultRootHints()
	} else if checkFile(&errs, c.RootHints) {
		f, err := os.Open(c.RootHints.V)
		if err == nil {
			s.hints, err = resolver.ParseRootHints(c.RootHints.V, f)
			f.Close()
		}
		if err != nil {
			fileError(&errs, c.RootHints, err)
		}
	}
	s.cacheBytes = 64 << 20
	sizeOK := true
	if c.CacheSize.IsSet() {
		var err error
		if s.cacheBytes, err = config.ParseSize(c.CacheSize.V); err != nil {
			errs.Add(c.CacheSize.Errorf("%w", err))
			sizeOK = false
		} else if s.cacheBytes < minCacheBytes {
			errs.Add(c.CacheSize.Errorf("%s is less than the %dKiB a cache needs (room for a full-sized answer)", c.CacheSize.V, minCacheBytes>>10))
			sizeOK = false
		}
	}
	s.maxTTL = c.MaxTTL.V
	maxTTL := c.MaxTTL.Or(uint32(cache.DefaultMaxTTL / time.Second))
	ttlOK := true
	if maxTTL > maxTTLLimit {
		errs.Add(c.MaxTTL.Errorf("%d seconds is more than the %d a TTL can be (RFC 2181)", maxTTL, maxTTLLimit))
		ttlOK = false
	}
	if c.MinTTL.V > maxTTL {
		errs.Add(c.MinTTL.Errorf("%d seconds is more than max_ttl (%d)", c.MinTTL.V, maxTTL))
		ttlOK = false
	}
	s.limits = c.limits(&errs)
	s.limits.RRL = c.RRL.check(&errs)
	if n := c.FetchesPerZone.V; n < 0 || n > maxWaitLimit {
		errs.Add(c.FetchesPerZone.Errorf("want 0 (no bound) to %d queries, not %d", maxWaitLimit, n))
	} else {
		s.fetchesPerZone = n
	}
	if sizeOK && ttlOK {
		var err error
		s.cache, err = cache.New(cache.Config{MaxBytes: s.cacheBytes, MinTTL: time.Duration(c.MinTTL.V) * time.Second,
			MaxTTL: time.Duration(c.MaxTTL.V) * time.Second, ServeStale: c.ServeStale.V})
		if err != nil {
			errs.Add(c.CacheSize.Errorf("%w", err))
		}
	}
	if len(errs) > 0 {
		errs.Sort()
		return nil, errs
	}
	return s, nil
}

// Bounds of the per-client limits: beyond them a value is a typo.
const (
	maxWaitLimit      = 1 << 20
	maxDiscardTimeout = 3600 * 1000 // milliseconds
	maxTCPIdleTimeout = 3600        // seconds
)

// limits checks the per-client limits and returns them as server.Config
// fields. In the file 0 turns a limit off, as in Unbound; in
// server.Config zero is the default and a negative value turns it off.
func (c *resolverConfig) limits(errs *srcpos.List) server.Config {
	var l server.Config
	count := func(v config.Value[int], def, hi int, what string) int {
		switch n := v.Or(def); {
		case n < 0 || n > hi:
			errs.Add(v.Errorf("want 0 (no limit) to %d %s, not %d", hi, what, n))
		case n == 0:
			return -1
		default:
			return n
		}
		return 0
	}
	l.WaitLimit = count(c.WaitLimit, 1000, maxWaitLimit, "queries")
	l.WaitLimitCookie = count(c.WaitLimitCookie, 10000, maxWaitLimit, "queries")
	l.TCPPerSource = count(c.TCPPerSource, 64, maxWaitLimit, "connections")
	if ms := c.DiscardTimeout.Or(1900); ms < 0 || ms > maxDiscardTimeout {
		errs.Add(c.DiscardTimeout.Errorf("want 0 (never discard) to %d milliseconds, not %d", maxDiscardTimeout, ms))
	} else if ms == 0 {
		l.DiscardTimeout = -1
	} else {
		l.DiscardTimeout = time.Duration(ms) * time.Millisecond
	}
	if sec := c.TCPIdleTimeout.Or(10); sec < 1 || sec > maxTCPIdleTimeout {
		errs.Add(c.TCPIdleTimeout.Errorf("want 1 to %d seconds, not %d", maxTCPIdleTimeout, sec))
	} else {
		l.TCPIdle = time.Duration(sec) * time.Second
	}
	l.ClientPrefix4 = prefixLength(errs, c.ClientIPv4Prefix, 24, 32)
	l.ClientPrefix6 = prefixLength(errs, c.ClientIPv6Prefix, 56, 128)
	return l
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
so the resolver is never open. Against reflection attacks that spoof a
client's address, resolver.rrl in --config limits the rate of UDP answers per
client network and answer as BIND's RRL does (truncating every slip-th
limited one, so real clients retry over TCP), and resolver.fetches_per_zone
bounds the upstream queries in flight to one zone. A local control socket serves
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
			override(fl, "root-hints", &cfg.RootHints, rootHints)
			override(fl, "metrics", &cfg.Metrics, metrics)
			override(fl, "control", &cfg.Control, control)
			override(fl, "dnssec", &cfg.DNSSEC, dnssecMode)
			override(fl, "trust-anchor", &cfg.TrustAnchor, trustAnchor)
			override(fl, "cache-size", &cfg.CacheSize, cacheStr)
			override(fl, "no-qname-minimisation", &cfg.QNAMEMin, !noQmin)
			override(fl, "serve-stale", &cfg.ServeStale, serveStale)
			override(fl, "upstream-port", &cfg.UpstreamPort, upstreamPort)
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
			setup, err := cfg.check()
			if err != nil {
				return err
			}
			return runResolver(cmd.Context(), a, setup)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&listen, "listen", nil, "ADDRESS:PORT to serve on, UDP and TCP; repeatable (default 127.0.0.1:53 and [::1]:53)")
	f.StringArrayVar(&allow, "allow", nil, "client prefix allowed to query; repeatable (default: loopback and this machine's private networks)")
	f.StringVar(&rootHints, "root-hints", "", "root hints file in named.root format (default: IANA's, built in)")
	f.StringVar(&metrics, "metrics", "", "ADDRESS:PORT to serve Prometheus metrics (/metrics) and profiles (/debug/pprof/) on")
	// stats and flush have a --control of their own (controlFlag), shown
	// in their help.
	f.StringVar(&control, "control", server.DefaultControlPath, "control socket path (mode 0600)")
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

	cmd.AddCommand(newControlCommand(a, &cobra.Command{
		Use:   "stats",
		Short: "Print the counters of a running resolver (over its control socket)",
		Long: `Print the counters of a running resolver, asked over its control socket, as
"group.field=value" lines on standard output, like unbound-control stats.`,
		Args: noArgs,
	}, func(args []string) []string { return []string{"stats"} }))
	cmd.AddCommand(newControlCommand(a, &cobra.Command{
		Use:   "flush NAME",
		Short: "Remove NAME and everything below it from a running resolver's cache",
		Long: `Remove NAME and everything below it from a running resolver's cache (answers,
negative answers and the servers remembered for zones at or below NAME),
asked over its control socket.`,
		Args: exactArgs(1),
	}, func(args []string) []string { return []string{"flush", args[0]} }))
	cmd.AddCommand(newReplayCommand(a))
	return cmd
}

// newControlCommand completes cmd as a client of a running resolver's
// control socket: a --control flag of its own, the help saying how the
// socket is chosen, a first line on standard error naming it, and the
// request that request builds from the arguments.
func newControlCommand(a *app, cmd *cobra.Command, request func(args []string) []string) *cobra.Command {
	var control string
	cmd.Long += `

The socket is --control, else resolver.control from --config, else
` + server.DefaultControlPath + `. A first line on standard error names the socket
it talks to ("control socket: PATH"); standard output carries only the
resolver's answer. Exits 1 naming the socket when no resolver listens there.`
	cmd.Flags().StringVar(&control, "control", "", "control socket of the running resolver (default: resolver.control from --config, else "+server.DefaultControlPath+")")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		path := control
		switch {
		case cmd.Flags().Changed("control"):
		case a.cfg.Resolver.Control.V != "":
			path = a.cfg.Resolver.Control.V
		default:
			path = server.DefaultControlPath
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "control socket: %s\n", path)
		out, err := server.ControlRequest(path, request(args)...)
		if err != nil {
			return err
		}
		fmt.Fprint(cmd.OutOrStdout(), out)
		return nil
	}
	return cmd
}

func runResolver(ctx context.Context, a *app, setup *resolverSetup) error {
	anchors, c, qmin := setup.anchors, setup.cache, setup.qmin
	rcfg := resolver.Config{RootHints: setup.hints, Cache: c.ResolverView(), Logger: a.log,
		QNAMEMinimisation: qmin, Port: setup.upstreamPort, MaxTTL: setup.maxTTL, FetchesPerZone: setup.fetchesPerZone}
	if setup.labWeaken {
		// The resolver of 2008: one source port, query names as given, no
		// cookies, and no alarm at wrong-ID answers. The lab runs it to show
		// that its Kaminsky attack works, before it fails against the real
		// configuration.
		rcfg.Transport = &resolver.NetTransport{LabWeakness: &resolver.Weakness{FixedPort: LabWeakPort, IgnoreNearMisses: true}}
		rcfg.Disable0x20, rcfg.DisableCookies = true, true
		a.log.Warn("LAB WEAKENED RESOLVER: fixed source port, no 0x20, no cookies, no spoof detection: it can be poisoned", "port", LabWeakPort)
	}
	if setup.labBailiwick {
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
	var answerer server.Resolver = res
	if anchors != nil {
		val := validate.New(res, dnssec.New(dnssec.Config{Anchors: anchors}), validate.Config{Logger: a.log})
		reg.MustRegister(val.Collector())
		answerer = val
	}
	scfg := setup.limits
	scfg.Listen, scfg.ACL, scfg.Cache, scfg.Resolver, scfg.Logger, scfg.Metrics = setup.listen, setup.acl, c.ServerView(), answerer, a.log, metrics
	srv, err := server.New(scfg)
	if err != nil {
		return usageErrorf("server: %v", err)
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	if err := serveMetrics(ctx, setup.metrics, reg, a.log); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	ctlPath := setup.control
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
	memLimit := server.TuneMemory(setup.cacheBytes)
	a.log.Info("resolver started", "dnssec", anchors != nil, "listen", fmt.Sprint(srv.Addrs()), "root_hints", len(setup.hints), "cache_bytes", setup.cacheBytes, "memory_limit", memLimit, "qname_minimisation", qmin, "control", ctlPath)
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
