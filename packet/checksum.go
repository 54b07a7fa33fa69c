package packet

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"strconv"

	"github.com/rampart-fw/rampart/ipproto"
)

// Checksum returns the Internet checksum (RFC 1071) of b, continuing from
// the partial sum initial (for example a PseudoHeaderChecksum). It is the
// value to store in a checksum field that was zero during the computation,
// and it is zero when b already holds a correct checksum.
func Checksum(b []byte, initial uint32) uint16 {
	return ^fold(sum(b, uint64(initial)))
}

// PseudoHeaderChecksum returns the unfolded one's complement sum of the
// TCP/UDP/ICMPv6 pseudo-header (RFC 793, RFC 768, RFC 8200 section 8.1)
// for an upper-layer packet of length bytes, to be passed to Checksum as
// its initial value. src and dst must both be IPv4 or both IPv6; an IPv6
// dst must be the final destination when a routing header is present.
func PseudoHeaderChecksum(proto ipproto.Proto, src, dst netip.Addr, length uint16) uint32 {
	s := uint64(proto) + uint64(length)
	if src.Is4() {
		a, b := src.As4(), dst.As4()
		s += uint64(binary.BigEndian.Uint32(a[:])) + uint64(binary.BigEndian.Uint32(b[:]))
	} else {
		a, b := src.As16(), dst.As16()
		s = sum(a[:], s)
		s = sum(b[:], s)
	}
	return uint32(fold(s))
}

// UpdateChecksum16 returns checksum old adjusted for one 16-bit word of the
// covered data changing from oldVal to newVal, by RFC 1624 equation 3,
// which unlike equation 2 never turns a correct checksum into -0.
func UpdateChecksum16(old uint16, oldVal, newVal uint16) uint16 {
	var d checksumDelta
	d.word(oldVal, newVal)
	return d.apply(old)
}

// UpdateChecksum32 is UpdateChecksum16 for an aligned 32-bit field such as
// a TCP sequence number or an IPv4 address.
func UpdateChecksum32(old uint16, oldVal, newVal uint32) uint16 {
	var d checksumDelta
	d.word(uint16(oldVal>>16), uint16(newVal>>16))
	d.word(uint16(oldVal), uint16(newVal))
	return d.apply(old)
}

// UpdateChecksumAddr returns checksum old adjusted for an address in the
// covered data (an IPv4 header, or a pseudo-header) changing from oldAddr
// to newAddr. Both must be of the same family.
func UpdateChecksumAddr(old uint16, oldAddr, newAddr netip.Addr) uint16 {
	var d checksumDelta
	d.addr(oldAddr, newAddr)
	return d.apply(old)
}

// checksumDelta accumulates ~m + m' for every changed word so that several
// fields can be rewritten and a checksum adjusted once: adding the words
// of one's complement sums is associative, so the order does not matter.
type checksumDelta struct {
	s uint64
}

func (d *checksumDelta) word(oldVal, newVal uint16) {
	d.s += uint64(^oldVal) + uint64(newVal)
}

func (d *checksumDelta) addr(oldAddr, newAddr netip.Addr) {
	if oldAddr.Is4() {
		o, n := oldAddr.As4(), newAddr.As4()
		d.word(binary.BigEndian.Uint16(o[0:]), binary.BigEndian.Uint16(n[0:]))
		d.word(binary.BigEndian.Uint16(o[2:]), binary.BigEndian.Uint16(n[2:]))
		return
	}
	o, n := oldAddr.As16(), newAddr.As16()
	for i := 0; i < 16; i += 2 {
		d.word(binary.BigEndian.Uint16(o[i:]), binary.BigEndian.Uint16(n[i:]))
	}
}

func (d *checksumDelta) apply(old uint16) uint16 {
	return ^fold(d.s + uint64(^old))
}

// sum adds b to acc as a sequence of big-endian 16-bit words. It reads 8
// bytes at a time with end-around carry: one's complement addition gives
// the same folded result whatever the word size (RFC 1071 section 2).
func sum(b []byte, acc uint64) uint64 {
	var carry uint64
	for len(b) >= 32 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[0:]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[8:]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[16:]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[24:]), carry)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b), carry)
		b = b[8:]
	}
	if len(b) >= 4 {
		acc, carry = bits.Add64(acc, uint64(binary.BigEndian.Uint32(b)), carry)
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, carry = bits.Add64(acc, uint64(binary.BigEndian.Uint16(b)), carry)
		b = b[2:]
	}
	if len(b) == 1 {
		acc, carry = bits.Add64(acc, uint64(b[0])<<8, carry)
	}
	acc, carry = bits.Add64(acc, carry, 0)
	return acc + carry
}

// fold reduces a 64-bit one's complement sum to 16 bits.
func fold(s uint64) uint16 {
	s = (s >> 32) + (s & 0xffffffff)
	s = (s >> 32) + (s & 0xffffffff)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	return uint16(s)
}

// ChecksumStatus is what CheckChecksums found.
type ChecksumStatus uint8

