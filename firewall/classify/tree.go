package classify

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"net/netip"
	"slices"

	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// treeEngine classifies the IPv4 packets of one direction with a decision
// tree in the manner of HiCuts. Each rule becomes one or more boxes, one
// range per field (the product of its prefix, port and protocol lists); a
// box's prio is its rule's position among the engine's rules, so the
// smallest prio that matches is the first rule that matches. An internal
// node cuts one field of its region into 2^k equal parts; a leaf holds the
// few boxes that overlap its region, in prio order, and the first of them
// that matches is the answer.
//
// The tree is stored as 64-bit references in one flat array. An internal
// reference holds everything its step needs (field, shift, mask and the
// offset of its children), so a level costs one dependent load; a leaf
// reference holds the offset and count of its boxes, which are copied
// into the leaf so that a leaf is one contiguous scan.
type treeEngine struct {
	root  uint64
	refs  []uint64
	boxes []box4
	metas []ruleMeta // by prio
	// index and action map a prio to the rule's index and action.
	index  []int32
	action []Action

	nodes, leaves, maxDepth int
}

// Layout of a reference. The lookup packs the key's fields into two
// words (see fieldWord and fieldBase), so that a node's child index is a
// shift and a mask of one of them. An internal reference: bits 0-31 the
// offset of the children in refs, 32-47 the mask of the child index,
// 48-53 the shift, bit 56 set for the second word. A leaf reference: bit
// 63 set, bits 0-31 the offset of the boxes, 32-62 their count.
const (
	refLeaf   = 1 << 63
	refWord2  = 1 << 56
	emptyLeaf = refLeaf
	noMatch   = ^uint32(0)
	// maxCutBits bounds a node's fan-out so that the mask fits its bits.
	maxCutBits = 16
)

// fieldWord and fieldBase place the fields in the two words: source and
// destination address in the first, the ports and the protocol in the
// second.
var (
	fieldWord = [ndim]int{0, 0, 1, 1, 1}
	fieldBase = [ndim]int{32, 0, 24, 8, 0}
)

func internalRef(off uint32, field, shift, cutBits int) uint64 {
	ref := uint64(off) | uint64(1<<cutBits-1)<<32 | uint64(fieldBase[field]+shift)<<48
	if fieldWord[field] == 1 {
		ref |= refWord2
	}
	return ref
}

func leafRef(off, n int) uint64 { return refLeaf | uint64(n)<<32 | uint64(off) }

// box4 is a box in the form the lookup reads: 32 bytes, two to a cache
// line. Fields other than addresses, ports and protocol are rare in rules,
// so they live in metas, read only for boxes with meta set.
type box4 struct {
	srcLo, srcHi, dstLo, dstHi         uint32
	sportLo, sportHi, dportLo, dportHi uint16
	protoLo, protoHi                   ipproto.Proto
	meta                               bool
	prio                               uint32
}

const box4Size = 32

// ruleMeta holds the one-byte fields of a rule that constrains any of them.
type ruleMeta struct {
	in, out             uint8
	inAny, outAny       bool
	forwarded           bool
	flagsMask, flagsVal packet.TCPFlags
	icmpType, icmpCode  uint8
	typeAny, codeAny    bool
}

const ruleMetaSize = 11

// metaOf returns r's one-byte fields and whether any of them constrains.
func metaOf(r *Rule) (ruleMeta, bool) {
	m := ruleMeta{
		in: uint8(r.InIface), out: uint8(r.OutIface), inAny: r.InIface == Any, outAny: r.OutIface == Any,
		forwarded: r.Forwarded, flagsMask: r.Flags.Mask, flagsVal: r.Flags.Value,
		icmpType: uint8(r.ICMPType), icmpCode: uint8(r.ICMPCode), typeAny: r.ICMPType == Any, codeAny: r.ICMPCode == Any,
	}
	trivial := m.inAny && m.outAny && !m.forwarded && m.flagsMask == 0 && m.typeAny && m.codeAny
	return m, !trivial
}

func (m *ruleMeta) match(k *Key) bool {
	if m.forwarded && (k.InIface == IfaceLocal || k.OutIface == IfaceLocal) {
		return false
	}
	return (m.inAny || m.in == k.InIface) && (m.outAny || m.out == k.OutIface) &&
		k.TCPFlags&m.flagsMask == m.flagsVal &&
		(m.typeAny || m.icmpType == k.ICMPType) && (m.codeAny || m.icmpCode == k.ICMPCode)
}

