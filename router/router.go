package router

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// Event is something the router did with a frame, or refused to do; each
// has a counter (Router.Counts).
type Event uint8

// Events.
const (
	EventForwarded          Event = iota // routed out of the other side
	EventFragmented                      // routed, cut into fragments that fit the link
	EventQueued                          // waits for its next hop's link-layer address
	EventOtherHost                       // a frame for another host's link-layer address
	EventTagged                          // a VLAN-tagged frame: the router's links are untagged
	EventNonIP                           // neither IP nor ARP
	EventARPReplied                      // an ARP request for an address of the router, answered
	EventNAReplied                       // a neighbour solicitation for an address of the router, answered
	EventNeighbourLearnt                 // an answer to a request of the router's, taken
	EventUnsolicited                     // an ARP reply or advertisement nobody asked for, or a request's claim: not learnt
	EventNDInvalid                       // neighbour discovery failing RFC 4861 7.1 (hop limit other than 255, ...)
	EventLinkLocal                       // link-local traffic for others, other neighbour discovery, multicast: never routed
	EventMartian                         // a source or destination that is never routed, or the router's own address as a source
	EventNoRoute                         // no route: answered with network unreachable
	EventSameSide                        // the route leads back out of the side the packet came in on
	EventTTLExceeded                     // TTL or hop limit ran out: answered with time exceeded
	EventTooBig                          // over the link's MTU and may not be fragmented: answered with fragmentation needed or packet too big
	EventLocal                           // addressed to the router
	EventEchoReplied                     // a ping of the router, answered
	EventLocalRefused                    // addressed to the router for a service it does not offer: reset or unreachable
	EventICMPLimited                     // an answer the rate limits held back
	EventNeighbourDropped                // the next hop's queue could not take it
	EventResolveLimited                  // over the rate of resolutions
	EventNeighbourTableFull              // no room for another neighbour
	EventNeighbourFailed                 // the next hop never answered: answered with host unreachable
	numEvents
)

var eventNames = [numEvents]string{"forwarded", "fragmented", "queued", "other_host", "tagged", "non_ip", "arp_replied", "na_replied",
	"neighbour_learnt", "unsolicited", "nd_invalid", "link_local", "martian", "no_route", "same_side", "ttl_exceeded", "too_big",
	"local", "echo_replied", "local_refused", "icmp_limited", "neighbour_dropped", "resolve_limited", "neighbour_table_full", "neighbour_failed"}

func (e Event) String() string {
	if e < numEvents {
		return eventNames[e]
	}
	return "?"
}

// side is what the router knows of one of its interfaces.
type side struct {
	name  string
	mac   [6]byte
	mtu   int
	addrs []netip.Prefix // the configured ones
	ll    netip.Addr     // the IPv6 link-local address made from mac
	v4    netip.Addr     // the first IPv4 address, if any
	v6    netip.Addr     // the first IPv6 address, else ll
}

// Router is a checked configuration put to work: the route table, the
// neighbour cache and the budgets of what the router sends. Its methods
// are safe for concurrent use; each packet-path worker uses its own
// Forwarder over it.
type Router struct {
	cfg   Config
	sides [2]side // immutable after New
	table *table  // immutable after New
	neigh *neighbours
	icmp  *icmpLimiter
	clock clock.Clock
	stats [numEvents]atomic.Uint64 // atomic, no lock

	sweepMu sync.Mutex
	sweeper *Forwarder // guarded by sweepMu; Sweep's buffers, made at its first use
}

// ErrConfig is returned, wrapped, by New for a configuration with problems.
var ErrConfig = errors.New("router: bad configuration")

