package resolver

import (
	"fmt"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// setReusePort lets the lab's weakened transport open several sockets on
// its one fixed source port.
func setReusePort(fd uintptr) error {
	if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return err
	}
	return unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
}

// udpSocket is the upstream socket of one UDP exchange.
type udpSocket interface {
	Read([]byte) (int, error)
	Write([]byte) (int, error)
	SetDeadline(time.Time) error
	Close() error
}

// dialUDPRandom opens a UDP socket with DF set, bound to a port drawn by
// port (another draw when one is taken, up to maxBindTries) and connected
// to server. DF makes a response that does not fit the path MTU dropped
// rather than fragmented by the server's stack, so that a forged second
// fragment cannot be spliced into a genuine first one (fragmentation
// poisoning, Herzberg and Shulman 2013); the resolver advertises an EDNS
// buffer of 1232 bytes, so genuine answers fit, and larger ones come
// truncated and are asked again over TCP. It makes the system calls a resolver needs and no others:
// net.DialUDP also sets SO_BROADCAST and asks getsockname and getpeername
// for addresses the resolver already knows, and a cold resolver opens one
// socket per upstream query, so those calls were a tenth of its CPU time.
// The socket is non-blocking and served by the runtime's poller through
// os.File, so deadlines work as on a net.Conn.
func dialUDPRandom(server netip.AddrPort, port func() uint16, retries *atomic.Uint64) (udpSocket, error) {
	a := server.Addr()
	domain := unix.AF_INET
	var sa unix.Sockaddr
	var local func(p uint16) unix.Sockaddr
	if a.Is4() || a.Is4In6() {
		sa = &unix.SockaddrInet4{Port: int(server.Port()), Addr: a.Unmap().As4()}
		local = func(p uint16) unix.Sockaddr { return &unix.SockaddrInet4{Port: int(p)} }
	} else {
		domain = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(server.Port()), Addr: a.As16()}
		local = func(p uint16) unix.Sockaddr { return &unix.SockaddrInet6{Port: int(p)} }
	}
	fd, err := unix.Socket(domain, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	fail := func(call string, err error) (udpSocket, error) {
		unix.Close(fd)
		return nil, os.NewSyscallError(call, err)
	}
	if domain == unix.AF_INET6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_DO); err != nil {
			return fail("setsockopt", err)
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_DONTFRAG, 1); err != nil {
			return fail("setsockopt", err)
		}
	} else if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO); err != nil {
		return fail("setsockopt", err)
	}
	bound := false
	for range maxBindTries {
		if err = unix.Bind(fd, local(port())); err == nil {
			bound = true
			break
		}
		if err != unix.EADDRINUSE {
			return fail("bind", err)
		}
		retries.Add(1)
	}
	if !bound {
		unix.Close(fd)
		return nil, fmt.Errorf("no free source port after %d draws: %w", maxBindTries, os.NewSyscallError("bind", err))
	}
	if err := unix.Connect(fd, sa); err != nil {
		return fail("connect", err)
	}
	f := os.NewFile(uintptr(fd), "udp")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &fileSocket{f: f, fd: fd, rc: rc}, nil
}

// fileSocket is an upstream UDP socket served by the runtime's poller
// through os.File, and read and written with the system calls themselves:
// os.File's Read reports an empty datagram as the end of the file, and
// its Write takes locks and the poller's state for a write that never
// waits. (Waiting for readability before the first read, to spare the read
// that fails with EAGAIN, is not possible through RawConn: it clears a
// readiness already delivered before it calls back, so an answer that came
// quickly would be waited for until the deadline.)
type fileSocket struct {
	f  *os.File
	fd int
	rc syscall.RawConn
	// Results of the read callback, which is built once.
	n      int
	err    error
	buf    []byte
	readFn func(fd uintptr) bool
}

func (s *fileSocket) Write(b []byte) (int, error) {
	n, err := rawWrite(s.fd, b)
	if err == unix.EAGAIN {
		// The send buffer is full (it holds one query): let the poller
		// wait for room.
		n, err = s.f.Write(b)
	}
	if err != nil {
		return n, os.NewSyscallError("write", err)
	}
	return n, nil
}

func (s *fileSocket) Read(b []byte) (int, error) {
	if s.readFn == nil {
		s.readFn = s.read
	}
	s.buf, s.n, s.err = b, 0, nil
	if err := s.rc.Read(s.readFn); err != nil {
		return 0, err
	}
	return s.n, s.err
}

// read is the callback of rc.Read: false means wait until readable.
func (s *fileSocket) read(fd uintptr) bool {
	n, err := unix.Read(int(fd), s.buf)
	if err == unix.EAGAIN {
		return false
	}
	if err != nil {
		s.err = os.NewSyscallError("read", err)
		return true
	}
	// A connected UDP socket has no end of file: 0 is an empty datagram.
	s.n = n
	return true
}

func (s *fileSocket) SetDeadline(t time.Time) error { return s.f.SetDeadline(t) }
func (s *fileSocket) Close() error                  { return s.f.Close() }

// SyscallConn gives the socket to code that sets or reads its options.
func (s *fileSocket) SyscallConn() (syscall.RawConn, error) { return s.rc, nil }

// rawWrite writes b to the non-blocking socket fd without telling the
// scheduler that a system call is under way. The call cannot block, but it
// carries the datagram through the kernel's whole path to a local
// receiver (a veth pair, a bridge, the receiver's socket), which can take
// longer than the 20 µs after which the runtime hands the processor of a
// goroutine in a system call to another thread: a hand-off, thread
// wake-ups and a scheduler monitor kept awake every 20 µs, for work that
// is the CPU's own.
func rawWrite(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
