// Package mpm finds which of many literal byte patterns occur in a
// buffer: the multi-pattern matcher behind the IDS prefilter, which asks
// of every packet and stream chunk "which rules' fast patterns are in
// here?" so that only those rules are evaluated.
//
// It owns the matching structure and its memory, nothing else: which
// patterns belong to which rules is the detection engine's business
// (package ids/detect).
//
// # Design
//
// The matcher is a filter over 4-byte windows, in the family of
// Rabin-Karp, Wu-Manber and Hyperscan's FDR, chosen over Aho-Corasick by
// measurement (docs/benchmarks.md): per input byte it loads the 4-byte
// window starting there, folds its case (OR 0x20, which maps every
// letter to lower case and a few punctuation bytes onto others, harmless
// since candidates are verified), hashes it by one multiplication, and
// tests one bit of a bitmap sized so that about 1 in 64 bits is set. Each
// pattern of 4 bytes or more is entered under one of its windows, the
// anchor, chosen to be the window fewest other patterns share and whose
// bytes are least common in traffic, so that a window common to many
// patterns (the "User-Agent: " of a thousand rules) does not make every
// packet verify all of them. A set bit leads to a bucket of candidates,
// each verified by comparison. Patterns of 1 to 3 bytes go through a
// direct 16-bit table (and a 256-entry one for single bytes), checked
// only when such patterns exist. The cost per byte is a handful of
// instructions and one access to a bitmap that fits in the L2 cache, and
// does not grow with the number of patterns until the bitmap outgrows
// the cache; an Aho-Corasick automaton's state table outgrows it at a
// few thousand patterns.
package mpm

import (
	"encoding/binary"
	"math/bits"
	"slices"
)

// Pattern is one literal to find.
type Pattern struct {
	Bytes  []byte
	Nocase bool // ASCII letters match either case
}

// Matcher finds patterns in buffers. It is immutable once built and safe
// for concurrent use; each goroutine scans with its own Hits.
type Matcher struct {
	// Unique patterns (same bytes and case rule), each reporting the IDs
	// of the patterns it stands for.
	uniq []uniqPattern
	ids  []int32 // uniq[i].ids indexes this

	// Long patterns, by anchor window.
	// filter has 1 << filterBits bits, used from the start of a fixed
	// array so that indexing needs no bounds check; the unused tail is
	// never touched and costs no cache.
	filter    *[filterWords]uint64
	filterLen int      // words of filter in use
	shift     uint32   // 32 - filterBits
	bshift    uint32   // filterBits - bucketBits
	buckets   []uint32 // bucket b's entries are entries[buckets[b]:buckets[b+1]]
	entries   []entry
	hasLong   bool
	minLong   int // length of the shortest long pattern
	nPattern  int

	// Short patterns (1-3 bytes).
	hasShort  bool
	one       [256]bool // a 1-byte pattern starts with this byte
	oneIdx    [257]uint32
	oneList   []int32  // uniq indexes of 1-byte patterns by byte
	two       []uint64 // 65536 bits over folded 2-byte windows: a 2- or 3-byte pattern starts so
	twoBucket map[uint16][]int32
}

type uniqPattern struct {
	b      []byte
	nocase bool
	ids    [2]int32 // start and end in Matcher.ids
}

// entry is a long pattern under its anchor.
type entry struct {
	fold   uint32 // the anchor window, folded
	anchor uint16 // offset of the anchor in the pattern
	uniq   int32
}

const (
	foldMask    = 0x20202020
	hashMul     = 0x9E3779B1
	maxFilter   = 21 // bits of the largest filter: 2 Mibit, 256 KiB
	filterWords = 1 << maxFilter / 64
)

// fold maps a byte as the filter does: ASCII letters to lower case.
func fold(c byte) byte { return c | 0x20 }

// New builds a matcher for patterns; the ID of a pattern is its index.
// Empty patterns are never reported.
func New(patterns []Pattern) *Matcher {
	m := &Matcher{nPattern: len(patterns)}
	type key struct {
		s      string
		nocase bool
	}
	byKey := map[key]int{}
	members := [][]int32{}
	for id, p := range patterns {
		if len(p.Bytes) == 0 {
			continue
		}
		k := key{string(p.Bytes), p.Nocase}
		if p.Nocase {
			k.s = string(LowerASCII(p.Bytes))
		}
		u, ok := byKey[k]
		if !ok {
			u = len(m.uniq)
			byKey[k] = u
			m.uniq = append(m.uniq, uniqPattern{b: []byte(k.s), nocase: p.Nocase})
			members = append(members, nil)
		}
		members[u] = append(members[u], int32(id))
	}
	for u := range m.uniq {
		m.uniq[u].ids = [2]int32{int32(len(m.ids)), int32(len(m.ids) + len(members[u]))}
		m.ids = append(m.ids, members[u]...)
	}
	m.buildShort()
	m.buildLong()
	return m
}

