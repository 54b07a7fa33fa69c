package scenario

import (
	"context"
	"testing"

	"github.com/rampart-fw/rampart/lab"
)

// TestLogicAttacks: a spoofed inside source, LAND, ping of death and
// teardrop each reach client2 through the bare kernel bridge and none
// through rampart's gateway, whose guard counts each by its reason, with
// a policy that would let them all in; a legitimate connection passes
// after them.
func TestLogicAttacks(t *testing.T) {
	l := upLab(t)
	env := &lab.Env{Dir: t.TempDir(), Rampart: rampartBin}
	r := RunLogic(context.Background(), l, env)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	for _, line := range r.LabResults("logic") {
		t.Logf("%s: %s", line.Tried, line.Outcome)
		if !line.OK {
			t.Errorf("not as expected: %s → %s", line.Tried, line.Outcome)
		}
	}
}
