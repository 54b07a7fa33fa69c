package classify

import (
	"fmt"
	"net/netip"
	"testing"
	"unsafe"

	"pgregory.net/rapid"

	"github.com/rampart-fw/rampart/firewall/policy"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// The sizes Stats and the memory bound count must be the real ones, and a
// box must stay two to a cache line.
func TestTreeLayout(t *testing.T) {
	if n := unsafe.Sizeof(box4{}); n != box4Size {
		t.Errorf("box4 is %d bytes, box4Size says %d", n, box4Size)
	}
	if n := unsafe.Sizeof(ruleMeta{}); n != ruleMetaSize {
		t.Errorf("ruleMeta is %d bytes, ruleMetaSize says %d", n, ruleMetaSize)
	}
	if n := unsafe.Sizeof(bbox{}); n != bboxSize {
		t.Errorf("bbox is %d bytes, bboxSize says %d", n, bboxSize)
	}
}

// denseNets are the /16s the dense generator draws from: few, so that
// prefixes nest and the trees cut every field and compact their regions.
var denseNets = []uint32{0x0a000000, 0x0a010000, 0xc0a80000, 0xcb007100}

func denseAddr(t *rapid.T, label string) netip.Addr {
	v := rapid.SampledFrom(denseNets).Draw(t, label+"-net")
	v |= uint32(rapid.SampledFrom([]int{0, 1, 2, 128, 255}).Draw(t, label+"-sub")) << 8
	v |= uint32(rapid.SampledFrom([]int{0, 1, 7, 8, 200, 255}).Draw(t, label+"-host"))
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func densePrefixes(t *rapid.T, label string) []netip.Prefix {
	if rapid.IntRange(0, 4).Draw(t, label+"-any") == 0 {
		return nil
	}
	var out []netip.Prefix
	for n := rapid.IntRange(1, 2).Draw(t, label+"-n"); n > 0; n-- {
		bits := rapid.SampledFrom([]int{0, 8, 15, 16, 17, 24, 25, 31, 32, 32, 32}).Draw(t, label+"-len")
		out = append(out, netip.PrefixFrom(denseAddr(t, label), bits))
	}
	return out
}

var densePorts = []uint16{0, 1, 22, 53, 79, 80, 81, 443, 1023, 1024, 8080, 65535}

func densePortRanges(t *rapid.T, label string) []PortRange {
	if rapid.IntRange(0, 2).Draw(t, label+"-any") == 0 {
		return nil
	}
	var out []PortRange
	for n := rapid.IntRange(1, 2).Draw(t, label+"-n"); n > 0; n-- {
		a := rapid.SampledFrom(densePorts).Draw(t, label+"-lo")
		b := a
		if rapid.Bool().Draw(t, label+"-range") {
			b = rapid.SampledFrom(densePorts).Draw(t, label+"-hi")
		}
		out = append(out, PortRange{Lo: min(a, b), Hi: max(a, b)})
	}
	return out
}

// denseRuleGen makes IPv4 rules for one direction that overlap heavily,
// with now and then a rule of the one-byte fields, which the tree leaves
// to the leaves, and a rule that matches everything.
var denseRuleGen = rapid.Custom(func(t *rapid.T) Rule {
	r := Rule{
		Dirs: DirsOf(In), Family: policy.FamilyIPv4, InIface: Any, OutIface: Any, ICMPType: Any, ICMPCode: Any,
		Action: Action(rapid.IntRange(0, 3).Draw(t, "action")),
	}
	if rapid.IntRange(0, 30).Draw(t, "wildcard") == 0 {
		return r
	}
	r.Src = densePrefixes(t, "src")
	r.Dst = densePrefixes(t, "dst")
	switch rapid.IntRange(0, 5).Draw(t, "proto") {
	case 0:
	case 1:
		r.Protos = []ipproto.Proto{ipproto.ICMP}
		if rapid.Bool().Draw(t, "icmp-type") {
			r.ICMPType = int16(rapid.SampledFrom([]int{0, 3, 8}).Draw(t, "type"))
		}
	case 2:
		r.Protos = []ipproto.Proto{ipproto.TCP, ipproto.UDP}
		r.DstPorts = densePortRanges(t, "dport")
	default:
		r.Protos = []ipproto.Proto{rapid.SampledFrom([]ipproto.Proto{ipproto.TCP, ipproto.UDP}).Draw(t, "l4")}
		r.SrcPorts = densePortRanges(t, "sport")
		r.DstPorts = densePortRanges(t, "dport")
	}
	switch rapid.IntRange(0, 12).Draw(t, "meta") {
	case 0:
		r.InIface = int16(rapid.IntRange(0, 2).Draw(t, "in"))
	case 1:
		r.Flags = TCPFlags{Value: packet.TCPSYN, Mask: packet.TCPSYN | packet.TCPACK}
	case 2:
		r.Forwarded = true
	}
	return r
})

func denseKey(t *rapid.T, rules []Rule) Key {
	in := uint8(rapid.IntRange(0, 2).Draw(t, "in"))
	out := uint8(rapid.IntRange(0, 2).Draw(t, "out"))
	src := boundaryAddr(t, rules, false, "src")
	dst := boundaryAddr(t, rules, false, "dst")
	proto := rapid.SampledFrom([]ipproto.Proto{ipproto.ICMP, ipproto.TCP, ipproto.UDP, ipproto.GRE}).Draw(t, "proto")
	sport := boundaryPort(t, rules, "sport")
	dport := boundaryPort(t, rules, "dport")
	k := Key{
		Dir: In, InIface: in, OutIface: out,
		TCPFlags: rapid.SampledFrom([]packet.TCPFlags{0, packet.TCPSYN, packet.TCPSYN | packet.TCPACK}).Draw(t, "flags"),
		ICMPType: uint8(rapid.SampledFrom([]int{0, 3, 8}).Draw(t, "type")),
	}
	if rapid.IntRange(0, 3).Draw(t, "random-src") == 0 {
		src = denseAddr(t, "key-src")
	}
	if rapid.IntRange(0, 3).Draw(t, "random-dst") == 0 {
		dst = denseAddr(t, "key-dst")
	}
	k.Flow = fk(src, dst, proto, sport, dport)
	return k
}

// TestTreeMatchesLinear checks the decision tree on rule sets that make it
// cut, compact and share: many rules over a few networks, rule counts on
// both sides of the leaf size, duplicate rules (the first must win), and
// rules that match everything.
func TestTreeMatchesLinear(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var rules []Rule
		switch rapid.IntRange(0, 2).Draw(t, "size") {
		case 0:
			rules = rapid.SliceOfN(denseRuleGen, 0, 3*leafSize).Draw(t, "rules")
		case 1:
			rules = rapid.SliceOfN(denseRuleGen, leafSize-1, leafSize+2).Draw(t, "rules")
		default:
			rules = rapid.SliceOfN(denseRuleGen, 50, 300).Draw(t, "rules")
		}
		for n := rapid.IntRange(0, 3).Draw(t, "duplicates"); n > 0 && len(rules) > 0; n-- {
			r := rules[rapid.IntRange(0, len(rules)-1).Draw(t, "dup")]
			r.Action = Action(rapid.IntRange(0, 3).Draw(t, "dup-action"))
			at := rapid.IntRange(0, len(rules)).Draw(t, "dup-at")
			rules = append(rules[:at:at], append([]Rule{r}, rules[at:]...)...)
		}
		lin, err := NewLinear(rules, Defaults{Deny, Allow, Reject})
		if err != nil {
			t.Fatal(err)
		}
		c, err := Compile(rules, Defaults{Deny, Allow, Reject}, Config{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rules) > 0 && c.Stats().TreeEngines != 1 {
			t.Fatalf("stats %+v: want the rules in one tree", c.Stats())
		}
		for i := 0; i < 60; i++ {
			k := denseKey(t, rules)
			wi, wa := lin.Lookup(&k)
			gi, ga := c.Lookup(&k)
			if wi != gi || wa != ga {
				t.Fatalf("key %+v: compiled (%d, %v), linear (%d, %v)", k, gi, ga, wi, wa)
			}
		}
	})
}

// TestTreeShadowedRules checks that a rule that matches everything ends
// the tree's work: the rules after it take no memory.
func TestTreeShadowedRules(t *testing.T) {
	rules := []Rule{{Dirs: DirsOf(In), Family: policy.FamilyIPv4, InIface: Any, OutIface: Any, ICMPType: Any, ICMPCode: Any,
		Dst: []netip.Prefix{netip.MustParsePrefix("192.0.2.7/32")}, Protos: []ipproto.Proto{ipproto.TCP}, Action: Reject}}
	all := Rule{Dirs: DirsOf(In), Family: policy.FamilyIPv4, InIface: Any, OutIface: Any, ICMPType: Any, ICMPCode: Any, Action: Allow}
	rules = append(rules, all)
	for i := 0; i < 1000; i++ {
		r := all
		r.Src = []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)}
		r.Action = Deny
		rules = append(rules, r)
	}
	c, err := Compile(rules, Defaults{}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.TreeEngines != 1 || st.Boxes > 2 {
		t.Errorf("stats %+v: want two boxes", st)
	}
	for _, tt := range []struct {
		dst   string
		proto ipproto.Proto
		index int
	}{{"192.0.2.7", tcp, 0}, {"192.0.2.7", udp, 1}, {"192.0.2.8", tcp, 1}} {
		k := pkt{In, IfaceWAN, IfaceLAN, "10.0.3.1", tt.dst, tt.proto, 1, 2, 0, 0, 0}.key()
		if i, _ := c.Lookup(&k); i != tt.index {
			t.Errorf("%s proto %v: rule %d, want %d", tt.dst, tt.proto, i, tt.index)
		}
	}
}

