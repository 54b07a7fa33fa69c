//go:build linux

package server

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// udpBatch is the number of datagrams one recvmmsg or sendmmsg call
	// moves. Under load a call returns a full batch, so the syscall and
	// the netpoller wake-up are paid once per 32 queries instead of once
	// per query; when idle a call returns what is there at once.
	udpBatch = 32
	// udpQueryBuf is the receive buffer of one datagram. Real queries
	// (one question, an OPT with a few options) stay far below it; a
	// larger datagram arrives truncated (MSG_TRUNC) and is dropped.
	udpQueryBuf = 4096
)

// mmsghdr is struct mmsghdr of recvmmsg(2); Go pads it to the alignment of
// Msghdr, as the C compiler does.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// udpSocket is the batched read/answer loop of one UDP socket. All its
// buffers are allocated once, so the hit path performs no allocation and
// two syscalls per batch. It belongs to the one goroutine that reads the
// socket, so none of its fields needs a lock.
type udpSocket struct {
	s  *Server
	c  *net.UDPConn
	rc syscall.RawConn

	in     [udpBatch]mmsghdr
	inIov  [udpBatch]unix.Iovec
	names  [udpBatch]unix.RawSockaddrAny
	inBuf  []byte
	out    [udpBatch]mmsghdr
	outIov [udpBatch]unix.Iovec
	outBuf []byte
	outSz  int

	// Results of the last syscall, set by the closures below, which are
	// built once so that RawConn.Read and Write do not allocate.
	got, sent, nOut int
	errno           syscall.Errno
	readFn, writeFn func(fd uintptr) bool
}

func newUDPSocket(s *Server, c *net.UDPConn) (*udpSocket, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	u := &udpSocket{s: s, c: c, rc: rc, outSz: max(int(s.cfg.EDNSSize), 512)}
	u.inBuf = make([]byte, udpBatch*udpQueryBuf)
	u.outBuf = make([]byte, udpBatch*u.outSz)
	for i := range u.in {
		u.inIov[i].Base = &u.inBuf[i*udpQueryBuf]
		u.inIov[i].SetLen(udpQueryBuf)
		h := &u.in[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&u.names[i]))
		h.Iov = &u.inIov[i]
		h.SetIovlen(1)
		u.outIov[i].Base = &u.outBuf[i*u.outSz]
		o := &u.out[i].hdr
		o.Iov = &u.outIov[i]
		o.SetIovlen(1)
	}
	u.readFn = u.recv
	u.writeFn = u.send
	return u, nil
}

func (u *udpSocket) recv(fd uintptr) bool {
	for i := range u.in {
		u.in[i].hdr.Namelen = unix.SizeofSockaddrAny
		u.in[i].hdr.Flags = 0
	}
	r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&u.in[0])), udpBatch, unix.MSG_DONTWAIT, 0, 0)
	if e == unix.EAGAIN {
		return false
	}
	u.got, u.errno = int(r), e
	return true
}

// send is sendmmsg without entering the scheduler's system-call state, as
// slowSender: it cannot block (MSG_DONTWAIT), and a batch carried through
// the kernel to local receivers outlasts the runtime's 20 µs hand-off.
func (u *udpSocket) send(fd uintptr) bool {
	r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&u.out[u.sent])), uintptr(u.nOut-u.sent), unix.MSG_DONTWAIT, 0, 0)
	if e == unix.EAGAIN {
		return false
	}
	if e != 0 {
		// A failed datagram (an unreachable client, say) must not hold up
		// the rest of the batch: skip it.
		u.sent++
		return true
	}
	u.sent += int(r)
	return true
}

// serve reads batches until the socket is closed.
func (u *udpSocket) serve() {
	s := u.s
	var t tally
	for {
		u.got, u.errno = 0, 0
		if err := u.rc.Read(u.readFn); err != nil {
			return
		}
		if u.errno != 0 {
			if errors.Is(u.errno, unix.EBADF) {
				return
			}
			continue
		}
		u.nOut = 0
		var now uint32
		if s.rrl != nil {
			now = s.rrl.now()
		}
		for i := 0; i < u.got; i++ {
			m := &u.in[i]
			t.queries++
			if m.hdr.Flags&unix.MSG_TRUNC != 0 {
				t.dropped++
				continue
			}
			src, ok := sockaddrAddr(&u.names[i], m.hdr.Namelen)
			if !ok {
				t.dropped++
				continue
			}
			q := u.inBuf[i*udpQueryBuf : i*udpQueryBuf+int(m.len)]
			out := u.outBuf[u.nOut*u.outSz : (u.nOut+1)*u.outSz]
			r := s.fastTally(q, src.Addr(), out, &t)
			if r == 0 {
				r = s.spawnUDP(u.c, u.rc, q, src, out, &t)
			}
			if r = s.answerUDP(q, out, r, src.Addr(), now, &t); r > 0 {
				o := &u.out[u.nOut]
				o.hdr.Name = m.hdr.Name
				o.hdr.Namelen = m.hdr.Namelen
				u.outIov[u.nOut].SetLen(r)
				u.nOut++
			}
		}
		t.flush(s.m)
		for u.sent = 0; u.sent < u.nOut; {
			if err := u.rc.Write(u.writeFn); err != nil {
				return
			}
		}
	}
}

