package resolver

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
	"pgregory.net/rapid"
)

func TestIsSubDomain(t *testing.T) {
	tests := []struct {
		child, parent string
		want          bool
	}{
		{"www.example.lab.", "example.lab.", true},
		{"example.lab.", "example.lab.", true},
		{"EXAMPLE.Lab.", "example.LAB.", true},
		{"lab.", "example.lab.", false},
		{"wwwexample.lab.", "example.lab.", false},
		{`x\.example.lab.`, "example.lab.", false},
		{`x\\.example.lab.`, "example.lab.", true},
		{`x\\\.example.lab.`, "example.lab.", false},
		{"anything.", ".", true},
		{".", ".", true},
		{".", "lab.", false},
		{"a.b.", "b.", true},
	}
	for _, tt := range tests {
		if got := isSubDomain(tt.child, tt.parent); got != tt.want {
			t.Errorf("isSubDomain(%q, %q) = %v, want %v", tt.child, tt.parent, got, tt.want)
		}
	}
}

func TestNameHelpers(t *testing.T) {
	parents := []struct{ in, want string }{
		{"www.example.lab.", "example.lab."}, {"lab.", "."}, {".", "."}, {`a\.b.lab.`, "lab."}, {`a\\.b.`, "b."},
	}
	for _, tt := range parents {
		if got := parentName(tt.in); got != tt.want {
			t.Errorf("parentName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	counts := []struct {
		in   string
		want int
	}{{".", 0}, {"lab.", 1}, {"www.example.lab.", 3}, {`a\.b.lab.`, 2}}
	for _, tt := range counts {
		if got := labelCount(tt.in); got != tt.want {
			t.Errorf("labelCount(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
	suffixes := []struct {
		in   string
		n    int
		want string
	}{{"a.b.c.lab.", 1, "lab."}, {"a.b.c.lab.", 3, "b.c.lab."}, {"a.b.c.lab.", 9, "a.b.c.lab."}, {"a.lab.", 0, "."}}
	for _, tt := range suffixes {
		if got := suffixLabels(tt.in, tt.n); got != tt.want {
			t.Errorf("suffixLabels(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
	if got := lowerASCII("WwW.Example.LAB."); got != "www.example.lab." {
		t.Errorf("lowerASCII = %q", got)
	}
}

// The minimisation schedule of RFC 9156 §2.3.
func TestNextLabels(t *testing.T) {
	tests := []struct{ have, target, count, want int }{
		{0, 3, 0, 1}, {1, 3, 1, 2}, {2, 3, 2, 3},
		{4, 20, 4, 6},   // (20-4)/(10-4) = 2 labels at once
		{4, 20, 10, 20}, // out of minimised queries
		{19, 20, 5, 20},
	}
	for _, tt := range tests {
		if got := nextLabels(tt.have, tt.target, tt.count); got != tt.want {
			t.Errorf("nextLabels(%d, %d, %d) = %d, want %d", tt.have, tt.target, tt.count, got, tt.want)
		}
	}
}

func genName() *rapid.Generator[string] {
	label := rapid.SampledFrom([]string{"a", "b", "A", "ab", "b-a", `a\.b`, `\\`, "x"})
	return rapid.Custom(func(t *rapid.T) string {
		labels := rapid.SliceOfN(label, 0, 5).Draw(t, "labels")
		if len(labels) == 0 {
			return "."
		}
		return strings.Join(labels, ".") + "."
	})
}

// isSubDomain agrees with miekg/dns, which is slower and allocates.
func TestIsSubDomainMatchesMiekg(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		child, parent := genName().Draw(t, "child"), genName().Draw(t, "parent")
		if rapid.Bool().Draw(t, "derive") {
			child = rapid.SampledFrom([]string{"a.", "x.b.", `a\..`, "A.b."}).Draw(t, "prefix") + parent
			if parent == "." {
				child = child[:len(child)-1]
			}
		}
		if got, want := isSubDomain(child, parent), dns.IsSubDomain(parent, child); got != want {
			t.Fatalf("isSubDomain(%q, %q) = %v, miekg says %v", child, parent, got, want)
		}
	})
}

func TestNameHelpersDoNotAllocate(t *testing.T) {
	n := testing.AllocsPerRun(100, func() {
		_ = isSubDomain("www.example.lab.", "Example.LAB.")
		_ = lowerASCII("www.example.lab.")
		_ = parentName("www.example.lab.")
		_ = equalName("WWW.example.lab.", "www.example.lab.")
	})
	if n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func BenchmarkIsSubDomain(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = isSubDomain("www.deep.example.lab.", "Example.LAB.")
	}
}

func TestCaseRestorer(t *testing.T) {
	cr := caseRestorer{sent: "wWw.eXaMple.LAB.", orig: "www.example.lab."}
	tests := []struct{ in, want string }{
		{"wWw.eXaMple.LAB.", "www.example.lab."},           // the question name itself
		{"mail.eXaMple.LAB.", "mail.example.lab."},         // compressed against a parent of the question
		{"ns.tld.LAB.", "ns.tld.lab."},                     // against the last label only
		{"mail.Example.Lab.", "mail.Example.Lab."},         // the zone's own spelling
		{"mail.example.lab.", "mail.example.lab."},         // nothing to restore
		{"x.neXaMple.LAB.", "x.neXaMple.lab."},             // "neXaMple" is no echo, but "LAB." is
		{"a\\.eXaMple.LAB.", "a\\.eXaMple.lab."},           // an escaped dot ends no label
		{"other.test.", "other.test."},                     // unrelated
		{".", "."},                                         // the root
		{"host.wWw.eXaMple.LAB.", "host.www.example.lab."}, // below the question name
	}
	for _, tt := range tests {
		if got := cr.restore(tt.in); got != tt.want {
			t.Errorf("restore(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// A suffix the randomisation left alone is not rewritten (no
	// allocation either).
	same := caseRestorer{sent: "WWW.example.lab.", orig: "www.example.lab."}
	if got := same.restore("mail.example.lab."); got != "mail.example.lab." {
		t.Errorf("got %q", got)
	}
	if n := testing.AllocsPerRun(100, func() { _ = cr.restore("mail.Example.Lab.") }); n != 0 {
		t.Errorf("restore of a name without an echo allocates %v times", n)
	}
}

func TestRestoreCaseSections(t *testing.T) {
	m := new(dns.Msg)
	m.SetQuestion("eXaMple.LAB.", dns.TypeMX)
	for _, s := range []string{"eXaMple.LAB. 60 IN MX 10 mail.eXaMple.LAB.", "eXaMple.LAB. 60 IN SOA ns1.eXaMple.LAB. h.eXaMple.LAB. 1 2 3 4 5",
		"x.eXaMple.LAB. 60 IN NSEC z.eXaMple.LAB. A", "eXaMple.LAB. 60 IN RRSIG MX 13 2 60 20260201000000 20260101000000 1 eXaMple.LAB. AAAA"} {
		m.Answer = append(m.Answer, mustRR(s))
	}
	m.Ns = append(m.Ns, mustRR("eXaMple.LAB. 60 IN NS ns1.eXaMple.LAB."))
	m.Extra = append(m.Extra, mustRR("ns1.eXaMple.LAB. 60 IN A 192.0.2.1"))
	caseRestorer{sent: "eXaMple.LAB.", orig: "example.lab."}.restoreCase(m)
	want := []string{
		"example.lab. 60 IN MX 10 mail.example.lab.",
		"example.lab. 60 IN SOA ns1.example.lab. h.example.lab. 1 2 3 4 5",
		// NSEC next names and RRSIG signer names are signed as written.
		"x.example.lab. 60 IN NSEC z.eXaMple.LAB. A",
		"example.lab. 60 IN RRSIG MX 13 2 60 20260201000000 20260101000000 1 eXaMple.LAB. AAAA",
		"example.lab. 60 IN NS ns1.example.lab.",
		"ns1.example.lab. 60 IN A 192.0.2.1",
	}
	var got []string
	for _, rr := range append(append(m.Answer, m.Ns...), m.Extra...) {
		got = append(got, strings.Join(strings.Fields(rr.String()), " "))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if m.Question[0].Name != "eXaMple.LAB." {
		t.Errorf("the question, which matching checks, was changed: %q", m.Question[0].Name)
	}
}
