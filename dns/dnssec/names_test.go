package dnssec

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func mustName(t testing.TB, s string) *name {
	t.Helper()
	var w name
	if !w.parse(s) {
		t.Fatalf("parse %q", s)
	}
	return &w
}

func TestCanonicalOrder(t *testing.T) {
	// RFC 4034 section 6.1.
	names := []string{
		"example.",
		"a.example.",
		"yljkjljk.a.example.",
		"Z.a.example.",
		"zABC.a.EXAMPLE.",
		"z.example.",
		"\\001.z.example.",
		"*.z.example.",
		"\\200.z.example.",
	}
	for i := range names {
		for j := range names {
			got := canonicalCompare(mustName(t, names[i]), mustName(t, names[j]))
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got != want {
				t.Errorf("compare(%s, %s) = %d, want %d", names[i], names[j], got, want)
			}
		}
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		a, b          string
		equal         bool
		common, la    int
		sub, properly bool // a below b
	}{
		{"www.Example.LAB.", "www.example.lab.", true, 3, 3, true, false},
		{"\\065.example.", "a.example.", true, 2, 2, true, false},
		{"a\\.b.example.", "b.example.", false, 1, 2, false, false},
		{"x.y.example.", "example", false, 1, 3, true, true},
		{".", ".", true, 0, 0, true, false},
		{"a.", ".", false, 0, 1, true, true},
		{"*.w.example.", "w.example.", false, 2, 2, true, true},
	}
	for _, tt := range tests {
		a, b := mustName(t, tt.a), mustName(t, tt.b)
		if nameEqual(a, b) != tt.equal || sameName(tt.a, tt.b) != tt.equal {
			t.Errorf("%s = %s: %v", tt.a, tt.b, nameEqual(a, b))
		}
		if c := commonLabels(a, b); c != tt.common {
			t.Errorf("common(%s, %s) = %d, want %d", tt.a, tt.b, c, tt.common)
		}
		if a.labels() != tt.la {
			t.Errorf("labels(%s) = %d, want %d", tt.a, a.labels(), tt.la)
		}
		if isSubdomain(a, b) != tt.sub || isProperSubdomain(a, b) != tt.properly {
			t.Errorf("%s below %s: %v %v", tt.a, tt.b, isSubdomain(a, b), isProperSubdomain(a, b))
		}
	}
	var bad name
	for _, s := range []string{"", "a..b.", strings.Repeat("a", 64) + ".", strings.Repeat("abcdefg.", 40)} {
		if bad.parse(s) {
			t.Errorf("%q parsed", s)
		}
	}
	w := mustName(t, "a.b.c.example.")
	var s, wc name
	for k, want := range []string{".", "example.", "c.example.", "b.c.example.", "a.b.c.example.", "a.b.c.example."} {
		s.setSuffix(w, k)
		if s.String() != want || !nameEqual(&s, mustName(t, want)) {
			t.Errorf("suffix %d = %s, want %s", k, &s, want)
		}
		if wc.setWildcard(&s); !wc.isWildcard() || !nameEqual(&wc, mustName(t, "*."+strings.TrimPrefix(want, "."))) {
			t.Errorf("wildcard of %s = %s", want, &wc)
		}
	}
	long := mustName(t, strings.Repeat("abcdefg.", 31)+"abcd.")
	if wc.setWildcard(long) {
		t.Error("wildcard of a 254-octet name")
	}
}

func TestNSEC3Hash(t *testing.T) {
	// RFC 5155 Appendix A: salt aabbccdd, 12 iterations.
	salt, _ := hex.DecodeString("aabbccdd")
	for name, want := range map[string]string{
		"example.":     "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom",
		"a.example.":   "35mthgpgcu1qg68fab165klnsnk3dpvl",
		"*.w.example.": "r53bq7cc2uvmubfu5ocmm6pers9tk9en",
		"X.W.Example.": "b4um86eghhds6nea196smvmlo4ors995",
		"ai.example.":  "gjeqe526plbf1g8mklp59enfd789njgi",
		"ns1.example.": "2t7b4g4vsa5smi47k61mv5bv1a22bojr",
		"xx.example.":  "t644ebqk9bibcna874givr6joj62mlhv",
		"2t7b4g4vsa5smi47k61mv5bv1a22bojr.example.": "kohar7mbb8dc2ce8a9qvl8hon4k53uhi",
	} {
		var h [20]byte
		nsec3Hash(&h, mustName(t, name), salt, 12)
		if got := strings.ToLower(encodeBase32Hex(h[:])); got != want {
			t.Errorf("H(%s) = %s, want %s", name, got, want)
		}
	}
	// And agreement with miekg on random parameters.
	for i := 0; i < 50; i++ {
		var raw [8]byte
		rand.Read(raw[:])
		s := hex.EncodeToString(raw[:i%9])
		iter := uint16(i * 7)
		n := "x" + hex.EncodeToString(raw[:2]) + ".Example.lab."
		var h [20]byte
		nsec3Hash(&h, mustName(t, n), raw[:i%9], iter)
		if got, want := encodeBase32Hex(h[:]), dns.HashName(n, dns.SHA1, iter, s); got != want {
			t.Errorf("H(%s, %s, %d) = %s, miekg %s", n, s, iter, got, want)
		}
	}
}

func TestEncodings(t *testing.T) {
	for i := 0; i < 30; i++ {
		b := make([]byte, i)
		rand.Read(b)
		var out [32]byte
		n, ok := decodeBase32Hex(out[:], strings.ToLower(encodeBase32Hex(b)))
		if !ok || n != i || string(out[:n]) != string(b) {
			t.Errorf("base32hex round trip of %x: %x %v", b, out[:n], ok)
		}
		n, ok = decodeHex(out[:], hex.EncodeToString(b))
		if !ok || n != i || string(out[:n]) != string(b) {
			t.Errorf("hex round trip of %x", b)
		}
	}
	var out [20]byte
	for _, s := range []string{"W", "0=", "01", "0000000000000000000000000000000000"} {
		if _, ok := decodeBase32Hex(out[:], s); ok {
			t.Errorf("base32hex %q accepted", s)
		}
	}
	for _, s := range []string{"a", "zz", strings.Repeat("00", 21)} {
		if _, ok := decodeHex(out[:], s); ok {
			t.Errorf("hex %q accepted", s)
		}
	}
	if n, ok := decodeHex(out[:], "-"); !ok || n != 0 {
		t.Error("empty salt")
	}
}
