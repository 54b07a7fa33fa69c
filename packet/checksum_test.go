package packet

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"pgregory.net/rapid"

	"github.com/rampart-fw/rampart/ipproto"
)

// naiveChecksum is RFC 1071 written out word by word, the reference the
// optimised Checksum is checked against.
func naiveChecksum(b []byte, initial uint32) uint16 {
	s := uint64(initial)
	for i := 0; i+1 < len(b); i += 2 {
		s += uint64(b[i])<<8 | uint64(b[i+1])
		s = s&0xffff + s>>16
	}
	if len(b)%2 == 1 {
		s += uint64(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func TestChecksumVectors(t *testing.T) {
	cases := []struct {
		name    string
		b       []byte
		initial uint32
		want    uint16
	}{
		// RFC 1071 section 3: the words sum to ddf2.
		{"rfc1071", []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, 0, 0x220d},
		{"empty", nil, 0, 0xffff},
		{"odd", []byte{0x01}, 0, 0xfeff},
		{"initial-carries", []byte{0xff, 0xff}, 0xffff0001, ^uint16(0x0001)},
		{"all-ones", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 0, 0x00ff},
		// A correct IPv4 header sums to zero.
		{"ipv4-header", []byte{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7}, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			eq(t, "Checksum", Checksum(c.b, c.initial), c.want)
			eq(t, "naive", naiveChecksum(c.b, c.initial), c.want)
		})
	}
}

func TestChecksumMatchesNaive(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		b := rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(rt, "b")
		initial := rapid.Uint32Range(0, 0x3ffff).Draw(rt, "initial")
		if got, want := Checksum(b, initial), naiveChecksum(b, initial); got != want {
			rt.Fatalf("Checksum = %#04x, naive %#04x", got, want)
		}
	})
}

func TestPseudoHeaderChecksum(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		n := 4
		if rapid.Bool().Draw(rt, "v6") {
			n = 16
		}
		sb := rapid.SliceOfN(rapid.Byte(), n, n).Draw(rt, "src")
		db := rapid.SliceOfN(rapid.Byte(), n, n).Draw(rt, "dst")
		proto := rapid.Uint8().Draw(rt, "proto")
		length := rapid.Uint16().Draw(rt, "length")
		src, _ := netip.AddrFromSlice(sb)
		dst, _ := netip.AddrFromSlice(db)
		// The pseudo-header written out as bytes (RFC 793, RFC 8200 8.1).
		var ph []byte
		ph = append(ph, sb...)
		ph = append(ph, db...)
		if n == 4 {
			ph = append(ph, 0, proto, byte(length>>8), byte(length))
		} else {
			ph = append(ph, 0, 0, byte(length>>8), byte(length), 0, 0, 0, proto)
		}
		payload := rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(rt, "payload")
		want := naiveChecksum(append(ph, payload...), 0)
		if got := Checksum(payload, PseudoHeaderChecksum(ipproto.Proto(proto), src, dst, length)); got != want {
			rt.Fatalf("got %#04x, want %#04x", got, want)
		}
	})
}

func TestUpdateChecksumRFC1624(t *testing.T) {
	// RFC 1624 section 4: equation 3 gives 0x0000 where equation 2 gave
	// the -0 that a receiver summing the header would not accept.
	eq(t, "UpdateChecksum16", UpdateChecksum16(0xdd2f, 0x5555, 0x3285), 0x0000)
}

