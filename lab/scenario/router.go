package scenario

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/rampart-fw/rampart/lab"
)

// RouterConfig is the gateway section that makes rampart the lab's gw in
// router mode, with the addresses the topology gives gw's interfaces.
const RouterConfig = `  mode: router
  addresses:
    lan: [10.10.0.1/24, "fd00:10::1/64"]
    wan: [203.0.113.1/24, 198.51.100.1/24, "2001:db8:113::1/64", "2001:db8:100::1/64"]
`

// StartRouter takes every address off the kernel of the lab's gw host
// (IPv4 flushed, IPv6 disabled on lan and wan, forwarding off), so that
// only rampart answers for them, and runs `rampart gateway` there in
// router mode with the policy, extra lines of its gateway section
// (indented, e.g. "  conntrack_max: 8192\n") beside RouterConfig. It
// returns once client1 reaches web through it.
func StartRouter(ctx context.Context, l *lab.Lab, rampart, dir, policyText, extra string) (*Gateway, error) {
	return StartRouterArgs(ctx, l, rampart, dir, policyText, extra)
}

// TakeFromKernel takes a router host's addresses and forwarding away from
// its kernel (IPv4 addresses flushed, IPv6 disabled on lan and wan), so
// that rampart in router mode answers for them alone.
func TakeFromKernel(ctx context.Context, h *lab.Node) error {
	for _, argv := range [][]string{
		{"sysctl", "-qw", "net.ipv4.conf.all.forwarding=0", "net.ipv6.conf.all.forwarding=0"},
		{"ip", "addr", "flush", "dev", "lan"},
		{"ip", "addr", "flush", "dev", "wan"},
		{"sysctl", "-qw", "net.ipv6.conf.lan.disable_ipv6=1", "net.ipv6.conf.wan.disable_ipv6=1"},
	} {
		if out, err := h.Run(ctx, argv...); err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, out)
		}
	}
	return nil
}

// GiveBackToKernel undoes TakeFromKernel for host name: no clsact qdisc
// left on its interfaces, IPv6 on again,
// the addresses the topology gives its interfaces, and forwarding when
// the topology makes it a router.
func GiveBackToKernel(ctx context.Context, l *lab.Lab, name string) error {
	h, node := l.Topo.Host(name), l.Host(name)
	if h == nil || node == nil {
		return fmt.Errorf("no host %q", name)
	}
	// rampart removes its filter of the kernel's input (a clsact qdisc on
	// each interface) when it stops; a gateway that was killed leaves it.
	for _, ifc := range h.Interfaces {
		_, _ = node.Run(ctx, "tc", "qdisc", "del", "dev", ifc.Name, "clsact")
	}
	argv := [][]string{{"sysctl", "-qw", "net.ipv6.conf.lan.disable_ipv6=0", "net.ipv6.conf.wan.disable_ipv6=0"}}
	for _, ifc := range h.Interfaces {
		for _, a := range ifc.Addresses {
			argv = append(argv, []string{"ip", "addr", "replace", a.String(), "dev", ifc.Name})
		}
	}
	if h.Forward {
		argv = append(argv, []string{"sysctl", "-qw", "net.ipv4.conf.all.forwarding=1", "net.ipv6.conf.all.forwarding=1"})
	}
	for _, a := range argv {
		if out, err := node.Run(ctx, a...); err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(a, " "), err, out)
		}
	}
	return nil
}

// StartRouterArgs is StartRouter with more arguments for `rampart
// gateway` (such as the lab-only --lab-nat-udp-timeout).
func StartRouterArgs(ctx context.Context, l *lab.Lab, rampart, dir, policyText, extra string, args ...string) (*Gateway, error) {
	gw := l.Host("gw")
	if err := TakeFromKernel(ctx, gw); err != nil {
		return nil, err
	}
	g := &Gateway{Policy: filepath.Join(dir, "gateway.rules"), fw: gw}
	if err := os.WriteFile(g.Policy, []byte(policyText), 0o600); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "rampart.yaml")
	if err := os.WriteFile(path, []byte("gateway:\n"+RouterConfig+extra), 0o600); err != nil {
		return nil, err
	}
	g.Control = filepath.Join(dir, "gateway.sock")
	argv := append([]string{rampart, "--log-format", "json", "--config", path,
		"gateway", "--lan", "lan", "--wan", "wan", "--policy", g.Policy, "--workers", "1", "--metrics", MetricsAddr,
		"--control", g.Control}, args...)
	p, err := gw.Start("gateway", argv...)
	if err != nil {
		return nil, err
	}
	g.proc = p
	if err := g.waitCrossing(ctx, l, 10*time.Second, 500*time.Millisecond); err != nil {
		return nil, err
	}
	return g, nil
}

// PingResult is what came back for an echo request.
type PingResult struct {
	// Kind is "reply", "time exceeded", "too big" (fragmentation needed,
	// packet too big), "unreachable" (the other codes) or "timeout".
	Kind string
	// From is the address the answer came from.
	From netip.Addr
	// MTU is the next-hop MTU of a "too big" answer.
	MTU int
}

