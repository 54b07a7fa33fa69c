//go:build hyperscan

package detect

import (
	"slices"
	"testing"

	"github.com/rampart-fw/rampart/ids/internal/traffic"
	"github.com/rampart-fw/rampart/ids/mpm"
)

// TestSizedMatcher checks that the choice by buffer size finds what
// ids/mpm alone finds, on both sides of the cut-off.
func TestSizedMatcher(t *testing.T) {
	payloads := traffic.Corpus(200, 5)
	var pats []mpm.Pattern
	for _, p := range traffic.Patterns(500, 5) {
		pats = append(pats, mpm.Pattern{Bytes: p.Bytes, Nocase: p.Nocase})
	}
	for i, p := range payloads[:50] {
		off := i % max(1, len(p)-20)
		pats = append(pats, mpm.Pattern{Bytes: p[off : off+min(len(p)-off, 1+i%20)], Nocase: i%2 == 1})
	}
	m, ok := newMatcher(pats).(sizedMatcher)
	if !ok {
		t.Fatalf("newMatcher(%d patterns) is not the choice by size", len(pats))
	}
	if m.min != minBytes(len(pats)) {
		t.Errorf("cut-off %d, want %d", m.min, minBytes(len(pats)))
	}
	sized, ref := m.newScanner(), goMatcher{mpm.New(pats)}.newScanner()
	found, small := 0, 0
	for _, p := range payloads {
		for _, cut := range []int{len(p), m.min, m.min - 1, 40} {
			data := p[:min(cut, len(p))]
			got := slices.Sorted(slices.Values(sized.scan(data)))
			want := slices.Sorted(slices.Values(ref.scan(data)))
			if !slices.Equal(got, want) {
				t.Fatalf("%q: got %v, want %v", data, got, want)
			}
			found += len(got)
			if len(data) < m.min {
				small += len(got)
			}
		}
	}
	if found < 100 || small == 0 || small == found {
		t.Errorf("%d patterns found, %d in small buffers: the test exercises too little", found, small)
	}
	if s := newMatcher(pats[:0]).newScanner(); len(s.scan([]byte("anything at all, long enough for either matcher........................................................."))) != 0 {
		t.Error("no patterns, yet some found")
	}
}
