package cache

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestRRsetTTLCountdown(t *testing.T) {
	c, clk := newTestCache(t, Config{})
	start := clk.Now()
	rrs := mustRRs(t, "www.example.com. 300 IN A 192.0.2.1", "www.example.com. 200 IN A 192.0.2.2")
	if err := c.PutRRset(rrs, RankAnswerAuth, start); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		after time.Duration
		want  uint32 // 0 with ok=false means a miss
		ok    bool
	}{
		{0, 200, true}, // normalised to the minimum
		{time.Second, 199, true},
		{10*time.Second + 500*time.Millisecond, 190, true}, // whole seconds elapsed, as on the wire path
		{199 * time.Second, 1, true},
		{199*time.Second + 900*time.Millisecond, 1, true},
		{-time.Hour, 200, true}, // a clock stepped back never lengthens a TTL
		{200 * time.Second, 0, false},
		{time.Hour, 0, false},
	}
	for _, tt := range tests {
		got, rank, ok := c.GetRRset("www.example.com.", dns.TypeA, dns.ClassINET, start.Add(tt.after))
		if ok != tt.ok {
			t.Errorf("+%v: ok = %v, want %v", tt.after, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		if rank != RankAnswerAuth || len(got) != 2 {
			t.Errorf("+%v: rank %v, %d records", tt.after, rank, len(got))
		}
		for _, rr := range got {
			if rr.Header().Ttl != tt.want {
				t.Errorf("+%v: TTL %d, want %d", tt.after, rr.Header().Ttl, tt.want)
			}
		}
	}
}

func TestRRsetClamp(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		ttl     string
		want    uint32
		wantErr error
	}{
		{"default max", Config{}, "172800", 86400, nil},
		{"configured max", Config{MaxTTL: time.Hour}, "7200", 3600, nil},
		{"configured min", Config{MinTTL: time.Minute}, "5", 60, nil},
		{"zero", Config{}, "0", 0, ErrNotCacheable},
		{"zero raised by min", Config{MinTTL: 10 * time.Second}, "0", 10, nil},
		{"top bit means zero", Config{}, "2147483648", 0, ErrNotCacheable},
	}
	for _, tt := range tests {
		c, clk := newTestCache(t, tt.cfg)
		err := c.PutRRset(mustRRs(t, "a.example. "+tt.ttl+" IN A 192.0.2.1"), RankAnswerAuth, clk.Now())
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		set, ok := c.LookupRRset("a.example.", dns.TypeA, dns.ClassINET, clk.Now(), false)
		if !ok || set.TTL != tt.want || set.RRs[0].Header().Ttl != tt.want {
			t.Errorf("%s: TTL %d (ok %v), want %d", tt.name, set.TTL, ok, tt.want)
		}
	}
}

func TestRRsetRoundTrip(t *testing.T) {
	sets := [][]string{
		{"example.com. 60 IN MX 10 mail.Example.com.", "example.com. 60 IN MX 20 mx2.example.net."},
		{`example.com. 60 IN TXT "v=spf1 -all" "second string"`},
		{"www.example.com. 60 IN CNAME web.example.net."},
		{"www.example.com. 60 IN AAAA 2001:db8::1"},
		{"example.com. 60 IN SOA ns1.example.com. hostmaster.example.com. 2025010101 7200 3600 1209600 300"},
		{"example.com. 60 IN NS ns1.example.com.", "example.com. 60 IN NS ns2.example.com."},
		{"example.com. 60 IN TYPE65534 \\# 4 01020304"},
		{"_sip._tcp.example.com. 60 IN SRV 10 60 5060 sip.example.com."},
		{`example.com. 60 CH TXT "chaos"`},
	}
	for _, ss := range sets {
		c, clk := newTestCache(t, Config{})
		in := mustRRs(t, ss...)
		if err := c.PutRRset(in, RankAnswerAuth, clk.Now()); err != nil {
			t.Fatalf("%v: %v", ss, err)
		}
		h := in[0].Header()
		out, _, ok := c.GetRRset(h.Name, h.Rrtype, h.Class, clk.Now())
		if !ok || len(out) != len(in) {
			t.Fatalf("%v: got %v, ok %v", ss, out, ok)
		}
		for i := range in {
			if in[i].String() != out[i].String() {
				t.Errorf("round trip:\n in  %v\n out %v", in[i], out[i])
			}
		}
	}
}

