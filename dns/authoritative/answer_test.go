package authoritative

import (
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// testServers builds one server per zone set the tables name.
func testServers(t testing.TB) map[string]*Server {
	t.Helper()
	root := mustLoad(t, "root.zone", ".")
	lab := mustLoad(t, "lab.zone", "lab.")
	example := mustLoad(t, "example.lab.zone", "example.lab.")
	sets := map[string][]*Zone{
		"root":    {root},
		"lab":     {lab},
		"example": {example},
		"all":     {root, lab, example},
	}
	out := make(map[string]*Server)
	for name, zones := range sets {
		s, err := New(Config{Zones: zones})
		if err != nil {
			t.Fatal(err)
		}
		out[name] = s
	}
	return out
}

// rrText is a record as "owner ttl TYPE rdata", the class left out.
func rrText(rr dns.RR) string {
	f := strings.Fields(rr.String())
	if len(f) > 2 && f[2] == "IN" {
		f = append(f[:2], f[3:]...)
	}
	return strings.Join(f, " ")
}

func sectionText(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		out = append(out, rrText(rr))
	}
	slices.Sort(out)
	return out
}

type query struct {
	name  string
	qtype uint16
	edns  uint16 // 0: no OPT
	do    bool
	tcp   bool
}

func (q query) pack(t testing.TB) []byte {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(q.name, q.qtype)
	m.RecursionDesired = false
	if q.edns > 0 || q.do {
		size := q.edns
		if size == 0 {
			size = 4096
		}
		m.SetEdns0(size, q.do)
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func exchange(t testing.TB, s *Server, q query) *dns.Msg {
	t.Helper()
	req := q.pack(t)
	out := s.Handle(req, q.tcp, make([]byte, dns.MaxMsgSize))
	if out == nil {
		t.Fatalf("%s %s: no response", q.name, dns.TypeToString[q.qtype])
	}
	limit := 512
	switch {
	case q.tcp:
		limit = dns.MaxMsgSize
	case q.edns > 0:
		limit = max(512, min(int(q.edns), s.cfg.MaxUDPSize))
	}
	if len(out) > limit {
		t.Errorf("response of %d bytes over a %d byte limit", len(out), limit)
	}
	resp := new(dns.Msg)
	if err := resp.Unpack(out); err != nil {
		t.Fatalf("response does not unpack: %v", err)
	}
	if !resp.Response {
		t.Errorf("QR not set")
	}
	return resp
}

func TestAnswer(t *testing.T) {
	servers := testServers(t)
	const (
		noerr = dns.RcodeSuccess
		nx    = dns.RcodeNameError
	)
	labNS := []string{"example.lab. 3600 NS ns1.example.lab.", "example.lab. 3600 NS ns2.example.lab."}
	labGlue := []string{"ns1.example.lab. 3600 A 10.0.2.53", "ns1.example.lab. 3600 AAAA fd00:2::53", "ns2.example.lab. 3600 A 10.0.2.54"}
	exSOA := []string{"example.lab. 300 SOA ns1.example.lab. hostmaster.example.lab. 2024010101 7200 3600 1209600 300"}
	labSOA := []string{"lab. 600 SOA ns.lab. hostmaster.lab. 2024010101 7200 3600 1209600 600"}
	rootSOA := []string{". 3600 SOA a.root-servers.lab. hostmaster.lab. 2024010101 1800 900 604800 3600"}
	tests := []struct {
		name    string
		server  string
		q       query
		rcode   int
		aa, tc  bool
		answer  []string
		ns      []string
		extra   []string
		nAnswer int // when answer is nil: just the count
	}{
		// The root zone.
		{name: "root referral", server: "root", q: query{name: "www.example.lab.", qtype: dns.TypeA},
			ns:    []string{"lab. 86400 NS ns.lab."},
			extra: []string{"ns.lab. 86400 A 10.0.1.53", "ns.lab. 86400 AAAA fd00:1::53"}},
		{name: "root referral for the cut itself", server: "root", q: query{name: "lab.", qtype: dns.TypeNS},
			ns:    []string{"lab. 86400 NS ns.lab."},
			extra: []string{"ns.lab. 86400 A 10.0.1.53", "ns.lab. 86400 AAAA fd00:1::53"}},
		{name: "root SOA", server: "root", q: query{name: ".", qtype: dns.TypeSOA}, aa: true,
			answer: []string{". 86400 SOA a.root-servers.lab. hostmaster.lab. 2024010101 1800 900 604800 3600"}},
		{name: "root NXDOMAIN", server: "root", q: query{name: "nope.", qtype: dns.TypeA}, rcode: nx, aa: true, ns: rootSOA},
		{name: "DS of lab. from root: none", server: "root", q: query{name: "lab.", qtype: dns.TypeDS}, aa: true, ns: rootSOA},

		// The TLD.
		{name: "TLD referral with glue", server: "lab", q: query{name: "www.example.lab.", qtype: dns.TypeA}, ns: labNS, extra: labGlue},
		{name: "TLD referral, NS query at the cut", server: "lab", q: query{name: "example.lab.", qtype: dns.TypeNS}, ns: labNS, extra: labGlue},
		{name: "glueless referral", server: "lab", q: query{name: "x.glueless.lab.", qtype: dns.TypeA},
			ns: []string{"glueless.lab. 3600 NS ns.example.lab."}},
		{name: "DS from the parent side", server: "lab", q: query{name: "example.lab.", qtype: dns.TypeDS}, aa: true,
			answer: []string{"example.lab. 3600 DS 12345 13 2 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"}},
		{name: "DS below a cut is a referral", server: "lab", q: query{name: "a.example.lab.", qtype: dns.TypeDS}, ns: labNS, extra: labGlue},
		{name: "TLD host", server: "lab", q: query{name: "host.lab.", qtype: dns.TypeA}, aa: true, answer: []string{"host.lab. 3600 A 10.0.1.10"}},
		{name: "TLD NODATA", server: "lab", q: query{name: "host.lab.", qtype: dns.TypeAAAA}, aa: true, ns: labSOA},
		{name: "TLD NXDOMAIN", server: "lab", q: query{name: "nope.lab.", qtype: dns.TypeA}, rcode: nx, aa: true, ns: labSOA},
		{name: "TLD ENT", server: "lab", q: query{name: "root-servers.lab.", qtype: dns.TypeA}, aa: true, ns: labSOA},

		// The example zone.
		{name: "exact", server: "example", q: query{name: "www.example.lab.", qtype: dns.TypeA}, aa: true,
			answer: []string{"www.example.lab. 3600 A 10.0.2.80"}},
		{name: "exact, mixed case", server: "example", q: query{name: "WwW.ExAmple.LAB.", qtype: dns.TypeAAAA}, aa: true,
			answer: []string{"www.example.lab. 3600 AAAA fd00:2::80"}},
		{name: "apex MX with additional", server: "example", q: query{name: "example.lab.", qtype: dns.TypeMX}, aa: true,
			answer: []string{"example.lab. 3600 MX 10 mail.example.lab."},
			extra:  []string{"mail.example.lab. 3600 A 10.0.2.25"}},
		{name: "apex NS with additional", server: "example", q: query{name: "example.lab.", qtype: dns.TypeNS}, aa: true,
			answer: []string{"example.lab. 3600 NS ns1.example.lab.", "example.lab. 3600 NS ns2.example.lab."},
			extra:  labGlue},
		{name: "apex TXT", server: "example", q: query{name: "example.lab.", qtype: dns.TypeTXT}, aa: true,
			answer: []string{`example.lab. 3600 TXT "v=spf1 -all"`}},
		{name: "SRV with additional", server: "example", q: query{name: "_sip._udp.example.lab.", qtype: dns.TypeSRV}, aa: true,
			answer: []string{"_sip._udp.example.lab. 3600 SRV 0 5 5060 www.example.lab."},
			extra:  []string{"www.example.lab. 3600 A 10.0.2.80", "www.example.lab. 3600 AAAA fd00:2::80"}},
		{name: "CNAME followed in zone", server: "example", q: query{name: "alias.example.lab.", qtype: dns.TypeA}, aa: true,
			answer: []string{"alias.example.lab. 3600 CNAME www.example.lab.", "www.example.lab. 3600 A 10.0.2.80"}},
		{name: "CNAME asked for", server: "example", q: query{name: "alias.example.lab.", qtype: dns.TypeCNAME}, aa: true,
			answer: []string{"alias.example.lab. 3600 CNAME www.example.lab."}},
		{name: "CNAME to an unserved zone", server: "example", q: query{name: "to-lab.example.lab.", qtype: dns.TypeA}, aa: true,
			answer: []string{"to-lab.example.lab. 3600 CNAME host.lab."}},
		{name: "CNAME outside", server: "example", q: query{name: "outside.example.lab.", qtype: dns.TypeA}, aa: true,
			answer: []string{"outside.example.lab. 3600 CNAME www.example.com."}},
		{name: "CNAME loop stops", server: "example", q: query{name: "loop1.example.lab.", qtype: dns.TypeA}, aa: true,
			answer: []string{"loop1.example.lab. 3600 CNAME loop2.example.lab.", "loop2.example.lab. 3600 CNAME loop1.example.lab."}},
		{name: "wildcard", server: "example", q: query{name: "x.wild.example.lab.", qtype: dns.TypeA}, aa: true,
			answer: []string{"x.wild.example.lab. 3600 A 10.0.2.99"}},
		{name: "wildcard, two labels down", server: "example", q: query{name: "x.y.wild.example.lab.", qtype: dns.TypeTXT}, aa: true,
			answer: []string{`x.y.wild.example.lab. 3600 TXT "synthesised"`}},
		{name: "wildcard NODATA", server: "example", q: query{name: "x.wild.example.lab.", qtype: dns.TypeMX}, aa: true, ns: exSOA},
		{name: "wildcard owner asked directly", server: "example", q: query{name: "*.wild.example.lab.", qtype: dns.TypeA}, aa: true,
			answer: []string{"*.wild.example.lab. 3600 A 10.0.2.99"}},
		{name: "parent of a wildcard is an ENT", server: "example", q: query{name: "wild.example.lab.", qtype: dns.TypeA}, aa: true, ns: exSOA},
		{name: "wildcard CNAME", server: "example", q: query{name: "foo.cname.example.lab.", qtype: dns.TypeA}, aa: true,
			answer: []string{"foo.cname.example.lab. 3600 CNAME www.example.lab.", "www.example.lab. 3600 A 10.0.2.80"}},
		{name: "ENT", server: "example", q: query{name: "ent.example.lab.", qtype: dns.TypeA}, aa: true, ns: exSOA},
		{name: "ENT two deep", server: "example", q: query{name: "b.ent.example.lab.", qtype: dns.TypeTXT}, aa: true, ns: exSOA},
		{name: "below an ENT", server: "example", q: query{name: "c.ent.example.lab.", qtype: dns.TypeA}, rcode: nx, aa: true, ns: exSOA},
		{name: "ENT of an SRV", server: "example", q: query{name: "_udp.example.lab.", qtype: dns.TypeA}, aa: true, ns: exSOA},
		{name: "NODATA", server: "example", q: query{name: "www.example.lab.", qtype: dns.TypeMX}, aa: true, ns: exSOA},
		{name: "NXDOMAIN", server: "example", q: query{name: "nope.example.lab.", qtype: dns.TypeA}, rcode: nx, aa: true, ns: exSOA},
		{name: "in-zone delegation", server: "example", q: query{name: "www.sub.example.lab.", qtype: dns.TypeA},
			ns:    []string{"sub.example.lab. 3600 NS ns.sub.example.lab."},
			extra: []string{"ns.sub.example.lab. 3600 A 10.0.2.60"}},
		{name: "outside every zone", server: "example", q: query{name: "www.example.com.", qtype: dns.TypeA}, rcode: dns.RcodeRefused},
		{name: "parent of the zone", server: "example", q: query{name: "lab.", qtype: dns.TypeNS}, rcode: dns.RcodeRefused},
		{name: "DS at the apex without the parent", server: "example", q: query{name: "example.lab.", qtype: dns.TypeDS}, aa: true, ns: exSOA},
		{name: "ANY over UDP: one RRset", server: "example", q: query{name: "example.lab.", qtype: dns.TypeANY}, aa: true,
			answer: []string{"example.lab. 3600 NS ns1.example.lab.", "example.lab. 3600 NS ns2.example.lab."}},
		{name: "ANY over TCP: everything", server: "example", q: query{name: "example.lab.", qtype: dns.TypeANY, tcp: true}, aa: true, nAnswer: 5},
		{name: "ANY at an ENT", server: "example", q: query{name: "ent.example.lab.", qtype: dns.TypeANY}, aa: true, ns: exSOA},
		{name: "big RRset, no EDNS: TC", server: "example", q: query{name: "big.example.lab.", qtype: dns.TypeTXT}, aa: true, tc: true},
		{name: "big RRset, EDNS over server max: TC", server: "example", q: query{name: "big.example.lab.", qtype: dns.TypeTXT, edns: 4096}, aa: true, tc: true},
		{name: "big RRset over TCP", server: "example", q: query{name: "big.example.lab.", qtype: dns.TypeTXT, tcp: true}, aa: true, nAnswer: 8},
		{name: "EDNS answer", server: "example", q: query{name: "www.example.lab.", qtype: dns.TypeA, edns: 1232}, aa: true,
			answer: []string{"www.example.lab. 3600 A 10.0.2.80"}},

		// All three zones on one server.
		{name: "all: longest match wins", server: "all", q: query{name: "www.example.lab.", qtype: dns.TypeA}, aa: true,
			answer: []string{"www.example.lab. 3600 A 10.0.2.80"}},
		{name: "all: DS from the parent zone", server: "all", q: query{name: "example.lab.", qtype: dns.TypeDS}, aa: true,
			answer: []string{"example.lab. 3600 DS 12345 13 2 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"}},
		{name: "all: NS at the child apex", server: "all", q: query{name: "example.lab.", qtype: dns.TypeNS}, aa: true,
			answer: []string{"example.lab. 3600 NS ns1.example.lab.", "example.lab. 3600 NS ns2.example.lab."},
			extra:  labGlue},
		{name: "all: CNAME into another served zone", server: "all", q: query{name: "to-lab.example.lab.", qtype: dns.TypeA}, aa: true,
			answer: []string{"to-lab.example.lab. 3600 CNAME host.lab.", "host.lab. 3600 A 10.0.1.10"}},
		{name: "all: glueless referral", server: "all", q: query{name: "x.glueless.lab.", qtype: dns.TypeA},
			ns: []string{"glueless.lab. 3600 NS ns.example.lab."}},
		{name: "all: com. is NXDOMAIN at the root", server: "all", q: query{name: "www.example.com.", qtype: dns.TypeA}, rcode: nx, aa: true, ns: rootSOA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := exchange(t, servers[tt.server], tt.q)
			if resp.Rcode != tt.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.rcode])
			}
			if resp.Authoritative != tt.aa {
				t.Errorf("AA %v, want %v", resp.Authoritative, tt.aa)
			}
			if resp.Truncated != tt.tc {
				t.Errorf("TC %v, want %v", resp.Truncated, tt.tc)
			}
			if len(resp.Question) != 1 || resp.Question[0].Name != tt.q.name {
				t.Errorf("question %v, want %s echoed as asked", resp.Question, tt.q.name)
			}
			if (tt.q.edns > 0) != (resp.IsEdns0() != nil) {
				t.Errorf("OPT %v for a query with EDNS size %d", resp.IsEdns0(), tt.q.edns)
			}
			if tt.answer == nil && tt.nAnswer > 0 {
				if len(resp.Answer) != tt.nAnswer {
					t.Errorf("%d answers, want %d", len(resp.Answer), tt.nAnswer)
				}
			} else {
				checkSection(t, "answer", resp.Answer, tt.answer)
			}
			checkSection(t, "authority", resp.Ns, tt.ns)
			checkSection(t, "additional", resp.Extra, tt.extra)
		})
	}
}

func checkSection(t *testing.T, section string, got []dns.RR, want []string) {
	t.Helper()
	g := sectionText(got)
	w := slices.Clone(want)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("%s section:\n got  %q\n want %q", section, g, w)
	}
}
