package router

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/packet"
)

// Interface is one side of the router: an interface it owns, whose
// addresses the kernel does not hold.
type Interface struct {
	Name string
	MAC  [6]byte
	// MTU is the largest IP packet the link carries.
	MTU int
	// Addrs are the router's addresses on the link, each with the length
	// of its connected prefix (10.10.0.1/24). An IPv6 link-local address
	// made from MAC (RFC 4291 2.5.1) is added to them.
	Addrs []netip.Prefix
}

// Route is a static route: packets to To go via the neighbour Via, which
// must lie in a connected prefix. To is 0.0.0.0/0 or ::/0 for a default
// route.
type Route struct {
	To  netip.Prefix
	Via netip.Addr
}

// NeighbourConfig bounds and times the neighbour cache. Zero fields take
// Linux's defaults (net.ipv4.neigh.default.*), given in brackets.
type NeighbourConfig struct {
	// MaxEntries bounds the neighbours known at once, resolved or not
	// (gc_thresh3) [1024]. When it is reached, a failed entry or the
	// stale one unused longest makes room, or the new neighbour is not
	// resolved.
	MaxEntries int
	// ReachableTime is how long an answer keeps a neighbour reachable
	// (base_reachable_time); each entry takes a random time between half
	// and one and a half of it (RFC 4861 6.3.2) [30s].
	ReachableTime time.Duration
	// DelayFirstProbe is how long a stale entry in use waits for a
	// confirmation before it is probed (delay_first_probe_time) [5s].
	DelayFirstProbe time.Duration
	// RetransTime separates requests and probes (retrans_time) [1s].
	RetransTime time.Duration
	// MaxProbes is the number of requests (broadcast, or multicast to
	// the solicited-node group) and, separately, of unicast probes sent
	// before a neighbour counts as failed (mcast_solicit, ucast_solicit)
	// [3].
	MaxProbes int
	// QueueLen is the number of packets that may wait for one
	// neighbour's address; the oldest gives way (unres_qlen) [3].
	QueueLen int
	// GCStaleTime is how long an unused stale or failed entry is kept
	// (gc_stale_time) [60s].
	GCStaleTime time.Duration
	// ResolveRate bounds the resolutions started per second, for all
	// neighbours together: a scan of a connected prefix from outside
	// cannot turn into a storm of requests on the link [256].
	ResolveRate int
}

func (c *NeighbourConfig) fill() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(d *int, v int) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt(&c.MaxEntries, 1024)
	def(&c.ReachableTime, 30*time.Second)
	def(&c.DelayFirstProbe, 5*time.Second)
	def(&c.RetransTime, time.Second)
	defInt(&c.MaxProbes, 3)
	defInt(&c.QueueLen, 3)
	def(&c.GCStaleTime, 60*time.Second)
	defInt(&c.ResolveRate, 256)
}

// ICMPConfig bounds the messages the router originates, after Linux's
// icmp_msgs_per_sec, icmp_msgs_burst and icmp_ratelimit: a global budget
// for everything (errors, echo replies, resets), and for errors a budget
// per destination as well. Zero fields take Linux's defaults.
type ICMPConfig struct {
	// PerSecond and Burst are the global budget [1000, 50].
	PerSecond, Burst int
	// PeerInterval is the time one error to a destination costs, and
	// PeerBurst how many may go at once [1s, 6].
	PeerInterval time.Duration
	PeerBurst    int
}

func (c *ICMPConfig) fill() {
	if c.PerSecond <= 0 {
		c.PerSecond = 1000
	}
	if c.Burst <= 0 {
		c.Burst = 50
	}
	if c.PeerInterval <= 0 {
		c.PeerInterval = time.Second
	}
	if c.PeerBurst <= 0 {
		c.PeerBurst = 6
	}
}

// Config configures a Router.
type Config struct {
	LAN, WAN   Interface
	Routes     []Route
	Neighbours NeighbourConfig
	ICMP       ICMPConfig
	// Clock tells the time; nil means the system clock.
	Clock clock.Clock
	// Transmit sends what Sweep originates outside the packet path:
	// retransmitted requests, unicast probes, and the unreachables of
	// packets whose neighbour never answered. Nil leaves them unsent
	// (offline runs); the packet path alone then drives resolution.
	Transmit func(to datapath.Side, frame []byte) error
}

// Interface returns the configuration of side s.
func (c *Config) Interface(s datapath.Side) *Interface {
	if s == datapath.WAN {
		return &c.WAN
	}
	return &c.LAN
}

// Limits of the configuration.
const (
	// MaxAddrs bounds the addresses of one interface.
	MaxAddrs = 16
	// MaxRoutes bounds the static routes.
	MaxRoutes = 4096
	// MaxNeighbours bounds Config.Neighbours.MaxEntries.
	MaxNeighbours = 1 << 20
	// MaxMTU is the largest IP packet.
	MaxMTU = 65535
)

// Where names the part of a Config a Problem is about, so that a caller
// can point at the line of its own file that set it.
type Where struct {
	Kind  WhereKind
	Side  datapath.Side // for the kinds of an interface
	Index int           // the address or route
}

