package server

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/wire"
)

// TestRRLAccount: one account's verdicts second by second, for a client
// that floods and then stops: rate answers a second while credit lasts,
// every slip-th limited response slipped, and answers again once the
// window has paid back what the flood owed.
func TestRRLAccount(t *testing.T) {
	for _, tt := range []struct {
		name       string
		slip       int
		perSecond  []int    // queries sent in each second
		wantCounts [][3]int // sent, slipped, dropped in each second
	}{
		{"slip 2", 2, []int{12, 10, 10}, [][3]int{{5, 3, 4}, {0, 5, 5}, {0, 5, 5}}},
		// 8 in the first second leave a debt of 3: the next second's 5
		// credits pay it and leave 2 answers.
		{"slip 1", 1, []int{8, 6}, [][3]int{{5, 3, 0}, {2, 4, 0}}},
		{"slip never", -1, []int{8, 6}, [][3]int{{5, 0, 3}, {2, 0, 4}}},
		// Within the rate nothing is limited, second after second.
		{"within rate", 2, []int{5, 5, 5, 3}, [][3]int{{5, 0, 0}, {5, 0, 0}, {5, 0, 0}, {3, 0, 0}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := RRLConfig{ResponsesPerSecond: 5, Slip: tt.slip}
			if err := cfg.setDefaults(); err != nil {
				t.Fatal(err)
			}
			l := newRateLimiter(cfg, NewMetrics(nil).rrlEvicted)
			for sec, n := range tt.perSecond {
				var got [3]int
				for range n {
					got[l.account(42, uint32(100+sec))]++
				}
				if got != tt.wantCounts[sec] {
					t.Errorf("second %d: sent, slipped, dropped = %v, want %v", sec, got, tt.wantCounts[sec])
				}
			}
		})
	}

	// The floor: a flood owes at most window·rate; after window seconds
	// of silence the debt is paid and, a second later, credit is back.
	cfg := RRLConfig{ResponsesPerSecond: 5, Slip: -1, Window: 4 * time.Second}
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	for sec, want := range map[uint32]rrlVerdict{14: rrlDrop, 15: rrlSend} {
		l := newRateLimiter(cfg, NewMetrics(nil).rrlEvicted)
		for range 1000 {
			l.account(7, 10)
		}
		if v := l.account(7, sec); v != want {
			t.Errorf("second %d after a flood at second 10 with a 4 s window: verdict %d, want %d", sec, v, want)
		}
	}
}

// TestRRLClockBehind: a reader whose clock was read before another
// reader stamped the account (a second earlier) earns no credit from the
// difference: the unsigned seconds must not wrap into a full refill.
func TestRRLClockBehind(t *testing.T) {
	cfg := RRLConfig{ResponsesPerSecond: 2, Slip: -1}
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	l := newRateLimiter(cfg, NewMetrics(nil).rrlEvicted)
	for range 10 {
		l.account(9, 51)
	}
	if v := l.account(9, 50); v != rrlDrop {
		t.Errorf("a charge stamped a second behind the account: verdict %d, want a drop", v)
	}
}

// TestRRLTableBounded: accounts beyond the table's size replace the least
// recently used of their set, counted when still live; the table never
// grows.
func TestRRLTableBounded(t *testing.T) {
	cfg := RRLConfig{ResponsesPerSecond: 1, TableSize: rrlShards * rrlWays}
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(nil)
	l := newRateLimiter(cfg, m.rrlEvicted)
	for k := range uint64(100000) {
		l.account(k*0x9E3779B97F4A7C15, 1)
	}
	total := 0
	for i := range l.shards {
		total += len(l.shards[i].entries)
	}
	if total != rrlShards*rrlWays {
		t.Errorf("table of %d entries, want %d", total, rrlShards*rrlWays)
	}
	if ev := counterValue(t, m.rrlEvicted); ev < 100000-float64(total) {
		t.Errorf("%v evictions counted for 100000 accounts in %d entries", ev, total)
	}
}

// rrlServer is a server with RRL at rate 2 whose limiter's clock stands
// still at second 1000, with www.example. and nx.example. answered.
func rrlServer(t *testing.T, slip int) *Server {
	t.Helper()
	s, err := New(Config{Listen: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")}, Resolver: &fakeResolver{}, Cache: newWireCache(t),
		ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("192.0.2.0/24")}),
		RRL: RRLConfig{ResponsesPerSecond: 2, Slip: slip, Exempt: []netip.Prefix{}}})
	if err != nil {
		t.Fatal(err)
	}
	s.rrl.clock = func() uint32 { return 1000 }
	s.ctx = t.Context()
	return s
}

