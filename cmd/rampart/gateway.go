package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
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
	"github.com/rampart-fw/rampart/ids"
	"github.com/rampart-fw/rampart/ids/defrag"
	"github.com/rampart-fw/rampart/ids/eve"
	"github.com/rampart-fw/rampart/router"
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
	// Control is the control socket (`rampart gateway nat` asks it).
	Control config.Value[string] `yaml:"control"`
	// NAT is address translation, in router mode.
	NAT natConfig `yaml:"nat"`
	// Mode is bridge (the default: a bump in the wire) or router (the
	// gateway owns the interfaces' addresses and routes between them).
	Mode config.Value[string] `yaml:"mode"`
	// Addresses and Routes are router mode's: the gateway's addresses on
	// each interface, with the length of the connected prefix, and the
	// static routes.
	Addresses addressesConfig `yaml:"addresses"`
	Routes    []routeConfig   `yaml:"routes"`
	// Guard holds the defences before connection tracking.
	Guard guardConfig `yaml:"guard"`
}

// addressesConfig is gateway.addresses: lists of ADDRESS/LENGTH.
type addressesConfig struct {
	LAN []config.Value[string] `yaml:"lan"`
	WAN []config.Value[string] `yaml:"wan"`
	At  config.Source          `yaml:"-"`
}

// routeConfig is one of gateway.routes: {to: PREFIX or default, via: ADDRESS}.
type routeConfig struct {
	To  config.Value[string] `yaml:"to"`
	Via config.Value[string] `yaml:"via"`
	At  config.Source        `yaml:"-"`
}

// Gateway modes.
const (
	modeBridge = "bridge"
	modeRouter = "router"
)

// routing checks router mode's keys and returns the router's
// configuration (without the interfaces' MACs and MTUs, which are read
// when it starts), or nil in bridge mode. Every problem goes into errs,
// at the key that causes it.
func (c *gatewayConfig) routing(errs *srcpos.List) *router.Config {
	mode := c.Mode.Or(modeBridge)
	if mode != modeBridge && mode != modeRouter {
		errs.Add(c.Mode.Errorf("want bridge or router, not %q", mode))
		return nil
	}
	if mode == modeBridge {
		for _, l := range [][]config.Value[string]{c.Addresses.LAN, c.Addresses.WAN} {
			if len(l) > 0 {
				errs.Add(l[0].Errorf("addresses are router mode's (gateway.mode: router); a bridge has none"))
			}
		}
		if len(c.Routes) > 0 {
			errs.Add(c.Routes[0].At.Errorf("routes are router mode's (gateway.mode: router); a bridge has none"))
		}
		return nil
	}
	// Values that do not parse are reported here and left out of what
	// router.Check sees; idx maps the indexes of its problems back to
	// the entries of the file.
	rc := &router.Config{}
	var idx routingIndex
	for i, sd := range []struct {
		vals []config.Value[string]
		ifc  *router.Interface
	}{{c.Addresses.LAN, &rc.LAN}, {c.Addresses.WAN, &rc.WAN}} {
		for j, v := range sd.vals {
			p, err := netip.ParsePrefix(v.V)
			if err != nil {
				errs.Add(v.Errorf("want an address with its prefix length, such as 10.10.0.1/24, not %q", v.V))
				continue
			}
			sd.ifc.Addrs = append(sd.ifc.Addrs, p)
			idx.addrs[i] = append(idx.addrs[i], j)
		}
	}
	for i, r := range c.Routes {
		var rt router.Route
		ok := true
		via, err := netip.ParseAddr(r.Via.V)
		switch {
		case !r.Via.IsSet():
			errs.Add(r.At.Errorf("a route needs a next hop (via)"))
			ok = false
		case err != nil:
			errs.Add(r.Via.Errorf("want an IP address, not %q", r.Via.V))
			ok = false
		default:
			rt.Via = via
		}
		switch {
		case !r.To.IsSet():
			errs.Add(r.At.Errorf("a route needs a destination (to: PREFIX, or default)"))
			ok = false
		case r.To.V == "default":
			// The default route of the next hop's family.
			rt.To = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
			if via.Is6() {
				rt.To = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
			}
		default:
			to, err := netip.ParsePrefix(r.To.V)
			if err != nil {
				errs.Add(r.To.Errorf("want a prefix such as 198.51.100.0/24, or default, not %q", r.To.V))
				ok = false
			}
			rt.To = to
		}
		if ok {
			rc.Routes = append(rc.Routes, rt)
			idx.routes = append(idx.routes, i)
		}
	}
	for _, p := range router.Check(rc) {
		errs.Add(c.where(p.Where, &idx).Errorf("%s", p.Msg))
	}
	return rc
}

