package resolver

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestDefaultRootHints(t *testing.T) {
	hints := DefaultRootHints()
	count := map[uint16]int{}
	have := map[string]bool{}
	for _, rr := range hints {
		count[rr.Header().Rrtype]++
		have[strings.ReplaceAll(rr.String(), "\t", " ")] = true
	}
	if count[dns.TypeNS] != 13 || count[dns.TypeA] != 13 || count[dns.TypeAAAA] != 13 {
		t.Errorf("counts %v", count)
	}
	for _, want := range []string{
		". 3600000 IN NS a.root-servers.net.",
		"a.root-servers.net. 3600000 IN A 198.41.0.4",
		"a.root-servers.net. 3600000 IN AAAA 2001:503:ba3e::2:30",
		"b.root-servers.net. 3600000 IN A 170.247.170.2",
		"b.root-servers.net. 3600000 IN AAAA 2801:1b8:10::b",
		"m.root-servers.net. 3600000 IN A 202.12.27.33",
		"m.root-servers.net. 3600000 IN AAAA 2001:dc3::35",
	} {
		if !have[want] {
			t.Errorf("missing %q", want)
		}
	}
	// Callers get their own copy.
	hints[0].Header().Ttl = 1
	if DefaultRootHints()[0].Header().Ttl == 1 {
		t.Error("DefaultRootHints shares records")
	}
}

func TestParseRootHintsFiles(t *testing.T) {
	tests := []struct {
		file string
		want []string
		err  string
	}{
		{file: "lab.root", want: []string{
			". 3600000 IN NS a.root.lab.",
			". 3600000 IN NS b.root.lab.",
			"a.root.lab. 3600000 IN A 10.53.0.1",
			"a.root.lab. 3600000 IN AAAA fd00:53::1",
			"b.root.lab. 3600000 IN A 10.53.0.2",
		}},
		{file: "noaddr.root", err: "noaddr.root:2: name server b.root.lab. has no address"},
	}
	for _, tt := range tests {
		path := filepath.Join("testdata", "roothints", tt.file)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		rrs, err := ParseRootHints(tt.file, f)
		f.Close()
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%s: err = %v, want %q", tt.file, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		var got []string
		for _, rr := range rrs {
			got = append(got, strings.ReplaceAll(rr.String(), "\t", " "))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s:\n got %q\nwant %q", tt.file, got, tt.want)
		}
	}
}

func TestParseRootHintsErrors(t *testing.T) {
	ns := ". 1 NS a.root.lab.\n"
	tests := []struct {
		name, in, err string
	}{
		{"empty", "; nothing\n", "hints: no NS records for the root"},
		{"directive", "$TTL 3600\n", "hints:1:1: directive $TTL is not allowed in root hints"},
		{"parentheses", ". 1 SOA ( a b )\n", "hints:1:9: parentheses and quotes are not allowed in root hints"},
		{"bad owner", "a..b 1 NS x.\n", `hints:1:1: bad domain name "a..b"`},
		{"bad TTL", ". 99999999999 NS a.root.lab.\n", `hints:1:3: bad TTL "99999999999"`},
		{"NS not at root", "lab. 1 NS a.root.lab.\n", "hints:1:8: NS record for lab.: root hints hold only the root's name servers"},
		{"bad type", ". 1 MX 10 a.\n", `hints:1:5: record type "MX" is not allowed in root hints (NS, A, AAAA)`},
		{"missing type", ". 1 IN\n", "hints:1:7: missing record type"},
		{"missing data", ". 1 NS\n", "hints:1:7: missing data for NS record"},
		{"extra data", ". 1 NS a.root.lab. extra\n", `hints:1:20: unexpected "extra" after the record data`},
		{"bad address", ns + "a.root.lab. 1 A 10.0.0\n", `hints:2:17: bad address "10.0.0"`},
		{"IPv6 in A", ns + "a.root.lab. 1 A fd00::1\n", `hints:2:17: A record with non-IPv4 address "fd00::1"`},
		{"IPv4 in AAAA", ns + "a.root.lab. 1 AAAA 10.0.0.1\n", `hints:2:20: AAAA record with non-IPv6 address "10.0.0.1"`},
		{"address of a stranger", ns + "x.lab. 1 A 10.0.0.1\n", "hints:2:1: address for x.lab., which is not a root name server named above"},
		{"continuation first", "  1 NS a.\n", "hints:1:1: record without an owner name"},
		{"long line", ns + strings.Repeat("x", maxHintsLine+1) + "\n", "hints:2: bufio.Scanner: token too long"},
		{"every problem", ns + "a.root.lab. 1 A 10.0.0\n. 1 MX 10 a.\na.root.lab. 1 AAAA 10.0.0.1\n",
			"hints:2:17: bad address \"10.0.0\"\n" +
				"hints:3:5: record type \"MX\" is not allowed in root hints (NS, A, AAAA)\n" +
				"hints:4:20: AAAA record with non-IPv6 address \"10.0.0.1\""},
		{"two servers without addresses", ns + ". 1 NS b.root.lab.\n",
			"hints:1: name server a.root.lab. has no address\nhints:2: name server b.root.lab. has no address"},
	}
	for _, tt := range tests {
		_, err := ParseRootHints("hints", strings.NewReader(tt.in))
		if err == nil || err.Error() != tt.err {
			t.Errorf("%s: err = %v\nwant %q", tt.name, err, tt.err)
		}
	}
}

func FuzzParseRootHints(f *testing.F) {
	// The first servers of named.root only: the fuzzing engine crawls on a
	// seed of the whole file.
	f.Add(string(namedRoot[:bytes.Index(namedRoot, []byte("; FORMERLY TERP"))]))
	for _, name := range []string{"lab.root", "noaddr.root"} {
		b, err := os.ReadFile(filepath.Join("testdata", "roothints", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add(". 1 NS a.\na. 1 A 10.0.0.1\n")
	f.Fuzz(func(t *testing.T, in string) {
		rrs, err := ParseRootHints("fuzz", strings.NewReader(in))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if len(rrs) == 0 {
			t.Fatal("no records and no error")
		}
		for _, rr := range rrs {
			switch rr := rr.(type) {
			case *dns.NS:
				if rr.Hdr.Name != "." {
					t.Fatalf("NS not at the root: %v", rr)
				}
			case *dns.A, *dns.AAAA:
			default:
				t.Fatalf("unexpected record %v", rr)
			}
		}
	})
}
