package resolver

import (
	"fmt"
	"net/netip"
	"os"
	"sync/atomic"
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
// The socket is non-blocking, and its answer is waited for through
// udpPoller (udppoll_linux.go) rather than the runtime's own poller.
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
	p, err := sharedPoller()
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return p.add(fd)
}

// rawWrite writes b to the non-blocking socket fd without telling the
// scheduler that a system call is under way. The call cannot block, but it
// carries the datagram through the kernel's whole path to a local
// receiver (a veth pair, a bridge, the receiver's socket), which can take
// longer than the 20 µs after which the runtime hands the processor of a
// goroutine in a system call to another thread: a hand-off, thread
// wake-ups and a scheduler monitor kept awake every 20 µs, for work that
// is the CPU's own.
func rawWrite(fd int, b []byte) (int, error) { return rawIO(unix.SYS_WRITE, fd, b) }

// rawIO is read or write (trap) of b on fd, as a raw system call.
func rawIO(trap uintptr, fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
