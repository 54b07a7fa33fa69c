//go:build linux

package datapath

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// txArenaSize holds the frames a batch must copy: a few full-size frames,
// or one 64 KiB super-frame with room to spare.
const txArenaSize = 256 << 10

// region is a span of memory whose frames stay put until the batch is
// flushed: the receive rings of the worker that owns the batch.
type region struct{ lo, hi uintptr }

// txBatch queues frames for one socket and sends them with one sendmmsg.
// Frames that lie in a pinned receive ring go out by reference; others
// (a handler's own buffers) are copied into the arena, so the handler may
// reuse its buffer at once. One goroutine owns a batch.
//
// On a socket with vnet headers every message is two iovecs, the frame's
// header from hdrs and the frame itself: the header the ring delivered
// before the frame is overwritten when a VLAN tag is restored, and frames
// the handler builds have none.
type txBatch struct {
	q      *Queue
	msgs   []unix.Mmsghdr
	iovs   []unix.Iovec // two per message: vnet header, frame
	hdrs   [][VNetHeaderLen]byte
	n      int
	arena  []byte
	used   int
	pinned []region
}

func newTxBatch(q *Queue, size int) *txBatch {
	t := &txBatch{q: q, msgs: make([]unix.Mmsghdr, size), iovs: make([]unix.Iovec, 2*size), hdrs: make([][VNetHeaderLen]byte, size)}
	for i := range t.msgs {
		if q.vnet {
			t.iovs[2*i].Base = &t.hdrs[i][0]
			t.iovs[2*i].SetLen(VNetHeaderLen)
			t.msgs[i].Hdr.Iov = &t.iovs[2*i]
			t.msgs[i].Hdr.SetIovlen(2)
		} else {
			t.msgs[i].Hdr.Iov = &t.iovs[2*i+1]
			t.msgs[i].Hdr.SetIovlen(1)
		}
	}
	return t
}

func (t *txBatch) isPinned(p uintptr, n int) bool {
	for _, r := range t.pinned {
		if p >= r.lo && p+uintptr(n) <= r.hi {
			return true
		}
	}
	return false
}

// transmit queues frame with the offload header h (nil: a complete frame).
func (t *txBatch) transmit(frame []byte, h *VNetHeader) error {
	if len(frame) == 0 {
		return ErrEmptyFrame
	}
	if len(frame) > MaxFrameLength {
		t.q.counts.txTooLarge.Add(1)
		return ErrFrameTooLarge
	}
	if t.n == len(t.msgs) {
		t.flush()
	}
	base := unsafe.SliceData(frame)
	if !t.isPinned(uintptr(unsafe.Pointer(base)), len(frame)) {
		if t.arena == nil {
			t.arena = make([]byte, txArenaSize)
		}
		if len(frame) > len(t.arena)-t.used {
			t.flush()
		}
		copy(t.arena[t.used:], frame)
		base = &t.arena[t.used]
		// Keep copies 64-byte aligned: one cache line never holds two frames.
		t.used = min(t.used+(len(frame)+63)&^63, len(t.arena))
	}
	if t.q.vnet {
		if h != nil {
			h.marshalTx(t.hdrs[t.n][:], len(frame))
		} else {
			t.hdrs[t.n] = [VNetHeaderLen]byte{}
		}
	}
	t.iovs[2*t.n+1].Base = base
	t.iovs[2*t.n+1].SetLen(len(frame))
	t.n++
	return nil
}

// flush sends the queued frames. A frame the kernel refuses is counted and
// skipped; the rest of the batch still goes out.
func (t *txBatch) flush() {
	n := t.n
	if n == 0 {
		return
	}
	q := t.q
	var frames, bytes, dropped, tooLarge, errs uint64
	if q.enter() {
		for i := 0; i < n; {
			// A raw system call: the runtime is not told the worker left
			// for the kernel, which it may safely not be, because with
			// MSG_DONTWAIT the call never sleeps (a full send buffer is
			// EAGAIN, counted as a drop below, like a full queue on any
			// router's egress). The kernel's work in it is long, though,
			// since the receivers' softirqs run inside it: told, the
			// runtime's monitor hands the worker's P to another thread
			// after 20 µs, waking and parking threads on every batch,
			// which cost the gateway 10-17% of its CPU time in the lab
			// (perf, bench/gateway -nat -profile).
			r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(q.txfd), uintptr(unsafe.Pointer(&t.msgs[i])), uintptr(n-i), unix.MSG_DONTWAIT, 0, 0)
			switch {
			case e == unix.EINTR:
				continue
			case e == unix.EMSGSIZE:
				tooLarge++
				i++
			case e == unix.ENOBUFS || e == unix.EAGAIN:
				dropped++
				i++
			case e != 0 || r == 0:
				errs++
				i++
			default:
				for k := i; k < i+int(r); k++ {
					bytes += uint64(t.iovs[2*k+1].Len)
				}
				frames += uint64(r)
				i += int(r)
			}
		}
		q.leave()
	} else {
		errs = uint64(n)
	}
	// Forget the frames: a stale pointer into a ring that is later
	// unmapped must not outlive the batch.
	for i := range n {
		t.iovs[2*i+1].Base = nil
	}
	t.n, t.used = 0, 0
	c := &q.counts
	c.txFrames.Add(frames)
	c.txBytes.Add(bytes)
	if dropped|tooLarge|errs != 0 {
		c.txDropped.Add(dropped)
		c.txTooLarge.Add(tooLarge)
		c.txErrors.Add(errs)
	}
}
