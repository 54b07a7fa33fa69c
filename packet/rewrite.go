package packet

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/rampart-fw/rampart/ipproto"
)

// Errors returned by the rewrite methods. They are fixed values so that a
// failed rewrite on the packet path allocates nothing.
var (
	ErrInvalid  = errors.New("packet: cannot rewrite an invalid or non-IP packet")
	ErrFamily   = errors.New("packet: address family differs from the packet's")
	ErrNoPorts  = errors.New("packet: packet has no ports or query identifier to rewrite")
	ErrNoQuote  = errors.New("packet: packet is not an ICMP error quoting a packet")
	ErrChecksum = errors.New("packet: protocol checksum covers the addresses but is not maintained here")
)

// VerifyChecksums reports whether the checksums p carries are correct: the
// IPv4 header checksum, and the TCP, UDP, UDP-Lite, DCCP, ICMPv4 or ICMPv6
// checksum with its pseudo-header, or SCTP's CRC32c (CheckChecksums says
// which one is wrong). Invalid packets report false; non-IP frames carry
// no checksum and report true.
func (p *Parsed) VerifyChecksums() bool {
	return p.Invalid == Valid && p.CheckChecksums(true) == ChecksumOK
}

func (p *Parsed) pseudoHeader(proto ipproto.Proto, n int) uint32 {
	return PseudoHeaderChecksum(proto, p.Src.Addr(), p.pseudoDst(), uint16(n))
}

// pseudoDst is the destination the transport checksum covers.
func (p *Parsed) pseudoDst() netip.Addr {
	switch {
	case p.pseudoDstOff == 0:
		return p.Dst.Addr()
	case p.IPVersion == 4:
		return netip.AddrFrom4([4]byte(p.Buf[p.pseudoDstOff:]))
	}
	return netip.AddrFrom16([16]byte(p.Buf[p.pseudoDstOff:]))
}

// SetSrc rewrites the source address and port of p in place and adjusts
// the IPv4 header checksum and the transport checksum incrementally (RFC
// 1624), as a NAT does. For ICMP queries the port is the query identifier
// (see Parsed). The port of a packet without ports must stay 0 (or, for a
// non-first fragment, unchanged): the port of a fragment lives in the
// first fragment. p's fields are updated to match.
func (p *Parsed) SetSrc(ap netip.AddrPort) error { return p.rewrite(ap, true) }

// SetDst is SetSrc for the destination address and port.
func (p *Parsed) SetDst(ap netip.AddrPort) error { return p.rewrite(ap, false) }

// transportFields locates, in a transport header of protocol proto at off,
// the checksum, whether it covers the pseudo-header addresses, and the
// port or identifier field of the source (src) or destination.
func transportFields(b []byte, v uint8, proto ipproto.Proto, off int, src bool) (csumOff int, coversAddr bool, portOff int, query bool) {
	csumOff, portOff = -1, -1
	side := 2
	if src {
		side = 0
	}
	switch proto {
	case ipproto.TCP:
		if off+18 <= len(b) {
			csumOff = off + 16
		}
		return csumOff, true, off + side, false
	case ipproto.UDP:
		// An IPv4 UDP checksum of 0 means "no checksum"; keep it so.
		if v == 6 || binary.BigEndian.Uint16(b[off+6:]) != 0 {
			csumOff = off + 6
		}
		return csumOff, true, off + side, false
	case ipproto.UDPLite, ipproto.DCCP:
		// Both always carry a checksum over the pseudo-header, at the
		// same place; a partial coverage still includes the ports.
		return off + 6, true, off + side, false
	case ipproto.SCTP:
		// CRC32c covers no address; a port change recomputes it (rewrite).
		return -1, false, off + side, false
	case ipproto.ICMP, ipproto.ICMPv6:
		if icmpIsQuery(v, b[off]) {
			portOff = off + 4
			query = true
		}
		return off + 2, v == 6, portOff, query
	}
	return -1, false, -1, false
}

// addrOffset is the offset of the source (src) or destination address in
// the IP header that starts at l3: 12/16 in IPv4, 8/24 in IPv6.
func addrOffset(l3 int, version uint8, src bool) int {
	switch {
	case version == 4 && src:
		return l3 + 12
	case version == 4:
		return l3 + 16
	case src:
		return l3 + 8
	}
	return l3 + 24
}

