package guard

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/ids/defrag"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// icmpFrame builds an ICMP echo (or typ) from src to dst, with Ethernet
// destination ethDst.
func icmpFrame(t testing.TB, src, dst string, typ uint8, ethDst net.HardwareAddr) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: clientMAC, DstMAC: ethDst, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: 1, Seq: 1}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, ic, gopacket.Payload(make([]byte, 32))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func syn(t testing.TB, src, dst string) *packet.Parsed {
	return decoded(t, tcpFrame(t, tcpSpec{src: src, dst: dst, flags: packet.TCPSYN, seq: 1, win: 1000, wscale: -1}))
}

var labCfg = Config{
	AntiSpoof: true,
	Inside:    []netip.Prefix{netip.MustParsePrefix("10.10.0.0/24"), netip.MustParsePrefix("fd00:10::/64")},
	Own:       []netip.Addr{netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("10.10.0.1")},
}

// TestCheck: source validation and the logic attacks, each with its
// reason, and what passes beside them.
func TestCheck(t *testing.T) {
	g, _ := newGuard(t, labCfg)
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	for _, tc := range []struct {
		name  string
		frame []byte
		in    datapath.Side
		want  Reason
	}{
		{"outside client", tcpFrame(t, tcpSpec{src: "198.51.100.9:1", dst: "10.10.0.80:80", flags: packet.TCPSYN, wscale: -1}), datapath.WAN, Pass},
		{"inside client", tcpFrame(t, tcpSpec{src: "10.10.0.11:1", dst: "203.0.113.5:80", flags: packet.TCPSYN, wscale: -1}), datapath.LAN, Pass},
		{"inside source from outside", tcpFrame(t, tcpSpec{src: "10.10.0.11:1", dst: "10.10.0.80:80", flags: packet.TCPSYN, wscale: -1}), datapath.WAN, ReasonInsideSource},
		{"the gateway's address from outside", tcpFrame(t, tcpSpec{src: "198.51.100.1:1", dst: "10.10.0.80:80", flags: packet.TCPSYN, wscale: -1}), datapath.WAN, ReasonOwnSource},
		{"loopback source", tcpFrame(t, tcpSpec{src: "127.0.0.1:1", dst: "10.10.0.80:80", flags: packet.TCPSYN, wscale: -1}), datapath.WAN, ReasonMartian},
		{"class E source", tcpFrame(t, tcpSpec{src: "240.1.2.3:1", dst: "10.10.0.80:80", flags: packet.TCPSYN, wscale: -1}), datapath.WAN, ReasonMartian},
		{"this-network source", tcpFrame(t, tcpSpec{src: "0.1.2.3:1", dst: "10.10.0.80:80", flags: packet.TCPSYN, wscale: -1}), datapath.WAN, ReasonMartian},
		{"multicast source", tcpFrame(t, tcpSpec{src: "224.0.0.9:1", dst: "10.10.0.80:80", flags: packet.TCPSYN, wscale: -1}), datapath.WAN, ReasonMartian},
		{"link-local source routed", tcpFrame(t, tcpSpec{src: "169.254.3.3:1", dst: "10.10.0.80:80", flags: packet.TCPSYN, wscale: -1}), datapath.WAN, ReasonMartian},
		{"benchmarking range from outside", tcpFrame(t, tcpSpec{src: "198.18.0.5:1", dst: "10.10.0.80:80", flags: packet.TCPSYN, wscale: -1}), datapath.WAN, ReasonMartian},
		{"spoofed source leaving (egress)", tcpFrame(t, tcpSpec{src: "203.0.113.77:1", dst: "198.51.100.9:80", flags: packet.TCPSYN, wscale: -1}), datapath.LAN, ReasonEgress},
		{"land", tcpFrame(t, tcpSpec{src: "10.10.0.80:80", dst: "10.10.0.80:80", flags: packet.TCPSYN, wscale: -1}), datapath.WAN, ReasonLand},
		{"land, other ports", tcpFrame(t, tcpSpec{src: "10.10.0.80:1", dst: "10.10.0.80:80", flags: packet.TCPSYN, wscale: -1}), datapath.WAN, ReasonLand},
		{"SYN+FIN", tcpFrame(t, tcpSpec{src: "198.51.100.9:1", dst: "10.10.0.80:80", flags: packet.TCPSYN | packet.TCPFIN, wscale: -1}), datapath.WAN, ReasonTCPFlags},
		{"null scan", tcpFrame(t, tcpSpec{src: "198.51.100.9:1", dst: "10.10.0.80:80", wscale: -1}), datapath.WAN, ReasonTCPFlags},
		{"echo", icmpFrame(t, "198.51.100.9", "10.10.0.80", 8, serverMAC), datapath.WAN, Pass},
		{"smurf: echo to the network's broadcast", icmpFrame(t, "198.51.100.9", "10.10.0.255", 8, serverMAC), datapath.WAN, ReasonSmurf},
		{"smurf: echo to Ethernet broadcast", icmpFrame(t, "198.51.100.9", "10.10.0.80", 8, bcast), datapath.WAN, ReasonSmurf},
		{"redirect from outside", icmpFrame(t, "198.51.100.9", "10.10.0.80", 5, serverMAC), datapath.WAN, ReasonICMPRedirect},
		{"source quench", icmpFrame(t, "198.51.100.9", "10.10.0.80", 4, serverMAC), datapath.WAN, ReasonSourceQuench},
	} {
		var p packet.Parsed
		p.Decode(tc.frame)
		if got := g.Check(&p, tc.in); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	d := g.Drops()
	if d[ReasonMartian] != 6 || d[ReasonLand] != 2 || d[ReasonSmurf] != 2 || d[ReasonEgress] != 1 {
		t.Errorf("counts %v", d)
	}
	// Without antispoof only the logic attacks are dropped.
	open, _ := newGuard(t, Config{})
	if r := open.Check(syn(t, "10.10.0.11:1", "10.10.0.80:80"), datapath.WAN); r != Pass {
		t.Errorf("antispoof off: %v", r)
	}
}

// TestFragmentRefused names the defragmenter's refusals that are attacks.
func TestFragmentRefused(t *testing.T) {
	g, _ := newGuard(t, Config{})
	for k, want := range map[defrag.Kind]Reason{defrag.KindOversize: ReasonPingOfDeath, defrag.KindOverlap: ReasonOverlap, defrag.KindTiny: ReasonTinyFragment, defrag.KindTimeout: Pass} {
		if got := g.FragmentRefused(k); got != want {
			t.Errorf("%v: %v, want %v", k, got, want)
		}
	}
	if d := g.Drops(); d[ReasonPingOfDeath] != 1 || d[ReasonOverlap] != 1 || d[ReasonTinyFragment] != 1 {
		t.Errorf("counts %v", d)
	}
}

// TestLimits: a source's new connections and ICMP, and a destination's
// SYNs, at their rates with their bursts; other sources are not limited
// by one that is.
func TestLimits(t *testing.T) {
	g, clk := newGuard(t, Config{Limits: Limits{
		NewConnectionsPerSource: Limit{Rate: 10, Burst: 5},
		ICMPPerSource:           Limit{Rate: 1, Burst: 2},
		SYNPerDestination:       Limit{Rate: 100, Burst: 8},
	}})
	passed := 0
	for range 20 {
		if g.AdmitNew(syn(t, "198.51.100.9:1", "10.10.0.80:80")) == Pass {
			passed++
		}
	}
	if passed != 5 {
		t.Fatalf("burst of new connections: %d passed, want 5", passed)
	}
	if r := g.AdmitNew(syn(t, "198.51.100.10:1", "10.10.0.80:80")); r != Pass {
		t.Fatalf("another source limited: %v", r)
	}
	clk.Advance(100 * time.Millisecond)
	if r := g.AdmitNew(syn(t, "198.51.100.9:1", "10.10.0.80:80")); r != Pass {
		t.Fatalf("a token after 100 ms refused: %v", r)
	}
	if r := g.AdmitNew(syn(t, "198.51.100.9:1", "10.10.0.80:80")); r != ReasonNewConnRate {
		t.Fatalf("second token: %v", r)
	}
	// The destination's SYN rate: 8 at once, from sources with room.
	clk.Advance(time.Second)
	passed = 0
	for i := range 10 {
		if g.AdmitNew(syn(t, netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(20 + i)}), 1).String(), "10.10.0.81:80")) == Pass {
			passed++
		}
	}
	if passed != 8 {
		t.Fatalf("SYNs to one destination: %d passed, want 8", passed)
	}
	var p packet.Parsed
	echo := icmpFrame(t, "198.51.100.9", "10.10.0.80", 8, serverMAC)
	var got []Reason
	for range 3 {
		p.Decode(echo)
		got = append(got, g.Check(&p, datapath.WAN))
	}
	if got[0] != Pass || got[1] != Pass || got[2] != ReasonICMPRate {
		t.Fatalf("ICMP: %v", got)
	}
	d := g.Drops()
	if d[ReasonNewConnRate] != 16 || d[ReasonSYNRate] != 2 || d[ReasonICMPRate] != 1 {
		t.Errorf("counts %v", d)
	}
}

