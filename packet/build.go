package packet

import (
	"crypto/rand"
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/rampart-fw/rampart/ipproto"
)

// Unreachable names the reason carried by an ICMP destination unreachable,
// independent of the IP version.
type Unreachable uint8

// Unreachable reasons and the codes they become.
const (
	UnreachableNet   Unreachable = iota // ICMPv4 code 0 net unreachable; ICMPv6 code 0 no route
	UnreachableHost                     // ICMPv4 code 1 host unreachable; ICMPv6 code 3 address unreachable
	UnreachablePort                     // ICMPv4 code 3; ICMPv6 code 4 port unreachable
	UnreachableAdmin                    // ICMPv4 code 13; ICMPv6 code 1 administratively prohibited
	// UnreachableProtocol is ICMPv4 code 2; IPv6 has no such code and
	// says it with a parameter problem (type 4) code 1, unrecognised next
	// header, pointing at the field that names the protocol (RFC 8200 4).
	UnreachableProtocol
	numUnreachable
)

var (
	unreachableV4 = [numUnreachable]uint8{0, 1, 3, 13, 2}
	unreachableV6 = [numUnreachable]uint8{0, 3, 4, 1, 1}
)

const (
	// replyTTL is the TTL or hop limit of packets built here: the common
	// default of Linux and BSD stacks, so that replies do not stand out.
	replyTTL = 64
	// The largest ICMP errors: RFC 1812 4.3.2.3 and RFC 4443 2.4(c).
	maxICMPv4Error = 576
	maxICMPv6Error = 1280
)

// AppendTCPReset appends to dst the TCP RST that answers the segment p,
// following RFC 793 (RFC 9293 3.10.7.1): if p has ACK the reset takes its
// sequence number from p's acknowledgement, otherwise it has sequence 0
// and acknowledges everything p occupied. Ethernet addresses are swapped
// and VLAN tags kept when p was decoded from a frame; without Ethernet the
// reset is a raw IP packet. The reset comes from p's destination.
//
// It returns dst unchanged when p must not be answered: p is invalid, not
// TCP, a non-first fragment, itself a reset, still on a source route, or
// its addresses are not those of one host (multicast, broadcast,
// unspecified, loopback).
// Nothing is allocated when dst has the capacity.
func AppendTCPReset(dst []byte, p *Parsed) []byte {
	if !p.answerable() || p.Proto != ipproto.TCP || !p.HasL4 || p.TCPFlags&TCPRST != 0 {
		return dst
	}
	var seq, ack uint32
	flags := TCPRST
	if p.TCPFlags&TCPACK != 0 {
		seq = p.TCPAck
	} else {
		n := uint32(p.PayloadLen)
		if p.TCPFlags&TCPSYN != 0 {
			n++
		}
		if p.TCPFlags&TCPFIN != 0 {
			n++
		}
		ack = p.TCPSeq + n
		flags |= TCPACK
	}
	dst, l4 := p.appendReplyHeaders(dst, ipproto.TCP, tcpMinHeader, true)
	t := dst[l4:]
	binary.BigEndian.PutUint16(t[0:], p.Dst.Port())
	binary.BigEndian.PutUint16(t[2:], p.Src.Port())
	binary.BigEndian.PutUint32(t[4:], seq)
	binary.BigEndian.PutUint32(t[8:], ack)
	t[12] = 5 << 4
	t[13] = byte(flags)
	c := Checksum(t, PseudoHeaderChecksum(ipproto.TCP, p.Dst.Addr(), p.Src.Addr(), tcpMinHeader))
	binary.BigEndian.PutUint16(t[16:], c)
	return dst
}

// AppendICMPUnreachable appends to dst an ICMPv4 or ICMPv6 destination
// unreachable for p, with the reason code, quoting as much of p's IP
// packet as fits in 576 bytes (IPv4) or 1280 bytes (IPv6). Link layer and
// source address are chosen as for AppendTCPReset.
//
// It returns dst unchanged when RFC 1122 3.2.2 and RFC 4443 2.4(e) forbid
// an error: p is invalid, an ICMP error, a non-first fragment, sent to a
// multicast or broadcast address (IP or Ethernet), or from an address that
// is not one host's; and when code is unknown.
func AppendICMPUnreachable(dst []byte, p *Parsed, code Unreachable) []byte {
	return AppendICMPUnreachableFrom(dst, p, p.Dst.Addr(), code)
}

// answerable reports whether p may be answered at all: a valid IP packet,
// not a non-first fragment, from and to a single host.
func (p *Parsed) answerable() bool {
	if p.Invalid != Valid || p.IPVersion == 0 || (p.IsFragment && !p.IsFirstFragment) {
		return false
	}
	// A packet still on its source route is not addressed to the host
	// that would answer it.
	if p.pseudoDstOff != 0 {
		return false
	}
	// The group bit marks multicast and broadcast Ethernet addresses.
	if p.HasEthernet && (p.EthDst[0]&1 != 0 || p.EthSrc[0]&1 != 0) {
		return false
	}
	src, dst := p.Src.Addr(), p.Dst.Addr()
	return oneHost(src) && oneHost(dst)
}

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

