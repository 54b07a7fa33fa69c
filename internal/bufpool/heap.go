package bufpool

// Heap orders the holders of buffers (a flow, a source address) by the
// bytes they hold, heaviest first, so that the heaviest can be made to pay
// when memory runs short. Each holder keeps its own position in the heap,
// reached through the index function, so that it can be fixed or removed
// at once when its weight changes; the index is -1 outside the heap.
type Heap[T any] struct {
	items  []T
	weight func(T) int
	index  func(T) *int
}

// NewHeap returns an empty heap of holders whose weight and position
// field are given by weight and index.
func NewHeap[T any](weight func(T) int, index func(T) *int) Heap[T] {
	return Heap[T]{weight: weight, index: index}
}

// Len returns the number of holders in the heap.
func (h *Heap[T]) Len() int { return len(h.items) }

// At returns the holder at position i: 0 is the heaviest, and its
// children are at 1 and 2.
func (h *Heap[T]) At(i int) T { return h.items[i] }

// Push adds x.
func (h *Heap[T]) Push(x T) {
	*h.index(x) = len(h.items)
	h.items = append(h.items, x)
	h.up(len(h.items) - 1)
}

// Remove takes x out.
func (h *Heap[T]) Remove(x T) {
	i := *h.index(x)
	last := len(h.items) - 1
	if i != last {
		h.swap(i, last)
	}
	var zero T
	h.items[last] = zero
	h.items = h.items[:last]
	*h.index(x) = -1
	if i != last {
		h.fix(i)
	}
}

// Fix restores the order after x's weight changed.
func (h *Heap[T]) Fix(x T) { h.fix(*h.index(x)) }

func (h *Heap[T]) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h *Heap[T]) swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	*h.index(h.items[i]) = i
	*h.index(h.items[j]) = j
}

func (h *Heap[T]) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if h.weight(h.items[parent]) >= h.weight(h.items[i]) {
			return
		}
		h.swap(i, parent)
		i = parent
	}
}

func (h *Heap[T]) down(i int) bool {
	start := i
	for {
		l := 2*i + 1
		if l >= len(h.items) {
			break
		}
		j := l
		if r := l + 1; r < len(h.items) && h.weight(h.items[r]) > h.weight(h.items[l]) {
			j = r
		}
		if h.weight(h.items[i]) >= h.weight(h.items[j]) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > start
}
