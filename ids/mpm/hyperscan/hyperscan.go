//go:build hyperscan

// Package hyperscan finds which of many literal byte patterns occur in a
// buffer with Intel's Hyperscan library (libhs, Debian's
// libhyperscan-dev) through cgo: the same job and the same shape as
// package ids/mpm (New, a Hits per goroutine, Scan), so that the
// detection engine can use either.
//
// It owns the binding to Hyperscan's block-mode literal API and nothing
// else; it is compiled only with the build tag "hyperscan", which the
// Makefile sets when pkg-config finds libhs. Without the tag the pure-Go
// matcher of ids/mpm is the only one.
//
// # Design
//
// From anchorFrom patterns on, Hyperscan is not given the patterns but
// an anchor of each: the anchorLen-byte substring that fewest other
// patterns share and whose bytes are least common in traffic (the choice
// ids/mpm makes of its 4-byte windows), or the whole pattern when it is
// no longer. Rules' literals are made of the words traffic is made of,
// and with thousands of them Hyperscan's literal matcher slows down
// (from 1,560 cpu-MB/s at 100 patterns to 200 at 10,000 on the
// benchmark's traffic); given rare 8-byte anchors it is 1.3 times faster
// at 10,000 patterns, even at 1,000, and 10% slower at 100, where the
// whole patterns are kept (docs/benchmarks.md).
//
// Each anchor's occurrence is verified against the patterns it stands
// for, in the C callback, so that a scan is one cgo
// call: the callback reads the pattern tables (C memory owned by the
// Matcher) and records each pattern found once into the Hits' buffer, a
// Go []uint32 without pointers handed to C for the duration of the call.
// A scan allocates nothing and needs no cgo.Handle. The buffer holds the
// count, the pattern indexes and a bitmap of those seen, which keeps each
// ID once across scans until Reset, as ids/mpm's Hits does.
//
// Anchors are compiled with hs_compile_lit_multi (no escaping: the bytes
// are the literal, NULs included), HS_FLAG_CASELESS for nocase patterns
// (ASCII letters only, as ids/mpm folds), and HS_FLAG_SINGLEMATCH for an
// anchor that is a whole pattern and nothing else: then one report per
// scan is all it needs. Identical patterns are compiled once and report
// all their IDs.
//
// The database, the tables and each Hits' scratch are C memory, freed
// when the Go value that owns them is collected.
package hyperscan