func TestRRsetCaseAndCopies(t *testing.T) {
	c, clk := newTestCache(t, Config{})
	if err := c.PutRRset(mustRRs(t, "WWW.Example.COM. 60 IN A 192.0.2.1"), RankAnswerAuth, clk.Now()); err != nil {
		t.Fatal(err)
	}
	got, _, ok := c.GetRRset("www.EXAMPLE.com", dns.TypeA, dns.ClassINET, clk.Now())
	if !ok || got[0].Header().Name != "WWW.Example.COM." {
		t.Fatalf("case-insensitive lookup: %v %v", got, ok)
	}
	got[0].(*dns.A).A[3] = 99
	again, _, _ := c.GetRRset("www.example.com.", dns.TypeA, dns.ClassINET, clk.Now())
	if again[0].(*dns.A).A.String() != "192.0.2.1" {
		t.Errorf("cached data changed through a returned copy: %v", again[0])
	}
	for _, miss := range []struct {
		name          string
		qtype, qclass uint16
	}{
		{"www.example.com.", dns.TypeAAAA, dns.ClassINET},
		{"www.example.com.", dns.TypeA, dns.ClassCHAOS},
		{"example.com.", dns.TypeA, dns.ClassINET},
		{"a..b", dns.TypeA, dns.ClassINET},
	} {
		if _, _, ok := c.GetRRset(miss.name, miss.qtype, miss.qclass, clk.Now()); ok {
			t.Errorf("unexpected hit for %+v", miss)
		}
	}
}

func TestRRsetDuplicates(t *testing.T) {
	c, clk := newTestCache(t, Config{})
	in := mustRRs(t, "a.example. 60 IN A 192.0.2.1", "a.example. 60 IN A 192.0.2.1", "A.EXAMPLE. 60 IN A 192.0.2.2")
	if err := c.PutRRset(in, RankAnswerAuth, clk.Now()); err != nil {
		t.Fatal(err)
	}
	got, _, _ := c.GetRRset("a.example.", dns.TypeA, dns.ClassINET, clk.Now())
	if len(got) != 2 {
		t.Errorf("got %d records, want 2 after removing the duplicate: %v", len(got), got)
	}
}

func TestRRsetSignatures(t *testing.T) {
	c, clk := newTestCache(t, Config{})
	now := clk.Now()
	rrs := mustRRs(t, "www.example.com. 3600 IN A 192.0.2.1")
	sig := sigFor(t, "www.example.com.", dns.TypeA, 3600, now, 100*time.Second)
	in := []dns.RR{sig, rrs[0]} // order must not matter
	if err := c.PutRRset(in, RankAnswerAuth.WithSecurity(SecuritySecure), now); err != nil {
		t.Fatal(err)
	}
	set, ok := c.LookupRRset("www.example.com.", dns.TypeA, dns.ClassINET, now.Add(10*time.Second), false)
	if !ok {
		t.Fatal("miss")
	}
	if len(set.RRs) != 1 || len(set.Sigs) != 1 {
		t.Fatalf("got %d records and %d signatures", len(set.RRs), len(set.Sigs))
	}
	// The signature expires in 100 s, so the set may live only that long.
	if set.TTL != 90 || set.Sigs[0].Header().Ttl != 90 || !set.Rank.Secure() {
		t.Errorf("TTL %d, sig TTL %d, rank %v", set.TTL, set.Sigs[0].Header().Ttl, set.Rank)
	}
	got := set.Sigs[0].(*dns.RRSIG)
	if got.Signature != sig.Signature || got.Expiration != sig.Expiration || got.TypeCovered != dns.TypeA {
		t.Errorf("signature changed: %v", got)
	}
	// An already expired signature makes the set uncacheable.
	old := sigFor(t, "old.example.com.", dns.TypeA, 60, now, -time.Second)
	err := c.PutRRset([]dns.RR{mustRR(t, "old.example.com. 60 IN A 192.0.2.9"), old}, RankAnswerAuth, now)
	if !errors.Is(err, ErrNotCacheable) {
		t.Errorf("expired RRSIG: err = %v", err)
	}
}

