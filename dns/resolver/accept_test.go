package resolver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func testResolver(t testing.TB) (*Resolver, *MemCache) {
	t.Helper()
	cache := NewMemCache(1000)
	r, err := New(Config{RootHints: testHints(), Cache: cache, Clock: newFakeClock(), Transport: noTransport{}})
	if err != nil {
		t.Fatal(err)
	}
	return r, cache
}

// noTransport fails every exchange: for tests that never reach the network.
type noTransport struct{}

func (noTransport) Exchange(context.Context, netip.AddrPort, *dns.Msg, bool) (*dns.Msg, error) {
	return nil, errors.New("no transport in this test")
}

func msg(p *pending, aa bool, rcode int, answer, ns, extra []string) *dns.Msg {
	m := new(dns.Msg)
	m.Id = p.id
	m.Response = true
	m.Authoritative = aa
	m.Rcode = rcode
	m.Question = []dns.Question{{Name: p.qname, Qtype: p.qtype, Qclass: dns.ClassINET}}
	for _, s := range answer {
		m.Answer = append(m.Answer, mustRR(s))
	}
	for _, s := range ns {
		m.Ns = append(m.Ns, mustRR(s))
	}
	for _, s := range extra {
		m.Extra = append(m.Extra, mustRR(s))
	}
	return m
}

