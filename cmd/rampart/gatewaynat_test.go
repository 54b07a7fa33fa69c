package main

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rampart-fw/rampart/config"
	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/firewall/policy"
	"github.com/rampart-fw/rampart/gateway"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/nat"
	"github.com/rampart-fw/rampart/packet"
	"github.com/rampart-fw/rampart/srcpos"
)

func decodeNAT(t *testing.T, text string) (nat.Config, error) {
	t.Helper()
	var c struct {
		Gateway gatewayConfig `yaml:"gateway"`
	}
	if err := config.Decode("rampart.yaml", []byte(text), &c); err != nil {
		return nat.Config{}, err
	}
	var errs srcpos.List
	cfg := c.Gateway.NAT.check(&errs)
	errs.Sort()
	return cfg, errs.Err()
}

func TestGatewayNATConfig(t *testing.T) {
	cfg, err := decodeNAT(t, `gateway:
  nat:
    masquerade: [10.10.0.0/24, 10.20.0.0/16]
    filtering: endpoint-independent
    udp_timeout: 10m
    forwards:
      - {proto: tcp, port: 2222, to: "10.10.0.22:22"}
      - {proto: udp, port: 5060, to: "10.10.0.23:5060"}
`)
	if err != nil {
		t.Fatal(err)
	}
	want := nat.Config{
		Masquerade: []netip.Prefix{netip.MustParsePrefix("10.10.0.0/24"), netip.MustParsePrefix("10.20.0.0/16")},
		Filtering:  nat.EndpointIndependent,
		UDPTimeout: 10 * time.Minute,
		Forwards: []nat.Forward{
			{Proto: ipproto.TCP, Port: 2222, To: netip.MustParseAddrPort("10.10.0.22:22")},
			{Proto: ipproto.UDP, Port: 5060, To: netip.MustParseAddrPort("10.10.0.23:5060")},
		},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("decoded %+v\nwant %+v", cfg, want)
	}
	for _, bad := range []struct{ text, want string }{
		{"gateway:\n  nat:\n    udp_timeout: 90s\n", `rampart.yaml:3:18: gateway.nat.udp_timeout: want 2m0s to 24h0m0s (RFC 4787 REQ-5: a UDP mapping lives at least 2 minutes), not 1m30s`},
		{"gateway:\n  nat:\n    filtering: symmetric\n", `rampart.yaml:3:16: gateway.nat.filtering: want address-and-port-dependent, address-dependent or endpoint-independent, not "symmetric"`},
		{"gateway:\n  nat:\n    masquerade: [fd00::/64]\n", `rampart.yaml:3:18: gateway.nat.masquerade[0]: fd00::/64: only IPv4 prefixes are translated; IPv6 is routed as it is`},
		{"gateway:\n  nat:\n    masquerade: [10.10.0.1/24]\n", `rampart.yaml:3:18: gateway.nat.masquerade[0]: 10.10.0.1/24 has host bits set; did you mean 10.10.0.0/24?`},
		{"gateway:\n  nat:\n    forwards:\n      - {proto: icmp, port: 1, to: \"10.0.0.1:1\"}\n", `rampart.yaml:4:17: gateway.nat.forwards[0].proto: want a protocol with ports (tcp, udp, sctp, dccp or udplite), not "icmp"`},
		{"gateway:\n  nat:\n    forwards:\n      - {proto: tcp, port: 70000, to: \"10.0.0.1:1\"}\n", `rampart.yaml:4:28: gateway.nat.forwards[0].port: want a port of 1 to 65535, not 70000`},
		{"gateway:\n  nat:\n    forwards:\n      - {proto: tcp, port: 22}\n", `rampart.yaml:4:9: gateway.nat.forwards[0]: a forward needs to (the inside ADDRESS:PORT)`},
		{"gateway:\n  nat:\n    forwards:\n      - {proto: tcp, port: 22, to: \"10.0.0.1:0\"}\n", `rampart.yaml:4:36: gateway.nat.forwards[0].to: want an inside IPv4 ADDRESS:PORT with a port, not 10.0.0.1:0`},
		{"gateway:\n  nat:\n    forwards:\n      - {proto: tcp, port: 22, to: \"10.0.0.1:22\"}\n      - {proto: tcp, port: 22, to: \"10.0.0.2:22\"}\n", `rampart.yaml:5:28: gateway.nat.forwards[1].port: tcp port 22 is forwarded already, by gateway.nat.forwards[0].port (rampart.yaml:4:28)`},
		{"gateway:\n  nat:\n    udp_timeout: soon\n", `rampart.yaml:3:18: gateway.nat.udp_timeout: invalid duration "soon": want a positive duration such as 30s, 5m or 2h`},
	} {
		_, err := decodeNAT(t, bad.text)
		if err == nil || err.Error() != bad.want {
			t.Errorf("%q:\n got %v\nwant %s", bad.text, err, bad.want)
		}
	}
}

