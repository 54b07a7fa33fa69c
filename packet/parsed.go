package packet

import (
	"encoding/binary"
	"net/netip"

	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ipproto"
)

// EtherTypes the decoder understands.
const (
	EtherTypeIPv4 uint16 = 0x0800
	EtherTypeARP  uint16 = 0x0806
	EtherTypeVLAN uint16 = 0x8100 // 802.1Q customer tag
	EtherTypeQinQ uint16 = 0x88a8 // 802.1ad service tag
	EtherTypeIPv6 uint16 = 0x86dd
)

// MaxIPv6ExtHeaders bounds the IPv6 extension header chain. RFC 8200 allows
// any number, but real traffic carries at most a few, and long chains exist
// to push the transport header out of a middlebox's sight (RFC 7112).
const MaxIPv6ExtHeaders = 8

const (
	ethHeaderLen  = 14
	vlanTagLen    = 4
	arpLen        = 28
	ipv4MinHeader = 20
	ipv6HeaderLen = 40
	tcpMinHeader  = 20
	udpHeaderLen  = 8
	icmpHeaderLen = 8
	maxIPLen      = 65535
)

// TCPFlags holds the flag bits of TCP header byte 13.
type TCPFlags uint8

// TCP flag bits.
const (
	TCPFIN TCPFlags = 1 << iota
	TCPSYN
	TCPRST
	TCPPSH
	TCPACK
	TCPURG
	TCPECE
	TCPCWR
)

// String lists the set flags in header order, e.g. "SYN|ACK", or "none".
func (f TCPFlags) String() string {
	if f == 0 {
		return "none"
	}
	const names = "FINSYNRSTPSHACKURGECECWR"
	var buf [8 * 4]byte
	n := 0
	for i := 0; i < 8; i++ {
		if f&(1<<i) == 0 {
			continue
		}
		if n > 0 {
			buf[n] = '|'
			n++
		}
		n += copy(buf[n:], names[i*3:i*3+3])
	}
	return string(buf[:n])
}

// VLANTag is one 802.1Q or 802.1ad tag.
type VLANTag struct {
	TPID uint16 // EtherTypeVLAN or EtherTypeQinQ
	TCI  uint16
}

// ID returns the 12-bit VLAN identifier.
func (t VLANTag) ID() uint16 { return t.TCI & 0x0fff }

// Priority returns the 3-bit priority code point.
func (t VLANTag) Priority() uint8 { return uint8(t.TCI >> 13) }

// DropEligible reports the drop eligible indicator bit.
func (t VLANTag) DropEligible() bool { return t.TCI&0x1000 != 0 }

// ARP is an ARP message for IPv4 over Ethernet, the only kind decoded.
type ARP struct {
	Op       uint16 // 1 request, 2 reply
	SenderHW [6]byte
	SenderIP netip.Addr
	TargetHW [6]byte
	TargetIP netip.Addr
}

// TCPOptionSet records which TCP options a segment carried.
type TCPOptionSet uint8

// TCP options decoded into TCPOptions.
const (
	TCPOptMSS TCPOptionSet = 1 << iota
	TCPOptWScale
	TCPOptSACKPermitted
	TCPOptSACK
	TCPOptTimestamps
	TCPOptOther // any option kind not listed above
)

// SACKBlock is one selective acknowledgement range [Left, Right).
type SACKBlock struct {
	Left, Right uint32
}

// TCPOptions holds the decoded TCP options. A field is meaningful only when
// its bit is in Has; when an option appears twice the last one wins, as in
// common stacks.
type TCPOptions struct {
	Has          TCPOptionSet
	MSS          uint16
	WScale       uint8
	TSval, TSecr uint32
	NumSACK      uint8
	SACK         [4]SACKBlock
}