func TestClassify(t *testing.T) {
	soa := "example.lab. 3600 IN SOA ns1.example.lab. admin.example.lab. 1 3600 600 86400 300"
	www := &pending{zone: "example.lab.", qname: "www.example.lab.", qtype: dns.TypeA, qclass: dns.ClassINET, id: 7, edns: true}
	fromLab := &pending{zone: "lab.", qname: "www.example.lab.", qtype: dns.TypeA, qclass: dns.ClassINET, id: 7, edns: true}
	tests := []struct {
		name  string
		p     *pending
		m     *dns.Msg
		kind  replyKind
		chain int
		sets  int
	}{
		{"answer", www, msg(www, true, 0, []string{"www.example.lab. 60 IN A 192.0.2.1"}, nil, nil), replyAnswer, 1, 1},
		{"answer without AA", www, msg(www, false, 0, []string{"www.example.lab. 60 IN A 192.0.2.1"}, nil, nil), replyAnswer, 1, 1},
		{"answer without AA from a recursive server (kept as the last resort)", www, func() *dns.Msg {
			m := msg(www, false, 0, []string{"www.example.lab. 60 IN A 192.0.2.1"}, nil, nil)
			m.RecursionAvailable = true
			return m
		}(), replyAnswer, 1, 1},
		{"answer with AA from a recursive server", www, func() *dns.Msg {
			m := msg(www, true, 0, []string{"www.example.lab. 60 IN A 192.0.2.1"}, nil, nil)
			m.RecursionAvailable = true
			return m
		}(), replyAnswer, 1, 1},
		{"wrong id", www, func() *dns.Msg { m := msg(www, true, 0, nil, nil, nil); m.Id = 8; return m }(), replyBad, 0, 0},
		{"wrong question", www, func() *dns.Msg {
			m := msg(www, true, 0, nil, nil, nil)
			m.Question[0].Name = "x.example.lab."
			return m
		}(), replyBad, 0, 0},
		{"not a response", www, func() *dns.Msg { m := msg(www, true, 0, nil, nil, nil); m.Response = false; return m }(), replyBad, 0, 0},
		{"truncated", www, func() *dns.Msg { m := msg(www, true, 0, nil, nil, nil); m.Truncated = true; return m }(), replyTruncated, 0, 0},
		{"FORMERR", www, msg(www, false, dns.RcodeFormatError, nil, nil, nil), replyFormErr, 0, 0},
		{"REFUSED is lame", www, msg(www, false, dns.RcodeRefused, nil, nil, nil), replyLame, 0, 0},
		{"SERVFAIL", www, msg(www, false, dns.RcodeServerFailure, nil, nil, nil), replyBad, 0, 0},
		{"out-of-bailiwick answer ignored", www, msg(www, true, 0,
			[]string{"www.example.lab. 60 IN A 192.0.2.1", "www.other. 60 IN A 6.6.6.6"}, nil, nil), replyAnswer, 1, 1},
		{"CNAME leaving the zone", www, msg(www, true, 0,
			[]string{"www.example.lab. 60 IN CNAME www.other.", "www.other. 60 IN A 6.6.6.6"}, nil, nil), replyCNAME, 1, 1},
		{"CNAME chain in the zone", www, msg(www, true, 0,
			[]string{"www.example.lab. 60 IN CNAME a.example.lab.", "a.example.lab. 60 IN A 192.0.2.1"}, nil, nil), replyAnswer, 2, 2},
		{"two CNAMEs", www, msg(www, true, 0,
			[]string{"www.example.lab. 60 IN CNAME a.example.lab.", "www.example.lab. 60 IN CNAME b.example.lab."}, nil, nil), replyBad, 0, 0},
		{"CNAME loop", www, msg(www, true, 0,
			[]string{"www.example.lab. 60 IN CNAME a.example.lab.", "a.example.lab. 60 IN CNAME www.example.lab."}, nil, nil), replyChainErr, 0, 0},
		{"DNAME replaces the server's CNAME", www, msg(www, true, 0,
			[]string{"example.lab. 60 IN DNAME example.other.", "www.example.lab. 60 IN CNAME evil.other."}, nil, nil), replyCNAME, 2, 2},
		{"chain stops inside the zone", www, msg(www, true, 0, []string{"www.example.lab. 60 IN CNAME a.example.lab."}, nil, nil), replyCNAME, 1, 1},
		// The chain, and the child's delegation beside it (leftAt).
		{"CNAME into a child zone", www, msg(www, true, 0, []string{"www.example.lab. 60 IN CNAME a.sub.example.lab."},
			[]string{"sub.example.lab. 60 IN NS ns.sub.example.lab."}, nil), replyCNAME, 1, 2},
		{"NODATA after CNAME", www, msg(www, true, 0, []string{"www.example.lab. 60 IN CNAME a.example.lab."}, []string{soa}, nil), replyNoData, 1, 1},
		{"NXDOMAIN", www, msg(www, true, dns.RcodeNameError, nil, []string{soa}, nil), replyNXDomain, 0, 0},
		{"NODATA", www, msg(www, true, 0, nil, []string{soa}, nil), replyNoData, 0, 0},
		{"negative without AA", www, msg(www, false, dns.RcodeNameError, nil, []string{soa}, nil), replyNXDomain, 0, 0},
		{"negative without AA from a recursive server (kept as the last resort)", www, func() *dns.Msg {
			m := msg(www, false, dns.RcodeNameError, nil, []string{soa}, nil)
			m.RecursionAvailable = true
			return m
		}(), replyNXDomain, 0, 0},
		{"referral", fromLab, msg(fromLab, false, 0, nil,
			[]string{"example.lab. 86400 IN NS ns1.example.lab.", "example.lab. 86400 IN NS ns.other."},
			[]string{"ns1.example.lab. 86400 IN A 192.0.2.30", "ns.other. 86400 IN A 6.6.6.6", "x.example.lab. 86400 IN A 6.6.6.6"}),
			replyReferral, 0, 2},
		{"upward referral is lame", www, msg(www, false, 0, nil, []string{". 86400 IN NS a.root-servers.lab."}, nil), replyLame, 0, 0},
		{"upward referral with AA is lame too", www, msg(www, true, 0, nil, []string{". 86400 IN NS a.root-servers.lab."}, nil), replyLame, 0, 0},
		{"AA NODATA with the zone's own NS set", www, msg(www, true, 0, nil, []string{"example.lab. 86400 IN NS ns1.example.lab."}, nil), replyNoData, 0, 0},
		{"sideways referral is lame", fromLab, msg(fromLab, false, 0, nil, []string{"other.lab. 86400 IN NS ns.other."}, nil), replyLame, 0, 0},
		{"mixed NS owners", fromLab, msg(fromLab, false, 0, nil,
			[]string{"example.lab. 86400 IN NS ns1.example.lab.", "www.example.lab. 86400 IN NS ns.other."}, nil), replyBad, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := testResolver(t)
			rep := r.classify(tt.p, tt.m)
			if rep.kind != tt.kind {
				t.Fatalf("kind %s (%s), want %s", rep.kind, rep.why, tt.kind)
			}
			if want := strings.Contains(tt.name, "recursive server (kept"); rep.recLame != want {
				t.Errorf("recLame %v, want %v", rep.recLame, want)
			}
			if len(rep.chain) != tt.chain || len(rep.sets) != tt.sets {
				t.Errorf("chain %d sets %d, want %d %d: %v", len(rep.chain), len(rep.sets), tt.chain, tt.sets, rep.sets)
			}
			for _, s := range rep.sets {
				if !isSubDomain(s.Name, tt.p.zone) {
					t.Errorf("out-of-bailiwick set %s", s.Name)
				}
			}
			if rep.kind == replyReferral && len(rep.glue) != 1 {
				t.Errorf("glue %v", rep.glue)
			}
		})
	}
}

