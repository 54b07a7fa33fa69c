package nat

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/rampart-fw/rampart/firewall/conntrack"
	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// Outcome is what Create did with a new connection.
type Outcome uint8

const (
	// Untranslated: the connection is none of the NAT's; it was created
	// as it is (or refused by the table: the Result says why).
	Untranslated Outcome = iota
	// Translated: the connection was created with its translation.
	Translated
	// Refused: the table refused the connection, translated or not
	// (full, a source bound, a collision); the Result's Reason says
	// which.
	Refused
	// NoMapping: an inbound packet to a public address that no mapping
	// and no forward holds, or held by a mapping that expired: an inbound
	// packet never creates a mapping. Dropped.
	NoMapping
	// Filtered: an inbound packet to a live mapping from an endpoint its
	// filtering does not admit. Dropped.
	Filtered
	// QuotaExceeded: the inside host holds its quota of mappings.
	QuotaExceeded
	// Exhausted: no mapping left, or no port of the public address.
	Exhausted
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"untranslated", "translated", "refused", "no_mapping", "filtered", "quota_exceeded", "exhausted"}

// String returns a stable snake_case name, used as a metric label.
func (o Outcome) String() string {
	if o < numOutcomes {
		return outcomeNames[o]
	}
	return "unknown"
}

// Dropped reports whether the packet must be dropped.
func (o Outcome) Dropped() bool { return o >= Refused }

// endpoint is one end of a mapping: a protocol and an address and port
// (for an ICMP query, its identifier).
type endpoint struct {
	proto ipproto.Proto
	ap    netip.AddrPort
}

// mapping is one inside endpoint's public endpoint, shared by every
// connection it makes (endpoint-independent mapping, RFC 4787 REQ-1).
type mapping struct {
	inside, public endpoint
	refs           int32 // connections holding it; 0: the slot is free
	next           int32 // free list
	space          *portSet
	pub            int32 // index into Translator.public
}

// peer records that connections of mapping m went to address addr: what
// address-dependent filtering admits.
type peerKey struct {
	m    int32
	addr netip.Addr
}

type peer struct {
	k    peerKey
	refs int32
	next int32 // free list
}

// host is one inside host: its mappings and the public address they
// share (paired pooling, RFC 4787 REQ-2).
type host struct {
	n   int32
	pub int32
}

// space is the port space of one protocol on one public address.
type space struct {
	pub   int32
	proto ipproto.Proto
}

const nilIdx = -1

// Translator decides the translation of new connections and owns the
// mappings. Create, Rewrite and the accessors may be called from many
// goroutines at once.
//
// Sharing: cfg, public and forwards are immutable after New. The mapping
// state is behind mu, which is taken only for a new connection (and by
// Admits, for a packet from the wan that has none) and when the table
// releases one (Release runs with a shard of the
// table locked: the order is always shard, then mu; Create never holds mu
// while it calls the table). Translated packets of live connections take
// no lock here: their rewrite comes from their conntrack entry.
type Translator struct {
	cfg      Config                      // immutable after New
	public   []netip.Addr                // immutable after New
	forwards map[endpoint]netip.AddrPort // by protocol and public port, address zero; immutable

	mu       sync.RWMutex
	maps     []mapping           // guarded by mu; preallocated, MaxMappings
	free     int32               // head of the free mapping list; guarded by mu
	live     int                 // mappings in use; guarded by mu
	byInside map[endpoint]int32  // mappings by inside endpoint; guarded by mu
	byPublic map[endpoint]int32  // mappings by public endpoint; guarded by mu
	hosts    map[netip.Addr]host // guarded by mu
	spaces   map[space]*portSet  // guarded by mu; a set's bits too
	peers    []peer              // guarded by mu; one per mapping and address sent to (address-dependent filtering), at most one per connection
	peerFree int32               // guarded by mu
	byPeer   map[peerKey]int32   // guarded by mu
	rng      *rand.PCG           // guarded by mu

	stats counters // atomics, no lock
}

