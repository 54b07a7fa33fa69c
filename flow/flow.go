// Package flow is rampart's one flow key: the addresses, ports and IP
// protocol that name one direction of a flow, the key by which connection
// tracking, NAT, the DoS guard and the IDS find what they know about a
// packet.
//
// It owns the key and its conventions (below), nothing else: decoding
// headers into a key is packet's job, and what is remembered per flow is
// the business of the table that keys on it.
//
// # Conventions
//
// Ports: for protocols whose header starts with a source and a destination
// port (TCP, UDP, UDP-Lite, SCTP, DCCP; ipproto.Proto.HasPorts) Src and
// Dst carry them. For an ICMP or ICMPv6 query (echo, and the ICMPv4
// timestamp, information and address mask messages) both ports carry the
// query identifier, which is what pairs a request with its reply: the
// reply's key is then exactly the request's Reverse, and a NAT translates
// the identifier as it would a port (RFC 5508 3.1). The query's type and
// code are not part of the key; a table that must tell an echo from a
// timestamp exchange with the same identifier (conntrack does, as Linux
// does) keeps them beside the key. For every other packet, ICMP errors
// included, both ports are zero.
//
// Addresses: both of one family; an IPv4 address is plain IPv4, never
// IPv4-mapped IPv6. Zones are not used.
//
// The zero Key is the key of no flow (a frame that is not IP).
package flow

import (
	"net/netip"
	"strconv"

	"github.com/rampart-fw/rampart/ipproto"
)

// Key names one direction of a flow. It is comparable, usable as a map
// key, and small enough to pass by value.
type Key struct {
	Src, Dst netip.AddrPort
	Proto    ipproto.Proto
}

// Reverse returns the key of the opposite direction: the key of a reply.
func (k Key) Reverse() Key {
	return Key{Src: k.Dst, Dst: k.Src, Proto: k.Proto}
}

// IsValid reports whether k names a flow: both addresses valid and of
// one family.
func (k Key) IsValid() bool {
	s, d := k.Src.Addr(), k.Dst.Addr()
	return s.IsValid() && d.IsValid() && s.Is4() == d.Is4()
}

// IsICMP reports whether k is an ICMP flow of its family: ICMP over IPv4
// or ICMPv6 over IPv6.
func (k Key) IsICMP() bool {
	if k.Src.Addr().Is4() {
		return k.Proto == ipproto.ICMP
	}
	return k.Proto == ipproto.ICMPv6
}

// String renders k as "tcp 198.51.100.66:4444 -> 10.10.0.11:22": ports
// where the protocol has them, "icmp 10.0.0.1 -> 192.0.2.1 id 7" for an
// ICMP query, addresses alone otherwise; a protocol without a name as
// "proto 253". It allocates, so it belongs on
// the logging path.
func (k Key) String() string {
	if !k.IsValid() {
		return "invalid flow"
	}
	b := make([]byte, 0, 96)
	if !k.Proto.Named() {
		b = append(b, "proto "...)
	}
	b = append(b, k.Proto.String()...)
	b = append(b, ' ')
	if k.Proto.HasPorts() {
		b = k.Src.AppendTo(b)
		b = append(b, " -> "...)
		b = k.Dst.AppendTo(b)
		return string(b)
	}
	b = k.Src.Addr().AppendTo(b)
	b = append(b, " -> "...)
	b = k.Dst.Addr().AppendTo(b)
	if k.IsICMP() && (k.Src.Port() != 0 || k.Dst.Port() != 0) {
		b = append(b, " id "...)
		b = strconv.AppendUint(b, uint64(k.Src.Port()), 10)
	}
	return string(b)
}