// lookup returns the prio of the first rule that matches, or noMatch.
func (e *treeEngine) lookup(k *Key, src, dst netip.Addr) uint32 {
	s, d := src.As4(), dst.As4()
	sa, da := binary.BigEndian.Uint32(s[:]), binary.BigEndian.Uint32(d[:])
	w1 := uint64(sa)<<32 | uint64(da)
	sp, dp, proto := k.Flow.Src.Port(), k.Flow.Dst.Port(), k.Flow.Proto
	w2 := uint64(sp)<<24 | uint64(dp)<<8 | uint64(proto)
	ref := e.root
	for ref&refLeaf == 0 {
		// A select of one of two words, not a load from an array of the
		// fields: this is the chain of dependent steps every level waits
		// on. The select compiles to a branch, which the order of the
		// fields along a path makes predictable; a branch-free variant
		// (three words shifted and or-ed) measured no faster.
		w := w1
		if ref&refWord2 != 0 {
			w = w2
		}
		ref = e.refs[uint32(ref)+uint32(w>>(ref>>48&63))&uint32(ref>>32&0xffff)]
	}
	off := uint32(ref)
	boxes := e.boxes[off : off+uint32(ref>>32&0x7fffffff)]
	for i := range boxes {
		b := &boxes[i]
		// A value is outside [lo, hi] when hi-lo < value-lo, which the
		// sign of their 64-bit difference tells; or-ing the five signs
		// leaves one branch, taken once per lookup, where a chain of
		// comparisons mispredicts at whichever field fails. (In Go, |
		// binds as loosely as -.)
		out := (uint64(b.srcHi-b.srcLo) - uint64(sa-b.srcLo)) |
			(uint64(b.dstHi-b.dstLo) - uint64(da-b.dstLo)) |
			(uint64(b.sportHi-b.sportLo) - uint64(sp-b.sportLo)) |
			(uint64(b.dportHi-b.dportLo) - uint64(dp-b.dportLo)) |
			(uint64(b.protoHi-b.protoLo) - uint64(proto-b.protoLo))
		if out>>63 == 0 && (!b.meta || e.metas[b.prio].match(k)) {
			return b.prio
		}
	}
	return noMatch
}

// bytes returns the size of the engine's lookup tables.
func (e *treeEngine) bytes() int {
	return len(e.refs)*8 + len(e.boxes)*box4Size + len(e.metas)*ruleMetaSize + len(e.index)*4 + len(e.action)
}

// Build-time representation of boxes and regions.

const ndim = 5 // source, destination, source port, destination port, protocol

var dimBits = [ndim]int{32, 32, 16, 16, 8}

type bbox struct {
	lo, hi [ndim]uint32
	prio   uint32
	meta   bool
}

const bboxSize = 48

// region is an aligned block of the key space: field d spans
// [lo[d], lo[d]+2^bits[d]).
type region struct {
	lo   [ndim]uint32
	bits [ndim]int
}

func (r *region) hi(d int) uint32 { return uint32(uint64(r.lo[d]) + 1<<r.bits[d] - 1) }

func (b *bbox) covers(r *region) bool {
	for d := 0; d < ndim; d++ {
		if b.lo[d] > r.lo[d] || b.hi[d] < r.hi(d) {
			return false
		}
	}
	return true
}

// Tuning of the tree, measured on the ClassBench sets of 100 to 10,000
// rules: leaf sizes from 4 to 16, space factors from 4 to 16 and slacks
// from 0 to 0.15 came within the noise of each other in lookup time, while
// memory grew with the space factor (8 doubled it) and fell with the leaf
// size; these values sit at the small-memory end without losing time.
const (
	// leafSize is the most boxes a leaf holds when a cut can separate them.
	leafSize = 6
	// spaceFactor bounds a cut's cost, a reference per child plus the boxes
	// of every distinct child, to this many times the node's boxes (HiCuts'
	// spfac).
	spaceFactor = 4
	// cutSlack is how close (as a fraction) two cuts' expected leaf sizes
	// must be for the cheaper cut to win.
	cutSlack = 0.05
	// maxBoxes bounds the boxes the rules of an engine may expand into
	// (the product of each rule's lists); bit vectors, which take lists as
	// they are, serve rule sets beyond it.
	maxBoxes = 1 << 22
	// treeBytesPerBox bounds a tree's memory, with treeBytesBase, in
	// proportion to its boxes: about ten times what the ClassBench ACL
	// sets need.
	// A rule set whose boxes overlap so that the tree would grow past it
	// gets bit vectors instead, whose memory does not depend on overlap.
	treeBytesPerBox = 2048
	treeBytesBase   = 1 << 20
)

