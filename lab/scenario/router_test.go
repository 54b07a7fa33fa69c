package scenario

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/rampart-fw/rampart/lab"
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
	g, err := StartRouter(ctx, l, rampartBin, t.TempDir(), policy, "")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Stop()
	defer func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", g.Log())
		}
	}()
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

	time.Sleep(50 * time.Millisecond)
	if _, err := capture.Stop(); err != nil {
		t.Fatal(err)
	}
	pkts, err := lab.ReadPcap(pcap)
	if err != nil {
		t.Fatal(err)
	}
	var gwMAC net.HardwareAddr
	if err := gw.Do(func() error {
		ifi, err := net.InterfaceByName("wan")
		if err == nil {
			gwMAC = ifi.HardwareAddr
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
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
