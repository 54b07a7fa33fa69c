package guard

import (
	"net/netip"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/firewall/conntrack"
	"github.com/rampart-fw/rampart/internal/benchcpu"
	"github.com/rampart-fw/rampart/packet"
)

const (
	cli = "198.51.100.9:40000"
	srv = "10.10.0.80:80"
)

func proxyGuard(t testing.TB, mode ProxyMode) (*Guard, *SYNProxy) {
	g, _ := newGuard(t, Config{SYNProxy: SYNProxyConfig{Mode: mode, Destinations: []netip.Prefix{netip.MustParsePrefix("10.10.0.80/32")}, AutoThreshold: 10}})
	return g, g.Proxy()
}

// clientSYN is a Linux client's SYN: MSS 1460, SACK, timestamps, window
// scale 7.
func clientSYN(t testing.TB) []byte {
	return tcpFrame(t, tcpSpec{src: cli, dst: srv, flags: packet.TCPSYN, seq: 1000, win: 64240, mss: 1460, wscale: 7, sackPerm: true, ts: true, tsval: 111})
}

// TestSYNProxySplice walks a whole proxied connection on bytes: the
// SYN/ACK's cookie, the client's ACK, the SYN the proxy opens the
// server's side with, the server's SYN/ACK turned into an ACK to the
// server and a window update to the client, and data both ways with
// sequence numbers, timestamps, SACK blocks and windows translated.
func TestSYNProxySplice(t *testing.T) {
	g, x := proxyGuard(t, ProxyAlways)
	syn := decoded(t, clientSYN(t))
	if !x.Answers(syn.Dst.Addr()) || x.Answers(netip.MustParseAddr("10.10.0.81")) {
		t.Fatal("the proxy's destinations")
	}
	sa := decoded(t, x.AnswerSYN(nil, syn))
	if sa.Src != syn.Dst || sa.Dst != syn.Src || sa.TCPFlags != packet.TCPSYN|packet.TCPACK || sa.TCPAck != 1001 || sa.TCPWindow != 0 {
		t.Fatalf("SYN/ACK %v -> %v flags %v ack %d win %d", sa.Src, sa.Dst, sa.TCPFlags, sa.TCPAck, sa.TCPWindow)
	}
	if [6]byte(sa.EthDst[:]) != [6]byte(clientMAC) || [6]byte(sa.EthSrc[:]) != [6]byte(serverMAC) {
		t.Errorf("SYN/ACK Ethernet %x -> %x", sa.EthSrc, sa.EthDst)
	}
	// The cookie is the MAC of the tuple, the client's ISN, the counter
	// and what the timestamp carries, with the MSS index 3 (1460).
	tp := tupleOf(syn)
	opts := uint8(7 | tsSACK)
	if want := x.jar.make(epoch, &tp, 1000, cookieInfo{mssIdx: 3, ts: true, opts: opts}); sa.TCPSeq != want {
		t.Fatalf("cookie %#x, want %#x", sa.TCPSeq, want)
	}
	if sa.TCPSeq&3 != 3 {
		t.Errorf("cookie %#x does not carry MSS index 3", sa.TCPSeq)
	}
	o := sa.TCPOpts
	if o.Has != packet.TCPOptMSS|packet.TCPOptTimestamps|packet.TCPOptWScale|packet.TCPOptSACKPermitted || o.MSS != 1460 || o.WScale != 7 ||
		o.TSecr != 111 || o.TSval&0x3f != uint32(opts) {
		t.Fatalf("SYN/ACK options %+v", o)
	}
	cookie, proxyTS := sa.TCPSeq, o.TSval

	// The client's ACK proves it: the server's SYN goes out with the
	// client's options.
	ack := decoded(t, tcpFrame(t, tcpSpec{src: cli, dst: srv, flags: packet.TCPACK, seq: 1001, ack: cookie + 1, win: 502, wscale: -1, ts: true, tsval: 112, tsecr: proxyTS}))
	var cs conntrack.Packet
	var sp conntrack.Splice
	if r := x.CheckACK(ack, &cs, &sp); r != Pass {
		t.Fatalf("valid cookie refused: %v", r)
	}
	if cs.Seq != 1000 || cs.TCPFlags != packet.TCPSYN || cs.WScale != 7 || !cs.SACKPermitted || cs.Splice != &sp || cs.Flow != ack.Flow() {
		t.Fatalf("conntrack SYN %+v", cs)
	}
	ssyn := decoded(t, x.AppendServerSYN(nil, ack, &sp))
	if ssyn.Src != syn.Src || ssyn.Dst != syn.Dst || ssyn.TCPFlags != packet.TCPSYN || ssyn.TCPSeq != 1000 || ssyn.TCPAck != 0 {
		t.Fatalf("server SYN %v -> %v flags %v seq %d", ssyn.Src, ssyn.Dst, ssyn.TCPFlags, ssyn.TCPSeq)
	}
	if o := ssyn.TCPOpts; o.Has != packet.TCPOptMSS|packet.TCPOptTimestamps|packet.TCPOptWScale|packet.TCPOptSACKPermitted || o.MSS != 1460 || o.WScale != 7 || o.TSval != 112 {
		t.Fatalf("server SYN options %+v", o)
	}

	// The server answers with its own ISN, clock and scale.
	const serverISN, serverTS = 5000, 900000
	ssa := decoded(t, tcpFrame(t, tcpSpec{src: srv, dst: cli, flags: packet.TCPSYN | packet.TCPACK, seq: serverISN, ack: 1001, win: 65160, mss: 1460, wscale: 5, sackPerm: true, ts: true, tsval: serverTS, tsecr: 112}))
	toS, toC, r := x.ServerSYNACK(nil, nil, ssa, &sp)
	if r != Pass || !sp.Active || sp.SeqDelta != cookie-serverISN || sp.TSDelta != serverTS-proxyTS || sp.ReplyWinFrom != 5 || sp.ReplyWinTo != 7 || sp.OrigWinShift != 0 {
		t.Fatalf("splice %+v, %v", sp, r)
	}
	a := decoded(t, toS)
	if a.Src != syn.Src || a.Dst != syn.Dst || a.TCPFlags != packet.TCPACK || a.TCPSeq != 1001 || a.TCPAck != serverISN+1 || a.TCPWindow != 502 ||
		a.TCPOpts.TSval != 112 || a.TCPOpts.TSecr != serverTS {
		t.Fatalf("ACK to the server %v -> %v %v seq %d ack %d win %d ts %+v", a.Src, a.Dst, a.TCPFlags, a.TCPSeq, a.TCPAck, a.TCPWindow, a.TCPOpts)
	}
	u := decoded(t, toC)
	if u.Src != syn.Dst || u.Dst != syn.Src || u.TCPFlags != packet.TCPACK || u.TCPSeq != cookie+1 || u.TCPAck != 1001 ||
		u.TCPWindow != (65160+127)>>7 || u.TCPOpts.TSval != proxyTS || u.TCPOpts.TSecr != 112 {
		t.Fatalf("window update %v -> %v %v seq %d ack %d win %d ts %+v", u.Src, u.Dst, u.TCPFlags, u.TCPSeq, u.TCPAck, u.TCPWindow, u.TCPOpts)
	}

	// Data from the server, in the client's numbers.
	d := decoded(t, tcpFrame(t, tcpSpec{src: srv, dst: cli, flags: packet.TCPACK | packet.TCPPSH, seq: serverISN + 1, ack: 1001, win: 2000, wscale: -1, ts: true, tsval: serverTS + 10, tsecr: 112, payload: 100}))
	if err := Translate(d, &sp, conntrack.DirReply); err != nil {
		t.Fatal(err)
	}
	d = decoded(t, d.Buf) // checksum still right
	if d.TCPSeq != cookie+1 || d.TCPAck != 1001 || d.TCPWindow != 2000<<5>>7 || d.TCPOpts.TSval != proxyTS+10 || d.TCPOpts.TSecr != 112 {
		t.Fatalf("server data as the client sees it: seq %d ack %d win %d ts %+v", d.TCPSeq, d.TCPAck, d.TCPWindow, d.TCPOpts)
	}
	// The client's ACK with a SACK block, in the server's numbers.
	c := decoded(t, tcpFrame(t, tcpSpec{src: cli, dst: srv, flags: packet.TCPACK, seq: 1001, ack: cookie + 101, win: 600, wscale: -1, ts: true, tsval: 113, tsecr: proxyTS + 10,
		sack: [][2]uint32{{cookie + 201, cookie + 301}}}))
	if err := Translate(c, &sp, conntrack.DirOriginal); err != nil {
		t.Fatal(err)
	}
	c = decoded(t, c.Buf)
	if c.TCPSeq != 1001 || c.TCPAck != serverISN+101 || c.TCPWindow != 600 || c.TCPOpts.TSval != 113 || c.TCPOpts.TSecr != serverTS+10 ||
		c.TCPOpts.NumSACK != 1 || c.TCPOpts.SACK[0] != (packet.SACKBlock{Left: serverISN + 201, Right: serverISN + 301}) {
		t.Fatalf("client ACK as the server sees it: seq %d ack %d win %d opts %+v", c.TCPSeq, c.TCPAck, c.TCPWindow, c.TCPOpts)
	}
	if st := x.Stats(); st.SYNACKs != 1 || st.CookiesOK != 1 || st.Spliced != 1 {
		t.Errorf("stats %+v", st)
	}
	if g.Drops()[ReasonBadCookie] != 0 {
		t.Error("bad cookies counted")
	}
}

