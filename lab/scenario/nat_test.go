package scenario

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/lab"
)

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
	env := &lab.Env{Dir: t.TempDir(), Rampart: rampartBin}
	r := RunNAT(context.Background(), l, env, client)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	t.Logf("stun-nat-behaviour: mapped to %s, mapping %s, filtering %s", r.STUN.Mapped, r.STUN.Mapping, r.STUN.Filtering)
	t.Logf("rampart gateway nat:\n%s", r.Listing)
	for k, v := range r.Metrics {
		if strings.HasPrefix(k, "rampart_nat_") && v != 0 {
			t.Logf("%s %v", k, v)
		}
	}
	for _, line := range r.LabResults("nat") {
		if !line.OK {
			t.Errorf("%s (%s): %s", line.Tried, line.Defence, line.Outcome)
		}
	}
	if !strings.Contains(r.Listing, "src=10.10.0.11") || !strings.Contains(r.Listing, "dst=203.0.113.1") {
		t.Errorf("rampart gateway nat lists no translation of client1:\n%s", r.Listing)
	}
	if r.STUN.Output != "" && r.STUNErr != nil {
		t.Log(r.STUN.Output)
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
	if err := UnrouteInside(ctx, l); err != nil {
		t.Fatal(err)
	}
	srv, err := StartSTUN(ctx, l, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	for _, filtering := range []string{"endpoint-independent", "address-dependent"} {
		t.Run(filtering, func(t *testing.T) {
			g, err := StartRouter(ctx, l, rampartBin, t.TempDir(), NATPolicy, NATConfig+"    filtering: "+filtering+"\n")
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

// TestNATMappingExpires: a UDP mapping lives as long as its timer
// (shortened here to 3 s with the lab-only flag; gateway.nat.udp_timeout
// refuses less than RFC 4787's 2 minutes) after its last outbound packet:
// while it lives, web's answer to the public port reaches client1; once it
// expired, `rampart gateway nat --mappings` no longer lists it and the same
// packet from web reaches nobody (RFC 4787 REQ-5, and no mapping made by
// an inbound packet).
func TestNATMappingExpires(t *testing.T) {
	l := upLab(t)
	ctx := context.Background()
	dir := t.TempDir()
	if err := UnrouteInside(ctx, l); err != nil {
		t.Fatal(err)
	}
	g, err := StartRouterArgs(ctx, l, rampartBin, dir, NATPolicy, NATConfig, "--lab-nat-udp-timeout", "3s")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Stop()
	// web's socket, and client1's bound to a fixed port.
	var webConn, c1Conn net.PacketConn
	if err := l.Host("web").Do(func() (err error) { webConn, err = net.ListenPacket("udp4", ":7777"); return }); err != nil {
		t.Fatal(err)
	}
	defer webConn.Close()
	if err := l.Host("client1").Do(func() (err error) { c1Conn, err = net.ListenPacket("udp4", ":40123"); return }); err != nil {
		t.Fatal(err)
	}
	defer c1Conn.Close()
	webAddr := &net.UDPAddr{IP: l.Addr("web", 4).AsSlice(), Port: 7777}
	if _, err := c1Conn.WriteTo([]byte("hello"), webAddr); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	webConn.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, public, err := webConn.ReadFrom(buf)
	if err != nil {
		t.Fatalf("web got nothing from client1: %v", err)
	}
	if pa := public.(*net.UDPAddr); !pa.IP.Equal(net.ParseIP("203.0.113.1")) {
		t.Fatalf("web saw %s, want the wan address", public)
	}
	mappings := func() string {
		out, err := exec.Command(rampartBin, "gateway", "nat", "--mappings", "--control", g.Control).CombinedOutput()
		if err != nil {
			t.Fatalf("rampart gateway nat --mappings: %v: %s", err, out)
		}
		return string(out)
	}
	inside := "10.10.0.11:40123"
	if m := mappings(); !strings.Contains(m, inside) {
		t.Fatalf("no mapping of %s listed:\n%s", inside, m)
	}
	// While the mapping lives, web's answer arrives.
	received := func() bool {
		if _, err := webConn.WriteTo([]byte("answer"), public); err != nil {
			t.Fatal(err)
		}
		c1Conn.SetReadDeadline(time.Now().Add(time.Second))
		_, _, err := c1Conn.ReadFrom(buf)
		return err == nil
	}
	if !received() {
		t.Fatal("web's answer to the live mapping did not reach client1")
	}
	// No outbound traffic for longer than the timer (and the sweep).
	time.Sleep(5 * time.Second)
	if m := mappings(); strings.Contains(m, inside) {
		t.Errorf("the mapping of %s outlived its 3 s timer:\n%s", inside, m)
	}
	if received() {
		t.Error("web's packet to the expired mapping reached client1")
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