func TestRRsetInvalid(t *testing.T) {
	c, clk := newTestCache(t, Config{})
	now := clk.Now()
	tests := []struct {
		name string
		rrs  []dns.RR
		rank Rank
		want string
	}{
		{"empty", nil, RankAnswerAuth, "empty RRset"},
		{"nil record", []dns.RR{nil}, RankAnswerAuth, "record 0 is nil"},
		{"no rank", mustRRs(t, "a. 60 IN A 192.0.2.1"), RankNone, "invalid rank"},
		{"mixed owners", mustRRs(t, "a. 60 IN A 192.0.2.1", "b. 60 IN A 192.0.2.2"), RankAnswerAuth, "owner b. differs"},
		{"mixed types", mustRRs(t, "a. 60 IN A 192.0.2.1", "a. 60 IN AAAA ::1"), RankAnswerAuth, "type AAAA differs"},
		{"mixed classes", mustRRs(t, "a. 60 IN A 192.0.2.1", "a. 60 CH A 192.0.2.1"), RankAnswerAuth, "class 3 differs"},
		{"only sigs", []dns.RR{sigFor(t, "a.", dns.TypeA, 60, now, time.Hour)}, RankAnswerAuth, "only RRSIGs"},
		{"sig for other type", []dns.RR{mustRR(t, "a. 60 IN A 192.0.2.1"), sigFor(t, "a.", dns.TypeMX, 60, now, time.Hour)}, RankAnswerAuth, "covers MX, not A"},
		{"relative owner", []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "a", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}}}, RankAnswerAuth, "not fully qualified"},
		{"does not parse back", []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: "a.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60}}}, RankAnswerAuth, "does not parse back"},
		{"meta type", []dns.RR{&dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}}, RankAnswerAuth, "meta type"},
	}
	for _, tt := range tests {
		err := c.PutRRset(tt.rrs, tt.rank, now)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
	if st := c.Stats(); st.Entries != 0 {
		t.Errorf("invalid input stored %d entries", st.Entries)
	}
}

func TestRRsetRankReplacement(t *testing.T) {
	secure := func(r Rank) Rank { return r.WithSecurity(SecuritySecure) }
	bogus := func(r Rank) Rank { return r.WithSecurity(SecurityBogus) }
	tests := []struct {
		name     string
		old, new Rank
		expired  bool
		replaced bool
	}{
		{"glue over answer", RankAnswerAuth, RankAdditionalGlue, false, false},
		{"referral over auth authority", RankAuthorityAuth, RankAuthorityReferral, false, false},
		{"nonauth answer over auth answer", RankAnswerAuth, RankAnswerNonAuth, false, false},
		{"answer over glue", RankAdditionalGlue, RankAnswerAuth, false, true},
		{"auth answer over referral", RankAuthorityReferral, RankAnswerAuth, false, true},
		{"equal rank refresh", RankAnswerAuth, RankAnswerAuth, false, true},
		{"glue over expired answer", RankAnswerAuth, RankAdditionalGlue, true, true},
		{"unvalidated over secure", secure(RankAnswerNonAuth), RankAnswerAuth, false, false},
		{"secure over unvalidated", RankZone, secure(RankAnswerNonAuth), false, true},
		{"bogus over unvalidated", RankAdditionalGlue, bogus(RankAnswerAuth), false, false},
		{"glue over bogus", bogus(RankAnswerAuth), RankAdditionalGlue, false, true},
		{"insecure over unchecked", RankAnswerAuth, RankAnswerAuth.WithSecurity(SecurityInsecure), false, true},
	}
	for _, tt := range tests {
		c, clk := newTestCache(t, Config{})
		start := clk.Now()
		if err := c.PutRRset(mustRRs(t, "ns.example. 60 IN A 192.0.2.1"), tt.old, start); err != nil {
			t.Fatal(err)
		}
		at := start.Add(time.Second)
		if tt.expired {
			at = start.Add(time.Minute)
		}
		err := c.PutRRset(mustRRs(t, "ns.example. 60 IN A 198.51.100.1"), tt.new, at)
		if tt.replaced != (err == nil) || (!tt.replaced && !errors.Is(err, ErrLowerRank)) {
			t.Errorf("%s: err = %v, want replaced=%v", tt.name, err, tt.replaced)
		}
		got, rank, ok := c.GetRRset("ns.example.", dns.TypeA, dns.ClassINET, at)
		if !ok {
			t.Fatalf("%s: miss", tt.name)
		}
		wantAddr, wantRank := "192.0.2.1", tt.old
		if tt.replaced {
			wantAddr, wantRank = "198.51.100.1", tt.new
		}
		if a := got[0].(*dns.A).A.String(); a != wantAddr || rank != wantRank {
			t.Errorf("%s: cached %s at %v, want %s at %v", tt.name, a, rank, wantAddr, wantRank)
		}
	}
}

func TestServeStale(t *testing.T) {
	tests := []struct {
		name       string
		serveStale bool
		allow      bool
		after      time.Duration
		wantOK     bool
		wantStale  bool
	}{
		{"fresh", true, true, 50 * time.Second, true, false},
		{"stale allowed", true, true, 2 * time.Minute, true, true},
		{"stale not asked for", true, false, 2 * time.Minute, false, false},
		{"stale off", false, true, 2 * time.Minute, false, false},
		{"too old", true, true, 60*time.Second + 24*time.Hour + time.Second, false, false},
	}
	for _, tt := range tests {
		c, clk := newTestCache(t, Config{ServeStale: tt.serveStale})
		start := clk.Now()
		if err := c.PutRRset(mustRRs(t, "s.example. 60 IN A 192.0.2.1"), RankAnswerAuth, start); err != nil {
			t.Fatal(err)
		}
		set, ok := c.LookupRRset("s.example.", dns.TypeA, dns.ClassINET, start.Add(tt.after), tt.allow)
		if ok != tt.wantOK || set.Stale != tt.wantStale {
			t.Errorf("%s: ok %v stale %v, want %v %v", tt.name, ok, set.Stale, tt.wantOK, tt.wantStale)
		}
		if set.Stale && (set.TTL != 30 || set.RRs[0].Header().Ttl != 30) {
			t.Errorf("%s: stale TTL %d, want 30", tt.name, set.TTL)
		}
	}
}

