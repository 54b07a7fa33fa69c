package server

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/dns/cache"
	"github.com/rampart-fw/rampart/dns/validate"
)

// The server's tests use the cache as rampart does, through its view.
var _ JustStoredCache = cache.ServerView{}

func newWireCache(tb testing.TB) cache.ServerView {
	tb.Helper()
	c, err := cache.New(cache.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	return c.ServerView()
}

// countingResolver answers A 192.0.2.7 with TTL 100, or fails when told to.
type countingResolver struct {
	calls atomic.Int64
	fail  atomic.Bool
}

func (r *countingResolver) Resolve(ctx context.Context, qname string, qtype, qclass uint16, do bool) (*dns.Msg, error) {
	r.calls.Add(1)
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype)
	if r.fail.Load() {
		m.Rcode = dns.RcodeServerFailure
		return m, errors.New("all servers timed out")
	}
	rr, _ := dns.NewRR(qname + " 100 IN A 192.0.2.7")
	m.Answer = []dns.RR{rr}
	return m, nil
}

func TestPrefetchAndServeStale(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
	c, err := cache.New(cache.Config{ServeStale: true, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	res := &countingResolver{}
	s := start(t, Config{Resolver: res, Cache: c.ServerView(), ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	ask := func() *dns.Msg {
		q := new(dns.Msg)
		q.SetQuestion("popular.example.", dns.TypeA)
		return exchange(t, s, "udp", q)
	}
	if r := ask(); len(r.Answer) != 1 || r.Answer[0].Header().Ttl != 100 {
		t.Fatalf("first answer %v", r)
	}
	ask()
	if n := res.calls.Load(); n != 1 {
		t.Fatalf("a cached answer cost %d resolutions", n)
	}
	// In the last tenth of its TTL the hit is still served from the cache,
	// and the name is refreshed in the background.
	clk.Advance(95 * time.Second)
	if r := ask(); len(r.Answer) != 1 || r.Answer[0].Header().Ttl > 5 {
		t.Fatalf("near-expiry answer %v", r)
	}
	deadline := time.Now().Add(2 * time.Second)
	for res.calls.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := res.calls.Load(); n != 2 {
		t.Fatalf("%d resolutions after a hit near expiry, want a background refresh (2)", n)
	}
	time.Sleep(50 * time.Millisecond)
	if r := ask(); len(r.Answer) != 1 || r.Answer[0].Header().Ttl != 100 {
		t.Fatalf("after the refresh the answer has TTL %d, want 100", r.Answer[0].Header().Ttl)
	}
	// Expired, and upstream fails: the stale answer is served (RFC 8767)
	// rather than SERVFAIL.
	clk.Advance(150 * time.Second)
	res.fail.Store(true)
	r := ask()
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].Header().Ttl != uint32(cache.DefaultStaleTTL/time.Second) {
		t.Fatalf("with upstream failing: %v, want the stale answer with TTL %v", r, cache.DefaultStaleTTL)
	}
}

func TestNoStaleWhenOff(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
	c, _ := cache.New(cache.Config{Clock: clk})
	res := &countingResolver{}
	s := start(t, Config{Resolver: res, Cache: c.ServerView(), ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	q := new(dns.Msg)
	q.SetQuestion("x.example.", dns.TypeA)
	exchange(t, s, "udp", q)
	clk.Advance(200 * time.Second)
	res.fail.Store(true)
	if r := exchange(t, s, "udp", q); r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("serve-stale off: %v, want SERVFAIL", r)
	}
}

// plainCache hides AnswerJustStored, as a Cache that lacks it would.
type plainCache struct{ c cache.ServerView }

func (p plainCache) AnswerFromWire(q, resp []byte, maxSize int, stale bool) (int, bool, bool) {
	return p.c.AnswerFromWire(q, resp, maxSize, stale)
}
func (p plainCache) PutAnswer(m *dns.Msg) { p.c.PutAnswer(m) }

// TestSlowPathAnswersAsLaterHits: the answer to a query that missed the
// cache is, byte for byte (ID aside), the answer a later hit gets, whether
// the slow path answers from the entry it stored or packs the response
// itself; and only the later query counts as a hit.
func TestSlowPathAnswersAsLaterHits(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
	for _, justStored := range []bool{true, false} {
		c, err := cache.New(cache.Config{Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		var sc Cache = c.ServerView()
		if !justStored {
			sc = plainCache{c.ServerView()}
		}
		s := start(t, Config{Resolver: &countingResolver{}, Cache: sc, ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
		conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(s.Addrs()[0]))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ask := func(id uint16, edns bool) []byte {
			q := new(dns.Msg)
			q.SetQuestion("wWw.ExAmple.", dns.TypeA)
			q.Id = id
			if edns {
				q.SetEdns0(1232, false)
			}
			wire, _ := q.Pack()
			if _, err := conn.Write(wire); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 1500)
			_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			return buf[:n]
		}
		for _, edns := range []bool{true, false} {
			if !edns {
				// A query without EDNS has its own entry.
				c.Flush("example.")
			}
			before := c.Stats().AnswerHits
			first := ask(1, edns)
			second := ask(2, edns)
			if first[0] != 0 || first[1] != 1 || second[1] != 2 {
				t.Fatalf("IDs not echoed: %x %x", first[:2], second[:2])
			}
			var m, m2 dns.Msg
			if err := m.Unpack(first); err != nil || len(m.Answer) != 1 || m.Question[0].Name != "wWw.ExAmple." || (m.IsEdns0() != nil) != edns {
				t.Errorf("justStored %v edns %v: answer %v (%v)", justStored, edns, &m, err)
			}
			if err := m2.Unpack(second); err != nil {
				t.Fatal(err)
			}
			m.Id, m2.Id = 0, 0
			// Answered from the stored entry, the bytes are the hit's;
			// packed by the slow path, only the compression may differ.
			if (justStored && string(first[2:]) != string(second[2:])) || m.String() != m2.String() {
				t.Errorf("justStored %v edns %v: slow-path answer\n%x\ndiffers from the hit\n%x", justStored, edns, first, second)
			}
			if got := c.Stats().AnswerHits - before; got != 1 {
				t.Errorf("justStored %v edns %v: %d cache hits for a miss and a hit, want 1", justStored, edns, got)
			}
		}
	}
}

// TestSlowPathAnswerCarriesCookie: a client that sends a cookie gets its
// client cookie back with a server cookie on the answer to a miss, which
// now comes from the entry just stored, as on a hit.
func TestSlowPathAnswerCarriesCookie(t *testing.T) {
	s := start(t, Config{Resolver: &countingResolver{}, Cache: newWireCache(t), ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	for i, name := range []string{"miss.example.", "miss.example."} {
		r := exchange(t, s, "udp", cookieQuery(name, "0102030405060708"))
		c := responseCookie(t, r)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || len(c) < 16 || hex.EncodeToString(c[:8]) != "0102030405060708" {
			t.Errorf("query %d (%s): cookie %x in %v", i, map[int]string{0: "miss", 1: "hit"}[i], c, r)
		}
	}
}

// bogusResolver answers A 192.0.2.7 with AD, as a validator says Secure,
// until told the data no longer validates; then it answers as dns/validate
// does for Bogus data: SERVFAIL with an EDE and an error wrapping
// validate.ErrBogus.
type bogusResolver struct{ bogus atomic.Bool }

func (r *bogusResolver) Resolve(ctx context.Context, qname string, qtype, qclass uint16, do bool) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype)
	m.Response = true
	if r.bogus.Load() {
		m.Rcode = dns.RcodeServerFailure
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_EDE{InfoCode: 6, ExtraText: "RRSIG does not verify"})
		return m, fmt.Errorf("%w: %s: RRSIG does not verify", validate.ErrBogus, qname)
	}
	m.AuthenticatedData = true
	rr, _ := dns.NewRR(qname + " 100 IN A 192.0.2.7")
	m.Answer = []dns.RR{rr}
	return m, nil
}

// TestBogusNeverServedStale: with serve-stale on, an answer that fails
// validation is a SERVFAIL (with its EDE), never the stale answer with AD
// set: the data is no longer vouched for, and the failure is not a failure
// to reach the servers, which is what RFC 8767 serves stale data for.
func TestBogusNeverServedStale(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
	c, err := cache.New(cache.Config{ServeStale: true, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	res := &bogusResolver{}
	s := start(t, Config{Resolver: res, Cache: c.ServerView(), ACL: NewACL([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	q := new(dns.Msg)
	q.SetQuestion("signed.example.", dns.TypeA)
	q.SetEdns0(1232, true)
	if r := exchange(t, s, "udp", q); r.Rcode != dns.RcodeSuccess || !r.AuthenticatedData {
		t.Fatalf("first answer %v", r)
	}
	clk.Advance(150 * time.Second)
	res.bogus.Store(true)
	r := exchange(t, s, "udp", q)
	if r.Rcode != dns.RcodeServerFailure || r.AuthenticatedData || len(r.Answer) != 0 {
		t.Fatalf("bogus after expiry: got\n%v\nwant SERVFAIL without the stale answer", r)
	}
}

// TestRespondKeepsWildcardProof: a positive answer's authority section is
// dropped (minimal responses), unless it holds NSEC or NSEC3 records: the
// proof of a wildcard expansion, which a client that validates needs.
func TestRespondKeepsWildcardProof(t *testing.T) {
	q := new(dns.Msg)
	q.SetQuestion("a.wild.example.", dns.TypeA)
	q.SetEdns0(1232, true)
	res := new(dns.Msg)
	res.SetQuestion("a.wild.example.", dns.TypeA)
	a, _ := dns.NewRR("a.wild.example. 300 IN A 192.0.2.1")
	ns, _ := dns.NewRR("example. 300 IN NS ns.example.")
	nsec, _ := dns.NewRR("w.example. 300 IN NSEC z.example. A RRSIG NSEC")
	res.Answer = []dns.RR{a}
	res.Ns = []dns.RR{ns}
	if r := Respond(q, res, nil, 1232); len(r.Ns) != 0 {
		t.Errorf("an NS set beside a positive answer went out: %v", r.Ns)
	}
	res.Ns = []dns.RR{nsec}
	if r := Respond(q, res, nil, 1232); len(r.Ns) != 1 {
		t.Errorf("the wildcard proof was dropped: %v", r.Ns)
	}
}
