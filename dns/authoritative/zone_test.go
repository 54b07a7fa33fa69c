package authoritative

import (
	"bytes"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/srcpos"
)

func mustLoad(t testing.TB, file, origin string) *Zone {
	t.Helper()
	z, err := LoadZone(filepath.Join("testdata", file), origin)
	if err != nil {
		t.Fatalf("LoadZone(%s): %v", file, err)
	}
	return z
}

// TestLoadZoneErrors: a broken zone file is reported whole, every problem
// with its file and line.
func TestLoadZoneErrors(t *testing.T) {
	tests := []struct {
		file, origin string
		want         string // the whole error, one problem a line; FILE is the file's path
	}{
		{"syntax.zone", "bad.lab.", `FILE:5:17: bad A record: "10.0.9.300"`},
		{"unknown-type.zone", "bad.lab.", `FILE:7:12: neither a type nor a TTL: "BOGUS"`},
		{"cname-other.zone", "bad.lab.", "FILE:7:1: CNAME and other data (A) at www.bad.lab.: the CNAME is at line 6"},
		{"no-soa.zone", "", "FILE: no origin given and no SOA record to take it from"},
		{"two-soa.zone", "bad.lab.", "FILE:4:1: 2 SOA records at the apex bad.lab., want exactly one (the first is at line 3)"},
		{"no-ns.zone", "bad.lab.", "FILE: no NS records at the apex bad.lab."},
		{"out-of-zone.zone", "bad.lab.", "FILE:6:1: www.example.com. A: out of zone bad.lab."},
		{"occluded.zone", "bad.lab.", "FILE:8:1: MX record at www.sub.bad.lab. is below a zone cut: only glue (A, AAAA) may be there"},
		{"soa-below-apex.zone", "bad.lab.", "FILE:6:1: SOA record at www.bad.lab., which is not the apex bad.lab."},
		{"ds-not-cut.zone", "bad.lab.", "FILE:6:1: DS records at www.bad.lab., which is not a delegation"},
		{"chaos.zone", "bad.lab.", "FILE:5:1: ns.bad.lab. A: class CH: only IN is served"},
		{"many.zone", "bad.lab.", `FILE:6:17: bad A record: "10.0.9.300"` + "\n" +
			`FILE:7:17: bad MX Pref: "ten"` + "\n" +
			`FILE:9:12: neither a type nor a TTL: "BOGUS"` + "\n" +
			"FILE:10:1: www.example.com. A: out of zone bad.lab.\n" +
			"FILE:11:1: web.bad.lab. A: class CH: only IN is served\n" +
			"FILE:13:1: CNAME and other data (TXT) at alias.bad.lab.: the CNAME is at line 12"},
		{"structure.zone", "bad.lab.", "FILE:7:1: CNAME and other data (A) at alias.bad.lab.: the A record is at line 6\n" +
			"FILE:8:1: CNAME and other data (MX) at alias.bad.lab.: the CNAME is at line 7\n" +
			"FILE:10:1: 2 CNAME records at www.bad.lab., want at most one (the first is at line 9)\n" +
			"FILE:12:1: MX record at the delegation sub.bad.lab. belongs in the child zone\n" +
			"FILE:14:1: TXT record at x.sub.bad.lab. is below a zone cut: only glue (A, AAAA) may be there\n" +
			"FILE:15:1: NS records at the wildcard *.w.bad.lab.: a wildcard cannot be a delegation"},
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "bad", "*.zone"))
	if len(files) != len(tests) {
		t.Errorf("%d files in testdata/bad, %d expectations", len(files), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", "bad", tt.file)
			_, err := LoadZone(path, tt.origin)
			if err == nil {
				t.Fatal("loaded a broken zone")
			}
			var list srcpos.List
			if !errors.As(err, &list) {
				t.Fatalf("error %T %v is not a srcpos.List", err, err)
			}
			if want := strings.ReplaceAll(tt.want, "FILE", path); err.Error() != want {
				t.Errorf("error\n%v\nwant\n%s", err, want)
			}
		})
	}
}

