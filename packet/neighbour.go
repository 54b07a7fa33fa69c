package packet

import (
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/rampart-fw/rampart/ipproto"
)

// ARP operations (RFC 826).
const (
	ARPRequest uint16 = 1
	ARPReply   uint16 = 2
)

// BroadcastMAC is the Ethernet broadcast address.
var BroadcastMAC = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// IsGratuitous reports whether a is a gratuitous ARP: a host announcing
// its own address, request or reply, with itself as the target (RFC 5227
// 3, RFC 5944 4.6).
func (a *ARP) IsGratuitous() bool { return a.SenderIP == a.TargetIP }

// AppendARP appends to dst an Ethernet frame from a.SenderHW to ethDst
// carrying the ARP message a, IPv4 over Ethernet (RFC 826). A request to
// resolve an address goes to BroadcastMAC with a zero TargetHW; a reply,
// and a request that probes a known neighbour, to that neighbour. The
// frame is not padded to Ethernet's minimum: the device does that. dst
// comes back unchanged when an address is not IPv4.
func AppendARP(dst []byte, ethDst [6]byte, a *ARP) []byte {
	if !a.SenderIP.Is4() || !a.TargetIP.Is4() {
		return dst
	}
	start := len(dst)
	dst = slices.Grow(dst, ethHeaderLen+arpLen)[:start+ethHeaderLen+arpLen]
	b := dst[start:]
	copy(b[0:6], ethDst[:])
	copy(b[6:12], a.SenderHW[:])
	binary.BigEndian.PutUint16(b[12:], EtherTypeARP)
	h := b[ethHeaderLen:]
	binary.BigEndian.PutUint16(h[0:], 1) // Ethernet
	binary.BigEndian.PutUint16(h[2:], EtherTypeIPv4)
	h[4], h[5] = 6, 4
	binary.BigEndian.PutUint16(h[6:], a.Op)
	copy(h[8:14], a.SenderHW[:])
	putAddr(h[14:18], a.SenderIP)
	copy(h[18:24], a.TargetHW[:])
	putAddr(h[24:28], a.TargetIP)
	return dst
}

// ICMPv6 neighbour discovery message types (RFC 4861 4).
const (
	NDRouterSolicitation    uint8 = 133
	NDRouterAdvertisement   uint8 = 134
	NDNeighborSolicitation  uint8 = 135
	NDNeighborAdvertisement uint8 = 136
	NDRedirect              uint8 = 137
)

// NAFlags are the flags of a neighbour advertisement (RFC 4861 4.4).
type NAFlags uint8

// Neighbour advertisement flags, as they sit in the message's fifth byte.
const (
	NARouter    NAFlags = 0x80 // the sender is a router
	NASolicited NAFlags = 0x40 // an answer to a solicitation
	NAOverride  NAFlags = 0x20 // the link-layer address replaces a cached one
)

// ND is a neighbour solicitation or advertisement (RFC 4861 4.3, 4.4), as
// ND reads it from a packet.
type ND struct {
	Type   uint8      // NDNeighborSolicitation or NDNeighborAdvertisement
	Target netip.Addr // the address solicited or advertised
	Flags  NAFlags    // advertisements only
	// LinkAddr is the source link-layer address option of a
	// solicitation, or the target link-layer address option of an
	// advertisement, when HasLinkAddr says one was present.
	LinkAddr    [6]byte
	HasLinkAddr bool
}

// Option types of neighbour discovery (RFC 4861 4.6).
const (
	ndOptSourceLinkAddr = 1
	ndOptTargetLinkAddr = 2
	ndMinLen            = 24 // ICMPv6 header, reserved or flags, target
)

// ND reads the neighbour solicitation or advertisement p carries, and
// reports whether it passes the validity checks of RFC 4861 7.1.1 and
// 7.1.2 that the message itself can answer: hop limit 255 (no router
// forwarded it), code 0, at least 24 bytes, a target that is not
// multicast, options of non-zero length that fit; for a solicitation
// from the unspecified address (duplicate address detection) a
// solicited-node multicast destination and no source link-layer address;
// for an advertisement to a multicast address the solicited flag clear.
// The ICMPv6 checksum is the caller's to verify (CheckChecksums). Other
// messages, and fragments, report false.
func (p *Parsed) ND() (ND, bool) {
	var nd ND
	if p.Invalid != Valid || p.IPVersion != 6 || p.Proto != ipproto.ICMPv6 || !p.HasL4 || p.IsFragment {
		return nd, false
	}
	if p.ICMPType != NDNeighborSolicitation && p.ICMPType != NDNeighborAdvertisement {
		return nd, false
	}
	m := p.Buf[p.L4Off:]
	if p.TTL != 255 || p.ICMPCode != 0 || len(m) < ndMinLen {
		return nd, false
	}
	nd.Type = p.ICMPType
	nd.Target = netip.AddrFrom16([16]byte(m[8:24]))
	if nd.Target.IsMulticast() {
		return nd, false
	}
	want := uint8(ndOptSourceLinkAddr)
	if nd.Type == NDNeighborAdvertisement {
		want = ndOptTargetLinkAddr
		nd.Flags = NAFlags(m[4]) & (NARouter | NASolicited | NAOverride)
	}
	for o := m[ndMinLen:]; len(o) > 0; {
		if len(o) < 2 || o[1] == 0 || int(o[1])*8 > len(o) {
			return nd, false
		}
		l := int(o[1]) * 8
		if o[0] == want {
			copy(nd.LinkAddr[:], o[2:8])
			nd.HasLinkAddr = true
		}
		o = o[l:]
	}
	src, dst := p.Src.Addr(), p.Dst.Addr()
	switch nd.Type {
	case NDNeighborSolicitation:
		if src.IsUnspecified() && (!IsSolicitedNode(dst) || nd.HasLinkAddr) {
			return nd, false
		}
	case NDNeighborAdvertisement:
		if dst.IsMulticast() && nd.Flags&NASolicited != 0 {
			return nd, false
		}
	}
	return nd, true
}

