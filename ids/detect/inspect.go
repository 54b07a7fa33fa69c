package detect

import (
	"bytes"
	"encoding/binary"
	"math/bits"

	"github.com/rampart-fw/rampart/ids/buffer"
	"github.com/rampart-fw/rampart/ids/rules"
	"github.com/rampart-fw/rampart/ipproto"
)

// match evaluates one rule against the input: everything but thresholds.
func (e *Engine) match(s *Scratch, r *crule, in *Input) bool {
	rr := r.r
	if !r.matchHeader(in.Key) {
		return false
	}
	if rr.App != buffer.AppNone && in.App != rr.App {
		return false
	}
	// Flow.
	var dir buffer.Direction
	established := false
	if in.Flow != nil {
		dir, established = in.Flow.Direction(), in.Flow.Established()
	}
	f := rr.Flow
	if (f.Established && !established) || (f.NotEstablished && established) ||
		(f.ToServer && dir != buffer.ToServer) || (f.ToClient && dir != buffer.ToClient) {
		return false
	}
	if r.appDir == buffer.ToClient && dir == buffer.ToServer {
		return false
	}
	// Packet keywords.
	if r.needPacket {
		if !in.Packet {
			return false
		}
		if d := rr.Dsize; d != nil {
			if r.dsizeNeedsPayload && len(in.Payload) == 0 || !d.Match(uint64(len(in.Payload))) {
				return false
			}
		}
		if t := rr.TTL; t != nil && !t.Match(uint64(in.TTL)) {
			return false
		}
		if t := rr.TCPFlags; t != nil && (in.Key.Proto != ipproto.TCP || !t.Match(uint64(in.TCPFlags))) {
			return false
		}
		isICMP := in.Key.Proto == ipproto.ICMP || in.Key.Proto == ipproto.ICMPv6
		if t := rr.IType; t != nil && (!isICMP || !t.Match(uint64(in.ICMPType))) {
			return false
		}
		if t := rr.ICode; t != nil && (!isICMP || !t.Match(uint64(in.ICMPCode))) {
			return false
		}
	}
	if r.onlyStream && len(r.lists) == 0 && in.Stream == nil {
		return false
	}
	if !r.testFlowbits(in.Flow) {
		return false
	}
	// Payload keywords, buffer by buffer.
	for i := range r.lists {
		l := &r.lists[i]
		if l.buf == buffer.Payload {
			ok := false
			if in.Packet && !r.onlyStream && len(in.Payload) > 0 && (!in.Reassembled || r.needPacket || r.noStream) {
				ok = e.inspectBuffer(s, l.items, in.Payload, 0, 0)
			}
			if !ok && !r.noStream && len(in.Stream) > 0 {
				ok = e.inspectBuffer(s, l.items, in.Stream, int(in.StreamBase), in.StreamNew)
			}
			if !ok {
				return false
			}
			continue
		}
		data, present := in.Buffers.Get(l.buf)
		if !present || !e.inspectBuffer(s, l.items, data, 0, 0) {
			return false
		}
	}
	return true
}

// inspectBuffer runs one buffer's keywords. base is the stream offset
// of buf[0] and fresh the index of its first byte not inspected before
// (both 0 but for a stream window): see Input.StreamNew.
func (e *Engine) inspectBuffer(s *Scratch, items []citem, buf []byte, base, fresh int) bool {
	s.steps = 0
	s.base, s.fresh = base, fresh
	// Before any match, relative keywords count from the buffer's start:
	// the stream's, which lies before a window that starts later.
	r := e.inspect(s, items, 0, buf, -base, 0)
	if s.steps >= e.cfg.RecursionLimit {
		e.Stats.RecursionLimit.Add(1)
	}
	return r == matched
}

// Results of inspect, as Suricata's content inspection has them, and
// stale.
const (
	// stale: the keywords matched, but every byte their match covers
	// lies in the context already inspected (before Scratch.fresh), so
	// it was reported then. Unlike noMatch it makes every keyword try
	// its next occurrence, to find a match that reaches the new bytes.
	stale       = -2
	discontinue = -1 // no match, and no retry of an earlier keyword can help
	noMatch     = 0
	matched     = 1
)

