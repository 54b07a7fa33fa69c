package classify

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"

	"github.com/rampart-fw/rampart/firewall/policy"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// Config bounds what Compile builds.
type Config struct {
	// MaxRules is the most rules Compile accepts; 0 means 131072, room for
	// the most rules a policy may hold and its implicit rules.
	MaxRules int
	// MaxMemory bounds the bytes of lookup tables Compile may build; 0
	// means 512 MiB. Decision trees grow with how much the rules overlap,
	// bit vectors with the number of rules times the number of distinct
	// prefixes and port ranges; an engine whose tree does not fit gets bit
	// vectors, and a rule set whose bit vectors do not fit either is
	// refused before the memory is allocated.
	MaxMemory int
}

func (c Config) withDefaults() Config {
	if c.MaxRules <= 0 {
		c.MaxRules = 1 << 17
	}
	if c.MaxMemory <= 0 {
		c.MaxMemory = 512 << 20
	}
	return c
}

// Compiled is the classifier for the packet path: a decision tree or bit
// vectors per direction and family (see the package documentation). It is
// immutable once built and safe for concurrent use.
type Compiled struct {
	defaults Defaults
	nrules   int
	// tree holds the decision trees of IPv4 engines, eng the bit-vector
	// engines; both are indexed by direction and family (0 IPv4, 1 IPv6),
	// and at most one of them is not nil for a pair.
	tree  [policy.NumDirections][2]*treeEngine
	eng   [policy.NumDirections][2]*engine
	stats Stats
}

// Stats describes the tables of a Compiled classifier.
type Stats struct {
	Rules   int
	Engines int // direction and family pairs with at least one rule
	// TreeEngines counts the engines that are decision trees, the others
	// are bit vectors.
	TreeEngines int
	// TreeNodes and TreeLeaves count the trees' internal nodes and
	// distinct leaves; Boxes counts the leaves' entries (a rule becomes a
	// box per combination of its lists, and a box is repeated in every
	// leaf whose region it overlaps); TreeDepth is the deepest leaf's
	// depth.
	TreeNodes, TreeLeaves, Boxes, TreeDepth int
	// Classes counts the distinct bitmaps per field, summed over the
	// bit-vector engines.
	SrcClasses, DstClasses, SrcPortClasses, DstPortClasses, MetaClasses int
	// Bytes is the size of the lookup tables. Compiling needs up to twice
	// as much for a while; Config.MaxMemory bounds that peak.
	Bytes int
}

// Stats returns the sizes of the classifier's tables.
func (c *Compiled) Stats() Stats { return c.stats }

// NumRules returns the number of rules the classifier was built from.
func (c *Compiled) NumRules() int { return c.nrules }

// Compile builds a classifier for rules, evaluated in order, with defaults
// for packets no rule matches.
func Compile(rules []Rule, defaults Defaults, cfg Config) (*Compiled, error) {
	cfg = cfg.withDefaults()
	if len(rules) > cfg.MaxRules {
		return nil, fmt.Errorf("classify: %d rules, more than the limit of %d", len(rules), cfg.MaxRules)
	}
	norm := make([]Rule, len(rules))
	for i := range rules {
		r, err := normalize(i, &rules[i])
		if err != nil {
			return nil, err
		}
		norm[i] = r
	}
	c := &Compiled{defaults: defaults, nrules: len(rules)}
	c.stats.Rules = len(rules)
	budget := cfg.MaxMemory
	for d := Direction(0); d < policy.NumDirections; d++ {
		for f := 0; f < 2; f++ {
			index, srcs, dsts, sel := selectRules(norm, d, f)
			if len(sel) == 0 {
				continue
			}
			c.stats.Engines++
			if f == 0 {
				t, used, err := buildTreeEngine(sel, slices.Clone(index), budget)
				if err == nil {
					budget -= used
					c.tree[d][f] = t
					c.stats.TreeEngines++
					c.stats.TreeNodes += t.nodes
					c.stats.TreeLeaves += t.leaves
					c.stats.Boxes += len(t.boxes)
					c.stats.TreeDepth = max(c.stats.TreeDepth, t.maxDepth)
					c.stats.Bytes += t.bytes()
					continue
				}
				if !errors.Is(err, errTreeTooLarge) {
					return nil, err
				}
				// The tree would not fit; bit vectors take lists as
				// they are and have a bound of their own.
			}
			e, err := buildEngine(index, srcs, dsts, sel, f, &budget)
			if err != nil {
				return nil, err
			}
			c.eng[d][f] = e
			c.stats.SrcClasses += e.srcClasses
			c.stats.DstClasses += e.dstClasses
			c.stats.SrcPortClasses += e.sportClasses
			c.stats.DstPortClasses += e.dportClasses
			c.stats.MetaClasses += e.metaClasses
			c.stats.Bytes += e.bytes()
		}
	}
	return c, nil
}

