package mpm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/rampart-fw/rampart/ids/internal/traffic"
	"github.com/rampart-fw/rampart/ids/mpm/internal/mpmtest"
	"github.com/rampart-fw/rampart/internal/benchcpu"
	"pgregory.net/rapid"
)

func scanSorted(m *Matcher, h *Hits, data []byte) []int32 {
	h.Reset()
	m.Scan(data, h)
	return mpmtest.Sorted(h.IDs)
}

// TestScan runs the hand-made cases of testdata/scan.txt.
func TestScan(t *testing.T) {
	tpats, cases, err := mpmtest.Cases("testdata/scan.txt")
	if err != nil {
		t.Fatal(err)
	}
	m := New(fromTraffic(tpats))
	h := m.NewHits()
	for _, c := range cases {
		if got := scanSorted(m, h, c.Data); !slices.Equal(got, c.Want) {
			t.Errorf("scan.txt:%d: Scan(%q) = %v, want %v", c.Line, c.Data, got, c.Want)
		}
	}
}

// TestScanMatchesNaive checks the matcher against the naive reference on
// random pattern sets and data over a small alphabet, where matches,
// shared windows and case differences are common.
func TestScanMatchesNaive(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tpats := mpmtest.Patterns(20).Draw(t, "patterns")
		m := New(fromTraffic(tpats))
		h := m.NewHits()
		for range 5 {
			data := mpmtest.Bytes(0, 200).Draw(t, "data")
			if got, want := scanSorted(m, h, data), mpmtest.Naive(tpats, data); !slices.Equal(got, want) {
				t.Fatalf("data %q: got %v, want %v", data, got, want)
			}
		}
	})
}

// TestScanCorpus checks the matcher against the reference on the
// benchmark's traffic and pattern sets, with a few patterns taken from
// the traffic itself so that there are matches to find.
func TestScanCorpus(t *testing.T) {
	payloads, tpats := mpmtest.Corpus()
	m := New(fromTraffic(tpats))
	h := m.NewHits()
	total := 0
	for _, p := range payloads {
		got := scanSorted(m, h, p)
		if want := mpmtest.Naive(tpats, p); !slices.Equal(got, want) {
			t.Fatalf("payload %q: got %v, want %v", p, got, want)
		}
		total += len(got)
	}
	if total < 40 {
		t.Errorf("only %d matches in the corpus: the test finds too little", total)
	}
}

func TestScanAllocs(t *testing.T) {
	m := New(patterns(1000, 3))
	h := m.NewHits()
	if allocs := mpmtest.AllocsPerPass(h.Reset, func(p []byte) { m.Scan(p, h) }); allocs != 0 {
		t.Errorf("Scan allocates %v times per pass", allocs)
	}
}

// naiveMatcher searches each pattern separately, with one lower-cased
// copy of the data for the nocase ones: the baseline the benchmark
// compares with.
type naiveMatcher struct {
	pats  []Pattern
	lower [][]byte
	buf   []byte
}

func (n *naiveMatcher) scan(data []byte, out []int32) []int32 {
	n.buf = append(n.buf[:0], data...)
	for i, c := range n.buf {
		if c >= 'A' && c <= 'Z' {
			n.buf[i] = c + 0x20
		}
	}
	for id, p := range n.pats {
		if p.Nocase {
			if bytes.Contains(n.buf, n.lower[id]) {
				out = append(out, int32(id))
			}
		} else if bytes.Contains(data, p.Bytes) {
			out = append(out, int32(id))
		}
	}
	return out
}

func BenchmarkScan(b *testing.B) {
	payloads := traffic.Corpus(2000, 1)
	total := 0
	for _, p := range payloads {
		total += len(p)
	}
	for _, n := range []int{100, 1000, 10000} {
		pats := patterns(n, uint64(n))
		b.Run(fmt.Sprintf("patterns=%d/mpm", n), func(b *testing.B) {
			m := New(pats)
			h := m.NewHits()
			b.ReportMetric(float64(m.MemoryBytes()), "table-bytes")
			b.SetBytes(int64(total))
			b.ReportAllocs()
			stop := benchcpu.StartBytes(b, total)
			for b.Loop() {
				for _, p := range payloads {
					h.Reset()
					m.Scan(p, h)
				}
			}
			stop()
		})
		b.Run(fmt.Sprintf("patterns=%d/naive", n), func(b *testing.B) {
			nm := &naiveMatcher{pats: pats}
			for _, p := range pats {
				nm.lower = append(nm.lower, LowerASCII(p.Bytes))
			}
			var out []int32
			b.SetBytes(int64(total))
			b.ReportAllocs()
			stop := benchcpu.StartBytes(b, total)
			for b.Loop() {
				for _, p := range payloads {
					out = nm.scan(p, out[:0])
				}
			}
			stop()
		})
	}
}

// BenchmarkMemory is the floor the matcher is measured against on a
// shared machine: one 8-byte load and an add per 8 bytes of the same
// corpus.
func BenchmarkMemory(b *testing.B) {
	payloads := traffic.Corpus(2000, 1)
	total := 0
	for _, p := range payloads {
		total += len(p)
	}
	b.SetBytes(int64(total))
	var sum uint64
	stop := benchcpu.StartBytes(b, total)
	for b.Loop() {
		for _, p := range payloads {
			for i := 0; i+8 <= len(p); i += 8 {
				sum += binary.LittleEndian.Uint64(p[i:])
			}
		}
	}
	stop()
	sink = sum
}

var sink uint64

func patterns(n int, seed uint64) []Pattern { return fromTraffic(traffic.Patterns(n, seed)) }

func fromTraffic(ps []traffic.Pattern) []Pattern {
	out := make([]Pattern, len(ps))
	for i, p := range ps {
		out[i] = Pattern(p)
	}
	return out
}