const (
	// ChecksumOK: every checksum checked is correct, or the packet
	// carries none this package verifies.
	ChecksumOK ChecksumStatus = iota
	// ChecksumBadIPv4: the IPv4 header checksum is wrong. Every router
	// on the way drops such a packet (RFC 1812 5.2.2).
	ChecksumBadIPv4
	// ChecksumBadL4: the TCP, UDP, ICMP or ICMPv6 checksum is wrong; the
	// destination's stack will discard the packet.
	ChecksumBadL4
	// ChecksumPartial: the TCP or UDP checksum is wrong, but its field
	// holds exactly the sum of the pseudo-header: what a sender that left
	// the checksum to offload writes there (Linux and Windows do; the
	// device completes it on the way out), and so what a capture taken on
	// that sender shows. Only a caller that knows the frame was captured
	// there may take it for good: anyone can write that value.
	ChecksumPartial
)

var checksumNames = [...]string{"ok", "bad-ipv4", "bad-l4", "partial"}

// String returns a short stable name.
func (s ChecksumStatus) String() string {
	if int(s) < len(checksumNames) {
		return checksumNames[s]
	}
	return "checksum(" + strconv.Itoa(int(s)) + ")"
}

// CheckChecksums verifies the checksums p carries: the IPv4 header
// checksum, and when l4 is true the TCP, UDP, ICMPv4 or ICMPv6 checksum
// with its pseudo-header (the final destination when a source route is
// present). A caller passes l4 false when something it trusts has already
// settled the transport checksum (the kernel verified it, or the sender
// left it to offload). The transport checksum of a fragment covers the
// whole datagram and is checked after reassembly, so for fragments only
// the IPv4 header is. A zero UDP checksum means "none" over IPv4 and is an
// error over IPv6 (RFC 8200 8.1). UDP-Lite and DCCP are checked over
// their coverage, SCTP by its CRC32c. Invalid and
// non-IP frames report ChecksumOK: there is nothing this package can
// judge; the caller has refused them already.
//
// It allocates nothing; its cost is one pass over the bytes checked.
func (p *Parsed) CheckChecksums(l4 bool) ChecksumStatus {
	if p.Invalid != Valid || p.IPVersion == 0 {
		return ChecksumOK
	}
	if p.IPVersion == 4 && Checksum(p.Buf[p.L3Off:p.L3Off+p.IPHeaderLen], 0) != 0 {
		return ChecksumBadIPv4
	}
	if !l4 || p.IsFragment || !p.HasL4 {
		return ChecksumOK
	}
	seg := p.Buf[p.L4Off:]
	var initial uint32
	switch p.Proto {
	case ipproto.TCP:
		initial = p.pseudoSum(ipproto.TCP, len(seg))
	case ipproto.UDP:
		seg = seg[:p.UDPLen]
		if binary.BigEndian.Uint16(seg[6:]) == 0 {
			if p.IPVersion == 4 {
				return ChecksumOK
			}
			return ChecksumBadL4
		}
		initial = p.pseudoSum(ipproto.UDP, len(seg))
	case ipproto.ICMP:
	case ipproto.ICMPv6:
		initial = p.pseudoSum(ipproto.ICMPv6, len(seg))
	case ipproto.UDPLite:
		// UDP-Lite has no "no checksum" (RFC 3828 3.1); the
		// pseudo-header counts the whole datagram, the sum only what
		// the coverage says.
		if binary.BigEndian.Uint16(seg[6:]) == 0 {
			return ChecksumBadL4
		}
		initial = p.pseudoSum(ipproto.UDPLite, len(seg))
		seg = seg[:p.UDPLiteCoverage()]
	case ipproto.DCCP:
		initial = p.pseudoSum(ipproto.DCCP, len(seg))
		seg = seg[:dccpCoverage(seg)]
	case ipproto.SCTP:
		if binary.LittleEndian.Uint32(seg[8:]) != sctpChecksum(seg) {
			return ChecksumBadL4
		}
		return ChecksumOK
	default:
		return ChecksumOK
	}
	if Checksum(seg, initial) == 0 {
		return ChecksumOK
	}
	if p.Proto == ipproto.TCP || p.Proto == ipproto.UDP {
		off := 16
		if p.Proto == ipproto.UDP {
			off = 6
		}
		// The field holds the folded pseudo-header sum, not its
		// complement; 0 and 0xffff are the same number in one's
		// complement.
		if f := binary.BigEndian.Uint16(seg[off:]); onesEqual(f, uint16(initial)) {
			return ChecksumPartial
		}
	}
	return ChecksumBadL4
}

// pseudoSum is the pseudo-header sum of pseudoHeader, summed straight from
// the addresses in the IP header (contiguous in both families) when no
// source route names another final destination: the verification of
// every packet should not pay for building addresses.
func (p *Parsed) pseudoSum(proto ipproto.Proto, n int) uint32 {
	if p.pseudoDstOff != 0 {
		return p.pseudoHeader(proto, n)
	}
	var addrs []byte
	if p.IPVersion == 4 {
		addrs = p.Buf[p.L3Off+12 : p.L3Off+20]
	} else {
		addrs = p.Buf[p.L3Off+8 : p.L3Off+40]
	}
	return uint32(fold(sum(addrs, uint64(proto)+uint64(n))))
}

// onesEqual reports whether a and b are the same one's complement number
// (0 and 0xffff are both zero).
func onesEqual(a, b uint16) bool {
	return a == b || (a == 0 && b == 0xffff) || (a == 0xffff && b == 0)
}
