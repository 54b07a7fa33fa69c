package conntrack

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// releases records the Refs the table hands back, and fails a test that
// sees one twice.
type releases struct {
	mu   sync.Mutex
	seen map[uint64]int
}

func (r *releases) release(ref uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[uint64]int{}
	}
	r.seen[ref]++
}

func (r *releases) count(ref uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[ref]
}

func (r *releases) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.seen {
		n += c
	}
	return n
}

func newNATTable(tb testing.TB, cfg Config) (*Table, *clock.Fake, *releases) {
	tb.Helper()
	rel := &releases{}
	cfg.NAT, cfg.Release = true, rel.release
	tbl, clk := newTable(tb, cfg)
	return tbl, clk, rel
}

// snat is a flow from an inside client to an outside server, translated
// to a public address: its packets in each direction as they arrive.
type snat struct {
	f      conn
	public netip.AddrPort
}

func newSNAT(proto ipproto.Proto, client, server, public string) snat {
	return snat{conn{proto, netip.MustParseAddrPort(client), netip.MustParseAddrPort(server)}, netip.MustParseAddrPort(public)}
}

// out is a packet from the client, as it arrives; in is one from the
// server, as it arrives: addressed to the public end.
func (s snat) out() Packet { return s.f.pkt(O) }

func (s snat) in() Packet {
	return Packet{Flow: flow.Key{Src: s.f.server, Dst: s.public, Proto: s.f.proto}, WScale: -1}
}

func (s snat) nat(ref uint64) *NAT { return &NAT{Src: s.public, Ref: ref} }

func mustCreateNAT(t *testing.T, tbl *Table, p Packet, n *NAT) Result {
	t.Helper()
	var rw Rewrite
	p.NAT = &rw
	r, ok := tbl.CreateNAT(&p, n)
	if !ok || !r.NAT {
		t.Fatalf("CreateNAT: %+v ok=%v", r, ok)
	}
	return r
}

