package replay

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/srcpos"
)

// entryOf parses the lines of one ENTRY block.
func entryOf(t testing.TB, lines string) *Entry {
	t.Helper()
	text := "CONFIG_END\nSCENARIO_BEGIN m\nSTEP 1 CHECK_ANSWER\nENTRY_BEGIN\n" + lines + "\nENTRY_END\nSCENARIO_END\n"
	sc, err := Parse("m.rpl", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return sc.Steps[0].Entry
}

// msgOf builds a message: question, then "section: rr" lines.
func msgOf(t testing.TB, qname string, qtype uint16, edit func(*dns.Msg), rrs ...string) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype)
	m.Response, m.RecursionDesired, m.RecursionAvailable = true, false, true
	for _, s := range rrs {
		sec, text, _ := strings.Cut(s, ": ")
		rr, err := dns.NewRR(text)
		if err != nil {
			t.Fatal(err)
		}
		switch sec {
		case "an":
			m.Answer = append(m.Answer, rr)
		case "ns":
			m.Ns = append(m.Ns, rr)
		case "ar":
			m.Extra = append(m.Extra, rr)
		}
	}
	if edit != nil {
		edit(m)
	}
	return m
}

func withOpt(do bool, opts ...dns.EDNS0) func(*dns.Msg) {
	return func(m *dns.Msg) {
		m.SetEdns0(1232, do)
		m.IsEdns0().Option = opts
	}
}