// errTreeTooLarge reports that a tree would exceed its memory bound;
// Compile then builds bit vectors for the engine.
var errTreeTooLarge = errors.New("classify: decision tree exceeds its memory bound")

type treeBuilder struct {
	e      *treeEngine
	boxes  []bbox
	budget int
	leaves map[string]uint64
	key    []byte
	// Scratch space of chooseCut.
	diff  []int32
	hdiff []uint64
	seen  map[uint64]struct{}
}

// buildTreeEngine builds the decision tree for sel, the engine's rules in
// order, with index their indices in the rule set. It returns the engine
// and the bytes it charged, at most budget.
func buildTreeEngine(sel []*Rule, index []int32, budget int) (*treeEngine, int, error) {
	e := &treeEngine{index: index, action: make([]Action, len(sel)), metas: make([]ruleMeta, len(sel))}
	fixed := len(sel) * (4 + 1 + ruleMetaSize)
	if fixed > budget {
		return nil, 0, errTreeTooLarge
	}
	tb := &treeBuilder{e: e, budget: budget - fixed, leaves: map[string]uint64{}, seen: map[uint64]struct{}{}}
	for p, r := range sel {
		e.action[p] = r.Action
		m, hasMeta := metaOf(r)
		e.metas[p] = m
		if err := tb.addBoxes(r, uint32(p), hasMeta); err != nil {
			return nil, 0, err
		}
	}
	tb.budget = min(tb.budget, treeBytesBase+treeBytesPerBox*len(tb.boxes))
	start := tb.budget
	ids := make([]int32, len(tb.boxes))
	for i := range ids {
		ids[i] = int32(i)
	}
	var full region
	for d := range full.bits {
		full.bits[d] = dimBits[d]
	}
	root, err := tb.build(ids, full, 0)
	if err != nil {
		return nil, 0, err
	}
	e.root = root
	e.refs = slices.Clip(e.refs)
	e.boxes = slices.Clip(e.boxes)
	// The build-time boxes are garbage now; what stays is the tables.
	return e, fixed + len(tb.boxes)*bboxSize + start - tb.budget, nil
}

func (tb *treeBuilder) charge(n int) error {
	tb.budget -= n
	if tb.budget < 0 {
		return errTreeTooLarge
	}
	return nil
}

// addBoxes adds the boxes of rule r: one per combination of its lists.
func (tb *treeBuilder) addBoxes(r *Rule, prio uint32, meta bool) error {
	srcs, _ := inFamily(r.Src, 0)
	dsts, _ := inFamily(r.Dst, 0)
	src, dst := prefixRanges(srcs), prefixRanges(dsts)
	sport, dport := portRanges(r.SrcPorts), portRanges(r.DstPorts)
	proto := protoRanges(r.Protos)
	// Checked factor by factor, so that the product cannot overflow.
	n := 1
	for _, f := range []int{len(src), len(dst), len(sport), len(dport), len(proto)} {
		if n *= f; n > maxBoxes {
			return errTreeTooLarge
		}
	}
	if len(tb.boxes)+n > maxBoxes {
		return errTreeTooLarge
	}
	if err := tb.charge(n * bboxSize); err != nil {
		return err
	}
	for _, s := range src {
		for _, d := range dst {
			for _, sp := range sport {
				for _, dp := range dport {
					for _, pr := range proto {
						tb.boxes = append(tb.boxes, bbox{
							lo:   [ndim]uint32{s[0], d[0], sp[0], dp[0], pr[0]},
							hi:   [ndim]uint32{s[1], d[1], sp[1], dp[1], pr[1]},
							prio: prio, meta: meta,
						})
					}
				}
			}
		}
	}
	return nil
}

func prefixRanges(ps []netip.Prefix) [][2]uint32 {
	if ps == nil {
		return [][2]uint32{{0, ^uint32(0)}}
	}
	out := make([][2]uint32, 0, len(ps))
	for _, p := range ps {
		a := p.Addr().As4()
		lo := binary.BigEndian.Uint32(a[:])
		out = append(out, [2]uint32{lo, uint32(uint64(lo) | (1<<(32-p.Bits()) - 1))})
	}
	return out
}

func portRanges(rs []PortRange) [][2]uint32 {
	if rs == nil {
		return [][2]uint32{{0, 0xffff}}
	}
	out := make([][2]uint32, 0, len(rs))
	for _, r := range rs {
		out = append(out, [2]uint32{uint32(r.Lo), uint32(r.Hi)})
	}
	return out
}

