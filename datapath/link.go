package datapath

import (
	"encoding/binary"

	"github.com/rampart-fw/rampart/packet"
)

// Address families of the BSD loopback headers (NULL and LOOP): IPv4 is 2
// everywhere, IPv6 is 24 on NetBSD, OpenBSD and BSD/OS, 28 on FreeBSD
// and DragonFly, 30 on macOS, as libpcap's LINKTYPE_NULL page lists them.
const (
	afINET         = 2
	afINET6BSD     = 24
	afINET6FreeBSD = 28
	afINET6Darwin  = 30
)

// PPP protocol numbers (RFC 1332, RFC 5072).
const (
	pppIPv4 = 0x0021
	pppIPv6 = 0x0057
)

// Decode decodes frame, of link type lt, into p: an Ethernet frame with
// packet.Parsed.Decode, any other link type by finding its IP header and
// decoding from there with DecodeIP (p.Buf then starts at the IP header,
// inside frame). A frame whose link-layer header is cut short or carries
// something other than IPv4 or IPv6 leaves p with IPVersion 0.
func Decode(p *packet.Parsed, frame []byte, lt LinkType) {
	if lt == LinkTypeEthernet {
		p.Decode(frame)
		return
	}
	off, ok := NetworkOffset(lt, frame)
	if !ok {
		*p = packet.Parsed{Buf: frame}
		return
	}
	p.DecodeIP(frame[off:])
}

// NetworkOffset returns the offset of the IP header in a frame of link
// type lt, and false when the frame does not carry IPv4 or IPv6 or its
// link-layer header is cut short. For Ethernet it reads no VLAN tags:
// Decode does that through packet.Parsed.Decode.
func NetworkOffset(lt LinkType, frame []byte) (int, bool) {
	switch lt {
	case LinkTypeRaw, LinkTypeRawDLT12, LinkTypeRawDLT14, LinkTypeIPv4, LinkTypeIPv6:
		return 0, len(frame) > 0
	case LinkTypeEthernet:
		return 14, len(frame) >= 14 && isIPEtherType(binary.BigEndian.Uint16(frame[12:]))
	case LinkTypeNull, LinkTypeLoop:
		if len(frame) < 4 {
			return 0, false
		}
		// NULL is in the writer's byte order, LOOP in network order;
		// a family is small, so the order that gives a small number is
		// the right one (libpcap reads NULL the same way).
		af := binary.BigEndian.Uint32(frame)
		if lt == LinkTypeNull && af > 0xffff {
			af = binary.LittleEndian.Uint32(frame)
		}
		switch af {
		case afINET, afINET6BSD, afINET6FreeBSD, afINET6Darwin:
			return 4, true
		}
		return 0, false
	case LinkTypePPP, LinkTypePPPHDLC:
		off := 0
		if len(frame) >= 2 && frame[0] == 0xff && frame[1] == 0x03 {
			off = 2 // HDLC address and control
		}
		if len(frame) < off+1 {
			return 0, false
		}
		// Protocol-field compression (RFC 1661 6.5): a one-byte
		// protocol is odd.
		proto := uint16(frame[off])
		if proto&1 == 0 {
			if len(frame) < off+2 {
				return 0, false
			}
			proto = binary.BigEndian.Uint16(frame[off:])
			off += 2
		} else {
			off++
		}
		return off, proto == pppIPv4 || proto == pppIPv6
	case LinkTypeCiscoHDLC:
		// Address (0x0f unicast, 0x8f broadcast), control 0, EtherType.
		return 4, len(frame) >= 4 && isIPEtherType(binary.BigEndian.Uint16(frame[2:]))
	case LinkTypeLinuxSLL:
		// Packet type, ARPHRD type, address length, 8 bytes of address,
		// protocol (an EtherType for most ARPHRD types).
		return 16, len(frame) >= 16 && isIPEtherType(binary.BigEndian.Uint16(frame[14:]))
	case LinkTypeLinuxSLL2:
		// Protocol, reserved, interface index, ARPHRD type, packet type,
		// address length, 8 bytes of address.
		return 20, len(frame) >= 20 && isIPEtherType(binary.BigEndian.Uint16(frame[0:]))
	}
	return 0, false
}

func isIPEtherType(et uint16) bool {
	return et == packet.EtherTypeIPv4 || et == packet.EtherTypeIPv6
}
