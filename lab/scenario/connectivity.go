package scenario

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/rampart-fw/rampart/lab"
)

// EchoPort is the port of the echo services (RFC 862) on the lab's web host.
const EchoPort = 7

// Connectivity checks that an inside client reaches an outside web host
// across the gateway host, with TCP and UDP, over IPv4 and IPv6, and that a
// capture on the gateway's wan interface saw the traffic.
func Connectivity() lab.Scenario {
	return lab.Scenario{Name: "connectivity", Run: runConnectivity}
}

func runConnectivity(ctx context.Context, l *lab.Lab, env *lab.Env) []lab.Result {
	const name = "connectivity"
	fail := func(tried string, err error) []lab.Result {
		return []lab.Result{{Scenario: name, Tried: tried, Defence: "-", Outcome: err.Error()}}
	}
	web, client := l.Host("web"), l.Host("client1")
	stop, err := StartEcho(web, EchoPort)
	if err != nil {
		return fail("start echo service on web", err)
	}
	defer stop()
	pcap := filepath.Join(env.Dir, "connectivity-gw-wan.pcap")
	capture, err := l.Host("gw").Capture("wan", pcap)
	if err != nil {
		return fail("capture on gw wan", err)
	}
	var results []lab.Result
	for _, fam := range []int{4, 6} {
		src, dst := l.Addr("client1", fam), l.Addr("web", fam)
		dstAP := netip.AddrPortFrom(dst, EchoPort)
		payload := make([]byte, 1000)
		_, _ = rand.Read(payload)
		r := lab.Result{Scenario: name, Tried: fmt.Sprintf("TCP echo client1 → web (IPv%d)", fam), Defence: "gateway routes (kernel)"}
		rtt, err := TCPEcho(ctx, client, dstAP, payload)
		if err != nil {
			r.Outcome = err.Error()
		} else {
			r.OK = true
			r.Outcome = fmt.Sprintf("%d bytes echoed in %s", len(payload), rtt.Round(time.Microsecond))
		}
		results = append(results, r)
		env.Logf("TCP %s → %s: %s", src, dstAP, r.Outcome)

		r = lab.Result{Scenario: name, Tried: fmt.Sprintf("UDP echo client1 → web (IPv%d)", fam), Defence: "gateway routes (kernel)"}
		rtt, err = UDPEcho(ctx, client, dstAP, payload[:200])
		if err != nil {
			r.Outcome = err.Error()
		} else {
			r.OK = true
			r.Outcome = fmt.Sprintf("200 bytes echoed in %s", rtt.Round(time.Microsecond))
		}
		results = append(results, r)
		env.Logf("UDP %s → %s: %s", src, dstAP, r.Outcome)
	}
	// Let the last frames reach the capture socket before it stops.
	time.Sleep(50 * time.Millisecond)
	n, err := capture.Stop()
	r := lab.Result{Scenario: name, Tried: "capture on gw wan", Defence: "-"}
	if err != nil {
		r.Outcome = err.Error()
		return append(results, r)
	}
	tcp, udp, err := CountEcho(pcap, l.Addr("client1", 4), l.Addr("client1", 6))
	if err != nil {
		r.Outcome = err.Error()
		return append(results, r)
	}
	r.OK = tcp > 0 && udp > 0
	r.Outcome = fmt.Sprintf("%d frames, %d TCP and %d UDP echo packets of client1 seen", n, tcp, udp)
	r.Details = []string{"capture: " + pcap}
	return append(results, r)
}

// StartEcho serves TCP and UDP echo on port in the host, on all its
// addresses, until the returned stop function is called.
func StartEcho(h *lab.Node, port int) (stop func(), err error) {
	var tl net.Listener
	var ul net.PacketConn
	err = h.Do(func() error {
		var err error
		if tl, err = net.Listen("tcp", fmt.Sprintf(":%d", port)); err != nil {
			return err
		}
		ul, err = net.ListenPacket("udp", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		if tl != nil {
			tl.Close()
		}
		return nil, err
	}
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				_, _ = io.Copy(c, io.LimitReader(c, 1<<20))
			}()
		}
	}()
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := ul.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = ul.WriteTo(buf[:n], from)
		}
	}()
	return func() { tl.Close(); ul.Close() }, nil
}

// TCPEcho connects from host h to dst, sends payload, and checks that the
// same bytes come back. It returns the time from connect to the last byte.
func TCPEcho(ctx context.Context, h *lab.Node, dst netip.AddrPort, payload []byte) (time.Duration, error) {
	var c net.Conn
	start := time.Now()
	err := h.Do(func() error {
		d := net.Dialer{Timeout: 3 * time.Second}
		var err error
		c, err = d.DialContext(ctx, "tcp", dst.String())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("connect: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(payload); err != nil {
		return 0, fmt.Errorf("send: %w", err)
	}
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(c, got); err != nil {
		return 0, fmt.Errorf("read echo: %w", err)
	}
	if !bytes.Equal(got, payload) {
		return 0, fmt.Errorf("echo differs from what was sent")
	}
	return time.Since(start), nil
}

// UDPEcho sends payload from h to dst and waits for the same bytes back,
// retrying a few times (UDP may lose the first datagram while neighbours
// resolve).
func UDPEcho(ctx context.Context, h *lab.Node, dst netip.AddrPort, payload []byte) (time.Duration, error) {
	var c *net.UDPConn
	err := h.Do(func() error {
		var err error
		c, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
		return err
	})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	buf := make([]byte, 2048)
	for attempt := 0; attempt < 3; attempt++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		start := time.Now()
		if _, err := c.Write(payload); err != nil {
			return 0, fmt.Errorf("send: %w", err)
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		if err != nil {
			continue
		}
		if !bytes.Equal(buf[:n], payload) {
			return 0, fmt.Errorf("echo differs from what was sent")
		}
		return time.Since(start), nil
	}
	return 0, fmt.Errorf("no echo after 3 datagrams")
}

// CountEcho counts the TCP and UDP packets to or from the echo port that
// involve one of the client addresses in a capture.
func CountEcho(path string, clients ...netip.Addr) (tcp, udp int, err error) {
	pkts, err := lab.ReadPcap(path)
	if err != nil {
		return 0, 0, err
	}
	isClient := func(b []byte) bool {
		a, ok := netip.AddrFromSlice(b)
		if !ok {
			return false
		}
		for _, c := range clients {
			if a.Unmap() == c {
				return true
			}
		}
		return false
	}
	for _, p := range pkts {
		var src, dst []byte
		if v4, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
			src, dst = v4.SrcIP, v4.DstIP
		} else if v6, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok {
			src, dst = v6.SrcIP, v6.DstIP
		} else {
			continue
		}
		if !isClient(src) && !isClient(dst) {
			continue
		}
		if t, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && (t.SrcPort == EchoPort || t.DstPort == EchoPort) {
			tcp++
		}
		if u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && (u.SrcPort == EchoPort || u.DstPort == EchoPort) {
			udp++
		}
	}
	return tcp, udp, nil
}