// ask runs q through the reader's path (fast path, slow path on a miss,
// then RRL) as from src, and returns the bytes that go on the wire (nil:
// nothing is sent).
func ask(t *testing.T, s *Server, q []byte, src netip.Addr) []byte {
	t.Helper()
	out := make([]byte, 1232)
	var tl tally
	n := s.fastTally(q, src, out, &tl)
	if n == 0 {
		resp := s.slow(q, src, false)
		job := udpJob{q: q, src: netip.AddrPortFrom(src, 5353), cookie: tl.cookie}
		tl.flush(s.m)
		return s.limitSlow(&job, resp)
	}
	n = s.answerUDP(q, out, n, src, s.rrl.now(), &tl)
	tl.flush(s.m)
	if n == 0 {
		return nil
	}
	return out[:n]
}

// TestRRLOnTheWire: what leaves the server for a client over its rate:
// full answers within the rate, then every second limited answer
// truncated (TC set, no records, a bare OPT, never longer than the
// query) and the others dropped; NXDOMAIN counted per zone, so random
// names under one zone share an account; errors leaked as they are;
// another client untouched; a valid cookie exempt; the counters.
func TestRRLOnTheWire(t *testing.T) {
	s := rrlServer(t, 2)
	victim := netip.MustParseAddr("127.0.0.9")
	q, _ := cookieQuery("wWw.example.", "").Pack()
	var full, slipped, dropped int
	for i := range 10 {
		b := ask(t, s, q, victim)
		if b == nil {
			dropped++
			continue
		}
		var m dns.Msg
		if err := m.Unpack(b); err != nil {
			t.Fatalf("query %d: %v", i, err)
		}
		h := wire.Header(b)
		switch {
		case !m.Truncated && len(m.Answer) == 1:
			full++
			if slipped+dropped > 0 {
				t.Errorf("query %d: a full answer after the limit engaged", i)
			}
		case m.Truncated:
			slipped++
			if h.ANCount() != 0 || h.NSCount() != 0 || h.ARCount() != 1 || m.IsEdns0() == nil || len(m.IsEdns0().Option) != 0 {
				t.Errorf("slipped answer: counts %d/%d/%d/%d, want 1/0/0/1 (the question, a bare OPT)", h.QDCount(), h.ANCount(), h.NSCount(), h.ARCount())
			}
			if m.Question[0].Name != "wWw.example." || m.Id != wire.Header(q).ID() || !m.Response || m.Rcode != dns.RcodeSuccess {
				t.Errorf("slipped answer %v does not answer the query", m.Question)
			}
			if len(b) > len(q) {
				t.Errorf("slipped answer of %d octets for a %d-octet query", len(b), len(q))
			}
		default:
			t.Errorf("query %d: unexpected answer %v", i, &m)
		}
	}
	if full != 2 || slipped != 4 || dropped != 4 {
		t.Errorf("full, slipped, dropped = %d, %d, %d; want 2, 4, 4", full, slipped, dropped)
	}

	// Without EDNS the slipped answer is the header and the question.
	plain := new(dns.Msg)
	plain.SetQuestion("www.example.", dns.TypeA)
	pq, _ := plain.Pack()
	var sawSlip bool
	for range 4 {
		if b := ask(t, s, pq, victim); b != nil {
			sawSlip = true
			if h := wire.Header(b); h.Flags()&wire.TC == 0 || h.ARCount() != 0 || len(b) != len(pq) {
				t.Errorf("slipped answer without EDNS: TC %v, ARCOUNT %d, %d octets for a %d-octet query",
					h.Flags()&wire.TC != 0, h.ARCount(), len(b), len(pq))
			}
		}
	}
	if !sawSlip {
		t.Error("no slipped answer without EDNS")
	}

	// Another client network is another account.
	if b := ask(t, s, q, netip.MustParseAddr("192.0.2.1")); b == nil || wire.Header(b).Flags()&wire.TC != 0 {
		t.Error("another client was limited")
	}
	// Random names under one zone: NXDOMAIN with example.'s SOA, one
	// account.
	var nxFull int
	for i := range 6 {
		nq, _ := cookieQuery("nx.example.", "").Pack()
		if i%2 == 1 {
			nq, _ = cookieQuery("NX.example.", "").Pack() // the case does not make an account
		}
		if b := ask(t, s, nq, victim); b != nil && wire.Header(b).Flags()&wire.TC == 0 {
			nxFull++
			if wire.Header(b).Flags().Rcode() != wire.RcodeNXDomain {
				t.Errorf("NXDOMAIN expected, got rcode %d", wire.Header(b).Flags().Rcode())
			}
		}
	}
	if nxFull != 2 {
		t.Errorf("%d full NXDOMAIN answers in one second, want 2", nxFull)
	}
	// A client outside the ACL: REFUSED, an error, limited per network
	// alone and leaked as it is every second time.
	outside := netip.MustParseAddr("198.51.100.7")
	var refused, leaked int
	for i := range 8 {
		nq, _ := cookieQuery(strings.Repeat("a", i+1)+".example.", "").Pack()
		b := ask(t, s, nq, outside)
		if b == nil {
			continue
		}
		if wire.Header(b).Flags()&wire.TC != 0 || wire.Header(b).Flags().Rcode() != wire.RcodeRefused || len(b) > len(nq) {
			t.Errorf("refusal %d: %x", i, b)
		}
		if i < 2 {
			refused++
		} else {
			leaked++
		}
	}
	if refused != 2 || leaked != 3 {
		t.Errorf("refusals sent: %d within the rate and %d leaked of 6 limited; want 2 and 3", refused, leaked)
	}

	// Loopback is exempt by default: no packet from the network can
	// claim it, and a local forwarder asks for many.
	lo, err := New(Config{Listen: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")}, Resolver: &fakeResolver{}, Cache: newWireCache(t),
		ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}), RRL: RRLConfig{ResponsesPerSecond: 2}})
	if err != nil {
		t.Fatal(err)
	}
	lo.ctx = t.Context()
	for i := range 6 {
		if b := ask(t, lo, q, netip.MustParseAddr("127.0.0.1")); b == nil || wire.Header(b).ANCount() != 1 {
			t.Fatalf("loopback query %d was limited", i)
		}
	}

	// A client cookie alone proves nothing; a valid server cookie does.
	cq, _ := cookieQuery("www.example.", "0102030405060708").Pack()
	b := ask(t, s, cq, victim)
	if b != nil && wire.Header(b).Flags()&wire.TC == 0 {
		t.Error("a query with a client cookie only escaped the limit")
	}
	var first dns.Msg
	out := make([]byte, 1232)
	var tl tally
	n := s.fastTally(cq, victim, out, &tl)
	if err := first.Unpack(out[:n]); err != nil {
		t.Fatal(err)
	}
	vq, _ := cookieQuery("www.example.", hexCookie(responseCookie(t, &first))).Pack()
	for i := range 5 {
		b := ask(t, s, vq, victim)
		if b == nil || wire.Header(b).Flags()&wire.TC != 0 || wire.Header(b).ANCount() != 1 {
			t.Fatalf("query %d with a valid server cookie was limited", i)
		}
	}

	m := s.m
	if got := counterValue(t, m.rrlLimited); got != counterValue(t, m.rrlSlipped)+counterValue(t, m.rrlDropped) || got < 8 {
		t.Errorf("limited %v, slipped %v, dropped %v", got, counterValue(t, m.rrlSlipped), counterValue(t, m.rrlDropped))
	}
	if in, out := counterValue(t, m.udpBytesIn), counterValue(t, m.udpBytesOut); in == 0 || out == 0 {
		t.Errorf("UDP octets in %v, out %v", in, out)
	}
	// The victim's network got less than it "sent": its ratio is below 1.
	if r := m.Amplification(netip.MustParsePrefix("127.0.0.0/24")); r <= 0 || r >= 1 {
		t.Errorf("the victim network's amplification ratio is %v, want within (0, 1)", r)
	}
}

