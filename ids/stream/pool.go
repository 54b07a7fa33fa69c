package stream

import "github.com/rampart-fw/rampart/internal/bufpool"

// Stream buffers come in powers of two from 512 bytes (a request that fits
// one segment) to 64 MiB.
const (
	minBufShift = 9
	maxBufShift = 26
	numClasses  = maxBufShift - minBufShift + 1
	maxBufClass = 1 << maxBufShift
	// maxSegment is the most payload one TCP segment can carry (an IPv6
	// jumbogram aside, which the decoder does not take).
	maxSegment = 65535
)

// keepClass is the largest buffer a flow keeps while it holds nothing.
var keepClass = sizes.ClassOf(4096)

// sizes gives the buffer classes; each shard keeps its own Pool of them.
var sizes = bufpool.New(minBufShift, maxBufShift)

// newFlowHeap returns the heap of a shard's flows by the buffer bytes they
// hold.
func newFlowHeap() bufpool.Heap[*Flow] {
	return bufpool.NewHeap(func(f *Flow) int { return f.charged }, func(f *Flow) *int { return &f.heapIdx })
}

// flowList is an intrusive doubly linked list of flows, most recently
// active at the head.
type flowList struct {
	head, tail *Flow
	n          int
}

func (l *flowList) pushFront(f *Flow) {
	f.prev = nil
	f.next = l.head
	if l.head != nil {
		l.head.prev = f
	} else {
		l.tail = f
	}
	l.head = f
	l.n++
}

func (l *flowList) remove(f *Flow) {
	if f.prev != nil {
		f.prev.next = f.next
	} else {
		l.head = f.next
	}
	if f.next != nil {
		f.next.prev = f.prev
	} else {
		l.tail = f.prev
	}
	f.prev, f.next = nil, nil
	l.n--
}