// WhereKind is the kind of part a Where names.
type WhereKind uint8

// Parts of a Config.
const (
	WhereAddrs      WhereKind = iota // an interface's addresses as a whole
	WhereAddr                        // one address: Side, Index
	WhereMTU                         // an interface's MTU: Side
	WhereRouteTo                     // a route's destination: Index
	WhereRouteVia                    // a route's next hop: Index
	WhereNeighbours                  // Neighbours.MaxEntries
	WhereReachable                   // Neighbours.ReachableTime
)

// Problem is one thing wrong with a Config.
type Problem struct {
	Where Where
	Msg   string
}

func (p Problem) Error() string { return p.Msg }

// martians are the prefixes that are never routed, and neither an
// address of the router nor the destination of a route may lie in:
// "this network", loopback, IPv4 link-local and multicast, the reserved
// class E; the IPv6 unspecified and loopback addresses, IPv4-mapped
// addresses, link-local and multicast (RFC 6890, RFC 4291).
var martians = []struct {
	prefix netip.Prefix
	kind   kind
}{
	{netip.MustParsePrefix("0.0.0.0/8"), kindMartian},
	{netip.MustParsePrefix("127.0.0.0/8"), kindMartian},
	{netip.MustParsePrefix("169.254.0.0/16"), kindLinkLocal},
	{netip.MustParsePrefix("224.0.0.0/4"), kindMulticast},
	{netip.MustParsePrefix("240.0.0.0/4"), kindMartian},
	{netip.MustParsePrefix("255.255.255.255/32"), kindBroadcast},
	{netip.MustParsePrefix("::/128"), kindMartian},
	{netip.MustParsePrefix("::1/128"), kindMartian},
	{netip.MustParsePrefix("::ffff:0:0/96"), kindMartian},
	{netip.MustParsePrefix("fe80::/10"), kindLinkLocal},
	{netip.MustParsePrefix("ff00::/8"), kindMulticast},
}

// inMartian returns the martian prefix that holds all of p, if any. A
// route that only overlaps one (0.0.0.0/1) is fine: the martian entry,
// more specific, still wins the lookup.
func inMartian(p netip.Prefix) (netip.Prefix, bool) {
	for _, m := range martians {
		if m.prefix.Bits() <= p.Bits() && m.prefix.Contains(p.Addr()) {
			return m.prefix, true
		}
	}
	return netip.Prefix{}, false
}

