package packet

import (
	"encoding/binary"
	"net/netip"

	"github.com/rampart-fw/rampart/ipproto"
)

// decodeL4 decodes the transport header at p.L4Off, the IP layer being
// valid. p.PayloadOff and p.PayloadLen already cover everything after the
// IP headers.
func (p *Parsed) decodeL4() {
	if p.IsFragment && !p.IsFirstFragment {
		return
	}
	switch {
	case p.Proto == ipproto.TCP:
		p.decodeTCP()
	case p.Proto == ipproto.UDP:
		p.decodeUDP()
	case p.Proto == ipproto.UDPLite:
		p.decodeUDPLite()
	case p.Proto == ipproto.SCTP:
		p.decodeSCTP()
	case p.Proto == ipproto.DCCP:
		p.decodeDCCP()
	case p.Proto == ipproto.ICMP && p.IPVersion == 4, p.Proto == ipproto.ICMPv6 && p.IPVersion == 6:
		p.decodeICMP()
	}
}

// truncated reports a transport header that does not fit: in a first
// fragment that is a tiny-fragment attack (RFC 1858, RFC 7112), otherwise
// plain truncation.
func (p *Parsed) truncated(r Invalid, off int) {
	if p.IsFirstFragment {
		r = InvalidTinyFragment
	}
	p.fail(r, off)
}

func (p *Parsed) decodeTCP() {
	off := p.L4Off
	seg := p.Buf[off:]
	if len(seg) < tcpMinHeader {
		p.truncated(InvalidTCPTruncated, off)
		return
	}
	doff := seg[12] >> 4
	hl := int(doff) * 4
	if doff < 5 {
		p.fail(InvalidTCPDataOffset, off+12)
		return
	}
	if hl > len(seg) {
		p.truncated(InvalidTCPDataOffset, off+12)
		return
	}
	if bad := p.TCPOpts.decode(seg[tcpMinHeader:hl]); bad >= 0 {
		p.fail(InvalidTCPOptions, off+tcpMinHeader+bad)
		return
	}
	sport := binary.BigEndian.Uint16(seg[0:])
	dport := binary.BigEndian.Uint16(seg[2:])
	p.Src = netip.AddrPortFrom(p.Src.Addr(), sport)
	p.Dst = netip.AddrPortFrom(p.Dst.Addr(), dport)
	p.TCPSeq = binary.BigEndian.Uint32(seg[4:])
	p.TCPAck = binary.BigEndian.Uint32(seg[8:])
	p.TCPDataOff = doff
	f := TCPFlags(seg[13])
	p.TCPFlags = f
	p.TCPWindow = binary.BigEndian.Uint16(seg[14:])
	p.TCPUrgent = binary.BigEndian.Uint16(seg[18:])
	p.HasL4 = true
	p.PayloadOff = off + hl
	p.PayloadLen = len(seg) - hl

	if f&(TCPSYN|TCPFIN) == TCPSYN|TCPFIN {
		p.Anomalies |= AnomalySYNFIN
	}
	if f&(TCPSYN|TCPRST) == TCPSYN|TCPRST {
		p.Anomalies |= AnomalySYNRST
	}
	if f&(TCPFIN|TCPSYN|TCPRST|TCPPSH|TCPACK|TCPURG) == 0 {
		p.Anomalies |= AnomalyNullScan
	}
	if f&(TCPFIN|TCPPSH|TCPURG|TCPACK) == TCPFIN|TCPPSH|TCPURG {
		p.Anomalies |= AnomalyXmas
	}
	if f&(TCPFIN|TCPACK) == TCPFIN {
		p.Anomalies |= AnomalyFINNoACK
	}
	p.portAnomalies(sport, dport)
}

func (p *Parsed) portAnomalies(sport, dport uint16) {
	if sport == 0 || dport == 0 {
		p.Anomalies |= AnomalyPortZero
	}
	if sport == dport && p.Src.Addr() == p.Dst.Addr() {
		p.Anomalies |= AnomalyLAND
	}
}

// decode parses the TCP option area o. It returns the offset of the first
// malformed option within o, or -1.
func (t *TCPOptions) decode(o []byte) int {
	for i := 0; i < len(o); {
		kind := o[i]
		switch kind {
		case 0: // end of option list: the rest is padding
			return -1
		case 1: // no operation
			i++
			continue
		}
		if i+1 >= len(o) {
			return i
		}
		l := int(o[i+1])
		if l < 2 || i+l > len(o) {
			return i
		}
		v := o[i+2 : i+l]
		switch kind {
		case 2:
			if l != 4 {
				return i
			}
			t.Has |= TCPOptMSS
			t.MSS = binary.BigEndian.Uint16(v)
		case 3:
			if l != 3 {
				return i
			}
			t.Has |= TCPOptWScale
			t.WScale = v[0]
		case 4:
			if l != 2 {
				return i
			}
			t.Has |= TCPOptSACKPermitted
		case 5:
			// At most 4 blocks fit in 40 bytes of options.
			if (l-2)%8 != 0 || l == 2 {
				return i
			}
			t.Has |= TCPOptSACK
			t.NumSACK = 0
			for j := 0; j+8 <= len(v) && int(t.NumSACK) < len(t.SACK); j += 8 {
				t.SACK[t.NumSACK] = SACKBlock{
					Left:  binary.BigEndian.Uint32(v[j:]),
					Right: binary.BigEndian.Uint32(v[j+4:]),
				}
				t.NumSACK++
			}
		case 8:
			if l != 10 {
				return i
			}
			t.Has |= TCPOptTimestamps
			t.TSval = binary.BigEndian.Uint32(v[0:])
			t.TSecr = binary.BigEndian.Uint32(v[4:])
		default:
			t.Has |= TCPOptOther
		}
		i += l
	}
	return -1
}

