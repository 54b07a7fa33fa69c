package conntrack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

var dns = udpFlow("10.0.0.1:53000", "192.0.2.53:53")

func TestUDP(t *testing.T) {
	def := DefaultTimeouts()
	tests := []struct {
		name        string
		steps       []step
		wantTimeout time.Duration
		wantAssured bool
	}{
		{"first packet is new, creates", []step{
			{name: "query", p: dns.pkt(O), create: true, state: StateNew},
		}, def.UDP, false},
		{"stays new until answered", []step{
			{name: "query", p: dns.pkt(O), create: true, state: StateNew},
			{name: "query again", p: dns.pkt(O), state: StateNew, advance: time.Second},
		}, def.UDP, false},
		{"established after the reply", []step{
			{name: "query", p: dns.pkt(O), create: true, state: StateNew},
			{name: "answer", p: dns.pkt(R), state: StateEstablished},
			{name: "next query", p: dns.pkt(O), state: StateEstablished},
		}, def.UDP, false},
		{"stream after two seconds both ways", []step{
			{name: "query", p: dns.pkt(O), create: true, state: StateNew},
			{name: "answer", p: dns.pkt(R), state: StateEstablished},
			{name: "more", p: dns.pkt(O), state: StateEstablished, advance: 3 * time.Second},
		}, def.UDPStream, true},
		{"a reply without an entry is a new flow the other way", []step{
			{name: "unsolicited", p: dns.pkt(R), state: StateNew},
		}, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tbl, clk := newTable(t, Config{MaxEntries: 1024})
			runSteps(t, tbl, clk, tc.steps)
			n := 0
			tbl.Range(func(e Entry) bool {
				n++
				if got := e.Expires.Sub(clk.Now()); got != tc.wantTimeout {
					t.Errorf("timeout %v, want %v", got, tc.wantTimeout)
				}
				if e.Assured != tc.wantAssured {
					t.Errorf("assured %v, want %v", e.Assured, tc.wantAssured)
				}
				return true
			})
			if want := map[bool]int{true: 1, false: 0}[tc.wantTimeout != 0]; n != want {
				t.Fatalf("%d entries, want %d", n, want)
			}
		})
	}
}

func TestUDPExpiry(t *testing.T) {
	tbl, clk := newTable(t, Config{MaxEntries: 1024})
	q, a := dns.pkt(O), dns.pkt(R)
	first := track(tbl, &q)
	clk.Advance(29 * time.Second)
	if r := tbl.Lookup(&a); r.State != StateEstablished || r.ID != first.ID {
		t.Fatalf("answer at 29s: %+v", r)
	}
	clk.Advance(30 * time.Second) // 30s after the last packet
	if r := tbl.Lookup(&a); r.State != StateNew || r.ID != 0 {
		t.Fatalf("answer after expiry: %+v", r)
	}
	if st := tbl.Stats(); st.Expired != 1 || st.Entries != 0 {
		t.Fatalf("stats: %+v", st)
	}
	if _, ok := tbl.Get(first.ID); ok {
		t.Fatal("expired entry still readable by ID")
	}
}

// icmpKey is the flow key of an ICMP message from src to dst: for a query
// both ports carry the identifier id (package flow's convention).
func icmpKey(src, dst string, id uint16) flow.Key {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	proto := ipproto.ICMP
	if s.Is6() {
		proto = ipproto.ICMPv6
	}
	return flow.Key{Src: netip.AddrPortFrom(s, id), Dst: netip.AddrPortFrom(d, id), Proto: proto}
}

func icmpPkt(src, dst string, typ uint8, id uint16) Packet {
	return Packet{Flow: icmpKey(src, dst, id), ICMPType: typ, PayloadLen: 56, WScale: -1}
}