func oneHost(a netip.Addr) bool {
	return !a.IsUnspecified() && !a.IsMulticast() && !a.IsLoopback() && a != limitedBroadcast
}

// appendReplyHeaders appends the link and IP headers of a packet from p's
// destination to p's source carrying l4Len bytes of protocol proto, zeroes
// those bytes, and returns the grown slice and where they start.
func (p *Parsed) appendReplyHeaders(dst []byte, proto ipproto.Proto, l4Len int, df bool) ([]byte, int) {
	return p.appendReplyHeadersFrom(dst, p.Dst.Addr(), proto, l4Len, df)
}

// appendReplyHeadersFrom is appendReplyHeaders from the address from: a
// router answers with its own address, not the one p was sent to. The
// Ethernet addresses are p's swapped, so the answer goes back to the
// neighbour that handed p over, whoever its source claims to be.
func (p *Parsed) appendReplyHeadersFrom(dst []byte, from netip.Addr, proto ipproto.Proto, l4Len int, df bool) ([]byte, int) {
	var eth *linkHeader
	var lh linkHeader
	if p.HasEthernet {
		lh = linkHeader{dst: p.EthSrc, src: p.EthDst, vlan: p.VLAN, nvlan: p.NumVLAN}
		eth = &lh
	}
	return appendHeaders(dst, eth, from, p.Src.Addr(), proto, l4Len, replyTTL, df)
}

// appendHeaders appends the link and IP headers of a packet carrying l4Len
// bytes of protocol proto, zeroes those bytes, and returns the grown slice
// and where they start. The packet goes back from p's destination to p's
// source (reply), with the Ethernet addresses swapped, or onward from p's
// source to p's destination with p's own Ethernet addresses (a SYN proxy
// speaking for the client); VLAN tags are kept either way.
func (p *Parsed) appendHeaders(dst []byte, reply bool, proto ipproto.Proto, l4Len int, df bool) ([]byte, int) {
	from, to := p.Src.Addr(), p.Dst.Addr()
	var eth *linkHeader
	var lh linkHeader
	if p.HasEthernet {
		lh = linkHeader{dst: p.EthDst, src: p.EthSrc, vlan: p.VLAN, nvlan: p.NumVLAN}
		eth = &lh
	}
	if reply {
		from, to = to, from
		lh.dst, lh.src = lh.src, lh.dst
	}
	return appendHeaders(dst, eth, from, to, proto, l4Len, replyTTL, df)
}

// linkHeader is the Ethernet header of a packet built here.
type linkHeader struct {
	dst, src [6]byte
	vlan     [2]VLANTag
	nvlan    uint8
}

// appendHeaders appends the Ethernet header eth (none when nil) and an
// IPv4 or IPv6 header from one address to another, of a packet that
// carries l4Len bytes of protocol proto with the given TTL or hop limit;
// zeroes those bytes, and returns the grown slice and where they start.
// An IPv4 header gets a random identification and DF as asked; an IPv6
// header traffic class and flow label zero.
func appendHeaders(dst []byte, eth *linkHeader, from, to netip.Addr, proto ipproto.Proto, l4Len int, ttl uint8, df bool) ([]byte, int) {
	link := 0
	if eth != nil {
		link = ethHeaderLen + vlanTagLen*int(eth.nvlan)
	}
	ipLen := ipv4MinHeader
	etherType := EtherTypeIPv4
	if !from.Is4() {
		ipLen, etherType = ipv6HeaderLen, EtherTypeIPv6
	}
	start := len(dst)
	total := link + ipLen + l4Len
	dst = slices.Grow(dst, total)[:start+total]
	b := dst[start:]
	clear(b)
	o := 0
	if eth != nil {
		copy(b[0:6], eth.dst[:])
		copy(b[6:12], eth.src[:])
		o = 12
		for _, t := range eth.vlan[:eth.nvlan] {
			binary.BigEndian.PutUint16(b[o:], t.TPID)
			binary.BigEndian.PutUint16(b[o+2:], t.TCI)
			o += vlanTagLen
		}
		binary.BigEndian.PutUint16(b[o:], etherType)
		o += 2
	}
	h := b[o : o+ipLen]
	if from.Is4() {
		h[0] = 0x45
		binary.BigEndian.PutUint16(h[2:], uint16(ipLen+l4Len))
		// The identification of an unfragmented datagram may be any
		// value (RFC 6864); a random one leaks no counter state.
		rand.Read(h[4:6])
		if df {
			h[6] = 0x40
		}
		h[8] = ttl
		h[9] = byte(proto)
		putAddr(h[12:], from)
		putAddr(h[16:], to)
		binary.BigEndian.PutUint16(h[10:], Checksum(h, 0))
	} else {
		h[0] = 0x60
		binary.BigEndian.PutUint16(h[4:], uint16(l4Len))
		h[6] = byte(proto)
		h[7] = ttl
		putAddr(h[8:], from)
		putAddr(h[24:], to)
	}
	return dst, start + o + ipLen
}
