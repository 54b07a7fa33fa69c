package router

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/packet"
)

// TestNeighbourReachability follows an entry through the NUD states: the
// reachable time passes, the next packet still goes (delay), a unicast
// probe follows after DelayFirstProbe, an answer makes it reachable
// again; unanswered probes fail it, and the next packet resolves afresh.
func TestNeighbourReachability(t *testing.T) {
	var tx recorder
	r, clk := newTestRouter(t, func(c *Config) { c.Transmit = tx.Send })
	f := r.NewForwarder()
	var out recorder
	learn(t, r, clk, datapath.WAN, web, webMAC)
	pkt := ipFrame(t, clientMAC, lanMAC, client, web, 64, true, udp(5000, 53, 10)...)
	state := func() State {
		for _, n := range r.Neighbours() {
			if n.Addr == web {
				return n.State
			}
		}
		return numStates
	}
	// Past the longest reachable time (1.5 × 30 s), the entry is stale
	// but still used: the packet goes, and the entry waits for a
	// confirmation.
	clk.Advance(46 * time.Second)
	r.Sweep()
	if s := state(); s != StateStale {
		t.Fatalf("after 46 s: %s, want stale", s)
	}
	if ev := step(t, f, pkt, datapath.LAN, &out); ev != EventForwarded || state() != StateDelay {
		t.Fatalf("packet to a stale neighbour: %s, %s", ev, state())
	}
	if got := out.take(); len(got) != 1 || !bytes.Equal(got[0].frame[:6], webMAC[:]) {
		t.Fatalf("sent %v", got)
	}
	clk.Advance(5 * time.Second)
	r.Sweep()
	probe := arpFrame(wanMAC, webMAC, packet.ARPRequest, wanMAC, wanAddr, [6]byte{}, web)
	if got := tx.take(); len(got) != 1 || !bytes.Equal(got[0].frame, probe) || state() != StateProbe {
		t.Fatalf("after the delay: %v (%s), want the unicast probe %x", got, state(), probe)
	}
	step(t, f, arpFrame(webMAC, wanMAC, packet.ARPReply, webMAC, web, wanMAC, wanAddr), datapath.WAN, &out)
	if s := state(); s != StateReachable {
		t.Fatalf("after the answer: %s", s)
	}
	// Again stale, used, probed; now nobody answers: three probes, then
	// failed, and the next packet resolves by broadcast.
	clk.Advance(46 * time.Second)
	r.Sweep()
	step(t, f, pkt, datapath.LAN, &out)
	out.take()
	clk.Advance(5 * time.Second)
	for range 3 {
		r.Sweep()
		clk.Advance(time.Second)
	}
	if got := tx.take(); len(got) != 3 {
		t.Fatalf("%d probes, want 3", len(got))
	}
	r.Sweep()
	if s := state(); s != StateFailed {
		t.Fatalf("after unanswered probes: %s", s)
	}
	if ev := step(t, f, pkt, datapath.LAN, &out); ev != EventQueued {
		t.Fatalf("packet to a failed neighbour: %s", ev)
	}
	req := arpFrame(wanMAC, packet.BroadcastMAC, packet.ARPRequest, wanMAC, wanAddr, [6]byte{}, web)
	if got := out.take(); len(got) != 1 || !bytes.Equal(got[0].frame, req) {
		t.Fatalf("sent %v, want a broadcast request", got)
	}
	// Unused for GCStaleTime after failing, the entry is forgotten.
	for range 5 {
		clk.Advance(time.Second)
		r.Sweep()
	}
	clk.Advance(61 * time.Second)
	r.Sweep()
	if s := state(); s != numStates {
		t.Errorf("a failed entry unused for 61 s is still there: %s", s)
	}
}

// TestNeighbourBound: the cache holds at most MaxEntries; while all are
// being resolved a new neighbour is refused, and a failed one makes room.
func TestNeighbourBound(t *testing.T) {
	var tx recorder
	r, clk := newTestRouter(t, func(c *Config) {
		c.Neighbours.MaxEntries = 16
		c.Neighbours.ResolveRate = 1000
		c.Transmit = tx.Send
	})
	f := r.NewForwarder()
	var out recorder
	send := func(i int) Event {
		dst := netip.AddrFrom4([4]byte{203, 0, 113, byte(100 + i)})
		return step(t, f, ipFrame(t, clientMAC, lanMAC, client, dst, 64, true, udp(5000, 53, 1)...), datapath.LAN, &out)
	}
	for i := range 16 {
		if ev := send(i); ev != EventQueued {
			t.Fatalf("neighbour %d: %s", i, ev)
		}
	}
	if ev := send(16); ev != EventNeighbourTableFull {
		t.Fatalf("neighbour 17: %s, want neighbour_table_full", ev)
	}
	if n := len(r.Neighbours()); n != 16 {
		t.Fatalf("%d entries, want 16", n)
	}
	for range 4 {
		clk.Advance(time.Second)
		r.Sweep()
	}
	clk.Advance(2 * time.Second)
	if ev := send(16); ev != EventQueued {
		t.Fatalf("neighbour 17 after the others failed: %s", ev)
	}
	if n := len(r.Neighbours()); n != 16 {
		t.Errorf("%d entries, want 16", n)
	}
}

