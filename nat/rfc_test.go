package nat

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/firewall/conntrack"
	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ipproto"
)

// The requirements of the NAT behaviour RFCs and the tests that show them
// (each test names its requirements in its comment):
//
//	RFC 4787 REQ-1  endpoint-independent mapping    TestEndpointIndependentMapping
//	RFC 4787 REQ-2  paired address pooling          TestPairedPooling
//	RFC 4787 REQ-3  no overloading; port ranges     TestPortPreservationAndParity, TestPortSetTake
//	RFC 4787 REQ-4  port parity                     TestPortPreservationAndParity
//	RFC 4787 REQ-5  UDP timer >= 2 min, 5 default   TestUDPMappingTimer
//	RFC 4787 REQ-6  outbound refresh                TestUDPMappingTimer
//	RFC 4787 REQ-8  filtering by configuration      TestFiltering; gateway: TestNATFilteringBeforePolicy
//	RFC 4787 REQ-9  hairpinning                     TestHairpinning
//	RFC 4787 REQ-12 ICMP ends no mapping            TestICMPErrors; conntrack: TestNATRelated
//	RFC 5382 REQ-1  endpoint-independent mapping    TestEndpointIndependentMapping
//	RFC 5382 REQ-3  filtering                       TestFiltering
//	RFC 5382 REQ-4  unsolicited SYN unanswered      gateway: TestNATUnsolicitedSYNUnanswered
//	RFC 5382 REQ-5  2h4m established, 4m transitory TestTCPTimers
//	RFC 5382 REQ-7  no port overloading             TestPortPreservationAndParity
//	RFC 5382 REQ-8  hairpinning                     TestHairpinning; gateway: TestNATPipeline
//	RFC 5382 REQ-9  ICMP errors translated          TestICMPErrors
//	RFC 5382 REQ-10 ICMP ends no connection         TestICMPErrors; conntrack: TestNATRelated
//	RFC 5508 REQ-1  query identifiers mapped        TestICMPQuery
//	RFC 5508 REQ-2  query mapping 60 s              TestICMPQuery
//	RFC 5508 REQ-3  bad ICMP checksum dropped       gateway: TestNATICMPErrorChecksum
//	RFC 5508 REQ-4  errors from outside translated  TestICMPErrors; gateway: TestNATICMPErrorChecksum
//	RFC 5508 REQ-5  errors from inside translated   TestICMPErrors
//	RFC 5508 REQ-6  errors refresh nothing          conntrack: TestNATRelated
//	RFC 5508 REQ-8  no resources: ICMP prohibited   gateway: TestNATQuotaAnswered
//
// Inbound packets never make mappings: TestNoMappingFromInbound; the
// quota and the bound: TestQuotaAndExhaustion; every port taken:
// TestPortExhaustion; a mapping dies with its
// last connection: TestMappingDiesWithConnection.

const (
	lan = conntrack.SideLAN
	wan = conntrack.SideWAN
)

// RFC 4787 REQ-1, RFC 5382 REQ-1: an inside endpoint keeps one public
// endpoint whatever it sends to; each frame leaves byte for byte as one
// built for its translated addresses, checksums included.
func TestEndpointIndependentMapping(t *testing.T) {
	r := newRig(t, Config{})
	for _, dst := range []string{"198.51.100.80:3478", "198.51.100.81:3478", "198.51.100.80:9999"} {
		v := r.send(udp(t, "10.10.0.11:5000", dst, "hello"), lan)
		r.mustPass(v, udp(t, wanAddr+":5000", dst, "hello"), "udp to "+dst)
	}
	for i, dst := range []string{"198.51.100.80:443", "198.51.100.81:443"} {
		v := r.send(tcp(t, "10.10.0.11:40000", dst, "S", 1000, 0, ""), lan)
		r.mustPass(v, tcp(t, wanAddr+":40000", dst, "S", 1000, 0, ""), fmt.Sprint("syn ", i))
	}
	if st := r.tr.Stats(); st.Mappings != 2 || st.Allocations != 2 || st.Preserved != 2 {
		t.Fatalf("stats %+v, want 2 mappings (one UDP, one TCP), both preserved", st)
	}
}

