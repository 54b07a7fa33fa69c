package lab_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rampart-fw/rampart/internal/cleantmp"
	"github.com/rampart-fw/rampart/lab"
	"github.com/rampart-fw/rampart/lab/scenario"
	"github.com/rampart-fw/rampart/packet"
)

// TestMain fails the run when the tests leave anything in the temporary
// folder.
func TestMain(m *testing.M) { os.Exit(cleantmp.Main(m, nil)) }

func needRoot(t *testing.T) {
	t.Helper()
	if err := lab.CheckPrivileges(); err != nil {
		t.Skipf("skipping lab test: %v", err)
	}
}

// up brings the standard lab up for one test and checks afterwards that
// nothing of it is left.
func up(t *testing.T) *lab.Lab {
	t.Helper()
	needRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := lab.Up(ctx, lab.Standard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Error(err)
		}
		assertGone(t, l.Prefix)
	})
	return l
}

func assertGone(t *testing.T, prefix string) {
	t.Helper()
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix+"-") {
			t.Errorf("namespace %s left behind", e.Name())
		}
	}
	if _, err := os.Stat(filepath.Join(lab.StateDir, prefix)); err == nil {
		t.Errorf("state folder of %s left behind", prefix)
	}
}

func TestEchoAcrossGateway(t *testing.T) {
	l := up(t)
	ctx := context.Background()
	stop, err := scenario.StartEcho(l.Host("web"), scenario.EchoPort)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	pcap := filepath.Join(t.TempDir(), "wan.pcap")
	c, err := l.Host("gw").Capture("wan", pcap)
	if err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 3000)
	rand.Read(payload)
	for _, fam := range []int{4, 6} {
		dst := netip.AddrPortFrom(l.Addr("web", fam), scenario.EchoPort)
		if _, err := scenario.TCPEcho(ctx, l.Host("client1"), dst, payload); err != nil {
			t.Errorf("TCP echo over IPv%d: %v", fam, err)
		}
		if _, err := scenario.UDPEcho(ctx, l.Host("client2"), dst, payload[:500]); err != nil {
			t.Errorf("UDP echo over IPv%d: %v", fam, err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	// The capture must hold the echoed bytes themselves, crossing the wan
	// side of the gateway in both directions.
	pkts, err := lab.ReadPcap(pcap)
	if err != nil {
		t.Fatal(err)
	}
	var toWeb, fromWeb []byte
	web4 := l.Addr("web", 4)
	for _, p := range pkts {
		ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if !ok {
			continue
		}
		tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok || len(tcp.Payload) == 0 {
			continue
		}
		src, _ := netip.AddrFromSlice(ip.SrcIP)
		if src == web4 {
			fromWeb = append(fromWeb, tcp.Payload...)
		} else if src == l.Addr("client1", 4) {
			if ip.TTL != 63 {
				t.Errorf("client packet on wan has TTL %d, want 63 (one routed hop)", ip.TTL)
			}
			toWeb = append(toWeb, tcp.Payload...)
		}
	}
	if !bytes.Equal(toWeb, payload) || !bytes.Equal(fromWeb, payload) {
		t.Errorf("capture on gw wan: %d bytes to web and %d back, want the %d-byte payload both ways", len(toWeb), len(fromWeb), len(payload))
	}
	tcpN, udpN, err := scenario.CountEcho(pcap, l.Addr("client2", 4), l.Addr("client2", 6))
	if err != nil || udpN != 4 || tcpN != 0 {
		t.Errorf("client2: %d TCP, %d UDP echo packets on wan (err %v), want 0 and 4", tcpN, udpN, err)
	}
}

// TestCraftedPackets sends packets with a forged source, odd TTL and flags,
// IP fragments that overlap, and checks what arrived at the target.
func TestCraftedPackets(t *testing.T) {
	l := up(t)
	attacker, web := l.Host("attacker"), l.Host("web")
	pcap := filepath.Join(t.TempDir(), "web.pcap")
	c, err := web.Capture("eth0", pcap)
	if err != nil {
		t.Fatal(err)
	}
	spoofed := netip.MustParseAddr("10.10.0.53") // the inside resolver
	webAddr := l.Addr("web", 4)
	udp, err := lab.Spec{Src: spoofed, Dst: webAddr, Proto: layers.IPProtocolUDP, TTL: 17, SrcPort: 53, DstPort: 33333, Payload: []byte("forged answer")}.Build()
	if err != nil {
		t.Fatal(err)
	}
	syn, err := lab.Spec{Src: netip.MustParseAddr("198.51.100.200"), Dst: webAddr, Proto: layers.IPProtocolTCP, SrcPort: 4444, DstPort: 80, Seq: 1000, Flags: packet.TCPSYN | packet.TCPFIN}.Build()
	if err != nil {
		t.Fatal(err)
	}
	// A 48-byte UDP datagram in three fragments, the third overlapping the
	// second with different bytes, as an IDS evasion would send it.
	big, err := lab.Spec{Src: l.Addr("attacker", 4), Dst: webAddr, Proto: layers.IPProtocolUDP, ID: 0x4242, SrcPort: 1111, DstPort: 2222, Payload: bytes.Repeat([]byte("A"), 40)}.Build()
	if err != nil {
		t.Fatal(err)
	}
	frags, err := lab.FragmentPacket(big, []lab.Fragment{
		{Offset: 0, Length: 16},
		{Offset: 16, Length: 16},
		{Offset: 24, Data: bytes.Repeat([]byte("B"), 24), Last: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	v6, err := lab.Spec{Src: netip.MustParseAddr("2001:db8:100::99"), Dst: l.Addr("web", 6), Proto: layers.IPProtocolUDP, TTL: 5, SrcPort: 7, DstPort: 9, Payload: []byte("v6 spoof")}.Build()
	if err != nil {
		t.Fatal(err)
	}
	// Two TCP segments whose byte ranges overlap with different contents,
	// as a NIDS evasion sends them.
	var segs [][]byte
	for _, sg := range []struct {
		seq  uint32
		data string
	}{{5000, "GET /index"}, {5004, "XXXXXXXXXXXX"}} {
		b, err := lab.Spec{Src: l.Addr("attacker", 4), Dst: webAddr, Proto: layers.IPProtocolTCP, SrcPort: 5555, DstPort: 80, Seq: sg.seq, Ack: 1, Flags: packet.TCPACK | packet.TCPPSH, Payload: []byte(sg.data)}.Build()
		if err != nil {
			t.Fatal(err)
		}
		segs = append(segs, b)
	}
	all := append([][]byte{udp, syn, v6}, frags...)
	if err := attacker.SendRaw(append(all, segs...)...); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	c.Stop()
	pkts, err := lab.ReadPcap(pcap)
	if err != nil {
		t.Fatal(err)
	}
	var sawUDP, sawSYN, sawV6 bool
	overlap := map[uint32]string{}
	var fragOffsets []uint16
	for _, p := range pkts {
		if ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
			src, _ := netip.AddrFromSlice(ip.SrcIP)
			if ip.Id == 0x4242 {
				fragOffsets = append(fragOffsets, ip.FragOffset)
				continue
			}
			if u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && src == spoofed && u.DstPort == 33333 {
				// One routed hop (gw) takes 1 off the TTL.
				sawUDP = string(u.Payload) == "forged answer" && ip.TTL == 16
			}
			if tc, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && tc.SYN && tc.FIN && tc.Seq == 1000 {
				sawSYN = true
			}
			if tc, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && tc.SrcPort == 5555 {
				overlap[tc.Seq] = string(tc.Payload)
			}
		}
		if ip, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok && ip.HopLimit == 4 {
			if u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && string(u.Payload) == "v6 spoof" {
				sawV6 = true
			}
		}
	}
	if !sawUDP {
		t.Error("spoofed UDP datagram (source 10.10.0.53, TTL 17) not seen at web with TTL 16")
	}
	if !sawSYN {
		t.Error("SYN+FIN segment not seen at web")
	}
	if overlap[5000] != "GET /index" || overlap[5004] != "XXXXXXXXXXXX" {
		t.Errorf("overlapping segments at web: %v", overlap)
	}
	if !sawV6 {
		t.Error("spoofed IPv6 datagram not seen at web")
	}
	if len(fragOffsets) != 3 || fragOffsets[0] != 0 || fragOffsets[1] != 2 || fragOffsets[2] != 3 {
		t.Errorf("fragment offsets at web = %v, want [0 2 3] (in 8-byte units)", fragOffsets)
	}
	_ = gopacket.Default
}

func TestInterruptedUpLeavesNothing(t *testing.T) {
	needRoot(t)
	for _, after := range []time.Duration{0, 30 * time.Millisecond, 150 * time.Millisecond} {
		l, err := lab.New(lab.Standard(), nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), after)
		err = l.Up(ctx)
		cancel()
		if err == nil {
			t.Logf("Up finished within %s", after)
			l.Down()
		}
		assertGone(t, l.Prefix)
	}
}

// TestHostsAreIsolated: a lab host has only its lab interfaces and no route
// beyond the lab's prefixes.
func TestHostsAreIsolated(t *testing.T) {
	l := up(t)
	for _, h := range l.Topo.Hosts {
		var names []string
		err := l.Host(h.Name).Do(func() error {
			ifs, err := net.Interfaces()
			for _, i := range ifs {
				names = append(names, i.Name)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"lo"}
		for _, ifc := range h.Interfaces {
			want = append(want, ifc.Name)
		}
		if h.Bridge {
			want = append(want, lab.BridgeName)
		}
		if strings.Join(names, ",") != strings.Join(want, ",") {
			t.Errorf("host %s has interfaces %v, want %v", h.Name, names, want)
		}
	}
	out, err := l.Host("client1").Run(context.Background(), "ip", "-4", "route", "get", "192.0.2.1")
	if err != nil || !strings.Contains(string(out), "via 10.10.0.1") {
		t.Errorf("client1 route to 192.0.2.1: %s %v", out, err)
	}
	if out, err := l.Host("gw").Run(context.Background(), "ip", "-4", "route", "get", "192.0.2.1"); err == nil {
		t.Errorf("the gateway has a route out of the lab: %s", out)
	}
}

// TestRawTCP drives a connection by hand from the attacker to a listener
// on web across the kernel router gw: junk with a TTL of 1 (it expires at
// gw), then the second half of the data, then the first, then a FIN. The
// listener must read exactly the data and see the end of the stream; the
// attacker's own stack must send no reset on the connection while it
// lives, and the reset filter must be gone afterwards.
func TestRawTCP(t *testing.T) {
	l := up(t)
	attacker, web := l.Host("attacker"), l.Host("web")
	var ln net.Listener
	if err := web.Do(func() (err error) { ln, err = net.Listen("tcp4", ":9100"); return }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		got <- b
	}()
	pcap := filepath.Join(t.TempDir(), "attacker.pcap")
	capture, err := attacker.Capture("eth0", pcap)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := attacker.DialRawTCP(ctx, netip.AddrPortFrom(l.Addr("web", 4), 9100), 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		off  uint32
		data string
		ttl  uint8
	}{{6, "XXXXX", 1}, {6, "world", 0}, {0, "hello ", 0}} {
		if err := c.Send(s.off, []byte(s.data), s.ttl); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := c.Close(11, 3*time.Second); err != nil {
		t.Errorf("close: %v", err)
	}
	select {
	case b := <-got:
		if string(b) != "hello world" {
			t.Errorf("web read %q, want %q", b, "hello world")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("web never saw the end of the stream")
	}
	if _, err := capture.Stop(); err != nil {
		t.Fatal(err)
	}
	pkts, err := lab.ReadPcap(pcap)
	if err != nil {
		t.Fatal(err)
	}
	resets, segs := 0, 0
	for _, p := range pkts {
		tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok || uint16(tcp.SrcPort) != c.Src.Port() {
			continue
		}
		segs++
		if tcp.RST {
			resets++
		}
	}
	if segs < 6 || resets != 0 {
		t.Errorf("the attacker sent %d segments on the connection, %d of them resets; want the SYN, ACK, 3 data, FIN and its ACK, no reset", segs, resets)
	}
	out, err := attacker.Run(ctx, "nft", "list", "tables")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "rampart_rawtcp") {
		t.Errorf("the reset filter is left behind: %s", out)
	}
}