// lookupNAT looks p up and returns the result with the rewrite it got.
func lookupNAT(tbl *Table, p Packet) (Result, Rewrite) {
	var rw Rewrite
	p.NAT = &rw
	r := tbl.Lookup(&p)
	return r, rw
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestNATSourceTranslation(t *testing.T) {
	tbl, _, rel := newNATTable(t, Config{})
	s := newSNAT(ipproto.UDP, "10.10.0.11:5000", "203.0.113.80:53", "198.51.100.1:6000")
	r := mustCreateNAT(t, tbl, s.out(), s.nat(7))
	var rw Rewrite
	p := s.out()
	p.NAT = &rw
	if r, _ = tbl.Lookup(&p), 0; !r.NAT || r.Dir != O || rw != (Rewrite{Src: s.public}) {
		t.Fatalf("outbound: %+v %+v", r, rw)
	}
	r, rw = lookupNAT(tbl, s.in())
	if !r.NAT || r.Dir != R || r.State != StateEstablished || rw != (Rewrite{Dst: s.f.client}) {
		t.Fatalf("reply to the public end: %+v %+v", r, rw)
	}
	// A packet to the inside address itself is no reply of the translated
	// flow: only the translated tuple answers it.
	direct := s.f.pkt(R)
	if r, _ := lookupNAT(tbl, direct); r.ID != 0 {
		t.Fatalf("untranslated reply matched the translated entry: %+v", r)
	}
	en := entryOf(t, tbl, r)
	if !en.NAT || en.Reply.Flow != (flow.Key{Src: s.f.server, Dst: s.public, Proto: ipproto.UDP}) {
		t.Fatalf("snapshot: %+v", en)
	}
	if !tbl.Delete(r.ID) || rel.count(7) != 1 {
		t.Fatalf("Delete released ref 7 %d times", rel.count(7))
	}
	if r, _ := lookupNAT(tbl, s.in()); r.ID != 0 {
		t.Fatalf("reply found after the entry went: %+v", r)
	}
	if err := tbl.checkInvariants(); err != nil {
		t.Fatal(err)
	}
}

// TestNATAcrossShards translates flows whose reply tuples hash to other
// shards than their original tuples (most do, with 64 shards): the reply
// is found by its proxy in one lookup and a hop to the entry's shard; the
// proxy of a removed entry is queued to its shard and unlinked by Sweep.
func TestNATAcrossShards(t *testing.T) {
	tbl, clk, rel := newNATTable(t, Config{MaxEntries: 4096, Shards: 64})
	const n = 500
	flows := make([]snat, n)
	cross := 0
	for i := range flows {
		s := newSNAT(ipproto.TCP, fmt.Sprintf("10.10.%d.%d:%d", i>>8, i&255, 40000+i), "203.0.113.80:443", fmt.Sprintf("198.51.100.1:%d", 1024+i))
		flows[i] = s
		syn := s.out()
		syn.TCPFlags, syn.Seq, syn.Window = packet.TCPSYN, cISN, 64240
		mustCreateNAT(t, tbl, syn, s.nat(uint64(i+1)))
		o, in := syn, s.in()
		if tbl.shardFor(tbl.hash(keyOf(&o))) != tbl.shardFor(tbl.hash(keyOf(&in))) {
			cross++
		}
	}
	if cross < n/2 {
		t.Fatalf("only %d of %d flows cross shards", cross, n)
	}
	for i, s := range flows {
		sa := s.in()
		sa.TCPFlags, sa.Seq, sa.Ack, sa.Window = packet.TCPSYN|packet.TCPACK, sISN, cISN+1, 65160
		r, rw := lookupNAT(tbl, sa)
		if r.State != StateEstablished || r.TCP != TCPSynRecv || rw.Dst != s.f.client {
			t.Fatalf("flow %d SYN/ACK: %+v %+v", i, r, rw)
		}
	}
	if err := tbl.checkInvariants(); err != nil {
		t.Fatal(err)
	}
	// Remove half, then the rest expire: every Ref comes back once and
	// no proxy is left behind.
	for i := 0; i < n; i += 2 {
		p := flows[i].out()
		p.TCPFlags, p.Seq, p.Ack, p.Window = packet.TCPACK, cISN+1, sISN+1, 502
		r, _ := lookupNAT(tbl, p)
		tbl.Delete(r.ID)
	}
	if err := tbl.checkInvariants(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += 2 {
		if r, _ := lookupNAT(tbl, flows[i].in()); r.ID != 0 {
			t.Fatalf("flow %d: reply found through a dead proxy: %+v", i, r)
		}
	}
	clk.Advance(5 * time.Minute)
	for tbl.Sweep(clk.Now()) > 0 {
	}
	if tbl.Len() != 0 || rel.total() != n {
		t.Fatalf("%d entries left, %d refs released", tbl.Len(), rel.total())
	}
	for i := range n {
		if rel.count(uint64(i+1)) != 1 {
			t.Fatalf("ref %d released %d times", i+1, rel.count(uint64(i+1)))
		}
	}
	for i := range tbl.shards {
		if s := &tbl.shards[i]; s.nproxies != 0 || len(s.pend) != 0 {
			t.Fatalf("shard %d keeps %d proxies, %d queued", i, s.nproxies, len(s.pend))
		}
	}
	if err := tbl.checkInvariants(); err != nil {
		t.Fatal(err)
	}
}

func keyOf(p *Packet) *key {
	var pk parsed
	parsePacket(p, &pk)
	return &pk.k
}

// TestNATCollision: a translation whose reply tuple another entry already
// answers to is refused and its Ref handed back at once; so is the Ref of
// a second CreateNAT for a flow that exists.
func TestNATCollision(t *testing.T) {
	tbl, _, rel := newNATTable(t, Config{})
	a := newSNAT(ipproto.UDP, "10.10.0.11:5000", "203.0.113.80:53", "198.51.100.1:6000")
	b := newSNAT(ipproto.UDP, "10.10.0.12:5000", "203.0.113.80:53", "198.51.100.1:6000")
	mustCreateNAT(t, tbl, a.out(), a.nat(1))
	p := b.out()
	if r, ok := tbl.CreateNAT(&p, b.nat(2)); ok || r.Reason != ReasonNATCollision {
		t.Fatalf("second flow on the same public end: %+v ok=%v", r, ok)
	}
	if rel.count(2) != 1 {
		t.Fatal("refused ref not released")
	}
	p = a.out()
	if r, ok := tbl.CreateNAT(&p, a.nat(3)); !ok || r.ID == 0 || !r.NAT || rel.count(3) != 1 || rel.count(1) != 0 {
		t.Fatalf("the same flow again: %+v ok=%v, released 1:%d 3:%d", r, ok, rel.count(1), rel.count(3))
	}
	// An untranslated entry answering to the tuple collides too.
	plain := udpFlow("198.51.100.1:7000", "203.0.113.80:53")
	q := plain.pkt(O)
	if _, ok := tbl.Create(&q); !ok {
		t.Fatal("plain flow refused")
	}
	c := newSNAT(ipproto.UDP, "10.10.0.13:5000", "203.0.113.80:53", "198.51.100.1:7000")
	p = c.out()
	if r, ok := tbl.CreateNAT(&p, c.nat(4)); ok || r.Reason != ReasonNATCollision || rel.count(4) != 1 {
		t.Fatalf("collision with an untranslated flow: %+v ok=%v", r, ok)
	}
	if st := tbl.Stats(); st.Invalid[ReasonNATCollision] != 2 {
		t.Fatalf("collisions counted %d", st.Invalid[ReasonNATCollision])
	}
	if err := tbl.checkInvariants(); err != nil {
		t.Fatal(err)
	}
}

func TestNATRefusals(t *testing.T) {
	plain, _ := newTable(t, Config{})
	s := newSNAT(ipproto.UDP, "10.10.0.11:5000", "203.0.113.80:53", "198.51.100.1:6000")
	p := s.out()
	if r, ok := plain.CreateNAT(&p, s.nat(1)); ok || r.Reason != ReasonMalformed {
		t.Fatalf("table without NAT: %+v", r)
	}
	tbl, _, rel := newNATTable(t, Config{})
	bad := []NAT{
		{Src: ap("[2001:db8::1]:1"), Ref: 10}, // family
		{Ref: 11},                             // nothing translated
		{Src: s.public, ReplySide: 7, Ref: 13},
	}
	for _, n := range bad {
		p := s.out()
		if r, ok := tbl.CreateNAT(&p, &n); ok || r.Reason != ReasonMalformed || rel.count(n.Ref) != 1 {
			t.Errorf("%+v: %+v ok=%v released %d", n, r, ok, rel.count(n.Ref))
		}
	}
	gre := Packet{Flow: flow.Key{Src: ap("10.10.0.11:0"), Dst: ap("203.0.113.80:0"), Proto: ipproto.GRE}, WScale: -1}
	if r, ok := tbl.CreateNAT(&gre, &NAT{Src: ap("198.51.100.1:5"), Ref: 20}); ok || r.Reason != ReasonMalformed {
		t.Errorf("port for a protocol without ports: %+v", r)
	}
	if _, ok := tbl.CreateNAT(&gre, &NAT{Src: ap("198.51.100.1:0"), Ref: 21}); !ok {
		t.Error("address-only translation of GRE refused")
	}
}

// TestNATTimeouts: a translated entry lives by the NAT profile (RFC 4787
// REQ-5: a UDP mapping 5 minutes, answered or not, where an untranslated
// one lasts 30 seconds; RFC 5508 REQ-2: an ICMP query 60 seconds), and
// its Ref is released when it expires.
func TestNATTimeouts(t *testing.T) {
	tbl, clk, rel := newNATTable(t, Config{})
	u := newSNAT(ipproto.UDP, "10.10.0.11:5000", "203.0.113.80:53", "198.51.100.1:6000")
	mustCreateNAT(t, tbl, u.out(), u.nat(1))
	plain := udpFlow("10.10.0.12:5000", "203.0.113.80:53")
	q := plain.pkt(O)
	tbl.Create(&q)
	ping := Packet{Flow: icmpKey("10.10.0.11", "203.0.113.80", 77), ICMPType: 8, WScale: -1}
	mustCreateNAT(t, tbl, ping, &NAT{Src: ap("198.51.100.1:900"), Ref: 2})
	clk.Advance(59 * time.Second)
	tbl.Sweep(clk.Now())
	if tbl.Len() != 2 || rel.count(2) != 0 {
		t.Fatalf("after 59s: %d entries, ICMP released %d", tbl.Len(), rel.count(2))
	}
	clk.Advance(2 * time.Second)
	tbl.Sweep(clk.Now())
	if rel.count(2) != 1 {
		t.Fatal("ICMP query mapping outlived 60s")
	}
	clk.Advance(3*time.Minute + 58*time.Second) // 4m59s since it was created
	tbl.Sweep(clk.Now())
	if r, _ := lookupNAT(tbl, u.in()); r.ID == 0 || rel.count(1) != 0 {
		t.Fatalf("UDP mapping gone before 5 minutes: %+v", r)
	}
	clk.Advance(5*time.Minute + time.Second)
	tbl.Sweep(clk.Now())
	if tbl.Len() != 0 || rel.count(1) != 1 {
		t.Fatalf("UDP mapping still there after 5 minutes idle: %d entries", tbl.Len())
	}
}

// TestNATICMPQuery: an echo's identifier is translated (RFC 5508 REQ-1):
// the reply carries the public identifier and goes back with the
// client's.
func TestNATICMPQuery(t *testing.T) {
	tbl, _, _ := newNATTable(t, Config{})
	req := Packet{Flow: icmpKey("10.10.0.11", "203.0.113.80", 77), ICMPType: 8, WScale: -1}
	r := mustCreateNAT(t, tbl, req, &NAT{Src: ap("198.51.100.1:900"), Ref: 1})
	var rw Rewrite
	req.NAT = &rw
	if r = tbl.Lookup(&req); !r.NAT || rw != (Rewrite{Src: ap("198.51.100.1:900")}) {
		t.Fatalf("request: %+v %+v", r, rw)
	}
	reply := Packet{Flow: icmpKey("203.0.113.80", "198.51.100.1", 900), ICMPType: 0, WScale: -1}
	r, rw = lookupNAT(tbl, reply)
	if r.State != StateEstablished || r.Dir != R || rw != (Rewrite{Dst: ap("10.10.0.11:77")}) {
		t.Fatalf("reply: %+v %+v", r, rw)
	}
	wrongID := Packet{Flow: icmpKey("203.0.113.80", "198.51.100.1", 77), ICMPType: 0, WScale: -1}
	if r, _ := lookupNAT(tbl, wrongID); r.ID != 0 {
		t.Fatalf("reply with the inside identifier matched: %+v", r)
	}
}

// TestNATRelated: an ICMP error about a translated flow is found through
// the translated tuple it quotes, in whichever direction it travels, and
// comes with its direction's rewrite. It neither refreshes nor ends the
// entry (RFC 4787 REQ-12, RFC 5382 REQ-10, RFC 5508 REQ-6).
func TestNATRelated(t *testing.T) {
	tbl, clk, rel := newNATTable(t, Config{MaxEntries: 4096, Shards: 64})
	s := newSNAT(ipproto.UDP, "10.10.0.11:5000", "203.0.113.80:53", "198.51.100.1:6000")
	r := mustCreateNAT(t, tbl, s.out(), s.nat(1))
	before := entryOf(t, tbl, r).Expires
	// From outside: the server's unreachable quotes the packet as it left.
	q := Inner{Flow: flow.Key{Src: s.public, Dst: s.f.server, Proto: ipproto.UDP}}
	back := icmpErrPkt("192.0.2.9", "198.51.100.1", 3, q)
	clk.Advance(time.Second)
	got, rw := lookupNAT(tbl, back)
	if got.State != StateRelated || got.Dir != R || !got.NAT || rw != (Rewrite{Dst: s.f.client}) {
		t.Fatalf("error from outside: %+v %+v", got, rw)
	}
	// Quoting the inside address instead matches nothing.
	q.Flow.Src = s.f.client
	if got, _ := lookupNAT(tbl, icmpErrPkt("192.0.2.9", "10.10.0.11", 3, q)); got.State != StateInvalid || got.Reason != ReasonICMPNoFlow {
		t.Fatalf("untranslated quote: %+v", got)
	}
	// From inside: the client's unreachable quotes a reply as delivered.
	q = Inner{Flow: flow.Key{Src: s.f.server, Dst: s.f.client, Proto: ipproto.UDP}}
	got, rw = lookupNAT(tbl, icmpErrPkt("10.10.0.11", "203.0.113.80", 3, q))
	if got.State != StateRelated || got.Dir != O || rw != (Rewrite{Src: s.public}) {
		t.Fatalf("error from inside: %+v %+v", got, rw)
	}
	if after := entryOf(t, tbl, r).Expires; !after.Equal(before) || rel.total() != 0 {
		t.Fatalf("errors changed the entry: expires %v -> %v, released %d", before, after, rel.total())
	}
}

// TestNATHairpin: a flow from inside to a public address forwarded back
// inside is translated at both ends and its replies arrive on the side it
// came from.
func TestNATHairpin(t *testing.T) {
	tbl, _, _ := newNATTable(t, Config{})
	p := Packet{Flow: flow.Key{Src: ap("10.10.0.11:40000"), Dst: ap("198.51.100.1:2222"), Proto: ipproto.TCP}, TCPFlags: packet.TCPSYN, Seq: cISN, Window: 64240, WScale: -1, Side: SideLAN}
	n := &NAT{Src: ap("198.51.100.1:40000"), Dst: ap("10.10.0.22:22"), ReplySide: SideLAN, Ref: 1}
	var rw Rewrite
	p.NAT = &rw
	if r, ok := tbl.CreateNAT(&p, n); !ok || rw != (Rewrite{Src: n.Src, Dst: n.Dst}) {
		t.Fatalf("hairpin SYN: %+v %+v", r, rw)
	}
	sa := Packet{Flow: flow.Key{Src: ap("10.10.0.22:22"), Dst: ap("198.51.100.1:40000"), Proto: ipproto.TCP}, TCPFlags: packet.TCPSYN | packet.TCPACK, Seq: sISN, Ack: cISN + 1, Window: 65160, WScale: -1, Side: SideLAN}
	r, rw := lookupNAT(tbl, sa)
	if r.State != StateEstablished || rw != (Rewrite{Src: ap("198.51.100.1:2222"), Dst: ap("10.10.0.11:40000")}) {
		t.Fatalf("hairpin SYN/ACK: %+v %+v", r, rw)
	}
	sa.Side = SideWAN
	if r, _ := lookupNAT(tbl, sa); r.ID != 0 {
		t.Fatalf("hairpin reply from the wrong side matched: %+v", r)
	}
}

// TestNATConcurrent races translated flows across shards with deletion,
// expiry, sweeping, iteration and rechecks; afterwards every Ref of a
// removed entry came back exactly once and the links agree.
func TestNATConcurrent(t *testing.T) {
	const (
		workers = 4
		flows   = 600
	)
	tbl, clk, rel := newNATTable(t, Config{MaxEntries: 1024, Shards: 16})
	var stop atomic.Bool
	var wg sync.WaitGroup
	var refs atomic.Uint64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range flows {
				// Public ports shared between workers' flows of the same
				// remote collide on purpose now and then.
				s := newSNAT(ipproto.UDP, fmt.Sprintf("10.%d.%d.%d:%d", w, i>>8, i&255, 1000+i), fmt.Sprintf("203.0.113.%d:53", i%7), fmt.Sprintf("198.51.100.1:%d", 2000+(w*flows+i)%1500))
				ref := refs.Add(1)
				p := s.out()
				if r, ok := tbl.CreateNAT(&p, s.nat(ref)); ok {
					in := s.in()
					lookupNAT(tbl, in)
					if i%3 == 0 {
						tbl.Delete(r.ID)
					}
				}
				if i%40 == 0 {
					clk.Advance(30 * time.Second)
				}
			}
		}()
	}
	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		for !stop.Load() {
			tbl.Sweep(clk.Now())
			tbl.Range(func(e Entry) bool { return e.ID != 0 })
			tbl.Recheck(func(tp Tuple, _ uint32) bool { return tp.Flow.Src.Port()%11 != 0 })
		}
	}()
	wg.Wait()
	stop.Store(true)
	bg.Wait()
	if err := tbl.checkInvariants(); err != nil {
		t.Fatal(err)
	}
	live := tbl.Stats().Entries
	tbl.Flush()
	if err := tbl.checkInvariants(); err != nil {
		t.Fatal(err)
	}
	if got := rel.total(); got != int(refs.Load()) {
		t.Fatalf("%d refs handed out, %d released (%d entries were live)", refs.Load(), got, live)
	}
	for ref := uint64(1); ref <= refs.Load(); ref++ {
		if c := rel.count(ref); c != 1 {
			t.Fatalf("ref %d released %d times", ref, c)
		}
	}
}