// New checks cfg (Check) and builds its Router; an error wraps ErrConfig
// and every problem. Both interfaces need their MAC and MTU by now.
func New(cfg Config) (*Router, error) {
	if ps := Check(&cfg); len(ps) > 0 {
		errs := []error{ErrConfig}
		for _, p := range ps {
			errs = append(errs, p)
		}
		return nil, errors.Join(errs...)
	}
	cfg.Neighbours.fill()
	cfg.ICMP.fill()
	r := &Router{cfg: cfg, neigh: newNeighbours(cfg.Neighbours), icmp: newICMPLimiter(cfg.ICMP), clock: clock.Or(cfg.Clock)}
	var ll [2]netip.Addr
	for _, s := range []datapath.Side{datapath.LAN, datapath.WAN} {
		ifc := cfg.Interface(s)
		if ifc.MAC == ([6]byte{}) || ifc.MAC[0]&1 != 0 {
			return nil, errors.Join(ErrConfig, errors.New("router: "+s.String()+" needs a unicast MAC address"))
		}
		mtu := ifc.MTU
		if mtu == 0 {
			mtu = 1500
		}
		sd := side{name: ifc.Name, mac: ifc.MAC, mtu: mtu, addrs: ifc.Addrs, ll: LinkLocal(ifc.MAC)}
		for _, a := range ifc.Addrs {
			if a.Addr().Is4() && !sd.v4.IsValid() {
				sd.v4 = a.Addr()
			}
			if a.Addr().Is6() && !sd.v6.IsValid() {
				sd.v6 = a.Addr()
			}
		}
		if !sd.v6.IsValid() {
			sd.v6 = sd.ll
		}
		r.sides[s] = sd
		ll[s] = sd.ll
	}
	r.table = newTable(&cfg, ll)
	return r, nil
}

// MAC returns the link-layer address of side s.
func (r *Router) MAC(s datapath.Side) [6]byte { return r.sides[s&1].mac }

// LinkLocalAddr returns the IPv6 link-local address of side s.
func (r *Router) LinkLocalAddr(s datapath.Side) netip.Addr { return r.sides[s&1].ll }

func (r *Router) count(e Event) { r.stats[e].Add(1) }

// Counts returns the counter of every event that happened.
func (r *Router) Counts() map[string]uint64 {
	out := map[string]uint64{}
	for e := Event(0); e < numEvents; e++ {
		if n := r.stats[e].Load(); n > 0 {
			out[e.String()] = n
		}
	}
	return out
}

// Count returns the counter of e.
func (r *Router) Count(e Event) uint64 {
	if e >= numEvents {
		return 0
	}
	return r.stats[e].Load()
}

// NumEvents is the number of events, for callers that export every counter.
const NumEvents = int(numEvents)

// Neighbours returns a snapshot of the neighbour cache.
func (r *Router) Neighbours() []NeighbourEntry { return r.neigh.entries() }

// Sender is where a Forwarder's frames go: the datapath's Sender.
type Sender interface {
	Send(to datapath.Side, frame []byte) error
}

// Forwarder is one worker's use of a Router: it owns the buffers of the
// answers it builds and of fragments, so the packet path allocates
// nothing. One goroutine uses a Forwarder.
type Forwarder struct {
	r       *Router
	buf     []byte // answers: ARP, ND, ICMP
	fbuf    []byte // a fragment
	frag    packet.Fragmenter
	scratch packet.Parsed // a queued packet read again
	nb      neighMemo     // the last next hop Forward looked up
}

// NewForwarder returns a Forwarder over r for one worker.
func (r *Router) NewForwarder() *Forwarder {
	return &Forwarder{r: r, buf: make([]byte, 0, 2048), fbuf: make([]byte, 0, 65535+64)}
}

// Router returns the Router behind f.
func (f *Forwarder) Router() *Router { return f.r }