type counters struct {
	outcomes    [numOutcomes]atomic.Uint64
	allocations atomic.Uint64
	expired     atomic.Uint64
	preserved   atomic.Uint64
	badRewrite  atomic.Uint64
	mappings    atomic.Int64
}

// New checks cfg and builds a Translator with room for its mappings.
func New(cfg Config) (*Translator, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	t := &Translator{
		cfg:      cfg,
		public:   cfg.Public,
		forwards: make(map[endpoint]netip.AddrPort, len(cfg.Forwards)),
		maps:     make([]mapping, cfg.MaxMappings),
		byInside: make(map[endpoint]int32),
		byPublic: make(map[endpoint]int32),
		hosts:    make(map[netip.Addr]host),
		spaces:   make(map[space]*portSet),
		peerFree: nilIdx,
		byPeer:   make(map[peerKey]int32),
		rng:      rand.NewPCG(rand.Uint64(), rand.Uint64()),
	}
	for i := range t.maps {
		t.maps[i].next = int32(i + 1)
	}
	t.maps[len(t.maps)-1].next = nilIdx
	for _, f := range cfg.Forwards {
		t.forwards[endpoint{f.Proto, netip.AddrPortFrom(netip.Addr{}, f.Port)}] = f.To
		// A forwarded port is never a mapping's (RFC 4787 REQ-3 aside:
		// a port the NAT serves is not free).
		for i, a := range t.public {
			if a.Is4() == f.To.Addr().Is4() {
				t.portSpace(int32(i), f.Proto).set(f.Port)
			}
		}
	}
	return t, nil
}

// Conntrack prepares the configuration of the connection table that
// will hold the translations: room for them, the NAT's timers (RFC 4787
// REQ-5 for UDP, RFC 5382 REQ-5 for TCP, RFC 5508 REQ-2 for ICMP), and
// the hand-back of references that frees mappings.
func (t *Translator) Conntrack(cfg *conntrack.Config) {
	cfg.NAT = true
	cfg.Release = t.Release
	cfg.NATTimeouts.UDP = t.cfg.UDPTimeout
	cfg.NATTimeouts.UDPStream = t.cfg.UDPTimeout
}

// Filtering returns the configured filtering behaviour.
func (t *Translator) Filtering() Filtering { return t.cfg.Filtering }

// isPublic returns the index of a, one of the public addresses, or -1.
func (t *Translator) isPublic(a netip.Addr) int32 {
	for i, p := range t.public {
		if p == a {
			return int32(i)
		}
	}
	return nilIdx
}

