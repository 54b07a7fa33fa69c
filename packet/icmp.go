package packet

import (
	"encoding/binary"
	"net/netip"

	"github.com/rampart-fw/rampart/ipproto"
)

// The ICMP errors a router sends about packets it cannot forward, besides
// destination unreachable.
const (
	icmpv4Unreachable   = 3
	icmpv4TimeExceeded  = 11
	icmpv4FragNeeded    = 4 // code of destination unreachable
	icmpv6Unreachable   = 1
	icmpv6PacketTooBig  = 2
	icmpv6TimeExceeded  = 3
	icmpv6ParamProblem  = 4
	icmpv6UnknownHeader = 1 // code of parameter problem
)

// AppendICMPUnreachableFrom is AppendICMPUnreachable sent from the address
// from rather than from p's destination: a router's own address, or the
// destination's for an answer in its name.
// UnreachableProtocol over IPv6 becomes a parameter problem, code 1, with
// the offset of the next-header field that names the protocol.
// from must be of p's family; dst comes back unchanged when it is not.
func AppendICMPUnreachableFrom(dst []byte, p *Parsed, from netip.Addr, code Unreachable) []byte {
	if code >= numUnreachable || p.Invalid != Valid || p.IPVersion == 0 {
		return dst
	}
	if p.IPVersion == 4 {
		return appendICMPError(dst, p, from, icmpv4Unreachable, unreachableV4[code], 0)
	}
	if code == UnreachableProtocol {
		return appendICMPError(dst, p, from, icmpv6ParamProblem, icmpv6UnknownHeader, uint32(p.nextHeaderField()))
	}
	return appendICMPError(dst, p, from, icmpv6Unreachable, unreachableV6[code], 0)
}

// AppendICMPTimeExceeded appends to dst the ICMP time exceeded in transit
// (ICMPv4 type 11 code 0, ICMPv6 type 3 code 0) that a router sends from
// its address from when the TTL or hop limit of p runs out (RFC 1812
// 5.3.1, RFC 4443 3.3), quoting p as it arrived. The refusals of
// AppendICMPUnreachable apply.
func AppendICMPTimeExceeded(dst []byte, p *Parsed, from netip.Addr) []byte {
	if p.IPVersion == 4 {
		return appendICMPError(dst, p, from, icmpv4TimeExceeded, 0, 0)
	}
	return appendICMPError(dst, p, from, icmpv6TimeExceeded, 0, 0)
}

// AppendICMPTooBig appends to dst what a router sends from its address
// from when p does not fit the MTU of the link it must leave by: for IPv4
// with DF set, destination unreachable code 4, fragmentation needed, with
// the next-hop MTU in the low half of the second word (RFC 1191 4); for
// IPv6, packet too big with the MTU (RFC 4443 3.2). The refusals of
// AppendICMPUnreachable apply.
func AppendICMPTooBig(dst []byte, p *Parsed, from netip.Addr, mtu int) []byte {
	if mtu < 0 || mtu > 0xffff {
		return dst
	}
	if p.IPVersion == 4 {
		return appendICMPError(dst, p, from, icmpv4Unreachable, icmpv4FragNeeded, uint32(mtu))
	}
	return appendICMPError(dst, p, from, icmpv6PacketTooBig, 0, uint32(mtu))
}

// appendICMPError appends an ICMP error of the given type and code, whose
// second word is rest, from the address from to p's source, quoting as
// much of p as fits the minimum MTU of its version.
func appendICMPError(dst []byte, p *Parsed, from netip.Addr, typ, code uint8, rest uint32) []byte {
	if !p.answerable() || p.IsICMPError() {
		return dst
	}
	if !from.IsValid() || from.Is4() != (p.IPVersion == 4) || !oneHost(from) {
		return dst
	}
	if (p.Proto == ipproto.ICMP || p.Proto == ipproto.ICMPv6) && !p.HasL4 {
		// The type of a fragmented ICMP message is unknown: it may be
		// an error.
		return dst
	}
	orig := p.Buf[p.L3Off:]
	proto, limit := ipproto.ICMP, maxICMPv4Error-ipv4MinHeader-icmpHeaderLen
	if p.IPVersion == 6 {
		proto, limit = ipproto.ICMPv6, maxICMPv6Error-ipv6HeaderLen-icmpHeaderLen
	}
	orig = orig[:min(len(orig), limit)]
	dst, l4 := p.appendReplyHeadersFrom(dst, from, proto, icmpHeaderLen+len(orig), false)
	m := dst[l4:]
	m[0] = typ
	m[1] = code
	binary.BigEndian.PutUint32(m[4:], rest)
	copy(m[icmpHeaderLen:], orig)
	var initial uint32
	if p.IPVersion == 6 {
		initial = PseudoHeaderChecksum(ipproto.ICMPv6, from, p.Src.Addr(), uint16(len(m)))
	}
	binary.BigEndian.PutUint16(m[2:], Checksum(m, initial))
	return dst
}

// nextHeaderField returns the offset, from the start of p's IPv6 header,
// of the next-header field that names p's upper-layer protocol: that of
// the fixed header, or of the last extension header.
func (p *Parsed) nextHeaderField() int {
	field := 6
	off := p.L3Off + ipv6HeaderLen
	next := ipproto.Proto(p.Buf[p.L3Off+6])
	for off < p.L4Off && off+2 <= len(p.Buf) {
		field = off - p.L3Off
		l := (int(p.Buf[off+1]) + 1) * 8
		switch next {
		case ipproto.AH:
			l = (int(p.Buf[off+1]) + 2) * 4
		case ipproto.Fragment:
			l = 8
		}
		next = ipproto.Proto(p.Buf[off])
		off += l
	}
	return field
}

// AppendEchoReply appends to dst the echo reply (ICMP type 0, ICMPv6
// type 129) that answers the echo request p from p's destination, with the
// request's identifier, sequence number and data (RFC 792, RFC 4443 4.2),
// Ethernet addresses swapped as for AppendTCPReset. The reply may be
// larger than a link's MTU: a reassembled request gets a reply as large.
//
// It returns dst unchanged when p is not a whole echo request, or must
// not be answered: invalid, sent to or from an address that is not one
// host's (a ping of a broadcast address gets no answer, as Linux's
// icmp_echo_ignore_broadcasts has it), or still on a source route.
func AppendEchoReply(dst []byte, p *Parsed) []byte {
	if !p.answerable() || !p.HasL4 || p.IsFragment {
		return dst
	}
	var typ uint8
	switch {
	case p.IPVersion == 4 && p.Proto == ipproto.ICMP && p.ICMPType == 8:
		typ = 0
	case p.IPVersion == 6 && p.Proto == ipproto.ICMPv6 && p.ICMPType == 128:
		typ = 129
	default:
		return dst
	}
	msg := p.Buf[p.L4Off:]
	dst, l4 := p.appendReplyHeaders(dst, p.Proto, len(msg), false)
	m := dst[l4:]
	copy(m, msg)
	m[0] = typ
	m[2], m[3] = 0, 0
	var initial uint32
	if p.IPVersion == 6 {
		initial = PseudoHeaderChecksum(ipproto.ICMPv6, p.Dst.Addr(), p.Src.Addr(), uint16(len(m)))
	}
	binary.BigEndian.PutUint16(m[2:], Checksum(m, initial))
	return dst
}
