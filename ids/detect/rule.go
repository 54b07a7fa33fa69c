package detect

import (
	"math"

	"github.com/rampart-fw/rampart/ids/buffer"
	"github.com/rampart-fw/rampart/ids/mpm"
	"github.com/rampart-fw/rampart/ids/rules"
	"github.com/rampart-fw/rampart/ipproto"
)

// crule is a rule compiled for evaluation.
type crule struct {
	r        *rules.Rule
	idx      int32
	portsAny bool

	fast    *rules.Content // the fast pattern; nil when the rule has none the prefilter can use
	fastBuf buffer.ID

	lists             []clist
	appDir            buffer.Direction // ToClient when a list inspects a server-side buffer
	needPacket        bool
	noStream          bool // payload only from packets
	onlyStream        bool // payload only from the stream
	dsizeNeedsPayload bool

	bitTests []cbit
	bitOps   []cbit
}

type cbit struct {
	op  rules.FlowbitOp
	ids []BitID
	any bool
}

// clist is one buffer's payload keywords.
type clist struct {
	buf   buffer.ID
	items []citem
}

type itemKind uint8

const (
	kContent itemKind = iota + 1
	kPCRE
	kByteTest
	kIsDataAt
)

// citem is one payload keyword, flattened for the evaluator.
type citem struct {
	kind itemKind
	c    *rules.Content
	pat  []byte // content pattern, lower case when nocase
	// Content placement, resolved as Suricata's content inspection uses
	// it: depth is absolute (offset+depth, or the pattern length for
	// startswith).
	relative bool
	depth    int
	p        *rules.PCRE
	needPos  bool // something after the pcre uses its match position
	bt       *rules.ByteTest
	btShift  uint
	d        *rules.IsDataAt
}

// Unbounded is the span of keywords whose matches can be any length.
const Unbounded = math.MaxInt

// addSpan adds two spans, Unbounded absorbing.
func addSpan(a, b int) int {
	if a == Unbounded || b == Unbounded || a > Unbounded-b {
		return Unbounded
	}
	return a + b
}

// span returns how many bytes of the buffer a match of the list can
// cover, from the first byte one of its keywords examines to the last.
// It follows two bounds and takes the smaller: rel, the extent of the
// chain from its first keyword's match (relative keywords with a
// bounded window add to it; a later absolute one makes it Unbounded),
// and abs, the furthest byte from the buffer's start any keyword can
// reach (absolute keywords with a depth bound it; relative ones add
// their window).
func (l *clist) span() int {
	rel, abs := 0, 0
	for i := range l.items {
		it := &l.items[i]
		first := i == 0
		// ext is how far a relative keyword reaches past the previous
		// match, back (a negative distance or offset) and forth.
		relative, ext, own, reach := false, 0, 0, Unbounded
		switch it.kind {
		case kContent:
			c := it.c
			own = len(it.pat)
			if it.relative {
				if !c.HasWithin {
					return Unbounded
				}
				relative, ext = true, max(c.Distance+c.Within, own, 0)+max(-c.Distance, 0)
			} else if it.depth != 0 {
				reach = it.depth
			}
		case kPCRE:
			return Unbounded
		case kByteTest:
			bt := it.bt
			own = bt.NBytes
			if bt.Relative {
				relative, ext = true, max(bt.Offset+bt.NBytes, 0)+max(-bt.Offset, 0)
			} else {
				reach = max(bt.Offset+bt.NBytes, 0)
			}
		case kIsDataAt:
			d := it.d
			own = 1
			if d.Relative {
				relative, ext = true, max(d.N, 0)
			} else {
				reach = max(d.N+1, 0)
			}
		}
		switch {
		case relative:
			rel, abs = addSpan(rel, ext), addSpan(abs, ext)
		case first:
			rel, abs = own, reach
		default:
			rel, abs = Unbounded, max(abs, reach)
		}
	}
	return min(rel, abs)
}

func (r *crule) inClass(class int) bool {
	p := r.r.Protos
	switch class {
	case classTCP:
		return p.Has(ipproto.TCP)
	case classUDP:
		return p.Has(ipproto.UDP)
	}
	for i := range 256 {
		if proto := ipproto.Proto(i); proto != ipproto.TCP && proto != ipproto.UDP && p.Has(proto) {
			return true
		}
	}
	return false
}

// bufferPriority ranks buffers for the choice of fast pattern, as
// Suricata's registration does: application buffers first, then the
// payload, then http.method last.
func bufferPriority(b buffer.ID) int {
	switch b {
	case buffer.Payload:
		return 1
	case buffer.HTTPMethod:
		return 0
	}
	return 2
}

// patternStrength is Suricata's measure of a pattern's diversity, the
// third criterion of the fast-pattern choice.
func patternStrength(p []byte) int {
	var seen [256]bool
	s := 0
	for _, c := range p {
		if seen[c] {
			s++
			continue
		}
		seen[c] = true
		switch {
		case c|0x20 >= 'a' && c|0x20 <= 'z':
			s += 3
		case c >= 0x20 && c < 0x7f, c == 0, c == 1, c == 0xff:
			s += 4
		default:
			s += 6
		}
	}
	return s
}

