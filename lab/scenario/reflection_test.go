package scenario

import (
	"context"
	"testing"

	"github.com/rampart-fw/rampart/lab"
)

// TestReflection is the acceptance test of the reflection attack (issue
// 10): queries spoofed from client2's address for a large answer, sent by
// the attacker to the resolver. Without RRL the victim receives many
// times the octets the attacker sent (the attack works); with RRL the
// factor is at most 1, the limited answers the victim got are truncated
// ones, the resolver counted what it limited, slipped and dropped, another
// name from the victim's network is still answered, and queries spoofed
// from outside the ACL get REFUSED only and cause no recursion. Asserted on
// the victim's capture and the resolver's counters.
func TestReflection(t *testing.T) {
	l := upLab(t)
	env := &lab.Env{Dir: t.TempDir(), Rampart: rampartBin}
	off := RunReflection(context.Background(), l, env, ReflectionOptions{})
	if off.Err != nil {
		t.Fatal(off.Err)
	}
	on := RunReflection(context.Background(), l, env, ReflectionOptions{RRL: true})
	if on.Err != nil {
		t.Fatal(on.Err)
	}
	for _, r := range []*ReflectionResult{&off, &on} {
		t.Logf("RRL %v: %d queries (%d octets) in %s, %d lost; victim %d answers (%d slipped), %d octets: factor %.3f; metrics limited %.0f slipped %.0f dropped %.0f, ratio %.3f",
			r.Options.RRL, r.Queries, r.AttackOctets, r.Elapsed, r.Lost, r.Answers, r.Slipped, r.VictimOctets, r.Factor(),
			r.Metrics[`rampart_dns_rrl_responses_total{action="limited"}`], r.Metrics[`rampart_dns_rrl_responses_total{action="slipped"}`],
			r.Metrics[`rampart_dns_rrl_responses_total{action="dropped"}`], r.Metrics[`rampart_dns_client_amplification_ratio{client="10.10.0.0/24"}`])
		if r.Queries < 5000 {
			t.Fatalf("RRL %v: only %d queries sent: not a flood", r.Options.RRL, r.Queries)
		}
	}
	if off.Factor() <= 5 || off.Slipped != 0 {
		t.Errorf("without RRL: factor %.2f with %d slipped answers; want the attack to amplify (> 5) untruncated", off.Factor(), off.Slipped)
	}
	if on.Factor() > 1.0 {
		t.Errorf("with RRL: factor %.2f, want at most 1", on.Factor())
	}
	// One account (client2's network, the name, the type): its rate of 5
	// a second the first second, then nothing but every second limited
	// answer, truncated. (Queries the resolver's busy slow path dropped
	// before answering are neither.)
	if full := on.Answers - on.Slipped; full > 10 || on.Slipped < 1000 {
		t.Errorf("with RRL: %d full and %d truncated answers for %d queries; want at most 10 full and the rest truncated", full, on.Slipped, on.Queries)
	}
	limited := on.Metrics[`rampart_dns_rrl_responses_total{action="limited"}`]
	slipped := on.Metrics[`rampart_dns_rrl_responses_total{action="slipped"}`]
	dropped := on.Metrics[`rampart_dns_rrl_responses_total{action="dropped"}`]
	if limited != slipped+dropped || slipped < float64(on.Slipped) || dropped < slipped || dropped > slipped+1 {
		t.Errorf("with RRL the resolver counted limited %.0f, slipped %.0f, dropped %.0f (slip 2: as many dropped as slipped); the victim saw %d truncated answers",
			limited, slipped, dropped, on.Slipped)
	}
	if off.Metrics[`rampart_dns_rrl_responses_total{action="limited"}`] != 0 {
		t.Error("without RRL the resolver limited responses")
	}
	// The resolver's own view of the victim's network agrees with the
	// capture's.
	if ratio := on.Metrics[`rampart_dns_client_amplification_ratio{client="10.10.0.0/24"}`]; ratio <= 0 || ratio > 1 {
		t.Errorf("with RRL the resolver's amplification ratio for 10.10.0.0/24 is %.3f", ratio)
	}
	if ratio := off.Metrics[`rampart_dns_client_amplification_ratio{client="10.10.0.0/24"}`]; ratio <= 5 {
		t.Errorf("without RRL the resolver's amplification ratio for 10.10.0.0/24 is %.3f", ratio)
	}
	for _, line := range append(off.LabResults("reflection"), on.LabResults("reflection")...) {
		t.Logf("%v %s: %s → %s", line.OK, line.Tried, line.Defence, line.Outcome)
		if !line.OK {
			t.Errorf("%s: %s → %s", line.Tried, line.Defence, line.Outcome)
		}
	}
}
