package classify

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/rampart-fw/rampart/firewall/policy"
	"github.com/rampart-fw/rampart/ipproto"
)

// DirSet is a set of directions, one bit per Direction.
type DirSet uint8

// AllDirs holds every direction.
const AllDirs DirSet = 1<<policy.NumDirections - 1

// DirsOf returns the set holding the given directions.
func DirsOf(dirs ...Direction) DirSet {
	var s DirSet
	for _, d := range dirs {
		s |= 1 << d
	}
	return s
}

// Has reports whether d is in s.
func (s DirSet) Has(d Direction) bool { return s&(1<<d) != 0 }

// Any is the value of Rule's int16 fields (InIface, OutIface, ICMPType,
// ICMPCode) that match every value.
const Any = -1

// PortRange is an inclusive range of ports.
type PortRange = policy.PortRange

// TCPFlags is a flags match: (flags & Mask) == Value; a zero Mask matches all.
type TCPFlags = policy.TCPFlags

// Rule is one rule in the form the classifiers match. A nil slice matches
// every value of its field; an empty non-nil slice matches none.
type Rule struct {
	Dirs DirSet
	// Forwarded restricts the rule to packets that neither come from nor go
	// to the gateway itself (InIface and OutIface both not IfaceLocal).
	Forwarded bool
	// InIface and OutIface are interface indices, or Any.
	InIface, OutIface int16
	// Family holds the address families the rule applies to; Src and Dst
	// prefixes of other families are ignored.
	Family   policy.Family
	Src, Dst []netip.Prefix
	Protos   []ipproto.Proto
	// SrcPorts and DstPorts are compared with the Key's ports whatever the
	// protocol (for an ICMP query, its identifier); see the package
	// documentation.
	SrcPorts, DstPorts []PortRange
	Flags              TCPFlags
	ICMPType, ICMPCode int16
	Action             Action
}

// match reports whether r matches k, whose addresses family() checked and
// stripped of zones. It is the definition the compiled classifier is tested
// against.
func (r *Rule) match(k *Key, src, dst netip.Addr) bool {
	if !r.Dirs.Has(k.Dir) {
		return false
	}
	if r.Forwarded && (k.InIface == IfaceLocal || k.OutIface == IfaceLocal) {
		return false
	}
	if r.InIface != Any && uint8(r.InIface) != k.InIface ||
		r.OutIface != Any && uint8(r.OutIface) != k.OutIface {
		return false
	}
	if !r.Family.Has(src) {
		return false
	}
	if !prefixesContain(r.Src, src) || !prefixesContain(r.Dst, dst) {
		return false
	}
	if r.Protos != nil && !slices.Contains(r.Protos, k.Flow.Proto) {
		return false
	}
	if !rangesContain(r.SrcPorts, k.Flow.Src.Port()) || !rangesContain(r.DstPorts, k.Flow.Dst.Port()) {
		return false
	}
	if !r.Flags.Match(k.TCPFlags) {
		return false
	}
	if r.ICMPType != Any && uint8(r.ICMPType) != k.ICMPType ||
		r.ICMPCode != Any && uint8(r.ICMPCode) != k.ICMPCode {
		return false
	}
	return true
}