// chooseFast picks the rule's fast pattern: the one marked fast_pattern,
// else, among the positive contents (the negated ones when there are no
// positive ones), the one in the buffer of highest priority, then the
// longest, then the strongest, then the buffer registered last, then the
// first. A negated fast pattern cannot select candidates: the rule is
// then evaluated without prefilter.
func chooseFast(r *rules.Rule) (*rules.Content, buffer.ID) {
	var best *rules.Content
	var bestBuf buffer.ID
	positive := false
	for _, l := range r.Lists {
		for _, it := range l.Items {
			if c, ok := it.(*rules.Content); ok {
				if c.FastPattern {
					if c.Negated {
						return nil, 0
					}
					return c, l.Buffer
				}
				positive = positive || !c.Negated
			}
		}
	}
	better := func(c *rules.Content, b buffer.ID) bool {
		if best == nil {
			return true
		}
		if d := bufferPriority(b) - bufferPriority(bestBuf); d != 0 {
			return d > 0
		}
		if d := len(c.Pattern) - len(best.Pattern); d != 0 {
			return d > 0
		}
		if d := patternStrength(c.Pattern) - patternStrength(best.Pattern); d != 0 {
			return d > 0
		}
		return b > bestBuf
	}
	for _, l := range r.Lists {
		for _, it := range l.Items {
			if c, ok := it.(*rules.Content); ok && c.Negated != positive && better(c, l.Buffer) {
				best, bestBuf = c, l.Buffer
			}
		}
	}
	if best == nil || best.Negated {
		return nil, 0
	}
	return best, bestBuf
}

func compileRule(r *rules.Rule, idx int32) (*crule, error) {
	cr := &crule{r: r, idx: idx, portsAny: r.SrcPorts.IsAny() && r.DstPorts.IsAny()}
	cr.fast, cr.fastBuf = chooseFast(r)
	cr.needPacket = r.Dsize != nil || r.TCPFlags != nil || r.TTL != nil || r.IType != nil || r.ICode != nil
	cr.noStream = r.Flow.NoStream || r.PacketOnly
	cr.onlyStream = r.Flow.OnlyStream || r.StreamOnly
	if d := r.Dsize; d != nil {
		switch d.Mode {
		case rules.IntRange, rules.IntGT, rules.IntNE, rules.IntGE:
			cr.dsizeNeedsPayload = true
		}
	}
	for _, l := range r.Lists {
		if l.Buffer.Direction() == buffer.ToClient {
			cr.appDir = buffer.ToClient
		}
		cl := clist{buf: l.Buffer}
		for i, it := range l.Items {
			var ci citem
			switch v := it.(type) {
			case *rules.Content:
				ci = citem{kind: kContent, c: v, pat: v.Pattern, relative: v.Relative()}
				if v.Nocase {
					ci.pat = mpm.LowerASCII(v.Pattern)
				}
				switch {
				case v.StartsWith:
					ci.depth = len(v.Pattern)
				case v.HasDepth:
					ci.depth = v.Offset + v.Depth
				}
			case *rules.PCRE:
				ci = citem{kind: kPCRE, p: v, needPos: i+1 < len(l.Items)}
			case *rules.ByteTest:
				ci = citem{kind: kByteTest, bt: v}
				if v.HasBitmask {
					for v.Bitmask>>ci.btShift&1 == 0 {
						ci.btShift++
					}
				}
			case *rules.IsDataAt:
				ci = citem{kind: kIsDataAt, d: v}
			}
			cl.items = append(cl.items, ci)
		}
		cr.lists = append(cr.lists, cl)
	}
	for _, f := range r.Flowbits {
		b := cbit{op: f.Op, any: f.Any}
		for _, n := range f.Names {
			b.ids = append(b.ids, Bit(n))
		}
		if f.Op == rules.BitIsSet || f.Op == rules.BitIsNotSet {
			cr.bitTests = append(cr.bitTests, b)
		} else {
			cr.bitOps = append(cr.bitOps, b)
		}
	}
	return cr, nil
}

// applyFlowbits runs the rule's set, unset and toggle commands.
func (r *crule) applyFlowbits(f Flow) {
	if len(r.bitOps) == 0 || f == nil {
		return
	}
	bits := f.Bits()
	if bits == nil {
		return
	}
	for _, op := range r.bitOps {
		id := op.ids[0]
		switch op.op {
		case rules.BitSet:
			bits.Set(id)
		case rules.BitUnset:
			bits.Unset(id)
		case rules.BitToggle:
			if bits.Has(id) {
				bits.Unset(id)
			} else {
				bits.Set(id)
			}
		}
	}
}

// testFlowbits evaluates the rule's isset and isnotset conditions.
func (r *crule) testFlowbits(f Flow) bool {
	if len(r.bitTests) == 0 {
		return true
	}
	var bits *Bits
	if f != nil {
		bits = f.Bits()
	}
	has := func(id BitID) bool { return bits != nil && bits.Has(id) }
	for _, t := range r.bitTests {
		want := t.op == rules.BitIsSet
		ok := !t.any
		for _, id := range t.ids {
			if t.any {
				ok = ok || has(id) == want
			} else {
				ok = ok && has(id) == want
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