// Ingress takes frame, decoded into p, arrived on side in, and reports
// where its packet would go when the rest of the pipeline lets it: a Hop
// out of a side, true; or, for a packet addressed to one of the router's
// own addresses, a Hop with Local set, which the caller hands to Deliver
// (or, translating addresses, to a port forward that claims it). It
// answers and consumes what is the router's alone, reporting false: ARP
// and neighbour discovery, frames for other hosts' link-layer addresses,
// packets that are never routed, and packets with no route (answered with
// network unreachable). A packet whose headers fail to decode goes on
// (the pipeline drops it and counts why), as does a fragment: the route
// of a fragment is its datagram's.
func (f *Forwarder) Ingress(p *packet.Parsed, in datapath.Side, out Sender) (Hop, bool) {
	r := f.r
	in &= 1
	sd := &r.sides[in]
	if !p.HasEthernet {
		r.count(EventNonIP)
		return Hop{}, false
	}
	if p.EthDst != sd.mac && p.EthDst[0]&1 == 0 {
		r.count(EventOtherHost)
		return Hop{}, false
	}
	if p.NumVLAN > 0 {
		r.count(EventTagged)
		return Hop{}, false
	}
	if p.EtherType == packet.EtherTypeARP {
		if p.Invalid == packet.Valid {
			f.arp(p, in, out)
		} else {
			r.count(EventNonIP)
		}
		return Hop{}, false
	}
	if p.Invalid != packet.Valid {
		// A broken header: the pipeline drops it and counts what is
		// wrong, as in bridge mode.
		return Hop{Out: in.Other()}, true
	}
	if p.IPVersion == 0 {
		r.count(EventNonIP)
		return Hop{}, false
	}
	src, dst := p.Src.Addr(), p.Dst.Addr()
	if p.IPVersion == 6 && p.Proto == ipproto.ICMPv6 && p.HasL4 && p.ICMPType >= packet.NDRouterSolicitation && p.ICMPType <= packet.NDRedirect {
		f.nd(p, in, out)
		return Hop{}, false
	}
	if r.table.badSource(src) {
		// A packet from one of the router's own addresses came from a
		// forger; a multicast or martian source from nobody.
		r.count(EventMartian)
		return Hop{}, false
	}
	if p.EthDst[0]&1 != 0 && !dst.IsMulticast() && dst != limitedBroadcast {
		// A unicast packet in a broadcast frame (RFC 1812 5.3.4).
		r.count(EventMartian)
		return Hop{}, false
	}
	e, ok := r.table.lookup(dst)
	if !ok {
		r.count(EventNoRoute)
		f.answer(p, in, out, true, func(b []byte, from netip.Addr) []byte {
			return packet.AppendICMPUnreachableFrom(b, p, from, packet.UnreachableNet)
		})
		return Hop{}, false
	}
	switch e.kind {
	case kindLocal:
		r.count(EventLocal)
		return Hop{Out: in, Dst: dst, Local: true}, true
	case kindRoute:
		if src.IsLinkLocalUnicast() {
			// Link-local sources stay on their link (RFC 4291 2.5.6).
			r.count(EventLinkLocal)
			return Hop{}, false
		}
		if e.side == in {
			// Connection tracking binds a connection to the side its
			// first packet came in on and its replies to the other.
			r.count(EventSameSide)
			return Hop{}, false
		}
		h := Hop{Out: e.side, NextHop: dst, Dst: dst}
		if e.via.IsValid() {
			h.NextHop = e.via
		}
		return h, true
	case kindLinkLocal, kindMulticast:
		r.count(EventLinkLocal)
	default:
		r.count(EventMartian)
	}
	return Hop{}, false
}

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// from returns the router's address that answers p, which came in on in:
// its address on that side in the prefix of p's source, else its first of
// the family there, else on the other side; for IPv6 the link-local
// address when nothing else is left. Invalid when IPv4 has no address.
func (r *Router) from(p *packet.Parsed, in datapath.Side) netip.Addr {
	src := p.Src.Addr()
	for _, a := range r.sides[in].addrs {
		if a.Contains(src) {
			return a.Addr()
		}
	}
	for _, s := range []datapath.Side{in, in.Other()} {
		sd := &r.sides[s]
		if src.Is4() {
			if sd.v4.IsValid() {
				return sd.v4
			}
		} else if sd.v6 != sd.ll {
			return sd.v6
		}
	}
	if src.Is6() {
		return r.sides[in].ll
	}
	return netip.Addr{}
}