func TestICMPQueries(t *testing.T) {
	const (
		in, out   = "10.0.0.1", "198.51.100.7"
		in6, out6 = "2001:db8::1", "2001:db8:ffff::7"
	)
	tests := []struct {
		name  string
		steps []step
	}{
		{"echo request and reply", []step{
			{name: "request", p: icmpPkt(in, out, 8, 77), create: true, state: StateNew},
			{name: "reply", p: icmpPkt(out, in, 0, 77), state: StateEstablished},
			{name: "next request", p: icmpPkt(in, out, 8, 77), state: StateEstablished},
		}},
		{"unsolicited echo reply", []step{
			{name: "reply", p: icmpPkt(out, in, 0, 77), create: true, state: StateInvalid, reason: ReasonNoEntry},
		}},
		{"reply with another identifier", []step{
			{name: "request", p: icmpPkt(in, out, 8, 77), create: true, state: StateNew},
			{name: "reply", p: icmpPkt(out, in, 0, 78), state: StateInvalid, reason: ReasonNoEntry},
		}},
		{"reply from another host", []step{
			{name: "request", p: icmpPkt(in, out, 8, 77), create: true, state: StateNew},
			{name: "reply", p: icmpPkt("198.51.100.8", in, 0, 77), state: StateInvalid, reason: ReasonNoEntry},
		}},
		{"request from the other side is its own flow", []step{
			{name: "request", p: icmpPkt(in, out, 8, 77), create: true, state: StateNew},
			{name: "their request", p: icmpPkt(out, in, 8, 77), state: StateNew},
		}},
		{"timestamp request and reply", []step{
			{name: "request", p: icmpPkt(in, out, 13, 5), create: true, state: StateNew},
			{name: "reply", p: icmpPkt(out, in, 14, 5), state: StateEstablished},
		}},
		{"router advertisement is neither", []step{
			{name: "advert", p: icmpPkt(out, in, 9, 0), create: true, state: StateInvalid, reason: ReasonICMPType},
		}},
		{"ICMPv6 echo", []step{
			{name: "request", p: icmpPkt(in6, out6, 128, 9), create: true, state: StateNew},
			{name: "reply", p: icmpPkt(out6, in6, 129, 9), state: StateEstablished},
		}},
		{"ICMPv6 unsolicited reply", []step{
			{name: "reply", p: icmpPkt(out6, in6, 129, 9), create: true, state: StateInvalid, reason: ReasonNoEntry},
		}},
		{"ICMPv6 neighbour discovery is untracked", []step{
			{name: "NS", p: icmpPkt("fe80::1", "ff02::1:ff00:7", 135, 0), create: true, state: StateUntracked},
			{name: "RA", p: icmpPkt("fe80::1", "ff02::1", 134, 0), create: true, state: StateUntracked},
		}},
		{"ICMPv6 redirect is neither", []step{
			{name: "redirect", p: icmpPkt(out6, in6, 137, 0), create: true, state: StateInvalid, reason: ReasonICMPType},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tbl, clk := newTable(t, Config{MaxEntries: 1024})
			runSteps(t, tbl, clk, tc.steps)
		})
	}
}

func TestICMPEchoTimeout(t *testing.T) {
	tbl, clk := newTable(t, Config{MaxEntries: 1024})
	req := icmpPkt("10.0.0.1", "198.51.100.7", 8, 1)
	r := track(tbl, &req)
	if got := entryOf(t, tbl, r).Expires.Sub(clk.Now()); got != 30*time.Second {
		t.Fatalf("timeout %v", got)
	}
}

func TestMalformed(t *testing.T) {
	v4, v6 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("2001:db8::1")
	mapped := netip.MustParseAddr("::ffff:10.0.0.2")
	base := Packet{Flow: flow.Key{Src: netip.AddrPortFrom(v4, 1), Dst: netip.MustParseAddrPort("10.0.0.2:2"), Proto: ipproto.UDP}, WScale: -1}
	setAddrs := func(p *Packet, src, dst netip.Addr) {
		p.Flow.Src = netip.AddrPortFrom(src, p.Flow.Src.Port())
		p.Flow.Dst = netip.AddrPortFrom(dst, p.Flow.Dst.Port())
	}
	tests := []struct {
		name   string
		mutate func(p *Packet)
		want   Reason
	}{
		{"unset source", func(p *Packet) { setAddrs(p, netip.Addr{}, p.Flow.Dst.Addr()) }, ReasonMalformed},
		{"unset destination", func(p *Packet) { setAddrs(p, v4, netip.Addr{}) }, ReasonMalformed},
		{"mixed families", func(p *Packet) { setAddrs(p, v4, v6) }, ReasonMalformed},
		{"v4 and v4-mapped v6", func(p *Packet) { setAddrs(p, v4, mapped) }, ReasonMalformed},
		{"negative payload", func(p *Packet) { p.PayloadLen = -1 }, ReasonMalformed},
		{"huge payload", func(p *Packet) { p.PayloadLen = 1 << 40 }, ReasonMalformed},
		{"ICMP over IPv6", func(p *Packet) { p.Flow.Proto = ipproto.ICMP; setAddrs(p, v6, v6) }, ReasonMalformed},
		{"ICMPv6 over IPv4", func(p *Packet) { p.Flow.Proto = ipproto.ICMPv6; p.ICMPType = 128 }, ReasonMalformed},
		{"error type without quoted header", func(p *Packet) { p.Flow.Proto = ipproto.ICMP; p.ICMPType = 3 }, ReasonMalformed},
		{"query type claiming to be an error", func(p *Packet) { p.Flow.Proto = ipproto.ICMP; p.ICMPType = 8; p.IsICMPError = true }, ReasonMalformed},
		// Package flow puts a query's identifier in both ports.
		{"query with two identifiers", func(p *Packet) { p.Flow.Proto = ipproto.ICMP; p.ICMPType = 8 }, ReasonMalformed},
		{"UDP claiming to be an ICMP error", func(p *Packet) { p.IsICMPError = true }, ReasonMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tbl, _ := newTable(t, Config{MaxEntries: 1024})
			p := base
			tc.mutate(&p)
			if r := tbl.Lookup(&p); r.State != StateInvalid || r.Reason != tc.want {
				t.Fatalf("Lookup: %+v", r)
			}
			if r, ok := tbl.Create(&p); ok || r.Reason != tc.want {
				t.Fatalf("Create: %+v %v", r, ok)
			}
			if st := tbl.Stats(); st.Invalid[tc.want] != 2 {
				t.Fatalf("invalid[%v] = %d", tc.want, st.Invalid[tc.want])
			}
		})
	}
}