// TestSYNProxyNoTimestamps: without timestamps the cookie keeps only the
// MSS, and the SYN/ACK offers neither window scaling nor SACK.
func TestSYNProxyNoTimestamps(t *testing.T) {
	_, x := proxyGuard(t, ProxyAlways)
	syn := decoded(t, tcpFrame(t, tcpSpec{src: cli, dst: srv, flags: packet.TCPSYN, seq: 7, win: 8192, mss: 1300, wscale: 2, sackPerm: true}))
	sa := decoded(t, x.AnswerSYN(nil, syn))
	if sa.TCPOpts.Has != packet.TCPOptMSS || sa.TCPSeq&3 != 1 {
		t.Fatalf("SYN/ACK options %+v cookie %#x", sa.TCPOpts, sa.TCPSeq)
	}
	ack := decoded(t, tcpFrame(t, tcpSpec{src: cli, dst: srv, flags: packet.TCPACK, seq: 8, ack: sa.TCPSeq + 1, win: 8192, wscale: -1}))
	var cs conntrack.Packet
	var sp conntrack.Splice
	if r := x.CheckACK(ack, &cs, &sp); r != Pass || sp.MSS != 1300 || sp.Options != 0 || cs.WScale != -1 {
		t.Fatalf("%v %+v %+v", r, sp, cs)
	}
	// A server that scales anyway is not rescaled: the client never
	// asked, so the server does not scale either (RFC 7323 needs both).
	ssa := decoded(t, tcpFrame(t, tcpSpec{src: srv, dst: cli, flags: packet.TCPSYN | packet.TCPACK, seq: 1, ack: 8, win: 29200, mss: 1460, wscale: -1}))
	_, toC, _ := x.ServerSYNACK(nil, nil, ssa, &sp)
	if u := decoded(t, toC); u.TCPWindow != 29200 || u.TCPOpts.Has != 0 {
		t.Fatalf("window update %d %+v", u.TCPWindow, u.TCPOpts)
	}
}

