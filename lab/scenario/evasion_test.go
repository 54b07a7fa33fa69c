package scenario

import (
	"strings"
	"testing"

	"github.com/rampart-fw/rampart/ids/rules"
	"github.com/rampart-fw/rampart/ids/stream"
)

// TestEvasionRules checks, without a lab, what the evasions hand the
// engine: every stream policy a target, each policy name one the engine
// parses, a rule file that loads whole (the signature and two reading
// rules per target), and per target two streams that differ only in the
// contested bytes, neither of whose segments carries the signature.
func TestEvasionRules(t *testing.T) {
	for _, set := range []struct {
		name    string
		targets []EvasionTarget
	}{{"overlap", OverlapTargets()}, {"ttl", TTLTargets()}} {
		if len(set.targets) != len(StreamPolicies) {
			t.Fatalf("%s: %d targets for %d policies", set.name, len(set.targets), len(StreamPolicies))
		}
		rs := rules.Parse(set.name+".rules", []byte(evasionRules(set.targets)), nil)
		if err := rs.Err(); err != nil {
			t.Fatalf("%s: %v", set.name, err)
		}
		if want := 1 + 2*len(set.targets); len(rs.Rules) != want {
			t.Errorf("%s: %d rules loaded, want %d", set.name, len(rs.Rules), want)
		}
		seen := map[string]bool{}
		for _, tg := range set.targets {
			if _, err := stream.ParsePolicy(tg.Policy); err != nil {
				t.Errorf("%s: %v", set.name, err)
			}
			if seen[tg.Addr.String()] {
				t.Errorf("%s: %s twice", set.name, tg.Addr)
			}
			seen[tg.Addr.String()] = true
			a, j := tg.Stream(evasionAttack), tg.Stream(evasionJunk)
			if len(a) != len(j) || !strings.Contains(a, "EVIL"+evasionAttack) || strings.Contains(j, "EVIL"+evasionAttack) {
				t.Errorf("%s %s: streams %q and %q", set.name, tg.Policy, a, j)
			}
			end := 0
			for _, s := range tg.segments() {
				if strings.Contains(s.Data, "EVIL"+evasionAttack) {
					t.Errorf("%s %s: segment %q at %d carries the signature whole", set.name, tg.Policy, s.Data, s.Off)
				}
				if s.Off < 0 || s.Off+len(s.Data) > len(a) {
					t.Errorf("%s %s: segment %q at %d is outside the %d-byte stream", set.name, tg.Policy, s.Data, s.Off, len(a))
				}
				end = max(end, s.Off+len(s.Data))
			}
			if end != len(a) {
				t.Errorf("%s %s: the segments end at %d, the stream at %d", set.name, tg.Policy, end, len(a))
			}
		}
	}
}
