package defrag

import (
	"encoding/binary"
	"net/netip"

	"github.com/rampart-fw/rampart/ipproto"
)

const (
	ipv4MinHeader = 20
	ipv6Header    = 40
	fragHeaderLen = 8
	maxIPLen      = 65535
	// maxExtHeaders bounds the IPv6 extension headers walked, in the
	// unfragmentable part and in the first fragment's payload alike.
	maxExtHeaders = 8
)

// fragment is what one fragment says about itself, read from its IP
// header.
type fragment struct {
	key  Key
	v6   bool
	more bool
	// start and end place data in the datagram's fragmentable part.
	start, end int
	// hdrLen is the length of what precedes the data in the IP packet:
	// the IPv4 header, or the IPv6 unfragmentable part and the Fragment
	// header.
	hdrLen int
	// IPv6: unfrag is the length of the unfragmentable part (the fixed
	// header and the extension headers before the Fragment header), nhOff
	// the offset of the next-header byte that names the Fragment header,
	// and next the Fragment header's next-header value.
	unfrag int
	nhOff  int
	next   uint8
	data   []byte
	// ipLen is the IP packet's length as its header says: what follows
	// is link-layer padding, not part of the fragment.
	ipLen int
}

// parse reads the fragment fields of the IP packet ip. It returns
// ok=false with KindNone for a packet that is not a fragment (including an
// IPv6 atomic fragment, which RFC 6946 says to process on its own), and
// KindMalformed for one whose header is unusable.
func parse(ip []byte, zone uint32) (f fragment, kind Kind, ok bool) {
	if len(ip) == 0 {
		return f, KindMalformed, false
	}
	switch ip[0] >> 4 {
	case 4:
		return parse4(ip, zone)
	case 6:
		return parse6(ip, zone)
	}
	return f, KindMalformed, false
}

func parse4(ip []byte, zone uint32) (f fragment, kind Kind, ok bool) {
	if len(ip) < ipv4MinHeader {
		return f, KindMalformed, false
	}
	ihl := int(ip[0]&0x0f) * 4
	tl := int(binary.BigEndian.Uint16(ip[2:]))
	if ihl < ipv4MinHeader || tl < ihl || tl > len(ip) {
		return f, KindMalformed, false
	}
	ff := binary.BigEndian.Uint16(ip[6:])
	f.more = ff&0x2000 != 0
	f.start = int(ff&0x1fff) * 8
	if !f.more && f.start == 0 {
		return f, KindNone, false
	}
	f.key = Key{
		Src:   netip.AddrFrom4([4]byte(ip[12:16])),
		Dst:   netip.AddrFrom4([4]byte(ip[16:20])),
		ID:    uint32(binary.BigEndian.Uint16(ip[4:])),
		Proto: ipproto.Proto(ip[9]),
		Zone:  zone,
	}
	f.hdrLen = ihl
	f.next = ip[9]
	f.data = ip[ihl:tl]
	f.end = f.start + len(f.data)
	f.ipLen = tl
	return f, KindNone, true
}

func parse6(ip []byte, zone uint32) (f fragment, kind Kind, ok bool) {
	if len(ip) < ipv6Header {
		return f, KindMalformed, false
	}
	pl := int(binary.BigEndian.Uint16(ip[4:]))
	if pl == 0 {
		// A jumbogram (RFC 2675) or an empty packet: neither is fragmented.
		return f, KindNone, false
	}
	tl := ipv6Header + pl
	if tl > len(ip) {
		return f, KindMalformed, false
	}
	ip = ip[:tl]
	next, off, nhOff := ip[6], ipv6Header, 6
	for range maxExtHeaders {
		switch ipproto.Proto(next) {
		case ipproto.Fragment:
			if off+fragHeaderLen > tl {
				return f, KindMalformed, false
			}
			fo := binary.BigEndian.Uint16(ip[off+2:])
			f.more = fo&1 != 0
			f.start = int(fo &^ 7)
			if !f.more && f.start == 0 {
				return f, KindNone, false // atomic fragment
			}
			f.v6 = true
			f.key = Key{
				Src:  netip.AddrFrom16([16]byte(ip[8:24])),
				Dst:  netip.AddrFrom16([16]byte(ip[24:40])),
				ID:   binary.BigEndian.Uint32(ip[off+4:]),
				Zone: zone,
			}
			f.unfrag = off
			f.nhOff = nhOff
			f.next = ip[off]
			f.hdrLen = off + fragHeaderLen
			f.data = ip[f.hdrLen:]
			f.end = f.start + len(f.data)
			f.ipLen = tl
			return f, KindNone, true
		case ipproto.HopByHop, ipproto.Routing, ipproto.DestOpts:
			// The unfragmentable part (RFC 8200 4.5): Hop-by-Hop, Routing
			// and the Destination Options meant for the routers on the way.
			if off+8 > tl {
				return f, KindMalformed, false
			}
			l := (int(ip[off+1]) + 1) * 8
			if off+l > tl {
				return f, KindMalformed, false
			}
			next, nhOff, off = ip[off], off, off+l
		default:
			return f, KindNone, false
		}
	}
	return f, KindNone, false
}

// tinyFirst reports whether the data of a first fragment (offset 0) stops
// inside the headers it begins: for IPv6, the extension headers after the
// Fragment header and then the transport header must all be there (RFC
// 7112); for both, the transport header's fixed part (RFC 1858).
func tinyFirst(next uint8, data []byte, v6 bool) bool {
	off := 0
	if v6 {
		for range maxExtHeaders {
			var l int
			switch ipproto.Proto(next) {
			case ipproto.HopByHop, ipproto.Routing, ipproto.DestOpts, ipproto.Mobility, ipproto.HIP, ipproto.Shim6, 253, 254:
				if off+8 > len(data) {
					return true
				}
				l = (int(data[off+1]) + 1) * 8
			case ipproto.AH:
				if off+8 > len(data) {
					return true
				}
				l = (int(data[off+1]) + 2) * 4
			default:
				return off+minTransport(next, v6) > len(data)
			}
			if off+l > len(data) {
				return true
			}
			next, off = data[off], off+l
		}
		return false
	}
	return minTransport(next, v6) > len(data)
}

// minTransport is the fixed part of a transport header: what a filter
// must see in the first fragment to judge the packet.
func minTransport(proto uint8, v6 bool) int {
	switch ipproto.Proto(proto) {
	case ipproto.TCP:
		return 20
	case ipproto.UDP, ipproto.UDPLite:
		return 8
	case ipproto.SCTP:
		return 12
	case ipproto.ICMP:
		if !v6 {
			return 8
		}
	case ipproto.ICMPv6:
		if v6 {
			return 8
		}
	}
	return 0
}