// Quoted describes the IP packet quoted inside an ICMP error: the packet
// the reporting node received, so its Src is the local end of the flow.
// It is decoded one level deep only; a quoted ICMP error is not descended
// into.
type Quoted struct {
	L3Off, L4Off int           // offsets in Parsed.Buf; L3Off is 0 when there is no quote
	IPVersion    uint8         // 4 or 6, always the outer packet's version
	Proto        ipproto.Proto // upper-layer protocol after IPv6 extension headers
	Src, Dst     netip.AddrPort
	IPLen        int    // total length the quoted header claims, usually more than is quoted
	FragOff      uint16 // fragment offset in bytes; a non-zero offset means no L4 header
	HasL4        bool   // at least 8 bytes of the transport header are quoted
	TCPSeq       uint32 // when Proto is TCP and HasL4
	ICMPType     uint8  // when Proto is ICMP/ICMPv6 and HasL4
	ICMPCode     uint8
	pseudoDstOff int // see Parsed.pseudoDstOff
}

// Parsed is a decoded frame. It refers to the frame's bytes rather than
// copying them, is meant to be reused for every packet, and is overwritten
// completely by each Decode or DecodeIP.
//
// Ports: Src and Dst carry the ports of TCP, UDP, UDP-Lite, SCTP and
// DCCP (ipproto.Proto.HasPorts); the rest of the last three's headers is
// read on demand (SCTP, DCCP, UDPLiteCoverage), so that a Parsed is no
// larger, and no slower to clear, for the TCP and UDP that make up most
// traffic. For ICMP queries (echo,
// and the ICMPv4 timestamp, information and address mask messages) both
// carry the query identifier, which is what pairs a request with its
// reply (the convention of package flow, so that Flow serves them
// unchanged); otherwise they are 0.
type Parsed struct {
	// Buf is the decoded frame, trimmed of Ethernet padding and of any
	// bytes beyond the length the IP header claims.
	Buf []byte

	Invalid    Invalid // Valid unless decoding found a malformation
	InvalidOff int     // offset in Buf of the malformed header, field or option
	Anomalies  Anomaly

	// Link layer, present only after Decode.
	HasEthernet    bool
	EthDst, EthSrc [6]byte
	VLAN           [2]VLANTag // outermost first
	NumVLAN        uint8
	EtherType      uint16 // after the VLAN tags
	ARP            ARP    // when EtherType is EtherTypeARP

	// Network layer.
	L3Off       int
	IPVersion   uint8         // 4 or 6; 0 when the frame is not IP
	Proto       ipproto.Proto // upper-layer protocol after IPv6 extension headers
	Src, Dst    netip.AddrPort
	TTL         uint8  // IPv4 TTL or IPv6 hop limit
	TOS         uint8  // IPv4 TOS or IPv6 traffic class
	FlowLabel   uint32 // IPv6 only
	IPID        uint16 // IPv4 identification
	IPLen       int    // IP packet length, header included
	IPHeaderLen int    // IPv4 IHL*4, or IPv6 40 plus extension headers
	IPOptions   bool   // IPv4 options or IPv6 extension headers present
	NumExt      uint8  // number of IPv6 extension headers

	// Fragmentation, for IPv4 and the IPv6 Fragment header. An IPv6 atomic
	// fragment (offset 0, no more fragments) is not a fragment, but its
	// identification is still reported in FragID.
	FragOff         uint16 // offset of this fragment in bytes
	FragID          uint32
	MoreFragments   bool
	DontFragment    bool // IPv4 DF
	IsFragment      bool
	IsFirstFragment bool

	// Transport layer. HasL4 says the header at L4Off was decoded; it is
	// false for non-first fragments and for protocols not decoded here.
	L4Off      int
	HasL4      bool
	TCPSeq     uint32
	TCPAck     uint32
	TCPFlags   TCPFlags
	TCPWindow  uint16
	TCPDataOff uint8 // header length in 32-bit words
	TCPUrgent  uint16
	TCPOpts    TCPOptions
	UDPLen     uint16
	ICMPType   uint8
	ICMPCode   uint8
	ICMPID     uint16 // for ICMP queries
	ICMPSeq    uint16 // for ICMP queries
	ICMPRest   uint32 // bytes 4-7 of the ICMP header: MTU, pointer, gateway...
	Quote      Quoted // for ICMP errors

	// PayloadOff and PayloadLen locate the transport payload (or, for a
	// non-first fragment or an undecoded protocol, everything after the
	// IP headers).
	PayloadOff int
	PayloadLen int

	// pseudoDstOff is the offset of the address the transport
	// pseudo-header must use as destination while a source route (IPv4
	// LSRR/SSRR, IPv6 routing header with segments left) names a final
	// destination other than Dst (RFC 1122 4.1.3.4, RFC 8200 8.1); 0
	// means Dst.
	pseudoDstOff int
}

