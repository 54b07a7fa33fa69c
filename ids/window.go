package ids

import "github.com/rampart-fw/rampart/ids/stream"

// streamTail is the end of one direction's stream as last inspected: the
// context the next chunk is inspected with. The stream hands data on in
// chunks (as the receiver acknowledges it, or as each packet brings it
// in order in line), and a pattern may straddle two; inspected alone,
// each chunk would miss it. So each chunk is inspected after the last
// bytes of the one before (Engine.context of them: the longest match a
// rule on the stream can make, within Config.StreamContext), and
// detection accepts only matches that reach into the chunk's own bytes
// (detect.Input.StreamNew): a match wholly in the tail was reported
// with the chunk that brought it.
type streamTail struct {
	buf []byte // its capacity stays with the flowState for the next flow
	off uint64 // the stream offset of buf[0]
	// small holds buf when the rules need no more context than it has
	// (content-only rule sets): a flow state made for a new flow then
	// costs no allocation for its tails.
	small [smallTail]byte
}

// smallTail is the context a tail keeps in place.
const smallTail = 64

// window returns what to inspect for chunk c of the direction whose tail
// is t: the tail then c's bytes (in the scratch's buffer), the stream
// offset of its first byte, and the index of c's first byte in it.
func (sc *scratch) window(t *streamTail, c stream.Chunk) (win []byte, base uint64, fresh int) {
	if len(t.buf) == 0 || t.off+uint64(len(t.buf)) != c.Off {
		return c.Data, c.Off, 0
	}
	sc.win = append(append(sc.win[:0], t.buf...), c.Data...)
	return sc.win, t.off, len(t.buf)
}

// keep makes the last n bytes of win, the window inspected at stream
// offset base, the tail.
func (t *streamTail) keep(win []byte, base uint64, n int) {
	k := min(n, len(win))
	if n <= smallTail {
		t.buf = t.small[:0]
	} else if k > cap(t.buf) {
		// Grown by steps to n, not to it at once: most flows are short.
		t.buf = make([]byte, 0, min(n, max(k, 2*cap(t.buf), 64)))
	}
	t.off = base + uint64(len(win)-k)
	t.buf = append(t.buf[:0], win[len(win)-k:]...)
}

// reset forgets the tail: after a gap, nothing before it is next to what
// follows.
func (t *streamTail) reset() { t.buf = t.buf[:0] }
