//go:build hyperscan

package detect

import (
	"github.com/rampart-fw/rampart/ids/mpm"
	"github.com/rampart-fw/rampart/ids/mpm/hyperscan"
)

// Matchers names the multi-pattern matchers the prefilter can use in
// this build: with the build tag "hyperscan", Hyperscan's and ids/mpm's,
// chosen per buffer by its length.
var Matchers = "hyperscan " + hyperscan.Version + ", ids/mpm"

// The choice between the matchers, from their measurements on the same
// traffic (docs/benchmarks.md, "Hyperscan against ids/mpm"): Hyperscan
// scans a byte 1.4 to 6 times faster than ids/mpm from 10,000 down to
// 100 patterns, but each scan costs a cgo call and Hyperscan's set-up,
// which grows with the database. The two cost the same on buffers of
// about 70 to 90 bytes at 100 and 1,000 patterns, and of 100 to 240 at
// 10,000 (two rounds on a loaded machine); minBytes follows that line,
// and ids/mpm scans what is shorter.
func minBytes(patterns int) int { return 80 + patterns/100 }

func newMatcher(pats []mpm.Pattern) matcher {
	g := goMatcher{mpm.New(pats)}
	h, err := hyperscan.New(pats)
	if err != nil {
		// Hyperscan refuses (a CPU without SSSE3, a resource limit):
		// ids/mpm finds the same patterns.
		return g
	}
	return sizedMatcher{small: g, large: h, min: minBytes(len(pats))}
}

// sizedMatcher scans buffers of fewer than min bytes with ids/mpm and
// the rest with Hyperscan; both hold the same patterns.
type sizedMatcher struct {
	small goMatcher
	large *hyperscan.Matcher
	min   int
}

func (m sizedMatcher) MemoryBytes() int { return m.small.MemoryBytes() + m.large.MemoryBytes() }

func (m sizedMatcher) newScanner() scanner {
	return &sizedScanner{small: m.small.newScanner(), m: m.large, h: m.large.NewHits(), min: m.min}
}

type sizedScanner struct {
	small scanner
	m     *hyperscan.Matcher
	h     *hyperscan.Hits
	min   int
}

func (s *sizedScanner) scan(data []byte) []int32 {
	if len(data) < s.min {
		return s.small.scan(data)
	}
	s.h.Reset()
	s.m.Scan(data, s.h)
	return s.h.IDs
}
