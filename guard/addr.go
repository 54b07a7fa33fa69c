package guard

import (
	"fmt"
	"net/netip"

	"github.com/gaissmai/bart"

	"github.com/rampart-fw/rampart/datapath"
)

// addrClass is what the guard knows about an address: the class of the
// longest prefix that holds it.
type addrClass uint8

const (
	classOther       addrClass = iota // nothing known: an ordinary address
	classInside                       // an inside prefix
	classOwn                          // one of the gateway's addresses
	classMartian                      // a configured special-purpose range
	classNever                        // no host may send from it, whatever the side
	classUnspecified                  // 0.0.0.0 or ::, a source only while a host finds its address
	classLinkLocal                    // 169.254.0.0/16, fe80::/10: never routed
	classMulticast                    // IPv4 and IPv6 multicast
	classBroadcast                    // limited broadcast, and the network and broadcast addresses of inside prefixes
)

// neverSources are the prefixes no host may send from on either side:
// RFC 6890's entries whose Source is False (or True only for a host
// finding its own address, which is handled apart), multicast (RFC 1112,
// RFC 4291) and IPv4-mapped addresses, which never appear on the wire
// (RFC 4038).
var neverSources = []string{
	"0.0.0.0/8", "127.0.0.0/8", "240.0.0.0/4",
	"::1/128", "::ffff:0:0/96",
}

// defaultMartians are RFC 6890's special-purpose ranges that are not
// globally reachable and that no Internet host sends from, but that a
// host may legitimately use on its own networks, so they are dropped on
// the wan side only and may be replaced (Config.Martians). Left out on
// purpose:
//   - private (RFC 1918), shared (RFC 6598, carrier-grade NAT) and unique
//     local (RFC 4193) addresses: a gateway's wan side is often such a
//     network itself;
//   - the documentation ranges (192.0.2.0/24, 198.51.100.0/24,
//     203.0.113.0/24, 2001:db8::/32, 3fff::/20): labs and examples stand
//     them in for the Internet (rampart's lab does), and they cost
//     nothing when no one routes them;
//   - 192.88.99.0/24 (6to4 relays, deprecated but globally reachable) and
//     the NAT64 prefix 64:ff9b::/96.
var defaultMartians = []string{
	"192.0.0.0/24",   // IETF protocol assignments (RFC 6890)
	"198.18.0.0/15",  // benchmarking (RFC 2544)
	"100::/64",       // discard-only (RFC 6666)
	"2001:2::/48",    // benchmarking (RFC 5180)
	"2001:10::/28",   // ORCHID, deprecated (RFC 4843)
	"64:ff9b:1::/48", // local-use NAT64 (RFC 8215)
}

// DefaultMartians returns the special-purpose ranges dropped as sources on
// the wan side by default (see Config.Martians).
func DefaultMartians() []netip.Prefix {
	out := make([]netip.Prefix, len(defaultMartians))
	for i, s := range defaultMartians {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// addrTable classifies addresses by longest prefix: one lookup per packet.
type addrTable struct {
	t bart.Table[addrClass] // immutable after build
}

func (a *addrTable) build(cfg *Config) error {
	put := func(p netip.Prefix, c addrClass) { a.t.Insert(p.Masked(), c) }
	for _, s := range neverSources {
		put(netip.MustParsePrefix(s), classNever)
	}
	put(netip.MustParsePrefix("224.0.0.0/4"), classMulticast)
	put(netip.MustParsePrefix("ff00::/8"), classMulticast)
	put(netip.MustParsePrefix("169.254.0.0/16"), classLinkLocal)
	put(netip.MustParsePrefix("fe80::/10"), classLinkLocal)
	put(netip.MustParsePrefix("0.0.0.0/32"), classUnspecified)
	put(netip.MustParsePrefix("::/128"), classUnspecified)
	put(netip.PrefixFrom(limitedBroadcast, 32), classBroadcast)
	for _, p := range cfg.Martians {
		if !p.IsValid() {
			return fmt.Errorf("martian prefix %v is not valid", p)
		}
		put(p, classMartian)
	}
	for _, p := range cfg.Inside {
		if !p.IsValid() {
			return fmt.Errorf("inside prefix %v is not valid", p)
		}
		put(p, classInside)
	}
	for _, p := range cfg.Inside {
		// The network and broadcast addresses of an inside IPv4 network
		// (RFC 919, RFC 922): the destinations of a directed broadcast,
		// and no host's source.
		if p.Addr().Is4() && p.Bits() <= 30 {
			n := p.Masked().Addr()
			b := n.As4()
			host := uint32(1)<<(32-p.Bits()) - 1
			v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
			put(netip.PrefixFrom(n, 32), classBroadcast)
			put(netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), 32), classBroadcast)
		}
	}
	for _, o := range cfg.Own {
		if !o.IsValid() {
			return fmt.Errorf("own address %v is not valid", o)
		}
		o = o.Unmap()
		put(netip.PrefixFrom(o, o.BitLen()), classOwn)
	}
	return nil
}

func (a *addrTable) class(x netip.Addr) addrClass {
	c, _ := a.t.Lookup(x)
	return c
}

// broadcastOrMulticast reports whether x is a broadcast or multicast
// destination.
func (a *addrTable) broadcastOrMulticast(x netip.Addr) bool {
	c := a.class(x)
	return c == classBroadcast || c == classMulticast
}

// localScope reports whether a packet to dst stays on its link: link-local
// unicast, multicast (of any scope: a host without an address yet sends
// to all-routers or solicited-node groups), limited broadcast.
func localScope(c addrClass) bool {
	return c == classLinkLocal || c == classMulticast || c == classBroadcast
}

// spoofed judges a packet's source address, as it arrived on side in.
func (g *Guard) spoofed(src, dst netip.Addr, in datapath.Side) Reason {
	sc := g.addrs.class(src)
	switch sc {
	case classOther:
		if in == datapath.LAN && len(g.cfg.Inside) > 0 {
			return ReasonEgress
		}
	case classInside:
		if in == datapath.WAN {
			return ReasonInsideSource
		}
	case classOwn:
		return ReasonOwnSource
	case classMartian:
		if in == datapath.WAN {
			return ReasonMartian
		}
		if len(g.cfg.Inside) > 0 {
			return ReasonEgress
		}
	case classUnspecified, classLinkLocal:
		// A host without an address (DHCP, duplicate address detection)
		// and link-local traffic stay on their link, which a bridge
		// carries; anything else from such a source is leaving it.
		if !localScope(g.addrs.class(dst)) {
			return ReasonMartian
		}
		return Pass // no route leads to it; the reverse path has no say
	default: // never, multicast, broadcast
		return ReasonMartian
	}
	if rp := g.cfg.ReversePath; rp != nil {
		if side, ok := rp(src); !ok || side != in {
			return ReasonReversePath
		}
	}
	return Pass
}
