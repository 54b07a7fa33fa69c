package policy

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// Action is what a rule or a default does with a packet it decides.
type Action uint8

// The zero Action is Deny, so that a forgotten field fails closed.
const (
	Deny   Action = iota // drop silently
	Allow                // pass
	Reject               // drop and tell the sender (TCP RST or ICMP unreachable)
	Limit                // pass, unless the source opened too many connections recently
)

var actionNames = [...]string{Deny: "deny", Allow: "allow", Reject: "reject", Limit: "limit"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}

// Direction says which way a packet travels through the gateway; see the
// package documentation for the exact meaning.
type Direction uint8

const (
	In     Direction = iota // from outside towards the inside, or to the gateway itself
	Out                     // from the inside, or from the gateway, towards the outside
	Routed                  // forwarded between two inside interfaces
)

// NumDirections is the number of Direction values, for arrays indexed by one.
const NumDirections = 3

var directionNames = [...]string{In: "incoming", Out: "outgoing", Routed: "routed"}

// String returns the name ufw uses in "default deny incoming".
func (d Direction) String() string {
	if int(d) < len(directionNames) {
		return directionNames[d]
	}
	return "direction(" + strconv.Itoa(int(d)) + ")"
}

// Family is the set of address families a rule applies to.
type Family uint8

const (
	FamilyIPv4 Family = 1 << iota
	FamilyIPv6
	FamilyBoth = FamilyIPv4 | FamilyIPv6
)

// Has reports whether f includes the family of addr.
func (f Family) Has(addr netip.Addr) bool {
	if addr.Is4() {
		return f&FamilyIPv4 != 0
	}
	return addr.Is6() && f&FamilyIPv6 != 0
}

func (f Family) String() string {
	switch f {
	case FamilyIPv4:
		return "IPv4"
	case FamilyIPv6:
		return "IPv6"
	case FamilyBoth:
		return "IPv4+IPv6"
	}
	return "none"
}

func familyOf(p netip.Prefix) Family {
	if p.Addr().Is4() {
		return FamilyIPv4
	}
	return FamilyIPv6
}

// ProtoAny is the Rule.Proto of a rule that names no protocol (ufw's
// "proto any", and a rule without "proto"). It is 255, which IANA
// reserves, so that it cannot collide with a real protocol.
const ProtoAny = ipproto.Reserved

// ruleProtos are the protocols "proto" accepts, by the name ipproto gives
// them; "any" is ProtoAny.
var ruleProtos = [...]ipproto.Proto{
	ipproto.TCP, ipproto.UDP, ipproto.ICMP, ipproto.ICMPv6,
	ipproto.ESP, ipproto.AH, ipproto.GRE, ipproto.IPv6,
	ipproto.SCTP, ipproto.DCCP, ipproto.UDPLite,
}

// protoChoices lists the names "proto" accepts, for error messages.
var protoChoices = func() string {
	var b strings.Builder
	for _, p := range ruleProtos {
		b.WriteString(p.String())
		b.WriteString(", ")
	}
	return strings.TrimSuffix(b.String(), ", ") + " or any"
}()

// parseProto returns the protocol the rule language calls name.
func parseProto(name string) (ipproto.Proto, bool) {
	if name == "any" {
		return ProtoAny, true
	}
	for _, p := range ruleProtos {
		if p.String() == name {
			return p, true
		}
	}
	return 0, false
}

// protoName returns the rule language's name for p: "any" for ProtoAny,
// else ipproto's name.
func protoName(p ipproto.Proto) string {
	if p == ProtoAny {
		return "any"
	}
	return p.String()
}

// LogMode is a rule's logging: ufw's "log" logs new connections, "log-all"
// every packet the rule matches.
type LogMode uint8

const (
	LogNone LogMode = iota
	LogNew
	LogAll
)

func (m LogMode) String() string {
	switch m {
	case LogNew:
		return "log"
	case LogAll:
		return "log-all"
	}
	return ""
}

// LogLevel is the policy-wide logging level, as ufw's "logging" command.
type LogLevel uint8

const (
	LoggingOff LogLevel = iota
	LoggingLow
	LoggingMedium
	LoggingHigh
	LoggingFull
)

var logLevelNames = [...]string{LoggingOff: "off", LoggingLow: "low", LoggingMedium: "medium", LoggingHigh: "high", LoggingFull: "full"}

func (l LogLevel) String() string {
	if int(l) < len(logLevelNames) {
		return logLevelNames[l]
	}
	return "logging(" + strconv.Itoa(int(l)) + ")"
}

// PortRange is an inclusive range of TCP or UDP ports; a single port has
// Lo == Hi.
type PortRange struct {
	Lo, Hi uint16
}

// Contains reports whether port lies in r.
func (r PortRange) Contains(port uint16) bool { return r.Lo <= port && port <= r.Hi }

func (r PortRange) String() string {
	if r.Lo == r.Hi {
		return strconv.Itoa(int(r.Lo))
	}
	return strconv.Itoa(int(r.Lo)) + ":" + strconv.Itoa(int(r.Hi))
}

// Endpoint is one side (from or to) of a rule.
type Endpoint struct {
	// Addrs are the prefixes the address must lie in; nil means any address
	// of the rule's families. Only prefixes of the rule's families are kept.
	Addrs []netip.Prefix
	// AddrSet names the set Addrs came from, "" for a literal or any.
	AddrSet string
	// Ports are the ranges the port must lie in; nil means any port.
	Ports []PortRange
	// PortSet names the set Ports came from, "" for literals.
	PortSet string
}