// Decode decodes an Ethernet II frame, without FCS, into p.
func (p *Parsed) Decode(frame []byte) {
	*p = Parsed{Buf: frame, HasEthernet: true}
	if len(frame) < ethHeaderLen {
		p.fail(InvalidEthernetTruncated, 0)
		return
	}
	copy(p.EthDst[:], frame[0:6])
	copy(p.EthSrc[:], frame[6:12])
	et := binary.BigEndian.Uint16(frame[12:])
	off := ethHeaderLen
	for et == EtherTypeVLAN || et == EtherTypeQinQ {
		if p.NumVLAN == uint8(len(p.VLAN)) {
			p.fail(InvalidVLANTooMany, off-2)
			return
		}
		if len(frame) < off+vlanTagLen {
			p.fail(InvalidVLANTruncated, off)
			return
		}
		p.VLAN[p.NumVLAN] = VLANTag{TPID: et, TCI: binary.BigEndian.Uint16(frame[off:])}
		p.NumVLAN++
		et = binary.BigEndian.Uint16(frame[off+2:])
		off += vlanTagLen
	}
	p.EtherType = et
	p.L3Off = off
	p.L4Off = off
	p.PayloadOff = off
	switch et {
	case EtherTypeIPv4:
		p.decodeIPv4(off, true)
	case EtherTypeIPv6:
		p.decodeIPv6(off, true)
	case EtherTypeARP:
		p.decodeARP(off)
	default:
		p.PayloadLen = len(frame) - off
	}
}

// DecodeIP decodes a raw IPv4 or IPv6 packet, as found in LINKTYPE_RAW
// captures or after a tunnel header, into p.
func (p *Parsed) DecodeIP(b []byte) {
	*p = Parsed{Buf: b}
	if len(b) == 0 {
		p.fail(InvalidIPv4Truncated, 0)
		return
	}
	switch b[0] >> 4 {
	case 4:
		p.EtherType = EtherTypeIPv4
		p.decodeIPv4(0, false)
	case 6:
		p.EtherType = EtherTypeIPv6
		p.decodeIPv6(0, false)
	default:
		p.fail(InvalidIPVersion, 0)
	}
}

// Err returns nil for a valid packet and a DecodeError otherwise. It
// allocates, so it belongs on the logging path, not the packet path.
func (p *Parsed) Err() error {
	if p.Invalid == Valid {
		return nil
	}
	return DecodeError{Reason: p.Invalid, Offset: p.InvalidOff}
}

// Flow returns the flow key of p, with the conventions of package flow
// (for an ICMP query both ports hold the identifier). It is the zero Key
// when p is not IP.
func (p *Parsed) Flow() flow.Key {
	if p.IPVersion == 0 {
		return flow.Key{}
	}
	return flow.Key{Src: p.Src, Dst: p.Dst, Proto: p.Proto}
}

// Flow returns the flow key of the quoted packet as that packet
// travelled, or the zero Key when there is no quote.
func (q *Quoted) Flow() flow.Key {
	if q.L3Off == 0 {
		return flow.Key{}
	}
	return flow.Key{Src: q.Src, Dst: q.Dst, Proto: q.Proto}
}

// IsICMPError reports whether p is an ICMPv4 or ICMPv6 error message, the
// kind that quotes the packet it reports on.
func (p *Parsed) IsICMPError() bool {
	return p.HasL4 && icmpIsError(p.IPVersion, p.Proto, p.ICMPType)
}

func (p *Parsed) fail(r Invalid, off int) {
	if p.Invalid == Valid {
		p.Invalid = r
		p.InvalidOff = off
	}
}