func (p *Parsed) decodeUDP() {
	off := p.L4Off
	seg := p.Buf[off:]
	if len(seg) < udpHeaderLen {
		p.truncated(InvalidUDPTruncated, off)
		return
	}
	sport := binary.BigEndian.Uint16(seg[0:])
	dport := binary.BigEndian.Uint16(seg[2:])
	ulen := int(binary.BigEndian.Uint16(seg[4:]))
	// The length of a fragmented datagram can only be checked after
	// reassembly; a length of 0 would be an IPv6 jumbogram, which is not
	// supported.
	if ulen < udpHeaderLen || (!p.IsFragment && ulen > len(seg)) {
		p.fail(InvalidUDPLength, off+4)
		return
	}
	p.Src = netip.AddrPortFrom(p.Src.Addr(), sport)
	p.Dst = netip.AddrPortFrom(p.Dst.Addr(), dport)
	p.UDPLen = uint16(ulen)
	p.HasL4 = true
	p.PayloadOff = off + udpHeaderLen
	p.PayloadLen = len(seg) - udpHeaderLen
	if !p.IsFragment && ulen < len(seg) {
		p.Anomalies |= AnomalyUDPSurplus
		p.PayloadLen = ulen - udpHeaderLen
	}
	p.portAnomalies(sport, dport)
}

// decodeUDPLite decodes a UDP-Lite header (RFC 3828), UDP's with the
// length replaced by the checksum coverage.
func (p *Parsed) decodeUDPLite() {
	off := p.L4Off
	seg := p.Buf[off:]
	if len(seg) < udpHeaderLen {
		p.truncated(InvalidUDPTruncated, off)
		return
	}
	cov := int(binary.BigEndian.Uint16(seg[4:]))
	if cov != 0 && (cov < udpHeaderLen || (!p.IsFragment && cov > len(seg))) {
		// RFC 3828 3.1: such a datagram MUST be discarded. The length
		// of a fragmented one is only known after reassembly.
		p.fail(InvalidUDPLiteCoverage, off+4)
		return
	}
	p.setTransport(seg, udpHeaderLen)
}

// setTransport records the transport header of hl bytes at p.L4Off whose
// first four bytes are the source and destination ports, as UDP-Lite,
// SCTP and DCCP headers are.
func (p *Parsed) setTransport(seg []byte, hl int) {
	sport := binary.BigEndian.Uint16(seg[0:])
	dport := binary.BigEndian.Uint16(seg[2:])
	p.Src = netip.AddrPortFrom(p.Src.Addr(), sport)
	p.Dst = netip.AddrPortFrom(p.Dst.Addr(), dport)
	p.HasL4 = true
	p.PayloadOff = p.L4Off + hl
	p.PayloadLen = len(seg) - hl
	p.portAnomalies(sport, dport)
}

// UDPLiteCoverage is how many bytes of the UDP-Lite datagram p, header
// included, its checksum covers: the coverage field, or the whole
// datagram when the field is 0. It is 0 unless p holds a decoded UDP-Lite
// header.
func (p *Parsed) UDPLiteCoverage() int {
	if !p.HasL4 || p.Proto != ipproto.UDPLite {
		return 0
	}
	seg := p.Buf[p.L4Off:]
	if cov := int(binary.BigEndian.Uint16(seg[4:])); cov != 0 {
		return cov
	}
	return len(seg)
}

func (p *Parsed) decodeICMP() {
	off := p.L4Off
	seg := p.Buf[off:]
	if len(seg) < icmpHeaderLen {
		p.truncated(InvalidICMPTruncated, off)
		return
	}
	p.ICMPType = seg[0]
	p.ICMPCode = seg[1]
	p.ICMPRest = binary.BigEndian.Uint32(seg[4:])
	p.HasL4 = true
	p.PayloadOff = off + icmpHeaderLen
	p.PayloadLen = len(seg) - icmpHeaderLen
	if icmpIsQuery(p.IPVersion, p.ICMPType) {
		p.ICMPID = binary.BigEndian.Uint16(seg[4:])
		p.ICMPSeq = binary.BigEndian.Uint16(seg[6:])
		p.Src = netip.AddrPortFrom(p.Src.Addr(), p.ICMPID)
		p.Dst = netip.AddrPortFrom(p.Dst.Addr(), p.ICMPID)
		return
	}
	if icmpQuotes(p.IPVersion, p.ICMPType) {
		p.decodeQuote(off + icmpHeaderLen)
	}
}