func TestParseZoneRefusesInclude(t *testing.T) {
	_, err := ParseZone(strings.NewReader("$INCLUDE /etc/passwd\n"), "x.lab.", "inline")
	if err == nil || !strings.Contains(err.Error(), "inline:1:") {
		t.Fatalf("got %v, want an error at inline:1", err)
	}
}

func TestLoadZoneOriginFromSOA(t *testing.T) {
	z := mustLoad(t, "root.zone", "")
	if z.Origin() != "." {
		t.Fatalf("origin %q, want .", z.Origin())
	}
}

func TestZoneNotes(t *testing.T) {
	z := mustLoad(t, "warn-glue.zone", "warn.lab.")
	ds := z.Delegations()
	if len(ds) != 1 || ds[0].Name != "nowhere.warn.lab." {
		t.Fatalf("delegations %+v", ds)
	}
	if !slices.Equal(ds[0].MissingGlue, []string{"ns.nowhere.warn.lab."}) {
		t.Errorf("missing glue %v", ds[0].MissingGlue)
	}
	if !slices.Equal(ds[0].Glueless, []string{"ns.elsewhere.example."}) {
		t.Errorf("glueless %v", ds[0].Glueless)
	}
	w := strings.Join(z.Warnings(), "\n")
	for _, want := range []string{"ns.nowhere.warn.lab. is below the cut but has no glue", "different TTLs, serving all with 60"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings %q lack %q", w, want)
		}
	}
	for _, rr := range z.Lookup("mixed.warn.lab.", dns.TypeA) {
		if rr.Header().Ttl != 60 {
			t.Errorf("TTL %d, want 60", rr.Header().Ttl)
		}
	}

	lab := mustLoad(t, "lab.zone", "lab.")
	for _, d := range lab.Delegations() {
		switch d.Name {
		case "example.lab.":
			if len(d.Glue) != 3 || len(d.MissingGlue) != 0 {
				t.Errorf("example.lab.: glue %v missing %v", d.Glue, d.MissingGlue)
			}
		case "glueless.lab.":
			// Its server's name is in example.lab., a sibling zone that
			// lab. delegates: glueless, not missing glue.
			if len(d.Glue) != 0 || !slices.Equal(d.Glueless, []string{"ns.example.lab."}) || len(d.MissingGlue) != 0 {
				t.Errorf("glueless.lab.: %+v", d)
			}
		default:
			t.Errorf("unexpected delegation %s", d.Name)
		}
	}
	if len(lab.Warnings()) != 0 {
		t.Errorf("lab warnings %q, want none", lab.Warnings())
	}
}

func TestZoneRoundTrip(t *testing.T) {
	z := mustLoad(t, "example.lab.zone", "example.lab.")
	var buf bytes.Buffer
	if _, err := z.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	z2, err := ParseZone(&buf, "", "roundtrip")
	if err != nil {
		t.Fatalf("reparse: %v", err)
	}
	a, b := z.Records(), z2.Records()
	if len(a) != len(b) {
		t.Fatalf("%d records, then %d", len(a), len(b))
	}
	for i := range a {
		if a[i].String() != b[i].String() {
			t.Errorf("record %d: %s, then %s", i, a[i], b[i])
		}
	}
	if a[0].Header().Rrtype != dns.TypeSOA {
		t.Errorf("first record %s, want the SOA", a[0])
	}
}

func TestCanonicalOrder(t *testing.T) {
	// RFC 4034 section 6.1's example, shuffled.
	want := []string{"example.", "a.example.", "yljkjljk.a.example.", "Z.a.example.", "zABC.a.EXAMPLE.", "z.example.", "\\001.z.example.", "*.z.example.", "\\200.z.example."}
	got := slices.Clone(want)
	slices.Reverse(got)
	got[0], got[4] = got[4], got[0]
	slices.SortFunc(got, func(a, b string) int { return compareLabels(wireLabels(a), wireLabels(b)) })
	if !slices.Equal(got, want) {
		t.Fatalf("order %q, want %q", got, want)
	}
}
