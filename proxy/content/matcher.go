package content

import "bytes"

// Matcher finds literal patterns in a block of bytes. It is the whole of
// what the scanner needs from a multi-pattern matcher, so that one built
// for the intrusion detection engine (ids/mpm) can replace Literal.
// Implementations are read-only after construction and safe for
// concurrent use.
type Matcher interface {
	// Find returns the offset in b of the earliest occurrence of any
	// pattern and the index of that pattern (the one that ends first
	// when two start at the same offset), or -1, -1.
	Find(b []byte) (at, pattern int)
	// MaxLen is the length of the longest pattern; the scanner keeps
	// that many bytes less one of a block to find patterns that straddle
	// two reads.
	MaxLen() int
}

// Literal is the simple Matcher: one bytes.Index per pattern (which is
// vectorised), each search bounded by the earliest match so far. Its cost
// grows with the number of patterns; a configuration holds a handful.
type Literal struct {
	pats   [][]byte
	maxLen int
}

// NewLiteral returns a matcher of the patterns; empty patterns are
// ignored.
func NewLiteral(patterns []string) *Literal {
	l := &Literal{}
	for _, p := range patterns {
		l.pats = append(l.pats, []byte(p))
		l.maxLen = max(l.maxLen, len(p))
	}
	return l
}

// Find implements Matcher.
func (l *Literal) Find(b []byte) (at, pattern int) {
	at, pattern = -1, -1
	for i, p := range l.pats {
		if len(p) == 0 {
			continue
		}
		limit := len(b)
		if at >= 0 {
			// Only a match starting at or before the best one matters.
			limit = min(len(b), at+len(p))
		}
		j := bytes.Index(b[:limit], p)
		if j >= 0 && (at < 0 || j < at || (j == at && len(p) < len(l.pats[pattern]))) {
			at, pattern = j, i
		}
	}
	return at, pattern
}

// MaxLen implements Matcher.
func (l *Literal) MaxLen() int { return l.maxLen }
