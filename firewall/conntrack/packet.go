package conntrack

import (
	"encoding/binary"
	"net/netip"

	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// Packet is what the tracker needs to know about one packet. The gateway
// fills it from its decoded frame, in place, for every packet; nothing in
// it is retained by the table.
type Packet struct {
	// Flow is the packet's flow key, with package flow's conventions.
	// Both addresses IPv4 or both IPv6 (an IPv4-mapped IPv6 address counts
	// as IPv6); zones are ignored. The ports are read for the protocols
	// that have them (TCP, UDP, UDP-Lite, SCTP, DCCP) and ignored for the
	// rest, except that an ICMP or ICMPv6 query carries its identifier in
	// both, as package flow says; a query whose two ports differ is
	// Invalid.
	Flow flow.Key

	// TCP header fields.
	TCPFlags packet.TCPFlags
	Seq, Ack uint32
	Window   uint16 // raw, unscaled
	// WScale is the window scale option's shift count, -1 if the option
	// is absent. Only read on SYN segments; shifts above 14 count as 14
	// (RFC 7323).
	WScale int8
	// SACKPermitted: the SACK-permitted option is present (SYN only).
	SACKPermitted bool
	// HasSACK and SACKRight: the segment carries SACK blocks, SACKRight
	// being the highest right edge among them.
	HasSACK   bool
	SACKRight uint32
	// PayloadLen is the number of transport payload bytes (for TCP, after
	// the header and options).
	PayloadLen int

	// ICMP and ICMPv6 header fields (the query identifier is in Flow).
	ICMPType, ICMPCode uint8
	// IsICMPError says that the message is an ICMP error and Inner holds
	// the header it quotes. It must agree with ICMPType.
	IsICMPError bool
	Inner       Inner

	// SCTP is the decoder's summary of an SCTP packet (verification tag
	// and chunks, their lengths already checked); it must be set when
	// Flow.Proto is SCTP. A pointer, so that the Packet of every other
	// protocol stays small to clear.
	SCTP *packet.SCTPInfo
	// DCCP is the decoder's reading of a DCCP header; it must be set when
	// Flow.Proto is DCCP.
	DCCP *packet.DCCPInfo

	// Mark is an opaque value stored with the entry that Create makes from
	// this packet, like Linux's ctmark; Entry and Recheck report it. The
	// gateway records there which side a connection came from.
	Mark uint32

	// Splice, when set, is stored with the entry Create makes from this
	// packet (see Splice); Lookup ignores it.
	Splice *Splice

	// Side is the side the packet arrived on (see Side): part of the
	// entry's key, so a packet on the wrong side matches nothing.
	Side Side
	// Zone keeps apart flows that are otherwise the same, as Linux's
	// conntrack zones do: the gateway puts the frame's VLAN IDs here, so
	// that two VLANs on one trunk have separate state. An ICMP error's
	// quoted packet is looked up in the error's zone, and per-source
	// limits count a source per zone.
	Zone uint32

	// NAT, when set, receives the rewrite of a packet whose entry is
	// translated (Result.NAT says it was written); the table reads
	// nothing from it. Untranslated entries leave it alone.
	NAT *Rewrite
}

// Inner is the header quoted by an ICMP error: the packet, as its sender
// sent it, that caused the error.
type Inner struct {
	// Flow is the quoted packet's flow key, as it travelled (from its
	// sender to the host it was meant for), with the conventions of
	// Packet.Flow.
	Flow               flow.Key
	ICMPType, ICMPCode uint8 // when the quoted packet is an ICMP query
	// Seq is the quoted TCP sequence number. Every ICMP error quotes at
	// least the first 8 bytes of the transport header, so it is always
	// available for TCP; it is checked against the tracked window.
	Seq uint32
}

// Tuple names one direction of a tracked flow: its flow key and, for an
// ICMP or ICMPv6 query flow, the type and code of the messages that travel
// in that direction (the request's in the original tuple, the reply's in
// the reply tuple), which the flow key leaves out. They are zero for
// other protocols.
type Tuple struct {
	Flow               flow.Key
	ICMPType, ICMPCode uint8
}

// key is the table's form of a tuple: fixed size, comparable with ==, no
// pointers (so the entry slab is not scanned by the garbage collector).
// For ICMP queries sport holds the identifier and dport the type and code,
// so that the inverse of a request tuple is the reply tuple. Beyond the
// flow key it holds the zone (the VLAN IDs) and the side the packet of
// this direction arrives on: the inverse has the other side, so a reply
// matches only when it arrives on the other side from the original
// direction. set builds it from a flow key, tuple turns it back into one.
type key struct {
	src, dst     [16]byte
	sport, dport uint16
	proto        ipproto.Proto
	v4           bool
	side         Side
	zone         uint32
}

// set makes k the table's key of flow f, in zone, for a packet that
// arrives on side: the one place a flow key becomes one. f must be valid
// (flow.Key.IsValid); typ and code are the type and code of an ICMP query,
// and are ignored for every other protocol, as ports are for protocols
// without them. It fills k in place (the per-packet path builds it on the
// caller's stack).
func (k *key) set(f *flow.Key, typ, code uint8, zone uint32, side Side) {
	// Field by field rather than a composite literal, which the compiler
	// builds on the stack and copies.
	src, dst := f.Src.Addr(), f.Dst.Addr()
	k.src, k.dst = src.As16(), dst.As16()
	k.proto, k.v4 = f.Proto, src.Is4()
	k.zone, k.side = zone, side
	k.sport, k.dport = 0, 0
	switch {
	case f.Proto.HasPorts():
		k.sport, k.dport = f.Src.Port(), f.Dst.Port()
	case k.isICMP():
		k.sport = f.Src.Port()
		k.dport = uint16(typ)<<8 | uint16(code)
	}
}

func (k *key) isICMP() bool {
	return (k.v4 && k.proto == ipproto.ICMP) || (!k.v4 && k.proto == ipproto.ICMPv6)
}

// inverse returns the tuple of the other direction.
func (k *key) inverse() key {
	r := key{src: k.dst, dst: k.src, proto: k.proto, v4: k.v4, side: k.side.Other(), zone: k.zone}
	if k.isICMP() {
		typ := uint8(k.dport >> 8)
		if inv, _, ok := icmpQuery(!k.v4, typ); ok {
			typ = inv
		}
		r.sport = k.sport
		r.dport = uint16(typ)<<8 | k.dport&0xff
		return r
	}
	r.sport, r.dport = k.dport, k.sport
	return r
}

func addrOf(b *[16]byte, v4 bool) netip.Addr {
	if v4 {
		return netip.AddrFrom4([4]byte(b[12:16]))
	}
	return netip.AddrFrom16(*b)
}

func (k *key) tuple() Tuple {
	src, dst := addrOf(&k.src, k.v4), addrOf(&k.dst, k.v4)
	if k.isICMP() {
		return Tuple{
			Flow:     flow.Key{Src: netip.AddrPortFrom(src, k.sport), Dst: netip.AddrPortFrom(dst, k.sport), Proto: k.proto},
			ICMPType: uint8(k.dport >> 8),
			ICMPCode: uint8(k.dport),
		}
	}
	return Tuple{Flow: flow.Key{Src: netip.AddrPortFrom(src, k.sport), Dst: netip.AddrPortFrom(dst, k.dport), Proto: k.proto}}
}

// hashInput writes the direction-independent form of k: the two end
// points in a fixed order and the zone, so that a flow's two directions
// land in the same shard and bucket and one lookup finds either. The side
// is left out: it differs between the directions.
func (k *key) hashInput(b *[44]byte) {
	a, c := &k.src, &k.dst
	pa, pc := k.sport, k.dport
	if k.isICMP() {
		// The type differs between directions; the identifier does not.
		pc = k.sport
	}
	if endpointLess(c, pc, a, pa) {
		a, c = c, a
		pa, pc = pc, pa
	}
	copy(b[0:16], a[:])
	copy(b[16:32], c[:])
	binary.BigEndian.PutUint16(b[32:], pa)
	binary.BigEndian.PutUint16(b[34:], pc)
	b[36] = byte(k.proto)
	b[37] = 0
	if k.v4 {
		b[37] = 1
	}
	b[38], b[39] = 0, 0
	binary.BigEndian.PutUint32(b[40:], k.zone)
}

func endpointLess(a *[16]byte, pa uint16, b *[16]byte, pb uint16) bool {
	ah, bh := binary.BigEndian.Uint64(a[0:8]), binary.BigEndian.Uint64(b[0:8])
	if ah != bh {
		return ah < bh
	}
	al, bl := binary.BigEndian.Uint64(a[8:16]), binary.BigEndian.Uint64(b[8:16])
	if al != bl {
		return al < bl
	}
	return pa < pb
}

// Flow kinds: how a packet is tracked.
const (
	kindTCP       = iota
	kindUDP       // UDP and UDP-Lite
	kindICMPQuery // ICMP/ICMPv6 request or reply
	kindICMPError // ICMP/ICMPv6 error: Related or Invalid, never an entry
	kindUntracked // ICMPv6 neighbour discovery and MLD
	kindGeneric   // everything else
	kindSCTP
	kindDCCP
)

// parsed is a validated Packet in the table's terms.
type parsed struct {
	k        key
	kind     uint8
	request  bool  // ICMP query, SCTP, DCCP: the packet may start a flow
	tcpIndex uint8 // TCP: flag class, index into the transition table
}

// icmpQuery maps an ICMP query type to its counterpart, and says whether
// it is the request (the side that may create an entry).
func icmpQuery(v6 bool, typ uint8) (inv uint8, request, ok bool) {
	if v6 {
		switch typ {
		case 128, 139: // echo request, node information query
			return typ + 1, true, true
		case 129, 140:
			return typ - 1, false, true
		}
		return 0, false, false
	}
	switch typ {
	case 8: // echo
		return 0, true, true
	case 0:
		return 8, false, true
	case 13, 15, 17: // timestamp, information, address mask request
		return typ + 1, true, true
	case 14, 16, 18:
		return typ - 1, false, true
	}
	return 0, false, false
}

func icmpError(v6 bool, typ uint8) bool {
	if v6 {
		// destination unreachable, packet too big, time exceeded,
		// parameter problem
		return typ >= 1 && typ <= 4
	}
	// destination unreachable, source quench, redirect, time exceeded,
	// parameter problem
	return typ == 3 || typ == 4 || typ == 5 || typ == 11 || typ == 12
}

// icmpUntracked lists the ICMPv6 messages that are link-local control
// traffic, never a flow: MLD query/report/done, router and neighbour
// solicitation and advertisement, MLDv2 report. Linux leaves them
// untracked too.
func icmpUntracked(typ uint8) bool {
	return (typ >= 130 && typ <= 136) || typ == 143
}

// maxPayload bounds PayloadLen: nothing larger fits an IPv6 jumbogram's
// 32-bit length, and sequence arithmetic is modulo 2^32.
const maxPayload = 1<<31 - 1

// parsePacket validates p and builds its key. It never panics, whatever
// the fields hold.
func parsePacket(p *Packet, pk *parsed) Reason {
	f := &p.Flow
	// What flow.Key.IsValid says, without the copy of the key that calling
	// a value method through f costs here.
	src, dst := f.Src.Addr(), f.Dst.Addr()
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() || p.PayloadLen < 0 || p.PayloadLen > maxPayload {
		return ReasonMalformed
	}
	switch f.Proto {
	case ipproto.TCP:
		idx, valid := tcpFlagIndex(p.TCPFlags)
		if !valid {
			return ReasonTCPFlags
		}
		pk.kind, pk.tcpIndex = kindTCP, idx
	case ipproto.UDP, ipproto.UDPLite:
		pk.kind = kindUDP
	case ipproto.SCTP:
		if p.SCTP == nil {
			return ReasonMalformed
		}
		if r := sctpCheck(p.SCTP); r != ReasonNone {
			return r
		}
		pk.kind, pk.request = kindSCTP, sctpStarts(p.SCTP)
	case ipproto.DCCP:
		if p.DCCP == nil || p.DCCP.Type > packet.DCCPSyncAck {
			return ReasonMalformed
		}
		pk.kind, pk.request = kindDCCP, p.DCCP.Type == packet.DCCPRequest
	case ipproto.ICMP, ipproto.ICMPv6:
		v4 := src.Is4()
		if (f.Proto == ipproto.ICMP) != v4 {
			return ReasonMalformed
		}
		return parseICMP(p, pk, !v4)
	default:
		pk.kind = kindGeneric
	}
	if p.IsICMPError {
		return ReasonMalformed
	}
	pk.k.set(f, 0, 0, p.Zone, p.Side)
	return ReasonNone
}

func parseICMP(p *Packet, pk *parsed, v6 bool) Reason {
	isErr := icmpError(v6, p.ICMPType)
	if isErr != p.IsICMPError {
		return ReasonMalformed
	}
	if isErr {
		pk.kind = kindICMPError
		return ReasonNone
	}
	if v6 && icmpUntracked(p.ICMPType) {
		pk.kind = kindUntracked
		return ReasonNone
	}
	_, req, ok := icmpQuery(v6, p.ICMPType)
	if !ok {
		return ReasonICMPType
	}
	if p.Flow.Src.Port() != p.Flow.Dst.Port() {
		return ReasonMalformed
	}
	pk.kind, pk.request = kindICMPQuery, req
	pk.k.set(&p.Flow, p.ICMPType, p.ICMPCode, p.Zone, p.Side)
	return ReasonNone
}

// innerKey builds the key of the packet quoted by ICMP error p, exactly
// as that packet travelled (from its sender to the host it was meant for):
// in the error's zone, arriving on the side the error leaves by, since the
// error goes back to the quoted packet's sender.
func innerKey(p *Packet, k *key) Reason {
	in := &p.Inner
	f := &in.Flow
	if !f.IsValid() || f.Src.Addr().Is4() != p.Flow.Src.Addr().Is4() {
		return ReasonICMPInner
	}
	switch f.Proto {
	case ipproto.ICMP, ipproto.ICMPv6:
		// An error about an error is never sent (RFC 1122 3.2.2, RFC
		// 4443 2.4); one that claims to be is forged.
		if !f.IsICMP() || f.Src.Port() != f.Dst.Port() {
			return ReasonICMPInner
		}
		if _, _, ok := icmpQuery(!f.Src.Addr().Is4(), in.ICMPType); !ok {
			return ReasonICMPInner
		}
	}
	k.set(f, in.ICMPType, in.ICMPCode, p.Zone, p.Side.Other())
	return ReasonNone
}