// TestUpdateChecksumMatchesFull changes a random aligned field of random
// data and compares the incremental update with a full recomputation.
func TestUpdateChecksumMatchesFull(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		words := rapid.IntRange(10, 40).Draw(rt, "words")
		b := rapid.SliceOfN(rapid.Byte(), 2*words, 2*words).Draw(rt, "b")
		b[0] = 0x45 // never all zero, as no real header is
		old := naiveChecksum(b, 0)
		kind := rapid.IntRange(0, 2).Draw(rt, "kind")
		var got uint16
		switch kind {
		case 0:
			i := 2 * rapid.IntRange(1, words-1).Draw(rt, "i")
			v := rapid.Uint16().Draw(rt, "v")
			got = UpdateChecksum16(old, binary.BigEndian.Uint16(b[i:]), v)
			binary.BigEndian.PutUint16(b[i:], v)
		case 1:
			i := 2 * rapid.IntRange(1, words-2).Draw(rt, "i")
			v := rapid.Uint32().Draw(rt, "v")
			got = UpdateChecksum32(old, binary.BigEndian.Uint32(b[i:]), v)
			binary.BigEndian.PutUint32(b[i:], v)
		case 2:
			i := 2 * rapid.IntRange(1, words-8).Draw(rt, "i")
			nb := rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(rt, "addr")
			oa := netip.AddrFrom16([16]byte(b[i:]))
			na := netip.AddrFrom16([16]byte(nb))
			got = UpdateChecksumAddr(old, oa, na)
			copy(b[i:], nb)
		}
		if want := naiveChecksum(b, 0); got != want {
			rt.Fatalf("incremental %#04x, full %#04x", got, want)
		}
	})
}

// TestVerifyChecksumsDetectsCorruption flips each checksummed byte of the
// well-formed test frames and expects the damage to be noticed.
func TestVerifyChecksumsDetectsCorruption(t *testing.T) {
	var p Parsed
	for _, tf := range testFrames(t) {
		decodeFrame(&p, tf)
		if p.IPVersion == 0 || p.IsFragment || !p.HasL4 || p.Anomalies.Has(AnomalyUDPSurplus) {
			continue
		}
		l3, end, v, proto, l4 := p.L3Off, len(p.Buf), p.IPVersion, p.Proto, p.L4Off
		for i := l3; i < end; i++ {
			// IPv6 version, traffic class, flow label, next header and hop
			// limit are covered by no checksum.
			if v == 6 && i-l3 < 40 && (i-l3 < 4 || i-l3 == 6 || i-l3 == 7) {
				continue
			}
			// While a routing header has segments left, the destination
			// field holds the next waypoint, which no checksum covers.
			if v == 6 && p.pseudoDstOff != 0 && i-l3 >= 24 && i-l3 < 40 {
				continue
			}
			// Nor are IPv6 extension headers, except a routing header's
			// final destination.
			if v == 6 && i >= l3+40 && i < l4 && (p.pseudoDstOff == 0 || i < p.pseudoDstOff || i >= p.pseudoDstOff+16) {
				continue
			}
			// Changing the IPv4 UDP checksum to 0 would mean "none".
			if v == 4 && proto == ipproto.UDP && (i == l4+6 || i == l4+7) {
				continue
			}
			// SCTP's CRC32c covers no pseudo-header: an IPv6 address is
			// covered by nothing (an IPv4 one by the header checksum).
			if v == 6 && proto == ipproto.SCTP && i-l3 < 40 {
				continue
			}
			// UDP-Lite and DCCP may cover only the start of the data.
			if proto == ipproto.UDPLite && i >= l4+p.UDPLiteCoverage() || proto == ipproto.DCCP && i >= l4+dccpCoverage(p.Buf[l4:]) {
				continue
			}
			b := append([]byte(nil), tf.b...)
			b[i] ^= 0x5a
			var q Parsed
			decodeFrame(&q, testFrame{raw: tf.raw, b: b})
			if q.VerifyChecksums() {
				t.Errorf("%s: byte %d flipped, checksums still verify", tf.name, i)
			}
		}
	}
}

func TestVerifyChecksumsUDPZero(t *testing.T) {
	var p Parsed
	for _, name := range []string{"ipv4/udp-dns", "ipv6/udp-dns"} {
		tf := findFrame(t, name)
		b := append([]byte(nil), tf.b...)
		p.Decode(b)
		binary.BigEndian.PutUint16(b[p.L4Off+6:], 0)
		p.Decode(b)
		// No checksum is allowed over IPv4 only (RFC 8200 8.1).
		eq(t, name+" zero checksum verifies", p.VerifyChecksums(), p.IPVersion == 4)
	}
}

