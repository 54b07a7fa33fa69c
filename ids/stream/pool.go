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

// sizes gives the buffer classes; each shard keeps its own Pool of them.
var sizes = bufpool.New(minBufShift, maxBufShift)

// flowHeap orders a shard's flows by the buffer bytes they hold, heaviest
// at index 0; each flow knows its index (-1 when it holds nothing and is
// not in the heap).
type flowHeap []*Flow

func (h *flowHeap) push(f *Flow) {
	f.heapIdx = len(*h)
	*h = append(*h, f)
	h.up(f.heapIdx)
}

func (h *flowHeap) remove(i int) {
	old := *h
	last := len(old) - 1
	old[i].heapIdx = -1
	if i != last {
		old[i] = old[last]
		old[i].heapIdx = i
	}
	old[last] = nil
	*h = old[:last]
	if i != last {
		h.fix(i)
	}
}

// fix restores the order after the flow at i changed weight.
func (h flowHeap) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h flowHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = i
	h[j].heapIdx = j
}

func (h flowHeap) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if h[parent].charged >= h[i].charged {
			return
		}
		h.swap(i, parent)
		i = parent
	}
}

func (h flowHeap) down(i int) bool {
	start := i
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		j := l
		if r := l + 1; r < len(h) && h[r].charged > h[l].charged {
			j = r
		}
		if h[i].charged >= h[j].charged {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > start
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
