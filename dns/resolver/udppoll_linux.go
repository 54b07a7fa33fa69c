package resolver

import (
	"context"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// udpPoller waits for the answers to upstream UDP queries with an epoll
// instance of its own, which the runtime's poller watches as one file.
//
// A cold resolver opens a socket per upstream query, and the runtime's
// poller charges each of them an fcntl, an epoll_ctl to add it and another
// to remove it, a finalizer, a deadline timer in its poll descriptor and,
// since the read is tried before the wait, usually a read that fails with
// EAGAIN. Here a socket is added once, with EPOLLONESHOT; closing it takes
// it out of the set (the kernel does that when the last reference to the
// socket goes); the wait is a channel receive beside ctx's Done and a
// pooled timer; and the read is made once the answer is there.
//
// An event's data is the socket's slot in waiters and the slot's
// generation, so that an event from a socket already closed (or one whose
// registration outlives it in a forked child until that execs) never wakes
// the slot's next owner.
type udpPoller struct {
	epfd int
	f    *os.File // epfd, kept open and watched by the runtime through rc
	rc   syscall.RawConn

	mu      sync.Mutex
	waiters []pollSlot // guarded by mu: indexed by an event's slot
	free    []int32    // guarded by mu: unused slots
}

type pollSlot struct {
	s   *polledSocket
	gen int32
}

var (
	pollerOnce sync.Once
	poller     *udpPoller
	pollerErr  error
)

// sharedPoller returns the process's udpPoller, started on first use; it
// runs for the life of the process.
func sharedPoller() (*udpPoller, error) {
	pollerOnce.Do(func() { poller, pollerErr = newUDPPoller() })
	return poller, pollerErr
}

func newUDPPoller() (*udpPoller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	// Non-blocking, so that os.NewFile hands it to the runtime's poller.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	f := os.NewFile(uintptr(epfd), "upstream-udp-epoll")
	rc, err := f.SyscallConn()
	if err == nil {
		// Only a file the runtime polls takes a deadline; run relies on
		// its waits.
		err = f.SetReadDeadline(time.Time{})
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("upstream UDP poller: %w", err)
	}
	p := &udpPoller{epfd: epfd, f: f, rc: rc}
	go p.run()
	return p, nil
}

// run hands each socket's readiness to its waiter. The runtime reports the
// epoll file readable (edge-triggered) when events are queued in it; rc.Read
// calls back before it waits, and the callback takes the queued events
// without blocking, so none is left behind a wait.
func (p *udpPoller) run() {
	events := make([]unix.EpollEvent, 128)
	var n int
	collect := func(fd uintptr) bool {
		var err error
		n, err = unix.EpollWait(int(fd), events, 0)
		if err != nil {
			// EINTR: try again at once. Nothing else can happen on a
			// valid epoll descriptor and buffer.
			n = 0
			return true
		}
		return n > 0
	}
	for {
		if err := p.rc.Read(collect); err != nil {
			// The file is never closed and newUDPPoller checked that
			// the runtime polls it: this cannot happen.
			panic("resolver: upstream UDP poller: " + err.Error())
		}
		p.mu.Lock()
		for _, ev := range events[:n] {
			if slot := int(ev.Fd); slot < len(p.waiters) {
				if w := p.waiters[slot]; w.s != nil && w.gen == ev.Pad {
					select {
					case w.s.ready <- struct{}{}:
					default:
					}
				}
			}
		}
		p.mu.Unlock()
	}
}

// add registers the connected socket fd, and returns it as the exchange's
// socket; on error fd is closed.
func (p *udpPoller) add(fd int) (*polledSocket, error) {
	s := polledPool.Get().(*polledSocket)
	s.fd, s.p = fd, p
	p.mu.Lock()
	if k := len(p.free); k > 0 {
		s.slot = p.free[k-1]
		p.free = p.free[:k-1]
	} else {
		s.slot = int32(len(p.waiters))
		p.waiters = append(p.waiters, pollSlot{})
	}
	w := &p.waiters[s.slot]
	w.gen++
	w.s, s.gen = s, w.gen
	p.mu.Unlock()
	if err := s.arm(unix.EPOLL_CTL_ADD); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// polledSocket is the socket of one upstream UDP exchange, served by
// udpPoller and read and written with the system calls themselves.
type polledSocket struct {
	fd        int
	p         *udpPoller
	slot, gen int32
	armed     bool // an event is expected: EPOLLONESHOT disarms after one
	ready     chan struct{}
	timer     *time.Timer
}

var polledPool = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &polledSocket{ready: make(chan struct{}, 1), timer: t}
}}

// arm asks for one event when the socket is readable (level-triggered, so
// a datagram already queued counts).
func (s *polledSocket) arm(op int) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: s.slot, Pad: s.gen}
	if err := unix.EpollCtl(s.p.epfd, op, s.fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	s.armed = true
	return nil
}

// Write sends b without waiting: the socket is fresh, so its send buffer
// has room for a query, and EAGAIN is an error like any other.
func (s *polledSocket) Write(b []byte) (int, error) {
	n, err := rawWrite(s.fd, b)
	if err != nil {
		return n, os.NewSyscallError("write", err)
	}
	return n, nil
}

// Read waits for the next datagram until ctx's Deadline, or until ctx is
// done, and reads it. A time-out is os.ErrDeadlineExceeded, an end of ctx
// its Err.
func (s *polledSocket) Read(ctx context.Context, b []byte) (int, error) {
	done := waitDone(ctx)
	for {
		if !s.armed {
			if err := s.arm(unix.EPOLL_CTL_MOD); err != nil {
				return 0, err
			}
		}
		if deadline, ok := ctx.Deadline(); ok {
			s.timer.Reset(time.Until(deadline))
		}
		select {
		case <-s.ready:
			s.timer.Stop()
		case <-done:
			s.timer.Stop()
			return 0, ctx.Err()
		case <-s.timer.C:
			return 0, os.ErrDeadlineExceeded
		}
		s.armed = false
		n, err := rawRead(s.fd, b)
		if err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return 0, os.NewSyscallError("read", err)
		}
		// A connected UDP socket has no end of file: 0 is an empty datagram.
		return n, nil
	}
}

// Close takes the socket out of the poller, closes it (which removes it
// from the epoll set) and pools what is reusable.
func (s *polledSocket) Close() error {
	p := s.p
	p.mu.Lock()
	p.waiters[s.slot].s = nil
	p.free = append(p.free, s.slot)
	p.mu.Unlock()
	// A wake-up sent before the slot was freed must not reach the next
	// exchange; none can come after.
	select {
	case <-s.ready:
	default:
	}
	err := unix.Close(s.fd)
	s.fd, s.p, s.armed = -1, nil, false
	polledPool.Put(s)
	if err != nil {
		return os.NewSyscallError("close", err)
	}
	return nil
}

// rawRead reads a datagram already queued on the non-blocking socket fd,
// which takes no longer than a copy; see rawWrite.
func rawRead(fd int, b []byte) (int, error) { return rawIO(unix.SYS_READ, fd, b) }