/*
#cgo pkg-config: libhs
#include <hs/hs.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// rs_tables are a Matcher's patterns as the callback reads them.
typedef struct {
	const uint32_t *cand;  // anchor a's candidates: cands[cand[a]] to cands[cand[a+1]]
	const uint32_t *cands; // pairs: unique pattern, bytes from its start to the anchor's end
	const uint32_t *pat;   // triples: offset in text, length, nocase (text lower case)
	const unsigned char *text;
} rs_tables;

// rs_ctx is one scan's. b is the hits buffer: b[0] the number of
// patterns recorded, b[1] the offset of the seen bitmap, the pattern
// indexes from b[2].
typedef struct {
	const rs_tables *t;
	const unsigned char *data;
	unsigned long long len;
	uint32_t *b;
} rs_ctx;

static int rs_on_match(unsigned int a, unsigned long long from,
		unsigned long long to, unsigned int flags, void *ctx) {
	rs_ctx *c = ctx;
	const rs_tables *t = c->t;
	uint32_t *b = c->b;
	uint32_t *seen = b + b[1];
	for (uint32_t i = t->cand[a]; i < t->cand[a + 1]; i++) {
		uint32_t u = t->cands[2 * i], back = t->cands[2 * i + 1];
		uint32_t bit = 1u << (u & 31);
		if (seen[u >> 5] & bit) {
			continue;
		}
		const uint32_t *p = t->pat + 3 * u;
		if (to < back || to - back + p[1] > c->len) {
			continue;
		}
		const unsigned char *d = c->data + (to - back), *s = t->text + p[0];
		uint32_t n = p[1], j = 0;
		if (p[2]) {
			for (; j < n; j++) {
				unsigned char x = d[j], y = s[j];
				if (x != y && ((x | 0x20) != y || y < 'a' || y > 'z')) {
					break;
				}
			}
		} else if (memcmp(d, s, n) == 0) {
			j = n;
		}
		if (j == n) {
			seen[u >> 5] |= bit;
			b[2 + b[0]++] = u;
		}
	}
	return 0;
}

static int rs_scan(const hs_database_t *db, const rs_tables *t,
		const char *data, unsigned int len, hs_scratch_t *scratch,
		uint32_t *b) {
	rs_ctx c = {t, (const unsigned char *)data, len, b};
	return hs_scan(db, data, len, 0, scratch, rs_on_match, &c);
}

static int rs_compile(const char *const *exprs, const unsigned *flags,
		const unsigned *ids, const size_t *lens, unsigned n,
		hs_database_t **db, char *msg, size_t msglen, int *expr) {
	hs_compile_error_t *err = NULL;
	int rc = hs_compile_lit_multi(exprs, flags, ids, lens, n, HS_MODE_BLOCK,
		NULL, db, &err);
	if (rc != HS_SUCCESS && err != NULL) {
		size_t i = 0;
		for (; i + 1 < msglen && err->message[i] != 0; i++) {
			msg[i] = err->message[i];
		}
		msg[i] = 0;
		*expr = err->expression;
		hs_free_compile_error(err);
	}
	return rc;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"unsafe"

	"github.com/rampart-fw/rampart/ids/mpm"
)

const (
	// anchorLen is the length of the anchors Hyperscan looks for, chosen
	// by measurement among 4, 6, 7, 8, 9, 10 and 12 (docs/benchmarks.md).
	anchorLen = 8
	// anchorFrom is the number of patterns from which anchors pay: at
	// 100 Hyperscan is 10% faster given the whole patterns, at 1,000 the
	// two are even, at 10,000 anchors are 1.3 times faster.
	anchorFrom = 1000
	// wholePatterns is an anchor length longer than any pattern.
	wholePatterns = 1 << 30
)

// Version is the Hyperscan library's version string.
var Version = C.GoString(C.hs_version())

// Matcher finds patterns in buffers. It is immutable once built and safe
// for concurrent use; each goroutine scans with its own Hits.
type Matcher struct {
	db         *C.hs_database_t
	tables     *C.rs_tables // and the arrays after it, one C allocation
	tableBytes int
	uniq       [][2]int32 // unique pattern → start and end in ids
	ids        []int32
	nPattern   int
	maxLen     int // bytes of the longest pattern
	dbBytes    int
}

// New builds a matcher for patterns; the ID of a pattern is its index.
// Empty patterns are never reported. The error is Hyperscan's: an
// unsupported CPU (it needs SSSE3) or a pattern set it cannot compile.
func New(patterns []mpm.Pattern) (*Matcher, error) {
	if len(patterns) < anchorFrom {
		return newAnchored(patterns, wholePatterns)
	}
	return newAnchored(patterns, anchorLen)
}

// newAnchored is New with anchors of alen bytes; the benchmarks compare.
func newAnchored(patterns []mpm.Pattern, alen int) (*Matcher, error) {
	m := &Matcher{nPattern: len(patterns)}
	// Unique patterns: nocase ones lower case, as the callback compares.
	type key struct {
		s      string
		nocase bool
	}
	byKey := map[key]int{}
	var lits []key
	var members [][]int32
	for id, p := range patterns {
		if len(p.Bytes) == 0 {
			continue
		}
		k := key{string(p.Bytes), p.Nocase}
		if p.Nocase {
			k.s = string(mpm.LowerASCII(p.Bytes))
		}
		u, ok := byKey[k]
		if !ok {
			u = len(lits)
			byKey[k] = u
			lits = append(lits, k)
			members = append(members, nil)
		}
		members[u] = append(members[u], int32(id))
		m.maxLen = max(m.maxLen, len(p.Bytes))
	}
	for _, mem := range members {
		m.uniq = append(m.uniq, [2]int32{int32(len(m.ids)), int32(len(m.ids) + len(mem))})
		m.ids = append(m.ids, mem...)
	}
	if len(lits) == 0 {
		return m, nil
	}

	// Each pattern's anchor; patterns sharing one are its candidates.
	share := map[string]int{} // folded window → patterns with it
	for _, k := range lits {
		seen := map[string]bool{}
		f := mpm.LowerASCII([]byte(k.s))
		for i := 0; i+alen <= len(f) && len(f) > alen; i++ {
			if w := string(f[i : i+alen]); !seen[w] {
				seen[w] = true
				share[w]++
			}
		}
	}
	type cand struct {
		anchor int
		u      int
		back   int // bytes from the pattern's start to the anchor's end
	}
	anchors := map[key]int{}
	var anchorLits []key
	var cands []cand
	for u, k := range lits {
		off := 0
		if len(k.s) > alen {
			f := mpm.LowerASCII([]byte(k.s))
			best := 1 << 30
			for i := 0; i+alen <= len(f); i++ {
				cost := share[string(f[i:i+alen])] * 64
				for _, c := range f[i : i+alen] {
					cost += mpm.ByteCost(c)
				}
				if cost < best {
					off, best = i, cost
				}
			}
		}
		n := min(len(k.s), alen)
		ak := key{k.s[off : off+n], k.nocase}
		a, ok := anchors[ak]
		if !ok {
			a = len(anchorLits)
			anchors[ak] = a
			anchorLits = append(anchorLits, ak)
		}
		cands = append(cands, cand{anchor: a, u: u, back: off + n})
	}
	slices.SortStableFunc(cands, func(x, y cand) int { return x.anchor - y.anchor })

	// The tables, in one C allocation: the struct, then the arrays of
	// uint32, then the patterns' text.
	nA, nC, nU := len(anchorLits), len(cands), len(lits)
	text := 0
	for _, k := range lits {
		text += len(k.s)
	}
	head := int(unsafe.Sizeof(C.rs_tables{}))
	words := nA + 1 + 2*nC + 3*nU
	m.tableBytes = head + 4*words + text
	blob := C.malloc(C.size_t(m.tableBytes))
	m.tables = (*C.rs_tables)(blob)
	w := unsafe.Slice((*uint32)(unsafe.Add(blob, head)), words)
	candIdx, candArr, patArr := w[:nA+1], w[nA+1:nA+1+2*nC], w[nA+1+2*nC:]
	textBase := unsafe.Add(blob, head+4*words)
	textS := unsafe.Slice((*byte)(textBase), text)
	m.tables.cand = (*C.uint32_t)(unsafe.Pointer(&candIdx[0]))
	m.tables.cands = (*C.uint32_t)(unsafe.Pointer(&candArr[0]))
	m.tables.pat = (*C.uint32_t)(unsafe.Pointer(&patArr[0]))
	m.tables.text = (*C.uchar)(textBase)
	off := 0
	for u, k := range lits {
		copy(textS[off:], k.s)
		patArr[3*u], patArr[3*u+1] = uint32(off), uint32(len(k.s))
		patArr[3*u+2] = 0
		if k.nocase {
			patArr[3*u+2] = 1
		}
		off += len(k.s)
	}
	candIdx[0] = 0
	for i, c := range cands {
		candArr[2*i], candArr[2*i+1] = uint32(c.u), uint32(c.back)
		candIdx[c.anchor+1] = uint32(i + 1) // every anchor has a candidate
	}
	runtime.AddCleanup(m, func(p unsafe.Pointer) { C.free(p) }, blob)

	// Hyperscan's arguments live in C memory: the expression array holds
	// pointers, which Go memory passed to C may not.
	total := 0
	for _, k := range anchorLits {
		total += len(k.s)
	}
	atext := C.malloc(C.size_t(total))
	exprs := C.malloc(C.size_t(nA) * C.size_t(unsafe.Sizeof(uintptr(0))))
	lens := C.malloc(C.size_t(nA) * C.size_t(unsafe.Sizeof(C.size_t(0))))
	flags := C.malloc(C.size_t(nA) * C.size_t(unsafe.Sizeof(C.uint(0))))
	ids := C.malloc(C.size_t(nA) * C.size_t(unsafe.Sizeof(C.uint(0))))
	defer func() {
		for _, p := range []unsafe.Pointer{atext, exprs, lens, flags, ids} {
			C.free(p)
		}
	}()
	atextS := unsafe.Slice((*byte)(atext), total)
	exprS := unsafe.Slice((**C.char)(exprs), nA)
	lenS := unsafe.Slice((*C.size_t)(lens), nA)
	flagS := unsafe.Slice((*C.uint)(flags), nA)
	idS := unsafe.Slice((*C.uint)(ids), nA)
	off = 0
	for a, k := range anchorLits {
		copy(atextS[off:], k.s)
		exprS[a] = (*C.char)(unsafe.Add(atext, off))
		lenS[a] = C.size_t(len(k.s))
		idS[a] = C.uint(a)
		flagS[a] = 0
		if k.nocase {
			flagS[a] |= C.HS_FLAG_CASELESS
		}
		// An anchor that is one whole pattern and nothing else need
		// be reported once per scan.
		if c := cands[candIdx[a]]; candIdx[a+1]-candIdx[a] == 1 && c.back == len(lits[c.u].s) {
			flagS[a] |= C.HS_FLAG_SINGLEMATCH
		}
		off += len(k.s)
	}
	var msg [256]C.char
	var expr C.int
	rc := C.rs_compile((**C.char)(exprs), (*C.uint)(flags), (*C.uint)(ids), (*C.size_t)(lens), C.uint(nA),
		&m.db, &msg[0], C.size_t(len(msg)), &expr)
	if rc != C.HS_SUCCESS {
		if rc == C.HS_COMPILER_ERROR {
			if expr >= 0 && int(expr) < nA {
				u := cands[candIdx[expr]].u
				return nil, fmt.Errorf("hyperscan: pattern %d (%q): %s", members[u][0], lits[u].s, C.GoString(&msg[0]))
			}
			return nil, fmt.Errorf("hyperscan: %s", C.GoString(&msg[0]))
		}
		return nil, fmt.Errorf("hyperscan: compile: %w", hsError(rc))
	}
	var size C.size_t
	if C.hs_database_size(m.db, &size) == C.HS_SUCCESS {
		m.dbBytes = int(size)
	}
	runtime.AddCleanup(m, func(db *C.hs_database_t) { C.hs_free_database(db) }, m.db)
	return m, nil
}

// hsError names Hyperscan's error codes that New and NewHits can meet.
func hsError(rc C.hs_error_t) error {
	switch rc {
	case C.HS_NOMEM:
		return errors.New("out of memory")
	case C.HS_ARCH_ERROR:
		return errors.New("this CPU lacks the instructions Hyperscan needs (SSSE3)")
	case C.HS_INVALID:
		return errors.New("invalid parameter")
	case C.HS_SCRATCH_IN_USE:
		return errors.New("scratch in use: one Hits used by two goroutines at once")
	}
	return fmt.Errorf("error %d", int(rc))
}

// Len returns the number of patterns the matcher was built with.
func (m *Matcher) Len() int { return m.nPattern }

// MemoryBytes returns the bytes the compiled database and the pattern
// tables take (not the scratch of each Hits).
func (m *Matcher) MemoryBytes() int { return m.dbBytes + m.tableBytes + 8*len(m.uniq) + 4*len(m.ids) }

// Hits collects the IDs found by scans: each ID once, in the order first
// found (within a scan, in the order Hyperscan reports them). Reuse one
// per goroutine: Reset clears it in time proportional to what it holds.
type Hits struct {
	m       *Matcher // the matcher whose scratch and patterns this fits
	scratch *C.hs_scratch_t
	// buf is shared with the C callback during a scan: buf[0] the count
	// of unique patterns recorded, buf[1] the offset of the seen bitmap,
	// buf[2:2+count] their indexes.
	buf  []uint32
	done int     // indexes of buf already expanded into IDs
	IDs  []int32 // pattern IDs found
}

// NewHits returns a Hits for m, with its own Hyperscan scratch. It
// panics if Hyperscan cannot allocate the scratch (out of memory).
func (m *Matcher) NewHits() *Hits {
	n := len(m.uniq)
	h := &Hits{m: m, buf: make([]uint32, 2+n+(n+31)/32)}
	h.buf[1] = uint32(2 + n)
	if m.db == nil {
		return h
	}
	if rc := C.hs_alloc_scratch(m.db, &h.scratch); rc != C.HS_SUCCESS {
		panic(fmt.Sprintf("hyperscan: scratch: %v", hsError(rc)))
	}
	runtime.AddCleanup(h, func(s *C.hs_scratch_t) { C.hs_free_scratch(s) }, h.scratch)
	return h
}

// ScratchBytes returns the bytes of h's Hyperscan scratch.
func (h *Hits) ScratchBytes() int {
	if h.scratch == nil {
		return 0
	}
	var size C.size_t
	if C.hs_scratch_size(h.scratch, &size) != C.HS_SUCCESS {
		return 0
	}
	return int(size)
}

// Reset empties h.
func (h *Hits) Reset() {
	seen := h.buf[h.buf[1]:]
	for _, u := range h.buf[2 : 2+h.buf[0]] {
		seen[u>>5] = 0
	}
	h.buf[0] = 0
	h.done = 0
	h.IDs = h.IDs[:0]
}

// Scan adds to h every pattern that occurs in data. It allocates nothing
// once h has held as many IDs before. h must come from m's NewHits and
// not be in use by another goroutine: Scan panics on another matcher's
// Hits, and on an error from Hyperscan (which detects some concurrent
// uses of a scratch), as those are bugs in the caller, not bad input.
func (m *Matcher) Scan(data []byte, h *Hits) {
	if h.m != m {
		// The callback writes indexes into h.buf, sized for h.m.
		panic("hyperscan: Scan with another matcher's Hits")
	}
	if len(data) == 0 || m.db == nil {
		return
	}
	// hs_scan takes an unsigned int length: a larger buffer goes in
	// pieces that overlap by a pattern's length less one byte, so that
	// no occurrence is cut.
	const piece = 1 << 31
	for start := 0; ; start += piece - (m.maxLen - 1) {
		chunk := data[start:min(len(data), start+piece)]
		rc := C.rs_scan(m.db, m.tables, (*C.char)(unsafe.Pointer(&chunk[0])), C.uint(len(chunk)), h.scratch, (*C.uint32_t)(unsafe.Pointer(&h.buf[0])))
		if rc != C.HS_SUCCESS {
			panic(fmt.Sprintf("hyperscan: scan: %v", hsError(rc)))
		}
		if start+len(chunk) == len(data) {
			break
		}
	}
	runtime.KeepAlive(m)
	runtime.KeepAlive(h)
	n := int(h.buf[0])
	for _, u := range h.buf[2+h.done : 2+n] {
		r := m.uniq[u]
		h.IDs = append(h.IDs, m.ids[r[0]:r[1]]...)
	}
	h.done = n
}