// TestClassifyKinds covers each kind of response classifyResponse tells
// apart, beyond the kind: the reason a response is refused, the name a
// chain continues at, a referral's zone and glue, and what of a negative
// answer is cached.
func TestClassifyKinds(t *testing.T) {
	soa := "example.lab. 3600 IN SOA ns1.example.lab. admin.example.lab. 1 3600 600 86400 300"
	labSOA := "lab. 3600 IN SOA ns.lab. admin.lab. 1 3600 600 86400 300"
	www := &pending{zone: "example.lab.", qname: "www.example.lab.", qtype: dns.TypeA, qclass: dns.ClassINET, id: 7, edns: true}
	plain := &pending{zone: "example.lab.", qname: "www.example.lab.", qtype: dns.TypeA, qclass: dns.ClassINET, id: 7}
	apexNS := &pending{zone: "example.lab.", qname: "example.lab.", qtype: dns.TypeNS, qclass: dns.ClassINET, id: 7, edns: true}
	fromLab := &pending{zone: "lab.", qname: "www.example.lab.", qtype: dns.TypeA, qclass: dns.ClassINET, id: 7, edns: true}
	dsFromLab := &pending{zone: "lab.", qname: "example.lab.", qtype: dns.TypeDS, qclass: dns.ClassINET, id: 7, edns: true}
	deepFromLab := &pending{zone: "lab.", qname: "a.sub.example.lab.", qtype: dns.TypeA, qclass: dns.ClassINET, id: 7, edns: true}
	type negWant struct {
		typ       uint16
		rcode     int
		ttl       uint32
		authority int
	}
	tests := []struct {
		name string
		p    *pending
		m    *dns.Msg
		cuts []string // zone cuts known before the response
		kind replyKind
		why  string   // for bad and lame replies
		next string   // for replyCNAME
		zone string   // for referrals
		glue int      // referral or NS answer glue
		neg  *negWant // nil: nothing negative cached
	}{
		// The message itself.
		{name: "FORMERR to a query without EDNS", p: plain, m: msg(plain, false, dns.RcodeFormatError, nil, nil, nil),
			kind: replyBad, why: "FORMERR without EDNS"},
		{name: "FORMERR without a question", p: www, m: func() *dns.Msg {
			m := msg(www, false, dns.RcodeFormatError, nil, nil, nil)
			m.Question = nil
			return m
		}(), kind: replyBad, why: "0 questions"},
		{name: "two questions", p: www, m: func() *dns.Msg {
			m := msg(www, true, 0, nil, nil, nil)
			m.Question = append(m.Question, m.Question[0])
			return m
		}(), kind: replyBad, why: "2 questions"},
		{name: "NOTIMP is lame", p: www, m: msg(www, true, dns.RcodeNotImplemented, nil, nil, nil), kind: replyLame, why: "NOTIMP"},
		{name: "truncated over TCP is read", p: &pending{zone: "example.lab.", qname: "www.example.lab.", qtype: dns.TypeA, qclass: dns.ClassINET, id: 7, tcp: true},
			m: func() *dns.Msg {
				m := msg(www, true, 0, []string{"www.example.lab. 60 IN A 192.0.2.1"}, nil, nil)
				m.Truncated = true
				return m
			}(), kind: replyAnswer},

		// Answers and chains.
		{name: "answer data with NXDOMAIN", p: www, m: msg(www, true, dns.RcodeNameError, []string{"www.example.lab. 60 IN A 192.0.2.1"}, []string{soa}, nil),
			kind: replyBad, why: "answer data with rcode NXDOMAIN"},
		{name: "NS answer takes glue", p: apexNS, m: msg(apexNS, true, 0, []string{"example.lab. 60 IN NS ns1.example.lab.", "example.lab. 60 IN NS ns.other."}, nil,
			[]string{"ns1.example.lab. 60 IN A 192.0.2.30", "ns.other. 60 IN A 6.6.6.6", "stray.example.lab. 60 IN A 6.6.6.6"}),
			kind: replyAnswer, glue: 1},
		{name: "CNAME leaving the zone without AA", p: www, m: msg(www, false, 0, []string{"www.example.lab. 60 IN CNAME www.other."}, nil, nil),
			kind: replyCNAME, next: "www.other."},
		{name: "CNAME leaving the zone from a recursive server", p: www, m: func() *dns.Msg {
			m := msg(www, false, 0, []string{"www.example.lab. 60 IN CNAME www.other."}, nil, nil)
			m.RecursionAvailable = true
			return m
		}(), kind: replyCNAME, next: "www.other."},
		{name: "CNAME leaving the zone", p: www, m: msg(www, true, 0, []string{"www.example.lab. 60 IN CNAME WWW.Other."}, nil, nil),
			kind: replyCNAME, next: "www.other."},
		{name: "CNAME into a child zone without AA", p: www, m: msg(www, false, 0, []string{"www.example.lab. 60 IN CNAME a.sub.example.lab."},
			[]string{"sub.example.lab. 60 IN NS ns.sub.example.lab."}, nil), kind: replyCNAME, next: "a.sub.example.lab."},
		{name: "CNAME into a child zone", p: www, m: msg(www, true, 0, []string{"www.example.lab. 60 IN CNAME a.sub.example.lab."},
			[]string{"sub.example.lab. 60 IN NS ns.sub.example.lab."}, nil), kind: replyCNAME, next: "a.sub.example.lab."},
		{name: "chain given up inside the zone", p: www, m: msg(www, true, 0, []string{"www.example.lab. 60 IN CNAME a.example.lab."}, nil, nil),
			kind: replyCNAME, next: "a.example.lab."},

		// Referrals.
		{name: "referral", p: fromLab, m: msg(fromLab, false, 0, nil, []string{"Example.Lab. 86400 IN NS ns1.example.lab."}, []string{"ns1.example.lab. 86400 IN A 192.0.2.30"}),
			kind: replyReferral, zone: "example.lab.", glue: 1},
		{name: "referral for a DS query is lame", p: dsFromLab, m: msg(dsFromLab, false, 0, nil, []string{"example.lab. 86400 IN NS ns1.example.lab."}, nil),
			kind: replyLame, why: "referral for a DS query"},
		{name: "referral away from the query name is lame", p: fromLab, m: msg(fromLab, false, 0, nil, []string{"other.lab. 86400 IN NS ns.other.lab."}, nil),
			kind: replyLame, why: "referral to other.lab. is not below lab. towards www.example.lab."},
		{name: "referral below a known cut", p: deepFromLab, cuts: []string{"example.lab."},
			m:    msg(deepFromLab, false, 0, nil, []string{"sub.example.lab. 86400 IN NS ns.sub.example.lab."}, nil),
			kind: replyBad, why: "referral to sub.example.lab. crosses a known zone cut below lab."},
		{name: "no referral for a name below a known cut", p: fromLab, cuts: []string{"example.lab."},
			m:    msg(fromLab, true, dns.RcodeNameError, nil, []string{labSOA}, nil),
			kind: replyBad, why: "below a zone cut under lab., is no referral"},

		// Negative answers.
		{name: "NXDOMAIN with its proof", p: www, m: msg(www, true, dns.RcodeNameError, nil, []string{soa,
			"a.example.lab. 7200 IN NSEC z.example.lab. A", "example.lab. 7200 IN RRSIG SOA 13 2 3600 20260201000000 20260101000000 1 example.lab. AAAA",
			"other.lab. 60 IN NSEC z.other.lab. A"}, nil),
			kind: replyNXDomain, neg: &negWant{typ: dns.TypeNone, rcode: dns.RcodeNameError, ttl: 300, authority: 3}},
		{name: "NODATA", p: www, m: msg(www, true, 0, nil, []string{soa}, nil),
			kind: replyNoData, neg: &negWant{typ: dns.TypeA, rcode: dns.RcodeSuccess, ttl: 300, authority: 1}},
		{name: "NODATA listing the zone's own NS set", p: www, m: msg(www, true, 0, nil, []string{"example.lab. 3600 IN NS ns1.example.lab."}, nil),
			kind: replyNoData},
		{name: "NXDOMAIN without SOA is not cached", p: www, m: msg(www, true, dns.RcodeNameError, nil, nil, nil), kind: replyNXDomain},
		{name: "SOA of another zone is no proof", p: www, m: msg(www, true, dns.RcodeNameError, nil, []string{labSOA}, nil), kind: replyNXDomain},
		{name: "NODATA without AA is not cached", p: www, m: msg(www, false, 0, nil, []string{soa}, nil), kind: replyNoData},
		{name: "NODATA without AA from a recursive server", p: www, m: func() *dns.Msg {
			m := msg(www, false, 0, nil, []string{soa}, nil)
			m.RecursionAvailable = true
			return m
		}(), kind: replyNoData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := testResolver(t)
			for _, c := range tt.cuts {
				r.cuts.add(c, 3600, r.clock.Now())
			}
			p := *tt.p
			rep := r.classify(&p, tt.m)
			if rep.kind != tt.kind {
				t.Fatalf("kind %s (%s), want %s", rep.kind, rep.why, tt.kind)
			}
			if !strings.Contains(rep.why, tt.why) || (tt.why == "") != (rep.why == "") {
				t.Errorf("why %q, want %q", rep.why, tt.why)
			}
			if rep.next != tt.next || rep.zone != tt.zone || len(rep.glue) != tt.glue {
				t.Errorf("next %q zone %q glue %v, want %q %q %d", rep.next, rep.zone, rep.glue, tt.next, tt.zone, tt.glue)
			}
			switch {
			case tt.neg == nil && rep.neg != nil:
				t.Errorf("negative entry %+v, want none", rep.neg)
			case tt.neg != nil && rep.neg == nil:
				t.Errorf("no negative entry, want %+v", tt.neg)
			case tt.neg != nil:
				n := rep.neg
				if n.Name != p.qname || n.Type != tt.neg.typ || n.Rcode != tt.neg.rcode || n.TTL != tt.neg.ttl || len(n.Authority) != tt.neg.authority {
					t.Errorf("negative entry %s/%d rcode %d TTL %d authority %v, want %+v", n.Name, n.Type, n.Rcode, n.TTL, n.Authority, tt.neg)
				}
				for _, rr := range n.Authority {
					if rr.Header().Ttl > n.TTL {
						t.Errorf("authority record outlives the entry: %v", rr)
					}
				}
			}
		})
	}
}

