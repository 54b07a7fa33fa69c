package classify

import (
	"net/netip"

	"github.com/rampart-fw/rampart/firewall/policy"
	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/packet"
)

// Action is the decision for a packet; the values are the policy's.
type Action = policy.Action

// Direction is the way a packet travels through the gateway.
type Direction = policy.Direction

// Actions and directions, re-exported for callers that only classify.
const (
	Allow  = policy.Allow
	Deny   = policy.Deny
	Reject = policy.Reject
	Limit  = policy.Limit

	In     = policy.In
	Out    = policy.Out
	Routed = policy.Routed
)

// Interface indices used in Key.InIface and Key.OutIface. IfaceLocal is the
// gateway itself: a packet addressed to the gateway has OutIface IfaceLocal,
// one it sends has InIface IfaceLocal. IfaceLAN and IfaceWAN are the indices
// GatewayInterfaces assigns.
const (
	IfaceLocal uint8 = 0
	IfaceLAN   uint8 = 1
	IfaceWAN   uint8 = 2
)

// Key holds the header fields a classifier looks at: the packet's flow key
// and what only the classifier needs beside it. The flow's addresses must
// be of the same family; IPv4 addresses must be plain IPv4, not
// IPv4-mapped IPv6; zones are ignored. Its ports follow package flow: an
// ICMP query carries its identifier in both. Fields that do not apply to
// the packet (TCP flags of a UDP datagram, ICMP type of a TCP segment) are
// zero.
type Key struct {
	Dir                Direction
	InIface, OutIface  uint8
	Flow               flow.Key
	TCPFlags           packet.TCPFlags
	ICMPType, ICMPCode uint8
}

// Defaults holds the action per direction for packets no rule matches.
type Defaults [policy.NumDirections]Action

// Classifier is what Compiled and Linear have in common.
type Classifier interface {
	// Lookup returns the index of the first rule that matches k and its
	// action, or -1 and the default for k.Dir when none does. A Key whose
	// Src and Dst are invalid or of different families matches no rule; one
	// whose Dir is out of range gets -1 and Deny.
	Lookup(k *Key) (ruleIndex int, action Action)
}

// family returns 0 for IPv4, 1 for IPv6, and -1 when the key cannot match
// any rule. The addresses are returned without zones.
func family(k *Key) (src, dst netip.Addr, fam int) {
	src, dst = k.Flow.Src.Addr(), k.Flow.Dst.Addr()
	switch {
	case src.Is4():
		if !dst.Is4() {
			return src, dst, -1
		}
		return src, dst, 0
	case src.Is6():
		if !dst.Is6() {
			return src, dst, -1
		}
		return src.WithZone(""), dst.WithZone(""), 1
	}
	return src, dst, -1
}