// TestForgedACK: an ACK whose cookie is wrong in any part (the number,
// the tuple, the client's ISN, the echoed option bits, its age) opens
// nothing and is counted.
func TestForgedACK(t *testing.T) {
	g, x := proxyGuard(t, ProxyAlways)
	clk := g.clock.(interface{ Advance(time.Duration) })
	sa := decoded(t, x.AnswerSYN(nil, decoded(t, clientSYN(t))))
	cookie, tsv := sa.TCPSeq, sa.TCPOpts.TSval
	good := tcpSpec{src: cli, dst: srv, flags: packet.TCPACK, seq: 1001, ack: cookie + 1, win: 502, wscale: -1, ts: true, tsval: 112, tsecr: tsv}
	for _, tc := range []struct {
		name string
		mod  func(*tcpSpec)
	}{
		{"cookie off by one", func(s *tcpSpec) { s.ack++ }},
		{"MSS index changed", func(s *tcpSpec) { s.ack ^= 1 }},
		{"another source port", func(s *tcpSpec) { s.src = "198.51.100.9:40001" }},
		{"another source", func(s *tcpSpec) { s.src = "198.51.100.10:40000" }},
		{"another ISN", func(s *tcpSpec) { s.seq++ }},
		{"option bits forged (SACK off)", func(s *tcpSpec) { s.tsecr ^= tsSACK }},
		{"timestamps dropped", func(s *tcpSpec) { s.ts = false }},
		{"a SYN+ACK", func(s *tcpSpec) { s.flags |= packet.TCPSYN }},
		{"random", func(s *tcpSpec) { s.ack = 0x12345678 }},
	} {
		s := good
		tc.mod(&s)
		var cs conntrack.Packet
		var sp conntrack.Splice
		if r := x.CheckACK(decoded(t, tcpFrame(t, s)), &cs, &sp); r != ReasonBadCookie || cs.Splice != nil || sp != (conntrack.Splice{}) {
			t.Errorf("%s: %v, %+v", tc.name, r, sp)
		}
	}
	if n := g.Drops()[ReasonBadCookie]; n != 9 {
		t.Errorf("bad cookies counted %d, want 9", n)
	}
	// The good one is accepted through the next period, not after.
	var cs conntrack.Packet
	var sp conntrack.Splice
	clk.Advance(cookiePeriod)
	if r := x.CheckACK(decoded(t, tcpFrame(t, good)), &cs, &sp); r != Pass {
		t.Fatalf("cookie one period old refused: %v", r)
	}
	clk.Advance(cookiePeriod)
	if r := x.CheckACK(decoded(t, tcpFrame(t, good)), &cs, &sp); r != ReasonBadCookie {
		t.Fatalf("cookie two periods old accepted: %v", r)
	}
}