// inspect evaluates items[k:] against buf, the previous match having
// ended at prev (Suricata's buffer_offset) and the matches so far
// covering bytes up to hi. It follows Suricata's
// DetectEngineContentInspection: a content that matches hands on to the
// next keyword, and if that fails and the next keyword is a content with
// within (which a later occurrence moves), tries its own next
// occurrence; a pcre with relative keywords after it likewise. A chain
// that matches but ends in the context (hi <= s.fresh) is stale.
func (e *Engine) inspect(s *Scratch, items []citem, k int, buf []byte, prev, hi int) int {
	if k == len(items) {
		if s.fresh > 0 && hi <= s.fresh {
			return stale
		}
		return matched
	}
	if s.steps++; s.steps >= e.cfg.RecursionLimit {
		return discontinue
	}
	it := &items[k]
	switch it.kind {
	case kContent:
		return e.inspectContent(s, items, k, buf, prev, hi)
	case kPCRE:
		return e.inspectPCRE(s, items, k, buf, prev, hi)
	case kByteTest:
		ok, end := byteTest(it, buf, prev, s.base)
		if !ok {
			return noMatch
		}
		return e.inspect(s, items, k+1, buf, prev, max(hi, end))
	case kIsDataAt:
		d := it.d
		var there bool
		var at int // the end of the byte found
		if d.Relative {
			at = prev + d.N
			there = at <= len(buf)
		} else {
			// An absolute position before the window is data the
			// stream had.
			at = d.N - s.base + 1
			there = at <= len(buf)
		}
		if there == d.Negated {
			// Suricata's one soft failure here: a negated relative
			// isdataat that finds data lets an earlier content retry.
			if there && d.Relative {
				return noMatch
			}
			return discontinue
		}
		if there {
			hi = max(hi, at)
		}
		return e.inspect(s, items, k+1, buf, prev, hi)
	}
	return noMatch
}

func (e *Engine) inspectContent(s *Scratch, items []citem, k int, buf []byte, prev, hi int) int {
	it := &items[k]
	c := it.c
	retryFrom := 0
	sawStale := false
	for {
		depth := len(buf)
		offset := 0
		if it.relative {
			offset = prev
			if c.HasDistance {
				if c.Distance < 0 && -c.Distance > offset {
					offset = 0
				} else {
					offset += c.Distance
				}
			}
			if c.HasWithin {
				// A window that ends before the buffer starts wraps to
				// the whole buffer in Suricata's unsigned arithmetic;
				// one that ends before a stream window starts is gone.
				end := prev + c.Within + c.Distance
				switch {
				case end < 0 && prev < 0:
					depth = 0
				case end < depth && end >= 0:
					depth = end
				}
			}
			offset = max(offset, 0)
		} else {
			// Offset and depth count from the start of the stream: in a
			// window that starts later, they move back by its base.
			if it.depth != 0 {
				depth = it.depth - s.base
			}
			offset = max(c.Offset-s.base, 0)
		}
		if retryFrom != 0 {
			offset = retryFrom
		}
		depth = min(depth, len(buf))
		if offset > depth || depth <= 0 {
			if sawStale {
				return stale
			}
			if c.Negated {
				return e.inspect(s, items, k+1, buf, prev, hi)
			}
			return noMatch
		}
		window := buf[offset:depth]
		found := -1
		switch {
		case c.EndsWith && depth < len(buf):
		case len(it.pat) > len(window):
		case c.Nocase:
			found = indexFold(window, it.pat)
		default:
			found = bytes.Index(window, it.pat)
		}
		if found < 0 {
			if sawStale {
				return stale
			}
			if c.Negated {
				return e.inspect(s, items, k+1, buf, prev, hi)
			}
			if !it.relative {
				return discontinue
			}
			return noMatch
		}
		end := offset + found + len(it.pat)
		if c.Negated {
			// Suricata compares the window's length with the absolute
			// end: kept as it is, so that verdicts agree.
			if c.EndsWith && len(window) != end {
				return e.inspect(s, items, k+1, buf, prev, hi)
			}
			if c.Single() {
				return discontinue
			}
			return noMatch
		}
		if !c.EndsWith || end == len(buf) {
			r := e.inspect(s, items, k+1, buf, end, max(hi, end))
			switch {
			case r == stale:
				sawStale = true
			case r != noMatch:
				return r
			case sawStale:
				return stale
			case !c.RetryOnFailure():
				return discontinue
			}
		}
		retryFrom = end - len(it.pat) + 1
	}
}

func (e *Engine) inspectPCRE(s *Scratch, items []citem, k int, buf []byte, prev, hi int) int {
	it := &items[k]
	p := it.p
	subject, base := buf, 0
	relative := p.Relative && prev >= 0 // before any match, relative is from the stream's start
	if relative {
		subject, base = buf[min(prev, len(buf)):], min(prev, len(buf))
	}
	from := 0
	if s.fresh > 0 && s.base > 0 && !relative {
		// The window starts with context, not at the stream's start: ^
		// and \A must not match there. (A window without context, after
		// a gap, starts with a new byte, where they do, as Suricata's do
		// at the start of the raw data after a gap.)
		from = 1
	}
	if !it.needPos && s.fresh == 0 && from == 0 {
		if p.Re.Match(subject, &s.pcreBuf) == p.Negated {
			return noMatch
		}
		return e.inspect(s, items, k+1, buf, prev, hi)
	}
	sawStale := false
	for {
		start, end, ok := p.Re.Find(subject, from, &s.pcreBuf)
		next, nhi := prev, hi
		if ok {
			if p.Negated {
				return noMatch
			}
			next = base + end
			nhi = max(hi, next)
		} else if !p.Negated {
			if sawStale {
				return stale
			}
			return noMatch
		}
		r := e.inspect(s, items, k+1, buf, next, nhi)
		switch {
		case r == stale && ok:
			sawStale = true
		case !p.RetryOnFailure() || r != noMatch:
			return r
		case sawStale:
			return stale
		case !ok: // a negated pcre has no occurrence to move on from
			return noMatch
		}
		from = start + 1
		if from > len(subject) {
			if sawStale {
				return stale
			}
			return noMatch
		}
	}
}