// RFC 4787 REQ-3 (port preservation where free, ports below 1024 from
// below 1024, others from above) and REQ-4 (port parity); RFC 4787 REQ-3
// and RFC 5382 REQ-7: never port overloading, so a taken port is never
// handed out again while its mapping lives.
func TestPortPreservationAndParity(t *testing.T) {
	r := newRig(t, Config{})
	srv := "198.51.100.80:53"
	cases := []struct {
		inside string
		lo, hi uint16
		kept   bool
	}{
		{"10.10.0.11:5000", 1024, 65535, true},
		{"10.10.0.12:5000", 1024, 65535, false},
		{"10.10.0.13:5000", 1024, 65535, false},
		{"10.10.0.12:5001", 1024, 65535, true},
		{"10.10.0.14:5001", 1024, 65535, false},
		{"10.10.0.11:53", 1, 1023, true},
		{"10.10.0.12:53", 1, 1023, false},
	}
	used := map[string]bool{}
	for _, c := range cases {
		r.send(udp(t, c.inside, srv, "q"), lan)
		pub := netip.MustParseAddrPort(r.publicOf(ipproto.UDP, c.inside))
		in := netip.MustParseAddrPort(c.inside)
		if used[pub.String()] {
			t.Fatalf("%s got %v, already mapped", c.inside, pub)
		}
		used[pub.String()] = true
		if (pub.Port() == in.Port()) != c.kept {
			t.Errorf("%s mapped to %v: preserved %v, want %v", c.inside, pub, pub.Port() == in.Port(), c.kept)
		}
		if pub.Port() < c.lo || pub.Port() > c.hi {
			t.Errorf("%s mapped to port %d, outside [%d, %d]", c.inside, pub.Port(), c.lo, c.hi)
		}
		if pub.Port()&1 != in.Port()&1 {
			t.Errorf("%s mapped to port %d: parity lost", c.inside, pub.Port())
		}
	}
}

// RFC 4787 REQ-2: paired pooling, every mapping of one inside host on
// the same public address of the pool; different hosts spread over it.
func TestPairedPooling(t *testing.T) {
	r := newRig(t, Config{Public: []netip.Addr{netip.MustParseAddr(wanAddr), netip.MustParseAddr(pool2)}})
	seen := map[netip.Addr]int{}
	for h := 1; h <= 40; h++ {
		var addr netip.Addr
		for port := 6000; port < 6004; port++ {
			in := fmt.Sprintf("10.10.0.%d:%d", h, port)
			r.send(udp(t, in, "198.51.100.80:53", "q"), lan)
			pub := netip.MustParseAddrPort(r.publicOf(ipproto.UDP, in)).Addr()
			if addr.IsValid() && pub != addr {
				t.Fatalf("host %d mapped to %v and %v", h, addr, pub)
			}
			addr = pub
		}
		seen[addr]++
	}
	if len(seen) != 2 {
		t.Fatalf("40 hosts on %v: the pool is not used", seen)
	}
}

// RFC 4787 REQ-5 (a UDP mapping lives at least 2 minutes, 5 by default)
// and REQ-6 (outbound traffic refreshes it); an inbound packet after the
// mapping expired is dropped and counted, and makes no mapping.
func TestUDPMappingTimer(t *testing.T) {
	r := newRig(t, Config{})
	out := udp(t, "10.10.0.11:5000", "198.51.100.80:3478", "x")
	back := udp(t, "198.51.100.80:3478", wanAddr+":5000", "y")
	r.send(out, lan)
	for range 5 {
		r.clk.Advance(4*time.Minute + 50*time.Second)
		r.tbl.Sweep(r.clk.Now())
		r.mustPass(r.send(out, lan), udp(t, wanAddr+":5000", "198.51.100.80:3478", "x"), "outbound refresh")
	}
	r.clk.Advance(4*time.Minute + 59*time.Second)
	r.tbl.Sweep(r.clk.Now())
	r.mustPass(r.send(back, wan), udp(t, "198.51.100.80:3478", "10.10.0.11:5000", "y"), "reply before 5 minutes")
	r.clk.Advance(5*time.Minute + time.Second)
	r.tbl.Sweep(r.clk.Now())
	v := r.send(back, wan)
	r.mustDrop(v, "reply after the mapping expired")
	if v.outcome != NoMapping {
		t.Fatalf("outcome %v, want no_mapping", v.outcome)
	}
	st := r.tr.Stats()
	if st.Mappings != 0 || st.Expired != 1 || st.Outcomes[NoMapping] != 1 {
		t.Fatalf("stats %+v", st)
	}

	// The floor is enforced, unless a test asks for short timers.
	if _, err := New(Config{UDPTimeout: 119 * time.Second}); err == nil || !strings.Contains(err.Error(), "REQ-5") {
		t.Fatalf("119s UDP timer: %v", err)
	}
	short := newRig(t, Config{UDPTimeout: 10 * time.Second, AllowShortTimers: true})
	short.send(out, lan)
	short.clk.Advance(11 * time.Second)
	short.tbl.Sweep(short.clk.Now())
	if n := short.tr.Stats().Mappings; n != 0 {
		t.Fatalf("short timer: %d mappings after 11s", n)
	}
}

