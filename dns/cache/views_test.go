package cache

import (
	"cmp"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/resolver"
)

func TestRankFromResolver(t *testing.T) {
	tests := []struct {
		in   resolver.Rank
		want Rank
		ok   bool
	}{
		{resolver.RankNone, RankNone, false},
		{resolver.RankAdditional, RankAdditionalGlue, true},
		{resolver.RankAuthority, RankAuthorityReferral, true},
		{resolver.RankAnswerNonAuth, RankAnswerNonAuth, true},
		{resolver.RankAnswerAuth, RankAnswerAuth, true},
		{resolver.RankAnswerAuth + 1, RankNone, false},
		{255, RankNone, false},
	}
	for _, tt := range tests {
		got, ok := rankFromResolver(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("rankFromResolver(%v) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
		if ok && (!got.Valid() || got.Security() != SecurityUnchecked) {
			t.Errorf("rankFromResolver(%v) = %v: not a valid unchecked rank", tt.in, got)
		}
	}
}

func TestResolverRank(t *testing.T) {
	tests := []struct {
		in   Rank
		want resolver.Rank
	}{
		{RankNone, resolver.RankNone},
		{RankAdditionalGlue, resolver.RankAdditional},
		{RankAuthorityReferral, resolver.RankAuthority},
		{RankAnswerNonAuth, resolver.RankAnswerNonAuth},
		// Levels the resolver never stores are authoritative data.
		{RankAuthorityAuth, resolver.RankAnswerAuth},
		{RankAnswerAuth, resolver.RankAnswerAuth},
		{RankZone, resolver.RankAnswerAuth},
		// The security status does not change the trust the resolver
		// sees, except that bogus data is bogus whatever its trust.
		{RankAnswerAuth.WithSecurity(SecuritySecure), resolver.RankAnswerAuth},
		{RankAdditionalGlue.WithSecurity(SecurityBogus), resolver.RankBogus},
		{RankAnswerAuth.WithSecurity(SecurityBogus), resolver.RankBogus},
		{RankAuthorityReferral.WithSecurity(SecurityInsecure), resolver.RankAuthority},
		{RankZone + 1, resolver.RankNone},
	}
	for _, tt := range tests {
		if got := resolverRank(tt.in); got != tt.want {
			t.Errorf("resolverRank(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestRankMappingKeepsOrder: every rank the resolver stores comes back as
// itself, and the cache orders the mapped ranks as the resolver orders its
// own, so that the cache's refusal of lower-ranked data is the resolver's.
func TestRankMappingKeepsOrder(t *testing.T) {
	ranks := []resolver.Rank{resolver.RankBogus, resolver.RankAdditional, resolver.RankAuthority, resolver.RankAnswerNonAuth, resolver.RankAnswerAuth}
	for i, a := range ranks {
		ca, _ := rankFromResolver(a)
		if back := resolverRank(ca); back != a {
			t.Errorf("%v -> %v -> %v", a, ca, back)
		}
		for j, b := range ranks {
			cb, _ := rankFromResolver(b)
			if got, want := ca.Compare(cb), cmp.Compare(i, j); got != want {
				t.Errorf("%v.Compare(%v) = %d, want %d (resolver ranks %v, %v)", ca, cb, got, want, a, b)
			}
		}
	}
}

func TestResolverViewRRsets(t *testing.T) {
	c, clk := newTestCache(t, Config{})
	v := c.ResolverView()
	now := clk.Now()
	sig := sigFor(t, "www.example.", dns.TypeA, 300, now, 24*time.Hour)
	set := resolver.RRset{Name: "www.example.", Type: dns.TypeA, Class: dns.ClassINET,
		RRs: mustRRs(t, "www.example. 300 IN A 192.0.2.1", "www.example. 300 IN A 192.0.2.2"), Sigs: []dns.RR{sig}, Rank: resolver.RankAnswerAuth}
	if !v.StoreRRset(set, now) {
		t.Fatal("an authoritative answer was not stored")
	}

	got, ok := v.LookupRRset("WWW.Example.", dns.TypeA, dns.ClassINET, now.Add(100*time.Second))
	if !ok {
		t.Fatal("stored set not found")
	}
	if got.Name != "www.example." || got.Type != dns.TypeA || got.Class != dns.ClassINET || got.Rank != resolver.RankAnswerAuth {
		t.Errorf("got %s/%d/%d rank %v", got.Name, got.Type, got.Class, got.Rank)
	}
	if len(got.RRs) != 2 || len(got.Sigs) != 1 {
		t.Fatalf("got %d records and %d signatures, want 2 and 1", len(got.RRs), len(got.Sigs))
	}
	for _, rr := range append(got.RRs, got.Sigs...) {
		if rr.Header().Ttl != 200 {
			t.Errorf("TTL %d after 100 s of 300, want 200: %v", rr.Header().Ttl, rr)
		}
	}
	if a := got.RRs[0].(*dns.A).A; netip.AddrFrom4([4]byte(a.To4())) != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("first record %v", got.RRs[0])
	}

	// Glue never replaces what an authoritative server said, and a set of
	// the resolver's RankNone is never stored.
	glue := resolver.RRset{Name: "www.example.", Type: dns.TypeA, Class: dns.ClassINET, RRs: mustRRs(t, "www.example. 300 IN A 198.51.100.6"), Rank: resolver.RankAdditional}
	if v.StoreRRset(glue, now) {
		t.Error("glue replaced an authoritative answer")
	}
	none := resolver.RRset{Name: "x.example.", Type: dns.TypeA, Class: dns.ClassINET, RRs: mustRRs(t, "x.example. 300 IN A 192.0.2.9")}
	if v.StoreRRset(none, now) {
		t.Error("a set of RankNone was stored")
	}
	if _, ok := v.LookupRRset("x.example.", dns.TypeA, dns.ClassINET, now); ok {
		t.Error("a set of RankNone is in the cache")
	}
	if v.StoreRRset(resolver.RRset{Name: "y.example.", Type: dns.TypeA, Class: dns.ClassINET, Rank: resolver.RankAnswerAuth}, now) {
		t.Error("an empty set was stored")
	}

	// In the last tenth of its TTL the first lookup misses, so that the
	// resolution asks again; the cache flags that hit only once.
	late := now.Add(275 * time.Second)
	if _, ok := v.LookupRRset("www.example.", dns.TypeA, dns.ClassINET, late); ok {
		t.Error("the prefetch hit was answered from the expiring copy")
	}
	if got, ok := v.LookupRRset("www.example.", dns.TypeA, dns.ClassINET, late); !ok || got.RRs[0].Header().Ttl != 25 {
		t.Errorf("second late lookup: %v, %v; want a hit with TTL 25", got.RRs, ok)
	}
	if _, ok := v.LookupRRset("www.example.", dns.TypeA, dns.ClassINET, now.Add(300*time.Second)); ok {
		t.Error("expired set returned")
	}
}

func TestResolverViewNegative(t *testing.T) {
	soa := "example. 600 IN SOA ns.example. admin.example. 1 3600 600 86400 300"
	tests := []struct {
		name      string
		neg       resolver.Negative
		lookup    uint16 // qtype looked up
		wantType  uint16
		wantRcode int
	}{
		{"NXDOMAIN covers every type", resolver.Negative{Name: "gone.example.", Type: dns.TypeNone, Class: dns.ClassINET, Rcode: dns.RcodeNameError, TTL: 300},
			dns.TypeMX, dns.TypeNone, dns.RcodeNameError},
		{"NODATA for its type", resolver.Negative{Name: "www.example.", Type: dns.TypeAAAA, Class: dns.ClassINET, Rcode: dns.RcodeSuccess, TTL: 300},
			dns.TypeAAAA, dns.TypeAAAA, dns.RcodeSuccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newTestCache(t, Config{})
			v := c.ResolverView()
			now := clk.Now()
			tt.neg.Authority = mustRRs(t, soa)
			tt.neg.Authority[0].Header().Ttl = tt.neg.TTL
			v.StoreNegative(tt.neg, now)
			got, ok := v.LookupNegative(tt.neg.Name, tt.lookup, dns.ClassINET, now.Add(100*time.Second))
			if !ok {
				t.Fatal("stored negative answer not found")
			}
			if got.Name != tt.neg.Name || got.Type != tt.wantType || got.Class != dns.ClassINET || got.Rcode != tt.wantRcode || got.TTL != 200 {
				t.Errorf("got %+v", got)
			}
			if len(got.Authority) != 1 || got.Authority[0].Header().Rrtype != dns.TypeSOA || got.Authority[0].Header().Ttl != 200 {
				t.Errorf("authority %v", got.Authority)
			}
			if _, ok := v.LookupNegative(tt.neg.Name, dns.TypeTXT, dns.ClassINET, now); ok != (tt.wantRcode == dns.RcodeNameError) {
				t.Errorf("TXT lookup ok=%v", ok)
			}
			// The resolver's negative answers rank as authoritative
			// authority data: a referral does not remove them.
			neg, _ := c.LookupNegative(tt.neg.Name, tt.lookup, dns.ClassINET, now, false)
			if neg.Rank != RankAuthorityAuth {
				t.Errorf("stored with rank %v", neg.Rank)
			}
		})
	}
}

func TestServerView(t *testing.T) {
	c, clk := newTestCache(t, Config{})
	v := c.ServerView()
	m := response(t, "www.example.", dns.TypeA, false, []string{"www.example. 100 IN A 192.0.2.1"}, nil, nil)
	v.PutAnswer(m)
	q := query(t, 0x4242, "WWW.example.", dns.TypeA, 0, false)
	out := make([]byte, 512)

	n, ok := v.AnswerJustStored(q, out, 0)
	if !ok {
		t.Fatal("just stored answer not found")
	}
	var r dns.Msg
	if err := r.Unpack(out[:n]); err != nil || r.Id != 0x4242 || len(r.Answer) != 1 || r.Answer[0].Header().Ttl != 100 {
		t.Fatalf("just stored answer %v (%v)", &r, err)
	}
	if st := c.Stats(); st.AnswerHits != 0 {
		t.Errorf("AnswerJustStored counted %d hits", st.AnswerHits)
	}

	if _, refresh, ok := v.AnswerFromWire(q, out, 0, false); !ok || refresh {
		t.Fatalf("hit ok=%v refresh=%v", ok, refresh)
	}
	if c.Stats().AnswerHits != 1 {
		t.Errorf("a hit was not counted")
	}
	clk.Advance(95 * time.Second)
	if _, refresh, ok := v.AnswerFromWire(q, out, 0, false); !ok || !refresh {
		t.Errorf("near expiry: ok=%v refresh=%v, want the refresh signal", ok, refresh)
	}
	clk.Advance(10 * time.Second)
	if _, _, ok := v.AnswerFromWire(q, out, 0, true); ok {
		t.Error("expired answer served stale although ServeStale is off")
	}
}

// TestCompareRRset holds CompareRRset to what LookupRRset says of the
// cached set (found, rank, seconds left) and to an exact comparison of the
// records, TTLs aside.
func TestCompareRRset(t *testing.T) {
	c, clk := newTestCache(t, Config{})
	v := c.ResolverView()
	ns := mustRRs(t, "example.lab. 3600 IN NS ns1.example.lab.", "example.lab. 3600 IN NS ns2.example.lab.")
	if !v.StoreRRset(resolver.RRset{Name: "example.lab.", Type: dns.TypeNS, Class: dns.ClassINET, RRs: ns, Rank: resolver.RankAuthority}, clk.Now()) {
		t.Fatal("store")
	}
	sig := mustRR(t, "signed.lab. 3600 IN RRSIG A 8 2 3600 20370101000000 20200101000000 12345 lab. AAAA")
	a := mustRRs(t, "signed.lab. 3600 IN A 192.0.2.1")
	if !v.StoreRRset(resolver.RRset{Name: "signed.lab.", Type: dns.TypeA, Class: dns.ClassINET, RRs: a, Sigs: []dns.RR{sig}, Rank: resolver.RankAnswerAuth}, clk.Now()) {
		t.Fatal("store signed")
	}
	clk.Advance(10 * time.Minute)
	for _, tt := range []struct {
		name       string
		rrs, sigs  []dns.RR
		same, want bool // want: found
	}{
		{"the same, other TTLs, other order", mustRRs(t, "example.lab. 60 IN NS ns2.example.lab.", "EXAMPLE.lab. 86400 IN NS ns1.example.lab."), nil, true, true},
		{"one changed", mustRRs(t, "example.lab. 3600 IN NS ns1.example.lab.", "example.lab. 3600 IN NS ns3.example.lab."), nil, false, true},
		{"one fewer", mustRRs(t, "example.lab. 3600 IN NS ns1.example.lab."), nil, false, true},
		{"one more", mustRRs(t, "example.lab. 3600 IN NS ns1.example.lab.", "example.lab. 3600 IN NS ns2.example.lab.", "example.lab. 3600 IN NS ns3.example.lab."), nil, false, true},
		{"a repeat in place of one", mustRRs(t, "example.lab. 3600 IN NS ns1.example.lab.", "example.lab. 3600 IN NS ns1.example.lab."), nil, false, true},
		{"case changed in the data", mustRRs(t, "example.lab. 3600 IN NS NS1.example.lab.", "example.lab. 3600 IN NS ns2.example.lab."), nil, false, true},
		{"signed, the same", a, []dns.RR{sig}, true, true},
		{"signed, without the signature", a, nil, false, true},
		{"not cached", mustRRs(t, "other.lab. 3600 IN NS ns1.example.lab."), nil, false, false},
	} {
		var s resolver.RRset
		s.Name, s.Type, s.Class = dns.CanonicalName(tt.rrs[0].Header().Name), tt.rrs[0].Header().Rrtype, dns.ClassINET
		s.RRs, s.Sigs = tt.rrs, tt.sigs
		rank, left, same, ok := v.CompareRRset(s, clk.Now())
		if ok != tt.want || same != tt.same {
			t.Errorf("%s: same %v, found %v; want %v, %v", tt.name, same, ok, tt.same, tt.want)
		}
		old, found := v.LookupRRset(s.Name, s.Type, s.Class, clk.Now())
		if found != ok {
			t.Errorf("%s: found %v, LookupRRset %v", tt.name, ok, found)
		}
		if found && (rank != old.Rank || left != old.RRs[0].Header().Ttl) {
			t.Errorf("%s: rank %v, %d s left; LookupRRset %v, %d s", tt.name, rank, left, old.Rank, old.RRs[0].Header().Ttl)
		}
	}
	s := resolver.RRset{Name: "example.lab.", Type: dns.TypeNS, Class: dns.ClassINET, RRs: ns}
	if allocs := testing.AllocsPerRun(100, func() { v.CompareRRset(s, clk.Now()) }); allocs > 0 {
		t.Errorf("CompareRRset: %v allocations", allocs)
	}
}