// protoRanges turns a sorted, deduplicated protocol list into ranges.
func protoRanges(ps []ipproto.Proto) [][2]uint32 {
	if ps == nil {
		return [][2]uint32{{0, 0xff}}
	}
	var out [][2]uint32
	for _, p := range ps {
		if n := len(out); n > 0 && out[n-1][1]+1 == uint32(p) {
			out[n-1][1]++
			continue
		}
		out = append(out, [2]uint32{uint32(p), uint32(p)})
	}
	return out
}

// build returns the reference of a subtree for the boxes ids (ascending
// prio) in region r.
func (tb *treeBuilder) build(ids []int32, r region, depth int) (uint64, error) {
	// A box that covers the whole region and needs nothing of the other
	// fields matches every packet that reaches here and matches any box:
	// the boxes after it are never the first match. Compaction can make a
	// box cover the region, so the boxes are pruned again after it.
	ids = tb.prune(ids, &r)
	tb.compact(ids, &r)
	ids = tb.prune(ids, &r)
	tb.e.maxDepth = max(tb.e.maxDepth, depth)
	if len(ids) <= leafSize {
		return tb.leaf(ids)
	}
	d, cut := tb.chooseCut(ids, &r)
	if cut == 0 {
		// No cut separates the boxes (they overlap, or differ only in the
		// one-byte fields the tree does not cut): scan them.
		return tb.leaf(ids)
	}
	np := 1 << cut
	shift := r.bits[d] - cut
	if err := tb.charge(np * 8); err != nil {
		return 0, err
	}
	children := make([][]int32, np)
	rlo, rhi := r.lo[d], r.hi(d)
	for _, id := range ids {
		b := &tb.boxes[id]
		a, z := max(b.lo[d], rlo)-rlo, min(b.hi[d], rhi)-rlo
		for c := a >> shift; c <= z>>shift; c++ {
			children[c] = append(children[c], id)
		}
	}
	off := len(tb.e.refs)
	if off+np > 1<<32-1 {
		return 0, errTreeTooLarge
	}
	tb.e.refs = append(tb.e.refs, make([]uint64, np)...)
	tb.e.nodes++
	// Siblings differ only in field d. Two with the same boxes, each
	// spanning both in field d, look alike to everything below, so they
	// share a subtree.
	shared := map[string]uint64{}
	for c, list := range children {
		if len(list) == 0 {
			tb.e.refs[off+c] = emptyLeaf
			continue
		}
		cr := r
		cr.lo[d] = rlo + uint32(c)<<shift
		cr.bits[d] = shift
		chi := cr.hi(d)
		spans := true
		for _, id := range list {
			if b := &tb.boxes[id]; b.lo[d] > cr.lo[d] || b.hi[d] < chi {
				spans = false
				break
			}
		}
		var k string
		if spans {
			k = tb.idsKey(list)
			if ref, ok := shared[k]; ok {
				tb.e.refs[off+c] = ref
				continue
			}
		}
		ref, err := tb.build(list, cr, depth+1)
		if err != nil {
			return 0, err
		}
		tb.e.refs[off+c] = ref
		if spans {
			shared[k] = ref
		}
		children[c] = nil
	}
	return internalRef(uint32(off), d, shift, cut), nil
}

// prune drops the boxes after the first that covers r without needing
// anything of the one-byte fields.
func (tb *treeBuilder) prune(ids []int32, r *region) []int32 {
	for i, id := range ids {
		if b := &tb.boxes[id]; !b.meta && b.covers(r) {
			return ids[:i+1]
		}
	}
	return ids
}

// compact shrinks r, field by field, to the smallest aligned block that
// holds every box's part of r (HiCuts' region compaction). A packet in r
// but outside the block matches none of the boxes, so whatever leaf the
// cuts of the block send it to, the leaf's exact checks find nothing
// there, which is the right answer; and the cuts fall where the boxes are,
// where cuts of r might put them all in one child.
func (tb *treeBuilder) compact(ids []int32, r *region) {
	if len(ids) == 0 {
		return
	}
	for d := 0; d < ndim; d++ {
		rlo, rhi := r.lo[d], r.hi(d)
		lo, hi := rhi, rlo
		for _, id := range ids {
			b := &tb.boxes[id]
			lo, hi = min(lo, max(b.lo[d], rlo)), max(hi, min(b.hi[d], rhi))
		}
		// The block is the common prefix of lo and hi.
		w := bits.Len32(lo ^ hi)
		r.bits[d] = w
		r.lo[d] = uint32(uint64(lo) &^ (1<<w - 1))
	}
}