func TestGenericProtocols(t *testing.T) {
	// Ports are not read for protocols without them: a caller that leaves
	// something there does not split the flow.
	gre := func(src, dst string, port uint16) Packet {
		return Packet{Flow: flow.Key{Src: netip.AddrPortFrom(netip.MustParseAddr(src), port), Dst: netip.AddrPortFrom(netip.MustParseAddr(dst), 0), Proto: ipproto.GRE}, WScale: -1}
	}
	tbl, clk := newTable(t, Config{MaxEntries: 1024})
	runSteps(t, tbl, clk, []step{
		{name: "GRE out", p: gre("10.0.0.1", "192.0.2.9", 0), create: true, state: StateNew},
		{name: "GRE back", p: gre("192.0.2.9", "10.0.0.1", 7), state: StateEstablished},
	})
	// Ports split the flows of every protocol that has them (SCTP's and
	// DCCP's own trackers are tested in sctp_test.go and dccp_test.go).
	lite := conn{ipproto.UDPLite, netip.MustParseAddrPort("10.0.0.1:5000"), netip.MustParseAddrPort("192.0.2.9:38412")}
	runSteps(t, tbl, clk, []step{
		{name: "UDP-Lite out", p: lite.pkt(O), create: true, state: StateNew},
		{name: "UDP-Lite back", p: lite.pkt(R), state: StateEstablished},
	})
	other := lite
	other.server = netip.MustParseAddrPort("192.0.2.9:38413")
	runSteps(t, tbl, clk, []step{
		{name: "UDP-Lite other port", p: other.pkt(R), state: StateNew},
	})
	to := map[ipproto.Proto]time.Duration{}
	tbl.Range(func(e Entry) bool { to[e.Orig.Flow.Proto] = e.Expires.Sub(clk.Now()); return true })
	if len(to) != 2 || to[ipproto.GRE] != 600*time.Second || to[ipproto.UDPLite] != 30*time.Second {
		t.Fatalf("timeouts %v", to)
	}
}

// icmpError builds an ICMP error from router to dst quoting q.
func icmpErrPkt(router, dst string, typ uint8, q Inner) Packet {
	return Packet{Flow: icmpKey(router, dst, 0), ICMPType: typ, IsICMPError: true, Inner: q, WScale: -1}
}

