package defrag

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/rampart-fw/rampart/ipproto"
)

// Key names one datagram under reassembly. For IPv4 it is RFC 791's
// source, destination, protocol and identification; for IPv6 RFC 8200's
// source, destination and identification: the next-header value of later
// fragments is ignored (section 4.5), so Proto is zero. Zone keeps apart
// fragments that the caller sees in separate places (the gateway puts the
// port and the VLAN tags there), so one datagram never gathers fragments
// from two of them.
type Key struct {
	Src, Dst netip.Addr
	ID       uint32
	Proto    ipproto.Proto
	Zone     uint32
}

func (k Key) String() string {
	if k.Src.Is4() {
		return fmt.Sprintf("%s -> %s id %d proto %s zone %d", k.Src, k.Dst, k.ID, k.Proto, k.Zone)
	}
	return fmt.Sprintf("%s -> %s id %d zone %d", k.Src, k.Dst, k.ID, k.Zone)
}

// Kind is what an Event reports, and why a fragment was dropped.
type Kind uint8

// Kinds of events.
const (
	KindNone Kind = iota
	// KindOverlap: a fragment covers bytes that another one covers, with
	// other content or other bounds. Under Drop the datagram is discarded.
	KindOverlap
	// KindDuplicate: a fragment repeats one already held, byte for byte.
	KindDuplicate
	// KindOversize: the datagram would exceed 65,535 bytes (ping of death).
	KindOversize
	// KindTiny: a first fragment too short to hold the transport header
	// (RFC 1858, RFC 7112), or a TCP fragment at offset 8 that can rewrite
	// the header's flags (RFC 3128).
	KindTiny
	// KindIDReuse: more datagrams than Config.MaxSameID at once between one
	// pair of addresses with one identification.
	KindIDReuse
	// KindBadEnd: fragments disagree on where the datagram ends (two last
	// fragments, or data past the last one).
	KindBadEnd
	// KindTooManyFragments: more than Config.MaxFragments fragments.
	KindTooManyFragments
	// KindMalformed: a fragment whose header is truncated or inconsistent,
	// or which carries no data or a non-last length not a multiple of 8.
	KindMalformed
	// KindTimeout: the datagram was still incomplete at its time-out.
	KindTimeout
	// KindEvicted: the datagram was discarded to make room for another
	// source's (the memory limit).
	KindEvicted
	// KindQuota: the datagram was discarded, or the fragment refused,
	// because its source was over its quota.
	KindQuota
	numKinds
)

var kindNames = [numKinds]string{"none", "overlap", "duplicate", "oversize", "tiny_fragment", "id_reuse", "bad_end", "too_many_fragments", "malformed", "timeout", "evicted", "quota"}

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Event is one thing worth reporting about a datagram: the IDS turns it
// into an EVE record. Start and End are the offending fragment's bounds
// in the datagram's fragmentable part, in bytes (0, 0 when the event is
// about the datagram as a whole, as a time-out is).
type Event struct {
	Kind       Kind
	Key        Key
	Policy     Policy
	Start, End int
	Time       time.Time
}
