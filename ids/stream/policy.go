package stream

import "github.com/rampart-fw/rampart/ids/target"

// Policy is the TCP behaviour of a destination host, as far as an
// observer must model it to see the bytes the host sees (Novak and
// Sturges, "Target-Based TCP Stream Reassembly", 2007): which of two
// overlapping segments it keeps, which resets it accepts, and how it
// checks timestamps (PAWS). Policies are named as in Suricata's and
// Snort's configurations.
type Policy uint8

// Policies. For overlaps, the rule that decides the bytes shared by a
// newly arriving segment N and a segment P held earlier (both as sent, not
// as trimmed by other overlaps); the tests check each against the
// published reassembly of the segment pattern.
const (
	// First: the earlier segment always wins (Windows 95/98, old HP-UX).
	First Policy = iota
	// Last: the later segment always wins (Cisco IOS and some embedded
	// stacks).
	Last
	// BSD: N wins where it starts before P (FreeBSD, NetBSD, OpenBSD,
	// AIX). Suricata's default.
	BSD
	// Linux: N wins where it starts before P, or starts with P and ends
	// after it (Linux 2.4 and 2.6).
	Linux
	// OldLinux: N wins where it starts before P, or starts with P and ends
	// with or after it (Linux 2.2 and earlier).
	OldLinux
	// Windows: as BSD for overlaps (Windows 98, NT, 2000, XP, Server
	// 2003).
	Windows
	// Vista: as First for overlaps (Windows Vista and later).
	Vista
	// Solaris: N wins where it ends after P, or ends with P and starts no
	// later (Solaris 9 and later).
	Solaris
	// HPUX10: as BSD for overlaps (HP-UX 10).
	HPUX10
	// HPUX11: as Solaris for overlaps (HP-UX 11).
	HPUX11
	// IRIX: as BSD for overlaps (IRIX 6).
	IRIX
	// MacOS: as BSD for overlaps (Mac OS X 10.3 and later).
	MacOS
	numPolicies
)

// DefaultPolicy is the policy of destinations a configuration does not
// name: Suricata's default.
const DefaultPolicy = BSD

var policyNames = target.NewNames[Policy]("stream policy", "first", "last", "bsd", "linux", "old-linux", "windows", "vista", "solaris", "hpux10", "hpux11", "irix", "macos")

func (p Policy) String() string { return policyNames.String(p) }

// ParsePolicy returns the policy named s: first, last, bsd, linux,
// old-linux, windows, vista, solaris, hpux10, hpux11, irix or macos.
func ParsePolicy(s string) (Policy, error) { return policyNames.Parse(s) }

// MarshalText implements encoding.TextMarshaler.
func (p Policy) MarshalText() ([]byte, error) { return policyNames.Marshal(p) }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Policy) UnmarshalText(b []byte) error { return policyNames.Unmarshal(b, p) }

// newWins reports whether a segment [ns, ne) arriving now takes the bytes
// it shares with a segment [ps, pe) held earlier, under p. These are the
// rules whose results Novak and Sturges measured and that Suricata's
// segment-pattern tests expect; see the constants.
func (p Policy) newWins(ns, ne, ps, pe uint64) bool {
	switch p {
	case Last:
		return true
	case BSD, Windows, HPUX10, IRIX, MacOS:
		return ns < ps
	case Linux:
		return ns < ps || (ns == ps && ne > pe)
	case OldLinux:
		return ns < ps || (ns == ps && ne >= pe)
	case Solaris, HPUX11:
		return ne > pe || (ne == pe && ns <= ps)
	}
	return false // First, Vista
}

// rstRule is how a host decides whether a reset belongs to a connection.
type rstRule uint8

const (
	// rstExact: the reset's sequence number must be the next one
	// expected (RCV.NXT).
	rstExact rstRule = iota
	// rstInWindow: any sequence number in the receive window (RFC 793).
	rstInWindow
	// rstAtOrAfter: any sequence number at or after RCV.NXT.
	rstAtOrAfter
)

func (p Policy) rst() rstRule {
	switch p {
	case Linux, OldLinux, Solaris:
		return rstInWindow
	case HPUX11:
		return rstAtOrAfter
	}
	return rstExact
}

// zeroTSAllowed reports whether the host accepts a segment whose TSval is
// 0 on a connection that uses timestamps, as a segment without one.
func (p Policy) zeroTSAllowed() bool {
	switch p {
	case OldLinux, Windows, Vista, Solaris:
		return true
	}
	return false
}

// HostPolicies chooses the policy of each destination: the policy of the
// longest prefix that holds its address, else the default. Build it
// completely, then share it: it is read without a lock.
type HostPolicies = target.Table[Policy]

// NewHostPolicies returns a table whose every destination gets def.
func NewHostPolicies(def Policy) *HostPolicies { return target.New(def) }
