package conntrack

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// epoch is an arbitrary, fixed start for test clocks.
var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func newTable(tb testing.TB, cfg Config) (*Table, *clock.Fake) {
	tb.Helper()
	clk := clock.NewFake(epoch)
	if cfg.Clock == nil {
		cfg.Clock = clk
	}
	if cfg.MaxEntries == 0 {
		// The default table is large; the invariant checks after every
		// step scan all of it.
		cfg.MaxEntries = 256
	}
	t, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return t, clk
}

// conn builds packets between a client (the originator) and a server.
type conn struct {
	proto          ipproto.Proto
	client, server netip.AddrPort
}

func tcpFlow(client, server string) conn {
	return conn{ipproto.TCP, netip.MustParseAddrPort(client), netip.MustParseAddrPort(server)}
}

func udpFlow(client, server string) conn {
	return conn{ipproto.UDP, netip.MustParseAddrPort(client), netip.MustParseAddrPort(server)}
}

func (f conn) pkt(dir Dir) Packet {
	a, b := f.client, f.server
	if dir == DirReply {
		a, b = b, a
	}
	return Packet{Flow: flow.Key{Src: a, Dst: b, Proto: f.proto}, WScale: -1}
}

// seg is one TCP segment.
func (f conn) seg(dir Dir, flags packet.TCPFlags, seq, ack uint32, win uint16, n int) Packet {
	p := f.pkt(dir)
	p.TCPFlags, p.Seq, p.Ack, p.Window, p.PayloadLen = flags, seq, ack, win, n
	return p
}

func (f conn) inner(dir Dir) Inner {
	return Inner{Flow: f.pkt(dir).Flow}
}

// track does what the gateway does: Lookup, and Create if the packet is
// New without an entry (as if the policy allowed everything).
func track(t *Table, p *Packet) Result {
	r := t.Lookup(p)
	if r.State == StateNew && r.ID == 0 {
		r, _ = t.Create(p)
	}
	return r
}

// step is one packet of a scenario and the verdict expected for it.
type step struct {
	name    string
	p       Packet
	create  bool // call Create when Lookup says New without an entry
	advance time.Duration
	state   State
	tcp     TCPState
	reason  Reason
	ignored bool
}

func runSteps(t *testing.T, tbl *Table, clk *clock.Fake, steps []step) {
	t.Helper()
	for i, s := range steps {
		clk.Advance(s.advance)
		p := s.p
		r := tbl.Lookup(&p)
		if s.create && r.State == StateNew && r.ID == 0 {
			var ok bool
			r, ok = tbl.Create(&p)
			if !ok {
				t.Fatalf("step %d (%s): Create refused: %+v", i, s.name, r)
			}
		}
		if r.State != s.state || r.TCP != s.tcp || r.Reason != s.reason || r.Ignored != s.ignored {
			t.Fatalf("step %d (%s): got state=%v tcp=%v reason=%v ignored=%v, want state=%v tcp=%v reason=%v ignored=%v",
				i, s.name, r.State, r.TCP, r.Reason, r.Ignored, s.state, s.tcp, s.reason, s.ignored)
		}
		if err := tbl.checkInvariants(); err != nil {
			t.Fatalf("step %d (%s): %v", i, s.name, err)
		}
	}
}