// TestZeroWindowProbe: when the client's ACK is lost, its zero-window
// probe (sequence number the ISN itself) opens the connection in its
// place.
func TestZeroWindowProbe(t *testing.T) {
	_, x := proxyGuard(t, ProxyAlways)
	sa := decoded(t, x.AnswerSYN(nil, decoded(t, clientSYN(t))))
	probe := decoded(t, tcpFrame(t, tcpSpec{src: cli, dst: srv, flags: packet.TCPACK, seq: 1000, ack: sa.TCPSeq + 1, win: 502, wscale: -1, ts: true, tsval: 400, tsecr: sa.TCPOpts.TSval}))
	var cs conntrack.Packet
	var sp conntrack.Splice
	if r := x.CheckACK(probe, &cs, &sp); r != Pass || sp.ClientISN != 1000 || cs.Seq != 1000 {
		t.Fatalf("probe: %v %+v", r, sp)
	}
}

// TestServerSYNACKWrongAck: a server SYN/ACK that does not acknowledge
// the client's ISN changes nothing.
func TestServerSYNACKWrongAck(t *testing.T) {
	g, x := proxyGuard(t, ProxyAlways)
	sp := conntrack.Splice{ISN: 77, ClientISN: 1000}
	ssa := decoded(t, tcpFrame(t, tcpSpec{src: srv, dst: cli, flags: packet.TCPSYN | packet.TCPACK, seq: 5, ack: 1002, win: 100, wscale: -1}))
	a, b, r := x.ServerSYNACK(nil, nil, ssa, &sp)
	if r != ReasonProxy || len(a) != 0 || len(b) != 0 || sp.Active || g.Drops()[ReasonProxy] != 1 {
		t.Fatalf("%v %d %d %+v", r, len(a), len(b), sp)
	}
	// A reset from a closed port reaches the client in its numbers.
	rst := decoded(t, tcpFrame(t, tcpSpec{src: srv, dst: cli, flags: packet.TCPRST | packet.TCPACK, seq: 0, ack: 1001, wscale: -1}))
	if err := Translate(rst, &sp, conntrack.DirReply); err != nil {
		t.Fatal(err)
	}
	if rst = decoded(t, rst.Buf); rst.TCPSeq != 78 {
		t.Errorf("reset seq %d, want 78", rst.TCPSeq)
	}
}

