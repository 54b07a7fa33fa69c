package scenario

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rampart-fw/rampart/lab"
	"github.com/rampart-fw/rampart/packet"
)

// TestRouterMode runs rampart on the lab's gw host in router mode, the
// kernel holding no address on gw's links: pings of hosts beyond it and
// of its own addresses are answered, a TTL that runs out at it gets time
// exceeded from its address, TCP connections cross, and the policy
// filters all of it as in bridge mode. A capture on web's link shows the
// packets as the router sent them: TTL one less, from gw's wan MAC.
func TestRouterMode(t *testing.T) {
	l := upLab(t)
	ctx := context.Background()
	policy := GatewayPolicy + "deny proto icmp from 198.51.100.0/24 type echo-request\n"
	stop, err := StartServers(l.Host("client2"), 22, 23)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	stopWeb, err := StartServers(l.Host("web"), 80)
	if err != nil {
		t.Fatal(err)
	}
	defer stopWeb()
	g := startRouter(t, l, policy)
	gw := l.Host("gw")
	for _, dev := range []string{"lan", "wan"} {
		out, err := gw.Run(ctx, "ip", "-o", "addr", "show", "dev", dev)
		if err != nil || strings.TrimSpace(string(out)) != "" {
			t.Fatalf("the kernel still holds addresses on gw's %s: %q %v", dev, out, err)
		}
	}
	// The hosts forget gw's link-layer address, which they learnt from
	// the kernel before: from now on only rampart answers for it.
	for _, h := range []string{"client1", "client2", "attacker", "web"} {
		if _, err := l.Host(h).Run(ctx, "ip", "neigh", "flush", "all"); err != nil {
			t.Fatal(err)
		}
	}
	pcap := filepath.Join(t.TempDir(), "web.pcap")
	capture, err := l.Host("web").Capture("eth0", pcap)
	if err != nil {
		t.Fatal(err)
	}

	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	web4, web6, client4 := l.Addr("web", 4), l.Addr("web", 6), l.Addr("client1", 4)
	for _, c := range []struct {
		name string
		from string
		dst  netip.Addr
		ttl  int
		want PingResult
	}{
		{"client1 pings web", "client1", web4, 64, PingResult{Kind: "reply", From: web4}},
		{"client1 pings web over IPv6", "client1", web6, 64, PingResult{Kind: "reply", From: web6}},
		{"client1 pings the router's lan address", "client1", a("10.10.0.1"), 64, PingResult{Kind: "reply", From: a("10.10.0.1")}},
		{"client1 pings the router's wan address", "client1", a("203.0.113.1"), 64, PingResult{Kind: "reply", From: a("203.0.113.1")}},
		{"client1 pings the router over IPv6", "client1", a("fd00:10::1"), 64, PingResult{Kind: "reply", From: a("fd00:10::1")}},
		{"attacker pings the router", "attacker", a("198.51.100.1"), 64, PingResult{Kind: "reply", From: a("198.51.100.1")}},
		{"client1's TTL runs out at the router", "client1", web4, 1, PingResult{Kind: "time exceeded", From: a("10.10.0.1")}},
		{"client1's hop limit runs out at the router", "client1", web6, 1, PingResult{Kind: "time exceeded", From: a("fd00:10::1")}},
		{"web pings client1 (the implicit echo rule)", "web", client4, 64, PingResult{Kind: "reply", From: client4}},
		{"attacker pings client1 (denied by the policy)", "attacker", client4, 64, PingResult{Kind: "timeout"}},
		{"attacker's TTL runs out on a denied ping: no answer", "attacker", client4, 1, PingResult{Kind: "timeout"}},
		{"no route: a prefix nobody holds", "client1", a("192.0.2.1"), 64, PingResult{Kind: "unreachable", From: a("10.10.0.1")}},
	} {
		got, err := Ping(ctx, l.Host(c.from), c.dst, c.ttl, time.Second)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	for _, c := range []struct {
		from string
		dst  netip.AddrPort
		want string
	}{
		{"client1", netip.AddrPortFrom(web4, 80), "connected"},
		{"client1", netip.AddrPortFrom(web6, 80), "connected"},
		{"attacker", netip.AddrPortFrom(l.Addr("client2", 4), 22), "connected"},
		{"attacker", netip.AddrPortFrom(l.Addr("client2", 6), 22), "connected"},
		{"attacker", netip.AddrPortFrom(l.Addr("client2", 4), 23), "timeout"},
		{"attacker", netip.AddrPortFrom(l.Addr("client2", 4), 8080), "refused"},
	} {
		if got := Connect(ctx, l.Host(c.from), c.dst, time.Second); got != c.want {
			t.Errorf("TCP %s → %s: %s, want %s", c.from, c.dst, got, c.want)
		}
	}

	pkts := stopCapture(t, capture, pcap)
	wanMAC := macOf(t, gw, "wan")
	gwMAC := net.HardwareAddr(wanMAC[:])
	var syn4, syn6 bool
	for _, p := range pkts {
		eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if eth == nil || tcp == nil || !tcp.SYN || tcp.ACK || tcp.DstPort != 80 {
			continue
		}
		if v4, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok && v4.SrcIP.Equal(client4.AsSlice()) {
			syn4 = true
			if v4.TTL != 63 || eth.SrcMAC.String() != gwMAC.String() {
				t.Errorf("client1's SYN reached web with TTL %d from %s, want 63 from gw's wan %s", v4.TTL, eth.SrcMAC, gwMAC)
			}
		}
		if v6, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok && v6.SrcIP.Equal(l.Addr("client1", 6).AsSlice()) {
			syn6 = true
			if v6.HopLimit != 63 || eth.SrcMAC.String() != gwMAC.String() {
				t.Errorf("client1's IPv6 SYN reached web with hop limit %d from %s, want 63 from gw's wan %s", v6.HopLimit, eth.SrcMAC, gwMAC)
			}
		}
	}
	if !syn4 || !syn6 {
		t.Errorf("the capture on web's link holds no SYN of client1 (IPv4 %v, IPv6 %v)", syn4, syn6)
	}

	m, err := g.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	for ev, least := range map[string]float64{"ttl_exceeded": 2, "echo_replied": 4, "arp_replied": 1, "na_replied": 1, "neighbour_learnt": 2, "forwarded": 10, "no_route": 1} {
		if got := m[`rampart_gateway_router_events_total{event="`+ev+`"}`]; got < least {
			t.Errorf("router event %s counted %v, want at least %v", ev, got, least)
		}
	}
	if got := Frames(m, "drop", "rule"); got < 2 {
		t.Errorf("drop/rule counted %v, want the two denied pings", got)
	}
	if got := Frames(m, "drop", "default"); got < 1 {
		t.Errorf("drop/default counted %v, want the telnet SYN", got)
	}
	if t.Failed() {
		for k, v := range m {
			if strings.HasPrefix(k, "rampart_gateway_router") || strings.HasPrefix(k, "rampart_gateway_frames") {
				t.Logf("%s %v", k, v)
			}
		}
	}
}

// stopCapture ends capture, written to path, once the last frames had
// time to reach it, and returns what it holds.
func stopCapture(t *testing.T, capture *lab.Capture, path string) []gopacket.Packet {
	t.Helper()
	time.Sleep(50 * time.Millisecond)
	if _, err := capture.Stop(); err != nil {
		t.Fatal(err)
	}
	pkts, err := lab.ReadPcap(path)
	if err != nil {
		t.Fatal(err)
	}
	return pkts
}

// macOf returns the link-layer address of interface iface of host h.
func macOf(t *testing.T, h *lab.Node, iface string) (mac [6]byte) {
	t.Helper()
	if err := h.Do(func() error {
		ifi, err := net.InterfaceByName(iface)
		if err == nil {
			copy(mac[:], ifi.HardwareAddr)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return mac
}

// startRouter runs rampart in router mode on gw with the policy for the
// rest of the test, and shows its log if the test fails.
func startRouter(t *testing.T, l *lab.Lab, policy string) *Gateway {
	t.Helper()
	g, err := StartRouter(context.Background(), l, rampartBin, t.TempDir(), policy, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", g.Log())
		}
		g.Stop()
	})
	return g
}

// TestRouterModeMTUAndARP: with gw's lan link at MTU 1400, the router
// fragments what it may and answers what it may not fragment with
// fragmentation needed or packet too big; an attacker on the outside
// link who claims web's address with forged ARP replies and gratuitous
// ARP does not enter the router's cache, and client1's traffic still
// reaches web, none of it the attacker.
func TestRouterModeMTUAndARP(t *testing.T) {
	l := upLab(t)
	ctx := context.Background()
	gw := l.Host("gw")
	if _, err := gw.Run(ctx, "ip", "link", "set", "dev", "lan", "mtu", "1400"); err != nil {
		t.Fatal(err)
	}
	g := startRouter(t, l, GatewayPolicy)
	web, client1 := l.Host("web"), l.Host("client1")
	client4, client6 := l.Addr("client1", 4), l.Addr("client1", 6)

	// Without DF the router cuts the ping into fragments that fit the
	// lan (client1's answer, 1500 bytes, cannot come back over it).
	pcap := filepath.Join(t.TempDir(), "client1.pcap")
	capture, err := client1.Capture("eth0", pcap)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := PingSize(ctx, web, client4, 64, 1472, false, 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	pkts := stopCapture(t, capture, pcap)
	var frags []*layers.IPv4
	for _, p := range pkts {
		if v4, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok && v4.Protocol == layers.IPProtocolICMPv4 && v4.SrcIP.Equal(l.Addr("web", 4).AsSlice()) {
			frags = append(frags, v4)
		}
	}
	total := 0
	for i, f := range frags {
		if f.TTL != 63 || f.Length > 1400 || int(f.FragOffset)*8 != total || (f.Flags&layers.IPv4MoreFragments != 0) != (i < len(frags)-1) {
			t.Errorf("fragment %d: TTL %d, length %d, offset %d, flags %v", i, f.TTL, f.Length, f.FragOffset*8, f.Flags)
		}
		total += int(f.Length) - int(f.IHL)*4
	}
	if len(frags) != 2 || total != 1480 {
		t.Errorf("client1 got %d fragments carrying %d bytes, want 2 carrying 1480", len(frags), total)
	}

	// With DF, and over IPv6, the sender hears the MTU.
	for _, c := range []struct {
		dst  netip.Addr
		size int
		want PingResult
	}{
		{client4, 1472, PingResult{Kind: "too big", From: netip.MustParseAddr("203.0.113.1"), MTU: 1400}},
		{client6, 1452, PingResult{Kind: "too big", From: netip.MustParseAddr("2001:db8:113::1"), MTU: 1400}},
		{client4, 1300, PingResult{Kind: "reply", From: client4}},
	} {
		got, err := PingSize(ctx, web, c.dst, 64, c.size, true, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("web pings %s with %d bytes: %s, want %s", c.dst, c.size, got, c.want)
		}
	}

	// The attacker claims web's address.
	gwMAC, evil := macOf(t, gw, "wan"), macOf(t, l.Host("attacker"), "eth0")
	webIP, gwIP := l.Addr("web", 4), netip.MustParseAddr("203.0.113.1")
	forged := packet.AppendARP(nil, gwMAC, &packet.ARP{Op: packet.ARPReply, SenderHW: evil, SenderIP: webIP, TargetHW: gwMAC, TargetIP: gwIP})
	gratuitous := packet.AppendARP(nil, packet.BroadcastMAC, &packet.ARP{Op: packet.ARPReply, SenderHW: evil, SenderIP: webIP, TargetHW: packet.BroadcastMAC, TargetIP: webIP})
	apcap := filepath.Join(t.TempDir(), "attacker.pcap")
	acap, err := l.Host("attacker").Capture("eth0", apcap)
	if err != nil {
		t.Fatal(err)
	}
	stop, err := StartEcho(web, EchoPort)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for range 3 {
		if err := SendFrames(l.Host("attacker"), "eth0", forged, gratuitous); err != nil {
			t.Fatal(err)
		}
		if _, err := TCPEcho(ctx, client1, netip.AddrPortFrom(webIP, EchoPort), []byte("still web?")); err != nil {
			t.Errorf("client1 → web after forged ARP: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	apkts := stopCapture(t, acap, apcap)
	for _, p := range apkts {
		if v4, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok && v4.SrcIP.Equal(client4.AsSlice()) {
			t.Errorf("the attacker received client1's packet: %v", p)
			break
		}
	}
	m, err := g.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	if got := m[`rampart_gateway_router_events_total{event="unsolicited"}`]; got < 6 {
		t.Errorf("unsolicited ARP counted %v, want the 6 forged frames", got)
	}
	for ev, least := range map[string]float64{"too_big": 2, "fragmented": 1} {
		if got := m[`rampart_gateway_router_events_total{event="`+ev+`"}`]; got < least {
			t.Errorf("router event %s counted %v, want at least %v", ev, got, least)
		}
	}
}

// TestSYNProxyRouterMode: the SYN proxy in router mode (issue 10 item 1:
// "works in bridge mode and in router mode"). web connects to client2
// through rampart as gw's router with the proxy always on for client2:
// the handshake is the proxy's (its cookie comes back, it opens the
// server's side), the bytes are echoed whole through the spliced
// connection, and what client2 received came from gw's lan MAC, routed.
func TestSYNProxyRouterMode(t *testing.T) {
	l := upLab(t)
	ctx := context.Background()
	dir := t.TempDir()
	c2Cap := filepath.Join(dir, "client2.pcap")
	capture, err := l.Host("client2").Capture("eth0", c2Cap)
	if err != nil {
		t.Fatal(err)
	}
	g, err := StartRouter(ctx, l, rampartBin, dir, GatewayPolicy+"allow in on wan to any port 8081 proto tcp\n", SYNFloodProxyConfig(l))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Stop()
	stop, err := StartEcho(l.Host("client2"), 8081)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	payload := bytes.Repeat([]byte("spliced through the router "), 200)
	dst := netip.AddrPortFrom(l.Addr("client2", 4), 8081)
	for i := 0; i < 3; i++ {
		if _, err := TCPEcho(ctx, l.Host("web"), dst, payload); err != nil {
			t.Fatalf("web → %s through the SYN proxy in router mode: %v\n%s", dst, err, g.Log())
		}
	}
	m, err := g.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []string{"synack", "cookie_ok", "spliced"} {
		n := m[`rampart_gateway_synproxy_events_total{event="`+ev+`"}`]
		t.Logf("synproxy %s %.0f", ev, n)
		if n < 3 {
			t.Errorf("synproxy %s: %.0f, want at least 3 (one per connection)", ev, n)
		}
	}
	gwLan := macOf(t, l.Host("gw"), "lan")
	var syns, fromGW int
	for _, p := range stopCapture(t, capture, c2Cap) {
		tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok || tcp.DstPort != 8081 {
			continue
		}
		if tcp.SYN {
			syns++
		}
		if eth, ok := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); ok && bytes.Equal(eth.SrcMAC, gwLan[:]) {
			fromGW++
		}
	}
	if syns != 3 {
		t.Errorf("client2 got %d SYNs for port 8081, want 3 (the proxy's, one per proved connection)", syns)
	}
	if fromGW == 0 {
		t.Errorf("no segment to client2:8081 came from gw's lan MAC: the proxy's frames were not routed")
	}
}

// TestReversePathStrict: with gateway.guard.reverse_path strict (and no
// list of inside prefixes), a packet from an inside host whose source
// claims an outside address, one the route table reaches by the wan side,
// is dropped at the lan and counted; without it, the spoofed packet
// reaches the outside. Real traffic from the host passes in both runs.
func TestReversePathStrict(t *testing.T) {
	l := upLab(t)
	ctx := context.Background()
	spoofed := netip.MustParseAddr("203.0.113.10") // root's address, outside
	attacker := l.Addr("attacker", 4)
	for _, strict := range []bool{false, true} {
		name := "off"
		extra := ""
		if strict {
			name, extra = "strict", "  guard:\n    reverse_path: strict\n"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			pcap := filepath.Join(dir, "attacker.pcap")
			capture, err := l.Host("attacker").Capture("eth0", pcap)
			if err != nil {
				t.Fatal(err)
			}
			g, err := StartRouter(ctx, l, rampartBin, dir, GatewayPolicy, extra)
			if err != nil {
				capture.Stop()
				t.Fatal(err)
			}
			defer g.Stop()
			// Real traffic first: it crosses (the attacker's closed port
			// answers with a reset), and gw learns the attacker's address,
			// so that no spoofed packet waits on a resolution.
			if got := Connect(ctx, l.Host("client1"), netip.AddrPortFrom(attacker, 1), 2*time.Second); got != "refused" {
				t.Errorf("client1's real connection to the attacker: %s, want refused (it crossed)", got)
			}
			pkt, err := lab.Spec{Src: spoofed, Dst: attacker, Proto: layers.IPProtocolUDP, SrcPort: 4444, DstPort: 5555, Payload: []byte("spoofed from inside")}.Build()
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 5; i++ {
				if err := l.Host("client1").SendRaw(pkt); err != nil {
					t.Fatal(err)
				}
			}
			var got int
			for _, p := range stopCapture(t, capture, pcap) {
				if ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
					if src, _ := netip.AddrFromSlice(ip.SrcIP); src == spoofed {
						got++
					}
				}
			}
			m, err := g.Metrics()
			if err != nil {
				t.Fatal(err)
			}
			drops := m[`rampart_gateway_guard_drops_total{reason="reverse_path"}`]
			t.Logf("spoofed packets at the attacker: %d; reverse_path drops: %.0f", got, drops)
			if strict && (got != 0 || drops < 5) {
				t.Errorf("strict: %d spoofed packets crossed, %.0f counted; want 0 and 5", got, drops)
			}
			if !strict && got != 5 {
				t.Errorf("off: %d spoofed packets crossed, want 5 (the run shows what the check stops)", got)
			}
		})
	}
}