// routingIndex maps the indexes of a router.Config that routing built to
// those of the file's entries: addresses by side, routes.
type routingIndex struct {
	addrs  [2][]int
	routes []int
}

func at(m []int, i int) int {
	if i < len(m) {
		return m[i]
	}
	return len(m)
}

// where is the key of the configuration that a router.Problem is about.
func (c *gatewayConfig) where(w router.Where, idx *routingIndex) config.Source {
	addrs := c.Addresses.LAN
	if w.Side == datapath.WAN {
		addrs = c.Addresses.WAN
	}
	switch w.Kind {
	case router.WhereAddr:
		if i := at(idx.addrs[w.Side&1], w.Index); i < len(addrs) {
			return addrs[i].Src
		}
	case router.WhereRouteTo:
		if i := at(idx.routes, w.Index); i < len(c.Routes) {
			return c.Routes[i].To.Src
		}
	case router.WhereRouteVia:
		if i := at(idx.routes, w.Index); i < len(c.Routes) {
			return c.Routes[i].Via.Src
		}
	}
	if c.Addresses.At.IsSet() {
		return c.Addresses.At
	}
	return c.Mode.Src
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
	Forward               config.Value[string]          `yaml:"forward"`
}

// check turns the section into the defragmenter's configuration and what
// is forwarded of a datagram that passes; keys left out take their
// defaults. Every problem goes into errs.
func (c *fragmentsConfig) check(errs *srcpos.List) (defrag.Config, gateway.FragmentForward) {
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
	var fwd gateway.FragmentForward
	if c.Forward.IsSet() {
		var err error
		if fwd, err = gateway.ParseFragmentForward(c.Forward.V); err != nil {
			errs.Add(c.Forward.Errorf("%v", err))
		}
	}
	return d, fwd
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
	fragFwd    gateway.FragmentForward
	control    string
	nat        *natSetup // nil when gateway.nat is not set
	// router is router mode's configuration, nil in bridge mode.
	router *router.Config
	guard  guard.Config
	// reversePath turns the guard's strict reverse-path check on, over
	// the router's table.
	reversePath bool
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
	s.fragments, s.fragFwd = c.Fragments.check(&errs)
	s.control = c.Control.Or(defaultGatewayControl)
	if c.NAT.isSet() {
		s.nat = &natSetup{cfg: c.NAT.check(&errs), src: c.NAT.Src}
	}
	s.router = c.routing(&errs)
	s.guard = c.Guard.check(&errs)
	switch rp := c.Guard.ReversePath; {
	case !rp.IsSet() || rp.V == "off":
	case rp.V != "strict":
		errs.Add(rp.Errorf("want off or strict, not %q", rp.V))
	case s.router == nil:
		errs.Add(rp.Errorf("strict reverse-path checking needs router mode (gateway.mode: router): a bridge has no routes"))
	default:
		s.reversePath = true
	}
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

// inlineIDS builds the IDS the gateway runs in line when the ids section
// names rules, and its EVE writer (appending to ids.eve) when it names
// one; nil, nil without rules. routed says the gateway is a router.
func inlineIDS(a *app, s *idsSetup, routed bool) (*ids.Engine, *eve.Writer, error) {
	if s == nil {
		return nil, nil, nil
	}
	for _, e := range s.set.Errors {
		a.log.Warn("ids rule skipped", "err", e.Error())
	}
	if len(s.set.Rules) == 0 {
		return nil, nil, usageErrorf("%s: no rule loaded", joinPaths(s.rulePaths))
	}
	cfg, err := s.engineConfig()
	if err != nil {
		return nil, nil, err
	}
	// A router takes a hop off everything it forwards, after the IDS.
	cfg.Routed = routed
	var ew *eve.Writer
	if s.eve != "" {
		f, err := os.OpenFile(s.eve, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return nil, nil, err
		}
		ew = eve.NewWriter(f)
		cfg.Output = ew
	} else {
		a.log.Warn("ids.eve is not set: alerts are counted, not written")
	}
	ie, err := ids.New(cfg)
	if err != nil {
		if ew != nil {
			ew.Close()
		}
		return nil, nil, err
	}
	a.log.Info("ids in line", "mode", cfg.Mode.String(), "rules", len(s.set.Rules), "skipped", len(s.set.Errors), "eve", s.eve)
	return ie, ew, nil
}

func init() { subcommands = append(subcommands, newGatewayCommand) }

func newGatewayCommand(a *app) *cobra.Command {
	var flags struct {
		LAN, WAN, Policy, Metrics, Checksums, Control, Mode string
		Workers, ConntrackMax                               int
	}
	var labNATUDPTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run the stateful firewall inline between a lan and a wan interface, as a bridge or a router",
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
their fragments go out unchanged, or with gateway.fragments.forward:
reassembled the datagram judged (whole, or cut again to fit the link, as
pf's scrub fragment reassemble). Overlapping fragments discard the datagram
(RFC 5722), and fragment memory is bounded per source and in total
(gateway.fragments in --config).

In router mode, gateway.nat translates (RFC 4787, 5382, 5508): connections
from the masquerade prefixes leave with the wan address, port forwards send
connections to a public port to an inside server, and inbound packets reach
a mapping only as gateway.nat.filtering allows; the translation lives in the
connection's entry and dies with it. 'rampart gateway nat' lists the
translated connections over the control socket (--control, mode 0600).
Router mode (--mode router, or gateway.mode: router with gateway.addresses
and gateway.routes in --config) makes the gateway a router between the two
interfaces instead: it owns their addresses (give the kernel none on them, and
disable IPv6 there), answers ARP, neighbour solicitations and pings for them,
resolves its next hops itself, and routes what the policy lets through with
the TTL decremented (time exceeded when it runs out; fragmentation needed or
packet too big over the MTU). Connection tracking and the policy judge routed
packets as they judge bridged ones.

With ids.rules in --config, the intrusion detection engine inspects every
packet the firewall forwards, after reassembly: with ids.mode prevent, drop
and reject rules block (counted as reason ids) and TCP streams are
normalised so that the inside host receives exactly the bytes inspected;
with detect it only alerts. Alerts and engine events are appended to ids.eve
as EVE JSON.

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
			override(fl, "control", &cfg.Control, flags.Control)
			override(fl, "mode", &cfg.Mode, flags.Mode)
			if cfg.Policy.V == "" {
				return usageErrorf("no policy: give --policy FILE (or gateway.policy in --config)")
			}
			setup, err := cfg.check()
			if err != nil {
				return err
			}
			if err := setup.labNATTimer(fl.Changed("lab-nat-udp-timeout"), labNATUDPTimeout); err != nil {
				return err
			}
			var idsSet *idsSetup
			if len(a.cfg.IDS.Rules) > 0 {
				if idsSet, err = a.cfg.IDS.check(); err != nil {
					return &usageError{err}
				}
			}
			return runGateway(cmd.Context(), a, setup, idsSet)
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
	f.StringVar(&flags.Control, "control", defaultGatewayControl, "control socket path (mode 0600)")
	f.DurationVar(&labNATUDPTimeout, "lab-nat-udp-timeout", 0, "lab only: a UDP mapping timer below RFC 4787's 2 minutes, for tests that watch a mapping expire")
	_ = f.MarkHidden("lab-nat-udp-timeout")
	cmd.AddCommand(newGatewayNATCommand(a))
	f.StringVar(&flags.Mode, "mode", modeBridge, "bridge (a bump in the wire) or router (gateway.addresses and gateway.routes in --config)")
	return cmd
}

func runGateway(ctx context.Context, a *app, cfg *gatewaySetup, idsSet *idsSetup) error {
	pol := cfg.policy
	ie, ew, err := inlineIDS(a, idsSet, cfg.router != nil)
	if err != nil {
		return err
	}
	if ew != nil {
		defer ew.Close()
	}
	// Only a router translates: it owns the wan addresses, which are the
	// translator's public addresses (several make a pool).
	var wan []netip.Addr
	if cfg.router != nil {
		for _, p := range cfg.router.WAN.Addrs {
			if p.Addr().Is4() { // IPv6 is routed, never translated
				wan = append(wan, p.Addr())
			}
		}
	}
	tr, err := cfg.translator(cfg.router != nil, wan)
	if err != nil {
		return &usageError{err}
	}
	var (
		rt *router.Router
		br *datapath.Bridge // set below, before any frame is handled
	)
	if cfg.router != nil {
		if rt, err = newRouter(cfg, func(s datapath.Side, frame []byte) error { return br.Port(s).Write(frame) }); err != nil {
			return err
		}
		if cfg.reversePath {
			cfg.guard.ReversePath = func(src netip.Addr) (datapath.Side, bool) {
				h, ok := rt.Route(src)
				if !ok || h.Local {
					return 0, false
				}
				return h.Out, true
			}
		}
	}
	gc := gateway.Config{Logger: a.log, Conntrack: cfg.conntrack, Checksums: cfg.checksums, Fragments: cfg.fragments, FragmentForward: cfg.fragFwd, Router: rt, NAT: tr, IDS: ie, Guard: cfg.guard}
	if rt == nil && cfg.fragFwd == gateway.ForwardReassembled {
		// A bridge cuts the reassembled datagrams too large for the
		// link they leave by (a router knows its MTUs).
		for s, name := range [2]string{datapath.LAN: cfg.lan, datapath.WAN: cfg.wan} {
			ifi, err := net.InterfaceByName(name)
			if err != nil {
				return fmt.Errorf("gateway: %s: %w", name, err)
			}
			gc.MTU[s] = ifi.MTU
		}
	}
	e, err := gateway.New(pol, gc)
	if err != nil {
		return &usageError{err}
	}
	if err := serveGatewayControl(ctx, a, cfg.control, e); err != nil {
		return err
	}
	br, err = datapath.OpenBridge(datapath.BridgeConfig{LAN: cfg.lan, WAN: cfg.wan, Workers: cfg.workers})
	if err != nil {
		return err
	}
	defer br.Close()
	if rt != nil {
		// The interfaces are the router's: the kernel's IP input would
		// only look each frame up and drop it, in its sender's time.
		for _, name := range [2]string{cfg.lan, cfg.wan} {
			restore, err := datapath.DropKernelInput(name)
			if err != nil {
				a.log.Warn("the kernel's input stays on; it drops the frames rampart routes after a route lookup", "interface", name, "err", err)
				continue
			}
			defer func() {
				if err := restore(); err != nil {
					a.log.Error("kernel input filter", "interface", name, "err", err)
				}
			}()
		}
	}
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
				if ew != nil {
					if err := ew.Flush(); err != nil {
						a.log.Error("EVE output", "err", err)
					}
				}
			}
		}
	}()
	mode := modeBridge
	if rt != nil {
		mode = modeRouter
	}
	a.log.Info("gateway running", "mode", mode, "lan", cfg.lan, "wan", cfg.wan, "workers", cfg.workers, "policy", cfg.policyPath, "rules", len(pol.Rules))
	err = br.Run(ctx, func(int) datapath.Handler { return e.NewWorker() })
	for _, h := range e.RuleHits() {
		if h.Hits > 0 {
			a.log.Info("rule hits", "line", h.Line, "rule", h.Text, "hits", h.Hits)
		}
	}
	if ie != nil {
		ie.Flush(time.Now())
		st := ie.Stats()
		a.log.Info("ids stopped", "alerts", st.Alerts, "blocked", st.Blocked, "tcp_flows", st.TCPFlows, "other_flows", st.OtherFlows)
	}
	a.log.Info("gateway stopped", "frames", fmt.Sprint(e.Counts()))
	if rt != nil {
		a.log.Info("router stopped", "events", fmt.Sprint(rt.Counts()))
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// newRouter completes router mode's configuration with what the system
// says of the interfaces (their MAC addresses and MTUs) and builds the
// router; transmit sends what it originates outside the packet path.
func newRouter(cfg *gatewaySetup, transmit func(datapath.Side, []byte) error) (*router.Router, error) {
	rc := *cfg.router
	for _, sd := range []struct {
		name string
		ifc  *router.Interface
	}{{cfg.lan, &rc.LAN}, {cfg.wan, &rc.WAN}} {
		ifi, err := net.InterfaceByName(sd.name)
		if err != nil {
			return nil, fmt.Errorf("router mode: %w", err)
		}
		if len(ifi.HardwareAddr) != 6 {
			return nil, fmt.Errorf("router mode: %s has no Ethernet address", sd.name)
		}
		sd.ifc.Name, sd.ifc.MAC, sd.ifc.MTU = sd.name, [6]byte(ifi.HardwareAddr), ifi.MTU
	}
	rc.Transmit = transmit
	r, err := router.New(rc)
	if err != nil {
		return nil, fmt.Errorf("router mode: %w", err)
	}
	return r, nil
}
