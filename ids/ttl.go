package ids

import (
	"net/netip"
	"time"

	"github.com/rampart-fw/rampart/ids/target"
	"github.com/rampart-fw/rampart/packet"
)

// HostHops gives each destination the number of routers between the
// engine and it: 0 on the engine's own link. Like the reassembly
// policies it is chosen by the longest configured prefix that holds the
// destination (ids.default.hops, ids.host_policies[].hops).
type HostHops = target.Table[uint8]

// NewHostHops returns a table whose every destination is def routers
// away.
func NewHostHops(def uint8) *HostHops { return target.New(def) }

// EventTTLEvasion names the engine event of a packet that cannot reach
// its destination: its TTL or hop limit runs out on the way (Ptacek and
// Newsham's insertion by TTL). Its layer says what it would have fooled:
// stream for a TCP segment, decode (EVE "defrag.ttl_evasion") for an IP
// fragment.
const EventTTLEvasion = "ttl_evasion"

// ttl is what the engine knows of the hops between it and the
// destinations, for the check every packet passes.
type ttl struct {
	hops *HostHops
	// routed is 1 when the engine runs in a router, which takes one
	// more hop off every packet after inspection.
	routed uint8
	// raiseTo is the TTL a forwarded packet below it is raised to in
	// prevention mode (MinTTL plus routed); 0 raises nothing.
	raiseTo uint8
	// reachAll: a packet whose TTL is above it reaches every
	// destination (the most hops of any, plus routed).
	reachAll uint8
	// low: a packet whose TTL is above it needs neither a raise nor a
	// lookup of its destination, the per-packet cost of all this being
	// one comparison.
	low uint8
}

func newTTL(cfg *Config) ttl {
	t := ttl{hops: cfg.Hops}
	if t.hops == nil {
		t.hops = NewHostHops(0)
	}
	if cfg.Routed {
		t.routed = 1
	}
	most := int(t.hops.Default())
	for _, h := range t.hops.All() {
		most = max(most, int(h))
	}
	t.reachAll = uint8(min(255, most+int(t.routed)))
	if cfg.Mode == Prevent && cfg.MinTTL > 0 {
		t.raiseTo = uint8(min(255, int(cfg.MinTTL)+int(t.routed)))
	}
	t.low = max(t.reachAll, t.raiseTo)
	return t
}

// reaches is the check of a packet whose TTL is at most t.low. With raise
// (a packet that goes out as p.Buf holds it) and a TTL below raiseTo, the
// TTL is raised to it in p.Buf, the IPv4 header checksum adjusted. Then it
// reports whether the packet reaches its destination: whether its TTL
// exceeds the routers between (the destination's hops, plus the engine's
// own router), when there is any.
func (e *Engine) reaches(p *packet.Parsed, raise bool) bool {
	t := &e.ttl
	if raise && p.TTL < t.raiseTo && p.SetTTL(t.raiseTo) {
		e.c.ttlRaised.Add(1)
	}
	if p.TTL > t.reachAll {
		return true
	}
	// Each router on the way forwards only a packet whose TTL is above
	// 1 and takes 1 off; the destination itself takes any TTL, 0
	// included (a host does not check it).
	if n := int(t.hops.Lookup(p.Dst.Addr())) + int(t.routed); n == 0 || int(p.TTL) > n {
		return true
	}
	e.c.ttlUnreachable.Add(1)
	return false
}

// ttlEvasion reports a packet that cannot reach its destination and would
// have changed what the engine takes the destination to receive.
func (e *Engine) ttlEvasion(p *packet.Parsed, layer Layer, now time.Time) {
	e.c.events[layer].Add(1)
	ev := Event{Time: now, Layer: layer, Name: EventTTLEvasion, Key: p.Flow()}
	if layer == LayerStream {
		ev.FlowID = e.stream.FlowID(ev.Key)
	}
	if layer == LayerDecode {
		// As defrag's events: the addresses and the protocol.
		ev.Key.Src = netip.AddrPortFrom(p.Src.Addr(), 0)
		ev.Key.Dst = netip.AddrPortFrom(p.Dst.Addr(), 0)
	}
	e.out.Event(ev)
}
