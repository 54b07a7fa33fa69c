package conntrack

import (
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

const benchEntries = 100_000

// fullTable returns a table holding benchEntries UDP flows.
func fullTable(tb testing.TB) (*Table, *clock.Fake) {
	tb.Helper()
	tbl, clk := newTable(tb, Config{MaxEntries: 2 * benchEntries})
	for i := range benchEntries {
		p := Packet{
			Flow: flow.Key{
				Src:   netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), uint16(i)),
				Dst:   netip.MustParseAddrPort("192.0.2.53:53"),
				Proto: ipproto.UDP,
			},
			WScale: -1,
		}
		if _, ok := tbl.Create(&p); !ok {
			tb.Fatalf("fill %d failed", i)
		}
	}
	return tbl, clk
}

// conversation drives one established TCP flow: each call is the next
// segment, alternating client data and the server's ACK of it, so the
// window checks see a live stream rather than one retransmitted packet.
type conversation struct {
	f    conn
	n    uint32
	data Packet
	ack  Packet
}

func establish(tb testing.TB, tbl *Table, f conn) *conversation {
	for _, s := range handshake(f, 7, 7, 64240, 65160, 502) {
		p := s.p
		if r := track(tbl, &p); r.State == StateInvalid {
			tb.Fatalf("handshake: %+v", r)
		}
	}
	return &conversation{
		f:    f,
		data: f.seg(O, packet.TCPACK|packet.TCPPSH, 0, sISN+1, 502, 1000),
		ack:  f.seg(R, packet.TCPACK, sISN+1, 0, 2000, 0),
	}
}

func (c *conversation) next() *Packet {
	c.n++
	if c.n&1 == 1 {
		c.data.Seq = cISN + 1 + (c.n/2)*1000
		return &c.data
	}
	c.ack.Ack = cISN + 1 + (c.n/2)*1000
	return &c.ack
}

func BenchmarkLookupEstablished(b *testing.B) {
	tbl, _ := fullTable(b)
	c := establish(b, tbl, web)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if r := tbl.Lookup(c.next()); r.State != StateEstablished {
			b.Fatalf("%+v", r)
		}
	}
}

func BenchmarkLookupEstablishedParallel(b *testing.B) {
	tbl, _ := fullTable(b)
	var worker atomic.Uint32
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := worker.Add(1)
		f := tcpFlow("10.0.0.1:1", "192.0.2.80:80")
		f.client = netip.AddrPortFrom(netip.AddrFrom4([4]byte{172, 16, byte(w >> 8), byte(w)}), uint16(w))
		c := establish(b, tbl, f)
		for pb.Next() {
			if r := tbl.Lookup(c.next()); r.State != StateEstablished {
				b.Errorf("%+v", r)
				return
			}
		}
	})
}

func BenchmarkCreateDelete(b *testing.B) {
	tbl, _ := fullTable(b)
	syn := web.seg(O, packet.TCPSYN, cISN, 0, 64240, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		syn.Flow.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte{172, 16, byte(i >> 24), byte(i >> 16)}), uint16(i))
		r, ok := tbl.Create(&syn)
		if !ok || !tbl.Delete(r.ID) {
			b.Fatalf("%+v", r)
		}
	}
}

// BenchmarkCreateDeleteLimited is BenchmarkCreateDelete with per-source
// and per-prefix bounds: each Create and each removal also counts the
// source and its prefix.
func BenchmarkCreateDeleteLimited(b *testing.B) {
	tbl, err := New(Config{MaxEntries: 2 * benchEntries, PerSource: 64, PerPrefix: 4096})
	if err != nil {
		b.Fatal(err)
	}
	syn := web.seg(O, packet.TCPSYN, cISN, 0, 64240, 0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		syn.Flow.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte{172, 16, byte(i >> 24), byte(i >> 16)}), uint16(i))
		r, ok := tbl.Create(&syn)
		if !ok || !tbl.Delete(r.ID) {
			b.Fatalf("%+v", r)
		}
	}
}

func BenchmarkLookupMiss(b *testing.B) {
	tbl, _ := fullTable(b)
	syn := web.seg(O, packet.TCPSYN, cISN, 0, 64240, 0)
	spoof := web.seg(R, packet.TCPACK, sISN, cISN, 64240, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		p := &syn
		if i&1 == 1 {
			p = &spoof
		}
		p.Flow.Src = netip.AddrPortFrom(p.Flow.Src.Addr(), uint16(i))
		tbl.Lookup(p)
	}
}

func BenchmarkRelated(b *testing.B) {
	tbl, _ := fullTable(b)
	establish(b, tbl, web)
	q := web.inner(O)
	q.Seq = cISN + 1
	p := icmpErrPkt("203.0.113.1", web.client.Addr().String(), 3, q)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if r := tbl.Lookup(&p); r.State != StateRelated {
			b.Fatalf("%+v", r)
		}
	}
}

// TestZeroAllocs pins the allocation-free packet path, so a regression
// fails the ordinary test run and not only a benchmark someone has to
// read.
func TestZeroAllocs(t *testing.T) {
	tbl, _ := newTable(t, Config{MaxEntries: 4096, PerSource: 1 << 20, PerPrefix: 1 << 20})
	c := establish(t, tbl, web)
	q := web.inner(O)
	q.Seq = cISN + 1
	icmpErr := icmpErrPkt("203.0.113.1", web.client.Addr().String(), 3, q)
	syn := web.seg(O, packet.TCPSYN, cISN, 0, 64240, 0)
	syn.Flow.Src = netip.AddrPortFrom(netip.MustParseAddr("172.16.0.1"), syn.Flow.Src.Port())
	udp := dns.pkt(O)
	i := 0
	cases := map[string]func(){
		"lookup established": func() { tbl.Lookup(c.next()) },
		"lookup related":     func() { tbl.Lookup(&icmpErr) },
		"lookup miss": func() {
			syn.Flow.Src = netip.AddrPortFrom(syn.Flow.Src.Addr(), syn.Flow.Src.Port()+1)
			tbl.Lookup(&syn)
		},
		"create and delete": func() {
			syn.Flow.Src = netip.AddrPortFrom(syn.Flow.Src.Addr(), syn.Flow.Src.Port()+1)
			r, _ := tbl.Create(&syn)
			tbl.Delete(r.ID)
		},
		"udp track": func() { i++; udp.Flow.Src = netip.AddrPortFrom(udp.Flow.Src.Addr(), uint16(i%64)); track(tbl, &udp) },
		"stats":     func() { _ = tbl.Stats() },
	}
	for name, fn := range cases {
		if n := testing.AllocsPerRun(200, fn); n != 0 {
			t.Errorf("%s: %v allocs per run", name, n)
		}
	}
}