func TestMismatch(t *testing.T) {
	const q = "SECTION QUESTION\nwww.example.com. IN A\n"
	tests := []struct {
		name  string
		entry string
		got   *dns.Msg
		tcp   bool
		want  mismatch
	}{
		{"no criteria match anything", "", msgOf(t, "x.", dns.TypeMX, nil), false, mmNone},
		{"qname ignores case", "MATCH qname\n" + q, msgOf(t, "WWW.example.COM.", dns.TypeA, nil), false, mmNone},
		{"qname differs", "MATCH qname\n" + q, msgOf(t, "ww.example.com.", dns.TypeA, nil), false, mmQName},
		{"qcase is exact", "MATCH qcase\n" + q, msgOf(t, "WWW.example.com.", dns.TypeA, nil), false, mmQCase},
		{"qtype", "MATCH qtype\n" + q, msgOf(t, "www.example.com.", dns.TypeAAAA, nil), false, mmQType},
		{"opcode", "MATCH opcode\n" + q, msgOf(t, "www.example.com.", dns.TypeA, func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify }), false, mmOpcode},
		{"subdomain below", "MATCH subdomain\nSECTION QUESTION\nexample.com. IN NS\n", msgOf(t, "a.b.EXAMPLE.com.", dns.TypeA, nil), false, mmNone},
		{"subdomain sibling", "MATCH subdomain\nSECTION QUESTION\nexample.com. IN NS\n", msgOf(t, "badexample.com.", dns.TypeA, nil), false, mmSubdomain},
		{"rcode", "MATCH rcode\nREPLY NXDOMAIN\n", msgOf(t, "x.", dns.TypeA, nil), false, mmRcode},
		{"flags", "MATCH flags\nREPLY QR RA AA\n", msgOf(t, "x.", dns.TypeA, nil), false, mmFlags},
		{"flags equal", "MATCH flags\nREPLY QR RA RD\n", msgOf(t, "x.", dns.TypeA, func(m *dns.Msg) { m.RecursionDesired = true }), false, mmNone},
		{"question class", "MATCH question\nSECTION QUESTION\nwww.example.com. CH A\n", msgOf(t, "www.example.com.", dns.TypeA, nil), false, mmQuestion},
		{
			"answer order and case ignored", "MATCH answer\nSECTION ANSWER\nwww.example.com. IN A 192.0.2.2\nWWW.example.com. IN A 192.0.2.1\n",
			msgOf(t, "x.", dns.TypeA, nil, "an: www.example.com. 5 IN A 192.0.2.1", "an: www.EXAMPLE.com. 7 IN A 192.0.2.2"), false, mmNone,
		},
		{
			"answer ttl compared with ttl", "MATCH answer ttl\nSECTION ANSWER\nwww.example.com. 5 IN A 192.0.2.1\n",
			msgOf(t, "x.", dns.TypeA, nil, "an: www.example.com. 6 IN A 192.0.2.1"), false, mmAnswer,
		},
		{
			"answer multiset", "MATCH answer\nSECTION ANSWER\nw. IN A 192.0.2.1\nw. IN A 192.0.2.1\n",
			msgOf(t, "x.", dns.TypeA, nil, "an: w. IN A 192.0.2.1", "an: w. IN A 192.0.2.2"), false, mmAnswer,
		},
		{
			"rdata names ignore case", "MATCH answer\nSECTION ANSWER\nw. IN CNAME Target.Example.\n",
			msgOf(t, "x.", dns.TypeA, nil, "an: w. IN CNAME target.example."), false, mmNone,
		},
		{
			"authority", "MATCH authority\nSECTION AUTHORITY\nexample. IN NS ns.example.\n",
			msgOf(t, "x.", dns.TypeA, nil), false, mmAuthority,
		},
		{
			"additional ignores OPT", "MATCH additional\nSECTION ADDITIONAL\nns.example. IN A 192.0.2.53\n",
			msgOf(t, "x.", dns.TypeA, withOpt(true), "ar: ns.example. IN A 192.0.2.53"), false, mmNone,
		},
		{"all leaves EDNS aside, as Deckard's does", "MATCH all\nREPLY QR RA\nSECTION QUESTION\nx. IN A\n", msgOf(t, "x.", dns.TypeA, withOpt(true)), true, mmNone},
		{"all ignores payload size", "MATCH all\nREPLY QR RA DO\nSECTION QUESTION\nx. IN A\n", msgOf(t, "x.", dns.TypeA, withOpt(true)), false, mmNone},
		{"all_noedns ignores DO", "MATCH all_noedns\nREPLY QR RA\nSECTION QUESTION\nx. IN A\n", msgOf(t, "x.", dns.TypeA, withOpt(true)), false, mmNone},
		{"DO wanted", "MATCH DO\n", msgOf(t, "x.", dns.TypeA, withOpt(false)), false, mmDO},
		{"noedns", "MATCH noedns\n", msgOf(t, "x.", dns.TypeA, withOpt(false)), false, mmNoEDNS},
		{"edns payload", "MATCH edns\nEDNS 0 4096\n", msgOf(t, "x.", dns.TypeA, withOpt(false)), false, mmEDNS},
		{"edns absent both", "MATCH edns\n", msgOf(t, "x.", dns.TypeA, nil), false, mmNone},
		{
			"ednsdata equal", "MATCH ednsdata\nHEX_EDNSDATA_BEGIN\n00 03 00 02 61 62\nHEX_EDNSDATA_END\n",
			msgOf(t, "x.", dns.TypeA, withOpt(false, &dns.EDNS0_NSID{Code: dns.EDNS0NSID, Nsid: "6162"})), false, mmNone,
		},
		{
			"ednsdata differs", "MATCH ednsdata\nHEX_EDNSDATA_BEGIN\n00 03 00 02 61 62\nHEX_EDNSDATA_END\n",
			msgOf(t, "x.", dns.TypeA, withOpt(false, &dns.EDNS0_NSID{Code: dns.EDNS0NSID, Nsid: "6163"})), false, mmEDNSData,
		},
		{"nsid", "MATCH nsid\nEDNS 0 1232 nsid=ab\n", msgOf(t, "x.", dns.TypeA, withOpt(false)), false, mmNSID},
		{"serial", "MATCH serial=7\n", msgOf(t, "x.", dns.TypeIXFR, nil, "ns: x. IN SOA a. b. 7 1 1 1 1"), false, mmNone},
		{"serial differs", "MATCH serial=8\n", msgOf(t, "x.", dns.TypeIXFR, nil, "ns: x. IN SOA a. b. 7 1 1 1 1"), false, mmSerial},
		{"ede code", "MATCH ede=9\n", msgOf(t, "x.", dns.TypeA, withOpt(false, &dns.EDNS0_EDE{InfoCode: 9})), false, mmNone},
		{"ede other code", "MATCH ede=9\n", msgOf(t, "x.", dns.TypeA, withOpt(false, &dns.EDNS0_EDE{InfoCode: 6})), false, mmEDE},
		{"ede any", "MATCH ede=any\n", msgOf(t, "x.", dns.TypeA, withOpt(false, &dns.EDNS0_EDE{InfoCode: 6})), false, mmNone},
		{"ede missing", "MATCH ede=any\n", msgOf(t, "x.", dns.TypeA, nil), false, mmEDE},
		{
			"client cookie", "MATCH random_client_cookie\n",
			msgOf(t, "x.", dns.TypeA, withOpt(false, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})), false, mmNone,
		},
		{
			"full cookie is not a client cookie", "MATCH random_client_cookie\n",
			msgOf(t, "x.", dns.TypeA, withOpt(false, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708" + serverCookie})), false, mmClientCookie,
		},
		{
			"server cookie", "MATCH server_cookie\n",
			msgOf(t, "x.", dns.TypeA, withOpt(false, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708" + serverCookie})), false, mmNone,
		},
		{
			"client cookie is not a server cookie", "MATCH server_cookie\n",
			msgOf(t, "x.", dns.TypeA, withOpt(false, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})), false, mmServerCookie,
		},
		{"no cookie", "MATCH client_cookie\n", msgOf(t, "x.", dns.TypeA, nil), false, mmClientCookie},
		{"TCP over UDP", "MATCH TCP\n", msgOf(t, "x.", dns.TypeA, nil), false, mmTransport},
		{"UDP over TCP", "MATCH UDP\n", msgOf(t, "x.", dns.TypeA, nil), true, mmTransport},
		{
			"answertypes skip RRSIGs", "MATCH answertypes\nSECTION ANSWER\nx. IN A 192.0.2.1\n",
			msgOf(t, "x.", dns.TypeA, nil, "an: x. IN A 192.0.2.9", "an: x. IN RRSIG A 8 1 300 20300101000000 20200101000000 1 x. AAAA"), false, mmNone,
		},
		{
			"answerrrsigs count RRSIGs", "MATCH answerrrsigs\nSECTION ANSWER\nx. IN A 192.0.2.1\n",
			msgOf(t, "x.", dns.TypeA, nil, "an: x. IN A 192.0.2.9", "an: x. IN RRSIG A 8 1 300 20300101000000 20200101000000 1 x. AAAA"), false, mmAnswerRRSIGs,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := entryOf(t, tt.entry)
			if got := e.mismatch(tt.got, tt.tcp); got != tt.want {
				t.Fatalf("mismatch = %d (%s), want %d", got, describe(got, e, tt.got, tt.tcp), tt.want)
			}
			if tt.want != mmNone && describe(tt.want, e, tt.got, tt.tcp) == "matches" {
				t.Errorf("no description for mismatch %d", tt.want)
			}
		})
	}
}

