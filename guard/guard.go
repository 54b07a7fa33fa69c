package guard

import (
	"fmt"
	"net/netip"
	"sync/atomic"

	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/ids/defrag"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// Reason says why the guard dropped a packet; it labels the counters
// (rampart_gateway_guard_drops_total{reason}).
type Reason uint8

// Reasons. Pass, the zero value, means the guard has no objection.
const (
	Pass Reason = iota
	// Logic attacks.
	ReasonLand           // source address equal to the destination's
	ReasonTCPFlags       // SYN+FIN, SYN+RST, no flags, FIN+PSH+URG without ACK
	ReasonSourceRoute    // IPv4 LSRR/SSRR, IPv6 type 0 routing header
	ReasonSegmentRouting // IPv6 segment routing header with segments left
	ReasonTinyFragment   // a first fragment too short for the transport header, or TCP at fragment offset 8
	ReasonPingOfDeath    // a datagram reassembled past 65,535 bytes
	ReasonOverlap        // overlapping fragments: teardrop and its kin
	ReasonICMPRedirect   // ICMP or ICMPv6 redirect
	ReasonSourceQuench   // ICMP source quench (deprecated, RFC 6633)
	ReasonNDHopLimit     // neighbour discovery with a hop limit below 255: it crossed a router (RFC 4861)
	ReasonSmurf          // an echo request to a broadcast or multicast address
	// Source address validation.
	ReasonMartian      // a source no Internet host sends from (RFC 6890), or a link-local one leaving its link
	ReasonInsideSource // on the wan side, a source in an inside prefix
	ReasonOwnSource    // a source that is one of the gateway's own addresses
	ReasonEgress       // on the lan side, a source outside every inside prefix
	ReasonReversePath  // the route back to the source leaves by the other side
	// Rate limits and feature rules.
	ReasonNewConnRate // the source opens new connections faster than its limit
	ReasonICMPRate    // the source sends ICMP faster than its limit
	ReasonSYNRate     // the destination receives SYNs faster than its limit
	ReasonFeature     // a feature rule dropped it, or its rate limit did
	// The SYN proxy.
	ReasonBadCookie // an ACK to a protected destination without a connection and with a wrong cookie
	ReasonProxy     // a segment the spliced handshake does not allow (a server SYN/ACK acknowledging the wrong number)
	NumReasons
)

var reasonNames = [NumReasons]string{"pass", "land", "tcp_flags", "source_route", "segment_routing", "tiny_fragment",
	"ping_of_death", "overlapping_fragments", "icmp_redirect", "source_quench", "nd_hop_limit", "smurf",
	"martian_source", "inside_source", "own_source", "egress", "reverse_path",
	"new_connection_rate", "icmp_rate", "syn_rate", "feature", "bad_cookie", "synproxy_state"}

func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "?"
}

// Config configures a Guard. The zero value drops the logic attacks and
// nothing else: no source validation, no limits, no feature rules, no SYN
// proxy.
type Config struct {
	// AntiSpoof turns source address validation on.
	AntiSpoof bool
	// Inside are the inside prefixes: on the wan side a source in one is
	// forged, on the lan side a source outside all of them is (egress
	// filtering). Without them only Own and the martians are checked.
	// Their network and broadcast addresses are broadcast addresses to
	// the smurf filter.
	Inside []netip.Prefix
	// Own are the gateway's own addresses (a router's; a bridge has none
	// on its ports): a source that claims one is forged on either side.
	Own []netip.Addr
	// Martians are the special-purpose prefixes dropped as sources on the
	// wan side besides those no host may ever send from (loopback,
	// multicast, class E and limited broadcast, 0.0.0.0/8, ::, ::1,
	// IPv4-mapped), which are always dropped. Nil means DefaultMartians.
	Martians []netip.Prefix
	// ReversePath, when set, is the router's strict reverse-path check:
	// which side the route to a source leaves by, and whether there is
	// one. A packet from a source whose route leaves by the other side,
	// or that has none, is dropped (RFC 3704 strict mode).
	ReversePath func(src netip.Addr) (datapath.Side, bool)
	// KeepAnomalies keeps what is otherwise dropped before anything else
	// looks at it: TCP packets with impossible flag combinations (SYN+FIN,
	// SYN+RST, null and Xmas scans), LAND packets, IPv4 source routes and
	// IPv6 type 0 routing headers, and IPv6 segment routing headers with
	// segments left (judged on an outer destination that is not the final
	// one; Linux forwards them only where seg6_enabled is set).
	KeepAnomalies bool
	SYNProxy      SYNProxyConfig
	Limits        Limits
	Features      []Feature
	// Clock tells the time; nil means the system clock.
	Clock clock.Clock
}

