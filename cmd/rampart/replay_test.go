package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReplayScenarios runs rampart's own .rpl scenarios against the real
// resolver, cache and response path, as `rampart resolver replay` does.
func TestReplayScenarios(t *testing.T) {
	files, _ := filepath.Glob("../../dns/replay/testdata/*.rpl")
	files2, _ := filepath.Glob("testdata/rpl/*.rpl")
	files = append(files, files2...)
	if len(files) < 6 {
		t.Fatalf("found only %d scenarios", len(files))
	}
	for _, f := range files {
		base := filepath.Base(f)
		if base == "out_query_reply.rpl" {
			// It scripts which of two equal servers the resolver asks first;
			// rampart picks among unmeasured servers at random.
			continue
		}
		t.Run(base, func(t *testing.T) {
			code, out, errOut := runCLI("resolver", "replay", f)
			if base == "must_fail.rpl" {
				if code != 1 || !strings.Contains(out, "FAILED: step 10: CHECK_ANSWER") {
					t.Errorf("must_fail.rpl: exit %d, %q", code, out)
				}
				return
			}
			if code != 0 || !strings.Contains(out, ": passed") {
				t.Errorf("exit %d: %s%s", code, out, errOut)
			}
		})
	}
	if _, err := os.Stat("../../dns/replay/testdata/must_fail.rpl"); err != nil {
		t.Fatal(err)
	}
}
