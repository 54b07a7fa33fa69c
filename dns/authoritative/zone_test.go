package authoritative

import (
	"bytes"
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func mustLoad(t testing.TB, file, origin string) *Zone {
	t.Helper()
	z, err := LoadZone(filepath.Join("testdata", file), origin)
	if err != nil {
		t.Fatalf("LoadZone(%s): %v", file, err)
	}
	return z
}

func TestLoadZoneErrors(t *testing.T) {
	tests := []struct {
		file string
		line int    // 0: the error is not tied to a line
		want string // substring of the message
	}{
		{"syntax.zone", 5, "bad A"},
		{"unknown-type.zone", 7, `"BOGUS"`},
		{"cname-other.zone", 0, "CNAME and other data (A) at www.bad.lab."},
		{"no-soa.zone", 0, "no origin given and no SOA"},
		{"two-soa.zone", 0, "2 SOA records at the apex bad.lab."},
		{"no-ns.zone", 0, "no NS records at the apex"},
		{"out-of-zone.zone", 0, "www.example.com. A: out of zone bad.lab."},
		{"occluded.zone", 0, "MX record at www.sub.bad.lab. is below a zone cut"},
		{"soa-below-apex.zone", 0, "SOA record at www.bad.lab., which is not the apex"},
		{"ds-not-cut.zone", 0, "DS records at www.bad.lab., which is not a delegation"},
		{"chaos.zone", 0, "class CH: only IN is served"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", "bad", tt.file)
			origin := "bad.lab."
			if tt.file == "no-soa.zone" {
				origin = ""
			}
			_, err := LoadZone(path, origin)
			if err == nil {
				t.Fatal("loaded a broken zone")
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not a *ParseError", err, err)
			}
			if pe.File != path || pe.Line != tt.line {
				t.Errorf("position %s:%d, want %s:%d (%v)", pe.File, pe.Line, path, tt.line, err)
			}
			if !strings.Contains(pe.Msg, tt.want) {
				t.Errorf("message %q does not contain %q", pe.Msg, tt.want)
			}
			if tt.line > 0 && !strings.HasPrefix(err.Error(), path+":"+strconv.Itoa(tt.line)+":") {
				t.Errorf("error %q does not start with file:line", err)
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
