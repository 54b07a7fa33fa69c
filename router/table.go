package router

import (
	"net/netip"

	"github.com/gaissmai/bart"

	"github.com/rampart-fw/rampart/datapath"
)

// kind is what a destination is to the router, as the entries of Linux's
// local and main tables say.
type kind uint8

const (
	kindRoute     kind = iota // forwarded: a connected prefix or a static route
	kindLocal                 // one of the router's addresses
	kindBroadcast             // the limited broadcast, or a connected IPv4 prefix's network or broadcast address
	kindLinkLocal             // link-local scope: used on its link, never routed
	kindMulticast             // a group: the router forwards none
	kindMartian               // never a source or destination on a wire
)

// entry is one prefix of the route table.
type entry struct {
	kind kind
	side datapath.Side // the interface: where a route leads, or whose address it is
	via  netip.Addr    // a static route's next hop; invalid for a connected prefix
}

// table is the route table: built whole by newTable, then only read, by
// every worker at once without a lock.
type table struct {
	t bart.Fast[entry]
	// hosts are the host entries of the router's own addresses and of
	// its IPv4 prefixes' network and broadcast addresses, by address:
	// what badSource needs without a second longest-prefix lookup.
	hosts map[netip.Addr]kind
}

// newTable builds the table of a checked configuration, ll being the
// interfaces' link-local addresses: the martian prefixes, the connected
// prefixes, the static routes, then the router's own addresses and the
// broadcast addresses of its IPv4 prefixes, which as host entries win
// every lookup of their address.
func newTable(c *Config, ll [2]netip.Addr) *table {
	t := &table{hosts: map[netip.Addr]kind{}}
	for _, m := range martians {
		t.t.Insert(m.prefix, entry{kind: m.kind})
	}
	sides := []datapath.Side{datapath.LAN, datapath.WAN}
	for _, s := range sides {
		for _, a := range c.Interface(s).Addrs {
			t.t.Insert(a.Masked(), entry{kind: kindRoute, side: s})
		}
	}
	for _, r := range c.Routes {
		// The next hop lies in a connected prefix (Check): its entry
		// names the side.
		e, _ := t.t.Lookup(r.Via)
		t.t.Insert(r.To, entry{kind: kindRoute, side: e.side, via: r.Via})
	}
	for _, s := range sides {
		for _, a := range c.Interface(s).Addrs {
			p := a.Masked()
			if a.Addr().Is4() && p.Bits() <= 30 {
				t.t.Insert(netip.PrefixFrom(p.Addr(), 32), entry{kind: kindBroadcast, side: s})
				t.t.Insert(netip.PrefixFrom(lastAddr(p), 32), entry{kind: kindBroadcast, side: s})
				t.hosts[p.Addr()], t.hosts[lastAddr(p)] = kindBroadcast, kindBroadcast
			}
		}
	}
	for _, s := range sides {
		for _, a := range c.Interface(s).Addrs {
			t.t.Insert(netip.PrefixFrom(a.Addr(), a.Addr().BitLen()), entry{kind: kindLocal, side: s})
			t.hosts[a.Addr()] = kindLocal
		}
		t.t.Insert(netip.PrefixFrom(ll[s], 128), entry{kind: kindLocal, side: s})
		t.hosts[ll[s]] = kindLocal
	}
	return t
}

// badSource reports whether a packet from src is refused whatever its
// destination: src is one of the router's addresses, a network or
// broadcast address of its IPv4 prefixes, multicast, or martian (the
// prefixes of martians but link-local, which a neighbour may use).
// It says what a lookup of src would say of those entries (a test holds
// the two together), without the lookup.
func (t *table) badSource(src netip.Addr) bool {
	if src.IsMulticast() || src.IsLoopback() || src.IsUnspecified() || src.Is4In6() {
		return true
	}
	if src.Is4() {
		if b := src.As4(); b[0] == 0 || b[0] >= 240 {
			return true // 0.0.0.0/8, 240.0.0.0/4 and the limited broadcast
		}
	}
	_, own := t.hosts[src]
	return own
}

// lookup returns the entry of the longest prefix holding a. Every address
// has one but those of a family without a default route.
func (t *table) lookup(a netip.Addr) (entry, bool) {
	return t.t.Lookup(a)
}

// Hop is where the router sends a packet: out of a side to a neighbour,
// or to itself.
type Hop struct {
	// Out is the side the packet leaves by; for a packet to the router,
	// the side it came in on, where answers go.
	Out datapath.Side
	// NextHop is the neighbour the packet is handed to: the route's next
	// hop, or the destination itself on a connected prefix.
	NextHop netip.Addr
	// Dst is the destination the route was chosen for. When the pipeline
	// rewrites the destination (NAT), Forward chooses again.
	Dst netip.Addr
	// Local is set for a packet addressed to the router.
	Local bool
}

// Route returns where a packet to dst goes, and whether it may go there
// at all (a local address, a connected prefix or a route). It is what the
// forwarding path looks up, for callers that must choose a path
// themselves, as a NAT choosing its source address does.
func (r *Router) Route(dst netip.Addr) (Hop, bool) {
	e, ok := r.table.lookup(dst)
	if !ok {
		return Hop{}, false
	}
	switch e.kind {
	case kindLocal:
		return Hop{Out: e.side, Dst: dst, Local: true}, true
	case kindRoute:
		h := Hop{Out: e.side, NextHop: dst, Dst: dst}
		if e.via.IsValid() {
			h.NextHop = e.via
		}
		return h, true
	}
	return Hop{}, false
}
