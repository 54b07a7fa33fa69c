package bufpool

import (
	"math/rand/v2"
	"slices"
	"testing"
)

type holder struct {
	bytes, idx int
}

func newTestHeap() Heap[*holder] {
	return NewHeap(func(h *holder) int { return h.bytes }, func(h *holder) *int { return &h.idx })
}

// TestHeap: after any pushes, removals and changes of weight, the top is
// the heaviest and every holder knows its place.
func TestHeap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	h := newTestHeap()
	var in []*holder
	for step := range 5000 {
		switch op := rng.IntN(4); {
		case op == 0 || len(in) == 0:
			x := &holder{bytes: rng.IntN(1000)}
			h.Push(x)
			in = append(in, x)
		case op == 1:
			k := rng.IntN(len(in))
			h.Remove(in[k])
			if in[k].idx != -1 {
				t.Fatalf("step %d: removed holder has index %d", step, in[k].idx)
			}
			in = slices.Delete(in, k, k+1)
		default:
			x := in[rng.IntN(len(in))]
			x.bytes = rng.IntN(1000)
			h.Fix(x)
		}
		if h.Len() != len(in) {
			t.Fatalf("step %d: %d in the heap, want %d", step, h.Len(), len(in))
		}
		most := 0
		for i := range h.Len() {
			x := h.At(i)
			if x.idx != i {
				t.Fatalf("step %d: holder at %d thinks it is at %d", step, i, x.idx)
			}
			most = max(most, x.bytes)
		}
		if h.Len() > 0 && h.At(0).bytes != most {
			t.Fatalf("step %d: top holds %d, the heaviest %d", step, h.At(0).bytes, most)
		}
	}
}