// CompilePolicy is FromPolicy followed by Compile.
func CompilePolicy(p *policy.Policy, ifaces Interfaces, cfg Config) (*Compiled, error) {
	rules, defaults, err := FromPolicy(p, ifaces)
	if err != nil {
		return nil, err
	}
	return Compile(rules, defaults, cfg)
}

// Lookup implements Classifier. It allocates nothing.
func (c *Compiled) Lookup(k *Key) (int, Action) {
	if k.Dir >= policy.NumDirections {
		return -1, Deny
	}
	src, dst, fam := family(k)
	if fam < 0 {
		return -1, c.defaults[k.Dir]
	}
	if t := c.tree[k.Dir][fam]; t != nil {
		p := t.lookup(k, src, dst)
		if p == noMatch {
			return -1, c.defaults[k.Dir]
		}
		return int(t.index[p]), t.action[p]
	}
	e := c.eng[k.Dir][fam]
	if e == nil {
		return -1, c.defaults[k.Dir]
	}
	i := e.lookup(k, src, dst)
	if i < 0 {
		return -1, c.defaults[k.Dir]
	}
	return int(e.index[i]), e.action[i]
}

// engine classifies the packets of one direction and one family. Each of
// its rules has a bit, in the order clusterOrder gives, which keeps the
// first match first. Every field maps a packet's value to a class, and
// every class has a bitmap of the rules that accept the value: agg
// aggregate words (bit w set when rule word w is not zero), then words rule
// words; stride is their sum. Tables hold a class's offset in its bitmap
// array (class*stride) where that saves a multiplication.
//
// Splitting the rules further, into groups by how specific their addresses
// are (after EffiCuts) so that wildcards do not make the bitmaps dense, was
// measured on the ClassBench sets: no faster for ACL sets, three times
// slower for firewall sets, where a wildcard rule near the top answers most
// lookups in the first word.
type engine struct {
	index  []int32 // bit -> rule index
	action []Action

	agg, words, stride int

	v4       bool
	src, dst *prefixTable // values are class offsets
	srcBits  []uint64
	dstBits  []uint64

	sportTab, dportTab   portTable
	sportBits, dportBits []uint64

	// The one-byte fields, folded into one by cross-products.
	inTab, outTab, protoTab, flagsTab, typeTab, codeTab [256]uint16

	ifTab                         []uint16 // in*nOut + out
	pfTab                         []uint16 // proto*nFlags + flags
	tcTab                         []uint16 // type*nCode + code
	l4Tab                         []uint16 // pf*nTC + tc
	metaTab                       []uint32 // if*nL4 + l4 -> offset in metaBits
	nOut, nFlags, nCode, nTC, nL4 int
	metaBits                      []uint64

	srcClasses, dstClasses, sportClasses, dportClasses, metaClasses int
}

// bytes returns the size of the engine's lookup tables.
func (e *engine) bytes() int {
	n := len(e.index)*4 + len(e.action)
	n += (len(e.srcBits) + len(e.dstBits) + len(e.sportBits) + len(e.dportBits) + len(e.metaBits)) * 8
	n += (len(e.src.nodes) + len(e.dst.nodes)) * 4
	n += len(e.sportTab.blocks)*2 + len(e.dportTab.blocks)*2 + 2*len(e.sportTab.top)*4
	n += 6 * 256 * 2
	n += (len(e.ifTab) + len(e.pfTab) + len(e.tcTab) + len(e.l4Tab)) * 2
	n += len(e.metaTab) * 4
	return n
}

