//go:build !linux

package resolver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
)

// setReusePort is a no-op where SO_REUSEPORT is not known: the weakened
// transport then serialises on its port through bind errors.
func setReusePort(fd uintptr) error { return nil }

// dialUDPRandom opens a UDP socket bound to a port drawn by port (another
// draw when one is taken, up to maxBindTries) and connected to server. DF
// is not set: the socket options differ here, and rampart runs on Linux;
// other systems are for development only.
func dialUDPRandom(server netip.AddrPort, port func() uint16, retries *atomic.Uint64) (udpSocket, error) {
	network := "udp4"
	if server.Addr().Is6() && !server.Addr().Is4In6() {
		network = "udp6"
	}
	raddr := net.UDPAddrFromAddrPort(server)
	var err error
	for range maxBindTries {
		var c *net.UDPConn
		if c, err = net.DialUDP(network, &net.UDPAddr{Port: int(port())}, raddr); err == nil {
			return connSocket{c}, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, err
		}
		retries.Add(1)
	}
	return nil, fmt.Errorf("no free source port after %d draws: %w", maxBindTries, err)
}