func TestPrefetchOnce(t *testing.T) {
	c, clk := newTestCache(t, Config{})
	start := clk.Now()
	put := func(at time.Time) {
		if err := c.PutRRset(mustRRs(t, "p.example. 100 IN A 192.0.2.1"), RankAnswerAuth, at); err != nil {
			t.Fatal(err)
		}
	}
	look := func(at time.Time) bool {
		set, ok := c.LookupRRset("p.example.", dns.TypeA, dns.ClassINET, at, false)
		if !ok {
			t.Fatalf("miss at %v", at.Sub(start))
		}
		return set.Prefetch
	}
	put(start)
	var got []bool
	for _, s := range []time.Duration{0, 50, 89, 90, 91, 95} {
		got = append(got, look(start.Add(s*time.Second)))
	}
	if want := []bool{false, false, false, true, false, false}; !slices.Equal(got, want) {
		t.Errorf("prefetch signals %v, want %v", got, want)
	}
	// A refresh starts a new TTL period with its own single signal.
	put(start.Add(95 * time.Second))
	if look(start.Add(100*time.Second)) || !look(start.Add(186*time.Second)) || look(start.Add(187*time.Second)) {
		t.Errorf("prefetch after refresh should fire once in the last 10%%")
	}
	if st := c.Stats(); st.Prefetches != 2 {
		t.Errorf("Prefetches = %d, want 2", st.Prefetches)
	}
}

func TestPutRRsetRemovesNegative(t *testing.T) {
	c, clk := newTestCache(t, Config{})
	now := clk.Now()
	soa := mustRRs(t, "example. 300 IN SOA ns.example. host.example. 1 7200 3600 1209600 300")
	if err := c.PutNegative("new.example.", dns.TypeA, dns.ClassINET, true, soa, RankAuthorityAuth, now); err != nil {
		t.Fatal(err)
	}
	// Glue ranks below the NXDOMAIN and must not remove it.
	if err := c.PutRRset(mustRRs(t, "new.example. 60 IN A 192.0.2.1"), RankAdditionalGlue, now); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.GetNegative("new.example.", dns.TypeA, dns.ClassINET, now); !ok {
		t.Fatal("glue removed a more credible NXDOMAIN")
	}
	if err := c.PutRRset(mustRRs(t, "new.example. 60 IN A 192.0.2.1"), RankAnswerAuth, now); err != nil {
		t.Fatal(err)
	}
	if neg, ok := c.GetNegative("new.example.", dns.TypeA, dns.ClassINET, now); ok {
		t.Errorf("NXDOMAIN survived an authoritative answer: %+v", neg)
	}
}

// TestRRsetWithBitmapAndSigs: an NSEC or NSEC3 RRset stored with its
// RRSIGs comes back. miekg/dns reads a type bitmap to the end of the
// buffer it is given, so each record must be read from a buffer that ends
// with its RDATA, not from the whole entry, where the RRSIGs follow.
func TestRRsetWithBitmapAndSigs(t *testing.T) {
	c, clk := newTestCache(t, Config{})
	now := clk.Now()
	for _, rrs := range [][]dns.RR{
		{mustRR(t, "sub.example. 3600 IN NSEC www.example. NS RRSIG NSEC"), sigFor(t, "sub.example.", dns.TypeNSEC, 3600, now, time.Hour)},
		{mustRR(t, "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example. 3600 IN NSEC3 1 1 0 - 0p9mhaveqvm6t7vbl5lop2u3t2rp3ton A RRSIG"),
			sigFor(t, "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example.", dns.TypeNSEC3, 3600, now, time.Hour)},
	} {
		if err := c.PutRRset(rrs, RankAuthorityReferral, now); err != nil {
			t.Fatal(err)
		}
		h := rrs[0].Header()
		set, ok := c.LookupRRset(h.Name, h.Rrtype, dns.ClassINET, now, false)
		if !ok || len(set.RRs) != 1 || len(set.Sigs) != 1 || !strings.EqualFold(set.RRs[0].String(), rrs[0].String()) {
			t.Errorf("%s: ok %v, %v %v", rrs[0], ok, set.RRs, set.Sigs)
		}
	}
}
