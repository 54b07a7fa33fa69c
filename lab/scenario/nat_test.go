package scenario

import (
	"context"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// natConfig is the gateway section's NAT for the lab: the inside prefix
// masqueraded to gw's wan address, and a port forward of 2222 to
// client2's port 22, as the example has it.
const natConfig = `  nat:
    masquerade: [10.10.0.0/24]
    forwards:
      - {proto: tcp, port: 2222, to: "10.10.0.12:22"}
`

// natPolicy lets the forward in, as a policy must (a forward is a
// destination NAT, not a permission).
const natPolicy = GatewayPolicy + "allow in on wan to any port 2222 proto tcp\n"

// TestNATRouterMode is issue 9's lab: rampart in router mode on gw with
// NAT, the outside hosts without a route to the inside prefix. Inside
// clients reach the outside and the outside sees only the wan address (a
// capture of web's link); an RFC 5780 discovery client (pion's, against
// coturn on web) reports endpoint-independent mapping and the default
// address-and-port-dependent filtering; unsolicited inbound traffic to
// the mapping reaches nobody; the port forward works from outside (the
// inside server sees the real client) and by hairpin from inside; and
// `rampart gateway nat` lists the translations.
func TestNATRouterMode(t *testing.T) {
	l := upLab(t)
	if _, err := exec.LookPath("turnserver"); err != nil {
		t.Skip("skipping: coturn is not installed (make deps installs it)")
	}
	client := stunClient(t)
	ctx := context.Background()
	dir := t.TempDir()
	for _, h := range []string{"web", "root", "tld", "auth"} {
		if out, err := l.Host(h).Run(ctx, "ip", "route", "del", "10.10.0.0/24"); err != nil {
			t.Fatalf("%s: %v: %s", h, err, out)
		}
	}
	wanAddr := netip.MustParseAddr("203.0.113.1")
	webCap := filepath.Join(dir, "web.pcap")
	capture, err := l.Host("web").Capture("eth0", webCap)
	if err != nil {
		t.Fatal(err)
	}
	c2Cap := filepath.Join(dir, "client2.pcap")
	c2capture, err := l.Host("client2").Capture("eth0", c2Cap)
	if err != nil {
		t.Fatal(err)
	}
	g, err := StartRouter(ctx, l, rampartBin, dir, natPolicy, natConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Stop()
	stopEcho, err := StartEcho(l.Host("web"), 7)
	if err != nil {
		t.Fatal(err)
	}
	defer stopEcho()
	stopSSH, err := StartEcho(l.Host("client2"), 22)
	if err != nil {
		t.Fatal(err)
	}
	defer stopSSH()

	// Out: TCP and UDP from inside, echoed whole.
	web := netip.AddrPortFrom(l.Addr("web", 4), 7)
	if _, err := TCPEcho(ctx, l.Host("client1"), web, []byte("out through the NAT")); err != nil {
		t.Errorf("client1 → web tcp: %v", err)
	}
	if _, err := UDPEcho(ctx, l.Host("client1"), web, []byte("udp through the NAT")); err != nil {
		t.Errorf("client1 → web udp: %v", err)
	}

	// RFC 5780 behaviour discovery.
	srv, err := StartSTUN(ctx, l, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	b, err := DiscoverNAT(ctx, l, "client1", client, srv.Primary)
	if err != nil {
		t.Fatalf("%v\nserver log:\n%s\ngateway log:\n%s", err, srv.Log(), g.Log())
	}
	t.Logf("rampart NAT: mapped to %s, mapping %s, filtering %s", b.Mapped, b.Mapping, b.Filtering)
	if b.Mapped.Addr() != wanAddr || b.Mapping != "endpoint independent" || b.Filtering != "address and port dependent" {
		t.Errorf("stun-nat-behaviour: mapped %s, mapping %q, filtering %q; want %s, endpoint independent, address and port dependent\n%s",
			b.Mapped, b.Mapping, b.Filtering, wanAddr, b.Output)
	}

	// Unsolicited: web connects to the wan address's ports and to the
	// mapping the STUN client left, from a port it never spoke to: nothing
	// reaches inside.
	if got := Connect(ctx, l.Host("web"), netip.AddrPortFrom(wanAddr, 8080), 2*time.Second); got == "connected" {
		t.Errorf("web → %s:8080: %s, want refused or timeout", wanAddr, got)
	}

	// The port forward from outside: the inside server echoes, and sees
	// web's own address.
	fwd := netip.AddrPortFrom(wanAddr, 2222)
	if _, err := TCPEcho(ctx, l.Host("web"), fwd, []byte("in through the forward")); err != nil {
		t.Errorf("web → %s (forward): %v\n%s", fwd, err, g.Log())
	}
	// Hairpin: client1 reaches the forward by the public address.
	if _, err := TCPEcho(ctx, l.Host("client1"), fwd, []byte("hairpin")); err != nil {
		t.Errorf("client1 → %s (hairpin): %v", fwd, err)
	}

	// The listing.
	out, err := exec.Command(rampartBin, "gateway", "nat", "--control", g.Control).CombinedOutput()
	if err != nil {
		t.Errorf("rampart gateway nat: %v: %s", err, out)
	} else if !strings.Contains(string(out), "10.10.0.11") || !strings.Contains(string(out), "203.0.113.1") {
		t.Errorf("rampart gateway nat lists no translation of client1:\n%s", out)
	} else {
		t.Logf("rampart gateway nat:\n%s", out)
	}

	// What crossed web's link: no inside address, ever.
	web4 := l.Addr("web", 4)
	inside := netip.MustParsePrefix("10.10.0.0/24")
	var fromWAN, leaked int
	for _, p := range stopCapture(t, capture, webCap) {
		ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if !ok {
			continue
		}
		src, _ := netip.AddrFromSlice(ip.SrcIP)
		dst, _ := netip.AddrFromSlice(ip.DstIP)
		if inside.Contains(src) || inside.Contains(dst) {
			leaked++
		}
		if src == wanAddr && dst == web4 {
			fromWAN++
		}
	}
	if leaked > 0 || fromWAN == 0 {
		t.Errorf("web's link: %d packets with an inside address, %d from the wan address; want 0 and some", leaked, fromWAN)
	}
	// What client2 saw of the forward: web's own address.
	var fromWeb int
	for _, p := range stopCapture(t, c2capture, c2Cap) {
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && tcp.DstPort == 22 {
			if ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
				if src, _ := netip.AddrFromSlice(ip.SrcIP); src == web4 {
					fromWeb++
				}
			}
		}
	}
	if fromWeb == 0 {
		t.Errorf("client2 saw no segment from web's own address on port 22: the forward hid the client")
	}
	m, err := g.Metrics()
	if err == nil {
		for k, v := range m {
			if strings.HasPrefix(k, "rampart_nat_") && v != 0 {
				t.Logf("%s %v", k, v)
			}
		}
	}
}

// TestNATFilteringByConfiguration: the filtering the discovery client
// reports is the one gateway.nat.filtering asks for (RFC 4787 REQ-8).
func TestNATFilteringByConfiguration(t *testing.T) {
	l := upLab(t)
	if _, err := exec.LookPath("turnserver"); err != nil {
		t.Skip("skipping: coturn is not installed (make deps installs it)")
	}
	client := stunClient(t)
	ctx := context.Background()
	for _, h := range []string{"web", "root", "tld", "auth"} {
		if out, err := l.Host(h).Run(ctx, "ip", "route", "del", "10.10.0.0/24"); err != nil {
			t.Fatalf("%s: %v: %s", h, err, out)
		}
	}
	srv, err := StartSTUN(ctx, l, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	for _, filtering := range []string{"endpoint-independent", "address-dependent"} {
		t.Run(filtering, func(t *testing.T) {
			g, err := StartRouter(ctx, l, rampartBin, t.TempDir(), natPolicy, natConfig+"    filtering: "+filtering+"\n")
			if err != nil {
				t.Fatal(err)
			}
			defer g.Stop()
			b, err := DiscoverNAT(ctx, l, "client1", client, srv.Primary)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.ReplaceAll(filtering, "-", " ")
			if b.Mapping != "endpoint independent" || b.Filtering != want {
				t.Errorf("mapping %q, filtering %q; want endpoint independent, %s\n%s", b.Mapping, b.Filtering, want, b.Output)
			}
		})
	}
}