// checkInvariants verifies the table's internal links: every live entry
// is in its bucket chain, in exactly one timeout-class list, on the drop
// list iff flagged so; free and live slots add up; counts agree.
func (t *Table) checkInvariants() error {
	total := 0
	for si := range t.shards {
		s := &t.shards[si]
		s.mu.Lock()
		err := s.check()
		total += s.used
		s.mu.Unlock()
		if err != nil {
			return fmt.Errorf("shard %d: %w", si, err)
		}
	}
	if int64(total) != t.count.Load() {
		return fmt.Errorf("shards hold %d entries, count says %d", total, t.count.Load())
	}
	if err := t.checkProxies(); err != nil {
		return err
	}
	if total > int(t.max) {
		return fmt.Errorf("%d entries exceed max %d", total, t.max)
	}
	// The droppable count is the length of the drop lists, and the
	// per-source counts are the entries of each source and prefix.
	dropping := 0
	sources := map[key]uint32{}
	prefixes := map[uint64]uint32{}
	var keys []key
	for si := range t.shards {
		s := &t.shards[si]
		s.mu.Lock()
		for i := s.drop.head; i != nilIdx; i = s.entries[i].dNext {
			dropping++
		}
		for i := range s.entries {
			e := &s.entries[i]
			if e.status&stLive != 0 && e.status&stCounted != 0 {
				keys = append(keys, e.orig)
			}
			if e.status&stCounted != 0 && (t.lim == nil || e.status&stLive == 0) {
				s.mu.Unlock()
				return fmt.Errorf("slot %d counted without limits or life", i)
			}
			if c := TCPState(e.tcp.state); e.status&stCounted != 0 && e.orig.proto == ipproto.TCP && (c == TCPTimeWait || c == TCPClose) {
				s.mu.Unlock()
				return fmt.Errorf("closed connection in slot %d still counted", i)
			}
		}
		s.mu.Unlock()
	}
	if int64(dropping) != t.droppable.Load() {
		return fmt.Errorf("%d entries on drop lists, droppable says %d", dropping, t.droppable.Load())
	}
	if t.lim != nil {
		for _, k := range keys {
			_, hp := t.lim.hashes(&k)
			src := key{src: k.src, zone: k.zone, side: k.side}
			sources[src]++
			prefixes[hp]++
		}
		for _, k := range keys {
			src, prefix := t.lim.count(&k)
			want := sources[key{src: k.src, zone: k.zone, side: k.side}]
			_, hp := t.lim.hashes(&k)
			if t.lim.perSource > 0 && src != want {
				return fmt.Errorf("source %v counted %d, holds %d", k.tuple().Flow.Src.Addr(), src, want)
			}
			if t.lim.perPrefix > 0 && prefix != prefixes[hp] {
				return fmt.Errorf("prefix of %v counted %d, holds %d", k.tuple().Flow.Src.Addr(), prefix, prefixes[hp])
			}
		}
		used := 0
		for i := range t.lim.shards {
			c := &t.lim.shards[i]
			c.mu.Lock()
			for _, h := range c.keys {
				if h != 0 {
					used++
				}
			}
			c.mu.Unlock()
		}
		want := 0
		if t.lim.perSource > 0 {
			want += len(sources)
		}
		if t.lim.perPrefix > 0 {
			want += len(prefixes)
		}
		if used != want {
			return fmt.Errorf("%d counts kept, %d sources and prefixes hold entries", used, want)
		}
	}
	return nil
}

// checkProxies verifies the translations: every translated entry has one
// proxy, in the shard its reply tuple hashes to, holding that tuple and
// naming the entry; every other proxy in use is queued as dead in its
// shard and names no live translated entry.
func (t *Table) checkProxies() error {
	if !t.nat {
		return nil
	}
	for i := range t.shards {
		t.shards[i].mu.Lock()
		defer t.shards[i].mu.Unlock()
	}
	translated := 0
	owned := map[[2]int]bool{}
	for si := range t.shards {
		s := &t.shards[si]
		for i := range s.entries {
			e := &s.entries[i]
			if e.status&stNAT == 0 {
				continue
			}
			if e.status&stLive == 0 {
				return fmt.Errorf("shard %d slot %d translated but dead", si, i)
			}
			translated++
			n := &s.nat[i]
			ps := &t.shards[n.pshard]
			if want := t.shardFor(t.hash(&n.reply)); want != ps {
				return fmt.Errorf("shard %d slot %d: proxy in shard %d, its tuple hashes to %d", si, i, n.pshard, want.index)
			}
			px := &ps.proxies[n.proxy]
			if px.owner != s.id(int32(i)) || px.k != n.reply {
				return fmt.Errorf("shard %d slot %d: proxy %d/%d names %#x", si, i, n.pshard, n.proxy, px.owner)
			}
			owned[[2]int{int(n.pshard), int(n.proxy)}] = true
		}
	}
	if int64(translated) != t.translated.Load() {
		return fmt.Errorf("%d translated entries, count says %d", translated, t.translated.Load())
	}
	for si := range t.shards {
		s := &t.shards[si]
		dead := map[int32]bool{}
		for _, i := range s.pend {
			if dead[i] {
				return fmt.Errorf("shard %d: proxy %d queued twice", si, i)
			}
			dead[i] = true
		}
		if int(s.npend.Load()) != len(s.pend) {
			return fmt.Errorf("shard %d: npend %d, %d queued", si, s.npend.Load(), len(s.pend))
		}
		for b := range s.buckets {
			for i := s.buckets[b]; i != nilIdx; i = *s.next(i) {
				if i&proxyBit == 0 {
					continue
				}
				pi := i &^ proxyBit
				if owned[[2]int{si, int(pi)}] == dead[pi] {
					return fmt.Errorf("shard %d: proxy %d owned %v, queued dead %v", si, pi, !dead[pi], dead[pi])
				}
			}
		}
	}
	return nil
}

