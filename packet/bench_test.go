package packet

import (
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/rampart-fw/rampart/internal/benchcpu"
)

func BenchmarkDecode(b *testing.B) {
	for _, c := range []struct{ name, frame string }{
		{"tcp-syn-ipv4", "ipv4/tcp-syn"},
		{"tcp-options-ipv6", "ipv6/tcp-syn"},
		{"udp-dns-ipv4", "ipv4/udp-dns"},
		{"icmp-error-ipv4", "ipv4/icmp-unreach-udp"},
		{"icmp-error-ipv6", "ipv6/icmp-packet-too-big-tcp"},
		{"ext-chain-ipv6", "ipv6/ext-chain"},
		{"qinq-ipv6-tcp", "qinq/ipv6-tcp"},
	} {
		b.Run(c.name, func(b *testing.B) {
			tf := findFrame(b, c.frame)
			var p Parsed
			b.ReportAllocs()
			b.SetBytes(int64(len(tf.b)))
			for b.Loop() {
				p.Decode(tf.b)
			}
			if p.Invalid != Valid {
				b.Fatalf("invalid: %v", p.Invalid)
			}
		})
	}
}

// BenchmarkDecodeTransports decodes the transports with ports beyond TCP
// and UDP: SCTP (whose chunks are walked), DCCP and UDP-Lite.
func BenchmarkDecodeTransports(b *testing.B) {
	for _, name := range []string{"ipv4/sctp-init", "ipv6/sctp-cookie-echo-data", "ipv4/dccp-response-partial-coverage", "ipv4/udplite-partial"} {
		b.Run(name, func(b *testing.B) {
			tf := findFrame(b, name)
			var p Parsed
			b.ReportAllocs()
			b.SetBytes(int64(len(tf.b)))
			for b.Loop() {
				p.Decode(tf.b)
			}
			if p.Invalid != Valid || !p.HasL4 {
				b.Fatalf("invalid: %v", p.Invalid)
			}
		})
	}
}

// BenchmarkCheckChecksums is the gateway's checksum verification per
// packet: a bare ACK (the common packet of an established connection),
// full-sized segments of both families, and the IPv4 header alone (what is
// left to check when the kernel vouches for the transport checksum).
func BenchmarkCheckChecksums(b *testing.B) {
	ack := &layers.TCP{SrcPort: 40000, DstPort: 443, Seq: 1000, Ack: 2000, ACK: true, Window: 501}
	for _, c := range []struct {
		name  string
		frame []byte
		l4    bool
	}{
		{"tcp-ack-ipv4", serialize(b, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolTCP), ack), true},
		{"tcp1460-ipv4", serialize(b, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolTCP), tcpData(), payload(1460-32)), true},
		{"tcp1440-ipv6", serialize(b, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolTCP), tcpData(), payload(1440-32)), true},
		{"ipv4-header-only", serialize(b, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolTCP), tcpData(), payload(1460-32)), false},
	} {
		b.Run(c.name, func(b *testing.B) {
			var p Parsed
			p.Decode(c.frame)
			b.ReportAllocs()
			b.SetBytes(int64(len(c.frame)))
			defer benchcpu.Start(b)()
			for b.Loop() {
				if p.CheckChecksums(c.l4) != ChecksumOK {
					b.Fatal("bad checksum")
				}
			}
		})
	}
}

func BenchmarkSetSrc(b *testing.B) {
	for _, name := range []string{"ipv4/tcp-data-sack", "raw/ipv6-tcp", "ipv4/udp-dns"} {
		b.Run(name, func(b *testing.B) {
			tf := findFrame(b, name)
			var p Parsed
			decodeFrame(&p, tf)
			x, y := p.Src, netip.AddrPortFrom(flipLast(p.Src.Addr()), 61000)
			b.ReportAllocs()
			for b.Loop() {
				if err := p.SetSrc(y); err != nil {
					b.Fatal(err)
				}
				x, y = y, x
			}
		})
	}
}

func BenchmarkAppendTCPReset(b *testing.B) {
	var p Parsed
	p.Decode(findFrame(b, "ipv4/tcp-syn").b)
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendTCPReset(buf[:0], &p)
	}
}

func BenchmarkAppendICMPUnreachable(b *testing.B) {
	var p Parsed
	p.Decode(findFrame(b, "ipv6/udp-dns").b)
	buf := make([]byte, 0, 1500)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendICMPUnreachable(buf[:0], &p, UnreachableAdmin)
	}
}
