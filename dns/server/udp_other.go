//go:build !linux

package server

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
)

// serveUDP is the portable reader: one datagram per syscall. Linux uses
// the batched reader in udp_linux.go.
func (s *Server) serveUDP(c *net.UDPConn) {
	defer s.wg.Done()
	buf := make([]byte, 65535)
	out := make([]byte, max(int(s.cfg.EDNSSize), 512))
	var t tally
	for {
		n, src, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		t.queries++
		r := s.fastTally(buf[:n], src.Addr(), out, &t)
		if r == 0 {
			r = s.spawnUDP(c, nil, buf[:n], src, out, &t)
		}
		var now uint32
		if s.rrl != nil {
			now = s.rrl.now()
		}
		if r = s.answerUDP(buf[:n], out, r, src.Addr(), now, &t); r > 0 {
			_, _ = c.WriteToUDPAddrPort(out[:r], src)
		}
		t.flush(s.m)
	}
}

// slowSender sends a worker's slow-path answers.
type slowSender struct{}

func newSlowSender() *slowSender { return &slowSender{} }

func (*slowSender) send(c *net.UDPConn, _ syscall.RawConn, b []byte, dst netip.AddrPort) {
	_, _ = c.WriteToUDPAddrPort(b, dst)
}
