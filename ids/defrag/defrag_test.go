package defrag

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/ipproto"
)

// ether puts a 14-byte Ethernet header (with a recognisable source MAC)
// before an IP packet.
func ether(ip []byte, mac byte) []byte {
	b := make([]byte, 14, 14+len(ip))
	b[6+5] = mac
	if ip[0]>>4 == 4 {
		binary.BigEndian.PutUint16(b[12:], 0x0800)
	} else {
		binary.BigEndian.PutUint16(b[12:], 0x86dd)
	}
	return append(b, ip...)
}

// complete feeds frames (IP at l3) in order and returns the reassembled
// packet, failing unless exactly the last one completes the datagram.
func complete(t *testing.T, d *Defragmenter, l3 int, frames ...[]byte) (*Datagram, []byte) {
	t.Helper()
	for i, f := range frames {
		r := d.Add(f, l3, 0, t0)
		if i < len(frames)-1 {
			if r.Status != Held {
				t.Fatalf("fragment %d: %s/%s, want held", i, r.Status, r.Kind)
			}
			continue
		}
		if r.Status != Complete {
			t.Fatalf("last fragment: %s/%s, want complete", r.Status, r.Kind)
		}
		pkt, err := r.Datagram.AppendPacket(nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(pkt) != r.Datagram.Len() {
			t.Fatalf("packet of %d bytes, Len says %d", len(pkt), r.Datagram.Len())
		}
		return r.Datagram, pkt
	}
	return nil, nil
}

func TestIPv4HeaderRewritten(t *testing.T) {
	d := mustNew(t, Config{})
	udp := make([]byte, 8+40)
	binary.BigEndian.PutUint16(udp[0:], 5353)
	binary.BigEndian.PutUint16(udp[2:], 53)
	copy(udp[8:], "the rest of the datagram, forty bytes...")
	f1 := v4(src4, dst4, 0x1234, ipproto.UDP, spec{0, true, udp[:24]})
	f2 := v4(src4, dst4, 0x1234, ipproto.UDP, spec{24, false, udp[24:]})
	// The later fragment first, each behind its own Ethernet header.
	e1, e2 := ether(f1, 1), ether(f2, 2)
	dg, pkt := complete(t, d, 14, e2, e1)
	if dg.L3() != 14 || !bytes.Equal(pkt[:14], e1[:14]) {
		t.Errorf("link header % x, want the first fragment's % x", pkt[:14], e1[:14])
	}
	ip := pkt[14:]
	if got := binary.BigEndian.Uint16(ip[2:]); int(got) != 20+len(udp) {
		t.Errorf("total length %d, want %d", got, 20+len(udp))
	}
	if ff := binary.BigEndian.Uint16(ip[6:]); ff != 0 {
		t.Errorf("flags and offset %#x, want 0", ff)
	}
	if ipv4Checksum(ip[:20]) != 0 {
		t.Errorf("header checksum %#x does not verify", binary.BigEndian.Uint16(ip[10:]))
	}
	if binary.BigEndian.Uint16(ip[4:]) != 0x1234 || ip[9] != byte(ipproto.UDP) || !bytes.Equal(ip[12:20], append(src4.AsSlice(), dst4.AsSlice()...)) {
		t.Errorf("identification, protocol or addresses changed: % x", ip[:20])
	}
	if !bytes.Equal(ip[20:], udp) {
		t.Errorf("payload % x, want % x", ip[20:], udp)
	}
	// The originals, as they arrived.
	if dg.NumFragments() != 2 || !bytes.Equal(dg.Fragment(0), e2) || !bytes.Equal(dg.Fragment(1), e1) || dg.FragmentL3(0) != 14 {
		t.Errorf("original fragments not kept in arrival order")
	}
	d.Release(dg)
	if s := d.Stats(); s.Completed != 1 || s.Fragments != 2 || s.Memory != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestIPv6Reassembly: a Hop-by-Hop header stays in front, the Fragment
// header goes, the first fragment's next header takes its place, and
// Destination Options after the Fragment header (the fragmentable part)
// come back whole; a later fragment's own next-header value is ignored
// (RFC 8200 4.5).
func TestIPv6Reassembly(t *testing.T) {
	d := mustNew(t, Config{DropTiny: true})
	// Destination Options (8 bytes: next TCP, PadN), then TCP.
	payload := []byte{byte(ipproto.TCP), 0, 1, 4, 0, 0, 0, 0}
	tcp := make([]byte, 20+36)
	binary.BigEndian.PutUint16(tcp[0:], 40000)
	binary.BigEndian.PutUint16(tcp[2:], 80)
	tcp[12] = 5 << 4
	copy(tcp[20:], "GET / HTTP/1.1\r\nHost: example.org\r\n\r\n")
	payload = append(payload, tcp...)
	f1 := hopByHop6(99, ipproto.DestOpts, spec{0, true, payload[:32]})
	f2 := hopByHop6(99, ipproto.TCP, spec{32, false, payload[32:]}) // a lying next header
	dg, pkt := complete(t, d, 0, f1, f2)
	defer d.Release(dg)
	if len(pkt) != 40+8+len(payload) {
		t.Fatalf("reassembled %d bytes, want %d", len(pkt), 40+8+len(payload))
	}
	if pl := binary.BigEndian.Uint16(pkt[4:]); int(pl) != 8+len(payload) {
		t.Errorf("payload length %d, want %d", pl, 8+len(payload))
	}
	if pkt[6] != byte(ipproto.HopByHop) || pkt[40] != byte(ipproto.DestOpts) {
		t.Errorf("next headers %d, %d; want hop-by-hop, then destination options", pkt[6], pkt[40])
	}
	if !bytes.Equal(pkt[48:], payload) {
		t.Errorf("payload % x, want % x", pkt[48:], payload)
	}
	if k := dg.Key(); k.Proto != 0 || k.ID != 99 || k.Src != src6 {
		t.Errorf("key %v", k)
	}
}

func TestKeys(t *testing.T) {
	d := mustNew(t, Config{})
	// IPv4: the protocol is part of the key.
	if r := d.Add(v4(src4, dst4, 5, ipproto.UDP, spec{0, true, fill('A', 8)}), 0, 0, t0); r.Status != Held {
		t.Fatal(r.Status)
	}
	if r := d.Add(v4(src4, dst4, 5, ipproto.TCP, spec{8, false, fill('B', 8)}), 0, 0, t0); r.Status != Held {
		t.Fatalf("another protocol's fragment completed the datagram: %s", r.Status)
	}
	// The zone is part of the key.
	if r := d.Add(v4(src4, dst4, 5, ipproto.UDP, spec{8, false, fill('B', 8)}), 0, 1, t0); r.Status != Held {
		t.Fatalf("another zone's fragment completed the datagram: %s", r.Status)
	}
	if r := d.Add(v4(src4, dst4, 5, ipproto.UDP, spec{8, false, fill('B', 8)}), 0, 0, t0); r.Status != Complete {
		t.Fatalf("the right fragment: %s", r.Status)
	} else {
		d.Release(r.Datagram)
	}
	// IPv6: later fragments' next header is not.
	d.Add(v6Plain(6, ipproto.UDP, spec{0, true, fill('A', 8)}), 0, 0, t0)
	if r := d.Add(v6Plain(6, ipproto.TCP, spec{8, false, fill('B', 8)}), 0, 0, t0); r.Status != Complete {
		t.Fatalf("IPv6 later fragment with another next header: %s", r.Status)
	} else {
		pkt, _ := r.Datagram.AppendPacket(nil)
		if pkt[6] != byte(ipproto.UDP) {
			t.Errorf("next header %d, want the first fragment's (UDP)", pkt[6])
		}
		d.Release(r.Datagram)
	}
}

func TestNotFragments(t *testing.T) {
	d := mustNew(t, Config{})
	whole := v4(src4, dst4, 1, ipproto.UDP, spec{0, false, fill('A', 8)})
	atomic := v6Plain(1, ipproto.UDP, spec{0, false, fill('A', 8)}) // RFC 6946
	for _, p := range [][]byte{whole, atomic} {
		if r := d.Add(p, 0, 0, t0); r.Status != NotFragment {
			t.Errorf("%s for a whole packet", r.Status)
		}
	}
	if d.Stats().Fragments != 0 {
		t.Error("whole packets counted as fragments")
	}
}

func TestMalformed(t *testing.T) {
	d := mustNew(t, Config{})
	cases := map[string][]byte{
		"odd length":     v4(src4, dst4, 1, ipproto.UDP, spec{0, true, fill('A', 12)}),
		"empty":          v4(src4, dst4, 1, ipproto.UDP, spec{8, false, nil}),
		"truncated":      v4(src4, dst4, 1, ipproto.UDP, spec{0, true, fill('A', 16)})[:30],
		"v6 odd length":  v6Plain(1, ipproto.UDP, spec{0, true, fill('A', 12)}),
		"v6 no frag hdr": v6Plain(1, ipproto.UDP, spec{0, true, fill('A', 16)})[:44],
	}
	for name, p := range cases {
		if r := d.Add(p, 0, 0, t0); r.Status != Dropped || r.Kind != KindMalformed {
			t.Errorf("%s: %s/%s, want dropped as malformed", name, r.Status, r.Kind)
		}
	}
	if r := d.Add(fill(0x45, 30), 40, 0, t0); r.Status != Dropped {
		t.Errorf("l3 past the frame: %s", r.Status)
	}
	if s := d.Stats(); s.Memory != 0 || s.Events[KindMalformed] != uint64(len(cases)+1) {
		t.Errorf("stats %+v", s)
	}
}

func TestOversize(t *testing.T) {
	d := mustNew(t, Config{})
	d.Add(v4(src4, dst4, 1, ipproto.ICMP, spec{0, true, fill('A', 64)}), 0, 0, t0)
	// 65528 + 20 + 16 > 65535: the ping of death.
	r := d.Add(v4(src4, dst4, 1, ipproto.ICMP, spec{65528, false, fill('B', 16)}), 0, 0, t0)
	if r.Status != Dropped || r.Kind != KindOversize {
		t.Fatalf("%s/%s, want dropped as oversize", r.Status, r.Kind)
	}
	if s := d.Stats(); s.Datagrams != 0 || s.Events[KindOversize] != 1 {
		t.Errorf("the datagram was not discarded, or not counted: %+v", s)
	}
	if r := d.Add(v6Plain(1, ipproto.ICMPv6, spec{65528, false, fill('B', 16)}), 0, 0, t0); r.Kind != KindOversize {
		t.Errorf("IPv6: %s/%s", r.Status, r.Kind)
	}
	// The IPv6 payload length must hold the unfragmentable part too.
	if r := d.Add(hopByHop6(2, ipproto.UDP, spec{0, true, fill('A', 65496)}), 0, 0, t0); r.Status != Held {
		t.Fatalf("IPv6 first fragment of 65,496 bytes: %s/%s", r.Status, r.Kind)
	}
	if r := d.Add(hopByHop6(2, ipproto.UDP, spec{65496, false, fill('B', 39)}), 0, 0, t0); r.Status != Dropped || r.Kind != KindOversize {
		t.Errorf("IPv6 with a hop-by-hop header: %s/%s, want oversize", r.Status, r.Kind)
	}
}

func TestTinyFirstFragment(t *testing.T) {
	tcpFirst := v4(src4, dst4, 1, ipproto.TCP, spec{0, true, fill('A', 16)}) // flags in the next fragment
	offset1 := v4(src4, dst4, 2, ipproto.TCP, spec{8, false, fill('A', 16)}) // RFC 3128
	// IPv6: Destination Options of 16 bytes, cut by the fragment's end.
	do := append([]byte{byte(ipproto.TCP), 1}, fill(0, 14)...)
	v6Split := v6Plain(3, ipproto.DestOpts, spec{0, true, do[:8]})
	v6TCP := v6Plain(4, ipproto.DestOpts, spec{0, true, append(do, fill(0, 8)...)}) // options whole, TCP header not
	for _, drop := range []bool{true, false} {
		d := mustNew(t, Config{DropTiny: drop})
		for name, p := range map[string][]byte{"tcp": tcpFirst, "offset 1": offset1, "v6 split options": v6Split, "v6 split tcp": v6TCP} {
			r := d.Add(p, 0, 0, t0)
			if r.Kind != KindTiny || (drop && r.Status != Dropped) || (!drop && r.Status != Held) {
				t.Errorf("drop=%v %s: %s/%s", drop, name, r.Status, r.Kind)
			}
		}
		if d.Stats().Events[KindTiny] != 4 {
			t.Errorf("drop=%v: tiny fragments counted %d", drop, d.Stats().Events[KindTiny])
		}
	}
	// A first fragment that holds the whole TCP header is not tiny.
	d := mustNew(t, Config{DropTiny: true})
	if r := d.Add(v4(src4, dst4, 5, ipproto.TCP, spec{0, true, fill('A', 24)}), 0, 0, t0); r.Status != Held || r.Kind != KindNone {
		t.Errorf("24-byte TCP first fragment: %s/%s", r.Status, r.Kind)
	}
}

func TestBadEnd(t *testing.T) {
	d := mustNew(t, Config{Policies: NewHostPolicies(Last)})
	d.Add(v4(src4, dst4, 1, ipproto.UDP, spec{16, false, fill('C', 8)}), 0, 0, t0)
	if r := d.Add(v4(src4, dst4, 1, ipproto.UDP, spec{8, false, fill('B', 8)}), 0, 0, t0); r.Kind != KindBadEnd || r.Status != Dropped {
		t.Errorf("second last fragment ending elsewhere: %s/%s", r.Status, r.Kind)
	}
	d.Add(v4(src4, dst4, 2, ipproto.UDP, spec{8, false, fill('B', 8)}), 0, 0, t0)
	if r := d.Add(v4(src4, dst4, 2, ipproto.UDP, spec{16, true, fill('C', 8)}), 0, 0, t0); r.Kind != KindBadEnd {
		t.Errorf("data past the end: %s/%s", r.Status, r.Kind)
	}
	// Suricata reassembles the first two of these; Linux and BSD do not,
	// and neither do we: data past the last fragment spoils the datagram.
	d.Add(v4(src4, dst4, 3, ipproto.UDP, spec{16, true, fill('C', 8)}), 0, 0, t0)
	d.Add(v4(src4, dst4, 3, ipproto.UDP, spec{0, true, fill('A', 8)}), 0, 0, t0)
	if r := d.Add(v4(src4, dst4, 3, ipproto.UDP, spec{8, false, fill('B', 8)}), 0, 0, t0); r.Status != Dropped || r.Kind != KindBadEnd {
		t.Errorf("last fragment before held data: %s/%s", r.Status, r.Kind)
	}
	if s := d.Stats(); s.Datagrams != 0 || s.Memory != 0 {
		t.Errorf("left behind: %+v", s)
	}
}

func TestTooManyFragments(t *testing.T) {
	d := mustNew(t, Config{MaxFragments: 4})
	for i := range 4 {
		if r := d.Add(v4(src4, dst4, 1, ipproto.UDP, spec{8 * i, true, fill('A', 8)}), 0, 0, t0); r.Status != Held {
			t.Fatalf("fragment %d: %s", i, r.Status)
		}
	}
	if r := d.Add(v4(src4, dst4, 1, ipproto.UDP, spec{32, false, fill('A', 8)}), 0, 0, t0); r.Status != Dropped || r.Kind != KindTooManyFragments {
		t.Errorf("fifth fragment: %s/%s", r.Status, r.Kind)
	}
}

// TestOutOfOrderAndTimeout: later fragments wait for the first; a datagram
// that does not complete within the time-out is discarded and counted,
// whether a fragment of its shard or Sweep finds it.
func TestOutOfOrderAndTimeout(t *testing.T) {
	var events []Event
	d := mustNew(t, Config{Timeout: 30 * time.Second, OnEvent: func(e Event) { events = append(events, e) }})
	d.Add(v4(src4, dst4, 1, ipproto.UDP, spec{16, false, fill('C', 8)}), 0, 0, t0)
	d.Add(v4(src4, dst4, 1, ipproto.UDP, spec{8, true, fill('B', 8)}), 0, 0, t0.Add(10*time.Second))
	r := d.Add(v4(src4, dst4, 1, ipproto.UDP, spec{0, true, fill('A', 8)}), 0, 0, t0.Add(29*time.Second))
	if r.Status != Complete {
		t.Fatalf("first fragment last: %s", r.Status)
	}
	pkt, _ := r.Datagram.AppendPacket(nil)
	if got := squeeze(payloadOf(t, pkt)); got != "ABC" {
		t.Errorf("reassembled %s", got)
	}
	d.Release(r.Datagram)

	// Counted from the first fragment: a trickle does not keep it alive.
	d.Add(v4(src4, dst4, 2, ipproto.UDP, spec{16, false, fill('C', 8)}), 0, 0, t0)
	d.Add(v4(src4, dst4, 2, ipproto.UDP, spec{8, true, fill('B', 8)}), 0, 0, t0.Add(20*time.Second))
	if r := d.Add(v4(src4, dst4, 2, ipproto.UDP, spec{0, true, fill('A', 8)}), 0, 0, t0.Add(30*time.Second)); r.Status != Held {
		t.Fatalf("after the time-out: %s, want held in a new datagram", r.Status)
	}
	if len(events) != 1 || events[0].Kind != KindTimeout || events[0].Key.ID != 2 {
		t.Fatalf("events %+v, want one time-out of datagram 2", events)
	}
	d.Sweep(t0.Add(59 * time.Second))
	if s := d.Stats(); s.Datagrams != 1 {
		t.Errorf("swept too early: %+v", s)
	}
	d.Sweep(t0.Add(60 * time.Second))
	if s := d.Stats(); s.Datagrams != 0 || s.Memory != 0 || s.Events[KindTimeout] != 2 {
		t.Errorf("after sweep: %+v", s)
	}
}

// TestOneSourceCannotEvictAnother: 65,536 first fragments from one source
// leave a datagram from another source alone, and memory stays bounded.
func TestOneSourceCannotEvictAnother(t *testing.T) {
	const memory = 4 << 20
	d := mustNew(t, Config{MaxMemory: memory, MaxPerSource: 1 << 20, MaxDatagramsPerSource: 64, Shards: 1})
	victim := netip.MustParseAddr("192.0.2.200")
	if r := d.Add(v4(victim, dst4, 7, ipproto.UDP, spec{0, true, fill('V', 1024)}), 0, 0, t0); r.Status != Held {
		t.Fatal(r.Status)
	}
	for id := range 65536 {
		d.Add(v4(src4, dst4, uint16(id), ipproto.UDP, spec{0, true, fill('X', 1400)}), 0, 0, t0)
		if id%4096 == 0 {
			if s := d.Stats(); s.Memory > memory {
				t.Fatalf("memory %d over the cap %d", s.Memory, memory)
			}
		}
	}
	r := d.Add(v4(victim, dst4, 7, ipproto.UDP, spec{1024, false, fill('W', 8)}), 0, 0, t0)
	if r.Status != Complete {
		t.Fatalf("the victim's datagram: %s/%s, want complete", r.Status, r.Kind)
	}
	d.Release(r.Datagram)
	s := d.Stats()
	if s.Events[KindQuota] == 0 || s.Events[KindEvicted] != 0 {
		t.Errorf("quota discards %d, evictions %d; want the source to pay for itself only", s.Events[KindQuota], s.Events[KindEvicted])
	}
	if s.Datagrams > 64 {
		t.Errorf("%d datagrams held, over the source's quota", s.Datagrams)
	}
}

// TestEvictionChargesTheHeaviest: when memory is short, the source that
// holds the most gives up its oldest datagram, not the others.
func TestEvictionChargesTheHeaviest(t *testing.T) {
	const memory = 1 << 20
	d := mustNew(t, Config{MaxMemory: memory, MaxPerSource: memory, MaxDatagramsPerSource: 1 << 20, Shards: 1})
	light := netip.MustParseAddr("192.0.2.7")
	d.Add(v4(light, dst4, 1, ipproto.UDP, spec{0, true, fill('L', 1024)}), 0, 0, t0)
	// Many sources each hold a little; one holds a lot.
	for i := range 100 {
		s := netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})
		d.Add(v4(s, dst4, 1, ipproto.UDP, spec{0, true, fill('S', 1024)}), 0, 0, t0)
	}
	heavy := netip.MustParseAddr("198.18.0.1")
	for id := range 2000 {
		d.Add(v4(heavy, dst4, uint16(id), ipproto.UDP, spec{0, true, fill('H', 1400)}), 0, 0, t0)
		if s := d.Stats(); s.Memory > memory {
			t.Fatalf("memory %d over the cap", s.Memory)
		}
	}
	if s := d.Stats(); s.Events[KindEvicted] == 0 {
		t.Fatal("nothing evicted: the test does not fill memory")
	}
	if r := d.Add(v4(light, dst4, 1, ipproto.UDP, spec{1024, false, fill('M', 8)}), 0, 0, t0); r.Status != Complete {
		t.Fatalf("the light source's datagram: %s/%s", r.Status, r.Kind)
	}
	for i := range 100 {
		s := netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})
		if r := d.Add(v4(s, dst4, 1, ipproto.UDP, spec{1024, false, fill('T', 8)}), 0, 0, t0); r.Status != Complete {
			t.Fatalf("source %s lost its datagram: %s/%s", s, r.Status, r.Kind)
		}
	}
}

