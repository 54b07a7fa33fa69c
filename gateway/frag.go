package gateway

import (
	"net/netip"
	"sync"
	"time"

	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// fragKey names one fragmented datagram (RFC 791: source, destination,
// protocol and identification).
type fragKey struct {
	src, dst netip.Addr
	id       uint32
	proto    ipproto.Proto
}

// fragTable remembers the datagrams whose first fragment the gateway let
// through, so that their later fragments (which carry no ports) follow the
// same verdict. It is bounded: when full, the oldest entry goes first.
type fragTable struct {
	max     int // immutable after newFragTable
	mu      sync.Mutex
	entries map[fragKey]int64 // expiry, UnixNano; guarded by mu
	order   []fragKey         // insertion order, for eviction; guarded by mu
	evicted uint64            // guarded by mu
}

// fragLifetime is how long later fragments may follow a first one (Linux's
// ipfrag_time is 30 s).
const fragLifetime = 30 * time.Second

func newFragTable(max int) *fragTable {
	return &fragTable{max: max, entries: make(map[fragKey]int64)}
}

func keyOf(p *packet.Parsed) fragKey {
	return fragKey{src: p.Src.Addr(), dst: p.Dst.Addr(), id: p.FragID, proto: p.Proto}
}

func (t *fragTable) add(p *packet.Parsed, now time.Time) {
	k := keyOf(p)
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.entries[k]; !ok {
		for len(t.entries) >= t.max && len(t.order) > 0 {
			delete(t.entries, t.order[0])
			t.order = t.order[1:]
			t.evicted++
		}
		t.order = append(t.order, k)
	}
	t.entries[k] = now.Add(fragLifetime).UnixNano()
}

func (t *fragTable) allowed(p *packet.Parsed, now time.Time) bool {
	k := keyOf(p)
	t.mu.Lock()
	defer t.mu.Unlock()
	exp, ok := t.entries[k]
	return ok && now.UnixNano() < exp
}

func (t *fragTable) sweep(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := now.UnixNano()
	keep := t.order[:0]
	for _, k := range t.order {
		if exp, ok := t.entries[k]; ok && exp > n {
			keep = append(keep, k)
		} else {
			delete(t.entries, k)
		}
	}
	t.order = keep
}

// stats returns the datagrams tracked and the evictions so far.
func (t *fragTable) stats() (tracked int, evicted uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries), t.evicted
}