// answer sends back to p's source, out of in, what build appends to f.buf
// from the router's address that answers p, if the rate limits allow it;
// isError says it is an ICMP error, bounded per destination as well.
// The answer goes to the neighbour p came from (its Ethernet addresses
// swapped), as p's source is reached through it.
// It reports whether an answer went.
func (f *Forwarder) answer(p *packet.Parsed, in datapath.Side, out Sender, isError bool, build func(b []byte, from netip.Addr) []byte) bool {
	r := f.r
	from := r.from(p, in)
	if !from.IsValid() {
		return false
	}
	b := build(f.buf[:0], from)
	if len(b) == 0 {
		return false
	}
	if !r.icmp.allow(p.Src.Addr(), r.clock.Now().UnixNano(), isError) {
		r.count(EventICMPLimited)
		return false
	}
	f.buf = b
	_ = out.Send(in, b)
	return true
}

// Deliver answers p, addressed to one of the router's addresses, which
// came in on in: a ping gets its echo reply, a TCP segment a reset, UDP
// port unreachable, another protocol protocol unreachable; ICMP messages
// other than echo requests are taken silently. The router offers no
// service on its addresses; every answer is bounded by the rate limits.
// Fragments are not reassembled for it and get no answer.
func (f *Forwarder) Deliver(p *packet.Parsed, in datapath.Side, out Sender) {
	r := f.r
	if p.Invalid != packet.Valid || p.IsFragment || !p.HasL4 {
		return
	}
	switch p.Proto {
	case ipproto.ICMP, ipproto.ICMPv6:
		if (p.IPVersion == 4 && p.ICMPType == 8) || (p.IPVersion == 6 && p.ICMPType == 128) {
			if p.CheckChecksums(true) != packet.ChecksumOK {
				return
			}
			if f.answer(p, in, out, false, func(b []byte, _ netip.Addr) []byte { return packet.AppendEchoReply(b, p) }) {
				r.count(EventEchoReplied)
			}
		}
		return
	}
	if p.CheckChecksums(true) != packet.ChecksumOK {
		return
	}
	r.count(EventLocalRefused)
	switch p.Proto {
	case ipproto.TCP:
		if !r.icmp.allow(p.Src.Addr(), r.clock.Now().UnixNano(), true) {
			r.count(EventICMPLimited)
			return
		}
		if b := packet.AppendTCPReset(f.buf[:0], p); len(b) > 0 {
			f.buf = b
			_ = out.Send(in, b)
		}
	case ipproto.UDP:
		f.answer(p, in, out, true, func(b []byte, _ netip.Addr) []byte {
			return packet.AppendICMPUnreachable(b, p, packet.UnreachablePort)
		})
	default:
		f.answer(p, in, out, true, func(b []byte, _ netip.Addr) []byte {
			return packet.AppendICMPUnreachable(b, p, packet.UnreachableProtocol)
		})
	}
}

// Frame is how Forward may treat the frame it sends.
type Frame struct {
	// GSOSize is the size of the segments a GSO super-frame is cut into
	// on the way out (datapath.VNetHeader.GSOSize), zero for a frame that
	// leaves as it is. Its size is judged by its segments', and it is never
	// queued (its offload header would be lost).
	GSOSize int
	// HdrLen is the length of the headers before a super-frame's segment
	// payload.
	HdrLen int
	// ChecksumPending says the transport checksum is left for the
	// kernel to complete on the way out (datapath.VNetHeader
	// NeedsChecksum), which it does only for the frame as it arrived:
	// a copy that waits for a neighbour, or fragments, get theirs
	// computed here first.
	ChecksumPending bool
	// Refragment, for an IPv6 datagram the gateway reassembled from its
	// source's fragments (gateway.fragments.forward: reassembled), is
	// the size of the fragments to cut it into again: the largest its
	// source sent, raised to the IPv6 minimum MTU. A router never
	// fragments IPv6 (RFC 8200 5), but this datagram was fragmented by
	// its source, correctly: it leaves cut as its source cut it, with
	// FragmentID for identification, at most the link's MTU, instead of
	// being answered with packet too big. Zero for every other packet.
	Refragment int
	// FragmentID is the identification of the fragments Refragment cuts.
	FragmentID uint32
}

