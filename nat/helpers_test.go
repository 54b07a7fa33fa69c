package nat

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/firewall/conntrack"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// Addresses of the tests: the inside prefix, the wan address and a pool,
// outside servers.
const (
	wanAddr = "203.0.113.1"
	pool2   = "203.0.113.2"
)

// rig is a translator and its connection table, fed whole frames as the
// gateway feeds them: decode, look up (the rewrite comes with the
// entry), create through the translator when the table knows nothing,
// rewrite in place.
type rig struct {
	t   *testing.T
	tr  *Translator
	tbl *conntrack.Table
	clk *clock.Fake
}

func newRig(t *testing.T, cfg Config) *rig {
	t.Helper()
	if cfg.Public == nil {
		cfg.Public = []netip.Addr{netip.MustParseAddr(wanAddr)}
	}
	if cfg.Masquerade == nil {
		cfg.Masquerade = []netip.Prefix{netip.MustParsePrefix("10.10.0.0/24")}
	}
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	ctc := conntrack.Config{MaxEntries: 4096, Clock: clk}
	tr.Conntrack(&ctc)
	tbl, err := conntrack.New(ctc)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, tr: tr, tbl: tbl, clk: clk}
}

// verdict is what became of one frame.
type verdict struct {
	out     []byte  // the frame as it leaves, when it passed
	outcome Outcome // for a new connection
	res     conntrack.Result
}

func (v verdict) passed() bool { return v.out != nil }

// send hands frame in on side and returns what leaves.
func (r *rig) send(frame []byte, side conntrack.Side) verdict {
	r.t.Helper()
	b := bytes.Clone(frame)
	var p packet.Parsed
	p.Decode(b)
	if p.Invalid != packet.Valid {
		r.t.Fatalf("test frame invalid: %v", p.Invalid)
	}
	var rw conntrack.Rewrite
	cp := toConntrack(&p, side)
	cp.NAT = &rw
	v := verdict{res: r.tbl.Lookup(&cp)}
	switch {
	case v.res.State == conntrack.StateInvalid:
		return v
	case v.res.State == conntrack.StateNew && v.res.ID == 0:
		// The policy is taken to allow everything: these tests are of
		// the NAT's own filtering.
		v.res, v.outcome = r.tr.Create(r.tbl, &cp)
		if v.outcome.Dropped() || v.res.State == conntrack.StateInvalid {
			return v
		}
	}
	if v.res.NAT && !r.tr.Rewrite(&p, &rw) {
		return v
	}
	v.out = b
	return v
}

// toConntrack is what the gateway hands the table for p.
func toConntrack(p *packet.Parsed, side conntrack.Side) conntrack.Packet {
	cp := conntrack.Packet{Flow: p.Flow(), Side: side, WScale: -1, PayloadLen: p.PayloadLen}
	switch p.Proto {
	case ipproto.TCP:
		cp.TCPFlags = p.TCPFlags
		cp.Seq, cp.Ack, cp.Window = p.TCPSeq, p.TCPAck, p.TCPWindow
	case ipproto.ICMP, ipproto.ICMPv6:
		cp.ICMPType, cp.ICMPCode = p.ICMPType, p.ICMPCode
		if p.IsICMPError() {
			q := &p.Quote
			cp.IsICMPError = true
			cp.Inner = conntrack.Inner{Flow: q.Flow(), ICMPType: q.ICMPType, ICMPCode: q.ICMPCode, Seq: q.TCPSeq}
		}
	}
	return cp
}

// Frame building, with gopacket computing every length and checksum from
// scratch: a rewritten frame equal to one built for its new addresses
// has incrementally updated checksums that are right.

var (
	macA = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{2, 0, 0, 0, 0, 2}
)

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

func ip4(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 0x1234, Flags: layers.IPv4DontFragment, Protocol: proto,
		SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
}

func eth() *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}
}

func split(t testing.TB, s string) (string, uint16) {
	ap := netip.MustParseAddrPort(s)
	return ap.Addr().String(), ap.Port()
}

// udp builds a UDP datagram from src to dst ("addr:port").
func udp(t testing.TB, src, dst string, payload string) []byte {
	sa, sp := split(t, src)
	da, dp := split(t, dst)
	ip := ip4(sa, da, layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
	u.SetNetworkLayerForChecksum(ip)
	return serialize(t, eth(), ip, u, gopacket.Payload(payload))
}

// tcp builds a TCP segment; flags is a string of S, A, F, R, P.
func tcp(t testing.TB, src, dst, flags string, seq, ack uint32, payload string) []byte {
	sa, sp := split(t, src)
	da, dp := split(t, dst)
	ip := ip4(sa, da, layers.IPProtocolTCP)
	s := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), Seq: seq, Ack: ack, Window: 64240, DataOffset: 5}
	for _, f := range flags {
		switch f {
		case 'S':
			s.SYN = true
		case 'A':
			s.ACK = true
		case 'F':
			s.FIN = true
		case 'R':
			s.RST = true
		case 'P':
			s.PSH = true
		}
	}
	s.SetNetworkLayerForChecksum(ip)
	return serialize(t, eth(), ip, s, gopacket.Payload(payload))
}

// echo builds an ICMP echo request (typ 8) or reply (0).
func echo(t testing.TB, src, dst string, typ uint8, id, seq uint16) []byte {
	ip := ip4(src, dst, layers.IPProtocolICMPv4)
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: id, Seq: seq}
	return serialize(t, eth(), ip, ic, gopacket.Payload("ping"))
}

// icmpErr builds an ICMP error of type and code from src to dst quoting
// the IP packet of frame, cut to quoteLen bytes (0: whole).
func icmpErr(t testing.TB, src, dst string, typ, code uint8, frame []byte, quoteLen int) []byte {
	quote := frame[14:]
	if quoteLen > 0 {
		quote = quote[:quoteLen]
	}
	ip := ip4(src, dst, layers.IPProtocolICMPv4)
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code)}
	return serialize(t, eth(), ip, ic, gopacket.Payload(quote))
}

// mustPass fails unless v passed as want.
func (r *rig) mustPass(v verdict, want []byte, what string) {
	r.t.Helper()
	if !v.passed() {
		r.t.Fatalf("%s: dropped (%+v, outcome %v)", what, v.res, v.outcome)
	}
	if !bytes.Equal(v.out, want) {
		r.t.Fatalf("%s: left as\n%x\nwant\n%x", what, v.out, want)
	}
}

func (r *rig) mustDrop(v verdict, what string) {
	r.t.Helper()
	if v.passed() {
		r.t.Fatalf("%s: passed (%+v, outcome %v)", what, v.res, v.outcome)
	}
}

// publicOf returns the public endpoint the mapping of inside has.
func (r *rig) publicOf(proto ipproto.Proto, inside string) string {
	r.t.Helper()
	return publicOfTr(r.t, r.tr, proto, inside)
}