// TCPFlags is a match on the TCP flags byte: (flags & Mask) == Value. A zero
// Mask matches any packet.
type TCPFlags struct {
	Value, Mask packet.TCPFlags
}

// Any reports whether f places no constraint.
func (f TCPFlags) Any() bool { return f.Mask == 0 }

// Match reports whether the flags byte of a TCP segment satisfies f.
func (f TCPFlags) Match(flags packet.TCPFlags) bool { return flags&f.Mask == f.Value }

// flagLetters are pf's letters, indexed by bit position.
const flagLetters = "FSRPAUEW"

func flagString(b packet.TCPFlags) string {
	var out []byte
	// pf prints in its own conventional order, which the bit order matches.
	for i := 0; i < 8; i++ {
		if b&(1<<i) != 0 {
			out = append(out, flagLetters[i])
		}
	}
	return string(out)
}

func (f TCPFlags) String() string {
	if f.Any() {
		return "any"
	}
	return flagString(f.Value) + "/" + flagString(f.Mask)
}

// AnyICMP is the value of Rule.ICMPType and Rule.ICMPCode when the rule does
// not constrain them.
const AnyICMP = -1

// Rule is one rule of the policy, in the form the file gave it after names
// (services, sets, protocols, ICMP types) are resolved.
type Rule struct {
	// Line and Col locate the rule's first token; Text is the rule as
	// written, without the trailing comment. Implicit rules have Line 0.
	Line, Col int
	Text      string

	Action Action
	// Route marks a "route" rule, which matches forwarded packets whatever
	// their direction. For other rules Dir is In or Out.
	Route bool
	Dir   Direction
	// Implicit marks a rule the policy adds (see Policy.Implicit); it
	// applies in every direction.
	Implicit bool

	// InIface and OutIface are interface names; "" means any.
	InIface, OutIface string

	Log LogMode
	// Proto is the protocol the rule names. ProtoAny with ports on either
	// side means TCP or UDP, as in ufw.
	Proto  ipproto.Proto
	Family Family

	From, To Endpoint

	Flags TCPFlags
	// ICMPType and ICMPCode are AnyICMP or 0..255, and only set for icmp and
	// icmpv6 rules.
	ICMPType, ICMPCode int16

	Comment string
}

// HasPorts reports whether the rule matches on a TCP or UDP port.
func (r *Rule) HasPorts() bool { return r.From.Ports != nil || r.To.Ports != nil }

// Protocols returns the IP protocol numbers the rule matches, or nil when
// it matches every protocol. A port match with no protocol means TCP and
// UDP; a flags match means TCP.
func (r *Rule) Protocols() []ipproto.Proto {
	switch {
	case r.Proto != ProtoAny:
		return []ipproto.Proto{r.Proto}
	case r.HasPorts():
		return []ipproto.Proto{ipproto.TCP, ipproto.UDP}
	}
	return nil
}

// SetKind says what a named set holds.
type SetKind uint8

const (
	AddrSet SetKind = iota + 1
	PortSet
)

// Set is a named set of addresses or of ports.
type Set struct {
	Name      string // without the '$'
	Line, Col int
	Kind      SetKind
	Addrs     []netip.Prefix // for AddrSet
	Family    Family         // families present in Addrs
	Ports     []PortRange    // for PortSet
	// protos restricts the protocols a port set can be used with, when it
	// names services: protoTCP, protoUDP or both.
	protos uint8
	named  bool
	elems  int
}

// Policy is a parsed rule file.
type Policy struct {
	// Name is the file name given to Parse, used in messages.
	Name string
	// Defaults holds the default action per Direction: deny incoming, allow
	// outgoing, deny routed unless the file says otherwise.
	Defaults [NumDirections]Action
	// Logging is the policy-wide logging level, low unless set.
	Logging LogLevel
	// ICMPEcho is Allow unless the file says "icmp-echo deny"; it decides
	// whether Implicit holds the echo request rules.
	ICMPEcho Action
	// Sets in the order they were defined.
	Sets []*Set
	// Rules in file order.
	Rules []Rule
	// Implicit rules, evaluated after Rules: ICMP errors, neighbour
	// discovery and (unless ICMPEcho is Deny) echo requests.
	Implicit []Rule
	// Before describes, for humans, what connection tracking does before
	// any rule: it is fixed and not configurable.
	Before []string
}

// NumRules is the number of rules a classifier sees: Rules then Implicit.
func (p *Policy) NumRules() int { return len(p.Rules) + len(p.Implicit) }

// Rule returns rule i in evaluation order, where indices past Rules refer to
// Implicit; nil if i is out of range.
func (p *Policy) Rule(i int) *Rule {
	switch {
	case i < 0:
		return nil
	case i < len(p.Rules):
		return &p.Rules[i]
	case i-len(p.Rules) < len(p.Implicit):
		return &p.Implicit[i-len(p.Rules)]
	}
	return nil
}

// Set returns the set named name (without '$'), or nil.
func (p *Policy) Set(name string) *Set {
	for _, s := range p.Sets {
		if s.Name == name {
			return s
		}
	}
	return nil
}