// Forward sends p (decoded from the frame in p.Buf, arrived on in), which
// Ingress routed to h and the pipeline let through: out of h's side with
// its TTL or hop limit decremented, the checksum adjusted (RFC 1624), to
// its next hop's link-layer address, resolved first if need be (the
// packet then waits in a small queue). When the pipeline rewrote the
// destination (NAT), the route is chosen again. A packet whose TTL runs
// out is answered with time exceeded, one over the link's MTU with
// fragmentation needed or packet too big, unless it is IPv4 without DF,
// which is fragmented, or an IPv6 datagram its source fragmented
// (Frame.Refragment), which is fragmented again. It returns what
// happened.
func (f *Forwarder) Forward(p *packet.Parsed, in datapath.Side, h Hop, fr Frame, out Sender) Event {
	r := f.r
	in &= 1
	translated := false
	if dst := p.Dst.Addr(); dst != h.Dst {
		var ok bool
		if h, ok = r.Route(dst); !ok || h.Local {
			r.count(EventNoRoute)
			return EventNoRoute
		}
		translated = true
	}
	// Traffic never goes back out of the side it came in on, except a
	// hairpin: a packet the NAT readdressed (an inside client reaching a
	// port forward, or another inside host's mapping, by the public
	// address, and the answers), whose connection the NAT bound to that
	// side.
	if h.Out == in && !translated {
		r.count(EventSameSide)
		return EventSameSide
	}
	if p.TTL <= 1 {
		r.count(EventTTLExceeded)
		f.answer(p, in, out, true, func(b []byte, from netip.Addr) []byte {
			return packet.AppendICMPTimeExceeded(b, p, from)
		})
		return EventTTLExceeded
	}
	osd := &r.sides[h.Out]
	l3 := len(p.Buf) - p.L3Off
	mtu := osd.mtu
	if fr.Refragment > 0 && p.IPVersion == 6 {
		mtu = min(mtu, max(fr.Refragment, packet.MinMTUv6))
	}
	fits := l3 <= mtu
	if fr.GSOSize > 0 {
		fits = fr.HdrLen-p.L3Off+fr.GSOSize <= mtu
	}
	// A source's IPv6 fragments larger than the link would have been
	// answered with packet too big one by one: so is their datagram,
	// and the source learns the path's MTU as it would have.
	if !fits && (p.IPVersion == 6 && (fr.Refragment == 0 || fr.Refragment > osd.mtu) || p.DontFragment || fr.GSOSize > 0) {
		r.count(EventTooBig)
		f.answer(p, in, out, true, func(b []byte, from netip.Addr) []byte {
			return packet.AppendICMPTooBig(b, p, from, osd.mtu)
		})
		return EventTooBig
	}
	p.DecrementTTL()
	mac, ok := r.neigh.lookupMemo(&f.nb, neighKey{addr: h.NextHop, side: h.Out}, r.clock.Now().UnixNano())
	if fr.ChecksumPending && (!ok || !fits) {
		p.FillChecksum()
	}
	if !fits {
		return f.fragment(p, h, mtu, fr.FragmentID, mac, ok, out)
	}
	if ok {
		p.SetEthernet(mac, osd.mac)
		_ = out.Send(h.Out, p.Buf)
		r.count(EventForwarded)
		return EventForwarded
	}
	frame := p.Buf
	if fr.GSOSize > 0 {
		frame = nil
	}
	// Waiting packets carry the router's address as their source already.
	p.SetEthernet([6]byte{}, osd.mac)
	return f.resolve(h, frame, out)
}

