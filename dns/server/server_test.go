package server

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fakeResolver answers A queries for *.example. with 192.0.2.1, NXDOMAIN for
// nx.example., and a large TXT set for big.example.
type fakeResolver struct {
	calls atomic.Int64
	delay time.Duration
	// inflight and peak track resolutions running at once.
	inflight, peak atomic.Int64
}

func (f *fakeResolver) Resolve(ctx context.Context, qname string, qtype, qclass uint16, do bool) (*dns.Msg, error) {
	f.calls.Add(1)
	n := f.inflight.Add(1)
	defer f.inflight.Add(-1)
	for p := f.peak.Load(); n > p && !f.peak.CompareAndSwap(p, n); p = f.peak.Load() {
	}
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype)
	m.Response = true
	switch strings.ToLower(qname) {
	case "nx.example.":
		m.Rcode = dns.RcodeNameError
		soa, _ := dns.NewRR("example. 300 IN SOA ns.example. h.example. 1 2 3 4 60")
		m.Ns = []dns.RR{soa}
	case "big.example.":
		for i := 0; i < 40; i++ {
			rr, _ := dns.NewRR(`big.example. 300 IN TXT "` + strings.Repeat("x", 60) + `"`)
			m.Answer = append(m.Answer, rr)
		}
	default:
		rr, _ := dns.NewRR(qname + " 300 IN A 192.0.2.1")
		m.Answer = []dns.RR{rr}
		ns, _ := dns.NewRR("example. 300 IN NS ns.example.")
		m.Ns = []dns.RR{ns} // must not reach the client (minimal responses)
	}
	return m, nil
}

func start(t testing.TB, cfg Config) *Server {
	t.Helper()
	cfg.Listen = []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")}
	cfg.SocketsPerAddr = 2
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func exchange(t *testing.T, s *Server, proto string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: proto, Timeout: 2 * time.Second, UDPSize: 65535}
	r, _, err := c.Exchange(m, s.Addrs()[0].String())
	if err != nil {
		t.Fatalf("%s exchange: %v", proto, err)
	}
	return r
}

