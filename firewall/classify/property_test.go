package classify

import (
	"net/netip"
	"testing"

	"pgregory.net/rapid"

	"github.com/rampart-fw/rampart/firewall/policy"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// The generators draw from small pools of addresses, lengths, ports and
// protocols, so that random rules overlap, nest and share boundaries the
// way real ones do, and random keys land on those boundaries.
var (
	v4Bases  = []string{"10.0.0.0", "10.0.1.0", "10.0.1.128", "192.168.1.7", "203.0.113.255", "0.0.0.0", "255.255.255.255"}
	v6Bases  = []string{"2001:db8::", "2001:db8:0:1::", "2001:db8::8000:0:0:1", "fd00::1", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}
	v4Lens   = []int{0, 1, 8, 16, 23, 24, 25, 31, 32}
	v6Lens   = []int{0, 16, 32, 48, 63, 64, 65, 127, 128}
	portPool = []uint16{0, 1, 21, 22, 23, 53, 79, 80, 81, 443, 1023, 1024, 8000, 8080, 65534, 65535}
	protos   = []ipproto.Proto{0, 1, 6, 17, 47, 50, 58, 255}
	icmpPool = []int16{Any, 0, 3, 8, 11, 128, 255}
	ifPool   = []int16{Any, Any, Any, 0, 1, 2, 3}
)

func genPrefix(t *rapid.T, v6 bool, label string) netip.Prefix {
	bases, lens := v4Bases, v4Lens
	if v6 {
		bases, lens = v6Bases, v6Lens
	}
	a := netip.MustParseAddr(rapid.SampledFrom(bases).Draw(t, label+"-base"))
	return netip.PrefixFrom(a, rapid.SampledFrom(lens).Draw(t, label+"-len"))
}

func genPrefixes(t *rapid.T, fam policy.Family, label string) []netip.Prefix {
	if rapid.IntRange(0, 2).Draw(t, label+"-any") == 0 {
		return nil
	}
	n := rapid.IntRange(0, 3).Draw(t, label+"-n")
	out := []netip.Prefix{}
	for i := 0; i < n; i++ {
		v6 := fam == policy.FamilyIPv6 || fam == policy.FamilyBoth && rapid.Bool().Draw(t, label+"-v6")
		out = append(out, genPrefix(t, v6, label))
	}
	return out
}

func genRanges(t *rapid.T, label string) []PortRange {
	if rapid.IntRange(0, 2).Draw(t, label+"-any") > 0 {
		return nil
	}
	n := rapid.IntRange(0, 3).Draw(t, label+"-n")
	out := []PortRange{}
	for i := 0; i < n; i++ {
		a := rapid.SampledFrom(portPool).Draw(t, label+"-lo")
		b := rapid.SampledFrom(portPool).Draw(t, label+"-hi")
		if a > b {
			a, b = b, a
		}
		out = append(out, PortRange{Lo: a, Hi: b})
	}
	return out
}

var ruleGen = rapid.Custom(func(t *rapid.T) Rule {
	fam := rapid.SampledFrom([]policy.Family{policy.FamilyIPv4, policy.FamilyIPv6, policy.FamilyBoth}).Draw(t, "family")
	r := Rule{
		Dirs:      DirSet(rapid.IntRange(1, int(AllDirs)).Draw(t, "dirs")),
		Forwarded: rapid.IntRange(0, 4).Draw(t, "forwarded") == 0,
		InIface:   rapid.SampledFrom(ifPool).Draw(t, "in"),
		OutIface:  rapid.SampledFrom(ifPool).Draw(t, "out"),
		Family:    fam,
		Src:       genPrefixes(t, fam, "src"),
		Dst:       genPrefixes(t, fam, "dst"),
		SrcPorts:  genRanges(t, "sport"),
		DstPorts:  genRanges(t, "dport"),
		ICMPType:  rapid.SampledFrom(icmpPool).Draw(t, "type"),
		ICMPCode:  rapid.SampledFrom(icmpPool).Draw(t, "code"),
		Action:    Action(rapid.IntRange(0, 3).Draw(t, "action")),
	}
	if rapid.IntRange(0, 2).Draw(t, "protos-any") == 0 {
		r.Protos = rapid.SliceOfN(rapid.SampledFrom(protos), 0, 3).Draw(t, "protos")
	}
	if rapid.IntRange(0, 3).Draw(t, "flags-any") == 0 {
		mask := packet.TCPFlags(rapid.Uint8().Draw(t, "mask"))
		r.Flags = TCPFlags{Value: packet.TCPFlags(rapid.Uint8().Draw(t, "value")) & mask, Mask: mask}
	}
	return r
})

// boundaryAddr returns an address at or next to the edge of a rule's
// prefix, or a pool address.
func boundaryAddr(t *rapid.T, rules []Rule, v6 bool, label string) netip.Addr {
	var cands []netip.Prefix
	for _, r := range rules {
		for _, ps := range [][]netip.Prefix{r.Src, r.Dst} {
			for _, p := range ps {
				if p.Addr().Is6() == v6 {
					cands = append(cands, p.Masked())
				}
			}
		}
	}
	if len(cands) == 0 || rapid.IntRange(0, 4).Draw(t, label+"-pool") == 0 {
		return genPrefix(t, v6, label).Addr()
	}
	p := rapid.SampledFrom(cands).Draw(t, label+"-prefix")
	first := p.Addr()
	last := first
	for i := p.Bits(); i < first.BitLen(); i++ {
		b := last.AsSlice()
		b[i/8] |= 0x80 >> (i % 8)
		last, _ = netip.AddrFromSlice(b)
	}
	switch rapid.IntRange(0, 3).Draw(t, label+"-edge") {
	case 0:
		return first
	case 1:
		return last
	case 2:
		if prev := first.Prev(); prev.IsValid() {
			return prev
		}
		return first
	}
	if next := last.Next(); next.IsValid() {
		return next
	}
	return last
}

func boundaryPort(t *rapid.T, rules []Rule, label string) uint16 {
	var edges []uint16
	for _, r := range rules {
		for _, rs := range [][]PortRange{r.SrcPorts, r.DstPorts} {
			for _, pr := range rs {
				edges = append(edges, pr.Lo, pr.Hi, pr.Lo-1, pr.Hi+1)
			}
		}
	}
	if len(edges) == 0 || rapid.IntRange(0, 3).Draw(t, label+"-pool") == 0 {
		return rapid.SampledFrom(portPool).Draw(t, label)
	}
	return rapid.SampledFrom(edges).Draw(t, label)
}

func genKey(t *rapid.T, rules []Rule) Key {
	v6 := rapid.Bool().Draw(t, "v6")
	dir := Direction(rapid.IntRange(0, 3).Draw(t, "dir"))
	in := uint8(rapid.IntRange(0, 3).Draw(t, "in"))
	out := uint8(rapid.IntRange(0, 3).Draw(t, "out"))
	src := boundaryAddr(t, rules, v6, "src")
	dst := boundaryAddr(t, rules, v6, "dst")
	proto := rapid.SampledFrom(protos).Draw(t, "proto")
	sport := boundaryPort(t, rules, "sport")
	dport := boundaryPort(t, rules, "dport")
	k := Key{
		Dir:      dir,
		InIface:  in,
		OutIface: out,
		Flow:     fk(src, dst, proto, sport, dport),
		TCPFlags: packet.TCPFlags(rapid.Uint8().Draw(t, "flags")),
		ICMPType: uint8(rapid.SampledFrom(icmpPool[1:]).Draw(t, "type")),
		ICMPCode: uint8(rapid.SampledFrom(icmpPool[1:]).Draw(t, "code")),
	}
	// Now and then a key the classifiers must refuse.
	switch rapid.IntRange(0, 30).Draw(t, "odd") {
	case 0:
		k.Flow.Dst = netip.AddrPortFrom(boundaryAddr(t, rules, !v6, "dst-other-family"), dport)
	case 1:
		k.Flow.Src = netip.AddrPortFrom(netip.Addr{}, sport)
	}
	return k
}

// TestCompiledMatchesLinear is the property the compiled classifier rests
// on: for any rules and any packet it decides exactly as the rules read in
// order do.
func TestCompiledMatchesLinear(t *testing.T) {
	// Five rounds of rapid's default hundred cases: mutations of the
	// compiler (a dropped interface or port check) took one to two hundred
	// cases to show.
	for round := 0; round < 5; round++ {
		rapid.Check(t, checkCompiledMatchesLinear)
	}
}

func checkCompiledMatchesLinear(t *rapid.T) {
	rules := rapid.SliceOfN(ruleGen, 0, 70).Draw(t, "rules")
	defaults := Defaults{
		Action(rapid.IntRange(0, 3).Draw(t, "default-in")),
		Action(rapid.IntRange(0, 3).Draw(t, "default-out")),
		Action(rapid.IntRange(0, 3).Draw(t, "default-routed")),
	}
	lin, err := NewLinear(rules, defaults)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Compile(rules, defaults, Config{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		k := genKey(t, rules)
		wi, wa := lin.Lookup(&k)
		gi, ga := c.Lookup(&k)
		if wi != gi || wa != ga {
			t.Fatalf("key %+v: compiled (%d, %v), linear (%d, %v)", k, gi, ga, wi, wa)
		}
	}
}
