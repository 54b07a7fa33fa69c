package dnssec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/srcpos"
)

func TestRootAnchors(t *testing.T) {
	// IANA's published root KSKs, as an Unbound auto-trust-anchor-file
	// holds them, must hash to the embedded DS digests.
	file, err := LoadAnchors(filepath.Join("testdata", "anchors", "root-autotrust.keys"))
	if err != nil {
		t.Fatal(err)
	}
	_, keys, ok := file.Lookup(".")
	if !ok || len(keys) != 2 {
		t.Fatalf("root keys %v", keys)
	}
	ds, _, ok := RootAnchors().Lookup(".")
	if !ok || len(ds) != 2 {
		t.Fatalf("embedded DS %v", ds)
	}
	for i, want := range []uint16{20326, 38696} {
		k := keys[i]
		if k.KeyTag() != want {
			t.Errorf("key %d has tag %d, want %d", i, k.KeyTag(), want)
		}
		if got := k.ToDS(dns.SHA256); got.KeyTag != ds[i].KeyTag || got.Algorithm != ds[i].Algorithm || !strings.EqualFold(got.Digest, ds[i].Digest) {
			t.Errorf("KSK %d: DS %v, embedded %v", want, got, ds[i])
		}
	}
	if z, ok := RootAnchors().Closest("www.example.com."); !ok || z != "." {
		t.Errorf("closest anchor %q %v", z, ok)
	}
}