func TestAnswersAndMinimalResponses(t *testing.T) {
	s := start(t, Config{Resolver: &fakeResolver{}, ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	for _, proto := range []string{"udp", "tcp"} {
		q := new(dns.Msg)
		q.SetQuestion("wWw.ExAmple.", dns.TypeA)
		r := exchange(t, s, proto, q)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || !r.RecursionAvailable || len(r.Ns) != 0 {
			t.Errorf("%s: %v", proto, r)
		}
		if r.Question[0].Name != "wWw.ExAmple." {
			t.Errorf("%s: question case not echoed: %q", proto, r.Question[0].Name)
		}
		q.SetQuestion("nx.example.", dns.TypeA)
		r = exchange(t, s, proto, q)
		if r.Rcode != dns.RcodeNameError || len(r.Ns) != 1 {
			t.Errorf("%s NXDOMAIN: %v", proto, r)
		}
	}
}

func TestTruncationAndTCP(t *testing.T) {
	s := start(t, Config{Resolver: &fakeResolver{}, ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	q := new(dns.Msg)
	q.SetQuestion("big.example.", dns.TypeTXT)
	q.SetEdns0(1232, false)
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second, UDPSize: 1232}
	r, _, err := c.Exchange(q, s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	r.Compress = true
	if !r.Truncated || r.Len() > 1232 {
		t.Fatalf("UDP answer of %d bytes, TC=%v; want TC within 1232", r.Len(), r.Truncated)
	}
	r = exchange(t, s, "tcp", q)
	if r.Truncated || len(r.Answer) != 40 {
		t.Fatalf("TCP answer: TC=%v, %d records", r.Truncated, len(r.Answer))
	}
}

func TestRefusedOutsideACL(t *testing.T) {
	fr := &fakeResolver{}
	s := start(t, Config{Resolver: fr, ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})})
	for _, proto := range []string{"udp", "tcp"} {
		q := new(dns.Msg)
		q.SetQuestion("www.example.", dns.TypeA)
		r := exchange(t, s, proto, q)
		if r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 {
			t.Errorf("%s: rcode %s, %d answers; want REFUSED and nothing", proto, dns.RcodeToString[r.Rcode], len(r.Answer))
		}
	}
	if fr.calls.Load() != 0 {
		t.Errorf("the resolver was asked %d times for refused clients", fr.calls.Load())
	}
}

func TestMalformedQueries(t *testing.T) {
	fr := &fakeResolver{}
	s := start(t, Config{Resolver: fr, ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(s.Addrs()[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	good := new(dns.Msg)
	good.SetQuestion("a.example.", dns.TypeA)
	goodWire, _ := good.Pack()
	twoQ := append([]byte(nil), goodWire...)
	binary.BigEndian.PutUint16(twoQ[4:], 2)
	loop := []byte{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1}
	long := []byte{0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}
	for i := 0; i < 5; i++ {
		long = append(long, 63)
		long = append(long, []byte(strings.Repeat("a", 63))...)
	}
	long = append(long, 0, 0, 1, 0, 1)
	opcode := append([]byte(nil), goodWire...)
	opcode[2] |= 0x10 // opcode 2 (STATUS)
	badRR := append(append([]byte(nil), goodWire...), 0xff, 0xff)
	binary.BigEndian.PutUint16(badRR[10:], 1) // an additional record that is not there
	tests := []struct {
		name  string
		in    []byte
		rcode int // -1: no answer at all
	}{
		{"short", []byte{1, 2, 3}, -1},
		{"response", func() []byte { b := append([]byte(nil), goodWire...); b[2] |= 0x80; return b }(), -1},
		{"two questions", twoQ, dns.RcodeFormatError},
		{"compression loop", loop, dns.RcodeFormatError},
		{"name too long", long, dns.RcodeFormatError},
		{"truncated", goodWire[:len(goodWire)-2], dns.RcodeFormatError},
		{"opcode", opcode, dns.RcodeNotImplemented},
		{"missing additional", badRR, dns.RcodeFormatError},
	}
	buf := make([]byte, 4096)
	for _, tt := range tests {
		c.Write(tt.in)
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := c.Read(buf)
		if tt.rcode < 0 {
			if err == nil {
				t.Errorf("%s: got a %d-byte answer, want none", tt.name, n)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: no answer: %v", tt.name, err)
			continue
		}
		if n > len(tt.in) {
			t.Errorf("%s: %d-byte error answer to a %d-byte query amplifies", tt.name, n, len(tt.in))
		}
		var r dns.Msg
		if err := r.Unpack(buf[:n]); err != nil {
			t.Errorf("%s: unparseable answer: %v", tt.name, err)
			continue
		}
		if r.Rcode != tt.rcode || !r.Response {
			t.Errorf("%s: rcode %s, want %s", tt.name, dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
		}
	}
	if fr.calls.Load() != 0 {
		t.Errorf("malformed queries reached the resolver %d times", fr.calls.Load())
	}
}

// TestTCPPipelining sends several queries on one connection before reading,
// with a slow resolver: all answers come back, matched by ID.
func TestTCPPipelining(t *testing.T) {
	fr := &fakeResolver{delay: 50 * time.Millisecond}
	s := start(t, Config{Resolver: fr, ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	conn, err := dns.Dial("tcp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const n = 10
	for i := 0; i < n; i++ {
		q := new(dns.Msg)
		q.SetQuestion("p"+string(rune('a'+i))+".example.", dns.TypeA)
		q.Id = uint16(1000 + i)
		if err := conn.WriteMsg(q); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	seen := map[uint16]bool{}
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	for i := 0; i < n; i++ {
		r, err := conn.ReadMsg()
		if err != nil {
			t.Fatal(err)
		}
		if want := "p" + string(rune('a'+int(r.Id)-1000)) + ".example."; r.Question[0].Name != want {
			t.Errorf("answer %d for %s, want %s", r.Id, r.Question[0].Name, want)
		}
		seen[r.Id] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct answers, want %d", len(seen), n)
	}
	// Pipelining means the connection's queries are resolved at once, not
	// one after another.
	if p := fr.peak.Load(); p < 2 {
		t.Errorf("at most %d resolution at a time for 10 pipelined queries (took %s)", p, time.Since(start))
	}
}

func TestOverloadIsBounded(t *testing.T) {
	fr := &fakeResolver{delay: 300 * time.Millisecond}
	s := start(t, Config{Resolver: fr, MaxInflight: 4, ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	c, _ := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(s.Addrs()[0]))
	defer c.Close()
	for i := 0; i < 50; i++ {
		q := new(dns.Msg)
		q.SetQuestion("o"+strings.Repeat("x", i%20+1)+".example.", dns.TypeA)
		b, _ := q.Pack()
		c.Write(b)
	}
	time.Sleep(100 * time.Millisecond)
	if got := fr.calls.Load(); got > 4 {
		t.Errorf("%d resolutions at once, limit 4", got)
	}
}
