package scenario

import (
	"context"
	"os/exec"
	"slices"
	"testing"

	"github.com/rampart-fw/rampart/lab"
)

// TestOverlapEvasion is issue 11's lab acceptance for overlapping
// segments: through rampart's gateway, the target-based engine alerts on
// the command for every one of the 12 stream policies; the naive engines
// (bsd, first for every host) miss exactly the targets whose layout
// hides it from them; in prevention mode client2 receives, for every
// target, exactly the stream the engine inspected (the reading rules say
// which, first byte to last), and the alert fires exactly where that
// stream carries the command.
func TestOverlapEvasion(t *testing.T) {
	l := upLab(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skipf("skipping: %v", lab.ErrNoNft)
	}
	env := &lab.Env{Dir: t.TempDir(), Rampart: rampartBin}
	r := RunOverlap(context.Background(), l, env)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	for _, line := range r.LabResults("overlap") {
		t.Logf("%s: %s", line.Tried, line.Outcome)
		for _, d := range line.Details {
			t.Logf("    %s", d)
		}
		if !line.OK {
			t.Errorf("not as expected: %s → %s", line.Tried, line.Outcome)
		}
	}
	if len(r.Targets) != len(StreamPolicies) {
		t.Fatalf("%d targets, want one per stream policy (%d)", len(r.Targets), len(StreamPolicies))
	}
	for i, tg := range r.Targets {
		if !r.Detect.Alerted[i] {
			t.Errorf("detection: no alert for %s (%s)", tg.Policy, tg.Addr)
		}
		if r.Detect.Inspected[i] != "EVILCMD" {
			t.Errorf("detection: the engine inspected %q for %s, want the stream with EVILCMD", r.Detect.Inspected[i], tg.Policy)
		}
		got, want := string(r.Prevent.Received[i]), ""
		switch r.Prevent.Inspected[i] {
		case "EVILCMD":
			want = tg.Stream(evasionAttack)
		case "EVILXXX":
			want = tg.Stream(evasionJunk)
		default:
			t.Errorf("prevention: the engine's inspected stream for %s is %q, not one of the two", tg.Policy, r.Prevent.Inspected[i])
			continue
		}
		if got != want {
			t.Errorf("prevention: client2 received %q for %s, the engine inspected %q", got, tg.Policy, want)
		}
		if r.Prevent.Alerted[i] != (r.Prevent.Inspected[i] == "EVILCMD") {
			t.Errorf("prevention: alert %v for %s, which inspected %s", r.Prevent.Alerted[i], tg.Policy, r.Prevent.Inspected[i])
		}
	}
	for i, p := range NaivePolicies {
		if missed := r.Naive[i].Missed(r.Targets); !slices.Equal(missed, NaiveMisses(r.Targets, p)) {
			t.Errorf("naive %s missed %v, want %v", p, missed, NaiveMisses(r.Targets, p))
		}
	}
}