// fragment sends p, too large for h's link, in fragments of at most mtu
// bytes; id is the identification of IPv6 fragments (IPv4 keeps p's).
func (f *Forwarder) fragment(p *packet.Parsed, h Hop, mtu int, id uint32, mac [6]byte, known bool, out Sender) Event {
	r := f.r
	osd := &r.sides[h.Out]
	if err := f.frag.Reset(p, mtu, id); err != nil {
		r.count(EventTooBig)
		return EventTooBig
	}
	ev := EventFragmented
	for {
		b, more := f.frag.Next(f.fbuf[:0])
		if len(b) == 0 {
			break
		}
		f.fbuf = b
		if known {
			packet.SetEthernet(b, mac, osd.mac)
			_ = out.Send(h.Out, b)
		} else {
			packet.SetEthernet(b, [6]byte{}, osd.mac)
			if e := f.resolve(h, b, out); e != EventQueued {
				ev = e
			}
		}
		if !more {
			break
		}
	}
	if ev == EventFragmented {
		r.count(EventFragmented)
	}
	return ev
}

// resolve hands frame, for h's next hop whose link-layer address the fast
// path could not use, to the neighbour cache, and sends what it asks:
// the frame itself, a request or probe, host unreachable for packets
// that waited in vain.
func (f *Forwarder) resolve(h Hop, frame []byte, out Sender) Event {
	r := f.r
	k := neighKey{addr: h.NextHop, side: h.Out}
	res := r.neigh.resolve(k, r.clock.Now().UnixNano(), frame)
	if res.req.kind != reqNone {
		if b := r.request(f.buf[:0], k, res.req); len(b) > 0 {
			f.buf = b
			_ = out.Send(h.Out, b)
		}
	}
	f.unreachable(res.failed, out)
	switch {
	case res.send && frame != nil:
		packet.SetEthernet(frame, res.hw, r.sides[h.Out].mac)
		_ = out.Send(h.Out, frame)
		r.count(EventForwarded)
		return EventForwarded
	case res.queued:
		r.count(EventQueued)
		return EventQueued
	case res.drop != 0:
		r.count(res.drop)
		return res.drop
	}
	r.count(EventNeighbourDropped)
	return EventNeighbourDropped
}

// request appends the ARP request or neighbour solicitation that req asks
// for k: from the router's address on k's side in k's prefix (else its
// first of the family there, else for IPv6 its link-local address), to
// all (broadcast, the solicited-node group) or by unicast to req.hw.
func (r *Router) request(b []byte, k neighKey, req request) []byte {
	sd := &r.sides[k.side]
	var src netip.Addr
	for _, a := range sd.addrs {
		if a.Addr().Is4() == k.addr.Is4() && a.Contains(k.addr) {
			src = a.Addr()
			break
		}
	}
	if k.addr.Is4() {
		if !src.IsValid() {
			src = sd.v4
		}
		if !src.IsValid() {
			return b
		}
		a := packet.ARP{Op: packet.ARPRequest, SenderHW: sd.mac, SenderIP: src, TargetIP: k.addr}
		dst := packet.BroadcastMAC
		if req.kind == reqUnicast {
			dst = req.hw
		}
		return packet.AppendARP(b, dst, &a)
	}
	if !src.IsValid() {
		src = sd.ll
		if !k.addr.IsLinkLocalUnicast() && sd.v6 != sd.ll {
			src = sd.v6
		}
	}
	if req.kind == reqUnicast {
		return packet.AppendNeighborSolicitation(b, sd.mac, src, k.addr, req.hw, k.addr)
	}
	g := packet.SolicitedNode(k.addr)
	return packet.AppendNeighborSolicitation(b, sd.mac, src, k.addr, packet.MulticastMAC(g), g)
}