func (p *Parsed) rewrite(ap netip.AddrPort, src bool) error {
	if p.Invalid != Valid || p.IPVersion == 0 {
		return ErrInvalid
	}
	na := ap.Addr().WithZone("")
	if !na.IsValid() || na.Is4() != (p.IPVersion == 4) {
		return ErrFamily
	}
	cur, addrOff := p.Dst, addrOffset(p.L3Off, p.IPVersion, src)
	if src {
		cur = p.Src
	}
	csumOff, coversAddr, portOff, query := -1, false, -1, false
	if p.HasL4 {
		csumOff, coversAddr, portOff, query = transportFields(p.Buf, p.IPVersion, p.Proto, p.L4Off, src)
	}
	// While a source route is under way the pseudo-header names the
	// final destination, which the destination field does not hold.
	if !src && p.pseudoDstOff != 0 {
		coversAddr = false
	}
	np := ap.Port()
	portChanged := np != cur.Port()
	if portChanged && portOff < 0 {
		return ErrNoPorts
	}
	// SCTP's CRC32c cannot be adjusted word by word: it is computed
	// again, and only over a whole packet.
	sctpCRC := portChanged && p.Proto == ipproto.SCTP
	if sctpCRC && p.IsFragment {
		return ErrChecksum
	}
	var crcWas uint32
	if sctpCRC {
		crcWas = sctpChecksum(p.Buf[p.L4Off:])
	}

	b := p.Buf
	var ipd, l4d checksumDelta
	l4Changed := portChanged
	if oa := cur.Addr(); oa != na {
		ipd.addr(oa, na)
		if coversAddr {
			l4d.addr(oa, na)
			l4Changed = true
		}
		putAddr(b[addrOff:], na)
		if p.IPVersion == 4 {
			c := binary.BigEndian.Uint16(b[p.L3Off+10:])
			binary.BigEndian.PutUint16(b[p.L3Off+10:], ipd.apply(c))
		}
	}
	if portChanged {
		l4d.word(binary.BigEndian.Uint16(b[portOff:]), np)
		binary.BigEndian.PutUint16(b[portOff:], np)
	}
	if sctpCRC {
		// CRC is linear: whatever error the stored value carried, it
		// carries still, so a corrupt packet is not made good.
		seg := b[p.L4Off:]
		binary.LittleEndian.PutUint32(seg[8:], binary.LittleEndian.Uint32(seg[8:])^crcWas^sctpChecksum(seg))
	}
	if csumOff >= 0 && l4Changed {
		c := l4d.apply(binary.BigEndian.Uint16(b[csumOff:]))
		if c == 0 && (p.Proto == ipproto.UDP || p.Proto == ipproto.UDPLite) {
			c = 0xffff // RFC 768: a computed 0 is sent as all ones
		}
		binary.BigEndian.PutUint16(b[csumOff:], c)
	}

	nap := netip.AddrPortFrom(na, np)
	if src {
		p.Src = nap
	} else {
		p.Dst = nap
	}
	if query {
		p.ICMPID = np
		p.Src = netip.AddrPortFrom(p.Src.Addr(), np)
		p.Dst = netip.AddrPortFrom(p.Dst.Addr(), np)
	}
	return nil
}

// SetQuoteSrc rewrites the source address and port of the packet quoted in
// the ICMP error p, as a NAT translating an ICMP error must (RFC 5508
// section 4.2): the quoted IPv4 header checksum, the quoted transport
// checksum when it is inside the quote, and the ICMP checksum all follow
// incrementally. The outer header is left to SetSrc and SetDst.
func (p *Parsed) SetQuoteSrc(ap netip.AddrPort) error { return p.rewriteQuote(ap, true) }

// SetQuoteDst is SetQuoteSrc for the quoted destination.
func (p *Parsed) SetQuoteDst(ap netip.AddrPort) error { return p.rewriteQuote(ap, false) }