// RFC 4787 REQ-8, RFC 5382 REQ-3: the filtering behaviour is the
// administrator's choice, and decides which inbound packets reach a
// mapping; admitted ones reach the inside endpoint.
func TestFiltering(t *testing.T) {
	from := []string{"198.51.100.80:3478", "198.51.100.80:3479", "198.51.100.81:3478"}
	cases := []struct {
		f    Filtering
		pass [3]bool
	}{
		{AddressAndPortDependent, [3]bool{true, false, false}},
		{AddressDependent, [3]bool{true, true, false}},
		{EndpointIndependent, [3]bool{true, true, true}},
	}
	for _, c := range cases {
		t.Run(c.f.String(), func(t *testing.T) {
			r := newRig(t, Config{Filtering: c.f})
			r.send(udp(t, "10.10.0.11:5000", from[0], "bind"), lan)
			for i, src := range from {
				v := r.send(udp(t, src, wanAddr+":5000", "in"), wan)
				if !c.pass[i] {
					r.mustDrop(v, "from "+src)
					if v.outcome != Filtered {
						t.Fatalf("from %s: outcome %v, want filtered", src, v.outcome)
					}
					continue
				}
				r.mustPass(v, udp(t, src, "10.10.0.11:5000", "in"), "from "+src)
				// The inside endpoint answers through the same mapping.
				r.mustPass(r.send(udp(t, "10.10.0.11:5000", src, "re"), lan), udp(t, wanAddr+":5000", src, "re"), "answer to "+src)
			}
			if st := r.tr.Stats(); st.Allocations != 1 {
				t.Fatalf("inbound packets made mappings: %+v", st)
			}
		})
	}
}

// Inbound packets never create a mapping: to a public port no mapping
// holds they are dropped and counted, under every filtering behaviour.
func TestNoMappingFromInbound(t *testing.T) {
	for f := range numFiltering {
		r := newRig(t, Config{Filtering: f})
		r.mustDrop(r.send(udp(t, "198.51.100.80:3478", wanAddr+":7000", "x"), wan), "udp")
		r.mustDrop(r.send(tcp(t, "198.51.100.80:1234", wanAddr+":7000", "S", 1, 0, ""), wan), "syn")
		st := r.tr.Stats()
		if st.Mappings != 0 || st.Allocations != 0 || st.Outcomes[NoMapping] != 2 {
			t.Fatalf("%v: %+v", f, st)
		}
	}
}