// lookup returns the engine bit of the first rule that matches k, or -1.
func (e *engine) lookup(k *Key, src, dst netip.Addr) int {
	var so, do uint32
	if e.v4 {
		so, do = e.src.lookup4(src.As4()), e.dst.lookup4(dst.As4())
	} else {
		so, do = e.src.lookup16(src.As16()), e.dst.lookup16(dst.As16())
	}
	stride := uint32(e.stride)
	spo := uint32(e.sportTab.lookup(k.Flow.Src.Port())) * stride
	dpo := uint32(e.dportTab.lookup(k.Flow.Dst.Port())) * stride
	ifc := e.ifTab[int(e.inTab[k.InIface])*e.nOut+int(e.outTab[k.OutIface])]
	pf := e.pfTab[int(e.protoTab[k.Flow.Proto])*e.nFlags+int(e.flagsTab[k.TCPFlags])]
	tc := e.tcTab[int(e.typeTab[k.ICMPType])*e.nCode+int(e.codeTab[k.ICMPCode])]
	l4 := e.l4Tab[int(pf)*e.nTC+int(tc)]
	mo := e.metaTab[int(ifc)*e.nL4+int(l4)]

	d := e.dstBits[do : do+stride : do+stride]
	s := e.srcBits[so : so+stride : so+stride]
	dp := e.dportBits[dpo : dpo+stride : dpo+stride]
	m := e.metaBits[mo : mo+stride : mo+stride]
	sp := e.sportBits[spo : spo+stride : spo+stride]

	agg := e.agg
	for a := 0; a < agg; a++ {
		cand := d[a] & s[a] & dp[a] & m[a] & sp[a]
		for cand != 0 {
			w := agg + a<<6 + bits.TrailingZeros64(cand)
			// The address fields are the most selective: test them first
			// and leave the other three words unread when they rule the
			// word out.
			if x := d[w] & s[w]; x != 0 {
				if x &= dp[w] & m[w] & sp[w]; x != 0 {
					return (w-agg)<<6 + bits.TrailingZeros64(x)
				}
			}
			cand &= cand - 1
		}
	}
	return -1
}

// bitmaps is a growing array of class bitmaps of one field, deduplicated.
type bitmaps struct {
	words int
	sets  [][]uint64
	seen  map[string]int
	key   []byte
}

func newBitmaps(words int) *bitmaps {
	return &bitmaps{words: words, seen: make(map[string]int)}
}

// add returns the class of bitmap b, which it keeps if it is new.
func (bm *bitmaps) add(b []uint64) int {
	bm.key = bm.key[:0]
	for _, w := range b {
		bm.key = binary.LittleEndian.AppendUint64(bm.key, w)
	}
	if c, ok := bm.seen[string(bm.key)]; ok {
		return c
	}
	c := len(bm.sets)
	bm.sets = append(bm.sets, slices.Clone(b))
	bm.seen[string(bm.key)] = c
	return c
}

// charge counts n bytes against the memory limit.
func charge(budget *int, n int, what string) error {
	*budget -= n
	if *budget < 0 {
		return fmt.Errorf("classify: the rule set needs more table memory than the limit (at the %s tables)", what)
	}
	return nil
}

func setBit(b []uint64, i int) { b[i>>6] |= 1 << (i & 63) }

// flatten lays out class bitmaps for the lookup, aggregate words first.
func (e *engine) flatten(sets [][]uint64) []uint64 {
	out := make([]uint64, len(sets)*e.stride)
	for c, set := range sets {
		base := out[c*e.stride : (c+1)*e.stride]
		copy(base[e.agg:], set)
		for w, x := range set {
			if x != 0 {
				setBit(base[:e.agg], w)
			}
		}
	}
	return out
}

func familyMatch(f int, p netip.Prefix) bool { return p.Addr().Is4() == (f == 0) }