func TestIsSubdomain(t *testing.T) {
	tests := []struct {
		child, parent string
		want          bool
	}{
		{"example.com.", "example.com.", true},
		{"www.Example.COM.", "example.com.", true},
		{"com.", ".", true},
		{"badexample.com.", "example.com.", false},
		{"example.com.", "www.example.com.", false},
		{`a\.example.com.`, "example.com.", false}, // one label "a.example"
		{`a\.example.com.`, `\.example.com.`, false},
		{`a\\.example.com.`, "example.com.", true},
		{"", "example.", false},
		{"", "", true},
	}
	for _, tt := range tests {
		if got := isSubdomain(tt.child, tt.parent); got != tt.want {
			t.Errorf("isSubdomain(%q, %q) = %v, want %v", tt.child, tt.parent, got, tt.want)
		}
	}
}

// benchRange is a range of n entries where only the last one matches.
func benchRange(b *testing.B, n int) (*Scenario, *dns.Msg) {
	var sb strings.Builder
	sb.WriteString("CONFIG_END\nSCENARIO_BEGIN bench\nRANGE_BEGIN 0 100\n")
	for i := range n {
		name := "other" + string(rune('a'+i%26)) + ".example.com."
		if i == n-1 {
			name = "www.example.com."
		}
		sb.WriteString("ENTRY_BEGIN\nMATCH opcode qtype qname\nADJUST copy_id\nREPLY QR AA NOERROR\nSECTION QUESTION\n" +
			name + " IN A\nSECTION ANSWER\n" + name + " IN A 192.0.2.1\nENTRY_END\n")
	}
	sb.WriteString("RANGE_END\nSCENARIO_END\n")
	sc, err := Parse("bench.rpl", strings.NewReader(sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	q := new(dns.Msg).SetQuestion("WWW.example.com.", dns.TypeA)
	return sc, q
}

// BenchmarkMatchEntry measures finding the answering entry among 32, the
// per-query work of the transport; it must not allocate.
func BenchmarkMatchEntry(b *testing.B) {
	sc, q := benchRange(b, 32)
	rt := newRunState(sc, Options{})
	server := netip.MustParseAddrPort("192.0.2.53:53")
	b.ReportAllocs()
	for b.Loop() {
		if rt.rangeEntry(server, q, false, 1) == nil {
			b.Fatal("no match")
		}
	}
}

// BenchmarkSameRRs compares two 8-record sections in reverse order.
func BenchmarkSameRRs(b *testing.B) {
	var got, want []dns.RR
	for i := range 8 {
		rr, _ := dns.NewRR("www.example.com. 300 IN A 192.0.2." + string(rune('1'+i)))
		got = append(got, rr)
		want = append([]dns.RR{dns.Copy(rr)}, want...)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !sameRRs(got, want, true) {
			b.Fatal("differ")
		}
	}
}

// BenchmarkExchange measures a whole scripted upstream exchange: the wire
// round trip of the query, matching, ADJUST and the reply's wire round
// trip. It allocates (messages are copied as a network would); it is
// reported for scale, not as a hot path.
func BenchmarkExchange(b *testing.B) {
	sc, q := benchRange(b, 32)
	rt := newRunState(sc, Options{MaxExchanges: 1 << 62})
	server := netip.MustParseAddrPort("192.0.2.53:53")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rt.Exchange(ctx, server, q, false); err != nil {
			b.Fatal(err)
		}
	}
}

func TestMatchEntryAllocs(t *testing.T) {
	sc, err := Parse("a.rpl", strings.NewReader("CONFIG_END\nSCENARIO_BEGIN a\nRANGE_BEGIN 0 1\nENTRY_BEGIN\nMATCH all ttl\nSECTION QUESTION\nx. IN A\nSECTION ANSWER\nx. IN A 192.0.2.1\nx. IN A 192.0.2.2\nENTRY_END\nRANGE_END\nSCENARIO_END\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := sc.Ranges[0].Entries[0]
	got := msgOf(t, "x.", dns.TypeA, func(m *dns.Msg) { m.Response, m.RecursionAvailable = false, false },
		"an: x. 3600 IN A 192.0.2.2", "an: x. 3600 IN A 192.0.2.1")
	if allocs := testing.AllocsPerRun(100, func() {
		if mm := e.mismatch(got, false); mm != mmNone {
			t.Fatal(describe(mm, e, got, false))
		}
	}); allocs != 0 {
		t.Errorf("mismatch allocates %v times per call", allocs)
	}
}

func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/*.rpl", "testdata/parse/*.rpl"} {
		files, _ := filepath.Glob(pattern)
		for _, name := range files {
			data, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte("CONFIG_END\nSCENARIO_BEGIN x\nSTEP 1 QUERY\nENTRY_BEGIN\nRAW\n00\nENTRY_END\nSCENARIO_END\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := Parse("fuzz.rpl", strings.NewReader(string(data)))
		if err != nil {
			if _, ok := err.(*srcpos.Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		// Whatever parses must be usable: every scripted message packs.
		for _, r := range sc.Ranges {
			for _, e := range r.Entries {
				for _, p := range e.Packets {
					if p.Raw == nil {
						if _, err := p.Msg.Copy().Pack(); err != nil {
							t.Fatalf("entry at line %d does not pack: %v", e.Line, err)
						}
					}
				}
			}
		}
	})
}

// FuzzRun runs whatever parses against the fake resolver (or, without
// root hints, a forwarder), so that matching, ADJUST and the step driver
// meet arbitrary entries.
func FuzzRun(f *testing.F) {
	for _, pattern := range []string{"testdata/*.rpl", "testdata/parse/*.rpl"} {
		files, _ := filepath.Glob(pattern)
		for _, name := range files {
			data, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	forwarder := func(env Env) (Resolver, error) {
		if len(env.RootHints) > 0 {
			return newFakeResolver(env)
		}
		return resolverFunc(func(ctx context.Context, q *dns.Msg) *dns.Msg {
			m, err := env.Transport.Exchange(ctx, netip.MustParseAddrPort("192.0.2.1:53"), q, false)
			if err != nil {
				return new(dns.Msg).SetRcode(q, dns.RcodeServerFailure)
			}
			return m
		}), nil
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := Parse("fuzz.rpl", strings.NewReader(string(data)))
		if err != nil {
			return
		}
		res := sc.Run(context.Background(), forwarder, Options{StepTimeout: 5 * time.Second})
		if res.Status != Passed && res.Status != Failed && res.Status != Skipped {
			t.Fatalf("invalid status %v", res)
		}
		if res.Status != Passed && res.Reason == "" {
			t.Fatalf("%v without a reason", res.Status)
		}
	})
}

func TestMatchString(t *testing.T) {
	m := MatchOpcode | MatchClientCookie | MatchSerial | MatchEDE
	if got, want := m.String(), "opcode random_client_cookie serial ede"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestSameRRsHexCase: a DS digest written in upper case in a scenario and
// decoded from the wire in lower case is the same record; a different
// digest is not.
func TestSameRRsHexCase(t *testing.T) {
	want, _ := dns.NewRR("sub.example.com. 3600 IN DS 36540 5 1 040C7E6D3E183A894CDECC56F6A33086409692F2")
	got, _ := dns.NewRR("SUB.example.com. 300 IN DS 36540 5 1 040c7e6d3e183a894cdecc56f6a33086409692f2")
	other, _ := dns.NewRR("sub.example.com. 3600 IN DS 36540 5 1 040c7e6d3e183a894cdecc56f6a33086409692f3")
	if !sameRRs([]dns.RR{got}, []dns.RR{want}, false) {
		t.Error("the same DS in another hex case differs")
	}
	if sameRRs([]dns.RR{other}, []dns.RR{want}, false) {
		t.Error("another digest compares equal")
	}
}