// checkBailiwick fails if anything in the cache lies outside zone.
func checkBailiwick(t *testing.T, c *MemCache, zone string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if !isSubDomain(k.name, zone) {
			t.Fatalf("cached %s outside %s", k.name, zone)
		}
		for _, rrs := range [][]dns.RR{e.set.RRs, e.set.Sigs, e.neg.Authority} {
			for _, rr := range rrs {
				if !isSubDomain(rr.Header().Name, zone) {
					t.Fatalf("cached record %v outside %s", rr, zone)
				}
			}
		}
	}
}

func FuzzAcceptResponse(f *testing.F) {
	pendings := []*pending{
		{zone: "example.lab.", qname: "www.example.lab.", qtype: dns.TypeA, qclass: dns.ClassINET, id: 7, edns: true},
		{zone: "lab.", qname: "www.example.lab.", qtype: dns.TypeA, qclass: dns.ClassINET, id: 7, edns: true},
		{zone: ".", qname: ".", qtype: dns.TypeNS, qclass: dns.ClassINET, id: 7, edns: true},
		{zone: "lab.", qname: "example.lab.", qtype: dns.TypeDS, qclass: dns.ClassINET, id: 7, edns: true, tcp: true},
	}
	seeds := []*dns.Msg{
		msg(pendings[0], true, 0, []string{"www.example.lab. 60 IN CNAME a.example.lab.", "a.example.lab. 60 IN A 192.0.2.1", "www.other. 60 IN A 6.6.6.6"}, nil, nil),
		msg(pendings[0], true, 0, []string{"example.lab. 60 IN DNAME x.example.lab.", "www.example.lab. 60 IN CNAME www.x.example.lab."},
			[]string{"example.lab. 60 IN SOA a. b. 1 2 3 4 5"}, nil),
		msg(pendings[0], true, dns.RcodeNameError, nil, []string{"example.lab. 60 IN SOA a. b. 1 2 3 4 5", "lab. 60 IN SOA a. b. 1 2 3 4 5",
			"a.example.lab. 60 IN NSEC c.example.lab. A", "example.lab. 60 IN RRSIG SOA 13 2 60 20260201000000 20260101000000 1 example.lab. AAAA"}, nil),
		msg(pendings[1], false, 0, nil, []string{"example.lab. 86400 IN NS ns1.example.lab.", "example.lab. 86400 IN NS ns.other.",
			"example.lab. 86400 IN DS 1 13 2 0000000000000000000000000000000000000000000000000000000000000000"},
			[]string{"ns1.example.lab. 86400 IN A 192.0.2.30", "ns.other. 86400 IN A 6.6.6.6", "ns1.example.lab. 86400 IN AAAA 2001:db8::1"}),
		msg(pendings[2], true, 0, []string{". 60 IN NS a.root.", ". 60 IN NS b.lab."}, nil, []string{"a.root. 60 IN A 192.0.2.1", "b.lab. 60 IN AAAA 2001:db8::2"}),
		msg(pendings[3], true, 0, []string{"example.lab. 60 IN DS 1 13 2 00", "example.lab. 60 IN RRSIG DS 13 2 60 20260201000000 20260101000000 1 lab. AAAA"}, nil, nil),
		msg(pendings[0], true, 0, []string{"www.example.lab. 60 IN CNAME a.sub.example.lab.", "a.sub.example.lab. 60 IN A 6.6.6.6"},
			[]string{"sub.example.lab. 60 IN NS ns.sub.example.lab."}, []string{"ns.sub.example.lab. 60 IN A 6.6.6.6"}),
		msg(pendings[1], false, 0, nil, []string{"example.lab. 86400 IN NS ns.other.lab."}, []string{"ns.other.lab. 86400 IN A 6.6.6.6"}),
		msg(pendings[1], true, 0, []string{"www.example.lab. 60 IN CNAME x.other.lab.", "x.other.lab. 60 IN A 6.6.6.6"}, nil, nil),
	}
	for i, m := range seeds {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i%len(pendings)), b)
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		p := pendings[int(which)%len(pendings)]
		m := new(dns.Msg)
		if err := m.Unpack(data); err != nil {
			return // the transport discards what does not unpack
		}
		// Most inputs would fail the ID check; give the fuzzer the deeper
		// paths by matching the ID unless the high bit of which says not to.
		if which&0x80 == 0 {
			m.Id = p.id
		}
		r, cache := testResolver(t)
		// Known cuts below the bailiwick: nothing under them may be cached
		// from this response but a delegation's own NS and DS sets and
		// its glue (MaginotDNS).
		cuts := []string{"sub.example.lab.", "other.lab."}
		for _, c := range cuts {
			r.cuts.add(c, 3600, r.clock.Now())
		}
		st := &state{r: r}
		pc := *p
		rep := r.classify(&pc, m)
		st.store(rep)
		checkBailiwick(t, cache, p.zone)
		cache.mu.Lock()
		for k, e := range cache.entries {
			if len(e.set.RRs) > r.cfg.MaxRRsetRecords {
				t.Fatalf("cached %d records at %s", len(e.set.RRs), k.name)
			}
			for _, c := range cuts {
				if !isProperSubDomain(c, p.zone) || !isSubDomain(k.name, c) {
					continue
				}
				atCut := k.name == c && (k.qtype == dns.TypeNS || k.qtype == dns.TypeDS)
				glue := e.set.Rank == RankAdditional && (k.qtype == dns.TypeA || k.qtype == dns.TypeAAAA)
				if !atCut && !glue {
					t.Fatalf("cached %s/%s (rank %s) below the known cut %s from %s's servers",
						k.name, dns.Type(k.qtype), e.set.Rank, c, p.zone)
				}
			}
		}
		cache.mu.Unlock()
		for _, rr := range rep.chain {
			if !isSubDomain(rr.Header().Name, p.zone) {
				t.Fatalf("chain record %v outside %s", rr, p.zone)
			}
		}
		if rep.kind == replyReferral {
			if !isProperSubDomain(rep.zone, p.zone) || !isSubDomain(p.qname, rep.zone) {
				t.Fatalf("referral to %s from %s for %s", rep.zone, p.zone, p.qname)
			}
			for _, g := range rep.glue {
				ok := false
				for _, n := range rep.ns {
					ok = ok || equalName(n.Ns, g.Header().Name)
				}
				if !ok {
					t.Fatalf("glue %v for no name server", g)
				}
			}
		}
	})
}