func findFrame(tb testing.TB, name string) testFrame {
	for _, tf := range testFrames(tb) {
		if tf.name == name {
			return tf
		}
	}
	tb.Fatalf("no test frame %q", name)
	return testFrame{}
}

// TestCheckChecksums says which checksum is wrong: the IPv4 header's, the
// transport's, or a transport checksum that holds just the pseudo-header
// sum, as a sender leaves it for offload.
func TestCheckChecksums(t *testing.T) {
	type edit func(p *Parsed, b []byte)
	flipL4 := func(p *Parsed, b []byte) { b[len(p.Buf)-1] ^= 0x5a }
	flipTTL := func(p *Parsed, b []byte) { b[p.L3Off+8] ^= 0x01 }
	// partial writes what Linux writes before handing a segment to a
	// device with checksum offload: the pseudo-header sum, uncomplemented.
	partial := func(p *Parsed, b []byte) {
		seg := p.Buf[p.L4Off:]
		off := 16
		if p.Proto == ipproto.UDP {
			seg, off = seg[:p.UDPLen], 6
		}
		binary.BigEndian.PutUint16(b[p.L4Off+off:], uint16(p.pseudoHeader(p.Proto, len(seg))))
	}
	cases := []struct {
		frame string
		edit  edit
		l4    bool
		want  ChecksumStatus
	}{
		{"ipv4/tcp-syn", nil, true, ChecksumOK},
		{"ipv4/tcp-syn", flipTTL, true, ChecksumBadIPv4},
		{"ipv4/tcp-syn", flipTTL, false, ChecksumBadIPv4},
		{"ipv4/tcp-data-sack", flipL4, true, ChecksumBadL4},
		{"ipv4/tcp-data-sack", flipL4, false, ChecksumOK},
		{"ipv4/tcp-data-sack", partial, true, ChecksumPartial},
		{"ipv6/tcp-syn", partial, true, ChecksumPartial},
		{"ipv6/tcp-syn", flipL4, true, ChecksumBadL4},
		{"ipv4/udp-dns", partial, true, ChecksumPartial},
		{"ipv4/udp-dns", flipL4, true, ChecksumBadL4},
		{"ipv6/udp-dns", partial, true, ChecksumPartial},
		{"raw/ipv6-tcp", partial, true, ChecksumPartial},
		{"vlan/ipv4-udp", flipTTL, true, ChecksumBadIPv4},
		{"qinq/ipv6-tcp", flipL4, true, ChecksumBadL4},
		{"ipv4/icmp-echo", flipL4, true, ChecksumBadL4},
		{"ipv6/icmp-echo", flipL4, true, ChecksumBadL4},
		{"ipv6/icmp-echo", flipL4, false, ChecksumOK},
		// A fragment's transport checksum covers the whole datagram: only
		// its IPv4 header is checked.
		{"ipv4/fragment-first", flipL4, true, ChecksumOK},
		{"ipv4/fragment-later", flipTTL, true, ChecksumBadIPv4},
		{"ipv6/fragment-first", flipL4, true, ChecksumOK},
		{"arp/request", nil, true, ChecksumOK},
	}
	for _, c := range cases {
		tf := findFrame(t, c.frame)
		b := append([]byte(nil), tf.b...)
		var p Parsed
		decodeFrame(&p, testFrame{raw: tf.raw, b: b})
		if c.edit != nil {
			c.edit(&p, b)
			decodeFrame(&p, testFrame{raw: tf.raw, b: b})
		}
		if got := p.CheckChecksums(c.l4); got != c.want {
			t.Errorf("%s, l4 %v: %v, want %v", c.frame, c.l4, got, c.want)
		}
		eq(t, c.frame+" VerifyChecksums", p.VerifyChecksums(), c.want == ChecksumOK && (c.l4 || c.edit == nil))
	}
	var p Parsed
	frame := findFrame(t, "ipv4/tcp-data-sack").b
	if n := testing.AllocsPerRun(100, func() {
		p.Decode(frame)
		p.CheckChecksums(true)
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
