package lab_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rampart-fw/rampart/lab"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// demoResults are the results of a real demo run, with the long lines a
// demo produces (captures in deep folders, error texts, the answers after
// an attack).
func demoResults() []lab.Result {
	return []lab.Result{
		{Scenario: "connectivity", Tried: "TCP echo client1 → web (IPv4)", Defence: "gateway routes (kernel)", Outcome: "1000 bytes echoed in 617µs", OK: true},
		{Scenario: "connectivity", Tried: "UDP echo client1 → web (IPv6)", Defence: "gateway routes (kernel)", Outcome: "200 bytes echoed in 89µs", OK: true},
		{Scenario: "connectivity", Tried: "capture on gw wan", Defence: "-", Outcome: "24 frames, 20 TCP and 4 UDP echo packets of client1 seen", OK: true,
			Details: []string{"capture: /tmp/rampart-demo-534093607/a-folder-with-a-very-long-name-that-does-not-fit-on-one-line-of-the-report/connectivity-gw-wan.pcap"}},
		{Scenario: "dns", Tried: "cold lookup www.example.lab A from client1", Defence: "resolver walks root → lab. → example.lab.", Outcome: "203.0.113.80 in 4.177ms", OK: true},
		{Scenario: "dns", Kind: lab.Defence, Tried: "attacker uses the resolver (open resolver?)", Defence: "ACL: inside networks only", Outcome: "answered REFUSED with 0 records", OK: true},
		{Scenario: "firewall", Tried: "attacker connects to client2:22", Defence: "allow ssh", Outcome: "connected", OK: true},
		{Scenario: "firewall", Kind: lab.Defence, Tried: "attacker connects to client2:23", Defence: "default deny incoming", Outcome: "timeout", OK: true},
		{Scenario: "firewall", Kind: lab.Defence, Tried: "attacker connects to client2:8080", Defence: "reject (TCP RST)", Outcome: "refused", OK: true},
		{Scenario: "kaminsky", Kind: lab.Defence,
			Tried:   "off-path Kaminsky flood against the default resolver: 4447 rounds, 287840 spoofed responses in 10.011s (28752/s)",
			Defence: "random source port, random ID, 0x20, near-miss → TCP, DNSSEC", Outcome: "not poisoned", OK: true,
			Details: []string{"www.example.lab. A → www.example.lab. 203.0.113.80", "ns1.example.lab. A → ns1.example.lab. 203.0.113.30"}},
		{Scenario: "kaminsky-weak", Kind: lab.Proof,
			Tried:   "off-path Kaminsky flood against the weakened resolver (fixed port 33333, no 0x20, no DNSSEC): 8285 rounds, 263552 spoofed responses in 9.672s (27248/s)",
			Defence: "ID only (16 bits)", OK: true,
			Outcome: "POISONED: nra9hi.example.lab. cached with the attacker's address (race won in round 8285 after 9.672s); the delegation held",
			Details: []string{"www.example.lab. A → www.example.lab. 203.0.113.80", "nra9hi.example.lab. A → nra9hi.example.lab. 198.51.100.66"}},
		{Scenario: "bailiwick", Kind: lab.Defence,
			Tried:   "malicious server for evil.lab. sends out-of-bailiwick records for example.lab. to the weakened resolver (--lab-weaken-bailiwick: no bailiwick check) that validates DNSSEC (1 query answered)",
			Defence: "DNSSEC only (example.lab. is signed)", OK: true,
			Collateral: "legitimate names stopped resolving: www.example.lab. → SERVFAIL (EDE 9 DNSKEY Missing); ns1.example.lab. → SERVFAIL (EDE 9 DNSKEY Missing)",
			Outcome:    "not poisoned (www.evil.lab → www.evil.lab. 198.51.100.66); but legitimate names stopped resolving: www.example.lab. → SERVFAIL (EDE 9 DNSKEY Missing); ns1.example.lab. → SERVFAIL (EDE 9 DNSKEY Missing)",
			Details:    []string{"www.example.lab. A → SERVFAIL (EDE 9 DNSKEY Missing)", "ns1.example.lab. A → SERVFAIL (EDE 9 DNSKEY Missing)"}},
	}
}

func TestWriteReport(t *testing.T) {
	var buf bytes.Buffer
	if ok := lab.WriteReport(&buf, demoResults()); !ok {
		t.Error("WriteReport: not every outcome expected, want all")
	}
	out := buf.String()
	golden := filepath.Join("testdata", "report.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("report differs from %s (go test -run TestWriteReport -update rewrites it):\n%s", golden, out)
	}
	assertWidth(t, out)
	for _, want := range []string{
		`"ok" means the outcome was the expected one`,
		"expected the attack works: this target is weakened on purpose",
		// The collateral damage is in the row itself, beside "not poisoned".
		"outcome not poisoned (www.evil.lab → www.evil.lab. 198.51.100.66); but legitimate names stopped resolving: www.example.lab. → SERVFAIL (EDE 9 DNSKEY Missing)",
		"5 of 5 checks of traffic that must pass passed; 1 of 1 attacks that must work (on targets weakened on purpose) worked.",
	} {
		if !strings.Contains(flat(out), want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	for _, want := range []string{
		"Summary: 4 of 5 defences held; not held:\n" +
			"  - bailiwick #1, DNSSEC only (example.lab. is signed): held only partly: the attack was stopped,\n" +
			"    but legitimate names stopped resolving: www.example.lab. → SERVFAIL (EDE 9 DNSKEY Missing);\n",
		"Every outcome (11 of 11) was the expected one.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if !strings.HasSuffix(out, "Every outcome (11 of 11) was the expected one.\n") {
		t.Errorf("report does not end with the summary:\n%s", out)
	}
}

// An inconclusive or failed line makes the report fail and is named in
// the summary.
func TestWriteReportNotExpected(t *testing.T) {
	rs := demoResults()
	rs[8].OK, rs[8].Inconclusive = false, true
	rs[8].Outcome = "inconclusive: the check after the attack got no answer: www.example.lab. A: read udp 10.10.0.12:41234->10.10.0.53:53: read: connection refused"
	rs[6].OK, rs[6].Outcome = false, "connected"
	rs[9].OK, rs[9].Outcome = false, "not poisoned"
	var buf bytes.Buffer
	if lab.WriteReport(&buf, rs) {
		t.Error("WriteReport: all expected, want not")
	}
	out := buf.String()
	assertWidth(t, out)
	for _, want := range []string{
		"kaminsky\n  #1  INCONCLUSIVE  off-path Kaminsky flood",
		"Summary: 2 of 5 defences held; not held:\n",
		"  - firewall #2, default deny incoming: the attack worked: connected\n",
		"  - kaminsky #1, random source port, random ID, 0x20, near-miss → TCP, DNSSEC: inconclusive\n",
		"on purpose) worked. 8 of 11 outcomes were the expected ones; not:\n  - firewall #2: FAILED\n  - kaminsky #1: INCONCLUSIVE\n  - kaminsky-weak #1: FAILED\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// flat is the report with every run of spaces and line breaks made one
// space: phrases wrapped over two lines still match.
func flat(s string) string { return strings.Join(strings.Fields(s), " ") }

func assertWidth(t *testing.T, report string) {
	t.Helper()
	for i, l := range strings.Split(report, "\n") {
		if n := utf8.RuneCountInString(l); n > lab.ReportWidth {
			t.Errorf("line %d is %d columns wide, over %d: %q", i+1, n, lab.ReportWidth, l)
		}
	}
}