func (p *Parsed) rewriteQuote(ap netip.AddrPort, src bool) error {
	q := &p.Quote
	if p.Invalid != Valid || q.L3Off == 0 {
		return ErrNoQuote
	}
	na := ap.Addr().WithZone("")
	if !na.IsValid() || na.Is4() != (q.IPVersion == 4) {
		return ErrFamily
	}
	cur, addrOff := q.Dst, addrOffset(q.L3Off, q.IPVersion, src)
	if src {
		cur = q.Src
	}
	csumOff, coversAddr, portOff, query := -1, false, -1, false
	if q.HasL4 {
		csumOff, coversAddr, portOff, query = transportFields(p.Buf, q.IPVersion, q.Proto, q.L4Off, src)
	}
	if !src && q.pseudoDstOff != 0 {
		coversAddr = false
	}
	np := ap.Port()
	portChanged := np != cur.Port()
	if portChanged && portOff < 0 {
		return ErrNoPorts
	}

	// Every word changed inside the quote, checksum fields included, is
	// covered by the outer ICMP checksum.
	b := p.Buf
	var outer, ipd, l4d checksumDelta
	changed, l4Changed := portChanged, portChanged
	if oa := cur.Addr(); oa != na {
		changed = true
		outer.addr(oa, na)
		ipd.addr(oa, na)
		if coversAddr {
			l4d.addr(oa, na)
			l4Changed = true
		}
		putAddr(b[addrOff:], na)
		if q.IPVersion == 4 {
			old := binary.BigEndian.Uint16(b[q.L3Off+10:])
			c := ipd.apply(old)
			binary.BigEndian.PutUint16(b[q.L3Off+10:], c)
			outer.word(old, c)
		}
	}
	if portChanged {
		old := binary.BigEndian.Uint16(b[portOff:])
		outer.word(old, np)
		l4d.word(old, np)
		binary.BigEndian.PutUint16(b[portOff:], np)
	}
	if csumOff >= 0 && l4Changed {
		old := binary.BigEndian.Uint16(b[csumOff:])
		c := l4d.apply(old)
		if c == 0 && (q.Proto == ipproto.UDP || q.Proto == ipproto.UDPLite) {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(b[csumOff:], c)
		outer.word(old, c)
	}
	if changed {
		co := p.L4Off + 2
		binary.BigEndian.PutUint16(b[co:], outer.apply(binary.BigEndian.Uint16(b[co:])))
	}

	nap := netip.AddrPortFrom(na, np)
	if src {
		q.Src = nap
	} else {
		q.Dst = nap
	}
	if query {
		q.Src = netip.AddrPortFrom(q.Src.Addr(), np)
		q.Dst = netip.AddrPortFrom(q.Dst.Addr(), np)
	}
	return nil
}

func putAddr(b []byte, a netip.Addr) {
	if a.Is4() {
		a4 := a.As4()
		copy(b, a4[:])
		return
	}
	a16 := a.As16()
	copy(b, a16[:])
}

// FillChecksum computes the transport checksum of p from scratch and
// writes it in place. A frame that a local sender handed to a packet
// socket before its checksum was computed (checksum offload; the kernel
// flags it TP_STATUS_CSUMNOTREADY) must get one before a bridge sends it
// on, or the receiver drops it. Fragments and undecoded transports are
// left alone.
func (p *Parsed) FillChecksum() {
	if p.Invalid != Valid || p.IPVersion == 0 || p.IsFragment || !p.HasL4 {
		return
	}
	seg := p.Buf[p.L4Off:]
	var off int
	var initial uint32
	switch p.Proto {
	case ipproto.TCP:
		off, initial = 16, p.pseudoHeader(ipproto.TCP, len(seg))
	case ipproto.UDP:
		seg = seg[:p.UDPLen]
		off, initial = 6, p.pseudoHeader(ipproto.UDP, len(seg))
	case ipproto.ICMP:
		off = 2
	case ipproto.ICMPv6:
		off, initial = 2, p.pseudoHeader(ipproto.ICMPv6, len(seg))
	case ipproto.UDPLite, ipproto.DCCP:
		off, initial = 6, p.pseudoHeader(p.Proto, len(seg))
	case ipproto.SCTP:
		binary.LittleEndian.PutUint32(seg[8:], sctpChecksum(seg))
		return
	default:
		return
	}
	seg[off], seg[off+1] = 0, 0
	covered := seg
	switch p.Proto {
	case ipproto.UDPLite:
		covered = seg[:p.UDPLiteCoverage()]
	case ipproto.DCCP:
		covered = seg[:dccpCoverage(seg)]
	}
	sum := Checksum(covered, initial)
	if sum == 0 && (p.Proto == ipproto.UDP || p.Proto == ipproto.UDPLite) {
		sum = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	binary.BigEndian.PutUint16(seg[off:], sum)
}
