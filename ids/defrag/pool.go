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

// newSrcHeap returns the heap of a shard's sources by the bytes they
// hold.
func newSrcHeap() bufpool.Heap[*source] {
	return bufpool.NewHeap(func(s *source) int { return s.bytes }, func(s *source) *int { return &s.heapIdx })
}