func (p *Parsed) decodeARP(off int) {
	b := p.Buf
	if len(b)-off < arpLen {
		p.fail(InvalidARPTruncated, off)
		return
	}
	h := b[off : off+arpLen]
	if binary.BigEndian.Uint16(h[0:]) != 1 || binary.BigEndian.Uint16(h[2:]) != EtherTypeIPv4 || h[4] != 6 || h[5] != 4 {
		p.fail(InvalidARPFormat, off)
		return
	}
	p.Buf = b[:off+arpLen]
	p.ARP.Op = binary.BigEndian.Uint16(h[6:])
	copy(p.ARP.SenderHW[:], h[8:14])
	p.ARP.SenderIP = netip.AddrFrom4([4]byte(h[14:18]))
	copy(p.ARP.TargetHW[:], h[18:24])
	p.ARP.TargetIP = netip.AddrFrom4([4]byte(h[24:28]))
	p.L4Off = off + arpLen
	p.PayloadOff = p.L4Off
}

func (p *Parsed) decodeIPv4(off int, checkVersion bool) {
	b := p.Buf
	if len(b)-off < ipv4MinHeader {
		p.fail(InvalidIPv4Truncated, off)
		return
	}
	h := b[off:]
	if checkVersion && h[0]>>4 != 4 {
		p.fail(InvalidIPVersion, off)
		return
	}
	ihl := int(h[0]&0x0f) * 4
	if ihl < ipv4MinHeader || ihl > len(h) {
		p.fail(InvalidIPv4HeaderLen, off)
		return
	}
	tl := int(binary.BigEndian.Uint16(h[2:]))
	if tl < ihl {
		p.fail(InvalidIPTotalLen, off+2)
		return
	}
	if tl > len(h) {
		p.fail(InvalidIPTruncated, off+2)
		return
	}
	p.Buf = b[:off+tl]
	h = h[:tl]
	p.IPVersion = 4
	p.TOS = h[1]
	p.IPLen = tl
	p.IPHeaderLen = ihl
	p.IPID = binary.BigEndian.Uint16(h[4:])
	p.TTL = h[8]
	p.Proto = ipproto.Proto(h[9])
	p.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(h[12:16])), 0)
	p.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(h[16:20])), 0)
	p.L4Off = off + ihl
	p.PayloadOff = p.L4Off
	p.PayloadLen = tl - ihl
	if ihl > ipv4MinHeader {
		p.IPOptions = true
		bad, final := ipv4Options(h[ipv4MinHeader:ihl])
		if bad >= 0 {
			p.fail(InvalidIPv4Options, off+ipv4MinHeader+bad)
			return
		}
		if final >= 0 {
			p.Anomalies |= AnomalySourceRoute
			if final > 0 {
				p.pseudoDstOff = off + ipv4MinHeader + final
			}
		}
	}

	ff := binary.BigEndian.Uint16(h[6:])
	if ff&0x8000 != 0 {
		p.Anomalies |= AnomalyIPv4EvilBit
	}
	p.DontFragment = ff&0x4000 != 0
	p.MoreFragments = ff&0x2000 != 0
	p.FragOff = (ff & 0x1fff) * 8
	p.FragID = uint32(p.IPID)
	if p.MoreFragments || p.FragOff != 0 {
		p.IsFragment = true
		p.IsFirstFragment = p.FragOff == 0
		// Reassembled, even behind a minimal header, this fragment would
		// end past the largest datagram: the ping of death.
		if int(p.FragOff)+p.PayloadLen+ipv4MinHeader > maxIPLen {
			p.fail(InvalidFragmentOverflow, off+6)
			return
		}
		// RFC 791: every fragment but the last carries a multiple of 8
		// bytes; anything else is crafted to confuse reassembly.
		if p.MoreFragments && p.PayloadLen%8 != 0 {
			p.fail(InvalidFragmentSize, off+2)
			return
		}
		if p.Proto == ipproto.TCP && p.FragOff == 8 {
			p.Anomalies |= AnomalyTCPFragOffset1
		}
	}
	p.decodeL4()
}

