// Package ipproto is rampart's one IP protocol number type: the value of
// the IPv4 Protocol field and of the IPv6 Next Header field, with the
// names rampart prints and reads for it.
//
// It owns the numbers (IANA's "Assigned Internet Protocol Numbers"
// registry) and their names, nothing else: which protocols the rule
// language accepts, which header layouts are decoded, how a flow is keyed,
// are for firewall/policy, packet and flow to know. A name is the rule
// language's and ufw's where they have one (icmpv6 rather than IANA's
// ipv6-icmp; ipv6 for IPv6 encapsulated in IPv4), otherwise the keyword of
// Linux's /etc/protocols (Debian's netbase), which is IANA's in lower
// case; Parse also accepts IANA's spelling where it differs.
package ipproto

import (
	"errors"
	"strconv"
)

// Proto is an IP protocol number.
type Proto uint8

// Protocol numbers rampart names. The IPv6 extension headers share the
// number space: they are what an IPv6 Next Header field names before the
// upper-layer protocol.
const (
	HopByHop Proto = 0   // IPv6 Hop-by-Hop Options (RFC 8200)
	ICMP     Proto = 1   // RFC 792
	TCP      Proto = 6   // RFC 9293
	UDP      Proto = 17  // RFC 768
	DCCP     Proto = 33  // RFC 4340
	IPv6     Proto = 41  // IPv6 encapsulated in IPv4 (RFC 2473, 4213)
	Routing  Proto = 43  // IPv6 Routing header
	Fragment Proto = 44  // IPv6 Fragment header
	GRE      Proto = 47  // RFC 2784
	ESP      Proto = 50  // RFC 4303
	AH       Proto = 51  // RFC 4302
	ICMPv6   Proto = 58  // RFC 4443
	NoNext   Proto = 59  // IPv6 No Next Header
	DestOpts Proto = 60  // IPv6 Destination Options
	SCTP     Proto = 132 // RFC 9260
	Mobility Proto = 135 // IPv6 Mobility header (RFC 6275)
	UDPLite  Proto = 136 // RFC 3828
	HIP      Proto = 139 // Host Identity Protocol (RFC 7401)
	Shim6    Proto = 140 // RFC 5533
	Reserved Proto = 255 // IANA reserves it; never on the wire
)

// names holds the canonical name of each named protocol; "" for the rest.
var names = [256]string{
	HopByHop: "hopopt",
	ICMP:     "icmp",
	TCP:      "tcp",
	UDP:      "udp",
	DCCP:     "dccp",
	IPv6:     "ipv6",
	Routing:  "ipv6-route",
	Fragment: "ipv6-frag",
	GRE:      "gre",
	ESP:      "esp",
	AH:       "ah",
	ICMPv6:   "icmpv6",
	NoNext:   "ipv6-nonxt",
	DestOpts: "ipv6-opts",
	SCTP:     "sctp",
	Mobility: "mobility-header",
	UDPLite:  "udplite",
	HIP:      "hip",
	Shim6:    "shim6",
}

// aliases are other spellings Parse accepts: IANA's keywords where the
// canonical name differs from them.
var aliases = map[string]Proto{
	"ipv6-icmp": ICMPv6,
	"udp-lite":  UDPLite,
}

// decimal holds the decimal form of every number, so that String never
// allocates.
var decimal = func() (d [256]string) {
	for i := range d {
		d[i] = strconv.Itoa(i)
	}
	return d
}()

// String returns p's name, or its decimal number when it has none. It
// does not allocate.
func (p Proto) String() string {
	if n := names[p]; n != "" {
		return n
	}
	return decimal[p]
}

// Named reports whether p has a name (other than its number).
func (p Proto) Named() bool { return names[p] != "" }

// HasPorts reports whether p's header begins with a 16-bit source and
// destination port, as TCP, UDP, UDP-Lite, SCTP and DCCP do.
func (p Proto) HasPorts() bool {
	switch p {
	case TCP, UDP, UDPLite, SCTP, DCCP:
		return true
	}
	return false
}

// ErrUnknown is returned, wrapped, by Parse for a name it does not know.
var ErrUnknown = errors.New("unknown IP protocol")

// Parse returns the protocol called s: a name as String prints it, an
// alias (IANA's keyword where it differs, as "ipv6-icmp"), or a decimal
// number from 0 to 255. Names are matched exactly, in lower case.
func Parse(s string) (Proto, error) {
	if p, ok := Lookup(s); ok {
		return p, nil
	}
	if n, err := strconv.ParseUint(s, 10, 8); err == nil {
		return Proto(n), nil
	}
	return 0, &parseError{s}
}

// Lookup returns the protocol whose name or alias is name; numbers are
// not names.
func Lookup(name string) (Proto, bool) {
	if p, ok := aliases[name]; ok {
		return p, true
	}
	if name == "" {
		return 0, false
	}
	for i, n := range names {
		if n == name {
			return Proto(i), true
		}
	}
	return 0, false
}

type parseError struct{ s string }

func (e *parseError) Error() string { return strconv.Quote(e.s) + ": " + ErrUnknown.Error() }
func (e *parseError) Unwrap() error { return ErrUnknown }

// MarshalText returns String's text.
func (p Proto) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// AppendText appends String's text to b.
func (p Proto) AppendText(b []byte) ([]byte, error) { return append(b, p.String()...), nil }

// UnmarshalText sets p from a name or number, as Parse.
func (p *Proto) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}