// chooseCut picks the field and the number of cuts (as a power of two)
// for a node. A cut's cost counts a child reference per part and the
// boxes of every distinct child (children with the same boxes share a
// subtree, see build, which keeps rules that are wide in the field from
// ruling its cuts out); cuts that cost more than spaceFactor times the
// node's boxes are out. Of the others, the one with the smallest expected
// child wins, where a child is as likely as the boxes it holds (packets
// fall in rules), that is, the smallest sum of squared child sizes over
// their sum; nearly equal ones go to the cheaper cut, so that a /24 is cut
// from a /16 in one step of 256 and not into 8,192 parts that repeat its
// /24 rules. A child's boxes are told apart by the sum of their random
// hashes, which a difference array gives for all children at once.
func (tb *treeBuilder) chooseCut(ids []int32, r *region) (field, cut int) {
	bestE, bestCost := float64(len(ids)), 0
	limit := spaceFactor * len(ids)
	for d := 0; d < ndim; d++ {
		rlo, rhi := r.lo[d], r.hi(d)
		for c := 1; c <= min(r.bits[d], maxCutBits); c++ {
			np := 1 << c
			if np > limit {
				break
			}
			shift := r.bits[d] - c
			if cap(tb.diff) < np+1 {
				tb.diff = make([]int32, np+1)
				tb.hdiff = make([]uint64, np+1)
			}
			diff, hdiff := tb.diff[:np+1], tb.hdiff[:np+1]
			clear(diff)
			clear(hdiff)
			for _, id := range ids {
				b := &tb.boxes[id]
				a, z := (max(b.lo[d], rlo)-rlo)>>shift, (min(b.hi[d], rhi)-rlo)>>shift
				h := boxHash(id)
				diff[a]++
				diff[z+1]--
				hdiff[a] += h
				hdiff[z+1] -= h
			}
			clear(tb.seen)
			cost := np
			run, most := int32(0), int32(0)
			var sum, sum2 float64
			var hrun, prev uint64
			for i, x := range diff[:np] {
				run += x
				hrun += hdiff[i]
				most = max(most, run)
				sum += float64(run)
				sum2 += float64(run) * float64(run)
				if i > 0 && hrun == prev {
					continue
				}
				prev = hrun
				if _, dup := tb.seen[hrun]; !dup {
					tb.seen[hrun] = struct{}{}
					cost += int(run)
				}
			}
			if cost > limit {
				break
			}
			// A cut must leave every child smaller than the node, or the
			// tree need not end.
			if int(most) == len(ids) {
				continue
			}
			e := sum2 / sum
			if e < bestE*(1-cutSlack) || e <= bestE*(1+cutSlack) && cost < bestCost {
				field, cut, bestE, bestCost = d, c, min(e, bestE), cost
			}
		}
	}
	return field, cut
}

// boxHash is a random-looking hash of a box id (splitmix64's finaliser).
func boxHash(id int32) uint64 {
	x := uint64(id) + 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func (tb *treeBuilder) idsKey(ids []int32) string {
	tb.key = tb.key[:0]
	for _, id := range ids {
		tb.key = binary.LittleEndian.AppendUint32(tb.key, uint32(id))
	}
	return string(tb.key)
}

// leaf returns the reference of a leaf scanning ids, shared with any leaf
// of the same boxes: a leaf's checks are exact, so it is right wherever
// its boxes are the candidates.
func (tb *treeBuilder) leaf(ids []int32) (uint64, error) {
	if len(ids) == 0 {
		return emptyLeaf, nil
	}
	k := tb.idsKey(ids)
	if ref, ok := tb.leaves[k]; ok {
		return ref, nil
	}
	if err := tb.charge(len(ids) * box4Size); err != nil {
		return 0, err
	}
	off := len(tb.e.boxes)
	if off+len(ids) > 1<<32-1 {
		return 0, errTreeTooLarge
	}
	for _, id := range ids {
		b := &tb.boxes[id]
		tb.e.boxes = append(tb.e.boxes, box4{
			srcLo: b.lo[0], srcHi: b.hi[0], dstLo: b.lo[1], dstHi: b.hi[1],
			sportLo: uint16(b.lo[2]), sportHi: uint16(b.hi[2]), dportLo: uint16(b.lo[3]), dportHi: uint16(b.hi[3]),
			protoLo: ipproto.Proto(b.lo[4]), protoHi: ipproto.Proto(b.hi[4]),
			meta: b.meta, prio: b.prio,
		})
	}
	ref := leafRef(off, len(ids))
	tb.leaves[k] = ref
	tb.e.leaves++
	return ref, nil
}
