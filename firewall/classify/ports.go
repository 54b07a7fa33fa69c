package classify

import "slices"

// portTable maps a port to its class in two loads and no branch: the high
// byte selects a 256-entry block, the low byte the entry. Blocks with the
// same contents are stored once, so the common case (a few blocks with
// boundaries, the rest uniform) takes a few KiB where a flat table would
// take 128 KiB and spread the lookups over as many cache lines.
type portTable struct {
	top    [256]uint32 // block offset in blocks
	blocks []uint16
}

// newPortTable builds a table from the class of every port; nil means every
// port is class 0.
func newPortTable(classes []uint16) portTable {
	var t portTable
	if classes == nil {
		t.blocks = make([]uint16, 256)
		return t
	}
	seen := map[[256]uint16]uint32{}
	for hi := 0; hi < 256; hi++ {
		var blk [256]uint16
		copy(blk[:], classes[hi<<8:(hi+1)<<8])
		off, ok := seen[blk]
		if !ok {
			off = uint32(len(t.blocks))
			t.blocks = append(t.blocks, blk[:]...)
			seen[blk] = off
		}
		t.top[hi] = off
	}
	t.blocks = slices.Clip(t.blocks)
	return t
}

func (t *portTable) lookup(port uint16) uint16 {
	return t.blocks[t.top[port>>8]+uint32(port&0xff)]
}