// TestGatewayNATCommand runs `rampart gateway nat` against the control
// socket of an engine that translated a connection.
func TestGatewayNATCommand(t *testing.T) {
	tr, err := nat.New(nat.Config{Masquerade: []netip.Prefix{netip.MustParsePrefix("10.10.0.0/24")}, Public: []netip.Addr{netip.MustParseAddr("192.0.2.1")}})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Parse("t.rules", []byte("default deny incoming\ndefault allow outgoing\n"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := gateway.New(pol, gateway.Config{NAT: tr})
	if err != nil {
		t.Fatal(err)
	}
	var p packet.Parsed
	p.Decode(udpFrame(t, "10.10.0.11:5000", "198.51.100.80:53"))
	if d := e.Process(&p, datapath.LAN); d.Verdict != gateway.Forward {
		t.Fatalf("outbound datagram: %v", d)
	}
	sock := filepath.Join(t.TempDir(), "gw.sock")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := serveGatewayControl(ctx, &app{log: discardLogger()}, sock, e); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI("gateway", "nat", "--control", sock)
	if code != 0 || !strings.HasPrefix(out, "udp      17 ") || !strings.Contains(out, "src=10.10.0.11 dst=198.51.100.80 sport=5000 dport=53 packets=1 bytes=4 [UNREPLIED] src=198.51.100.80 dst=192.0.2.1 sport=53 dport=5000 ") {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(stderr, "control socket: "+sock) || !strings.Contains(stderr, "1 flow entries have been shown.") {
		t.Fatalf("stderr: %s", stderr)
	}
	code, out, _ = runCLI("gateway", "nat", "--mappings", "--control", sock)
	if code != 0 || out != "udp      10.10.0.11:5000 -> 192.0.2.1:5000 connections=1\n" {
		t.Fatalf("mappings: exit %d\n%s", code, out)
	}
	if code, _, stderr := runCLI("gateway", "nat", "--control", filepath.Join(t.TempDir(), "none.sock")); code != 1 || !strings.Contains(stderr, "none.sock") {
		t.Fatalf("no gateway: exit %d %s", code, stderr)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// udpFrame builds an Ethernet frame with a UDP datagram of 4 bytes.
func udpFrame(t *testing.T, src, dst string) []byte {
	t.Helper()
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: s.Addr().AsSlice(), DstIP: d.Addr().AsSlice()}
	u := &layers.UDP{SrcPort: layers.UDPPort(s.Port()), DstPort: layers.UDPPort(d.Port())}
	u.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, u, gopacket.Payload("dns?")); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The hidden --lab-nat-udp-timeout lets a lab shorten the UDP mapping
// timer below the floor the file may not go under, and only with
// gateway.nat.
func TestGatewayLabNATTimer(t *testing.T) {
	s := &gatewaySetup{nat: &natSetup{}}
	if err := s.labNATTimer(true, 5*time.Second); err != nil || s.nat.cfg.UDPTimeout != 5*time.Second || !s.nat.cfg.AllowShortTimers {
		t.Fatalf("%v %+v", err, s.nat.cfg)
	}
	tr, err := s.nat.translator([]netip.Addr{netip.MustParseAddr("192.0.2.1")})
	if err != nil || tr == nil {
		t.Fatalf("translator with a lab timer: %v", err)
	}
	if err := (&gatewaySetup{}).labNATTimer(true, 5*time.Second); err == nil {
		t.Fatal("lab timer without gateway.nat accepted")
	}
	if err := (&gatewaySetup{}).labNATTimer(false, 0); err != nil {
		t.Fatal(err)
	}
}
