package cache

import (
	"bytes"
	"testing"

	"github.com/miekg/dns"
)

// FuzzAnswerFromWire throws arbitrary query bytes at a populated cache. The
// hit path must never panic, and whatever it answers must parse and carry
// the query's ID and question exactly as sent.
func FuzzAnswerFromWire(f *testing.F) {
	for _, q := range [][]byte{
		query(f, 1, "www.example.com.", dns.TypeA, 0, false),
		query(f, 2, "WwW.eXaMpLe.CoM.", dns.TypeA, 1232, false),
		query(f, 3, "www.example.com.", dns.TypeA, 4096, true),
		query(f, 4, "alias.example.com.", dns.TypeAAAA, 512, false),
		query(f, 5, "nope.example.com.", dns.TypeA, 0, false),
		query(f, 6, ".", dns.TypeNS, 0, false),
		{},
		bytes.Repeat([]byte{0xc0}, 40),
	} {
		f.Add(q)
	}
	c, _ := populated(f)
	resp := make([]byte, 65535)
	f.Fuzz(func(t *testing.T, q []byte) {
		orig := append([]byte(nil), q...)
		n, _, ok := c.AnswerFromWireOpts(q, resp, WireOptions{AllowStale: true})
		if !bytes.Equal(q, orig) {
			t.Fatalf("query modified")
		}
		if !ok {
			return
		}
		m := new(dns.Msg)
		if err := m.Unpack(resp[:n]); err != nil {
			t.Fatalf("answer does not parse: %v\nquery % x\nanswer % x", err, q, resp[:n])
		}
		qm := new(dns.Msg)
		if err := qm.Unpack(q); err != nil {
			t.Fatalf("answered a query miekg/dns rejects: %v\nquery % x", err, q)
		}
		if m.Id != qm.Id || len(m.Question) != 1 || m.Question[0] != qm.Question[0] {
			t.Fatalf("answer %v does not match query %v", m.Question, qm.Question)
		}
		end := 12 + len(qm.Question[0].Name) + 1
		if qm.Question[0].Name == "." {
			end = 13
		}
		if end <= len(q) && end <= n && !bytes.Equal(resp[12:end], q[12:end]) {
			t.Fatalf("question bytes not echoed")
		}
		if (qm.IsEdns0() != nil) != (m.IsEdns0() != nil) {
			t.Fatalf("EDNS presence differs: query %v answer %v", qm.IsEdns0(), m.IsEdns0())
		}
	})
}

// FuzzPutAnswer stores whatever response miekg/dns can parse from the
// input and then asks the hit path for it: packing, the TTL offset walk and
// the hit path must agree on every message PutAnswer accepts.
func FuzzPutAnswer(f *testing.F) {
	seeds := []*dns.Msg{
		response(f, "www.example.com.", dns.TypeA, false,
			[]string{"www.example.com. 300 IN A 192.0.2.1", "www.example.com. 300 IN RRSIG A 13 3 300 20300101000000 20200101000000 1 example.com. c2ln"},
			[]string{"example.com. 3600 IN NS ns1.example.com."},
			[]string{"ns1.example.com. 600 IN A 192.0.2.53"}),
		response(f, "a.example.", dns.TypeMX, true,
			[]string{"a.example. 60 IN CNAME b.example.", "b.example. 60 IN MX 10 a.example."}, nil, nil),
		response(f, "n.example.", dns.TypeTXT, false, nil,
			[]string{"example. 60 IN SOA ns.example. h.example. 1 2 3 4 5"}, nil),
	}
	for _, m := range seeds {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	c, clk := newTestCache(f, Config{})
	resp := make([]byte, 65535)
	f.Fuzz(func(t *testing.T, b []byte) {
		m := new(dns.Msg)
		if m.Unpack(b) != nil || len(m.Question) != 1 || !dns.IsFqdn(m.Question[0].Name) {
			return
		}
		if c.PutAnswer(m, clk.Now()) != nil {
			return
		}
		q := new(dns.Msg)
		q.SetQuestion(m.Question[0].Name, m.Question[0].Qtype)
		q.Question[0].Qclass = m.Question[0].Qclass
		q.Id = 77
		q.CheckingDisabled = m.CheckingDisabled
		if opt := m.IsEdns0(); opt != nil {
			q.SetEdns0(1232, opt.Do())
		}
		qb, err := q.Pack()
		if err != nil {
			return
		}
		n, _, ok := c.AnswerFromWireOpts(qb, resp, WireOptions{MaxSize: 65535})
		if !ok {
			// The stored name may not survive a presentation round trip
			// through miekg/dns (escapes), which makes the query differ.
			return
		}
		r := new(dns.Msg)
		if err := r.Unpack(resp[:n]); err != nil {
			t.Fatalf("cached answer does not parse: %v\nstored from % x", err, b)
		}
		if r.Id != 77 || r.Rcode != m.Rcode || len(r.Answer) != len(m.Answer) || len(r.Ns) != len(m.Ns) {
			t.Fatalf("cached answer differs:\n%v\nfrom\n%v", r, m)
		}
	})
}

// FuzzPutRRset stores the answer section of whatever miekg/dns parses from
// the input, as an RRset and as a negative answer, and reads it back: every
// accepted set must come back whole, with its signatures.
func FuzzPutRRset(f *testing.F) {
	seeds := []*dns.Msg{
		response(f, "www.example.com.", dns.TypeA, false,
			[]string{"www.example.com. 300 IN A 192.0.2.1", "www.example.com. 300 IN A 192.0.2.2",
				"www.example.com. 300 IN RRSIG A 13 3 300 20300101000000 20200101000000 1 example.com. c2ln"}, nil, nil),
		response(f, "example.com.", dns.TypeSOA, false,
			[]string{"example.com. 300 IN SOA ns.example.com. h.example.com. 1 2 3 4 5",
				"a.example.com. 300 IN NSEC c.example.com. A RRSIG NSEC"}, nil, nil),
		response(f, "t.example.", dns.TypeTXT, false, []string{`t.example. 60 IN TXT "a" "b\"c"`}, nil, nil),
	}
	for _, m := range seeds {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	c, clk := newTestCache(f, Config{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m := new(dns.Msg)
		if m.Unpack(b) != nil || len(m.Answer) == 0 {
			return
		}
		now := clk.Now()
		if c.PutRRset(m.Answer, RankAnswerAuth, now) == nil {
			var set *dns.RR_Header
			sigs := 0
			for _, rr := range m.Answer {
				if rr.Header().Rrtype == dns.TypeRRSIG {
					sigs++
				} else if set == nil {
					set = rr.Header()
				}
			}
			got, ok := c.LookupRRset(set.Name, set.Rrtype, set.Class, now, false)
			if !ok {
				t.Fatalf("stored RRset %s/%d not found", set.Name, set.Rrtype)
			}
			if len(got.RRs)+len(got.Sigs) > len(m.Answer) || len(got.RRs) == 0 || len(got.Sigs) > sigs {
				t.Fatalf("got %d+%d records back from %d", len(got.RRs), len(got.Sigs), len(m.Answer))
			}
		}
		name := m.Answer[0].Header().Name
		if c.PutNegative(name, dns.TypeA, m.Answer[0].Header().Class, true, m.Answer, RankAuthorityAuth, now) == nil {
			neg, ok := c.GetNegative(name, dns.TypeA, m.Answer[0].Header().Class, now)
			if !ok || len(neg.Authority) != len(m.Answer) {
				t.Fatalf("stored negative answer for %s came back as %v (%v)", name, neg.Authority, ok)
			}
		}
	})
}