// A port forward is a destination NAT: the inside server sees the
// client's own address, and its answers leave from the public port.
func TestPortForward(t *testing.T) {
	r := newRig(t, Config{Forwards: []Forward{{ipproto.TCP, 2222, netip.MustParseAddrPort("10.10.0.22:22")}}})
	client := "198.51.100.7:50000"
	r.mustPass(r.send(tcp(t, client, wanAddr+":2222", "S", 100, 0, ""), wan), tcp(t, client, "10.10.0.22:22", "S", 100, 0, ""), "syn in")
	r.mustPass(r.send(tcp(t, "10.10.0.22:22", client, "SA", 900, 101, ""), lan), tcp(t, wanAddr+":2222", client, "SA", 900, 101, ""), "syn/ack out")
	r.mustPass(r.send(tcp(t, client, wanAddr+":2222", "A", 101, 901, "SSH-2.0-x\r\n"), wan), tcp(t, client, "10.10.0.22:22", "A", 101, 901, "SSH-2.0-x\r\n"), "data in")
	// The forwarded port is never handed to a mapping.
	r.send(udp(t, "10.10.0.11:2222", "198.51.100.80:53", "q"), lan)
	r.send(tcp(t, "10.10.0.11:2222", "198.51.100.80:80", "S", 1, 0, ""), lan)
	if got := r.publicOf(ipproto.TCP, "10.10.0.11:2222"); got == wanAddr+":2222" {
		t.Fatalf("a mapping took the forwarded port: %s", got)
	}
	if got := r.publicOf(ipproto.UDP, "10.10.0.11:2222"); got != wanAddr+":2222" {
		t.Fatalf("UDP 2222 is not forwarded but was not preserved: %s", got)
	}
}

// RFC 4787 REQ-9, RFC 5382 REQ-8: hairpinning, with the external source
// address and port: an inside client reaches a forward, and another
// inside host's mapping, by the public address, and is seen by its own
// public endpoint.
func TestHairpinning(t *testing.T) {
	r := newRig(t, Config{Filtering: EndpointIndependent, Forwards: []Forward{{ipproto.TCP, 2222, netip.MustParseAddrPort("10.10.0.22:22")}}})
	r.mustPass(r.send(tcp(t, "10.10.0.11:40000", wanAddr+":2222", "S", 7, 0, ""), lan),
		tcp(t, wanAddr+":40000", "10.10.0.22:22", "S", 7, 0, ""), "hairpin syn")
	r.mustPass(r.send(tcp(t, "10.10.0.22:22", wanAddr+":40000", "SA", 70, 8, ""), lan),
		tcp(t, wanAddr+":2222", "10.10.0.11:40000", "SA", 70, 8, ""), "hairpin syn/ack")
	// A reply on the wan side is not the hairpinned flow's.
	r.mustDrop(r.send(tcp(t, "10.10.0.22:22", wanAddr+":40000", "A", 71, 8, ""), wan), "reply from the wrong side")

	// UDP: host B reaches host A's mapping by its public endpoint.
	r.send(udp(t, "10.10.0.11:5000", "198.51.100.80:3478", "bind"), lan)
	r.mustPass(r.send(udp(t, "10.10.0.12:6000", wanAddr+":5000", "p2p"), lan),
		udp(t, wanAddr+":6000", "10.10.0.11:5000", "p2p"), "hairpin to a mapping")
	r.mustPass(r.send(udp(t, "10.10.0.11:5000", wanAddr+":6000", "back"), lan),
		udp(t, wanAddr+":5000", "10.10.0.12:6000", "back"), "hairpin answer")
}

// RFC 5382 REQ-5: an idle established TCP connection's mapping lives at
// least 2 hours 4 minutes, a transitory one (here an unanswered SYN) at
// least 4 minutes; both go with their connection.
func TestTCPTimers(t *testing.T) {
	r := newRig(t, Config{})
	srv := "198.51.100.80:443"
	r.send(tcp(t, "10.10.0.11:40000", srv, "S", 1, 0, ""), lan)
	r.send(tcp(t, srv, wanAddr+":40000", "SA", 50, 2, ""), wan)
	r.send(tcp(t, "10.10.0.11:40000", srv, "A", 2, 51, ""), lan)
	r.send(tcp(t, "10.10.0.11:40001", srv, "S", 1, 0, ""), lan)
	r.clk.Advance(3*time.Minute + 59*time.Second)
	r.tbl.Sweep(r.clk.Now())
	if n := r.tr.Stats().Mappings; n != 2 {
		t.Fatalf("%d mappings after 3m59s, want 2", n)
	}
	r.clk.Advance(2 * time.Second)
	r.tbl.Sweep(r.clk.Now())
	if n := r.tr.Stats().Mappings; n != 1 {
		t.Fatalf("%d mappings after 4m01s, want the established one", n)
	}
	r.clk.Advance(2*time.Hour + 4*time.Minute - 4*time.Minute - 2*time.Second)
	r.tbl.Sweep(r.clk.Now())
	r.mustPass(r.send(tcp(t, srv, wanAddr+":40000", "A", 51, 2, "late"), wan), tcp(t, srv, "10.10.0.11:40000", "A", 51, 2, "late"), "after 2h3m59s idle")
	r.clk.Advance(2*time.Hour + 4*time.Minute + time.Second)
	r.tbl.Sweep(r.clk.Now())
	if n := r.tr.Stats().Mappings; n != 0 {
		t.Fatalf("%d mappings after 2h4m idle", n)
	}
}