// TestICMPLimits: errors to one destination are bounded by its own budget
// (6 at once, then one a second), as Linux's icmp_ratelimit does.
func TestICMPLimits(t *testing.T) {
	r, clk := newTestRouter(t, nil)
	f := r.NewForwarder()
	var out recorder
	learn(t, r, clk, datapath.WAN, web, webMAC)
	pkt := ipFrame(t, clientMAC, lanMAC, client, web, 1, true, udp(33434, 33434, 10)...)
	for range 10 {
		step(t, f, pkt, datapath.LAN, &out)
	}
	if n := len(out.take()); n != 6 {
		t.Errorf("%d time exceeded of 10, want 6", n)
	}
	if n := r.Count(EventICMPLimited); n != 4 {
		t.Errorf("icmp_limited %d, want 4", n)
	}
	clk.Advance(time.Second)
	for range 3 {
		step(t, f, pkt, datapath.LAN, &out)
	}
	if n := len(out.take()); n != 1 {
		t.Errorf("a second later, %d time exceeded of 3, want 1", n)
	}
	// Another destination has a budget of its own.
	other := ipFrame(t, clientMAC, lanMAC, netip.MustParseAddr("10.10.0.12"), web, 1, true, udp(33434, 33434, 10)...)
	step(t, f, other, datapath.LAN, &out)
	if n := len(out.take()); n != 1 {
		t.Errorf("another source got %d answers", n)
	}
}

// TestNeighbourMemo holds a worker's memo of its last lookup to the cache
// itself: through entries created, confirmed, replaced, removed and
// created again, and through a change of next hop, lookupMemo answers as
// lookup does.
func TestNeighbourMemo(t *testing.T) {
	r, clk := newTestRouter(t, nil)
	c := r.neigh
	var mm neighMemo
	kWeb := neighKey{addr: web, side: datapath.WAN}
	kUp := neighKey{addr: up, side: datapath.WAN}
	steps := []struct {
		name   string
		change func()
		k      neighKey
		want   [6]byte
		wantOK bool
	}{
		{"no entry", func() {}, kWeb, [6]byte{}, false},
		{"resolving", func() { c.resolve(kWeb, clk.Now().UnixNano(), nil) }, kWeb, [6]byte{}, false},
		{"confirmed", func() { c.confirm(kWeb, webMAC, clk.Now().UnixNano()) }, kWeb, webMAC, true},
		{"the same again", func() {}, kWeb, webMAC, true},
		{"another next hop", func() {}, kUp, [6]byte{}, false},
		{"that one confirmed", func() {
			c.resolve(kUp, clk.Now().UnixNano(), nil)
			c.confirm(kUp, upMAC, clk.Now().UnixNano())
		}, kUp, upMAC, true},
		{"back to the first", func() {}, kWeb, webMAC, true},
		{"removed", func() { sh := c.shardOf(kWeb); sh.mu.Lock(); c.remove(sh, sh.get(kWeb)); sh.mu.Unlock() }, kWeb, [6]byte{}, false},
		{"learnt again, another address", func() {
			c.resolve(kWeb, clk.Now().UnixNano(), nil)
			c.confirm(kWeb, otherMAC, clk.Now().UnixNano())
		}, kWeb, otherMAC, true},
		{"past its reachable time", func() { clk.Advance(time.Minute) }, kWeb, [6]byte{}, false},
	}
	for _, s := range steps {
		s.change()
		now := clk.Now().UnixNano()
		hw, ok := c.lookupMemo(&mm, s.k, now)
		plain, plainOK := c.lookup(s.k, now)
		if hw != s.want || ok != s.wantOK || hw != plain || ok != plainOK {
			t.Errorf("%s: memo %x %v, lookup %x %v, want %x %v", s.name, hw, ok, plain, plainOK, s.want, s.wantOK)
		}
	}
}