func BenchmarkClassifyAnswer(b *testing.B) {
	r, _ := testResolver(b)
	p := &pending{zone: "example.lab.", qname: "www.example.lab.", qtype: dns.TypeA, qclass: dns.ClassINET, id: 7, edns: true}
	m := msg(p, true, 0, []string{"www.example.lab. 60 IN CNAME a.example.lab.", "a.example.lab. 60 IN A 192.0.2.1"}, nil, nil)
	b.ReportAllocs()
	for b.Loop() {
		if rep := r.classify(p, m); rep.kind != replyAnswer {
			b.Fatal(rep.kind)
		}
	}
}

// TestAnswerWithoutAARank checks the credibility an answer without the AA
// bit gets (RFC 2181 section 5.4.1): below an authoritative answer, which
// it never replaces and which replaces it.
func TestAnswerWithoutAARank(t *testing.T) {
	www := &pending{zone: "example.lab.", qname: "www.example.lab.", qtype: dns.TypeA, qclass: dns.ClassINET, id: 7, edns: true}
	noAA := msg(www, false, 0, []string{"www.example.lab. 60 IN CNAME a.example.lab.", "a.example.lab. 60 IN A 192.0.2.66"}, nil, nil)
	aa := msg(www, true, 0, []string{"www.example.lab. 60 IN CNAME a.example.lab.", "a.example.lab. 60 IN A 192.0.2.1"}, nil, nil)

	r, cache := testResolver(t)
	st := &state{r: r}
	rep := r.classify(www, noAA)
	if rep.kind != replyAnswer || len(rep.sets) != 2 {
		t.Fatalf("kind %s sets %v", rep.kind, rep.sets)
	}
	for _, s := range rep.sets {
		if s.Rank != RankAnswerNonAuth {
			t.Errorf("%s/%s rank %s, want %s", s.Name, dns.Type(s.Type), s.Rank, RankAnswerNonAuth)
		}
	}
	st.store(rep)
	st.store(r.classify(www, aa))
	set, ok := cache.LookupRRset("a.example.lab.", dns.TypeA, dns.ClassINET, r.clock.Now())
	if !ok || set.Rank != RankAnswerAuth || set.RRs[0].(*dns.A).A.String() != "192.0.2.1" {
		t.Fatalf("after the authoritative answer: %v %v", set, ok)
	}
	st.store(r.classify(www, noAA))
	set, _ = cache.LookupRRset("a.example.lab.", dns.TypeA, dns.ClassINET, r.clock.Now())
	if set.Rank != RankAnswerAuth || set.RRs[0].(*dns.A).A.String() != "192.0.2.1" {
		t.Errorf("an answer without AA replaced the authoritative one: %v", set)
	}
}

