//go:build hyperscan

package hyperscan

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/rampart-fw/rampart/ids/internal/traffic"
	"github.com/rampart-fw/rampart/ids/mpm"
	"pgregory.net/rapid"
)

// naive is the reference: every pattern searched for separately.
func naive(pats []mpm.Pattern, data []byte) []int32 {
	lowered := mpm.LowerASCII(data)
	var out []int32
	for id, p := range pats {
		if len(p.Bytes) == 0 {
			continue
		}
		if p.Nocase && bytes.Contains(lowered, mpm.LowerASCII(p.Bytes)) || !p.Nocase && bytes.Contains(data, p.Bytes) {
			out = append(out, int32(id))
		}
	}
	return out
}

func mustNew(t interface {
	Helper()
	Fatal(...any)
}, pats []mpm.Pattern) *Matcher {
	t.Helper()
	m, err := New(pats)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func scanSorted(m *Matcher, h *Hits, data []byte) []int32 {
	h.Reset()
	m.Scan(data, h)
	out := slices.Clone(h.IDs)
	slices.Sort(out)
	return out
}

func mpmSorted(m *mpm.Matcher, h *mpm.Hits, data []byte) []int32 {
	h.Reset()
	m.Scan(data, h)
	out := slices.Clone(h.IDs)
	slices.Sort(out)
	return out
}

func TestScan(t *testing.T) {
	pats := []mpm.Pattern{
		{Bytes: []byte("abcd")},                    // 0
		{Bytes: []byte("ABCD"), Nocase: true},      // 1
		{Bytes: []byte("x")},                       // 2
		{Bytes: []byte("Yz"), Nocase: true},        // 3
		{Bytes: []byte("q|r")},                     // 4: a regex metacharacter, literal here
		{Bytes: []byte("abcd")},                    // 5: duplicate of 0
		{Bytes: []byte("\x00\xff\x00\xff\x01")},    // 6: NULs are bytes like others
		{Bytes: []byte("@[`{")},                    // 7: ids/mpm's fold maps these onto each other
		{Bytes: []byte("`{@[")},                    // 8
		{Bytes: []byte("long pattern at the end")}, // 9
		{Bytes: nil},                               // 10: never reported
		{Bytes: []byte("a.c(d)*"), Nocase: true},   // 11
		{Bytes: []byte("\xc4\xb0")},                // 12: not ASCII: case is never folded
		{Bytes: []byte("\xe4"), Nocase: true},      // 13
	}
	m := mustNew(t, pats)
	h := m.NewHits()
	tests := []struct {
		data string
		want []int32
	}{
		{"", nil},
		{"abc", nil},
		{"abcd", []int32{0, 1, 5}},
		{"ABCD", []int32{1}},
		{"aBcD", []int32{1}},
		{"xyz", []int32{2, 3}},
		{"YZ", []int32{3}},
		{"q|r", []int32{4}},
		{"q", nil},
		{"--\x00\xff\x00\xff\x01--", []int32{6}},
		{"@[`{", []int32{7}},
		{"`{@[", []int32{8}},
		{"@{`[", nil},
		{"...long pattern at the end", []int32{9}},
		{"long pattern at the en", nil},
		{"A.C(D)*", []int32{11}},
		{"abcdd", []int32{0, 1, 5}},
		{"\xc4\xb0", []int32{12}},
		{"\xe4\xc4", []int32{13}},
		{"\xc4", nil},
	}
	for _, tt := range tests {
		if got := scanSorted(m, h, []byte(tt.data)); !slices.Equal(got, tt.want) {
			t.Errorf("Scan(%q) = %v, want %v", tt.data, got, tt.want)
		}
	}
}

// TestHitsAccumulate checks that scans without Reset add to the hits,
// each ID once, as ids/mpm's do: the engine scans several buffers into
// one Hits.
func TestHitsAccumulate(t *testing.T) {
	m := mustNew(t, []mpm.Pattern{{Bytes: []byte("one")}, {Bytes: []byte("two")}, {Bytes: []byte("one")}})
	h := m.NewHits()
	m.Scan([]byte("one one"), h)
	m.Scan([]byte("two one"), h)
	m.Scan([]byte("two"), h)
	if want := []int32{0, 2, 1}; !slices.Equal(h.IDs, want) {
		t.Errorf("IDs = %v, want %v", h.IDs, want)
	}
	h.Reset()
	m.Scan([]byte("two"), h)
	if want := []int32{1}; !slices.Equal(h.IDs, want) {
		t.Errorf("after Reset: IDs = %v, want %v", h.IDs, want)
	}
}

func TestEmpty(t *testing.T) {
	for _, pats := range [][]mpm.Pattern{nil, {{Bytes: nil}}, {{Bytes: []byte{}}, {Bytes: nil, Nocase: true}}} {
		m := mustNew(t, pats)
		h := m.NewHits()
		m.Scan([]byte("anything"), h)
		if len(h.IDs) != 0 || m.Len() != len(pats) {
			t.Errorf("%d empty patterns: IDs %v, Len %d", len(pats), h.IDs, m.Len())
		}
	}
}

func TestForeignHits(t *testing.T) {
	a := mustNew(t, []mpm.Pattern{{Bytes: []byte("a")}})
	b := mustNew(t, []mpm.Pattern{{Bytes: []byte("b")}, {Bytes: []byte("c")}})
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "another matcher") {
			t.Errorf("recovered %v, want a panic naming the misuse", r)
		}
	}()
	b.Scan([]byte("bc"), a.NewHits())
}

