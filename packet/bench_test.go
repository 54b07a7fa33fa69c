package packet

import (
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket/layers"
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

func BenchmarkVerifyChecksums(b *testing.B) {
	for _, c := range []struct {
		name string
		v6   bool
	}{{"tcp1460-ipv4", false}, {"tcp1440-ipv6", true}} {
		b.Run(c.name, func(b *testing.B) {
			frame := serialize(b, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolTCP), tcpData(), payload(1460-20))
			if c.v6 {
				frame = serialize(b, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolTCP), tcpData(), payload(1440-20))
			}
			var p Parsed
			p.Decode(frame)
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				if !p.VerifyChecksums() {
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
