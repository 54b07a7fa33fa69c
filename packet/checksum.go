package packet

import (
	"encoding/binary"
	"math/bits"
	"net/netip"

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