func hexCookie(b []byte) string {
	const digits = "0123456789abcdef"
	var sb strings.Builder
	for _, c := range b {
		sb.WriteByte(digits[c>>4])
		sb.WriteByte(digits[c&15])
	}
	return sb.String()
}

// TestRRLOverSockets: through real sockets, a burst for one name gets the
// rate's answers, truncated ones, and silence; the client that retries
// over TCP on TC gets its answer, since RRL never limits TCP.
func TestRRLOverSockets(t *testing.T) {
	s, err := New(Config{Listen: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")}, SocketsPerAddr: 1, Resolver: &fakeResolver{},
		Cache: newWireCache(t), ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}),
		RRL: RRLConfig{ResponsesPerSecond: 3, Slip: 2, Exempt: []netip.Prefix{}}})
	if err != nil {
		t.Fatal(err)
	}
	s.rrl.clock = func() uint32 { return 5 }
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	go s.Serve(t.Context())
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(s.Addrs()[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Warm the cache first, then a burst of 20.
	q := new(dns.Msg)
	q.SetQuestion("big.example.", dns.TypeTXT)
	q.SetEdns0(1232, false)
	if r := exchange(t, s, "tcp", q); len(r.Answer) != 40 {
		t.Fatalf("warm-up over TCP: %d answers", len(r.Answer))
	}
	qb, _ := q.Pack()
	for range 20 {
		if _, err := c.Write(qb); err != nil {
			t.Fatal(err)
		}
	}
	var full, tc, octets int
	buf := make([]byte, 65535)
	for {
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := c.Read(buf)
		if err != nil {
			break
		}
		octets += n
		if wire.Header(buf[:n]).Flags()&wire.TC != 0 && wire.Header(buf[:n]).ANCount() == 0 {
			tc++
		} else {
			full++
		}
	}
	// The 40 TXT records do not fit in 1232 octets, so even answers
	// within the rate are truncated by size, with records: TC with no
	// records is RRL's.
	if full != 3 || tc != 8 {
		t.Errorf("%d answers within the rate and %d slipped of 20, want 3 and 8", full, tc)
	}
	if octets > 3*1232+8*len(qb) {
		t.Errorf("%d octets out for %d in", octets, 20*len(qb))
	}
	// The real client retries over TCP and gets the whole answer.
	if r := exchange(t, s, "tcp", q); r.Truncated || len(r.Answer) != 40 {
		t.Errorf("TCP retry: TC %v, %d records", r.Truncated, len(r.Answer))
	}
}

// TestRRLConfig: the settings' defaults and bounds.
func TestRRLConfig(t *testing.T) {
	c := RRLConfig{ResponsesPerSecond: 5}
	if err := c.setDefaults(); err != nil || c.Slip != 2 || c.IPv4PrefixLength != 24 || c.IPv6PrefixLength != 56 || c.Window != 15*time.Second || c.TableSize != 32768 {
		t.Errorf("defaults: %+v, %v", c, err)
	}
	for _, bad := range []RRLConfig{{ResponsesPerSecond: -1}, {Slip: 11}, {IPv4PrefixLength: 33}, {IPv6PrefixLength: 129},
		{Window: time.Millisecond}, {TableSize: 3}} {
		if err := bad.setDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// benchHit is a server with RRL at rate (0: off) and www.example. cached,
// a query for it, its source, and the cached answer in out[:n].
func benchHit(b *testing.B, rate int) (s *Server, q []byte, src netip.Addr, out []byte, n int) {
	s, err := New(Config{Listen: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")}, Resolver: &fakeResolver{}, Cache: newWireCache(b),
		ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}), RRL: RRLConfig{ResponsesPerSecond: rate, Exempt: []netip.Prefix{}}})
	if err != nil {
		b.Fatal(err)
	}
	r, _ := (&fakeResolver{}).Resolve(b.Context(), "www.example.", dns.TypeA, dns.ClassINET, false)
	r.Ns = nil
	s.cfg.Cache.PutAnswer(r)
	q, _ = cookieQuery("wWw.ExAmPlE.", "").Pack()
	src = netip.MustParseAddr("127.0.0.1")
	out = make([]byte, 1232)
	var t tally
	if n = s.fastTally(q, src, out, &t); n <= 0 {
		b.Fatal("miss")
	}
	return s, q, src, out, n
}

// BenchmarkAnswerUDP is what the reader adds to each UDP answer after the
// fast path: the octet accounting (always on), and RRL when on; the tally
// is flushed once per batch of 32, as the reader does.
func BenchmarkAnswerUDP(b *testing.B) {
	for _, rate := range []int{0, 1 << 20} {
		name := "rrl_off"
		if rate > 0 {
			name = "rrl_on"
		}
		b.Run(name, func(b *testing.B) {
			s, q, src, out, n := benchHit(b, rate)
			var t tally
			var now uint32
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i++; i%(1<<19) == 0 {
					now++
				}
				if s.answerUDP(q, out, n, src, now, &t) != n {
					b.Fatal("limited")
				}
				if i%32 == 0 {
					t.flush(s.m)
				}
			}
		})
	}
}

// BenchmarkRRL is the limiter's work per answer on the hit path: the
// account's key (client network, name, type) and its charge.
func BenchmarkRRL(b *testing.B) {
	s, q, src, out, n := benchHit(b, 1<<20)
	var t tally
	now := s.rrl.now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// A new second before the rate runs out.
		if i++; i%(1<<19) == 0 {
			now++
		}
		if s.rrl.judge(q, out, n, src, CookieNone, now, 1232, &t) != n {
			b.Fatal("limited")
		}
	}
}