type halfOpen []int

func (h halfOpen) HalfOpen(_ []netip.Prefix, counts []int) { copy(counts, h) }

// TestAutoMode: the proxy engages past the threshold and lets go under
// half of it, counting the cookies it has in flight while engaged, so
// that it does not let go the moment the table's half-open entries age
// out.
func TestAutoMode(t *testing.T) {
	_, x := proxyGuard(t, ProxyAuto)
	dst := netip.MustParseAddr("10.10.0.80")
	if x.Answers(dst) {
		t.Fatal("engaged at start")
	}
	for _, step := range []struct {
		table   int
		synacks int
		want    bool
	}{{10, 0, false}, {11, 0, true}, {3, 8, true}, {3, 0, true}, {0, 0, false}} {
		for range step.synacks {
			x.AnswerSYN(nil, decoded(t, clientSYN(t)))
		}
		if step.synacks == 0 && step.table == 0 {
			// Two periods on, the cookies are dead.
			x.clock.(interface{ Advance(time.Duration) }).Advance(2 * cookiePeriod)
		}
		x.Tick(halfOpen{step.table}, nil)
		if got := x.Answers(dst); got != step.want {
			t.Fatalf("table %d, %d SYN/ACKs: engaged %v, want %v", step.table, step.synacks, got, step.want)
		}
	}
	x.Tick(halfOpen{0}, nil)
	if x.Answers(dst) {
		t.Fatal("still engaged with nothing half open")
	}
}

func TestCookieRotation(t *testing.T) {
	j := newJar(epoch)
	tp := tuple{src: netip.MustParseAddrPort(cli), dst: netip.MustParseAddrPort(srv)}
	ci := cookieInfo{mssIdx: 2}
	seen := map[uint32]bool{}
	for i := range 6 {
		now := epoch.Add(time.Duration(i) * cookiePeriod)
		c := j.make(now, &tp, 1, ci)
		if seen[c] {
			t.Errorf("period %d repeats a cookie", i)
		}
		seen[c] = true
		if idx, ok := j.check(now.Add(cookiePeriod), &tp, 1, c, false, 0); !ok || idx != 2 {
			t.Errorf("period %d: cookie refused in the next period", i)
		}
	}
}

func BenchmarkCookie(b *testing.B) {
	j := newJar(epoch)
	tp := tuple{src: netip.MustParseAddrPort(cli), dst: netip.MustParseAddrPort(srv)}
	ci := cookieInfo{mssIdx: 3, ts: true, opts: 7 | tsSACK}
	b.Run("make", func(b *testing.B) {
		defer benchcpu.Start(b)()
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			j.make(epoch, &tp, uint32(i), ci)
		}
	})
	c := j.make(epoch, &tp, 1, ci)
	b.Run("check", func(b *testing.B) {
		defer benchcpu.Start(b)()
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := j.check(epoch, &tp, 1, c, true, ci.opts); !ok {
				b.Fatal("refused")
			}
		}
	})
	// The whole answer: decode nothing, build the SYN/ACK frame.
	g, _ := newGuard(b, Config{SYNProxy: SYNProxyConfig{Mode: ProxyAlways, Destinations: []netip.Prefix{netip.MustParsePrefix("10.10.0.80/32")}}})
	syn := decoded(b, clientSYN(b))
	buf := make([]byte, 0, 128)
	b.Run("synack", func(b *testing.B) {
		defer benchcpu.Start(b)()
		b.ReportAllocs()
		for b.Loop() {
			buf = g.Proxy().AnswerSYN(buf[:0], syn)
		}
	})
}