// unreachable answers packets that waited for a neighbour that never
// answered with host unreachable (address unreachable for IPv6), routed
// back to their source like any packet the router originates.
func (f *Forwarder) unreachable(failed [][]byte, out Sender) {
	r := f.r
	for _, fr := range failed {
		r.count(EventNeighbourFailed)
		p := &f.scratch
		p.Decode(fr)
		if p.Invalid != packet.Valid || p.IPVersion == 0 {
			continue
		}
		h, ok := r.Route(p.Src.Addr())
		if !ok || h.Local {
			continue
		}
		from := r.from(p, h.Out)
		if !from.IsValid() || !r.icmp.allow(p.Src.Addr(), r.clock.Now().UnixNano(), true) {
			continue
		}
		b := packet.AppendICMPUnreachableFrom(f.buf[:0], p, from, packet.UnreachableHost)
		if len(b) == 0 {
			continue
		}
		f.buf = b
		mac, known := r.neigh.lookup(neighKey{addr: h.NextHop, side: h.Out}, r.clock.Now().UnixNano())
		if !known {
			// It was reachable a moment ago, when its packet came; the
			// answer is not worth a resolution of its own.
			continue
		}
		packet.SetEthernet(b, mac, r.sides[h.Out].mac)
		_ = out.Send(h.Out, b)
	}
}

// flush sends the packets that waited for k, now known at mac.
func (f *Forwarder) flush(k neighKey, mac [6]byte, q [][]byte, out Sender) {
	sd := &f.r.sides[k.side]
	for _, fr := range q {
		packet.SetEthernet(fr, mac, sd.mac)
		_ = out.Send(k.side, fr)
		f.r.count(EventForwarded)
	}
}

// arp handles an ARP message that came in on in: a request for one of the
// router's addresses on that side is answered; a reply to a request of
// the router's fills the cache and lets the packets that waited go; any
// other claim (gratuitous, unsolicited replies, a request's sender fields)
// is not learnt, but one that contradicts a cached address has the router
// probe it.
func (f *Forwarder) arp(p *packet.Parsed, in datapath.Side, out Sender) {
	r := f.r
	a := &p.ARP
	sd := &r.sides[in]
	if a.SenderHW[0]&1 != 0 || a.SenderHW == ([6]byte{}) || a.SenderHW == sd.mac || p.EthSrc != a.SenderHW {
		r.count(EventUnsolicited)
		return
	}
	onLink := false
	for _, pf := range sd.addrs {
		if pf.Addr().Is4() && pf.Contains(a.SenderIP) && a.SenderIP != pf.Addr() {
			onLink = true
		}
	}
	k := neighKey{addr: a.SenderIP, side: in}
	now := r.clock.Now().UnixNano()
	ours := false
	if e, ok := r.table.lookup(a.TargetIP); ok && e.kind == kindLocal && e.side == in {
		ours = true
	}
	switch {
	case a.Op == packet.ARPReply && ours && !a.IsGratuitous() && onLink && p.EthDst == sd.mac && a.TargetHW == sd.mac:
		if q, ok := r.neigh.confirm(k, a.SenderHW, now); ok {
			r.count(EventNeighbourLearnt)
			f.flush(k, a.SenderHW, q, out)
			return
		}
		r.count(EventUnsolicited)
		f.suspectAndProbe(k, a.SenderHW, now, out)
	case a.Op == packet.ARPRequest && ours && !a.IsGratuitous() && (onLink || a.SenderIP.IsUnspecified()):
		r.count(EventARPReplied)
		if onLink {
			f.suspectAndProbe(k, a.SenderHW, now, out)
		}
		reply := packet.ARP{Op: packet.ARPReply, SenderHW: sd.mac, SenderIP: a.TargetIP, TargetHW: a.SenderHW, TargetIP: a.SenderIP}
		if b := packet.AppendARP(f.buf[:0], a.SenderHW, &reply); len(b) > 0 {
			f.buf = b
			_ = out.Send(in, b)
		}
	default:
		r.count(EventUnsolicited)
		if onLink {
			f.suspectAndProbe(k, a.SenderHW, now, out)
		}
	}
}

// suspectAndProbe tells the cache that k claims to be at mac, and sends
// the probe it asks for when that contradicts what it holds.
func (f *Forwarder) suspectAndProbe(k neighKey, mac [6]byte, now int64, out Sender) {
	if req := f.r.neigh.suspect(k, mac, now); req.kind != reqNone {
		if b := f.r.request(f.buf[:0], k, req); len(b) > 0 {
			f.buf = b
			_ = out.Send(k.side, b)
		}
	}
}