func TestParseAnchors(t *testing.T) {
	a, err := LoadAnchors(filepath.Join("testdata", "anchors", "ds.anchors"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(a.Zones(), " "); got != ". example.lab. other." {
		t.Errorf("zones %q", got)
	}
	ds, _, _ := a.Lookup("EXAMPLE.lab")
	if len(ds) != 1 || ds[0].KeyTag != 12345 || ds[0].Digest != "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08" || ds[0].Hdr.Ttl != 86400 {
		t.Errorf("example.lab. DS %v", ds)
	}
	if ds, _, _ := a.Lookup("."); len(ds) != 1 {
		t.Errorf("root anchors not deduplicated: %v", ds)
	}
	if _, _, ok := a.Lookup("lab."); ok {
		t.Error("lab. has no anchor of its own")
	}
	for name, want := range map[string]string{"www.example.lab.": "example.lab.", "x.lab.": ".", "other.": "other.", "com.": "."} {
		if z, ok := a.Closest(name); !ok || z != want {
			t.Errorf("Closest(%s) = %q, want %q", name, z, want)
		}
	}
	v := New(Config{Anchors: a})
	if !v.HasAnchor("Example.Lab.") || v.HasAnchor("lab.") {
		t.Error("HasAnchor")
	}
	if z, ok := v.ClosestAnchor("a.b.example.lab."); !ok || z != "example.lab." {
		t.Errorf("ClosestAnchor %q", z)
	}
	// The validator took a copy.
	if err := a.Add(&dns.DS{Hdr: dns.RR_Header{Name: "lab.", Rrtype: dns.TypeDS, Class: dns.ClassINET}, KeyTag: 1, Algorithm: 13, DigestType: 2, Digest: strings.Repeat("AB", 32)}); err != nil {
		t.Fatal(err)
	}
	if v.HasAnchor("lab.") || !New(Config{Anchors: a}).HasAnchor("lab.") {
		t.Error("anchors not copied")
	}

	revoked, err := LoadAnchors(filepath.Join("testdata", "anchors", "revoked.anchors"))
	if err != nil {
		t.Fatal(err)
	}
	if _, keys, _ := revoked.Lookup("lab."); len(keys) != 1 || keys[0].Flags != 257 {
		t.Errorf("revoked key kept: %v", keys)
	}
	if New(Config{Anchors: NewAnchors()}).HasAnchor(".") {
		t.Error("an empty anchor set anchors the root")
	}
}

// TestParseAnchorsErrors: every problem of a trust-anchor file, each with
// its line and column.
func TestParseAnchorsErrors(t *testing.T) {
	tests := []struct {
		file string
		want string // FILE is the file's path
	}{
		{"bad-type.anchors", "FILE:3:1: trust anchor for lab.: type A, want DS or DNSKEY"},
		{"bad-digest.anchors", "FILE:3:1: trust anchor DS lab. 1: SHA256 digest has 8 octets, want 32"},
		{"include.anchors", "FILE:2:1: $INCLUDE is not allowed in a trust-anchor file"},
		{"syntax.anchors", `FILE:2:15: bad DS Algorithm: "eight"`},
		{"empty.anchors", "FILE: no trust anchors"},
		{"nozone.anchors", "FILE:2:1: trust anchor DNSKEY lab.: Zone Key flag not set (flags 1)"},
		{"many.anchors", "FILE:2:1: $GENERATE is not allowed in a trust-anchor file\n" +
			"FILE:3:1: trust anchor for lab.: class CH, want IN\n" +
			`FILE:4:17: bad DS DigestType: "x"` + "\n" +
			"FILE:6:3: trust anchor DS lab. 3: digest is not hex"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", "anchors", tt.file)
			_, err := LoadAnchors(path)
			var list srcpos.List
			if !errors.As(err, &list) {
				t.Fatalf("error %v is not a srcpos.List", err)
			}
			if want := strings.ReplaceAll(tt.want, "FILE", path); err.Error() != want {
				t.Errorf("error\n%v\nwant\n%s", err, want)
			}
		})
	}
	if _, err := LoadAnchors(filepath.Join("testdata", "anchors", "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := ParseAnchors(strings.NewReader(strings.Repeat(";", maxAnchorFile+1)), ""); err == nil || !strings.Contains(err.Error(), "<anchors>: larger than") {
		t.Errorf("huge file: %v", err)
	}
	for _, rr := range []string{
		"lab. CH DS 1 13 2 " + strings.Repeat("AB", 32),
		"lab. IN DS 1 13 2 XYZ",
		"lab. IN DNSKEY 257 2 13 SeKg9HeUNT2nNNabBdX8qZv22GnQAbKJNgurIYrnQLOrOjbqfWr1O6RyJJw1B2d5mcC9NkZxgkquIGdROvC9tQ==",
	} {
		r, err := dns.NewRR(rr)
		if err != nil {
			t.Fatal(err)
		}
		if err := NewAnchors().Add(r); err == nil {
			t.Errorf("%s accepted", rr)
		}
	}
}

// TestClosestFastPath: the allocation-free path for plain names finds the
// same anchor as the parsing one, for plain names and for names it leaves
// to the parser.
func TestClosestFastPath(t *testing.T) {
	a := NewAnchors()
	for _, z := range []string{".", "lab.", "example.lab.", "x-y_z.example.lab."} {
		if err := a.Add(&dns.DS{Hdr: dns.RR_Header{Name: z, Rrtype: dns.TypeDS, Class: dns.ClassINET}, KeyTag: 1, Algorithm: 13, DigestType: dns.SHA256, Digest: strings.Repeat("ab", 32)}); err != nil {
			t.Fatal(err)
		}
	}
	slow := func(s string) (string, bool) {
		var w, suffix name
		if !w.parse(s) {
			return "", false
		}
		for k := int(w.nl); k >= 0; k-- {
			suffix.setSuffix(&w, k)
			if _, ok := a.zones[suffix.String()]; ok {
				return suffix.String(), true
			}
		}
		return "", false
	}
	for _, s := range []string{".", "lab.", "LAB.", "c1.bench.lab.", "www.Example.LAB.", "a.x-y_z.example.lab.",
		"example.lab", "a..lab.", ".lab.", "a\\.b.lab.", "a b.lab.", strings.Repeat("a", 64) + ".lab.",
		strings.Repeat("a", 63) + ".lab.", "*.example.lab.", "com.", "xn--bcher-kva.example.lab."} {
		gz, gok := a.Closest(s)
		wz, wok := slow(s)
		if gz != wz || gok != wok {
			t.Errorf("Closest(%q) = %q, %v; the parser says %q, %v", s, gz, gok, wz, wok)
		}
	}
	if n := testing.AllocsPerRun(100, func() { a.Closest("c1.bench.lab.") }); n != 0 {
		t.Errorf("Closest allocates %v times for a plain lower-case name", n)
	}
}