// Guard runs the checks. Its methods are safe for concurrent use.
//
// Sharing: everything set by New is immutable; the counters are atomics,
// read without a lock; the limiters' sketches are atomics; the SYN
// proxy's engagement state and cookie keys are atomics (see SYNProxy).
type Guard struct {
	cfg      Config
	clock    clock.Clock
	addrs    addrTable // immutable after New
	newConn  *sketch   // nil without the limit
	icmp     *sketch
	synDst   *sketch
	features []feature // immutable after New, but for each rule's bucket (atomic)
	proxy    *SYNProxy // nil when the mode is off
	drops    [NumReasons]atomic.Uint64
}

// New checks cfg and builds a Guard.
func New(cfg Config) (*Guard, error) {
	cfg.Clock = clock.Or(cfg.Clock)
	g := &Guard{cfg: cfg, clock: cfg.Clock}
	if cfg.Martians == nil {
		cfg.Martians = DefaultMartians()
	}
	if err := g.addrs.build(&cfg); err != nil {
		return nil, err
	}
	for _, l := range []struct {
		lim  Limit
		dst  **sketch
		name string
		rows int
	}{{cfg.Limits.NewConnectionsPerSource, &g.newConn, "new_connections_per_source", sourceSketchRows},
		{cfg.Limits.ICMPPerSource, &g.icmp, "icmp_per_source", sourceSketchRows},
		{cfg.Limits.SYNPerDestination, &g.synDst, "syn_per_destination", destSketchRows}} {
		if l.lim.IsZero() {
			continue
		}
		if err := l.lim.check(); err != nil {
			return nil, fmt.Errorf("%s: %w", l.name, err)
		}
		*l.dst = newSketch(l.lim, l.rows)
	}
	if len(cfg.Features) > 0 {
		g.features = make([]feature, len(cfg.Features))
	}
	for i := range cfg.Features {
		if err := compileFeature(&g.features[i], &cfg.Features[i]); err != nil {
			return nil, fmt.Errorf("feature %d: %w", i+1, err)
		}
	}
	if cfg.SYNProxy.Mode != ProxyOff {
		p, err := newSYNProxy(&cfg.SYNProxy, cfg.Clock, &g.drops)
		if err != nil {
			return nil, err
		}
		g.proxy = p
	}
	return g, nil
}

// Proxy returns the SYN proxy, or nil when its mode is off.
func (g *Guard) Proxy() *SYNProxy { return g.proxy }

// drop counts a drop for r and returns r.
func (g *Guard) drop(r Reason) Reason {
	g.drops[r].Add(1)
	return r
}

// Check judges the packet p, which arrived on side in, before connection
// tracking sees it: source validation, the logic attacks, the ICMP limit
// and the feature rules. It returns Pass or the reason the packet is to
// be dropped, counted. p must be a valid IP packet; a fragment is judged
// on what its header says (its transport header, if any, waits for the
// datagram).
func (g *Guard) Check(p *packet.Parsed, in datapath.Side) Reason {
	if r := g.CheckSource(p, in); r != Pass {
		return r
	}
	if a := p.Anomalies; a&anomalyMask != 0 && !g.cfg.KeepAnomalies {
		return g.drop(anomalyReason(a))
	}
	if p.HasL4 && (p.Proto == ipproto.ICMP || p.Proto == ipproto.ICMPv6) {
		if r := g.icmpCheck(p); r != Pass {
			return g.drop(r)
		}
	}
	if len(g.features) > 0 && p.HasL4 {
		if r := g.featureCheck(p); r != Pass {
			return g.drop(r)
		}
	}
	return Pass
}

// CheckSource is the part of Check that judges a packet by its addresses
// alone: LAND and source validation. A fragment gets it before it costs
// reassembly memory; the defragmenter judges the fragment tricks
// (overlaps, tiny first fragments, oversize) and Check the datagram.
func (g *Guard) CheckSource(p *packet.Parsed, in datapath.Side) Reason {
	src, dst := p.Src.Addr(), p.Dst.Addr()
	if src == dst && !g.cfg.KeepAnomalies {
		// A host talking to itself never puts it on the wire: LAND, with
		// or without equal ports (the decoder's AnomalyLAND is the
		// equal-port case).
		return g.drop(ReasonLand)
	}
	if g.cfg.AntiSpoof {
		if r := g.spoofed(src, dst, in); r != Pass {
			return g.drop(r)
		}
	}
	return Pass
}

