package resolver

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// setDontFragment sets DF on an upstream UDP socket before it sends, so
// that a response that does not fit the path MTU is dropped rather than
// fragmented by the server's stack, and a forged second fragment cannot be
// spliced into a genuine first one (fragmentation poisoning, Herzberg and
// Shulman 2013). The resolver advertises an EDNS buffer of 1232 bytes, so
// genuine answers fit; larger ones come truncated and are re-asked over TCP.
func setDontFragment(network, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		switch network {
		case "udp6":
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_DO)
			if serr == nil {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_DONTFRAG, 1)
			}
		default:
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// setReusePort lets the lab's weakened transport open several sockets on
// its one fixed source port.
func setReusePort(fd uintptr) error {
	if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return err
	}
	return unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
}