// masquerades reports whether connections from a leave translated.
func (t *Translator) masquerades(a netip.Addr) bool {
	for _, p := range t.cfg.Masquerade {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Create creates the conntrack entry of a new connection that the policy
// let through, p being its first packet: translated if it comes from a
// masqueraded prefix, is addressed to a forward, or, on the wan side, to
// a mapping its filtering admits; as it is otherwise. An inbound packet
// to a public address that holds neither is dropped (NoMapping): inbound
// packets never create mappings (RFC 4787 section 5, RFC 5382 section
// 4.3: filtering is of packets to mappings inside endpoints made). p.NAT,
// when set, receives the rewrite of p.
func (t *Translator) Create(tbl *conntrack.Table, p *conntrack.Packet) (conntrack.Result, Outcome) {
	var n conntrack.NAT
	// plan keeps addresses of the flow (map keys). Rebuilt here, they
	// share nothing with p, so escape analysis lets the caller's packet,
	// and the Rewrite it points to, stay on its stack.
	f := flow.Key{Src: detach(p.Flow.Src), Dst: detach(p.Flow.Dst), Proto: p.Flow.Proto}
	out := t.plan(f, p.Side, p.IsICMPError, &n)
	switch out {
	case Untranslated:
		r, ok := tbl.Create(p)
		if !ok {
			out = Refused
		}
		t.stats.outcomes[out].Add(1)
		return r, out
	case Translated:
	default:
		t.stats.outcomes[out].Add(1)
		return conntrack.Result{State: conntrack.StateInvalid}, out
	}
	r, ok := tbl.CreateNAT(p, &n) // on failure the table hands n.Ref back
	if !ok {
		out = Refused
	}
	t.stats.outcomes[out].Add(1)
	return r, out
}

// detach returns a copy of ap that holds no pointer of ap's (an address
// has one, to its zone; the NAT's addresses have none).
func detach(ap netip.AddrPort) netip.AddrPort {
	a := ap.Addr()
	if a.Is4() {
		return netip.AddrPortFrom(netip.AddrFrom4(a.As4()), ap.Port())
	}
	return netip.AddrPortFrom(netip.AddrFrom16(a.As16()), ap.Port())
}

// Admits reports whether p, a packet with no connection, comes in from
// the wan to a live mapping whose filtering admits its source: the NAT's
// own filtering decides it, so a gateway does not ask its policy (which
// would refuse it as unsolicited and make every filtering behaviour
// address-and-port-dependent).
func (t *Translator) Admits(p *conntrack.Packet) bool {
	if p.Side != conntrack.SideWAN || t.cfg.Filtering == AddressAndPortDependent {
		return false
	}
	dst := endpoint{p.Flow.Proto, p.Flow.Dst}
	if !p.Flow.Proto.HasPorts() || t.isPublic(dst.ap.Addr()) < 0 {
		return false
	}
	// Read-locked: a flood of unsolicited packets to the wan address
	// must not queue the workers behind one lock.
	t.mu.RLock()
	defer t.mu.RUnlock()
	m, ok := t.byPublic[dst]
	return ok && t.filterAdmits(m, p.Flow.Src.Addr())
}

// plan chooses the translation of the connection of flow f, which came
// in on side, into n, taking the
// references it needs, or says why there is none.
func (t *Translator) plan(f flow.Key, side conntrack.Side, icmpError bool, n *conntrack.NAT) Outcome {
	if icmpError || !f.IsValid() {
		return Untranslated
	}
	query := f.IsICMP()
	ports := f.Proto.HasPorts()
	pubDst := t.isPublic(f.Dst.Addr())
	switch {
	case side == conntrack.SideWAN && pubDst >= 0:
		if !ports {
			// Queries and portless protocols to the gateway's own
			// address are the gateway's, not a mapping's.
			return Untranslated
		}
		if to, ok := t.forwardTo(f); ok && to.Addr().Is4() == f.Dst.Addr().Is4() {
			n.Dst = to // the server sees the client's own address
			return Translated
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		m, ok := t.byPublic[endpoint{f.Proto, f.Dst}]
		if !ok {
			return NoMapping
		}
		if !t.filterAdmits(m, f.Src.Addr()) {
			return Filtered
		}
		t.maps[m].refs++
		n.Dst, n.Ref = t.maps[m].inside.ap, ref(m, nilIdx)
		return Translated
	case side == conntrack.SideWAN:
		return Untranslated
	case pubDst >= 0:
		// From inside to a public address: hairpinning (RFC 4787 REQ-9,
		// RFC 5382 REQ-8). The target sees the client by its public
		// endpoint, so that its answers come back through the gateway.
		if !ports {
			return Untranslated
		}
		return t.hairpin(f, n)
	case t.masquerades(f.Src.Addr()):
		t.mu.Lock()
		defer t.mu.Unlock()
		if !query && !ports {
			// Nothing but the address to translate: no mapping, no port;
			// two hosts at once to one server collide in the table.
			pub := t.hostPublic(f.Src.Addr())
			if pub < 0 {
				return Untranslated
			}
			n.Src = netip.AddrPortFrom(t.public[pub], 0)
			return Translated
		}
		m, out := t.acquire(endpoint{f.Proto, f.Src})
		if out != Translated {
			return out
		}
		peer := int32(nilIdx)
		if t.cfg.Filtering == AddressDependent {
			peer = t.addPeer(m, f.Dst.Addr())
		}
		n.Src, n.Ref = t.maps[m].public.ap, ref(m, peer)
		return Translated
	}
	return Untranslated
}

// forwardTo returns the inside server of the port forward that flow f's
// protocol and destination port name, if any (forwards are immutable: no
// lock).
func (t *Translator) forwardTo(f flow.Key) (netip.AddrPort, bool) {
	to, ok := t.forwards[endpoint{f.Proto, netip.AddrPortFrom(netip.Addr{}, f.Dst.Port())}]
	return to, ok
}

// hairpin plans a connection from inside to a forward or to another
// inside host's mapping, by the public address.
func (t *Translator) hairpin(f flow.Key, n *conntrack.NAT) Outcome {
	to, fwd := t.forwardTo(f)
	t.mu.Lock()
	defer t.mu.Unlock()
	target := int32(nilIdx)
	if !fwd {
		m, ok := t.byPublic[endpoint{f.Proto, f.Dst}]
		if !ok {
			return NoMapping
		}
		target, to = m, t.maps[m].inside.ap
	}
	src := int32(nilIdx)
	if t.masquerades(f.Src.Addr()) {
		m, out := t.acquire(endpoint{f.Proto, f.Src})
		if out != Translated {
			return out
		}
		src = m
		n.Src = t.maps[m].public.ap
	}
	if target >= 0 {
		from := f.Src.Addr()
		if src >= 0 {
			from = t.maps[src].public.ap.Addr()
		}
		if !t.filterAdmits(target, from) {
			if src >= 0 {
				t.unref(src)
			}
			return Filtered
		}
	}
	if src >= 0 {
		// The connection holds its client's mapping; the target's lives
		// by its own connections.
		n.Ref = ref(src, nilIdx)
	}
	n.Dst = to
	n.ReplySide = conntrack.SideLAN
	return Translated
}

// filterAdmits reports whether mapping m admits a new connection from
// address from (RFC 4787 REQ-8, RFC 5382 REQ-3). The caller holds mu.
func (t *Translator) filterAdmits(m int32, from netip.Addr) bool {
	switch t.cfg.Filtering {
	case EndpointIndependent:
		return true
	case AddressDependent:
		_, ok := t.byPeer[peerKey{m, from}]
		return ok
	}
	return false
}

// ref packs a mapping and a peer into a conntrack Ref; 0 is no reference.
func ref(m, peer int32) uint64 {
	return uint64(uint32(m+1)) | uint64(uint32(peer+1))<<32
}

// Claims reports whether p, addressed to one of the gateway's own
// addresses, is the NAT's rather than the gateway's: an ICMP error to a
// public address (about a translated connection, which connection
// tracking then finds, or about nothing, which it drops as invalid), a
// fragment to a public address (judged once reassembled), or a
// packet to a public address and port (an ICMP query's identifier) that a
// live mapping or a port forward holds. A router hands such packets to the
// pipeline, which translates them and routes them on by their new
// destination, instead of answering them itself. It reads only, under the
// read lock, so that a flood at the wan address does not queue the
// workers.
func (t *Translator) Claims(p *packet.Parsed) bool {
	f := p.Flow()
	if !f.IsValid() || t.isPublic(f.Dst.Addr()) < 0 {
		return false
	}
	if p.IsICMPError() || p.IsFragment {
		// A fragment's ports are in the first fragment only: the
		// reassembled datagram is judged whole, and one that no
		// translation readdresses never leaves (a router does not
		// forward back to the side a packet came from).
		return true
	}
	if !f.Proto.HasPorts() && !f.IsICMP() {
		return false
	}
	if _, ok := t.forwardTo(f); ok && f.Proto.HasPorts() {
		return true
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	_, ok := t.byPublic[endpoint{f.Proto, f.Dst}]
	return ok
}
