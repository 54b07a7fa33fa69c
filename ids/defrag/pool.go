package defrag

import "math/bits"

// Buffers come in powers of two from 128 bytes to 128 KiB, enough for a
// 65,535-byte IP packet behind any link-layer header.
const (
	minBufShift = 7
	maxBufShift = 17
	numClasses  = maxBufShift - minBufShift + 1
	maxBufClass = 1 << maxBufShift
)

func classOf(n int) int8 {
	if n <= 1<<minBufShift {
		return 0
	}
	return int8(bits.Len(uint(n-1)) - minBufShift)
}

func classSize(c int8) int { return 1 << (minBufShift + int(c)) }

// bufPool keeps released buffers for reuse, so that steady-state
// reassembly allocates nothing. What it keeps idle is bounded and counted
// against the shard's memory, so that it gives idle buffers up before a
// datagram is evicted.
type bufPool struct {
	free [numClasses][][]byte
	idle int // bytes in free
}

func (p *bufPool) get(c int8) []byte {
	if n := len(p.free[c]); n > 0 {
		b := p.free[c][n-1]
		p.free[c][n-1] = nil
		p.free[c] = p.free[c][:n-1]
		p.idle -= cap(b)
		return b
	}
	return make([]byte, classSize(c))
}

// put keeps b for reuse while no more than limit bytes are idle.
func (p *bufPool) put(b []byte, c int8, limit int) {
	if b == nil || p.idle+cap(b) > limit {
		return
	}
	p.free[c] = append(p.free[c], b[:cap(b)])
	p.idle += cap(b)
}

// shed lets go of at least n idle bytes (or all of them), largest buffers
// first.
func (p *bufPool) shed(n int) {
	for c := numClasses - 1; c >= 0 && n > 0 && p.idle > 0; c-- {
		for len(p.free[c]) > 0 && n > 0 {
			k := len(p.free[c]) - 1
			p.idle -= cap(p.free[c][k])
			n -= cap(p.free[c][k])
			p.free[c][k] = nil
			p.free[c] = p.free[c][:k]
		}
	}
}

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
