package mpm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/rampart-fw/rampart/ids/internal/benchclock"
	"github.com/rampart-fw/rampart/ids/internal/traffic"
	"pgregory.net/rapid"
)

// naive is the reference: every pattern searched for separately.
func naive(pats []Pattern, data []byte) []int32 {
	lowered := LowerASCII(data)
	var out []int32
	for id, p := range pats {
		if len(p.Bytes) == 0 {
			continue
		}
		var found bool
		if p.Nocase {
			found = bytes.Contains(lowered, LowerASCII(p.Bytes))
		} else {
			found = bytes.Contains(data, p.Bytes)
		}
		if found {
			out = append(out, int32(id))
		}
	}
	return out
}

func scanSorted(m *Matcher, h *Hits, data []byte) []int32 {
	h.Reset()
	m.Scan(data, h)
	out := slices.Clone(h.IDs)
	slices.Sort(out)
	return out
}

func TestScan(t *testing.T) {
	pats := []Pattern{
		{Bytes: []byte("abcd")},                    // 0
		{Bytes: []byte("ABCD"), Nocase: true},      // 1
		{Bytes: []byte("x")},                       // 2
		{Bytes: []byte("Yz"), Nocase: true},        // 3
		{Bytes: []byte("q|r")},                     // 4
		{Bytes: []byte("abcd")},                    // 5: duplicate of 0
		{Bytes: []byte("\x00\xff\x00\xff\x01")},    // 6
		{Bytes: []byte("@[`{")},                    // 7: folds onto itself
		{Bytes: []byte("`{@[")},                    // 8: same folded window as 7
		{Bytes: []byte("long pattern at the end")}, // 9
		{Bytes: nil},                               // 10: never reported
	}
	m := New(pats)
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
		{"--\x00\xff\x00\xff\x01--", []int32{6}},
		{"@[`{", []int32{7}},
		{"`{@[", []int32{8}},
		{"@{`[", nil},
		{"...long pattern at the end", []int32{9}},
		{"long pattern at the en", nil},
	}
	for _, tt := range tests {
		if got := scanSorted(m, h, []byte(tt.data)); !slices.Equal(got, tt.want) {
			t.Errorf("Scan(%q) = %v, want %v", tt.data, got, tt.want)
		}
	}
}

// TestScanMatchesNaive checks the matcher against the naive reference on
// random pattern sets and data over a small alphabet, where matches,
// shared windows and case differences are common.
func TestScanMatchesNaive(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		alpha := []byte("aAbB\x00\xff-")
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
		pats := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) Pattern {
			return Pattern{Bytes: genBytes(1, 9).Draw(t, "p"), Nocase: rapid.Bool().Draw(t, "nocase")}
		}), 1, 40).Draw(t, "patterns")
		m := New(pats)
		h := m.NewHits()
		for range 5 {
			data := genBytes(0, 200).Draw(t, "data")
			got := scanSorted(m, h, data)
			want := naive(pats, data)
			if !slices.Equal(got, want) {
				t.Fatalf("data %q: got %v, want %v", data, got, want)
			}
		}
	})
}

// TestScanCorpus checks the matcher against the reference on the
// benchmark's traffic and pattern sets, with a few patterns taken from
// the traffic itself so that there are matches to find.
func TestScanCorpus(t *testing.T) {
	payloads := traffic.Corpus(300, 7)
	pats := patterns(2000, 7)
	for i, p := range payloads[:40] {
		off := i % max(1, len(p)-20)
		pats = append(pats, Pattern{Bytes: p[off : off+min(len(p)-off, 1+i%20)], Nocase: i%2 == 0})
	}
	m := New(pats)
	h := m.NewHits()
	total := 0
	for _, p := range payloads {
		got := scanSorted(m, h, p)
		if want := naive(pats, p); !slices.Equal(got, want) {
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
			cpu := benchclock.Start()
			for b.Loop() {
				for _, p := range payloads {
					h.Reset()
					m.Scan(p, h)
				}
			}
			cpu.Report(b, total)
		})
		b.Run(fmt.Sprintf("patterns=%d/naive", n), func(b *testing.B) {
			nm := &naiveMatcher{pats: pats}
			for _, p := range pats {
				nm.lower = append(nm.lower, LowerASCII(p.Bytes))
			}
			var out []int32
			b.SetBytes(int64(total))
			b.ReportAllocs()
			cpu := benchclock.Start()
			for b.Loop() {
				for _, p := range payloads {
					out = nm.scan(p, out[:0])
				}
			}
			cpu.Report(b, total)
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
	cpu := benchclock.Start()
	for b.Loop() {
		for _, p := range payloads {
			for i := 0; i+8 <= len(p); i += 8 {
				sum += binary.LittleEndian.Uint64(p[i:])
			}
		}
	}
	cpu.Report(b, total)
	sink = sum
}

var sink uint64

func patterns(n int, seed uint64) []Pattern {
	var out []Pattern
	for _, p := range traffic.Patterns(n, seed) {
		out = append(out, Pattern{Bytes: p.Bytes, Nocase: p.Nocase})
	}
	return out
}