func prefixesContain(ps []netip.Prefix, a netip.Addr) bool {
	if ps == nil {
		return true
	}
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func rangesContain(rs []PortRange, port uint16) bool {
	if rs == nil {
		return true
	}
	for _, r := range rs {
		if r.Contains(port) {
			return true
		}
	}
	return false
}

// normalize checks r and returns a copy that shares nothing with the
// caller: prefixes masked, lists sorted and deduplicated. Both classifiers
// use it, so that they see the same rules.
func normalize(i int, r *Rule) (Rule, error) {
	out := *r
	bad := func(format string, args ...any) (Rule, error) {
		return Rule{}, fmt.Errorf("classify: rule %d: %s", i, fmt.Sprintf(format, args...))
	}
	if r.Dirs == 0 || r.Dirs&^AllDirs != 0 {
		return bad("invalid direction set %#x", r.Dirs)
	}
	if r.Family == 0 || r.Family&^policy.FamilyBoth != 0 {
		return bad("invalid family %#x", r.Family)
	}
	for _, v := range []struct {
		name string
		v    int16
	}{{"InIface", r.InIface}, {"OutIface", r.OutIface}, {"ICMPType", r.ICMPType}, {"ICMPCode", r.ICMPCode}} {
		if v.v < Any || v.v > 255 {
			return bad("%s %d out of range", v.name, v.v)
		}
	}
	if r.Flags.Value&^r.Flags.Mask != 0 {
		return bad("flags value %#x outside mask %#x never matches", r.Flags.Value, r.Flags.Mask)
	}
	if r.Action > policy.Limit {
		return bad("invalid action %d", r.Action)
	}
	var err error
	if out.Src, err = normPrefixes(r.Src); err != nil {
		return bad("source %v", err)
	}
	if out.Dst, err = normPrefixes(r.Dst); err != nil {
		return bad("destination %v", err)
	}
	if r.Protos != nil {
		out.Protos = slices.Clone(r.Protos)
		slices.Sort(out.Protos)
		out.Protos = slices.Compact(out.Protos)
	}
	for _, pr := range [][]PortRange{r.SrcPorts, r.DstPorts} {
		for _, x := range pr {
			if x.Lo > x.Hi {
				return bad("port range %d:%d is empty", x.Lo, x.Hi)
			}
		}
	}
	out.SrcPorts = mergeRanges(r.SrcPorts)
	out.DstPorts = mergeRanges(r.DstPorts)
	return out, nil
}

func normPrefixes(ps []netip.Prefix) ([]netip.Prefix, error) {
	if ps == nil {
		return nil, nil
	}
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if !p.IsValid() {
			return nil, fmt.Errorf("prefix %v is invalid", p)
		}
		out = append(out, p.Masked())
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return slices.Compact(out), nil
}

// mergeRanges sorts ranges and merges those that overlap or touch, so that
// a rule's ranges are disjoint.
func mergeRanges(rs []PortRange) []PortRange {
	if rs == nil {
		return nil
	}
	out := slices.Clone(rs)
	sort.Slice(out, func(i, j int) bool { return out[i].Lo < out[j].Lo })
	n := 0
	for _, r := range out {
		if n > 0 && uint32(r.Lo) <= uint32(out[n-1].Hi)+1 {
			if r.Hi > out[n-1].Hi {
				out[n-1].Hi = r.Hi
			}
			continue
		}
		out[n] = r
		n++
	}
	return out[:n]
}

// Interfaces maps the interface names a policy uses to the indices the
// gateway puts in Key.InIface and Key.OutIface. Index IfaceLocal is
// reserved for the gateway itself.
type Interfaces map[string]uint8

// GatewayInterfaces returns the gateway's two interfaces: lan (IfaceLAN,
// inside) and wan (IfaceWAN, outside).
func GatewayInterfaces() Interfaces {
	return Interfaces{"lan": IfaceLAN, "wan": IfaceWAN}
}

func (ifs Interfaces) names() string {
	names := make([]string, 0, len(ifs))
	for n := range ifs {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// FromPolicy converts a policy's rules, then its implicit rules, into
// classifier rules, one for one, so that rule index i is p.Rule(i). An
// interface the policy names must be in ifaces.
func FromPolicy(p *policy.Policy, ifaces Interfaces) ([]Rule, Defaults, error) {
	for name, idx := range ifaces {
		if idx == IfaceLocal {
			return nil, Defaults{}, fmt.Errorf("classify: interface %q has index %d, which is reserved for the gateway itself", name, IfaceLocal)
		}
	}
	iface := func(r *policy.Rule, name string) (int16, error) {
		if name == "" {
			return Any, nil
		}
		idx, ok := ifaces[name]
		if !ok {
			return 0, fmt.Errorf("%s:%d:%d: unknown interface %q (known: %s)", p.Name, r.Line, r.Col, name, ifaces.names())
		}
		return int16(idx), nil
	}
	out := make([]Rule, 0, p.NumRules())
	for i := 0; i < p.NumRules(); i++ {
		pr := p.Rule(i)
		cr := Rule{
			Family:   pr.Family,
			Src:      pr.From.Addrs,
			Dst:      pr.To.Addrs,
			Protos:   pr.Protocols(),
			SrcPorts: pr.From.Ports,
			DstPorts: pr.To.Ports,
			Flags:    pr.Flags,
			ICMPType: pr.ICMPType,
			ICMPCode: pr.ICMPCode,
			Action:   pr.Action,
		}
		switch {
		case pr.Implicit:
			cr.Dirs = AllDirs
		case pr.Route:
			cr.Dirs, cr.Forwarded = AllDirs, true
		default:
			cr.Dirs = DirsOf(pr.Dir)
		}
		var err error
		if cr.InIface, err = iface(pr, pr.InIface); err != nil {
			return nil, Defaults{}, err
		}
		if cr.OutIface, err = iface(pr, pr.OutIface); err != nil {
			return nil, Defaults{}, err
		}
		out = append(out, cr)
	}
	return out, Defaults(p.Defaults), nil
}