// Check returns every problem of c, in the order of its parts; a Config
// without problems makes a Router. It checks no interface: MAC and MTU
// may still be unknown (zero), to be read from the system.
func Check(c *Config) []Problem {
	var ps []Problem
	add := func(w Where, format string, args ...any) {
		ps = append(ps, Problem{Where: w, Msg: fmt.Sprintf(format, args...)})
	}
	type owned struct {
		side  datapath.Side
		index int
	}
	seen := map[netip.Addr]owned{}
	var connected [2][]netip.Prefix
	for _, s := range []datapath.Side{datapath.LAN, datapath.WAN} {
		ifc := c.Interface(s)
		if len(ifc.Addrs) == 0 {
			add(Where{Kind: WhereAddrs, Side: s}, "router mode needs addresses on %s (addresses.%s)", s, s)
		}
		if len(ifc.Addrs) > MaxAddrs {
			add(Where{Kind: WhereAddr, Side: s, Index: MaxAddrs}, "at most %d addresses on one interface", MaxAddrs)
			continue
		}
		for i, a := range ifc.Addrs {
			w := Where{Kind: WhereAddr, Side: s, Index: i}
			if msg := checkAddr(a); msg != "" {
				add(w, "%s", msg)
				continue
			}
			if o, dup := seen[a.Addr()]; dup {
				add(w, "%s is already an address of %s (%s)", a.Addr(), o.side, ifcAddrName(o.side, o.index))
				continue
			}
			seen[a.Addr()] = owned{s, i}
			if s == datapath.WAN {
				for _, l := range connected[datapath.LAN] {
					if l.Overlaps(a.Masked()) {
						add(w, "prefix %s overlaps %s of lan: the two sides need prefixes of their own", a.Masked(), l)
					}
				}
			}
			connected[s] = append(connected[s], a.Masked())
		}
		if m := ifc.MTU; m != 0 {
			min := packet.MinMTUv4
			for _, a := range ifc.Addrs {
				if a.Addr().Is6() {
					min = packet.MinMTUv6
				}
			}
			if m < min || m > MaxMTU {
				add(Where{Kind: WhereMTU, Side: s}, "%s: want an MTU of %d to %d, not %d", s, min, MaxMTU, m)
			}
		}
	}
	// A next hop outside every connected prefix is worth saying only
	// when the addresses that make those prefixes are good.
	addrsOK := len(ps) == 0
	if len(c.Routes) > MaxRoutes {
		add(Where{Kind: WhereRouteTo, Index: MaxRoutes}, "at most %d routes", MaxRoutes)
		return ps
	}
	dests := map[netip.Prefix]int{}
	for i, r := range c.Routes {
		to, via := r.To, r.Via
		if !to.IsValid() {
			add(Where{Kind: WhereRouteTo, Index: i}, "a route needs a destination")
		} else if to != to.Masked() {
			add(Where{Kind: WhereRouteTo, Index: i}, "destination %s has host bits set (did you mean %s?)", to, to.Masked())
		} else if m, bad := inMartian(to); bad {
			add(Where{Kind: WhereRouteTo, Index: i}, "destination %s lies in %s, which is never routed", to, m)
		} else if s, c := connectedPrefix(connected, to); c {
			add(Where{Kind: WhereRouteTo, Index: i}, "destination %s is connected on %s", to, s)
		} else if j, dup := dests[to]; dup {
			add(Where{Kind: WhereRouteTo, Index: i}, "a second route to %s (the first is routes[%d])", to, j)
		} else {
			dests[to] = i
		}
		w := Where{Kind: WhereRouteVia, Index: i}
		switch {
		case !via.IsValid():
			add(w, "a route needs a next hop (via)")
			continue
		case to.IsValid() && via.Is4() != to.Addr().Is4():
			add(w, "next hop %s is not of the family of %s", via, to)
			continue
		case via.Zone() != "" || via.IsLinkLocalUnicast():
			add(w, "next hop %s is link-local: give an address of a connected prefix", via)
			continue
		}
		if o, own := seen[via]; own {
			add(w, "next hop %s is the router's own address on %s", via, o.side)
			continue
		}
		found := false
		for _, s := range []datapath.Side{datapath.LAN, datapath.WAN} {
			for _, p := range connected[s] {
				if p.Contains(via) {
					found = true
					if via.Is4() && p.Bits() <= 30 && (via == p.Addr() || via == lastAddr(p)) {
						add(w, "next hop %s is the network or broadcast address of %s", via, p)
					}
				}
			}
		}
		if !found && addrsOK {
			add(w, "next hop %s is in no connected prefix (lan: %s; wan: %s)", via, prefixList(connected[datapath.LAN]), prefixList(connected[datapath.WAN]))
		}
	}
	n := c.Neighbours
	if n.MaxEntries < 0 || n.MaxEntries > MaxNeighbours || (n.MaxEntries > 0 && n.MaxEntries < 16) {
		add(Where{Kind: WhereNeighbours}, "want 16 to %d neighbours, not %d", MaxNeighbours, n.MaxEntries)
	}
	if r := n.ReachableTime; r < 0 || (r > 0 && (r < time.Second || r > time.Hour)) {
		add(Where{Kind: WhereReachable}, "want a reachable time of 1s to 1h, not %s", r)
	}
	return ps
}

// connectedPrefix reports whether p is a connected prefix, and of which
// side.
func connectedPrefix(connected [2][]netip.Prefix, p netip.Prefix) (datapath.Side, bool) {
	for s, ps := range connected {
		for _, c := range ps {
			if c == p {
				return datapath.Side(s), true
			}
		}
	}
	return 0, false
}

// checkAddr says what is wrong with a as an address of the router, or "".
func checkAddr(a netip.Prefix) string {
	ip := a.Addr()
	switch {
	case !a.IsValid():
		return "not an address with a prefix length"
	case ip.Zone() != "":
		return fmt.Sprintf("%s has a zone", a)
	case ip.IsLinkLocalUnicast():
		return fmt.Sprintf("%s is link-local: the router makes its IPv6 link-local address from the interface's MAC", a)
	}
	if m, bad := inMartian(netip.PrefixFrom(ip, ip.BitLen())); bad {
		return fmt.Sprintf("%s lies in %s, which is never routed", ip, m)
	}
	if ip.Is4() && a.Bits() <= 30 {
		p := a.Masked()
		if ip == p.Addr() {
			return fmt.Sprintf("%s is the network address of %s", ip, p)
		}
		if ip == lastAddr(p) {
			return fmt.Sprintf("%s is the broadcast address of %s", ip, p)
		}
	}
	if a.Bits() == 0 {
		return fmt.Sprintf("%s covers every address: give the length of the connected prefix", a)
	}
	return ""
}

func ifcAddrName(s datapath.Side, i int) string { return fmt.Sprintf("addresses.%s[%d]", s, i) }

// lastAddr returns the highest address of p: an IPv4 prefix's broadcast
// address.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func prefixList(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "none"
	}
	s := ""
	for i, p := range ps {
		if i > 0 {
			s += ", "
		}
		s += p.String()
	}
	return s
}

// LinkLocal returns the IPv6 link-local address the router uses on an
// interface with link-layer address mac: fe80:: and the modified EUI-64
// identifier (RFC 4291 2.5.1, appendix A).
func LinkLocal(mac [6]byte) netip.Addr {
	return netip.AddrFrom16([16]byte{0xfe, 0x80, 8: mac[0] ^ 0x02, 9: mac[1], 10: mac[2], 11: 0xff, 12: 0xfe, 13: mac[3], 14: mac[4], 15: mac[5]})
}