func TestIDReuse(t *testing.T) {
	d := mustNew(t, Config{})
	d.Add(v4(src4, dst4, 9, ipproto.UDP, spec{0, true, fill('A', 8)}), 0, 0, t0)
	d.Add(v4(src4, dst4, 9, ipproto.TCP, spec{0, true, fill('A', 24)}), 0, 0, t0)
	d.Add(v4(src4, dst4, 9, ipproto.ICMP, spec{0, true, fill('A', 8)}), 0, 1, t0)
	if n := d.Stats().Events[KindIDReuse]; n != 2 {
		t.Errorf("identification reuse counted %d times, want 2", n)
	}
}

// TestConcurrent: fragments of many datagrams, each datagram's fragments
// spread over several goroutines (as fanout may spread them).
func TestConcurrent(t *testing.T) {
	d := mustNew(t, Config{})
	const workers, datagrams = 4, 500
	var wg sync.WaitGroup
	var mu sync.Mutex
	completed := 0
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for id := range datagrams {
				s := netip.AddrFrom4([4]byte{10, 0, byte(id >> 8), byte(id)})
				p := v4(s, dst4, uint16(id), ipproto.UDP, spec{8 * w, w < workers-1, fill(byte('A'+w), 8)})
				r := d.Add(p, 0, 0, t0)
				if r.Status == Complete {
					var err error
					if buf, err = r.Datagram.AppendPacket(buf[:0]); err != nil {
						t.Error(err)
					}
					if got := squeeze(payloadOf(t, buf)); got != "ABCD" {
						t.Errorf("datagram %d: %s", id, got)
					}
					d.Release(r.Datagram)
					mu.Lock()
					completed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if completed != datagrams {
		t.Errorf("%d of %d datagrams completed", completed, datagrams)
	}
	if s := d.Stats(); s.Memory != 0 || s.Datagrams != 0 {
		t.Errorf("left behind: %+v", s)
	}
}

// TestSteadyStateAllocatesNothing: once the pools are warm, taking,
// reassembling and releasing datagrams allocates nothing.
func TestSteadyStateAllocatesNothing(t *testing.T) {
	d := mustNew(t, Config{})
	frames := benchFrames(3, 1480)
	out := make([]byte, 0, 1<<16)
	run := func() {
		for i, f := range frames {
			r := d.Add(f, 14, 0, t0)
			if i == len(frames)-1 {
				if r.Status != Complete {
					t.Fatalf("%s/%s", r.Status, r.Kind)
				}
				out, _ = r.Datagram.AppendPacket(out[:0])
				d.Release(r.Datagram)
			}
		}
	}
	run()
	if n := testing.AllocsPerRun(200, run); n != 0 {
		t.Errorf("%v allocations per datagram", n)
	}
}

// benchFrames splits a UDP datagram of n fragments of size bytes each
// into Ethernet frames.
func benchFrames(n, size int) [][]byte {
	var frames [][]byte
	for i := range n {
		p := v4(src4, dst4, 77, ipproto.UDP, spec{i * size, i < n-1, fill(byte('a'+i), size)})
		frames = append(frames, ether(p, 1))
	}
	return frames
}

// feed gives d one Ethernet frame; a datagram it completes is reassembled
// into out and released.
func feed(d *Defragmenter, frame, out []byte) []byte {
	if r := d.Add(frame, 14, 0, t0); r.Status == Complete {
		out, _ = r.Datagram.AppendPacket(out[:0])
		d.Release(r.Datagram)
	}
	return out
}

// BenchmarkDefrag: a 4,440-byte datagram in three 1,500-byte frames,
// taken, reassembled and released; ns/op is per fragment.
func BenchmarkDefrag(b *testing.B) {
	d := mustNew(b, Config{})
	frames := benchFrames(3, 1480)
	out := make([]byte, 0, 1<<16)
	b.ReportAllocs()
	b.SetBytes(int64(len(frames[0])))
	i := 0
	for b.Loop() {
		out = feed(d, frames[i], out)
		i++
		if i == len(frames) {
			i = 0
		}
	}
}

// BenchmarkDefragParallel: the same from every core, each on its own
// source, through the shared table.
func BenchmarkDefragParallel(b *testing.B) {
	d := mustNew(b, Config{})
	b.ReportAllocs()
	var next sync.Mutex
	n := 0
	b.RunParallel(func(pb *testing.PB) {
		next.Lock()
		s := netip.AddrFrom4([4]byte{10, 1, 0, byte(n)})
		n++
		next.Unlock()
		var frames [][]byte
		for i := range 3 {
			frames = append(frames, ether(v4(s, dst4, 77, ipproto.UDP, spec{i * 1480, i < 2, fill('x', 1480)}), 1))
		}
		out := make([]byte, 0, 1<<16)
		i := 0
		for pb.Next() {
			out = feed(d, frames[i], out)
			i = (i + 1) % len(frames)
		}
	})
}

// TestQuotaOfOne: a source allowed one datagram at a time replaces it
// with each new one.
func TestQuotaOfOne(t *testing.T) {
	d := mustNew(t, Config{MaxDatagramsPerSource: 1})
	for id := range 10 {
		if r := d.Add(v4(src4, dst4, uint16(id), ipproto.UDP, spec{0, true, fill('A', 8)}), 0, 0, t0); r.Status != Held {
			t.Fatalf("datagram %d: %s", id, r.Status)
		}
	}
	if r := d.Add(v4(src4, dst4, 9, ipproto.UDP, spec{8, false, fill('B', 8)}), 0, 0, t0); r.Status != Complete {
		t.Fatalf("the newest datagram: %s/%s", r.Status, r.Kind)
	} else {
		d.Release(r.Datagram)
	}
	if s := d.Stats(); s.Events[KindQuota] != 9 || s.Datagrams != 0 || s.Memory != 0 {
		t.Errorf("stats %+v", s)
	}
}
