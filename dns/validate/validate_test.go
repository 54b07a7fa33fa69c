package validate

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/dns/dnssec"
	"github.com/rampart-fw/rampart/dns/resolver"
)

func edeOf(m *dns.Msg) (uint16, bool) {
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				return e.InfoCode, true
			}
		}
	}
	return 0, false
}

func hasType(rrs []dns.RR, t uint16) bool {
	for _, rr := range rrs {
		if rr.Header().Rrtype == t {
			return true
		}
	}
	return false
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		qname  string
		qtype  uint16
		rcode  int
		ad     bool
		ede    uint16 // for SERVFAIL
		answer uint16 // a type the answer must hold
	}{
		{"signed answer", "www.example.lab.", dns.TypeA, dns.RcodeSuccess, true, 0, dns.TypeA},
		{"signed CNAME chain", "alias.example.lab.", dns.TypeA, dns.RcodeSuccess, true, 0, dns.TypeA},
		{"signed NXDOMAIN", "nope.example.lab.", dns.TypeA, dns.RcodeNameError, true, 0, 0},
		{"signed NODATA", "www.example.lab.", dns.TypeTXT, dns.RcodeSuccess, true, 0, 0},
		{"signed NODATA at empty non-terminal", "wild.example.lab.", dns.TypeA, dns.RcodeSuccess, true, 0, 0},
		{"wildcard answer", "foo.wild.example.lab.", dns.TypeA, dns.RcodeSuccess, true, 0, dns.TypeA},
		{"wildcard NODATA", "foo.wild.example.lab.", dns.TypeMX, dns.RcodeSuccess, true, 0, 0},
		{"NSEC3 answer", "www.nsec3.lab.", dns.TypeA, dns.RcodeSuccess, true, 0, dns.TypeA},
		{"NSEC3 NXDOMAIN", "nope.nsec3.lab.", dns.TypeA, dns.RcodeNameError, true, 0, 0},
		{"NSEC3 NODATA", "www.nsec3.lab.", dns.TypeTXT, dns.RcodeSuccess, true, 0, 0},
		{"NSEC3 wildcard", "x.wild.nsec3.lab.", dns.TypeA, dns.RcodeSuccess, true, 0, dns.TypeA},
		{"DNSKEY of a zone", "example.lab.", dns.TypeDNSKEY, dns.RcodeSuccess, true, 0, dns.TypeDNSKEY},
		{"DS of a zone", "example.lab.", dns.TypeDS, dns.RcodeSuccess, true, 0, dns.TypeDS},
		{"no DS at unsigned delegation", "unsigned.lab.", dns.TypeDS, dns.RcodeSuccess, true, 0, 0},
		{"unsigned delegation", "www.unsigned.lab.", dns.TypeA, dns.RcodeSuccess, false, 0, dns.TypeA},
		{"unsigned NXDOMAIN", "nope.unsigned.lab.", dns.TypeA, dns.RcodeNameError, false, 0, 0},
		{"secure CNAME into insecure zone", "out.example.lab.", dns.TypeA, dns.RcodeSuccess, false, 0, dns.TypeA},
		{"record changed after signing", "forged.example.lab.", dns.TypeA, dns.RcodeServerFailure, false, dnssec.EDEBogus, 0},
		{"stripped signatures", "stripped.example.lab.", dns.TypeA, dns.RcodeServerFailure, false, dnssec.EDERRSIGsMissing, 0},
		{"signature by a key not in the chain", "wrongkey.example.lab.", dns.TypeA, dns.RcodeServerFailure, false, dnssec.EDEBogus, 0},
		{"expired signatures", "www.expired.lab.", dns.TypeA, dns.RcodeServerFailure, false, dnssec.EDESignatureExpired, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := newTestResolver(t, nil)
			m, err := r.Resolve(context.Background(), tc.qname, tc.qtype, dns.ClassINET, true)
			if m.Rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s (err %v)\n%s", dns.RcodeToString[m.Rcode], dns.RcodeToString[tc.rcode], err, m)
			}
			if m.AuthenticatedData != tc.ad {
				t.Errorf("AD %v, want %v; stats %+v\n%s", m.AuthenticatedData, tc.ad, r.Stats(), m)
			}
			if tc.rcode == dns.RcodeServerFailure {
				if !errors.Is(err, ErrBogus) {
					t.Errorf("err %v, want ErrBogus", err)
				}
				ede, ok := edeOf(m)
				if !ok || ede != tc.ede {
					t.Errorf("EDE %d (%v), want %d; err %v", ede, ok, tc.ede, err)
				}
				if len(m.Answer) != 0 {
					t.Errorf("bogus data returned: %v", m.Answer)
				}
				if s := r.Stats(); s.Bogus != 1 || s.ByEDE[tc.ede] != 1 {
					t.Errorf("stats %+v", s)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.answer != 0 && !hasType(m.Answer, tc.answer) {
				t.Errorf("no %s in answer\n%s", dns.Type(tc.answer), m)
			}
			if tc.ad && !hasType(append(m.Answer, m.Ns...), dns.TypeRRSIG) {
				t.Errorf("DO client got no RRSIG\n%s", m)
			}
			s := r.Stats()
			if tc.ad && s.Secure != 1 || !tc.ad && s.Insecure != 1 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

// A wildcard answer whose upstream passes the proof in the authority
// section needs no extra fetch.
func TestWildcardProofInResponse(t *testing.T) {
	w := testWorld(t)
	ci := &countingInner{inner: storeInner{w.all}}
	r := New(ci, dnssec.New(dnssec.Config{Anchors: w.rootAnchors(t)}), Config{})
	for _, qname := range []string{"a.wild.example.lab.", "a.b.wild.nsec3.lab."} {
		m, err := r.Resolve(context.Background(), qname, dns.TypeA, dns.ClassINET, false)
		if err != nil || m.Rcode != dns.RcodeSuccess || !m.AuthenticatedData {
			t.Fatalf("%s: %v AD=%v\n%s", qname, err, m.AuthenticatedData, m)
		}
		if n := ci.take()[qname+" DS"]; n != 0 {
			t.Errorf("%s: %d DS fetches for the wildcard proof", qname, n)
		}
	}
}

// TestRRSIGQuery checks that a query for RRSIG records, which are not
// signed themselves, is answered without AD and without SERVFAIL (as
// Unbound and Knot Resolver answer it).
func TestRRSIGQuery(t *testing.T) {
	r, _ := newTestResolver(t, nil)
	m, err := r.Resolve(context.Background(), "www.example.lab.", dns.TypeRRSIG, dns.ClassINET, true)
	if err != nil || m.Rcode != dns.RcodeSuccess || m.AuthenticatedData || !hasType(m.Answer, dns.TypeRRSIG) {
		t.Fatalf("RRSIG query: err %v\n%s", err, m)
	}
	if s := r.Stats(); s.Unchecked != 1 || s.Secure+s.Insecure+s.Bogus != 0 {
		t.Errorf("stats %+v, want one unchecked answer", s)
	}
}

func TestCheckingDisabled(t *testing.T) {
	r, _ := newTestResolver(t, nil)
	m, err := r.ResolveCD(context.Background(), "forged.example.lab.", dns.TypeA, dns.ClassINET, true, true)
	if err != nil || m.Rcode != dns.RcodeSuccess || m.AuthenticatedData {
		t.Fatalf("CD: err %v\n%s", err, m)
	}
	if a, ok := m.Answer[0].(*dns.A); !ok || a.A.String() != "6.6.6.6" {
		t.Errorf("CD answer %v", m.Answer)
	}
	m, _ = r.ResolveCD(context.Background(), "www.example.lab.", dns.TypeA, dns.ClassINET, true, true)
	if m.AuthenticatedData {
		t.Error("AD on an unvalidated CD answer")
	}
	if s := r.Stats(); s.Unchecked != 2 || s.Secure+s.Bogus != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestStripForNonDOClient(t *testing.T) {
	r, _ := newTestResolver(t, nil)
	for _, q := range []struct {
		qname string
		qtype uint16
	}{{"www.example.lab.", dns.TypeA}, {"nope.example.lab.", dns.TypeA}, {"foo.wild.example.lab.", dns.TypeA}} {
		m, err := r.Resolve(context.Background(), q.qname, q.qtype, dns.ClassINET, false)
		if err != nil || !m.AuthenticatedData {
			t.Fatalf("%s: err %v\n%s", q.qname, err, m)
		}
		for _, rr := range append(append(m.Answer, m.Ns...), m.Extra...) {
			switch rr.Header().Rrtype {
			case dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNSEC3:
				t.Errorf("%s: DO=0 client got %s", q.qname, rr)
			}
		}
	}
	// Asked for by type, they stay.
	m, _ := r.Resolve(context.Background(), "www.example.lab.", dns.TypeNSEC, dns.ClassINET, false)
	if !hasType(m.Answer, dns.TypeNSEC) {
		t.Errorf("NSEC query lost its answer\n%s", m)
	}
}

func TestKeyCacheAvoidsRefetch(t *testing.T) {
	r, ci := newTestResolver(t, nil)
	ctx := context.Background()
	if m, _ := r.Resolve(ctx, "www.example.lab.", dns.TypeA, dns.ClassINET, true); !m.AuthenticatedData {
		t.Fatal("first query not secure")
	}
	if n := ci.count(dns.TypeDNSKEY); n != 3 {
		t.Errorf("first query: %d DNSKEY fetches, want 3 (., lab., example.lab.): %v", n, ci.calls)
	}
	ci.take()
	for _, q := range []string{"www.example.lab.", "alias.example.lab.", "nope.example.lab."} {
		if m, _ := r.Resolve(ctx, q, dns.TypeA, dns.ClassINET, true); !m.AuthenticatedData {
			t.Fatalf("%s not secure", q)
		}
	}
	if n := ci.count(dns.TypeDNSKEY) + ci.count(dns.TypeDS); n != 0 {
		t.Errorf("warm queries fetched DNSKEY/DS %d times: %v", n, ci.calls)
	}
	// Insecure findings are cached too.
	r.Resolve(ctx, "www.unsigned.lab.", dns.TypeA, dns.ClassINET, true)
	ci.take()
	r.Resolve(ctx, "www.unsigned.lab.", dns.TypeA, dns.ClassINET, true)
	if n := ci.count(dns.TypeDS); n != 0 {
		t.Errorf("warm insecure query fetched DS %d times", n)
	}
	if s := r.Stats(); s.KeyCacheHits == 0 || s.KeyCacheEntries == 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestKeyCacheExpires(t *testing.T) {
	w := testWorld(t)
	clk := clock.NewFake(time.Now())
	ci := &countingInner{inner: storeInner{w.all}}
	r := New(ci, dnssec.New(dnssec.Config{Anchors: w.rootAnchors(t)}), Config{Clock: clk, MaxZones: 2})
	ctx := context.Background()
	r.Resolve(ctx, "www.example.lab.", dns.TypeA, dns.ClassINET, true)
	if s := r.Stats(); s.KeyCacheEntries != 2 || s.KeyCacheEvictions != 1 {
		t.Errorf("bounded cache: %+v", s)
	}
	clk.Advance(2 * time.Hour) // past the DNSKEY TTL of 3600
	ci.take()
	if m, _ := r.Resolve(ctx, "www.example.lab.", dns.TypeA, dns.ClassINET, true); !m.AuthenticatedData {
		t.Fatal("not secure after expiry")
	}
	if n := ci.count(dns.TypeDNSKEY); n != 3 {
		t.Errorf("%d DNSKEY fetches after expiry, want 3", n)
	}
}

func TestWrongTrustAnchor(t *testing.T) {
	other, err := dnssecKeyDS(".")
	if err != nil {
		t.Fatal(err)
	}
	a := dnssec.NewAnchors()
	if err := a.Add(other); err != nil {
		t.Fatal(err)
	}
	r, _ := newTestResolver(t, a)
	for _, q := range []string{"www.example.lab.", "www.unsigned.lab.", "nope.example.lab."} {
		m, err := r.Resolve(context.Background(), q, dns.TypeA, dns.ClassINET, true)
		if m.Rcode != dns.RcodeServerFailure || !errors.Is(err, ErrBogus) {
			t.Errorf("%s: rcode %s err %v", q, dns.RcodeToString[m.Rcode], err)
		}
		if ede, _ := edeOf(m); ede != dnssec.EDEDNSKEYMissing {
			t.Errorf("%s: EDE %d, want %d", q, ede, dnssec.EDEDNSKEYMissing)
		}
	}
}

func TestNoAnchorIsIndeterminate(t *testing.T) {
	a := dnssec.NewAnchors()
	other, err := dnssecKeyDS("elsewhere.")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Add(other); err != nil {
		t.Fatal(err)
	}
	r, _ := newTestResolver(t, a)
	m, err := r.Resolve(context.Background(), "www.example.lab.", dns.TypeA, dns.ClassINET, true)
	if err != nil || m.Rcode != dns.RcodeSuccess || m.AuthenticatedData {
		t.Fatalf("err %v\n%s", err, m)
	}
	if s := r.Stats(); s.Indeterminate != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestFetchLimit(t *testing.T) {
	w := testWorld(t)
	ci := &countingInner{inner: storeInner{w.all}}
	r := New(ci, dnssec.New(dnssec.Config{Anchors: w.rootAnchors(t)}), Config{MaxFetches: 2})
	m, err := r.Resolve(context.Background(), "www.example.lab.", dns.TypeA, dns.ClassINET, true)
	if m.Rcode != dns.RcodeServerFailure || !errors.Is(err, ErrBogus) {
		t.Fatalf("rcode %s err %v", dns.RcodeToString[m.Rcode], err)
	}
	if n := len(ci.take()); n > 3 {
		t.Errorf("%d distinct inner queries with MaxFetches 2", n)
	}
	if s := r.Stats(); s.FetchLimited != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestConcurrentQueries(t *testing.T) {
	r, _ := newTestResolver(t, nil)
	names := []string{"www.example.lab.", "alias.example.lab.", "nope.example.lab.", "www.unsigned.lab.", "www.nsec3.lab.", "forged.example.lab."}
	done := make(chan error, len(names)*4)
	for i := range len(names) * 4 {
		go func() {
			q := names[i%len(names)]
			m, _ := r.Resolve(context.Background(), q, dns.TypeA, dns.ClassINET, true)
			var err error
			if (q == "forged.example.lab.") != (m.Rcode == dns.RcodeServerFailure) {
				err = errors.New(q + ": " + dns.RcodeToString[m.Rcode])
			}
			done <- err
		}()
	}
	for range len(names) * 4 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestDNAMEFromCache: an answer through a signed DNAME is Secure the
// first time and when the resolver answers it again from its cache,
// where the DNAME must come back with the CNAME made from it (the CNAME
// alone is unsigned, RFC 6672 section 5.3.1, and would be Bogus).
func TestDNAMEFromCache(t *testing.T) {
	r, ci := newTestResolver(t, nil)
	for i := range 2 {
		m, err := r.Resolve(context.Background(), "www.dn.example.lab.", dns.TypeA, dns.ClassINET, true)
		if err != nil || m.Rcode != dns.RcodeSuccess || !m.AuthenticatedData || !hasType(m.Answer, dns.TypeDNAME) || !hasType(m.Answer, dns.TypeA) {
			t.Fatalf("query %d: err %v AD %v\n%s", i+1, err, m.AuthenticatedData, m)
		}
	}
	if n := ci.take()["www.dn.example.lab. A"]; n != 2 {
		t.Errorf("%d queries for the name reached the resolver, want 2", n)
	}
}

// countingTransport counts the queries a resolver sends into the world.
type countingTransport struct {
	worldTransport
	n atomic.Int64
}

func (t *countingTransport) Exchange(ctx context.Context, server netip.AddrPort, q *dns.Msg, tcp bool) (*dns.Msg, error) {
	t.n.Add(1)
	return t.worldTransport.Exchange(ctx, server, q, tcp)
}

// TestOneUpstreamBudgetPerClientQuery: the resolver's MaxUpstreamQueries
// bounds every upstream query one client query causes, its validation's
// DS and DNSKEY fetches included, not each fetch on its own. A cold
// query for www.example.lab. costs priming, three queries for the answer
// and one DNSKEY fetch per zone: seven, none of its resolutions more than
// three.
func TestOneUpstreamBudgetPerClientQuery(t *testing.T) {
	w := testWorld(t)
	for _, tc := range []struct {
		budget  int
		secure  bool
		maxSent int64
	}{
		{budget: 8, secure: true, maxSent: 7},
		{budget: 4, secure: false, maxSent: 5}, // priming is the resolver's own, shared work
	} {
		tr := &countingTransport{worldTransport: worldTransport{w}}
		inner, err := resolver.New(resolver.Config{
			Transport: tr, DNSSECOK: true, QNAMEMinimisation: true, MaxUpstreamQueries: tc.budget,
			RootHints: []dns.RR{mustRR(". 3600000 IN NS ns.root."), mustRR("ns.root. 3600000 IN A 10.53.0.1")},
		})
		if err != nil {
			t.Fatal(err)
		}
		r := New(inner, dnssec.New(dnssec.Config{Anchors: w.rootAnchors(t)}), Config{})
		m, err := r.Resolve(context.Background(), "www.example.lab.", dns.TypeA, dns.ClassINET, true)
		if tc.secure != (err == nil && m.AuthenticatedData) {
			t.Errorf("budget %d: err %v AD %v, want secure %v\n%s", tc.budget, err, m.AuthenticatedData, tc.secure, m)
		}
		if n := tr.n.Load(); n > tc.maxSent {
			t.Errorf("budget %d: %d upstream queries for one client query, want at most %d", tc.budget, n, tc.maxSent)
		}
	}
}

// TestWalkBelowDNAME: the chain walk towards a name below a DNAME finds
// no zone cut there (the names are redirected, RFC 6672 section 2.4):
// the DNAME, valid, ends the search for a cut, where the CNAME made from
// it (unsigned) would have been Bogus.
func TestWalkBelowDNAME(t *testing.T) {
	r, _ := newTestResolver(t, nil)
	c := r.newQuery(context.Background()).walk("x.dn.example.lab.")
	if c.status != dnssec.Secure || c.zone != "example.lab." {
		t.Fatalf("walk below the DNAME: %v in %s (%v)", c.status, c.zone, c.result)
	}
}

// entNXDOMAINTransport is the world's transport with a server that
// answers NXDOMAIN, rather than NODATA, for an empty non-terminal.
type entNXDOMAINTransport struct {
	worldTransport
	ent string
}

func (t entNXDOMAINTransport) Exchange(ctx context.Context, server netip.AddrPort, q *dns.Msg, tcp bool) (*dns.Msg, error) {
	m, err := t.worldTransport.Exchange(ctx, server, q, tcp)
	if err == nil && m.Authoritative && m.Rcode == dns.RcodeSuccess && len(m.Answer) == 0 && strings.EqualFold(q.Question[0].Name, t.ent) {
		m.Rcode = dns.RcodeNameError
	}
	return m, err
}

// TestWalkThroughENTNXDOMAIN: a DS probe answered NXDOMAIN for an empty
// non-terminal, whose NSEC records show that names exist below it, finds
// no cut there, as NODATA would, rather than a broken chain.
func TestWalkThroughENTNXDOMAIN(t *testing.T) {
	w := testWorld(t)
	inner, err := resolver.New(resolver.Config{
		Transport: entNXDOMAINTransport{worldTransport{w}, "wild.example.lab."}, DNSSECOK: true,
		RootHints: []dns.RR{mustRR(". 3600000 IN NS ns.root."), mustRR("ns.root. 3600000 IN A 10.53.0.1")},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := New(inner, dnssec.New(dnssec.Config{Anchors: w.rootAnchors(t)}), Config{})
	c := r.newQuery(context.Background()).walk("x.wild.example.lab.")
	if c.status != dnssec.Secure || c.zone != "example.lab." {
		t.Fatalf("walk through the ENT: %v in %s (%v)", c.status, c.zone, c.result)
	}
}

// TestRootKeySentinel: RFC 8509's labels turn a Secure A or AAAA answer
// into SERVFAIL when the key tag they name is (not-ta) or is not (is-ta)
// a root trust anchor's, and leave every other question alone.
func TestRootKeySentinel(t *testing.T) {
	r, _ := newTestResolver(t, nil)
	tag := fmt.Sprintf("%05d", testWorld(t).rootKSK.DNSKEY.KeyTag())
	other := "00000"
	if tag == other {
		other = "00001"
	}
	for _, tc := range []struct {
		qname string
		qtype uint16
		fails bool
	}{
		{"root-key-sentinel-is-ta-" + tag + ".example.", dns.TypeA, false},
		{"root-key-sentinel-not-ta-" + tag + ".example.", dns.TypeA, true},
		{"ROOT-KEY-SENTINEL-NOT-TA-" + tag + ".example.", dns.TypeAAAA, true},
		{"root-key-sentinel-is-ta-" + other + ".example.", dns.TypeAAAA, true},
		{"root-key-sentinel-not-ta-" + other + ".example.", dns.TypeA, false},
		{"root-key-sentinel-not-ta-" + tag + ".example.", dns.TypeTXT, false},
		{"root-key-sentinel-not-ta-1234.example.", dns.TypeA, false},
		{"x.root-key-sentinel-not-ta-" + tag + ".example.", dns.TypeA, false},
	} {
		if got := r.sentinelFails(tc.qname, tc.qtype); got != tc.fails {
			t.Errorf("%s/%s: fails %v, want %v", tc.qname, dns.Type(tc.qtype), got, tc.fails)
		}
	}
}
