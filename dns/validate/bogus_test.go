package validate

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/dns/cache"
	"github.com/rampart-fw/rampart/dns/dnssec"
	"github.com/rampart-fw/rampart/dns/resolver"
)

// forgeTransport is the world's transport with an attacker in it: while
// forging is on, the answers to one name and type from the servers in from
// (every server when from is nil) are forged: an A RRset carries another
// address than the one signed, with a long TTL (the RRSIG is the genuine
// one, which no longer verifies), a DNSKEY RRset comes without its RRSIGs.
// With once, only the first such answer is forged (a spoofed response
// that won one race).
type forgeTransport struct {
	worldTransport
	name    string
	qtype   uint16
	from    map[netip.Addr]bool
	once    bool
	forging atomic.Bool
	forged  atomic.Int32
	sent    atomic.Int64
}

func (t *forgeTransport) Exchange(ctx context.Context, server netip.AddrPort, q *dns.Msg, tcp bool) (*dns.Msg, error) {
	t.sent.Add(1)
	m, err := t.worldTransport.Exchange(ctx, server, q, tcp)
	if err != nil || !t.forging.Load() || !strings.EqualFold(q.Question[0].Name, t.name) || q.Question[0].Qtype != t.qtype {
		return m, err
	}
	if t.from != nil && !t.from[server.Addr()] || t.once && t.forged.Load() > 0 {
		return m, err
	}
	forged := false
	out := m.Answer[:0:0]
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			// A copy: the Store's records are the zone's own.
			a := dns.Copy(rr).(*dns.A)
			a.A = netip.MustParseAddr("6.6.6.6").AsSlice()
			a.Hdr.Ttl = 86400
			out = append(out, a)
			forged = true
		case *dns.RRSIG:
			if rr.TypeCovered == dns.TypeDNSKEY {
				forged = true // the key set goes out stripped of its signatures
				continue
			}
			out = append(out, rr)
		default:
			out = append(out, rr)
		}
	}
	m.Answer = out
	if forged {
		t.forged.Add(1)
	}
	return m, nil
}