// nd handles ICMPv6 neighbour discovery that came in on in: a valid
// solicitation for one of the router's addresses on that side is
// answered with an advertisement (solicited, router, override); a valid
// solicited advertisement of an address the router asked for fills the
// cache and lets the packets that waited go. Nothing else is learnt;
// router solicitations, advertisements and redirects are not the
// router's business (it advertises no prefixes).
func (f *Forwarder) nd(p *packet.Parsed, in datapath.Side, out Sender) {
	r := f.r
	nd, ok := p.ND()
	if !ok {
		if p.ICMPType == packet.NDNeighborSolicitation || p.ICMPType == packet.NDNeighborAdvertisement {
			r.count(EventNDInvalid)
		} else {
			r.count(EventLinkLocal)
		}
		return
	}
	if p.CheckChecksums(true) != packet.ChecksumOK {
		r.count(EventNDInvalid)
		return
	}
	sd := &r.sides[in]
	ours := false
	if e, ok := r.table.lookup(nd.Target); ok && e.kind == kindLocal && e.side == in {
		ours = true
	}
	src := p.Src.Addr()
	now := r.clock.Now().UnixNano()
	k := neighKey{addr: nd.Target, side: in}
	switch nd.Type {
	case packet.NDNeighborSolicitation:
		if !ours {
			r.count(EventLinkLocal)
			return
		}
		r.count(EventNAReplied)
		flags := packet.NARouter | packet.NASolicited | packet.NAOverride
		dstIP, dstHW := src, p.EthSrc
		if src.IsUnspecified() {
			// Duplicate address detection of an address the router
			// holds: tell all nodes (RFC 4861 7.2.4).
			flags &^= packet.NASolicited
			dstIP, dstHW = packet.AllNodes, packet.MulticastMAC(packet.AllNodes)
		} else if nd.HasLinkAddr {
			dstHW = nd.LinkAddr
			f.suspectAndProbe(neighKey{addr: src, side: in}, nd.LinkAddr, now, out)
		}
		if b := packet.AppendNeighborAdvertisement(f.buf[:0], sd.mac, nd.Target, flags, dstHW, dstIP); len(b) > 0 {
			f.buf = b
			_ = out.Send(in, b)
		}
	case packet.NDNeighborAdvertisement:
		if ours || !nd.HasLinkAddr || nd.LinkAddr[0]&1 != 0 {
			r.count(EventUnsolicited)
			return
		}
		if nd.Flags&packet.NASolicited != 0 && !p.Dst.Addr().IsMulticast() {
			if q, ok := r.neigh.confirm(k, nd.LinkAddr, now); ok {
				r.count(EventNeighbourLearnt)
				f.flush(k, nd.LinkAddr, q, out)
				return
			}
		}
		r.count(EventUnsolicited)
		f.suspectAndProbe(k, nd.LinkAddr, now, out)
	}
}

// Sweep runs the neighbour cache's timers: it repeats requests, probes
// neighbours in use whose answers are old, gives up on those that never
// answer (answering what waited for them with host unreachable), and
// forgets entries unused for a while. What it sends goes through
// Config.Transmit; call it about every RetransTime.
func (r *Router) Sweep() {
	acts := r.neigh.sweep(r.clock.Now().UnixNano())
	if r.cfg.Transmit == nil || len(acts) == 0 {
		return
	}
	r.sweepMu.Lock()
	defer r.sweepMu.Unlock()
	if r.sweeper == nil {
		r.sweeper = r.NewForwarder()
	}
	f := r.sweeper
	tx := transmitSender{r.cfg.Transmit}
	for _, a := range acts {
		if a.req.kind != reqNone {
			if b := r.request(f.buf[:0], a.key, a.req); len(b) > 0 {
				f.buf = b
				_ = r.cfg.Transmit(a.key.side, b)
			}
		}
		f.unreachable(a.failed, tx)
	}
}

type transmitSender struct {
	tx func(datapath.Side, []byte) error
}

func (t transmitSender) Send(to datapath.Side, frame []byte) error { return t.tx(to, frame) }
