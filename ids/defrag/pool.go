package defrag

import "github.com/rampart-fw/rampart/internal/bufpool"

// Buffers come in powers of two from 128 bytes to 128 KiB, enough for a
// 65,535-byte IP packet behind any link-layer header.
const (
	minBufShift = 7
	maxBufShift = 17
	numClasses  = maxBufShift - minBufShift + 1
	maxBufClass = 1 << maxBufShift
)

// sizes gives the buffer classes; each shard keeps its own Pool of them.
var sizes = bufpool.New(minBufShift, maxBufShift)

// srcHeap orders a shard's sources by the bytes they hold, heaviest at
// index 0; each source knows its index.
type srcHeap []*source

func (h *srcHeap) push(s *source) {
	s.heapIdx = len(*h)
	*h = append(*h, s)
	h.up(s.heapIdx)
}

func (h *srcHeap) remove(i int) {
	old := *h
	last := len(old) - 1
	if i != last {
		h.swap(i, last)
	}
	old[last] = nil
	*h = old[:last]
	if i != last {
		h.fix(i)
	}
}

// fix restores the order after the source at i changed weight.
func (h srcHeap) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h srcHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = i
	h[j].heapIdx = j
}

func (h srcHeap) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if h[parent].bytes >= h[i].bytes {
			return
		}
		h.swap(i, parent)
		i = parent
	}
}

func (h srcHeap) down(i int) bool {
	start := i
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		j := l
		if r := l + 1; r < len(h) && h[r].bytes > h[l].bytes {
			j = r
		}
		if h[i].bytes >= h[j].bytes {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > start
}