// The decoder's anomalies the guard drops, and their reasons.
const anomalyMask = packet.AnomalySYNFIN | packet.AnomalySYNRST | packet.AnomalyNullScan | packet.AnomalyXmas |
	packet.AnomalyLAND | packet.AnomalySourceRoute | packet.AnomalyTCPFragOffset1 | packet.AnomalySegmentRouting

func anomalyReason(a packet.Anomaly) Reason {
	switch {
	case a&packet.AnomalyLAND != 0:
		return ReasonLand
	case a&packet.AnomalySourceRoute != 0:
		return ReasonSourceRoute
	case a&packet.AnomalySegmentRouting != 0:
		return ReasonSegmentRouting
	case a&packet.AnomalyTCPFragOffset1 != 0:
		return ReasonTinyFragment
	}
	return ReasonTCPFlags
}

// icmpCheck judges an ICMP or ICMPv6 message whose header was decoded:
//   - Redirects (ICMP 5, ICMPv6 137) tell a host to route through
//     another: a perimeter forwards none, from either side, rather than
//     letting them through as "related" to a connection they quote.
//   - Source quench (ICMP 4) is deprecated (RFC 6633); hosts ignore it or
//     slow down for nobody's benefit.
//   - Neighbour discovery (133 to 136) is link-local: RFC 4861 has a
//     receiver discard it unless the hop limit is 255, which proves that
//     no router forwarded it. The policy's implicit rules allow the
//     well-formed ones across a bridge, and no limit applies to them.
//   - An echo request to a broadcast or multicast address, IP or
//     Ethernet, is the amplifier of a smurf attack; nothing needs one
//     to cross a perimeter.
//   - Every other message counts against its source's ICMP limit.
func (g *Guard) icmpCheck(p *packet.Parsed) Reason {
	echo := false
	if p.IPVersion == 4 && p.Proto == ipproto.ICMP {
		switch p.ICMPType {
		case 4:
			return ReasonSourceQuench
		case 5:
			return ReasonICMPRedirect
		case 8:
			echo = true
		}
	} else if p.IPVersion == 6 && p.Proto == ipproto.ICMPv6 {
		switch t := p.ICMPType; {
		case t == 137:
			return ReasonICMPRedirect
		case t >= 133 && t <= 136:
			if p.TTL != 255 {
				return ReasonNDHopLimit
			}
			return Pass
		case t >= 130 && t <= 132, t == 143:
			return Pass // multicast listener discovery: link-local too
		case t == 128:
			echo = true
		}
	}
	if echo && (p.HasEthernet && p.EthDst[0]&1 != 0 || g.addrs.broadcastOrMulticast(p.Dst.Addr())) {
		return ReasonSmurf
	}
	if g.icmp != nil && !g.icmp.allow(p.Src.Addr(), g.clock.Now().UnixNano()) {
		return ReasonICMPRate
	}
	return Pass
}

// AdmitNew applies the limits of new connections to p, which the policy
// allowed and which would start one (or, to a protected destination, be
// answered by the SYN proxy): the source's rate of new connections and,
// for a TCP SYN, the destination's SYN rate. It returns Pass or the
// reason, counted.
func (g *Guard) AdmitNew(p *packet.Parsed) Reason {
	if g.newConn == nil && g.synDst == nil {
		return Pass
	}
	now := g.clock.Now().UnixNano()
	if g.newConn != nil && !g.newConn.allow(p.Src.Addr(), now) {
		return g.drop(ReasonNewConnRate)
	}
	if g.synDst != nil && p.Proto == ipproto.TCP && p.TCPFlags&(packet.TCPSYN|packet.TCPACK) == packet.TCPSYN &&
		!g.synDst.allow(p.Dst.Addr(), now) {
		return g.drop(ReasonSYNRate)
	}
	return Pass
}

// FragmentRefused names the defragmenter's refusal k when it is a logic
// attack, and counts it: ping of death (oversize), teardrop and the other
// overlapping-fragment tricks (overlap), tiny first fragments. Other
// refusals (time-outs, quotas, malformed fragments) return Pass and stay
// the defragmenter's.
func (g *Guard) FragmentRefused(k defrag.Kind) Reason {
	var r Reason
	switch k {
	case defrag.KindOversize:
		r = ReasonPingOfDeath
	case defrag.KindOverlap:
		r = ReasonOverlap
	case defrag.KindTiny:
		r = ReasonTinyFragment
	default:
		return Pass
	}
	return g.drop(r)
}

// Drops returns the drops counted for each reason.
func (g *Guard) Drops() [NumReasons]uint64 {
	var out [NumReasons]uint64
	for r := range out {
		out[r] = g.drops[r].Load()
	}
	return out
}