// ipv4Options walks the option area o. It returns the offset in o of the
// first malformed option, or -1; and for a source route option (LSRR,
// SSRR) the offset in o of the final destination while the route is not
// used up, 0 once it is, or -1 without a source route. The transport
// pseudo-header covers that final destination (RFC 1122 3.2.1.8, 4.1.3.4).
func ipv4Options(o []byte) (bad, final int) {
	final = -1
	for i := 0; i < len(o); {
		switch o[i] {
		case 0: // end of option list: the rest is padding
			return -1, final
		case 1: // no operation
			i++
			continue
		}
		if i+1 >= len(o) {
			return i, final
		}
		l := int(o[i+1])
		if l < 2 || i+l > len(o) {
			return i, final
		}
		if t := o[i]; t == 131 || t == 137 {
			// The pointer counts from the option type and passes the
			// option's length once every address has been visited.
			final = 0
			if l >= 7 && int(o[i+2]) <= l {
				final = i + l - 4
			}
		}
		i += l
	}
	return -1, final
}

func (p *Parsed) decodeIPv6(off int, checkVersion bool) {
	b := p.Buf
	if len(b)-off < ipv6HeaderLen {
		p.fail(InvalidIPv6Truncated, off)
		return
	}
	h := b[off:]
	if checkVersion && h[0]>>4 != 6 {
		p.fail(InvalidIPVersion, off)
		return
	}
	tl := ipv6HeaderLen + int(binary.BigEndian.Uint16(h[4:]))
	if tl > len(h) {
		p.fail(InvalidIPTruncated, off+4)
		return
	}
	p.Buf = b[:off+tl]
	p.IPVersion = 6
	p.TOS = uint8(binary.BigEndian.Uint16(h[0:]) >> 4)
	p.FlowLabel = binary.BigEndian.Uint32(h[0:]) & 0x000fffff
	p.IPLen = tl
	p.TTL = h[7]
	p.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(h[8:24])), 0)
	p.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(h[24:40])), 0)

	var w v6Walk
	w.walk(p.Buf, off+ipv6HeaderLen, ipproto.Proto(h[6]))
	p.NumExt = w.numExt
	p.IPOptions = w.numExt > 0
	p.Proto = w.proto
	p.L4Off = w.l4Off
	p.IPHeaderLen = w.l4Off - off
	p.PayloadOff = w.l4Off
	p.PayloadLen = len(p.Buf) - w.l4Off
	p.pseudoDstOff = w.pseudoDstOff
	p.Anomalies |= w.anomalies
	if w.hasFrag {
		p.FragID = w.fragID
		p.FragOff = w.fragOff
		p.MoreFragments = w.more
		p.IsFragment = w.more || w.fragOff != 0
		p.IsFirstFragment = p.IsFragment && w.fragOff == 0
	}
	if w.invalid != Valid {
		// RFC 7112: the whole header chain must be in the first fragment;
		// if it is not, the packet is a tiny fragment, not a truncated one.
		if w.invalid == InvalidIPv6ExtTruncated && p.IsFirstFragment {
			p.fail(InvalidTinyFragment, w.invalidOff)
		} else {
			p.fail(w.invalid, w.invalidOff)
		}
		return
	}
	if p.IsFragment {
		dataLen := len(p.Buf) - w.fragEnd
		// RFC 8200 4.5: offset plus fragment length beyond 65535 is a
		// parameter problem.
		if int(w.fragOff)+dataLen > maxIPLen {
			p.fail(InvalidFragmentOverflow, w.fragEnd-6)
			return
		}
		if w.more && dataLen%8 != 0 {
			p.fail(InvalidFragmentSize, off+4)
			return
		}
		if p.Proto == ipproto.TCP && w.fragOff == 8 {
			p.Anomalies |= AnomalyTCPFragOffset1
		}
	}
	p.decodeL4()
}

