package defrag

import "github.com/rampart-fw/rampart/ids/target"

// Policy says how overlapping fragments are resolved: which fragment's
// bytes a destination host would keep where two fragments cover the same
// offsets (Novak, "Target-Based Fragmentation Reassembly", 2005), or, for
// Drop, that the whole datagram is discarded (RFC 5722).
type Policy uint8

// Policies. For each, the rule that decides an overlap between a newly
// arriving fragment N and a piece P that an earlier fragment left in the
// datagram (P's extent as trimmed by earlier overlaps, N's as sent):
const (
	// Drop discards the datagram at the first overlap; an exact duplicate
	// (same offsets, same bytes) is dropped alone (RFC 5722 section 4).
	// The gateway's default.
	Drop Policy = iota
	// First: the earlier fragment always wins (Windows 95/98/NT 4, old HP-UX).
	First
	// Last: the later fragment always wins (Cisco IOS).
	Last
	// BSD: N wins where it starts before P (FreeBSD, OpenBSD, AIX,
	// old Linux with the pre-2.6 code, VMS; the ip_reass of 4.4BSD).
	BSD
	// BSDRight: N wins where it ends after P, or ends where P ends and
	// starts no later (HP JetDirect).
	BSDRight
	// Linux: N wins where it starts before P or at the same offset (Linux
	// before 2018, whose ip_fragment.c took the newer fragment at equal
	// offsets; current Linux drops overlapping IPv4 datagrams, as Drop).
	Linux
	// Windows: N wins only over a P it strictly contains, starting before
	// and ending after it (Windows 2000 to 10, Windows Server).
	Windows
	// Solaris: N wins over a P it starts before and ends at or after
	// (Solaris, HP-UX 11).
	Solaris
	numPolicies
)

var policyNames = target.NewNames[Policy]("defrag policy", "drop", "first", "last", "bsd", "bsd-right", "linux", "windows", "solaris")

func (p Policy) String() string { return policyNames.String(p) }

// ParsePolicy returns the policy named s: drop, first, last, bsd,
// bsd-right, linux, windows or solaris (Suricata's and Snort's names).
func ParsePolicy(s string) (Policy, error) { return policyNames.Parse(s) }

// MarshalText implements encoding.TextMarshaler.
func (p Policy) MarshalText() ([]byte, error) { return policyNames.Marshal(p) }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Policy) UnmarshalText(b []byte) error { return policyNames.Unmarshal(b, p) }

// newWins reports whether a fragment [ns, ne) arriving now takes the bytes
// it shares with the piece [ps, pe) already held, under p. The rules are
// those of the reassembly code of each system (see the constants); the
// tests check them against the published outputs.
func (p Policy) newWins(ns, ne, ps, pe int) bool {
	switch p {
	case Last:
		return true
	case BSD:
		return ns < ps
	case Linux:
		return ns <= ps
	case Windows:
		return ns < ps && ne > pe
	case Solaris:
		return ns < ps && ne >= pe
	case BSDRight:
		return ne > pe || (ne == pe && ns <= ps)
	}
	return false // First; Drop never gets here
}

// HostPolicies chooses the policy of each destination: the policy of the
// longest prefix that holds its address, else the default; a nil table
// gives Drop. Build it completely, then share it: it is read without a
// lock.
type HostPolicies = target.Table[Policy]

// NewHostPolicies returns a table whose every destination gets def.
func NewHostPolicies(def Policy) *HostPolicies { return target.New(def) }