// indexFold returns the index of the first occurrence of lower (a lower
// case pattern) in h, ASCII letters compared without case, or -1.
func indexFold(h, lower []byte) int {
	first := lower[0]
	upper := first
	if first >= 'a' && first <= 'z' {
		upper = first - 0x20
	}
	n := len(lower)
	for i := 0; i+n <= len(h); i++ {
		c := h[i]
		if c != first && c != upper {
			j := indexEither(h[i+1:len(h)-n+1], first, upper)
			if j < 0 {
				return -1
			}
			i += j
		}
		if equalFold(h[i+1:i+n], lower[1:]) {
			return i
		}
	}
	return -1
}

// indexEither returns the index of the first byte of h that is a or b.
// The -1 it returns past the end makes indexFold's loop advance to the
// candidate.
func indexEither(h []byte, a, b byte) int {
	if a == b {
		i := bytes.IndexByte(h, a)
		if i < 0 {
			return -1
		}
		return i + 1
	}
	for i, c := range h {
		if c == a || c == b {
			return i + 1
		}
	}
	return -1
}

func equalFold(h, lower []byte) bool {
	for i, c := range lower {
		x := h[i]
		if x != c && (x|0x20 != c || c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// byteTest evaluates a byte_test as Suricata's DetectBytetestDoMatch,
// and returns the end of the bytes it read. An absolute offset counts
// from the stream's start: base is the stream offset of buf[0].
func byteTest(it *citem, buf []byte, prev, base int) (bool, int) {
	bt := it.bt
	if len(buf) == 0 {
		return false, 0
	}
	start := bt.Offset - base
	if bt.Relative {
		start = bt.Offset + prev
		if len(buf)-start <= 0 {
			return false, 0
		}
	}
	if start < 0 || bt.NBytes > len(buf)-start {
		return false, 0
	}
	data := buf[start : start+bt.NBytes]
	var val uint64
	if bt.String {
		v, ok := parseLeadingUint(data, bt.Base)
		if !ok {
			return false, 0
		}
		val = v
	} else {
		var b [8]byte
		if bt.LittleEndian {
			copy(b[:], data)
			val = binary.LittleEndian.Uint64(b[:])
		} else {
			copy(b[8-len(data):], data)
			val = binary.BigEndian.Uint64(b[:])
		}
	}
	if bt.HasBitmask {
		val &= bt.Bitmask
		if val != 0 {
			val >>= it.btShift
		}
	}
	var m bool
	switch bt.Op {
	case rules.OpEQ:
		m = val == bt.Value
	case rules.OpLT:
		m = val < bt.Value
	case rules.OpGT:
		m = val > bt.Value
	case rules.OpLE:
		m = val <= bt.Value
	case rules.OpGE:
		m = val >= bt.Value
	case rules.OpAND:
		m = val&bt.Value != 0
	case rules.OpXOR:
		m = val^bt.Value != 0
	}
	return m != bt.Negated, start + bt.NBytes
}

// parseLeadingUint reads a number written in base at the start of b, as
// strtoull does: leading white space, an optional +, a 0x for base 16,
// then digits up to the first that is not one. No digit, or overflow,
// is no number.
func parseLeadingUint(b []byte, base int) (uint64, bool) {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] >= '\t' && b[i] <= '\r') {
		i++
	}
	if i < len(b) && b[i] == '+' {
		i++
	}
	if base == 16 && i+1 < len(b) && b[i] == '0' && b[i+1]|0x20 == 'x' {
		i += 2
	}
	var v uint64
	j := i
	for ; j < len(b); j++ {
		d := digitValue(b[j])
		if d >= base {
			break
		}
		hi, lo := bits.Mul64(v, uint64(base))
		if hi != 0 || lo+uint64(d) < lo {
			return 0, false
		}
		v = lo + uint64(d)
	}
	return v, j > i
}

func digitValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c|0x20 >= 'a' && c|0x20 <= 'z':
		return int(c|0x20-'a') + 10
	}
	return 99
}