// SolicitedNode returns the solicited-node multicast address of a, the
// group a neighbour solicitation for a goes to: ff02::1:ff and a's last
// 24 bits (RFC 4291 2.7.1).
func SolicitedNode(a netip.Addr) netip.Addr {
	b := a.As16()
	return netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 0x01, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]})
}

// IsSolicitedNode reports whether a is a solicited-node multicast address.
func IsSolicitedNode(a netip.Addr) bool {
	if !a.Is6() || a.Is4In6() {
		return false
	}
	b := a.As16()
	return b[0] == 0xff && b[1] == 0x02 && b[11] == 0x01 && b[12] == 0xff &&
		binary.BigEndian.Uint64(b[2:10]) == 0 && b[10] == 0
}

// MulticastMAC returns the Ethernet address that carries IPv6 multicast
// group a: 33:33 and the group's last 32 bits (RFC 2464 7).
func MulticastMAC(a netip.Addr) [6]byte {
	b := a.As16()
	return [6]byte{0x33, 0x33, b[12], b[13], b[14], b[15]}
}

// AllNodes is the link-local all-nodes multicast group, ff02::1.
var AllNodes = netip.MustParseAddr("ff02::1")

// AppendNeighborSolicitation appends to dst an Ethernet frame carrying a
// neighbour solicitation for target, from src at srcHW with a source
// link-layer address option and hop limit 255 (RFC 4861 4.3, 7.2.2).
// dstIP and dstHW are where it goes: the target's solicited-node group
// (SolicitedNode, MulticastMAC) to resolve an address, or the target at
// its cached link-layer address to probe that it is still reachable.
// dst comes back unchanged when an address is not IPv6.
func AppendNeighborSolicitation(dst []byte, srcHW [6]byte, src, target netip.Addr, dstHW [6]byte, dstIP netip.Addr) []byte {
	return appendND(dst, NDNeighborSolicitation, 0, ndOptSourceLinkAddr, srcHW, src, target, dstHW, dstIP)
}

// AppendNeighborAdvertisement appends to dst an Ethernet frame carrying a
// neighbour advertisement of target at srcHW, from target itself with a
// target link-layer address option, hop limit 255 and the given flags
// (RFC 4861 4.4, 7.2.4), to dstIP at dstHW: the solicitation's source, or
// all nodes (AllNodes) when it came from the unspecified address.
func AppendNeighborAdvertisement(dst []byte, srcHW [6]byte, target netip.Addr, flags NAFlags, dstHW [6]byte, dstIP netip.Addr) []byte {
	return appendND(dst, NDNeighborAdvertisement, flags, ndOptTargetLinkAddr, srcHW, target, target, dstHW, dstIP)
}

func appendND(dst []byte, typ uint8, flags NAFlags, opt uint8, srcHW [6]byte, src, target netip.Addr, dstHW [6]byte, dstIP netip.Addr) []byte {
	if !src.Is6() || !target.Is6() || !dstIP.Is6() || src.Is4In6() || target.Is4In6() {
		return dst
	}
	const n = ndMinLen + 8
	dst, l4 := appendHeaders(dst, &linkHeader{dst: dstHW, src: srcHW}, src, dstIP, ipproto.ICMPv6, n, 255, false)
	m := dst[l4:]
	m[0] = typ
	m[4] = byte(flags)
	putAddr(m[8:], target)
	m[ndMinLen] = opt
	m[ndMinLen+1] = 1
	copy(m[ndMinLen+2:], srcHW[:])
	binary.BigEndian.PutUint16(m[2:], Checksum(m, PseudoHeaderChecksum(ipproto.ICMPv6, src, dstIP, n)))
	return dst
}
