//go:build hyperscan

package hyperscan

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/rampart-fw/rampart/ids/internal/traffic"
	"github.com/rampart-fw/rampart/ids/mpm"
	"github.com/rampart-fw/rampart/ids/mpm/internal/mpmtest"
	"pgregory.net/rapid"
)

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
	return mpmtest.Sorted(h.IDs)
}

func mpmSorted(m *mpm.Matcher, h *mpm.Hits, data []byte) []int32 {
	h.Reset()
	m.Scan(data, h)
	return mpmtest.Sorted(h.IDs)
}

// TestScan runs the hand-made cases of ids/mpm/testdata/scan.txt.
func TestScan(t *testing.T) {
	tpats, cases, err := mpmtest.Cases("../testdata/scan.txt")
	if err != nil {
		t.Fatal(err)
	}
	m := mustNew(t, fromTraffic(tpats))
	h := m.NewHits()
	for _, c := range cases {
		if got := scanSorted(m, h, c.Data); !slices.Equal(got, c.Want) {
			t.Errorf("scan.txt:%d: Scan(%q) = %v, want %v", c.Line, c.Data, got, c.Want)
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
// on random pattern sets and data over a small alphabet, with patterns
// longer than an anchor.
func TestScanMatchesNaive(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tpats := mpmtest.Patterns(20).Draw(t, "patterns")
		pats := fromTraffic(tpats)
		hm := mustNew(t, pats)
		hh := hm.NewHits()
		gm := mpm.New(pats)
		gh := gm.NewHits()
		for range 5 {
			data := mpmtest.Bytes(0, 200).Draw(t, "data")
			want := mpmtest.Naive(tpats, data)
			if got := scanSorted(hm, hh, data); !slices.Equal(got, want) {
				t.Fatalf("hyperscan, data %q: got %v, want %v", data, got, want)
			}
			if got := mpmSorted(gm, gh, data); !slices.Equal(got, want) {
				t.Fatalf("ids/mpm, data %q: got %v, want %v", data, got, want)
			}
		}
	})
}

// TestScanCorpus checks Hyperscan against the reference on the
// benchmark's traffic.
func TestScanCorpus(t *testing.T) {
	payloads, tpats := mpmtest.Corpus()
	m := mustNew(t, fromTraffic(tpats))
	h := m.NewHits()
	total := 0
	for _, p := range payloads {
		want := mpmtest.Naive(tpats, p)
		if got := scanSorted(m, h, p); !slices.Equal(got, want) {
			t.Fatalf("payload %q: got %v, want %v", p, got, want)
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
	if allocs := mpmtest.AllocsPerPass(h.Reset, func(p []byte) { m.Scan(p, h) }); allocs != 0 {
		t.Errorf("Scan allocates %v times per pass", allocs)
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
		var tpats []traffic.Pattern
		for line := range bytes.SplitSeq(spec, []byte("\n")) {
			p := traffic.Pattern{Bytes: line}
			if len(line) > 0 && line[0] == 'i' {
				p = traffic.Pattern{Bytes: line[1:], Nocase: true}
			}
			tpats = append(tpats, p)
		}
		pats := fromTraffic(tpats)
		hm := mustNew(t, pats)
		want := mpmtest.Naive(tpats, data)
		if got := scanSorted(hm, hm.NewHits(), data); !slices.Equal(got, want) {
			t.Fatalf("hyperscan: got %v, want %v", got, want)
		}
		gm := mpm.New(pats)
		if got := mpmSorted(gm, gm.NewHits(), data); !slices.Equal(got, want) {
			t.Fatalf("ids/mpm: got %v, want %v", got, want)
		}
	})
}

func patterns(n int, seed uint64) []mpm.Pattern { return fromTraffic(traffic.Patterns(n, seed)) }

func fromTraffic(ps []traffic.Pattern) []mpm.Pattern {
	out := make([]mpm.Pattern, len(ps))
	for i, p := range ps {
		out[i] = mpm.Pattern(p)
	}
	return out
}