// icmpIsQuery reports the ICMP messages whose identifier pairs a request
// with its reply.
func icmpIsQuery(v, typ uint8) bool {
	if v == 4 {
		switch typ {
		case 0, 8, 13, 14, 15, 16, 17, 18: // echo, timestamp, information, address mask
			return true
		}
		return false
	}
	return typ == 128 || typ == 129
}

// icmpIsError reports ICMP error messages. For ICMPv6 that is every type
// below 128 (RFC 4443 2.1), including ones this package does not know.
func icmpIsError(v uint8, proto ipproto.Proto, typ uint8) bool {
	switch {
	case v == 4 && proto == ipproto.ICMP:
		switch typ {
		case 3, 4, 5, 11, 12: // unreachable, source quench, redirect, time exceeded, parameter problem
			return true
		}
	case v == 6 && proto == ipproto.ICMPv6:
		return typ < 128
	}
	return false
}

// icmpQuotes reports the error messages whose body is the offending
// packet's header. ICMPv6 errors of unknown type are not assumed to.
func icmpQuotes(v, typ uint8) bool {
	if v == 4 {
		return icmpIsError(4, ipproto.ICMP, typ)
	}
	return typ >= 1 && typ <= 4
}

// decodeQuote decodes the IP header and the first 8 transport bytes quoted
// at off. Quotes are truncated by design (RFC 792: IP header plus 64 bits;
// RFC 4443: as much as fits in 1280 bytes), so lengths are not checked
// against the quote, but the headers that are quoted must be sound.
func (p *Parsed) decodeQuote(off int) {
	q := &p.Quote
	b := p.Buf[off:]
	if len(b) == 0 || b[0]>>4 != p.IPVersion {
		p.fail(InvalidICMPQuote, off)
		return
	}
	var src, dst netip.Addr
	var l4 int
	if p.IPVersion == 4 {
		if len(b) < ipv4MinHeader {
			p.fail(InvalidICMPQuote, off)
			return
		}
		ihl := int(b[0]&0x0f) * 4
		tl := int(binary.BigEndian.Uint16(b[2:]))
		if ihl < ipv4MinHeader || ihl > len(b) || tl < ihl {
			p.fail(InvalidICMPQuote, off)
			return
		}
		bad, final := ipv4Options(b[ipv4MinHeader:ihl])
		if bad >= 0 {
			p.fail(InvalidICMPQuote, off+ipv4MinHeader+bad)
			return
		}
		if final > 0 {
			q.pseudoDstOff = off + ipv4MinHeader + final
		}
		q.IPLen = tl
		q.Proto = ipproto.Proto(b[9])
		q.FragOff = (binary.BigEndian.Uint16(b[6:]) & 0x1fff) * 8
		src = netip.AddrFrom4([4]byte(b[12:16]))
		dst = netip.AddrFrom4([4]byte(b[16:20]))
		l4 = off + ihl
	} else {
		if len(b) < ipv6HeaderLen {
			p.fail(InvalidICMPQuote, off)
			return
		}
		var w v6Walk
		w.walk(p.Buf, off+ipv6HeaderLen, ipproto.Proto(b[6]))
		if w.invalid != Valid {
			p.fail(InvalidICMPQuote, w.invalidOff)
			return
		}
		q.IPLen = ipv6HeaderLen + int(binary.BigEndian.Uint16(b[4:]))
		q.Proto = w.proto
		q.FragOff = w.fragOff
		q.pseudoDstOff = w.pseudoDstOff
		src = netip.AddrFrom16([16]byte(b[8:24]))
		dst = netip.AddrFrom16([16]byte(b[24:40]))
		l4 = w.l4Off
	}
	q.L3Off = off
	q.L4Off = l4
	q.IPVersion = p.IPVersion
	var sport, dport uint16
	t := p.Buf[l4:]
	if q.FragOff == 0 && len(t) >= 8 {
		switch q.Proto {
		case ipproto.TCP, ipproto.UDP, ipproto.UDPLite, ipproto.SCTP, ipproto.DCCP:
			// Every protocol with ports starts with them.
			q.HasL4 = true
			sport = binary.BigEndian.Uint16(t[0:])
			dport = binary.BigEndian.Uint16(t[2:])
			if q.Proto == ipproto.TCP {
				q.TCPSeq = binary.BigEndian.Uint32(t[4:])
			}
		case ipproto.ICMP, ipproto.ICMPv6:
			if (q.Proto == ipproto.ICMP) != (q.IPVersion == 4) {
				break
			}
			q.HasL4 = true
			q.ICMPType = t[0]
			q.ICMPCode = t[1]
			if icmpIsQuery(q.IPVersion, t[0]) {
				sport = binary.BigEndian.Uint16(t[4:])
				dport = sport
			} else if icmpIsError(q.IPVersion, q.Proto, t[0]) {
				p.Anomalies |= AnomalyICMPErrorAboutError
			}
		}
	}
	q.Src = netip.AddrPortFrom(src, sport)
	q.Dst = netip.AddrPortFrom(dst, dport)
}