// v6Walk is the result of walking an IPv6 extension header chain.
type v6Walk struct {
	proto        ipproto.Proto
	numExt       uint8
	l4Off        int
	hasFrag      bool
	more         bool
	fragOff      uint16
	fragID       uint32
	fragEnd      int // offset just past the Fragment header
	pseudoDstOff int
	anomalies    Anomaly
	invalid      Invalid
	invalidOff   int
}

// walk follows the extension headers of the IPv6 packet in b whose first
// header after the fixed one starts at off with type next. It stops at the
// upper-layer header, at ESP (whose contents are opaque), or at the data of
// a non-first fragment, which holds no headers.
func (w *v6Walk) walk(b []byte, off int, next ipproto.Proto) {
	var seenRouting bool
	for {
		// Where the walk stops, invalid or not, is what Proto and L4Off
		// report.
		w.proto = next
		w.l4Off = off
		var l int
		switch next {
		case ipproto.HopByHop, ipproto.Routing, ipproto.DestOpts, ipproto.Mobility, ipproto.HIP, ipproto.Shim6, 253, 254:
			// Hop-by-Hop, Routing, Destination Options, Mobility, HIP,
			// Shim6 and the experimental types share one length format.
			if next == ipproto.HopByHop && w.numExt > 0 {
				w.fail(InvalidIPv6ExtOrder, off)
				return
			}
			if len(b)-off < 8 {
				w.fail(InvalidIPv6ExtTruncated, off)
				return
			}
			l = (int(b[off+1]) + 1) * 8
			if len(b)-off < l {
				w.fail(InvalidIPv6ExtTruncated, off)
				return
			}
			if next == ipproto.Routing {
				if seenRouting {
					w.fail(InvalidIPv6ExtOrder, off)
					return
				}
				seenRouting = true
				w.routing(b[off:off+l], off)
			}
		case ipproto.AH:
			// RFC 4302: length in 32-bit words minus 2.
			if len(b)-off < 8 {
				w.fail(InvalidIPv6ExtTruncated, off)
				return
			}
			l = (int(b[off+1]) + 2) * 4
			if len(b)-off < l {
				w.fail(InvalidIPv6ExtTruncated, off)
				return
			}
		case ipproto.Fragment:
			if w.hasFrag {
				w.fail(InvalidIPv6ExtOrder, off)
				return
			}
			if len(b)-off < 8 {
				w.fail(InvalidIPv6ExtTruncated, off)
				return
			}
			l = 8
			fo := binary.BigEndian.Uint16(b[off+2:])
			w.hasFrag = true
			w.fragOff = fo &^ 7
			w.more = fo&1 != 0
			w.fragID = binary.BigEndian.Uint32(b[off+4:])
			w.fragEnd = off + 8
		default:
			return
		}
		if w.numExt == MaxIPv6ExtHeaders {
			w.fail(InvalidIPv6ExtTooMany, off)
			return
		}
		w.numExt++
		next = ipproto.Proto(b[off])
		off += l
		if w.hasFrag && w.fragOff != 0 && off == w.fragEnd {
			// A non-first fragment: what follows is a slice of the
			// original payload, whose first header type the Fragment
			// header names.
			w.proto = next
			w.l4Off = off
			return
		}
	}
}

// routing records what a routing header means for the checksum and for
// policy. h is the whole header, at offset off.
func (w *v6Walk) routing(h []byte, off int) {
	typ, segLeft := h[2], h[3]
	if typ == 0 {
		w.anomalies |= AnomalySourceRoute
	}
	if segLeft == 0 {
		return
	}
	if typ == 4 {
		// A node with segment routing on (Linux's seg6_enabled) sends
		// the packet on to the next segment: the outer destination,
		// which the policy judged, is not where it ends up.
		w.anomalies |= AnomalySegmentRouting
	}
	n := (len(h) - 8) / 16
	if n == 0 {
		return
	}
	switch typ {
	case 0, 2: // the final destination is the last address
		w.pseudoDstOff = off + 8 + (n-1)*16
	case 4: // segment routing: the final segment is listed first
		w.pseudoDstOff = off + 8
	}
}

func (w *v6Walk) fail(r Invalid, off int) {
	w.invalid = r
	w.invalidOff = off
}