// TestScanMatchesNaive checks both matchers against the naive reference
// on random pattern sets and data over a small alphabet, where matches,
// shared prefixes and case differences are common.
func TestScanMatchesNaive(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		alpha := []byte("aAbBzZ\x00\xff-@`")
		genBytes := func(min, max int) *rapid.Generator[[]byte] {
			return rapid.Custom(func(t *rapid.T) []byte {
				n := rapid.IntRange(min, max).Draw(t, "n")
				b := make([]byte, n)
				for i := range b {
					b[i] = alpha[rapid.IntRange(0, len(alpha)-1).Draw(t, "c")]
				}
				return b
			})
		}
		pats := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) mpm.Pattern {
			return mpm.Pattern{Bytes: genBytes(0, 20).Draw(t, "p"), Nocase: rapid.Bool().Draw(t, "nocase")}
		}), 0, 40).Draw(t, "patterns")
		hm := mustNew(t, pats)
		hh := hm.NewHits()
		gm := mpm.New(pats)
		gh := gm.NewHits()
		for range 5 {
			data := genBytes(0, 200).Draw(t, "data")
			want := naive(pats, data)
			if got := scanSorted(hm, hh, data); !slices.Equal(got, want) {
				t.Fatalf("hyperscan, data %q: got %v, want %v", data, got, want)
			}
			if got := mpmSorted(gm, gh, data); !slices.Equal(got, want) {
				t.Fatalf("ids/mpm, data %q: got %v, want %v", data, got, want)
			}
		}
	})
}

// TestScanCorpus checks both matchers against the reference on the
// benchmark's traffic and pattern sets, with patterns taken from the
// traffic itself so that there are matches to find.
func TestScanCorpus(t *testing.T) {
	payloads := traffic.Corpus(300, 7)
	pats := patterns(2000, 7)
	for i, p := range payloads[:40] {
		off := i % max(1, len(p)-20)
		pats = append(pats, mpm.Pattern{Bytes: p[off : off+min(len(p)-off, 1+i%20)], Nocase: i%2 == 0})
	}
	hm := mustNew(t, pats)
	hh := hm.NewHits()
	gm := mpm.New(pats)
	gh := gm.NewHits()
	total := 0
	for _, p := range payloads {
		want := naive(pats, p)
		if got := scanSorted(hm, hh, p); !slices.Equal(got, want) {
			t.Fatalf("hyperscan, payload %q: got %v, want %v", p, got, want)
		}
		if got := mpmSorted(gm, gh, p); !slices.Equal(got, want) {
			t.Fatalf("ids/mpm, payload %q: got %v, want %v", p, got, want)
		}
		total += len(want)
	}
	if total < 40 {
		t.Errorf("only %d matches in the corpus: the test finds too little", total)
	}
}

func TestScanAllocs(t *testing.T) {
	m := mustNew(t, patterns(1000, 3))
	h := m.NewHits()
	payloads := traffic.Corpus(50, 3)
	for _, p := range payloads {
		m.Scan(p, h)
	}
	allocs := testing.AllocsPerRun(20, func() {
		h.Reset()
		for _, p := range payloads {
			m.Scan(p, h)
		}
	})
	if allocs != 0 {
		t.Errorf("Scan allocates %v times per run", allocs)
	}
}

// FuzzScan compares Hyperscan, ids/mpm and the naive search on patterns
// and data from the fuzzer: the patterns are the first input's lines,
// those starting with 'i' nocase (the 'i' dropped).
func FuzzScan(f *testing.F) {
	f.Add([]byte("iabcd\nx\n\x00\xff"), []byte("ABCD x \x00\xff\x00"))
	f.Add([]byte("@[`{\niYz\nq|r"), []byte("`{@[ yZ q|r"))
	f.Add([]byte("i\xe4\n\n"), []byte("\xc4\xe4"))
	f.Fuzz(func(t *testing.T, spec, data []byte) {
		var pats []mpm.Pattern
		for line := range bytes.SplitSeq(spec, []byte("\n")) {
			p := mpm.Pattern{Bytes: line}
			if len(line) > 0 && line[0] == 'i' {
				p = mpm.Pattern{Bytes: line[1:], Nocase: true}
			}
			pats = append(pats, p)
		}
		hm := mustNew(t, pats)
		want := naive(pats, data)
		if got := scanSorted(hm, hm.NewHits(), data); !slices.Equal(got, want) {
			t.Fatalf("hyperscan: got %v, want %v", got, want)
		}
		gm := mpm.New(pats)
		if got := mpmSorted(gm, gm.NewHits(), data); !slices.Equal(got, want) {
			t.Fatalf("ids/mpm: got %v, want %v", got, want)
		}
	})
}

func patterns(n int, seed uint64) []mpm.Pattern {
	var out []mpm.Pattern
	for _, p := range traffic.Patterns(n, seed) {
		out = append(out, mpm.Pattern{Bytes: p.Bytes, Nocase: p.Nocase})
	}
	return out
}