// TestReferralDSAnswers checks that a signed DS set a referral brought
// answers a DS query from the cache (the parent's authoritative data,
// which the validator checks), while an unsigned one does not.
func TestReferralDSAnswers(t *testing.T) {
	for _, signed := range []bool{true, false} {
		r, cache := testResolver(t)
		now := r.clock.Now()
		ds := RRset{Name: "example.lab.", Type: dns.TypeDS, Class: dns.ClassINET, Rank: RankAuthority,
			RRs: []dns.RR{mustRR("example.lab. 3600 IN DS 1 13 2 3084cbe9bc8b6c28bea9dd8e7e8a1f2346eb36b1a9ab5ef9a47d5c21b54d9a38")}}
		if signed {
			ds.Sigs = []dns.RR{mustRR("example.lab. 3600 IN RRSIG DS 13 2 3600 20260201000000 20260101000000 1 lab. AAAA")}
		}
		cache.StoreRRset(ds, now)
		st := &state{r: r}
		res, err := st.resolve(context.Background(), "example.lab.", dns.TypeDS, true)
		if signed && (err != nil || len(res.answer) != 2) {
			t.Errorf("signed DS from a referral: %v, %v; want it answered from the cache with its RRSIG", res, err)
		}
		if !signed && err == nil {
			t.Errorf("unsigned DS from a referral answered a DS query: %v", res.answer)
		}
	}
}