// newForgeResolver is a validating resolver over a real iterative one in
// the world, both on clk, with dns/cache as the resolver's cache, or the
// resolver's own MemCache with mem.
func newForgeResolver(t *testing.T, tr *forgeTransport, clk clock.Clock, mem ...bool) *Resolver {
	t.Helper()
	c, err := cache.New(cache.Config{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	var rc resolver.Cache = c.ResolverView()
	if len(mem) > 0 && mem[0] {
		rc = resolver.NewMemCache(1000)
	}
	inner, err := resolver.New(resolver.Config{
		Transport: tr, DNSSECOK: true, Clock: clk, Cache: rc,
		RootHints: []dns.RR{mustRR(". 3600000 IN NS ns.root."), mustRR("ns.root. 3600000 IN A 10.53.0.1")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return New(inner, dnssec.New(dnssec.Config{Anchors: tr.w.rootAnchors(t), Clock: clk}), Config{Clock: clk})
}

func secure(m *dns.Msg, err error) bool {
	return err == nil && m.Rcode == dns.RcodeSuccess && m.AuthenticatedData && len(m.Answer) > 0
}

// TestBogusSpoofRetried: one forged response that won its race is not
// the answer for the forged record's whole TTL: the validator finds it
// Bogus, the resolver asks again, and the client gets the genuine,
// Secure answer, then and later.
func TestBogusSpoofRetried(t *testing.T) {
	w := testWorld(t)
	tr := &forgeTransport{worldTransport: worldTransport{w}, name: "www.example.lab.", qtype: dns.TypeA, once: true}
	tr.forging.Store(true)
	r := newForgeResolver(t, tr, clock.NewFake(time.Now()))
	for i := range 3 {
		m, err := r.Resolve(context.Background(), "www.example.lab.", dns.TypeA, dns.ClassINET, true)
		if !secure(m, err) {
			t.Fatalf("query %d after one forged response: err %v\n%s", i+1, err, m)
		}
	}
	if tr.forged.Load() != 1 {
		t.Fatalf("%d forged responses, want 1", tr.forged.Load())
	}
}

// TestBogusServerAvoided: of a zone's two servers, one serves data whose
// signature does not verify; whichever the resolver asks first, the client
// gets the other's Secure answer.
func TestBogusServerAvoided(t *testing.T) {
	w := testWorld(t)
	for i := range 8 {
		tr := &forgeTransport{worldTransport: worldTransport{w}, name: "www.example.lab.", qtype: dns.TypeA,
			from: map[netip.Addr]bool{netip.MustParseAddr("10.53.0.9"): true}}
		tr.forging.Store(true)
		r := newForgeResolver(t, tr, clock.NewFake(time.Now()))
		if m, err := r.Resolve(context.Background(), "www.example.lab.", dns.TypeA, dns.ClassINET, true); !secure(m, err) {
			t.Fatalf("run %d (%d forged responses): err %v\n%s", i, tr.forged.Load(), err, m)
		}
	}
}

// TestBogusKeptBriefly: when every server sends the bogus data, the name
// is SERVFAIL, and stays so without new upstream queries for a short
// while (Config.BogusTTL, Unbound's val-bogus-ttl), but not for the forged
// records' TTL: after it the resolver asks again, and once the servers
// serve the genuine data, it is the answer; the bogus data neither
// outranks nor outlives it.
func TestBogusKeptBriefly(t *testing.T) {
	for _, mem := range []bool{false, true} {
		t.Run(map[bool]string{false: "dns/cache", true: "MemCache"}[mem], func(t *testing.T) { testBogusKeptBriefly(t, mem) })
	}
}

func testBogusKeptBriefly(t *testing.T, mem bool) {
	w := testWorld(t)
	clk := clock.NewFake(time.Now())
	tr := &forgeTransport{worldTransport: worldTransport{w}, name: "www.example.lab.", qtype: dns.TypeA}
	tr.forging.Store(true)
	r := newForgeResolver(t, tr, clk, mem)
	ctx := context.Background()
	m, err := r.Resolve(ctx, "www.example.lab.", dns.TypeA, dns.ClassINET, true)
	if m.Rcode != dns.RcodeServerFailure || !errors.Is(err, ErrBogus) {
		t.Fatalf("every server forging: err %v\n%s", err, m)
	}
	sent := tr.sent.Load()
	clk.Advance(30 * time.Second)
	m, err = r.Resolve(ctx, "www.example.lab.", dns.TypeA, dns.ClassINET, true)
	if m.Rcode != dns.RcodeServerFailure || !errors.Is(err, ErrBogus) {
		t.Fatalf("30 s later: err %v\n%s", err, m)
	}
	if n := tr.sent.Load() - sent; n != 0 {
		t.Errorf("30 s later: %d upstream queries, want none (the bogus result is remembered)", n)
	}
	tr.forging.Store(false)
	clk.Advance(31 * time.Second)
	if m, err := r.Resolve(ctx, "www.example.lab.", dns.TypeA, dns.ClassINET, true); !secure(m, err) {
		t.Fatalf("61 s later, the servers genuine again: err %v\n%s", err, m)
	}
}

// TestBogusKeysSpoofRetried: a forged DNSKEY RRset (here stripped of its
// signatures) that won its race does not make the zone Bogus: the key
// fetch is asked again, and the zone's data is Secure.
func TestBogusKeysSpoofRetried(t *testing.T) {
	w := testWorld(t)
	tr := &forgeTransport{worldTransport: worldTransport{w}, name: "example.lab.", qtype: dns.TypeDNSKEY, once: true}
	tr.forging.Store(true)
	r := newForgeResolver(t, tr, clock.NewFake(time.Now()))
	m, err := r.Resolve(context.Background(), "www.example.lab.", dns.TypeA, dns.ClassINET, true)
	if !secure(m, err) {
		t.Fatalf("after one forged DNSKEY response: err %v\n%s", err, m)
	}
	if tr.forged.Load() != 1 || r.Stats().Retries != 1 {
		t.Errorf("%d forged responses, %d retries; want 1 and 1", tr.forged.Load(), r.Stats().Retries)
	}
}