func (r PingResult) String() string {
	switch r.Kind {
	case "timeout":
		return r.Kind
	case "too big":
		return fmt.Sprintf("too big (MTU %d) from %s", r.MTU, r.From)
	}
	return r.Kind + " from " + r.From.String()
}

// Ping sends one echo request from host h to dst with the given TTL (hop
// limit) and returns the answer that concerns it: the echo reply, or an
// ICMP error quoting it (time exceeded, destination unreachable, packet
// too big), or a timeout.
func Ping(ctx context.Context, h *lab.Node, dst netip.Addr, ttl int, timeout time.Duration) (PingResult, error) {
	return PingSize(ctx, h, dst, ttl, 16, false, timeout)
}

// PingSize is Ping with size bytes of data, and with DF set (IPv4; IPv6
// is never fragmented by the sender here) when df is true.
func PingSize(ctx context.Context, h *lab.Node, dst netip.Addr, ttl, size int, df bool, timeout time.Duration) (PingResult, error) {
	var res PingResult
	err := h.Do(func() error {
		network, laddr, proto := "ip4:icmp", "0.0.0.0", 1
		if dst.Is6() {
			network, laddr, proto = "ip6:ipv6-icmp", "::", 58
		}
		pc, err := net.ListenPacket(network, laddr)
		if err != nil {
			return err
		}
		defer pc.Close()
		rc, err := pc.(*net.IPConn).SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		err = rc.Control(func(fd uintptr) {
			if dst.Is4() {
				pmtu := unix.IP_PMTUDISC_DONT
				if df {
					pmtu = unix.IP_PMTUDISC_PROBE
				}
				serr = errors.Join(unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL, ttl),
					unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, pmtu))
				return
			}
			serr = errors.Join(unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, ttl),
				unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_PROBE))
		})
		if err = errors.Join(err, serr); err != nil {
			return err
		}
		id, seq := int(time.Now().UnixNano()&0xffff), 1
		msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: bytes.Repeat([]byte{'r'}, size)}}
		if dst.Is6() {
			msg.Type = ipv6.ICMPTypeEchoRequest
		}
		b, err := msg.Marshal(nil)
		if err != nil {
			return err
		}
		if _, err := pc.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			return err
		}
		deadline := time.Now().Add(timeout)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		_ = pc.SetReadDeadline(deadline)
		buf := make([]byte, 65536)
		for {
			n, peer, err := pc.ReadFrom(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					res.Kind = "timeout"
					return nil
				}
				return err
			}
			raw := buf[:n] // the ICMP message: net strips the IPv4 header
			m, err := icmp.ParseMessage(proto, raw)
			if err != nil {
				continue
			}
			from, _ := netip.AddrFromSlice(peer.(*net.IPAddr).IP)
			res.From = from.Unmap()
			switch body := m.Body.(type) {
			case *icmp.Echo:
				if (m.Type == ipv4.ICMPTypeEchoReply || m.Type == ipv6.ICMPTypeEchoReply) && body.ID == id && body.Seq == seq {
					res.Kind = "reply"
					return nil
				}
			case *icmp.TimeExceeded:
				if quotes(body.Data, dst, id) {
					res.Kind = "time exceeded"
					return nil
				}
			case *icmp.DstUnreach:
				if quotes(body.Data, dst, id) {
					res.Kind = "unreachable"
					if m.Type == ipv4.ICMPTypeDestinationUnreachable && m.Code == 4 {
						res.Kind, res.MTU = "too big", int(binary.BigEndian.Uint16(raw[6:8]))
					}
					return nil
				}
			case *icmp.PacketTooBig:
				if quotes(body.Data, dst, id) {
					res.Kind, res.MTU = "too big", body.MTU
					return nil
				}
			}
		}
	})
	return res, err
}

// SendFrames sends whole Ethernet frames out of interface iface of host h
// through a packet socket: ARP and other link-layer traffic that the IP
// stack would not send.
func SendFrames(h *lab.Node, iface string, frames ...[]byte) error {
	return h.Do(func() error {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		for _, f := range frames {
			if err := unix.Sendto(fd, f, 0, &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}); err != nil {
				return err
			}
		}
		return nil
	})
}

// quotes reports whether the quoted packet q of an ICMP error is an echo
// request to dst with identifier id.
func quotes(q []byte, dst netip.Addr, id int) bool {
	var l4 []byte
	switch {
	case dst.Is4() && len(q) >= 20 && q[0]>>4 == 4:
		ihl := int(q[0]&0xf) * 4
		if len(q) < ihl+8 || !bytes.Equal(q[16:20], dst.AsSlice()) {
			return false
		}
		l4 = q[ihl:]
	case dst.Is6() && len(q) >= 48 && q[0]>>4 == 6:
		if !bytes.Equal(q[24:40], dst.AsSlice()) {
			return false
		}
		l4 = q[40:]
	default:
		return false
	}
	return int(binary.BigEndian.Uint16(l4[4:])) == id
}