// TestReferralDenial: a referral to an unsigned delegation carries the
// parent's signed NSEC at the cut; it is kept, and handed to a validator
// for the child's DS (ReferralDenial), while an unsigned one, one at
// another name or one that lists a DS is not.
func TestReferralDenial(t *testing.T) {
	sig := func(owner string) string {
		return owner + " 3600 IN RRSIG NSEC 8 3 3600 20300101000000 20200101000000 4242 lab. c2lnbmF0dXJl"
	}
	for _, tc := range []struct {
		name string
		ns   []string
		want bool
	}{
		{"signed NSEC at the cut", []string{"sub.lab. 3600 IN NSEC zz.lab. NS RRSIG NSEC", sig("sub.lab.")}, true},
		{"unsigned NSEC", []string{"sub.lab. 3600 IN NSEC zz.lab. NS RRSIG NSEC"}, false},
		{"NSEC listing a DS", []string{"sub.lab. 3600 IN NSEC zz.lab. NS DS RRSIG NSEC", sig("sub.lab.")}, false},
		{"NSEC at another name", []string{"other.lab. 3600 IN NSEC zz.lab. NS RRSIG NSEC", sig("other.lab.")}, false},
	} {
		r, _ := testResolver(t)
		st := &state{r: r}
		p := &pending{zone: "lab.", qname: "www.sub.lab.", qtype: dns.TypeA, qclass: dns.ClassINET, id: 7}
		rep := r.classify(p, msg(p, false, 0, nil, append([]string{"sub.lab. 3600 IN NS ns.sub.lab."}, tc.ns...), []string{"ns.sub.lab. 3600 IN A 192.0.2.53"}))
		if rep.kind != replyReferral {
			t.Fatalf("%s: %s %s", tc.name, rep.kind, rep.why)
		}
		st.store(rep)
		auth, ok := r.ReferralDenial("SUB.lab.")
		if ok != tc.want || ok && (len(auth) != 2 || auth[0].Header().Rrtype != dns.TypeNSEC || auth[1].Header().Rrtype != dns.TypeRRSIG) {
			t.Errorf("%s: ReferralDenial %v %v, want %v", tc.name, auth, ok, tc.want)
		}
	}
}

// TestDNAMEFromCache: a cached DNAME answers the names below its owner
// without a query (the DNAME, then the CNAME it makes), a CNAME query for
// a name it redirected brings the DNAME along, a chain that passes one
// DNAME twice carries it once, and the NSEC of a minimised name that owns
// a DNAME stops the minimisation.
func TestDNAMEFromCache(t *testing.T) {
	r, _ := testResolver(t)
	st := &state{r: r}
	p := &pending{zone: "lab.", qname: "s.x.x.lab.", qtype: dns.TypeA, qclass: dns.ClassINET, id: 7}
	rep := r.classify(p, msg(p, true, 0, []string{
		"x.lab. 3600 IN DNAME lab.",
		"s.lab. 3600 IN A 192.0.2.5",
	}, nil, nil))
	if rep.kind != replyAnswer {
		t.Fatal(rep.kind, rep.why)
	}
	if got := rrStrings(rep.chain); len(got) != 4 || strings.Count(strings.Join(got, "\n"), "DNAME") != 1 {
		t.Errorf("chain through one DNAME twice: %q", got)
	}
	st.store(rep)
	for _, q := range []struct {
		name  string
		qtype uint16
		want  []string
	}{
		{"b.x.lab.", dns.TypeCNAME, []string{"x.lab. 0 IN DNAME lab.", "b.x.lab. 0 IN CNAME b.lab."}},
		{"s.x.lab.", dns.TypeA, []string{"x.lab. 0 IN DNAME lab.", "s.x.lab. 0 IN CNAME s.lab.", "s.lab. 0 IN A 192.0.2.5"}},
		{"s.x.x.lab.", dns.TypeA, []string{"x.lab. 0 IN DNAME lab.", "s.x.x.lab. 0 IN CNAME s.x.lab.", "s.x.lab. 0 IN CNAME s.lab.", "s.lab. 0 IN A 192.0.2.5"}},
	} {
		res, err := (&state{r: r}).resolve(context.Background(), q.name, q.qtype, true)
		if err != nil {
			t.Errorf("%s/%s from the cache: %v", q.name, dns.Type(q.qtype), err)
			continue
		}
		if got := rrStrings(res.answer); strings.Join(got, "\n") != strings.Join(q.want, "\n") {
			t.Errorf("%s/%s from the cache:\n%s\nwant\n%s", q.name, dns.Type(q.qtype), strings.Join(got, "\n"), strings.Join(q.want, "\n"))
		}
	}
	if !ownsDNAME([]dns.RR{mustRR("x.lab. 3600 IN NSEC y.lab. DNAME RRSIG NSEC")}, "X.lab.") ||
		ownsDNAME([]dns.RR{mustRR("x.lab. 3600 IN NSEC y.lab. A RRSIG NSEC")}, "x.lab.") {
		t.Error("ownsDNAME")
	}
}

