package cache

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestRankOrder(t *testing.T) {
	// Each rank must compare below every later one.
	order := []Rank{
		RankAnswerAuth.WithSecurity(SecurityBogus),
		RankAdditionalGlue,
		RankAuthorityReferral.WithSecurity(SecurityInsecure),
		RankAnswerNonAuth,
		RankAuthorityAuth.WithSecurity(SecurityIndeterminate),
		RankAnswerAuth,
		RankZone,
		RankAdditionalGlue.WithSecurity(SecuritySecure),
		RankAnswerAuth.WithSecurity(SecuritySecure),
	}
	for i := range order {
		for j := range order {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := order[i].Compare(order[j]); got != want {
				t.Errorf("%v.Compare(%v) = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
	// Insecure, unchecked and indeterminate data of one trust level are
	// equally credible: none of them is evidence either way.
	a := RankAnswerAuth.WithSecurity(SecurityInsecure)
	b := RankAnswerAuth.WithSecurity(SecurityIndeterminate)
	if a.Compare(b) != 0 || a.Compare(RankAnswerAuth) != 0 {
		t.Errorf("insecure/indeterminate/unchecked should compare equal")
	}
}

func TestRankFields(t *testing.T) {
	r := RankAuthorityAuth.WithSecurity(SecuritySecure)
	if r.Trust() != RankAuthorityAuth || r.Security() != SecuritySecure || !r.Secure() || !r.Valid() {
		t.Errorf("fields of %v wrong", r)
	}
	if got := r.String(); got != "authority-auth/secure" {
		t.Errorf("String = %q", got)
	}
	if got := r.WithSecurity(SecurityBogus).String(); got != "authority-auth/bogus" {
		t.Errorf("String = %q", got)
	}
	for _, bad := range []Rank{RankNone, RankZone + 1, RankAnswerAuth | 0xf0} {
		if bad.Valid() {
			t.Errorf("%v should be invalid", bad)
		}
	}
	if got := Rank(0x9f).String(); got != "trust(15)/security(9)" {
		t.Errorf("String = %q", got)
	}
}

// TestMarkBogus: data a validator found bogus keeps answering nothing of
// its former rank: it ranks below everything (so that glue replaces it),
// expires within the time given, and hands out TTLs that count down to
// that, for RRsets and negative entries alike.
func TestMarkBogus(t *testing.T) {
	c, clk := newTestCache(t, Config{})
	now := clk.Now()
	if err := c.PutRRset(mustRRs(t, "www.example. 86400 IN A 6.6.6.6"), RankAnswerAuth, now); err != nil {
		t.Fatal(err)
	}
	if c.MarkBogus("www.example.", dns.TypeAAAA, dns.ClassINET, false, time.Minute, now) {
		t.Error("marked an RRset that is not cached")
	}
	if !c.MarkBogus("WWW.example.", dns.TypeA, dns.ClassINET, false, time.Minute, now) {
		t.Fatal("the cached RRset was not marked")
	}
	set, ok := c.LookupRRset("www.example.", dns.TypeA, dns.ClassINET, now.Add(10*time.Second), false)
	if !ok || set.Rank != RankAnswerAuth.WithSecurity(SecurityBogus) || set.TTL != 50 {
		t.Fatalf("marked set: ok %v rank %v TTL %d, want answer-auth/bogus with 50 s left", ok, set.Rank, set.TTL)
	}
	if _, ok := c.LookupRRset("www.example.", dns.TypeA, dns.ClassINET, now.Add(61*time.Second), false); ok {
		t.Error("the marked set outlived the minute it was given")
	}
	// Within the minute, anything replaces it, glue included.
	if err := c.PutRRset(mustRRs(t, "www.example. 86400 IN A 6.6.6.6"), RankAnswerAuth, now); err != nil {
		t.Fatal(err)
	}
	c.MarkBogus("www.example.", dns.TypeA, dns.ClassINET, false, time.Minute, now)
	if err := c.PutRRset(mustRRs(t, "www.example. 300 IN A 192.0.2.1"), RankAdditionalGlue, now); err != nil {
		t.Fatalf("glue does not replace bogus data: %v", err)
	}
	if rrs, rank, _ := c.GetRRset("www.example.", dns.TypeA, dns.ClassINET, now); rank != RankAdditionalGlue || rrs[0].(*dns.A).A.String() != "192.0.2.1" {
		t.Errorf("after the glue: %v at %v", rrs, rank)
	}
	// Negative entries: NXDOMAIN first, else NODATA for the type.
	soa := mustRRs(t, "example. 3600 IN SOA ns.example. h.example. 1 3600 600 86400 3600")
	if err := c.PutNegative("nx.example.", 0, dns.ClassINET, true, soa, RankAuthorityAuth, now); err != nil {
		t.Fatal(err)
	}
	if !c.MarkBogus("nx.example.", dns.TypeMX, dns.ClassINET, true, time.Minute, now) {
		t.Fatal("the NXDOMAIN entry was not marked")
	}
	if neg, ok := c.GetNegative("nx.example.", dns.TypeA, dns.ClassINET, now); !ok || neg.Rank.Security() != SecurityBogus || neg.TTL != 60 {
		t.Errorf("marked NXDOMAIN: %v rank %v TTL %d", ok, neg.Rank, neg.TTL)
	}
}