// RFC 5508 REQ-1 (an ICMP query's identifier is mapped, its checksum
// follows) and REQ-2 (a query mapping lives 60 seconds).
func TestICMPQuery(t *testing.T) {
	r := newRig(t, Config{})
	srv := "198.51.100.80"
	r.mustPass(r.send(echo(t, "10.10.0.11", srv, 8, 77, 1), lan), echo(t, wanAddr, srv, 8, 77, 1), "first echo keeps its identifier")
	v := r.send(echo(t, "10.10.0.12", srv, 8, 77, 1), lan)
	pub := netip.MustParseAddrPort(r.publicOf(ipproto.ICMP, "10.10.0.12:77"))
	if pub.Port() == 77 {
		t.Fatal("two hosts share identifier 77")
	}
	r.mustPass(v, echo(t, wanAddr, srv, 8, pub.Port(), 1), "second echo")
	r.mustPass(r.send(echo(t, srv, wanAddr, 0, pub.Port(), 1), wan), echo(t, srv, "10.10.0.12", 0, 77, 1), "reply to the mapped identifier")
	r.mustPass(r.send(echo(t, srv, wanAddr, 0, 77, 1), wan), echo(t, srv, "10.10.0.11", 0, 77, 1), "reply to the preserved identifier")
	r.clk.Advance(59 * time.Second)
	r.tbl.Sweep(r.clk.Now())
	if n := r.tr.Stats().Mappings; n != 2 {
		t.Fatalf("%d query mappings after 59s", n)
	}
	r.clk.Advance(2 * time.Second)
	r.tbl.Sweep(r.clk.Now())
	if n := r.tr.Stats().Mappings; n != 0 {
		t.Fatalf("%d query mappings after 61s", n)
	}
	r.mustDrop(r.send(echo(t, srv, wanAddr, 0, 77, 2), wan), "reply after expiry")
}

// RFC 5508 REQ-4 (an error from outside about a mapped flow reaches the
// inside host with the quoted packet put back as the host sent it,
// checksums of the quoted IP header, of the quoted datagram and of the
// ICMP message right), REQ-5 (the same from inside), RFC 5382 REQ-9
// (TCP too), RFC 4787 REQ-12 and RFC 5382 REQ-10 (the error ends
// nothing); errors quoting no mapping, and quotes cut short of the
// ports, are dropped and counted.
func TestICMPErrors(t *testing.T) {
	r := newRig(t, Config{Filtering: AddressAndPortDependent})
	srv := "198.51.100.80:3478"
	sent := udp(t, "10.10.0.11:5000", srv, "payload!")
	leftAs := r.send(sent, lan).out
	router := "192.0.2.9"

	// From outside, quoting the datagram as it left.
	r.mustPass(r.send(icmpErr(t, router, wanAddr, 3, 3, leftAs, 0), wan), icmpErr(t, router, "10.10.0.11", 3, 3, sent, 0), "unreachable from outside")
	// Only the IP header and the UDP header quoted (RFC 792's minimum).
	r.mustPass(r.send(icmpErr(t, router, wanAddr, 11, 0, leftAs, 28), wan), icmpErr(t, router, "10.10.0.11", 11, 0, sent, 28), "time exceeded, 8 bytes quoted")

	// From inside: the client refuses a datagram the server sent it.
	arrived := udp(t, srv, wanAddr+":5000", "answer")
	delivered := r.send(arrived, wan).out
	r.mustPass(r.send(icmpErr(t, "10.10.0.11", "198.51.100.80", 3, 3, delivered, 0), lan), icmpErr(t, wanAddr, "198.51.100.80", 3, 3, arrived, 0), "unreachable from inside")

	// TCP: an error about a segment is translated the same way.
	syn := tcp(t, "10.10.0.11:40000", "198.51.100.80:443", "S", 5, 0, "")
	synOut := r.send(syn, lan).out
	r.mustPass(r.send(icmpErr(t, router, wanAddr, 3, 1, synOut, 0), wan), icmpErr(t, router, "10.10.0.11", 3, 1, syn, 0), "unreachable about a SYN")

	// The mapping is alive and well after all of that.
	if st := r.tr.Stats(); st.Mappings != 2 || st.Expired != 0 {
		t.Fatalf("errors ended mappings: %+v", st)
	}
	r.mustPass(r.send(arrived, wan), udp(t, srv, "10.10.0.11:5000", "answer"), "reply after the errors")

	// Quoting a flow with no mapping: dropped by the table (icmp_no_flow).
	stray := udp(t, wanAddr+":6001", srv, "x")
	v := r.send(icmpErr(t, router, wanAddr, 3, 3, stray, 0), wan)
	r.mustDrop(v, "error quoting no mapping")
	if v.res.Reason != conntrack.ReasonICMPNoFlow {
		t.Fatalf("reason %v", v.res.Reason)
	}
	// A quote cut inside the UDP header: no ports to match, dropped.
	r.mustDrop(r.send(icmpErr(t, router, wanAddr, 3, 3, leftAs, 22), wan), "quote cut short of the ports")
	st := r.tbl.Stats()
	if st.Invalid[conntrack.ReasonICMPNoFlow] == 0 {
		t.Fatalf("no-flow errors not counted: %+v", st.Invalid)
	}
}