func (s *shard) check() error {
	n := len(s.entries)
	live := 0
	for i := range s.entries {
		if s.entries[i].status&stLive != 0 {
			live++
		}
	}
	if live != s.used {
		return fmt.Errorf("%d live slots, used=%d", live, s.used)
	}
	free := 0
	for i := s.free; i != nilIdx; i = s.entries[i].next {
		if s.entries[i].status&stLive != 0 {
			return fmt.Errorf("live slot %d on free list", i)
		}
		if free++; free > n {
			return fmt.Errorf("free list cycles")
		}
	}
	if free+live != n {
		return fmt.Errorf("free %d + live %d != %d slots", free, live, n)
	}
	chained, proxies := 0, 0
	for b, h := range s.buckets {
		for i := h; i != nilIdx; i = *s.next(i) {
			if i&proxyBit != 0 {
				px := &s.proxies[i&^proxyBit]
				if int(px.bucket) != b || px.owner == 0 {
					return fmt.Errorf("proxy %d in bucket %d records bucket %d, owner %#x", i&^proxyBit, b, px.bucket, px.owner)
				}
				if proxies++; proxies > len(s.proxies) {
					return fmt.Errorf("bucket chains cycle")
				}
				continue
			}
			e := &s.entries[i]
			if e.status&stLive == 0 {
				return fmt.Errorf("dead slot %d in bucket %d", i, b)
			}
			if int(e.bucket) != b {
				return fmt.Errorf("slot %d in bucket %d records bucket %d", i, b, e.bucket)
			}
			if chained++; chained > n {
				return fmt.Errorf("bucket chains cycle")
			}
		}
	}
	if chained != live {
		return fmt.Errorf("%d chained, %d live", chained, live)
	}
	if proxies != s.nproxies {
		return fmt.Errorf("%d proxies chained, %d in use", proxies, s.nproxies)
	}
	freeProxies := 0
	for i := s.pfree; i != nilIdx; i = s.proxies[i].next {
		if freeProxies++; freeProxies > len(s.proxies) {
			return fmt.Errorf("free proxy list cycles")
		}
	}
	if freeProxies+proxies != len(s.proxies) {
		return fmt.Errorf("free proxies %d + chained %d != %d", freeProxies, proxies, len(s.proxies))
	}
	inClass := 0
	for c := range s.classes {
		prev := nilIdx
		for i := s.classes[c].head; i != nilIdx; i = s.entries[i].tNext {
			e := &s.entries[i]
			if int(e.class) != c || e.tPrev != prev || e.status&stLive == 0 {
				return fmt.Errorf("class %d list broken at slot %d", c, i)
			}
			prev = i
			if inClass++; inClass > n {
				return fmt.Errorf("class lists cycle")
			}
		}
		if s.classes[c].tail != prev {
			return fmt.Errorf("class %d tail %d, last %d", c, s.classes[c].tail, prev)
		}
	}
	if inClass != live {
		return fmt.Errorf("%d entries in class lists, %d live", inClass, live)
	}
	inDrop, flagged := 0, 0
	prev := nilIdx
	for i := s.drop.head; i != nilIdx; i = s.entries[i].dNext {
		e := &s.entries[i]
		if e.status&stInDrop == 0 || e.dPrev != prev || e.status&stLive == 0 {
			return fmt.Errorf("drop list broken at slot %d", i)
		}
		prev = i
		if inDrop++; inDrop > n {
			return fmt.Errorf("drop list cycles")
		}
	}
	if s.drop.tail != prev {
		return fmt.Errorf("drop tail %d, last %d", s.drop.tail, prev)
	}
	for i := range s.entries {
		if s.entries[i].status&stInDrop != 0 {
			flagged++
		}
	}
	if flagged != inDrop {
		return fmt.Errorf("%d flagged droppable, %d on the list", flagged, inDrop)
	}
	return nil
}

// entryOf returns the snapshot of the entry a result refers to.
func entryOf(t *testing.T, tbl *Table, r Result) Entry {
	t.Helper()
	e, ok := tbl.Get(r.ID)
	if !ok {
		t.Fatalf("no entry for %+v", r)
	}
	return e
}
