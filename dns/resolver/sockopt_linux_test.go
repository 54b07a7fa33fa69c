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
		rc, err := c.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var pmtu, dontfrag int
		var gerr error
		six := netip.MustParseAddrPort(server).Addr().Is6()
		_ = rc.Control(func(fd uintptr) {
			if six {
				pmtu, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER)
				if gerr == nil {
					dontfrag, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_DONTFRAG)
				}
			} else {
				pmtu, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER)
				dontfrag = 1
			}
		})
		if gerr != nil {
			t.Fatal(gerr)
		}
		if pmtu != unix.IP_PMTUDISC_DO || dontfrag != 1 {
			t.Errorf("%s: MTU_DISCOVER %d DONTFRAG %d", server, pmtu, dontfrag)
		}
		local := c.LocalAddr().String()
		lp, _ := netip.ParseAddrPort(local)
		if lp.Port() < minSourcePort || c.RemoteAddr().String() != server {
			t.Errorf("%s: local %s remote %s", server, local, c.RemoteAddr())
		}
		c.Close()
	}
}