// The per-host quota: a flood of new flows from one inside host stops at
// its quota, counted, and disturbs neither its own live mappings nor
// another host's; the bound on all mappings holds the same way.
func TestQuotaAndExhaustion(t *testing.T) {
	r := newRig(t, Config{MaxMappings: 30, PerHost: 10})
	srv := "198.51.100.80:53"
	for p := 1; p <= 25; p++ {
		v := r.send(udp(t, fmt.Sprintf("10.10.0.11:%d", 20000+p), srv, "q"), lan)
		if p > 10 && (v.passed() || v.outcome != QuotaExceeded) {
			t.Fatalf("flow %d of the host: %+v outcome %v", p, v.res, v.outcome)
		}
	}
	// The host's first mappings still answer, on their ports.
	for p := 1; p <= 10; p++ {
		in := fmt.Sprintf("10.10.0.11:%d", 20000+p)
		pub := r.publicOf(ipproto.UDP, in)
		r.mustPass(r.send(udp(t, srv, pub, "a"), wan), udp(t, srv, in, "a"), "reply to "+in)
	}
	// Other hosts still map, up to the table's bound.
	for h := 12; h < 14; h++ {
		for p := 1; p <= 10; p++ {
			port := 30000 + 100*h + p
			r.mustPass(r.send(udp(t, fmt.Sprintf("10.10.0.%d:%d", h, port), srv, "q"), lan), udp(t, fmt.Sprintf("%s:%d", wanAddr, port), srv, "q"), "other host")
		}
	}
	v := r.send(udp(t, "10.10.0.20:1234", srv, "q"), lan)
	if v.passed() || v.outcome != Exhausted {
		t.Fatalf("beyond the bound: outcome %v", v.outcome)
	}
	st := r.tr.Stats()
	if st.Mappings != 30 || st.Outcomes[QuotaExceeded] != 15 || st.Outcomes[Exhausted] != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// A mapping dies with its last connection: a TCP reset before any answer
// ends the connection, and the public port is free again.
func TestMappingDiesWithConnection(t *testing.T) {
	r := newRig(t, Config{})
	srv := "198.51.100.80:443"
	r.send(tcp(t, "10.10.0.11:40000", srv, "S", 1, 0, ""), lan)
	r.send(tcp(t, "10.10.0.11:40000", srv, "R", 2, 0, ""), lan)
	if st := r.tr.Stats(); st.Mappings != 0 || st.Expired != 1 {
		t.Fatalf("after the reset: %+v", st)
	}
	v := r.send(tcp(t, srv, wanAddr+":40000", "S", 9, 0, ""), wan)
	r.mustDrop(v, "SYN to the freed port")
	if v.outcome != NoMapping {
		t.Fatalf("outcome %v", v.outcome)
	}
}

// take never hands out a port in use, keeps to its range, and reports
// exhaustion when the range is full.
func TestPortSetTake(t *testing.T) {
	var s portSet
	taken := map[uint16]bool{}
	for i := range 1000 {
		p, ok := s.take(3000, 1024, 2047, uint64(i)*7919)
		if !ok {
			if len(taken) != 1024 {
				t.Fatalf("exhausted after %d ports of 1024", len(taken))
			}
			break
		}
		if taken[p] || p < 1024 || p > 2047 {
			t.Fatalf("take gave %d (taken %v)", p, taken[p])
		}
		if len(taken) < 512 && p&1 != 0 {
			t.Fatalf("port %d of the wrong parity while even ones were free", p)
		}
		taken[p] = true
	}
	for range 30 {
		s.take(3000, 1024, 2047, 1)
	}
	if _, ok := s.take(1500, 1024, 2047, 5); ok {
		t.Fatal("full range handed out a port")
	}
	s.clear(1500)
	if p, ok := s.take(1500, 1024, 2047, 5); !ok || p != 1500 {
		t.Fatalf("freed port: %d %v", p, ok)
	}
}

// Port exhaustion: when every port of the public address is held, a new
// mapping is refused and counted, and no live mapping's port is ever
// handed out again (RFC 4787 REQ-3, RFC 5382 REQ-7: no overloading).
func TestPortExhaustion(t *testing.T) {
	tr, err := New(Config{
		Public:      []netip.Addr{netip.MustParseAddr(wanAddr)},
		Masquerade:  []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		MaxMappings: 70000,
		PerHost:     70000,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctc := conntrack.Config{MaxEntries: 70000}
	tr.Conntrack(&ctc)
	tbl, err := conntrack.New(ctc)
	if err != nil {
		t.Fatal(err)
	}
	srv := netip.MustParseAddrPort("198.51.100.80:53")
	const ports = 65535 - 1024 + 1
	var last conntrack.Result
	for i := range ports + 1 {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 40000)
		p := conntrack.Packet{Flow: flow.Key{Src: src, Dst: srv, Proto: ipproto.UDP}, Side: lan, WScale: -1}
		r, out := tr.Create(tbl, &p)
		if i < ports && out != Translated {
			t.Fatalf("flow %d: %v %+v", i, out, r)
		}
		if i == ports && out != Exhausted {
			t.Fatalf("flow beyond the ports: %v", out)
		}
		if i == 0 {
			last = r
		}
	}
	seen := map[uint16]bool{}
	for _, m := range tr.Mappings() {
		if seen[m.Public.Port()] || m.Public.Port() < 1024 {
			t.Fatalf("port %d handed out twice or out of range", m.Public.Port())
		}
		seen[m.Public.Port()] = true
	}
	if len(seen) != ports || tr.Stats().Outcomes[Exhausted] != 1 {
		t.Fatalf("%d ports held, exhausted %d times", len(seen), tr.Stats().Outcomes[Exhausted])
	}
	// One connection ends: its port, and only it, is free again.
	tbl.Delete(last.ID)
	p := conntrack.Packet{Flow: flow.Key{Src: netip.MustParseAddrPort("10.2.0.1:40000"), Dst: srv, Proto: ipproto.UDP}, Side: lan, WScale: -1}
	if _, out := tr.Create(tbl, &p); out != Translated {
		t.Fatalf("after a port was freed: %v", out)
	}
	if got := netip.MustParseAddrPort(publicOfTr(t, tr, ipproto.UDP, "10.2.0.1:40000")).Port(); got != 40000 {
		t.Fatalf("the freed port is 40000 (the first flow's, preserved), got %d", got)
	}
}

// publicOfTr returns the public endpoint the mapping of inside has.
func publicOfTr(t *testing.T, tr *Translator, proto ipproto.Proto, inside string) string {
	t.Helper()
	for _, m := range tr.Mappings() {
		if m.Proto == proto && m.Inside == netip.MustParseAddrPort(inside) {
			return m.Public.String()
		}
	}
	t.Fatalf("no mapping of %s", inside)
	return ""
}
