package scenario

import (
	"context"
	"strings"
	"testing"

	"github.com/rampart-fw/rampart/lab"
)

// TestProxyScenario runs the demo's proxy scenario: a page passes, a URL
// is blocked, a script stripped, a forged certificate from the attacker
// refused, and a cache hit served, each seen from client1.
func TestProxyScenario(t *testing.T) {
	l := upLab(t)
	env := &lab.Env{Dir: t.TempDir(), Rampart: rampartBin}
	results := runProxy(context.Background(), l, env)
	if len(results) != 6 {
		t.Fatalf("%d results, want 6: %+v", len(results), results)
	}
	defences := 0
	for _, r := range results {
		if !r.OK {
			t.Errorf("%s: %s → %s", r.Tried, r.Defence, r.Outcome)
		}
		if r.Kind == lab.Defence {
			defences++
		}
	}
	if defences != 3 || !strings.Contains(results[4].Outcome, "502") {
		t.Errorf("%d defences; forged: %s", defences, results[4].Outcome)
	}
}
