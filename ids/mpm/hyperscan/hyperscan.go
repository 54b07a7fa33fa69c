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
// # Binding
//
// Patterns are compiled with hs_compile_lit_multi (no escaping: the
// bytes are the literal, NULs included), each with HS_FLAG_SINGLEMATCH
// so that Hyperscan calls back at most once per pattern and scan, and
// HS_FLAG_CASELESS for nocase ones (ASCII letters only, as ids/mpm
// folds). Identical patterns are compiled once and report all their IDs.
//
// A scan is one cgo call. The match callback is C: it records the
// pattern's index into the Hits' buffer, a Go []uint32 without pointers
// handed to C for the duration of the call, so a scan allocates nothing
// and needs no cgo.Handle. The buffer holds the count, the indexes and a
// bitmap of those seen, which keeps each ID once across scans until
// Reset, as ids/mpm's Hits does.
//
// The database and each Hits' scratch are C memory, freed when the Go
// value that owns them is collected.
package hyperscan

/*
#cgo pkg-config: libhs
#include <hs/hs.h>
#include <stdint.h>
#include <stdlib.h>

// The hits buffer: b[0] the number of indexes recorded, b[1] the offset
// of the seen bitmap, the indexes from b[2].
static int rs_on_match(unsigned int id, unsigned long long from,
		unsigned long long to, unsigned int flags, void *ctx) {
	uint32_t *b = ctx;
	uint32_t *seen = b + b[1];
	uint32_t bit = 1u << (id & 31);
	if (!(seen[id >> 5] & bit)) {
		seen[id >> 5] |= bit;
		b[2 + b[0]++] = id;
	}
	return 0;
}

static int rs_scan(const hs_database_t *db, const char *data,
		unsigned int len, hs_scratch_t *scratch, uint32_t *b) {
	return hs_scan(db, data, len, 0, scratch, rs_on_match, b);
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
	"unsafe"

	"github.com/rampart-fw/rampart/ids/mpm"
)

// Version is the Hyperscan library's version string.
var Version = C.GoString(C.hs_version())

// Matcher finds patterns in buffers. It is immutable once built and safe
// for concurrent use; each goroutine scans with its own Hits.
type Matcher struct {
	db       *C.hs_database_t
	uniq     [][2]int32 // unique pattern → start and end in ids
	ids      []int32
	nPattern int
	maxLen   int // bytes of the longest pattern
	dbBytes  int
}

// New builds a matcher for patterns; the ID of a pattern is its index.
// Empty patterns are never reported. The error is Hyperscan's: an
// unsupported CPU (it needs SSSE3) or a pattern set it cannot compile.
func New(patterns []mpm.Pattern) (*Matcher, error) {
	m := &Matcher{nPattern: len(patterns)}
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

	// Hyperscan's arguments live in C memory: the expression array holds
	// pointers, which Go memory passed to C may not.
	n := len(lits)
	total := 0
	for _, k := range lits {
		total += len(k.s)
	}
	text := C.malloc(C.size_t(total))
	exprs := C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof(uintptr(0))))
	lens := C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof(C.size_t(0))))
	flags := C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof(C.uint(0))))
	ids := C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof(C.uint(0))))
	defer func() {
		for _, p := range []unsafe.Pointer{text, exprs, lens, flags, ids} {
			C.free(p)
		}
	}()
	textS := unsafe.Slice((*byte)(text), total)
	exprS := unsafe.Slice((**C.char)(exprs), n)
	lenS := unsafe.Slice((*C.size_t)(lens), n)
	flagS := unsafe.Slice((*C.uint)(flags), n)
	idS := unsafe.Slice((*C.uint)(ids), n)
	off := 0
	for u, k := range lits {
		copy(textS[off:], k.s)
		exprS[u] = (*C.char)(unsafe.Add(text, off))
		lenS[u] = C.size_t(len(k.s))
		flagS[u] = C.HS_FLAG_SINGLEMATCH
		if k.nocase {
			flagS[u] |= C.HS_FLAG_CASELESS
		}
		idS[u] = C.uint(u)
		off += len(k.s)
	}
	var msg [256]C.char
	var expr C.int
	rc := C.rs_compile((**C.char)(exprs), (*C.uint)(flags), (*C.uint)(ids), (*C.size_t)(lens), C.uint(n),
		&m.db, &msg[0], C.size_t(len(msg)), &expr)
	if rc != C.HS_SUCCESS {
		if rc == C.HS_COMPILER_ERROR {
			if expr >= 0 && int(expr) < n {
				return nil, fmt.Errorf("hyperscan: pattern %d (%q): %s", members[expr][0], lits[expr].s, C.GoString(&msg[0]))
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

// MemoryBytes returns the bytes the compiled database and the ID tables
// take (not the scratch of each Hits).
func (m *Matcher) MemoryBytes() int { return m.dbBytes + 8*len(m.uniq) + 4*len(m.ids) }

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
// not be in use by another goroutine; Scan panics otherwise, as that is
// a bug in the caller, not bad input.
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
		rc := C.rs_scan(m.db, (*C.char)(unsafe.Pointer(&chunk[0])), C.uint(len(chunk)), h.scratch, (*C.uint32_t)(unsafe.Pointer(&h.buf[0])))
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
