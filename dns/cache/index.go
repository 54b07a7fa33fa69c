package cache

// index maps key hashes to slab slots. It is an open-addressing table with
// linear probing whose cells pack the high 32 bits of the key hash (the
// tag, which also picks the home cell) with the slot number: 8 octets a
// cell instead of the ~40 a Go map spends per entry here, and no second
// hashing of a hash already computed.
//
// Distinct keys may share a tag; the table keeps every one of them and
// callers confirm a candidate against the entry's stored key. Slot 0 is
// never stored, so a zero cell is empty.
//
// An index belongs to one shard and is guarded by that shard's mu: next
// needs the read lock, insert and remove the write lock.
type index struct {
	cells []uint64
	n     int
}

const minIndexCells = 16

func (x *index) init() {
	x.cells = make([]uint64, minIndexCells)
	x.n = 0
}

func tagOf(h uint64) uint32 { return uint32(h >> 32) }

func cell(tag, slot uint32) uint64 { return uint64(tag)<<32 | uint64(slot) }

// next returns the next cell at or after p holding tag, or ok=false at the
// first empty cell. Callers loop: p = start(tag); for { p, ok = next(tag, p) ... p++ }.
func (x *index) next(tag uint32, p uint32) (uint32, uint32, bool) {
	m := uint32(len(x.cells) - 1)
	for p &= m; ; p = (p + 1) & m {
		v := x.cells[p]
		if v == 0 {
			return 0, 0, false
		}
		if uint32(v>>32) == tag {
			return p, uint32(v), true
		}
	}
}

// insert adds a cell. The table stays at most half full: a cold resolver
// asks for more names that are not cached than names that are, and a
// miss probes to the first empty cell, which at three quarters full is
// eight cells away on average and at half full two and a half.
func (x *index) insert(h uint64, slot uint32) {
	if 2*(x.n+1) > len(x.cells) {
		x.grow()
	}
	x.place(cell(tagOf(h), slot))
	x.n++
}

func (x *index) place(v uint64) {
	m := uint32(len(x.cells) - 1)
	p := uint32(v>>32) & m
	for x.cells[p] != 0 {
		p = (p + 1) & m
	}
	x.cells[p] = v
}

func (x *index) grow() {
	old := x.cells
	x.cells = make([]uint64, 2*len(old))
	for _, v := range old {
		if v != 0 {
			x.place(v)
		}
	}
}

// remove deletes the cell for (h, slot) and closes the gap by moving later
// cells of the probe run back (Knuth's algorithm R), so lookups never need
// tombstones. It reports whether the cell was present.
func (x *index) remove(h uint64, slot uint32) bool {
	m := uint32(len(x.cells) - 1)
	want := cell(tagOf(h), slot)
	p := tagOf(h) & m
	for x.cells[p] != want {
		if x.cells[p] == 0 {
			return false
		}
		p = (p + 1) & m
	}
	for {
		x.cells[p] = 0
		q := p
		for {
			q = (q + 1) & m
			v := x.cells[q]
			if v == 0 {
				x.n--
				return true
			}
			home := uint32(v>>32) & m
			// v may fill the gap at p unless its home lies after p
			// on the way to q, where the gap would hide it.
			if (q-home)&m >= (q-p)&m {
				x.cells[p] = v
				p = q
				break
			}
		}
	}
}
