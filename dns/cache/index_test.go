package cache

import (
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// lookupAll returns every slot stored under h's tag, in probe order.
func (x *index) lookupAll(h uint64) []uint32 {
	var out []uint32
	tag := tagOf(h)
	p := tag
	for {
		var i uint32
		var ok bool
		if p, i, ok = x.next(tag, p); !ok {
			return out
		}
		out = append(out, i)
		p++
	}
}

// TestIndexModel checks the index against a map under random inserts and
// removals. Hashes come from a small pool whose tags collide and whose home
// cells cluster at the end of the table, so probe runs wrap around and
// backward-shift deletion is exercised across the wrap.
func TestIndexModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var x index
		x.init()
		model := map[uint32]uint64{} // slot -> hash
		nextSlot := uint32(1)
		pool := rapid.SampledFrom([]uint64{
			0xffff_fff0_0000_0001, 0xffff_fff0_0000_0002, // same tag
			0xffff_ffff_0000_0003, 0x0000_000f_0000_0004,
			0x0000_0000_0000_0005, 0x1234_5678_0000_0006,
			0xffff_fffe_0000_0007, 0x0000_0001_0000_0008,
		})
		steps := rapid.IntRange(1, 300).Draw(t, "steps")
		for range steps {
			if len(model) == 0 || rapid.Bool().Draw(t, "insert") {
				h := pool.Draw(t, "hash")
				x.insert(h, nextSlot)
				model[nextSlot] = h
				nextSlot++
			} else {
				slots := make([]uint32, 0, len(model))
				for s := range model {
					slots = append(slots, s)
				}
				slices.Sort(slots)
				s := rapid.SampledFrom(slots).Draw(t, "remove")
				if !x.remove(model[s], s) {
					t.Fatalf("remove(%x, %d) did not find the cell", model[s], s)
				}
				delete(model, s)
			}
			if x.n != len(model) {
				t.Fatalf("n = %d, model has %d", x.n, len(model))
			}
			// Every stored slot is reachable from its tag's home cell.
			for s, h := range model {
				if !slices.Contains(x.lookupAll(h), s) {
					t.Fatalf("slot %d (hash %x) unreachable; cells %x", s, h, x.cells)
				}
			}
		}
		if x.remove(0xdead_beef_0000_0000, 1<<30) {
			t.Fatalf("removed a cell never inserted")
		}
	})
}