// LowerASCII returns a copy of b with the ASCII letters in lower case,
// other bytes unchanged: the folding of nocase patterns, which the
// matcher applies and an engine that verifies its candidates must share.
func LowerASCII(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

func (m *Matcher) buildShort() {
	var ones [256][]int32
	for u, p := range m.uniq {
		switch len(p.b) {
		case 1:
			m.hasShort = true
			c := p.b[0]
			ones[c] = append(ones[c], int32(u))
			if p.nocase && c >= 'a' && c <= 'z' {
				ones[c-0x20] = append(ones[c-0x20], int32(u))
			}
		case 2, 3:
			m.hasShort = true
			if m.two == nil {
				m.two = make([]uint64, 65536/64)
				m.twoBucket = map[uint16][]int32{}
			}
			w := uint16(fold(p.b[0])) | uint16(fold(p.b[1]))<<8
			m.two[w>>6] |= 1 << (w & 63)
			m.twoBucket[w] = append(m.twoBucket[w], int32(u))
		}
	}
	for c := range 256 {
		m.oneIdx[c] = uint32(len(m.oneList))
		m.one[c] = len(ones[c]) > 0
		m.oneList = append(m.oneList, ones[c]...)
	}
	m.oneIdx[256] = uint32(len(m.oneList))
}

// ByteCost says how common a byte is in traffic (HTTP text, DNS names,
// binary zeros), from 0 (rare) to 3: anchors prefer rare bytes. Lower
// case letters are the common ones; a caller folding case passes them so.
func ByteCost(c byte) int {
	switch {
	case c >= 'a' && c <= 'z', c == ' ', c == 0, c == '/', c == '.', c == '\r', c == '\n':
		return 3
	case c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == ':', c == '=', c == '&', c == '_':
		return 2
	case c < 0x80:
		return 1
	}
	return 0
}

func (m *Matcher) buildLong() {
	// How many patterns share each folded window.
	share := map[uint32]int{}
	var long []int32
	for u, p := range m.uniq {
		if len(p.b) < 4 {
			continue
		}
		long = append(long, int32(u))
		seen := map[uint32]bool{}
		for k := 0; k+4 <= len(p.b); k++ {
			w := binary.LittleEndian.Uint32(p.b[k:]) | foldMask
			if !seen[w] {
				seen[w] = true
				share[w]++
			}
		}
	}
	if len(long) == 0 {
		return
	}
	m.hasLong = true
	m.minLong = 1 << 30
	entries := make([]entry, 0, len(long))
	for _, u := range long {
		p := m.uniq[u].b
		m.minLong = min(m.minLong, len(p))
		best, bestCost := 0, 1<<30
		for k := 0; k+4 <= len(p) && k < 1<<16; k++ {
			w := binary.LittleEndian.Uint32(p[k:]) | foldMask
			cost := share[w] * 64
			for _, c := range p[k : k+4] {
				cost += ByteCost(fold(c))
			}
			if cost < bestCost {
				best, bestCost = k, cost
			}
		}
		w := binary.LittleEndian.Uint32(p[best:]) | foldMask
		entries = append(entries, entry{fold: w, anchor: uint16(best), uniq: u})
	}
	// About 64 bits per distinct anchor keeps the false-hit rate near
	// 1/64 per byte; bounded to 2^12..2^21 bits (512 B to 256 KiB).
	fb := bits.Len(uint(len(entries)*64 - 1))
	fb = max(12, min(fb, maxFilter))
	bb := max(fb-3, 8) // buckets: one per 8 filter bits
	m.filter = new([filterWords]uint64)
	m.filterLen = 1 << fb / 64
	m.shift = uint32(32 - fb)
	m.bshift = uint32(fb - bb)
	counts := make([]uint32, 1<<bb+1)
	for _, e := range entries {
		h := (e.fold * hashMul) >> m.shift
		m.filter[h>>6] |= 1 << (h & 63)
		counts[h>>m.bshift+1]++
	}
	for i := 1; i < len(counts); i++ {
		counts[i] += counts[i-1]
	}
	m.buckets = counts
	m.entries = make([]entry, len(entries))
	fill := slices.Clone(counts)
	for _, e := range entries {
		b := ((e.fold * hashMul) >> m.shift) >> m.bshift
		m.entries[fill[b]] = e
		fill[b]++
	}
}

// Len returns the number of patterns the matcher was built with.
func (m *Matcher) Len() int { return m.nPattern }

// MemoryBytes returns the bytes the matcher's tables and patterns take.
func (m *Matcher) MemoryBytes() int {
	n := m.filterLen*8 + len(m.buckets)*4 + len(m.entries)*12 + len(m.ids)*4 + len(m.two)*8 + len(m.oneList)*4
	for _, p := range m.uniq {
		n += len(p.b) + 40
	}
	for _, b := range m.twoBucket {
		n += len(b)*4 + 32
	}
	return n
}

// Hits collects the IDs found by scans: each ID once, in the order first
// found. Reuse one per goroutine: Reset clears it in time proportional to
// what it holds.
type Hits struct {
	seen []uint64 // by unique pattern
	uniq []int32  // unique patterns found
	IDs  []int32  // pattern IDs found
}

// NewHits returns a Hits sized for m.
func (m *Matcher) NewHits() *Hits {
	return &Hits{seen: make([]uint64, (len(m.uniq)+63)/64)}
}

// Reset empties h.
func (h *Hits) Reset() {
	for _, u := range h.uniq {
		h.seen[u>>6] = 0
	}
	h.uniq = h.uniq[:0]
	h.IDs = h.IDs[:0]
}

func (m *Matcher) report(h *Hits, u int32) {
	if h.seen[u>>6]&(1<<(u&63)) != 0 {
		return
	}
	h.seen[u>>6] |= 1 << (u & 63)
	h.uniq = append(h.uniq, u)
	r := m.uniq[u].ids
	h.IDs = append(h.IDs, m.ids[r[0]:r[1]]...)
}

// found reports whether unique pattern u occurs in data at start.
func (m *Matcher) found(data []byte, start int, u int32) bool {
	p := &m.uniq[u]
	if start < 0 || start+len(p.b) > len(data) {
		return false
	}
	d := data[start : start+len(p.b)]
	if !p.nocase {
		return string(d) == string(p.b)
	}
	for i, c := range p.b { // p.b is lower case
		x := d[i]
		if x != c && (x|0x20 != c || c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// Scan adds to h every pattern that occurs in data. It allocates nothing
// once h has held as many IDs before.
func (m *Matcher) Scan(data []byte, h *Hits) {
	if m.hasShort {
		m.scanShort(data, h)
	}
	if !m.hasLong || len(data) < m.minLong {
		return
	}
	filter, shift := m.filter, m.shift
	n := len(data) - 3
	i := 0
	// Four windows per 8-byte load.
	for ; i+8 <= len(data); i += 4 {
		w := binary.LittleEndian.Uint64(data[i:]) | 0x2020202020202020
		h0 := (uint32(w) * hashMul) >> shift
		h1 := (uint32(w>>8) * hashMul) >> shift
		h2 := (uint32(w>>16) * hashMul) >> shift
		h3 := (uint32(w>>24) * hashMul) >> shift
		t0 := filter[(h0>>6)%filterWords] & (1 << (h0 & 63))
		t1 := filter[(h1>>6)%filterWords] & (1 << (h1 & 63))
		t2 := filter[(h2>>6)%filterWords] & (1 << (h2 & 63))
		t3 := filter[(h3>>6)%filterWords] & (1 << (h3 & 63))
		if t0|t1|t2|t3 != 0 {
			if t0 != 0 {
				m.verify(data, i, uint32(w), h0, h)
			}
			if t1 != 0 {
				m.verify(data, i+1, uint32(w>>8), h1, h)
			}
			if t2 != 0 {
				m.verify(data, i+2, uint32(w>>16), h2, h)
			}
			if t3 != 0 {
				m.verify(data, i+3, uint32(w>>24), h3, h)
			}
		}
	}
	for ; i < n; i++ {
		w := binary.LittleEndian.Uint32(data[i:]) | foldMask
		hh := (w * hashMul) >> shift
		if filter[(hh>>6)%filterWords]&(1<<(hh&63)) != 0 {
			m.verify(data, i, w, hh, h)
		}
	}
}

// verify checks the candidates of the folded window w, whose hash is hh,
// at position i.
func (m *Matcher) verify(data []byte, i int, w, hh uint32, h *Hits) {
	b := hh >> m.bshift
	for _, e := range m.entries[m.buckets[b]:m.buckets[b+1]] {
		if e.fold == w && m.found(data, i-int(e.anchor), e.uniq) {
			m.report(h, e.uniq)
		}
	}
}

func (m *Matcher) scanShort(data []byte, h *Hits) {
	for i, c := range data {
		if m.one[c] {
			for _, u := range m.oneList[m.oneIdx[c]:m.oneIdx[int(c)+1]] {
				m.report(h, u)
			}
		}
		if m.two == nil || i+1 >= len(data) {
			continue
		}
		w := uint16(fold(c)) | uint16(fold(data[i+1]))<<8
		if m.two[w>>6]&(1<<(w&63)) != 0 {
			for _, u := range m.twoBucket[w] {
				if m.found(data, i, u) {
					m.report(h, u)
				}
			}
		}
	}
}