func rootPrefix(f int) netip.Prefix {
	if f == 0 {
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	return netip.PrefixFrom(netip.IPv6Unspecified(), 0)
}

// inFamily returns the prefixes of family f, nil for a wildcard, and
// reports whether the rule can match in that family at all.
func inFamily(ps []netip.Prefix, f int) ([]netip.Prefix, bool) {
	if ps == nil {
		return nil, true
	}
	var out []netip.Prefix
	for _, p := range ps {
		if familyMatch(f, p) {
			out = append(out, p)
		}
	}
	return out, len(out) > 0
}

// selectRules returns the rules that can match in direction d and family
// f, in order: their indices, their prefixes of the family (nil for any),
// and the rules.
func selectRules(rules []Rule, d Direction, f int) (index []int32, srcs, dsts [][]netip.Prefix, sel []*Rule) {
	fam := policy.FamilyIPv4
	if f == 1 {
		fam = policy.FamilyIPv6
	}
	for i := range rules {
		r := &rules[i]
		if !r.Dirs.Has(d) || r.Family&fam == 0 {
			continue
		}
		s, ok1 := inFamily(r.Src, f)
		t, ok2 := inFamily(r.Dst, f)
		if !ok1 || !ok2 {
			continue
		}
		if r.Protos != nil && len(r.Protos) == 0 || r.SrcPorts != nil && len(r.SrcPorts) == 0 || r.DstPorts != nil && len(r.DstPorts) == 0 {
			continue
		}
		index = append(index, int32(i))
		srcs = append(srcs, s)
		dsts = append(dsts, t)
		sel = append(sel, r)
	}
	return index, srcs, dsts, sel
}

// buildEngine builds the bit-vector engine for family f of the rules
// selectRules chose; it reorders the slices it is given.
func buildEngine(index []int32, srcs, dsts [][]netip.Prefix, sel []*Rule, f int, budget *int) (*engine, error) {
	e := &engine{v4: f == 0, index: index, action: make([]Action, len(sel))}
	for i, r := range sel {
		e.action[i] = r.Action
	}
	// Give rules their bits in an order that keeps rules with nearby
	// destinations in nearby words, as far as first-match semantics allow.
	order := clusterOrder(dsts, f)
	permute(order, e.index, e.action, srcs, dsts, sel)
	e.words = (len(sel) + 63) / 64
	e.agg = (e.words + 63) / 64
	e.stride = e.agg + e.words
	if err := charge(budget, len(sel)*(4+1), "rule"); err != nil {
		return nil, err
	}

	var err error
	if e.src, e.srcBits, e.srcClasses, err = e.buildAddr(srcs, f, budget); err != nil {
		return nil, err
	}
	if e.dst, e.dstBits, e.dstClasses, err = e.buildAddr(dsts, f, budget); err != nil {
		return nil, err
	}
	if e.sportTab, e.sportBits, e.sportClasses, err = e.buildPorts(sel, func(r *Rule) []PortRange { return r.SrcPorts }, budget); err != nil {
		return nil, err
	}
	if e.dportTab, e.dportBits, e.dportClasses, err = e.buildPorts(sel, func(r *Rule) []PortRange { return r.DstPorts }, budget); err != nil {
		return nil, err
	}
	if err := e.buildMeta(sel, budget); err != nil {
		return nil, err
	}
	return e, nil
}

// buildAddr builds the prefix table of one address field. The class of a
// prefix P holds the rules with a prefix that contains P; the longest match
// for an address is the class of that address, because every rule prefix
// that contains the address contains its longest match too.
func (e *engine) buildAddr(lists [][]netip.Prefix, f int, budget *int) (*prefixTable, []uint64, int, error) {
	class := map[netip.Prefix]int{rootPrefix(f): 0}
	order := []netip.Prefix{rootPrefix(f)}
	for _, l := range lists {
		for _, p := range l {
			if _, ok := class[p]; !ok {
				class[p] = len(order)
				order = append(order, p)
			}
		}
	}
	if err := charge(budget, len(order)*(e.stride+e.words)*8, "address"); err != nil {
		return nil, nil, 0, err
	}
	sets := make([][]uint64, len(order))
	flat := make([]uint64, len(order)*e.words)
	for c := range sets {
		sets[c] = flat[c*e.words : (c+1)*e.words]
	}
	for i, l := range lists {
		if l == nil {
			setBit(sets[0], i)
		}
		for _, p := range l {
			setBit(sets[class[p]], i)
		}
	}
	sorted := slices.Clone(order)
	slices.SortStableFunc(sorted, func(a, b netip.Prefix) int { return a.Bits() - b.Bits() })
	first := 16
	if len(order) < 1024 {
		// A small table fits a 256-entry first level; 64K entries would
		// only spread it over more cache lines.
		first = 8
	}
	t := newPrefixTable(first, 0)
	for _, p := range sorted[1:] {
		// Every shorter prefix is in the table already, so the longest
		// match of p's address is p's closest enclosing prefix.
		parent := sets[t.lookup(p.Addr())]
		c := class[p]
		for w := range sets[c] {
			sets[c][w] |= parent[w]
		}
		if err := t.insert(p, uint32(c)); err != nil {
			return nil, nil, 0, err
		}
	}
	if err := charge(budget, len(t.nodes)*4, "address"); err != nil {
		return nil, nil, 0, err
	}
	if len(order)*e.stride > maxTableValue {
		return nil, nil, 0, fmt.Errorf("classify: too many address classes")
	}
	t.mapValues(func(c uint32) uint32 { return c * uint32(e.stride) })
	return t, e.flatten(sets), len(order), nil
}

// buildPorts builds the table of one port field over the elementary
// intervals that the rules' ranges cut [0, 65535] into.
func (e *engine) buildPorts(sel []*Rule, ports func(*Rule) []PortRange, budget *int) (portTable, []uint64, int, error) {
	cur := make([]uint64, e.words)
	// starts[p] and ends[p] list the rules whose ranges begin at p or end
	// at p-1.
	starts := make([][]int32, 65537)
	ends := make([][]int32, 65537)
	varying := false
	for i, r := range sel {
		rs := ports(r)
		if rs == nil {
			setBit(cur, i)
			continue
		}
		varying = true
		for _, pr := range rs {
			starts[pr.Lo] = append(starts[pr.Lo], int32(i))
			ends[int(pr.Hi)+1] = append(ends[int(pr.Hi)+1], int32(i))
		}
	}
	bm := newBitmaps(e.words)
	if !varying {
		bm.add(cur)
		if err := charge(budget, e.stride*8, "port"); err != nil {
			return portTable{}, nil, 0, err
		}
		return newPortTable(nil), e.flatten(bm.sets), 1, nil
	}
	tab := make([]uint16, 65536)
	class := 0
	for p := 0; p < 65536; p++ {
		if p == 0 || len(starts[p]) > 0 || len(ends[p]) > 0 {
			for _, i := range ends[p] {
				cur[i>>6] &^= 1 << (i & 63)
			}
			for _, i := range starts[p] {
				setBit(cur, int(i))
			}
			before := len(bm.sets)
			class = bm.add(cur)
			if len(bm.sets) > before {
				if err := charge(budget, e.stride*8, "port"); err != nil {
					return portTable{}, nil, 0, err
				}
			}
		}
		tab[p] = uint16(class)
	}
	pt := newPortTable(tab)
	if err := charge(budget, len(pt.blocks)*2, "port"); err != nil {
		return portTable{}, nil, 0, err
	}
	return pt, e.flatten(bm.sets), len(bm.sets), nil
}

// byteField computes, for each of the 256 values of a one-byte field, the
// class of the rules that accept it. Rules with the same spec (same key)
// accept the same values, and there are few specs, so accepts is asked
// once per spec and value rather than once per rule and value.
func (e *engine) byteField(sel []*Rule, key func(r *Rule) string, accepts func(r *Rule, v uint8) bool) (tab [256]uint16, sets [][]uint64) {
	type spec struct {
		rule *Rule
		bits []uint64
	}
	var specs []*spec
	byKey := map[string]*spec{}
	for i, r := range sel {
		k := key(r)
		sp := byKey[k]
		if sp == nil {
			sp = &spec{rule: r, bits: make([]uint64, e.words)}
			byKey[k] = sp
			specs = append(specs, sp)
		}
		setBit(sp.bits, i)
	}
	bm := newBitmaps(e.words)
	b := make([]uint64, e.words)
	for v := 0; v < 256; v++ {
		clear(b)
		for _, sp := range specs {
			if accepts(sp.rule, uint8(v)) {
				for w, x := range sp.bits {
					b[w] |= x
				}
			}
		}
		tab[v] = uint16(bm.add(b))
	}
	return tab, bm.sets
}

func int16Key(a, b int16, flag bool) string {
	k := []byte{byte(a), byte(a >> 8), byte(b), byte(b >> 8), 0}
	if flag {
		k[4] = 1
	}
	return string(k)
}

// maxCross bounds a cross-product table, so that adversarial rule sets
// cannot make one quadratic in 65536.
const maxCross = 1 << 20

// cross combines two fields into one whose classes are the distinct
// intersections of theirs, as recursive flow classification does.
func (e *engine) cross(a, b [][]uint64, budget *int) (tab []uint16, sets [][]uint64, err error) {
	if len(a)*len(b) > maxCross {
		return nil, nil, fmt.Errorf("classify: the rule set's interface, protocol, flag and ICMP combinations need a table of %d entries, more than %d", len(a)*len(b), maxCross)
	}
	if err := charge(budget, len(a)*len(b)*2, "cross-product"); err != nil {
		return nil, nil, err
	}
	bm := newBitmaps(e.words)
	tab = make([]uint16, len(a)*len(b))
	x := make([]uint64, e.words)
	for i, sa := range a {
		for j, sb := range b {
			for w := range x {
				x[w] = sa[w] & sb[w]
			}
			c := bm.add(x)
			if c > 0xffff {
				return nil, nil, fmt.Errorf("classify: more than 65536 classes in a cross-product")
			}
			tab[i*len(b)+j] = uint16(c)
		}
	}
	if err := charge(budget, len(bm.sets)*e.words*8, "cross-product"); err != nil {
		return nil, nil, err
	}
	return tab, bm.sets, nil
}

func (e *engine) buildMeta(sel []*Rule, budget *int) error {
	var inSets, outSets, protoSets, flagSets, typeSets, codeSets [][]uint64
	e.inTab, inSets = e.byteField(sel, func(r *Rule) string { return int16Key(r.InIface, 0, r.Forwarded) }, func(r *Rule, v uint8) bool {
		return (r.InIface == Any || uint8(r.InIface) == v) && !(r.Forwarded && v == IfaceLocal)
	})
	e.outTab, outSets = e.byteField(sel, func(r *Rule) string { return int16Key(r.OutIface, 0, r.Forwarded) }, func(r *Rule, v uint8) bool {
		return (r.OutIface == Any || uint8(r.OutIface) == v) && !(r.Forwarded && v == IfaceLocal)
	})
	e.protoTab, protoSets = e.byteField(sel, func(r *Rule) string {
		if r.Protos == nil {
			return "any"
		}
		return "=" + string(r.Protos)
	}, func(r *Rule, v uint8) bool {
		return r.Protos == nil || slices.Contains(r.Protos, ipproto.Proto(v))
	})
	e.flagsTab, flagSets = e.byteField(sel, func(r *Rule) string {
		return int16Key(int16(r.Flags.Value), int16(r.Flags.Mask), false)
	}, func(r *Rule, v uint8) bool { return r.Flags.Match(packet.TCPFlags(v)) })
	e.typeTab, typeSets = e.byteField(sel, func(r *Rule) string { return int16Key(r.ICMPType, 0, false) }, func(r *Rule, v uint8) bool {
		return r.ICMPType == Any || uint8(r.ICMPType) == v
	})
	e.codeTab, codeSets = e.byteField(sel, func(r *Rule) string { return int16Key(r.ICMPCode, 0, false) }, func(r *Rule, v uint8) bool {
		return r.ICMPCode == Any || uint8(r.ICMPCode) == v
	})
	var ifSets, pfSets, tcSets, l4Sets, metaSets [][]uint64
	var err error
	if e.ifTab, ifSets, err = e.cross(inSets, outSets, budget); err != nil {
		return err
	}
	e.nOut = len(outSets)
	if e.pfTab, pfSets, err = e.cross(protoSets, flagSets, budget); err != nil {
		return err
	}
	e.nFlags = len(flagSets)
	if e.tcTab, tcSets, err = e.cross(typeSets, codeSets, budget); err != nil {
		return err
	}
	e.nCode = len(codeSets)
	if e.l4Tab, l4Sets, err = e.cross(pfSets, tcSets, budget); err != nil {
		return err
	}
	e.nTC = len(tcSets)
	var metaTab []uint16
	if metaTab, metaSets, err = e.cross(ifSets, l4Sets, budget); err != nil {
		return err
	}
	e.nL4 = len(l4Sets)
	e.metaTab = make([]uint32, len(metaTab))
	for i, c := range metaTab {
		e.metaTab[i] = uint32(int(c) * e.stride)
	}
	if err := charge(budget, len(metaSets)*e.stride*8+len(metaTab)*4, "meta"); err != nil {
		return err
	}
	e.metaBits = e.flatten(metaSets)
	e.metaClasses = len(metaSets)
	return nil
}