// TestTreeFallsBackToBitVectors gives Compile a rule whose lists expand
// into more boxes than the memory limit allows for a tree but bit vectors
// can hold: Compile must build bit vectors, not fail, and classify alike.
func TestTreeFallsBackToBitVectors(t *testing.T) {
	var src, dst []netip.Prefix
	var ports []PortRange
	for i := 0; i < 40; i++ {
		src = append(src, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16))
		dst = append(dst, netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(i), 0}), 24))
		ports = append(ports, PortRange{Lo: uint16(1000 * (i + 1)), Hi: uint16(1000*(i+1) + 10)})
	}
	rules := []Rule{{Dirs: DirsOf(In), Family: policy.FamilyIPv4, InIface: Any, OutIface: Any, ICMPType: Any, ICMPCode: Any,
		Src: src, Dst: dst, Protos: []ipproto.Proto{ipproto.TCP}, DstPorts: ports, Action: Allow}}
	// 40*40*40 boxes of 48 bytes while building: 3 MiB, over the limit.
	c, err := Compile(rules, Defaults{}, Config{MaxMemory: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.TreeEngines != 0 || st.Engines != 1 || st.Bytes > 1<<20 {
		t.Errorf("stats %+v: want one bit-vector engine", st)
	}
	lin, _ := NewLinear(rules, Defaults{})
	for i := 0; i < 200; i++ {
		k := pkt{In, IfaceWAN, IfaceLAN, fmt.Sprintf("10.%d.1.1", i%50), fmt.Sprintf("192.168.%d.9", i%45), tcp, 1, uint16(1000*(i%42) + i%12), 0, 0, 0}.key()
		wi, wa := lin.Lookup(&k)
		gi, ga := c.Lookup(&k)
		if wi != gi || wa != ga {
			t.Fatalf("key %+v: compiled (%d, %v), linear (%d, %v)", k, gi, ga, wi, wa)
		}
	}
	// With the default limit the same rule gets a tree.
	c, err = Compile(rules, Defaults{}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.TreeEngines != 1 {
		t.Errorf("stats %+v: want a tree", st)
	}
}

// TestTreeExhaustivePorts compares the tree with the linear scan on every
// destination port, for rules that differ only in port ranges: wide,
// nested and partly overlapping ranges are where children of a node hold
// the same rules in different ways, which must not make them share a
// subtree.
func TestTreeExhaustivePorts(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(leafSize+1, 40).Draw(t, "n")
		var rules []Rule
		for i := 0; i < n; i++ {
			r := Rule{Dirs: DirsOf(In), Family: policy.FamilyIPv4, InIface: Any, OutIface: Any, ICMPType: Any, ICMPCode: Any,
				Protos: []ipproto.Proto{tcp}, Action: Action(rapid.IntRange(0, 3).Draw(t, "action"))}
			lo := uint16(rapid.IntRange(0, 65535).Draw(t, "lo"))
			width := rapid.SampledFrom([]int{0, 1, 100, 1 << 12, 1 << 14, 40000, 65535}).Draw(t, "width")
			r.DstPorts = []PortRange{{Lo: lo, Hi: uint16(min(int(lo)+width, 65535))}}
			if rapid.IntRange(0, 5).Draw(t, "with-source") == 0 {
				r.SrcPorts = []PortRange{{Lo: 1024, Hi: 65535}}
			}
			rules = append(rules, r)
		}
		lin, _ := NewLinear(rules, Defaults{})
		c, err := Compile(rules, Defaults{}, Config{})
		if err != nil {
			t.Fatal(err)
		}
		for _, sport := range []uint16{80, 50000} {
			k := pkt{In, IfaceWAN, IfaceLAN, "192.0.2.1", "198.51.100.1", tcp, sport, 0, 0, 0, 0}.key()
			for p := 0; p < 65536; p++ {
				setPorts(&k, sport, uint16(p))
				wi, wa := lin.Lookup(&k)
				gi, ga := c.Lookup(&k)
				if wi != gi || wa != ga {
					t.Fatalf("key %+v: compiled (%d, %v), linear (%d, %v)", k, gi, ga, wi, wa)
				}
			}
		}
	})
}
