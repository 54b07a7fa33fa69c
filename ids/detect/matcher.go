package detect

import "github.com/rampart-fw/rampart/ids/mpm"

// matcher is what a prefilter asks of a multi-pattern matcher: ids/mpm's,
// or Hyperscan's when the binary is built with the tag "hyperscan"
// (matcher_hyperscan.go), or a choice between the two by buffer size.
type matcher interface {
	MemoryBytes() int
	// newScanner returns one goroutine's working memory for scans.
	newScanner() scanner
}

// scanner is one goroutine's use of a matcher.
type scanner interface {
	// scan returns the IDs of the patterns that occur in data, each
	// once; the slice is valid until the next scan.
	scan(data []byte) []int32
}

// goMatcher is ids/mpm's matcher.
type goMatcher struct{ m *mpm.Matcher }

func (g goMatcher) MemoryBytes() int { return g.m.MemoryBytes() }

func (g goMatcher) newScanner() scanner { return &goScanner{m: g.m, h: g.m.NewHits()} }

type goScanner struct {
	m *mpm.Matcher
	h *mpm.Hits
}

func (s *goScanner) scan(data []byte) []int32 {
	s.h.Reset()
	s.m.Scan(data, s.h)
	return s.h.IDs
}
