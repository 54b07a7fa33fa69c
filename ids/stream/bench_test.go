package stream

import (
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/packet"
)

const mss = 1448

// counter is a Consumer that counts what it is given, as cheaply as a
// consumer can.
type counter struct {
	bytes, gaps, ends atomic.Uint64
}

func (c *counter) Stream(f *Flow, ch Chunk) {
	c.bytes.Add(uint64(len(ch.Data)))
	c.gaps.Add(ch.Gap)
}
func (c *counter) Packet(*Flow, *packet.Parsed, *Result) {}
func (c *counter) End(*Flow, EndReason)                  { c.ends.Add(1) }

// bulk is one established connection carrying data from the client, with
// decoded packets whose sequence numbers the loop moves on.
type bulk struct {
	tab       *Table
	data, ack packet.Parsed
	cisn      uint32
	now       time.Time
	n         uint32 // segments sent
}

func newBulk(tb testing.TB, tab *Table, cli netip.AddrPort) *bulk {
	c := &conn{t: tb, tab: tab, rec: newRecorder(tb), cli: cli, srv: srv4, cisn: 1000, sisn: 5000, now: t0, win: 65535}
	syn := c.seg(ToServer, packet.TCPSYN, 0, 0, "")
	syn.wscale = 7
	synack := c.seg(ToClient, packet.TCPSYN|packet.TCPACK, 0, 1, "")
	synack.wscale = 7
	for _, s := range []tcpSeg{syn, synack, c.seg(ToServer, packet.TCPACK, 1, 1, "")} {
		var p packet.Parsed
		p.DecodeIP(s.build())
		tab.Process(&p, t0)
	}
	k := &bulk{tab: tab, cisn: c.cisn, now: t0}
	k.data.DecodeIP(c.seg(ToServer, packet.TCPACK|packet.TCPPSH, 1, 1, strings.Repeat("x", mss)).build())
	k.ack.DecodeIP(c.seg(ToClient, packet.TCPACK, 1, 1, "").build())
	return k
}

// send sends segment i of the stream.
func (k *bulk) send(i uint32) Result {
	k.now = k.now.Add(time.Microsecond)
	k.data.TCPSeq = k.cisn + 1 + i*mss
	return k.tab.Process(&k.data, k.now)
}

// ackAll acknowledges the first n segments.
func (k *bulk) ackAll(n uint32) {
	k.ack.TCPAck = k.cisn + 1 + n*mss
	k.tab.Process(&k.ack, k.now)
}

// inOrder sends the next segment, and an acknowledgement of every second.
func (k *bulk) inOrder() {
	k.send(k.n)
	k.n++
	if k.n%2 == 0 {
		k.ackAll(k.n)
	}
}

// outOfOrder sends the next four segments as 1, 0, 3, 2, then acknowledges
// them.
func (k *bulk) outOfOrder() {
	for _, d := range [4]uint32{1, 0, 3, 2} {
		k.send(k.n + d)
	}
	k.n += 4
	k.ackAll(k.n)
}

func mustTable(tb testing.TB, cfg Config, c Consumer) *Table {
	t, err := New(cfg, c)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// BenchmarkSegments: one bulk transfer of full segments, either in order
// or with every pair of segments swapped (so that each segment either
// waits behind a hole or fills one), with an acknowledgement every second
// segment, counted in the time, not in the operations. ns/op is per data
// segment.
func BenchmarkSegments(b *testing.B) {
	for _, order := range []struct {
		name string
		n    int // segments per step
		step func(*bulk)
	}{{"in_order", 1, (*bulk).inOrder}, {"out_of_order", 4, (*bulk).outOfOrder}} {
		for _, mode := range []Mode{Detect, Prevent} {
			b.Run(order.name+"/"+mode.String(), func(b *testing.B) {
				var cons counter
				k := newBulk(b, mustTable(b, Config{Mode: mode, Depth: NoDepth}, &cons), cli4)
				b.ReportAllocs()
				b.SetBytes(int64(order.n) * mss)
				for b.Loop() {
					order.step(k)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*order.n), "ns/segment")
				if cons.gaps.Load() != 0 {
					b.Fatalf("%d bytes of gaps", cons.gaps.Load())
				}
			})
		}
	}
}

// BenchmarkFlows: 4096 transfers at once, a segment of each in turn, so
// that every packet finds its flow in a large table and its buffer cold.
func BenchmarkFlows(b *testing.B) {
	var cons counter
	tab := mustTable(b, Config{Depth: NoDepth}, &cons)
	const n = 4096
	flows := make([]*bulk, n)
	for i := range flows {
		flows[i] = newBulk(b, tab, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 40000))
		// Warm up: every flow has had its buffers once.
		flows[i].inOrder()
		flows[i].inOrder()
	}
	b.ReportAllocs()
	b.SetBytes(mss)
	i := 0
	for b.Loop() {
		flows[i].inOrder()
		i = (i + 1) % n
	}
}

// BenchmarkParallel: both cores, each with its own transfers, through the
// shared table.
func BenchmarkParallel(b *testing.B) {
	var cons counter
	tab := mustTable(b, Config{Depth: NoDepth}, &cons)
	var next atomic.Uint32
	b.ReportAllocs()
	b.SetBytes(mss)
	b.RunParallel(func(pb *testing.PB) {
		base := next.Add(1)
		var ks []*bulk
		for i := range 64 {
			ks = append(ks, newBulk(b, tab, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, byte(base), byte(i)}), 40000)))
		}
		i := 0
		for pb.Next() {
			ks[i].inOrder()
			i = (i + 1) % len(ks)
		}
	})
}

// TestZeroAllocs: in steady state, in order or not, in either mode, a
// segment allocates nothing.
func TestZeroAllocs(t *testing.T) {
	for _, mode := range []Mode{Detect, Prevent} {
		var cons counter
		k := newBulk(t, mustTable(t, Config{Mode: mode, Depth: NoDepth}, &cons), cli4)
		for range 1000 {
			k.inOrder()
			k.outOfOrder()
		}
		if n := testing.AllocsPerRun(1000, func() {
			k.inOrder()
			k.outOfOrder()
		}); n != 0 {
			t.Errorf("%s: %v allocations per run", mode, n)
		}
		if cons.gaps.Load() != 0 || cons.bytes.Load() == 0 {
			t.Errorf("%s: %d bytes, %d of gaps", mode, cons.bytes.Load(), cons.gaps.Load())
		}
	}
}
