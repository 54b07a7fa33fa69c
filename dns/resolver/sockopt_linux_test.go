package resolver

import (
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDialUDPSetsDF checks the socket the transport queries from: DF set
// (IP_PMTUDISC_DO), a source port in the unprivileged range, connected.
func TestDialUDPSetsDF(t *testing.T) {
	for _, server := range []string{"127.0.0.1:53", "[::1]:53"} {
		tr := NewNetTransport()
		c, err := tr.dialUDP(netip.MustParseAddrPort(server))
		if err != nil {
			t.Logf("%s: %v (no such family here)", server, err)
			continue
		}
		fd := c.(*polledSocket).fd
		var pmtu, dontfrag int
		var gerr error
		var local, remote netip.AddrPort
		six := netip.MustParseAddrPort(server).Addr().Is6()
		if six {
			pmtu, gerr = unix.GetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER)
			if gerr == nil {
				dontfrag, gerr = unix.GetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_DONTFRAG)
			}
		} else {
			pmtu, gerr = unix.GetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER)
			dontfrag = 1
		}
		if gerr == nil {
			var sa unix.Sockaddr
			if sa, gerr = unix.Getsockname(fd); gerr == nil {
				local = sockaddrPort(sa)
			}
		}
		if gerr == nil {
			var sa unix.Sockaddr
			if sa, gerr = unix.Getpeername(fd); gerr == nil {
				remote = sockaddrPort(sa)
			}
		}
		if gerr != nil {
			t.Fatal(gerr)
		}
		if pmtu != unix.IP_PMTUDISC_DO || dontfrag != 1 {
			t.Errorf("%s: MTU_DISCOVER %d DONTFRAG %d", server, pmtu, dontfrag)
		}
		if local.Port() < minSourcePort || remote.String() != server {
			t.Errorf("%s: local %s remote %s", server, local, remote)
		}
		c.Close()
	}
}

func sockaddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port))
	}
	return netip.AddrPort{}
}
