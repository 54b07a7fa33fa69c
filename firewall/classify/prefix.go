package classify

import (
	"fmt"
	"net/netip"
)

// prefixTable maps an address to a value of its longest matching prefix. It
// is a multibit trie with leaf pushing (controlled prefix expansion): the
// first level takes 16 bits of the address (8 for small tables), every
// further level 8, and every entry holds either a value or a reference to
// the 256-entry node of the next level. A lookup is one load per level,
// three at most for IPv4, with no branches but the loop's; gaissmai/bart,
// which saves memory with popcount-compressed nodes, measured four to six
// times slower on the ClassBench sets and a busy machine, and the lookup is
// on the packet path while the memory is small (tens of KiB per thousand
// prefixes).
type prefixTable struct {
	first int      // bits in the first level: 8 or 16
	nodes []uint32 // the first level, then the 256-entry nodes
}

const childFlag = 1 << 31

// maxTableValue is the largest value a prefixTable can hold.
const maxTableValue = childFlag - 1

// lookup4 returns the value of the longest prefix that contains a.
func (t *prefixTable) lookup4(a [4]byte) uint32 {
	var e uint32
	i := 1
	if t.first == 16 {
		e = t.nodes[uint32(a[0])<<8|uint32(a[1])]
		i = 2
	} else {
		e = t.nodes[a[0]]
	}
	// No prefix is longer than 32 bits, so no node has a child past a[3].
	for e&childFlag != 0 && i < 4 {
		e = t.nodes[e&^childFlag+uint32(a[i])]
		i++
	}
	return e
}

// lookup16 is lookup4 for IPv6.
func (t *prefixTable) lookup16(a [16]byte) uint32 {
	var e uint32
	i := 1
	if t.first == 16 {
		e = t.nodes[uint32(a[0])<<8|uint32(a[1])]
		i = 2
	} else {
		e = t.nodes[a[0]]
	}
	for e&childFlag != 0 && i < 16 {
		e = t.nodes[e&^childFlag+uint32(a[i])]
		i++
	}
	return e
}

func (t *prefixTable) lookup(a netip.Addr) uint32 {
	if a.Is4() {
		return t.lookup4(a.As4())
	}
	return t.lookup16(a.As16())
}

// newPrefixTable returns a table whose every address maps to root.
func newPrefixTable(first int, root uint32) *prefixTable {
	t := &prefixTable{first: first, nodes: make([]uint32, 1<<first)}
	for i := range t.nodes {
		t.nodes[i] = root
	}
	return t
}

// insert sets the value of p. Prefixes must be inserted from the shortest
// to the longest, so that a new node can copy its parent's entry and no
// node exists yet below the entries a prefix covers.
func (t *prefixTable) insert(p netip.Prefix, v uint32) error {
	if v > maxTableValue {
		return fmt.Errorf("classify: prefix table value %d too large", v)
	}
	b := p.Addr().AsSlice()
	node, consumed, stride := 0, 0, t.first
	for {
		var idx int
		if stride == 16 {
			idx = int(b[0])<<8 | int(b[1])
		} else {
			idx = int(b[consumed/8])
		}
		if p.Bits() <= consumed+stride {
			span := 1 << (consumed + stride - p.Bits())
			start := idx &^ (span - 1)
			for j := start; j < start+span; j++ {
				t.nodes[node+j] = v
			}
			return nil
		}
		e := t.nodes[node+idx]
		if e&childFlag == 0 {
			child := len(t.nodes)
			if child+256 > maxTableValue {
				return fmt.Errorf("classify: prefix table too large")
			}
			for j := 0; j < 256; j++ {
				t.nodes = append(t.nodes, e)
			}
			e = childFlag | uint32(child)
			t.nodes[node+idx] = e
		}
		node = int(e &^ childFlag)
		consumed += stride
		stride = 8
	}
}

// mapValues applies f to every value in the table.
func (t *prefixTable) mapValues(f func(uint32) uint32) {
	for i, e := range t.nodes {
		if e&childFlag == 0 {
			t.nodes[i] = f(e)
		}
	}
}