// TestChainIntoChildZone: a server of a parent and a child zone that
// answers a chain running into the child, with the child's delegation in
// the authority section, gives the delegation (as a referral would) but
// not the child's data; a delegation off the chain's path, or outside the
// zone asked, is not taken.
func TestChainIntoChildZone(t *testing.T) {
	answer := []string{
		"www.example.lab. 3600 IN CNAME foo.sub.example.lab.",
		"foo.sub.example.lab. 3600 IN A 192.0.2.66",
	}
	for _, tc := range []struct {
		name string
		ns   []string
		want bool
	}{
		{"the child on the chain", []string{"sub.example.lab. 3600 IN NS ns.example.lab."}, true},
		{"another child", []string{"other.example.lab. 3600 IN NS ns.example.lab."}, false},
		{"outside the zone", []string{"sub.example.lab.evil. 3600 IN NS ns.example.lab."}, false},
	} {
		r, _ := testResolver(t)
		p := &pending{zone: "example.lab.", qname: "www.example.lab.", qtype: dns.TypeA, qclass: dns.ClassINET, id: 7}
		rep := r.classify(p, msg(p, true, 0, answer, tc.ns, []string{"ns.example.lab. 3600 IN A 192.0.2.53"}))
		got := false
		for _, s := range rep.sets {
			if s.Name == "foo.sub.example.lab." && tc.name == "the child on the chain" {
				t.Errorf("%s: the child's data was taken: %v", tc.name, s.RRs)
			}
			if s.Type == dns.TypeNS {
				got = s.Name == "sub.example.lab." && s.Rank == RankAuthority
			}
		}
		if tc.name == "the child on the chain" && (rep.kind != replyCNAME || rep.next != "foo.sub.example.lab.") {
			t.Errorf("%s: %s next %q", tc.name, rep.kind, rep.next)
		}
		if got != tc.want {
			t.Errorf("%s: delegation taken %v, want %v: %v", tc.name, got, tc.want, rep.sets)
		}
	}
}

// TestDenialRecordsPassed: the NSEC or NSEC3 records of a NODATA without
// an SOA, and the proof beside a wildcard expansion, reach the reply's
// authority (for the validator and for clients that validate), with the
// RRSIGs over them, but not other authority records or their signatures.
func TestDenialRecordsPassed(t *testing.T) {
	r, _ := testResolver(t)
	sig := func(owner string, covered string, labels int) string {
		return fmt.Sprintf("%s 3600 IN RRSIG %s 8 %d 3600 20300101000000 20200101000000 4242 example.lab. c2lnbmF0dXJl", owner, covered, labels)
	}
	ds := &pending{zone: "example.lab.", qname: "sub.example.lab.", qtype: dns.TypeDS, qclass: dns.ClassINET, id: 7}
	rep := r.classify(ds, msg(ds, true, 0, nil, []string{
		"p0.example.lab. 3600 IN NSEC3 1 0 10 AB CO0J7N2E081RL10GCBQ31EDR3OE33LNC NS", sig("p0.example.lab.", "NSEC3", 3),
	}, nil))
	if rep.kind != replyNoData || len(rep.authority) != 2 || rep.neg != nil {
		t.Errorf("NODATA without SOA: %s, authority %v, negative entry %v", rep.kind, rep.authority, rep.neg)
	}
	www := &pending{zone: "example.lab.", qname: "a.wild.example.lab.", qtype: dns.TypeA, qclass: dns.ClassINET, id: 7}
	rep = r.classify(www, msg(www, true, 0, []string{
		"a.wild.example.lab. 3600 IN A 192.0.2.9", sig("a.wild.example.lab.", "A", 3),
	}, []string{
		"example.lab. 3600 IN NS ns.example.lab.", sig("example.lab.", "NS", 2),
		"w.example.lab. 3600 IN NSEC z.example.lab. A RRSIG NSEC", sig("w.example.lab.", "NSEC", 3),
	}, nil))
	got := rrStrings(rep.authority)
	if rep.kind != replyAnswer || len(got) != 2 || !strings.Contains(got[0], "NSEC z.example.lab.") || !strings.Contains(got[1], "RRSIG NSEC") {
		t.Errorf("wildcard answer: %s, authority %q", rep.kind, got)
	}
	// A plain answer carries no authority.
	rep = r.classify(www, msg(www, true, 0, []string{
		"a.wild.example.lab. 3600 IN A 192.0.2.9", sig("a.wild.example.lab.", "A", 4),
	}, []string{"w.example.lab. 3600 IN NSEC z.example.lab. A RRSIG NSEC", sig("w.example.lab.", "NSEC", 3)}, nil))
	if len(rep.authority) != 0 {
		t.Errorf("plain answer: authority %v", rep.authority)
	}
}