// sockaddrAddr converts the source address recvmmsg filled in. A scoped
// IPv6 source keeps its interface index as a numeric zone, which the
// net package accepts when the slow path writes the answer back.
func sockaddrAddr(sa *unix.RawSockaddrAny, n uint32) (netip.AddrPort, bool) {
	switch sa.Addr.Family {
	case unix.AF_INET:
		if n < unix.SizeofSockaddrInet4 {
			return netip.AddrPort{}, false
		}
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(p.Addr), netPort(&p.Port)), true
	case unix.AF_INET6:
		if n < unix.SizeofSockaddrInet6 {
			return netip.AddrPort{}, false
		}
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		a := netip.AddrFrom16(p.Addr)
		if p.Scope_id != 0 {
			a = a.WithZone(strconv.FormatUint(uint64(p.Scope_id), 10))
		}
		return netip.AddrPortFrom(a, netPort(&p.Port)), true
	}
	return netip.AddrPort{}, false
}

// netPort reads a port stored in network byte order.
func netPort(p *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(p))
	return binary.BigEndian.Uint16(b[:])
}

func (s *Server) serveUDP(c *net.UDPConn) {
	defer s.wg.Done()
	u, err := newUDPSocket(s, c)
	if err != nil {
		s.log.Error("udp socket", "err", err)
		return
	}
	u.serve()
}

// slowSender sends a worker's slow-path answers: sendto on the
// non-blocking socket without entering the scheduler's system-call state.
// The call cannot block, but it carries the datagram through the kernel's
// whole path to a local receiver, which can outlast the 20 µs after which
// the runtime hands the processor of a goroutine in a system call to
// another thread: a hand-off and thread wake-ups for work that is the
// CPU's own. A full send buffer, or an address it cannot encode, goes
// through the net package, which waits for room. The callback is built
// once per worker, so that a send allocates nothing; a slowSender belongs
// to that worker alone and needs no lock.
type slowSender struct {
	b  []byte
	sa unix.RawSockaddrAny
	n  int
	e  syscall.Errno
	fn func(fd uintptr)
}

func newSlowSender() *slowSender {
	s := &slowSender{}
	s.fn = s.sendto
	return s
}

func (s *slowSender) sendto(fd uintptr) {
	_, _, s.e = unix.RawSyscall6(unix.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&s.b[0])), uintptr(len(s.b)),
		unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&s.sa)), uintptr(s.n))
}

func (s *slowSender) send(c *net.UDPConn, rc syscall.RawConn, b []byte, dst netip.AddrPort) {
	if s.n = putSockaddr(&s.sa, dst); rc != nil && len(b) > 0 && s.n > 0 {
		s.b, s.e = b, 0
		err := rc.Control(s.fn)
		s.b = nil
		if err == nil && s.e != unix.EAGAIN {
			return // sent, or failed as a datagram may (the client is gone)
		}
	}
	_, _ = c.WriteToUDPAddrPort(b, dst)
}

// putSockaddr encodes dst for sendto and returns its length, 0 when it
// cannot (a zone that is not an interface index). An IPv4-mapped address
// stays IPv6, as it arrived on an IPv6 socket.
func putSockaddr(sa *unix.RawSockaddrAny, dst netip.AddrPort) int {
	a := dst.Addr()
	if a.Is4() {
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		p.Family = unix.AF_INET
		putNetPort(&p.Port, dst.Port())
		p.Addr = a.As4()
		return unix.SizeofSockaddrInet4
	}
	p := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
	p.Family = unix.AF_INET6
	putNetPort(&p.Port, dst.Port())
	p.Addr = a.As16()
	if z := a.Zone(); z != "" {
		id, err := strconv.ParseUint(z, 10, 32)
		if err != nil {
			return 0
		}
		p.Scope_id = uint32(id)
	}
	return unix.SizeofSockaddrInet6
}

// putNetPort stores a port in network byte order.
func putNetPort(p *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	binary.BigEndian.PutUint16(b[:], port)
}
