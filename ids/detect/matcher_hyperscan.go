//go:build hyperscan

package detect

import (
	"github.com/rampart-fw/rampart/ids/mpm"
	"github.com/rampart-fw/rampart/ids/mpm/hyperscan"
)

// Matchers names the multi-pattern matchers the prefilter can use in
// this build: with the build tag "hyperscan", Hyperscan's and ids/mpm's,
// chosen per prefilter and buffer by newMatcher.
var Matchers = "hyperscan " + hyperscan.Version + ", ids/mpm"

// The choice between the matchers, from their measurements on the same
// traffic (docs/benchmarks.md, "Hyperscan against ids/mpm"). Hyperscan
// scans a byte several times faster than ids/mpm up to a few thousand
// patterns, but each scan costs a cgo call and Hyperscan's set-up, which
// grows with the database: on small buffers ids/mpm wins. Beyond
// hyperscanMaxPatterns the two scan a byte at about the same speed, and
// ids/mpm alone saves the second table and the calls.
const (
	hyperscanMaxPatterns = 5000
	hyperscanMinBytes    = 128
)

func newMatcher(pats []mpm.Pattern) matcher {
	g := goMatcher{mpm.New(pats)}
	if len(pats) > hyperscanMaxPatterns {
		return g
	}
	h, err := hyperscan.New(pats)
	if err != nil {
		// Hyperscan refuses (a CPU without SSSE3, a resource limit):
		// ids/mpm finds the same patterns.
		return g
	}
	return sizedMatcher{small: g, large: h}
}

// sizedMatcher scans buffers of fewer than hyperscanMinBytes with
// ids/mpm and the rest with Hyperscan; both hold the same patterns.
type sizedMatcher struct {
	small goMatcher
	large *hyperscan.Matcher
}

func (m sizedMatcher) MemoryBytes() int { return m.small.MemoryBytes() + m.large.MemoryBytes() }

func (m sizedMatcher) newScanner() scanner {
	return &sizedScanner{small: m.small.newScanner(), m: m.large, h: m.large.NewHits()}
}

type sizedScanner struct {
	small scanner
	m     *hyperscan.Matcher
	h     *hyperscan.Hits
}

func (s *sizedScanner) scan(data []byte) []int32 {
	if len(data) < hyperscanMinBytes {
		return s.small.scan(data)
	}
	s.h.Reset()
	s.m.Scan(data, s.h)
	return s.h.IDs
}
