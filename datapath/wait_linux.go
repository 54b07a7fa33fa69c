//go:build linux

package datapath

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// waiter parks a bridge worker until one of its queues has a block (or
// is closed), through the runtime's network poller rather than a poll(2)
// the worker sits in. A worker blocked in a system call holds its P until
// the runtime's monitor takes it away, and every wake-up then hands it
// back and wakes the monitor: with the bursty traffic of TCP connection
// set-up that churn was 17% of the gateway's CPU time (perf,
// bench/gateway -nat -profile). A parked goroutine costs the runtime
// nothing of the sort.
//
// The queues' sockets and eventfds go into an epoll instance of the
// worker's own (level-triggered, as poll(2) was); that instance is itself
// pollable, and the runtime's poller watches it.
type waiter struct {
	ep  *os.File
	rc  syscall.RawConn
	evs [4]unix.EpollEvent
}

// newWaiter watches the sockets and eventfds of qs, which must stay open
// until the waiter is closed.
func newWaiter(qs [2]*Queue) (*waiter, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	for _, q := range qs {
		for _, f := range [2]int{q.fd, q.efd} {
			ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(f)}
			if err := unix.EpollCtl(fd, unix.EPOLL_CTL_ADD, f, &ev); err != nil {
				unix.Close(fd)
				return nil, fmt.Errorf("epoll add: %w", err)
			}
		}
	}
	// Non-blocking, so that os.NewFile hands it to the runtime's poller.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	w := &waiter{ep: os.NewFile(uintptr(fd), "datapath-wait")}
	if w.rc, err = w.ep.SyscallConn(); err != nil {
		w.ep.Close()
		return nil, err
	}
	return w, nil
}

// wait returns when a socket or eventfd is readable, or after d at the
// latest (a missed wake-up costs no more than that).
func (w *waiter) wait(d time.Duration) error {
	if err := w.ep.SetReadDeadline(time.Now().Add(d)); err != nil {
		return err
	}
	err := w.rc.Read(func(fd uintptr) bool {
		// A raw call: a zero timeout never sleeps, and a call the runtime
		// is told of would wake its monitor from its idle sleep, which
		// with a worker waking thousands of times a second is what the
		// waiter is here to avoid.
		n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&w.evs[0])), uintptr(len(w.evs)), 0, 0, 0)
		return n > 0 || (e != 0 && e != unix.EINTR)
	})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	return err
}

func (w *waiter) Close() error { return w.ep.Close() }