func TestFeatures(t *testing.T) {
	g, _ := newGuard(t, Config{Features: []Feature{
		{Name: "ssdp", Proto: ipproto.TCP, SrcPort: 1900},
		{Name: "syn-psh", Proto: ipproto.TCP, TCPFlags: packet.TCPSYN | packet.TCPPSH, HasTCPFlags: true, Action: FeatureLimit, Limit: Limit{Rate: 1, Burst: 1}},
	}})
	if r := g.Check(syn(t, "198.51.100.9:1900", "10.10.0.80:80"), datapath.WAN); r != ReasonFeature {
		t.Errorf("source port rule: %v", r)
	}
	sp := tcpSpec{src: "198.51.100.9:1", dst: "10.10.0.80:80", flags: packet.TCPSYN | packet.TCPPSH, wscale: -1}
	if r := g.Check(decoded(t, tcpFrame(t, sp)), datapath.WAN); r != Pass {
		t.Errorf("first of the limited: %v", r)
	}
	if r := g.Check(decoded(t, tcpFrame(t, sp)), datapath.WAN); r != ReasonFeature {
		t.Errorf("second of the limited: %v", r)
	}
	if r := g.Check(syn(t, "198.51.100.9:1", "10.10.0.80:80"), datapath.WAN); r != Pass {
		t.Errorf("plain SYN: %v", r)
	}
	st := g.FeatureStats()
	if st[0].Hits != 1 || st[0].Drops != 1 || st[1].Hits != 2 || st[1].Drops != 1 {
		t.Errorf("stats %+v", st)
	}
	if _, err := New(Config{Features: []Feature{{}}}); err == nil {
		t.Error("a rule matching everything accepted")
	}
}

func BenchmarkCheck(b *testing.B) {
	g, _ := newGuard(b, Config{AntiSpoof: labCfg.AntiSpoof, Inside: labCfg.Inside, Own: labCfg.Own,
		Limits: Limits{NewConnectionsPerSource: Limit{Rate: 1e9, Burst: 1 << 30}}})
	p := syn(b, "198.51.100.9:1", "10.10.0.80:80")
	b.ReportAllocs()
	for b.Loop() {
		if g.Check(p, datapath.WAN) != Pass || g.AdmitNew(p) != Pass {
			b.Fatal("dropped")
		}
	}
}
