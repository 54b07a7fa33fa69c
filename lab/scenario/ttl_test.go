package scenario

import (
	"context"
	"os/exec"
	"testing"

	"github.com/rampart-fw/rampart/lab"
)

// TestTTLEvasion is issue 11's lab acceptance for TTL evasion: rampart as
// gw's router runs the IDS in line; junk sent with a TTL of 1 over the
// command expires there. In detection mode the alert fires for every one
// of the 12 stream policies' targets, and the engine inspected the
// command (what the host got); the same traffic offline without hop
// distances misses every target, and with the inside one router away
// catches every one; in prevention mode client2 receives, for every
// target, exactly the stream the engine inspected.
func TestTTLEvasion(t *testing.T) {
	l := upLab(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skipf("skipping: %v", lab.ErrNoNft)
	}
	env := &lab.Env{Dir: t.TempDir(), Rampart: rampartBin}
	r := RunTTLEvasion(context.Background(), l, env)
	for _, line := range r.LabResults("ttl-evasion") {
		t.Logf("%s: %s", line.Tried, line.Outcome)
		for _, d := range line.Details {
			t.Logf("    %s", d)
		}
		if !line.OK {
			t.Errorf("not as expected: %s → %s", line.Tried, line.Outcome)
		}
	}
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	for i, tg := range r.Targets {
		if got, want := string(r.Detect.Received[i]), tg.Stream(evasionAttack); got != want {
			t.Errorf("detection: client2 received %q for %s, want %q: the junk must expire at gw", got, tg.Policy, want)
		}
		if !r.Detect.Alerted[i] || r.Detect.Inspected[i] != "EVILCMD" {
			t.Errorf("detection: for %s alert %v, inspected %q; want the alert on EVILCMD", tg.Policy, r.Detect.Alerted[i], r.Detect.Inspected[i])
		}
		if r.Naive.Alerted[i] {
			t.Errorf("the naive engine alerted for %s: the layout must hide the command from it", tg.Policy)
		}
		if !r.Hops.Alerted[i] || r.Hops.Evasions[i] == 0 {
			t.Errorf("offline with hop distances: for %s alert %v, %d stream.ttl_evasion events; want the alert and the event", tg.Policy, r.Hops.Alerted[i], r.Hops.Evasions[i])
		}
		want := tg.Stream(evasionAttack)
		if r.Prevent.Inspected[i] != "EVILCMD" || string(r.Prevent.Received[i]) != want || !r.Prevent.Alerted[i] {
			t.Errorf("prevention: for %s inspected %q, alert %v, client2 received %q; want EVILCMD inspected, alerted and received whole (%q)",
				tg.Policy, r.Prevent.Inspected[i], r.Prevent.Alerted[i], r.Prevent.Received[i], want)
		}
	}
}