func TestICMPErrorRelated(t *testing.T) {
	const router = "203.0.113.1"
	client, server := dns.client.Addr().String(), dns.server.Addr().String()
	web6 := tcpFlow("[2001:db8::1]:40000", "[2001:db8:ffff::80]:443")
	synQuote := func(f conn, seq uint32) Inner { q := f.inner(O); q.Seq = seq; return q }
	echo := func() Inner {
		return Inner{Flow: icmpKey(client, "198.51.100.7", 77), ICMPType: 8}
	}
	echoTwoIDs := echo()
	echoTwoIDs.Flow.Dst = netip.AddrPortFrom(echoTwoIDs.Flow.Dst.Addr(), 78)
	tests := []struct {
		name    string
		pkt     Packet
		want    State
		dir     Dir
		reason  Reason
		related bool
	}{
		{"unreachable to the client quoting its query", icmpErrPkt(router, client, 3, dns.inner(O)), StateRelated, R, ReasonNone, true},
		{"time exceeded to the client", icmpErrPkt(router, client, 11, dns.inner(O)), StateRelated, R, ReasonNone, true},
		{"unreachable to the server quoting its answer", icmpErrPkt(router, server, 3, dns.inner(R)), StateRelated, O, ReasonNone, true},
		{"sent to the wrong end", icmpErrPkt(router, server, 3, dns.inner(O)), StateInvalid, O, ReasonICMPDirection, false},
		{"quoting an untracked flow", icmpErrPkt(router, client, 3, udpFlow("10.0.0.1:53001", "192.0.2.53:53").inner(O)), StateInvalid, O, ReasonICMPNoFlow, false},
		{"quoting a TCP SYN at its sequence number", icmpErrPkt(router, web.client.Addr().String(), 3, synQuote(web, cISN)), StateRelated, R, ReasonNone, true},
		{"quoting a TCP sequence outside the window", icmpErrPkt(router, web.client.Addr().String(), 3, synQuote(web, cISN+1000000)), StateInvalid, O, ReasonICMPSeq, false},
		{"ICMPv6 packet too big", icmpErrPkt("2001:db8:aaaa::1", "2001:db8::1", 2, synQuote(web6, cISN)), StateRelated, R, ReasonNone, true},
		{"quoting an echo request", icmpErrPkt(router, client, 3, echo()), StateRelated, R, ReasonNone, true},
		{"quoting an echo request with two identifiers", icmpErrPkt(router, client, 3, echoTwoIDs), StateInvalid, O, ReasonICMPInner, false},
		{"quoting an ICMP error", icmpErrPkt(router, client, 3, Inner{Flow: icmpKey(client, server, 0), ICMPType: 3}), StateInvalid, O, ReasonICMPInner, false},
		{"v6 quote in an ICMPv4 error", icmpErrPkt(router, client, 3, web6.inner(O)), StateInvalid, O, ReasonICMPInner, false},
		{"quote without addresses", icmpErrPkt(router, client, 3, Inner{Flow: flow.Key{Proto: ipproto.UDP}}), StateInvalid, O, ReasonICMPInner, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tbl, _ := newTable(t, Config{MaxEntries: 1024})
			for _, p := range []Packet{dns.pkt(O), web.seg(O, packet.TCPSYN, cISN, 0, 64240, 0), web6.seg(O, packet.TCPSYN, cISN, 0, 64240, 0), icmpPkt(client, "198.51.100.7", 8, 77)} {
				if _, ok := tbl.Create(&p); !ok {
					t.Fatalf("Create %+v failed", p)
				}
			}
			before := map[ID]time.Time{}
			tbl.Range(func(e Entry) bool { before[e.ID] = e.Expires; return true })
			p := tc.pkt
			r := tbl.Lookup(&p)
			if r.State != tc.want || r.Reason != tc.reason || (tc.related && r.Dir != tc.dir) {
				t.Fatalf("got %+v, want state %v dir %v reason %v", r, tc.want, tc.dir, tc.reason)
			}
			if tc.related && r.ID == 0 {
				t.Fatal("related without an entry ID")
			}
			if _, ok := tbl.Create(&p); ok {
				t.Fatal("Create accepted an ICMP error")
			}
			tbl.Range(func(e Entry) bool {
				if !e.Expires.Equal(before[e.ID]) {
					t.Errorf("ICMP error refreshed entry %v", e.Orig)
				}
				return true
			})
			if tbl.Len() != 4 {
				t.Fatalf("Len %d", tbl.Len())
			}
		})
	}
}

func TestICMPErrorAfterHandshakeChecksWindow(t *testing.T) {
	tbl, clk := newTable(t, Config{MaxEntries: 1024})
	runSteps(t, tbl, clk, handshake(web, -1, -1, 64240, 65160, 64240))
	// The server's segment at its current sequence number is quoted in a
	// "fragmentation needed" sent back to it.
	q := web.inner(R)
	q.Seq = sISN + 1
	p := icmpErrPkt("203.0.113.1", web.server.Addr().String(), 3, q)
	if r := tbl.Lookup(&p); r.State != StateRelated || r.Dir != O || r.TCP != TCPEstablished {
		t.Fatalf("in window: %+v", r)
	}
	p.Inner.Seq = sISN + 1 + 200000
	if r := tbl.Lookup(&p); r.State != StateInvalid || r.Reason != ReasonICMPSeq {
		t.Fatalf("beyond window: %+v", r)
	}
	p.Inner.Seq = sISN + 1 - 200000
	if r := tbl.Lookup(&p); r.State != StateInvalid || r.Reason != ReasonICMPSeq {
		t.Fatalf("behind window: %+v", r)
	}
}
