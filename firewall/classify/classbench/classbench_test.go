package classbench

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/rampart-fw/rampart/firewall/policy"
	"github.com/rampart-fw/rampart/flow"
)

func TestGenerateDeterministic(t *testing.T) {
	for _, p := range []Profile{ACL, FW} {
		a := Generate(p, 500, 7)
		b := Generate(p, 500, 7)
		c := Generate(p, 500, 8)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%v: same seed, different rules", p)
		}
		if reflect.DeepEqual(a, c) {
			t.Errorf("%v: different seeds, same rules", p)
		}
		if !reflect.DeepEqual(Trace(a, 1000, 3), Trace(b, 1000, 3)) {
			t.Errorf("%v: same seed, different traces", p)
		}
	}
}

func TestGenerateShape(t *testing.T) {
	for _, tt := range []struct {
		p                 Profile
		n                 int
		minSrcAny, maxAny float64 // share of rules with a wildcard source
	}{
		{ACL, 10000, 0.05, 0.30},
		{FW, 10000, 0.25, 0.60},
	} {
		rules := Generate(tt.p, tt.n, 1)
		if len(rules) != tt.n {
			t.Fatalf("%v: %d rules, want %d", tt.p, len(rules), tt.n)
		}
		seen := map[Rule]bool{}
		srcAny, portsWithoutProto := 0, 0
		for _, r := range rules {
			key := r
			key.Allow = false
			if seen[key] {
				t.Fatalf("%v: duplicate rule %v", tt.p, r)
			}
			seen[key] = true
			if r.Src.Bits() == 0 {
				srcAny++
			}
			if r.Proto != 6 && r.Proto != 17 && (!r.SrcPort.IsAny() || !r.DstPort.IsAny()) {
				portsWithoutProto++
			}
			if r.Src != r.Src.Masked() || r.Dst != r.Dst.Masked() || !r.Src.Addr().Is4() {
				t.Fatalf("%v: bad prefixes in %v", tt.p, r)
			}
		}
		share := float64(srcAny) / float64(tt.n)
		if share < tt.minSrcAny || share > tt.maxAny {
			t.Errorf("%v: %.2f of sources are wildcards", tt.p, share)
		}
		if portsWithoutProto > 0 {
			t.Errorf("%v: %d rules with ports but no tcp or udp", tt.p, portsWithoutProto)
		}
	}
}

// TestTextParses checks that the rule text is valid rampart policy and
// says what the rules say.
func TestTextParses(t *testing.T) {
	rules := Generate(FW, 2000, 5)
	p, err := policy.Parse("cb.rules", []byte(Text(rules)))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rules) != len(rules) {
		t.Fatalf("%d rules parsed, want %d", len(p.Rules), len(rules))
	}
	for i, r := range rules {
		pr := &p.Rules[i]
		if (pr.Action == policy.Allow) != r.Allow {
			t.Fatalf("rule %d action %v, generated %v", i, pr.Action, r)
		}
		if r.Src.Bits() > 0 && (len(pr.From.Addrs) != 1 || pr.From.Addrs[0] != r.Src) {
			t.Fatalf("rule %d from %v, generated %v", i, pr.From.Addrs, r)
		}
		if !r.DstPort.IsAny() && (len(pr.To.Ports) != 1 || pr.To.Ports[0] != policy.PortRange{Lo: r.DstPort.Lo, Hi: r.DstPort.Hi}) {
			t.Fatalf("rule %d to ports %v, generated %v", i, pr.To.Ports, r)
		}
	}
}

func (r Rule) matches(h flow.Key) bool {
	if !r.Src.Contains(h.Src.Addr()) || !r.Dst.Contains(h.Dst.Addr()) {
		return false
	}
	if r.Proto != 0 && r.Proto != h.Proto {
		return false
	}
	in := func(p Ports, v uint16) bool { return p.IsAny() || p.Lo <= v && v <= p.Hi }
	return in(r.SrcPort, h.Src.Port()) && in(r.DstPort, h.Dst.Port())
}

func TestTraceHitsRules(t *testing.T) {
	rules := Generate(ACL, 1000, 1)
	trace := Trace(rules, 5000, 2)
	if len(trace) != 5000 {
		t.Fatalf("trace of %d headers", len(trace))
	}
	hits := 0
	for _, h := range trace {
		if !h.Src.Addr().Is4() || !h.Dst.Addr().Is4() {
			t.Fatalf("header %+v", h)
		}
		for _, r := range rules {
			if r.matches(h) {
				hits++
				break
			}
		}
	}
	// One header in twenty is random; the rest come from rules.
	if share := float64(hits) / float64(len(trace)); share < 0.9 {
		t.Errorf("only %.2f of headers match a rule", share)
	}
	if len(Trace(nil, 10, 1)) != 10 {
		t.Error("a trace without rules still has headers")
	}
}

func TestRuleString(t *testing.T) {
	r := Rule{
		Src:     netip.MustParsePrefix("10.0.0.0/8"),
		Dst:     netip.MustParsePrefix("192.0.2.1/32"),
		SrcPort: AnyPorts, DstPort: Ports{80, 80}, Proto: 6, Allow: true,
	}
	if got, want := r.String(), "allow proto tcp from 10.0.0.0/8 to 192.0.2.1/32 port 80"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	r = Rule{Src: netip.MustParsePrefix("0.0.0.0/0"), Dst: netip.MustParsePrefix("0.0.0.0/0"), SrcPort: Ports{1024, 65535}, DstPort: AnyPorts, Proto: 17}
	if got, want := r.String(), "deny proto udp from any port 1024:65535 to any"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if ACL.String() != "acl" || FW.String() != "fw" {
		t.Error("profile names")
	}
}

// TestNoEarlyCatchAll: no generated rule before the last matches every
// packet, which would shadow the rest of the set.
func TestNoEarlyCatchAll(t *testing.T) {
	for _, p := range []Profile{ACL, FW} {
		for _, n := range []int{100, 1000, 10000} {
			rules := Generate(p, n, 1)
			for i, r := range rules[:len(rules)-1] {
				if r.Src.Bits() == 0 && r.Dst.Bits() == 0 && r.Proto == 0 {
					t.Errorf("%v %d: rule %d matches every packet", p, n, i)
				}
			}
		}
	}
}
