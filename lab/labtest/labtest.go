// Package labtest brings a lab up for a test and removes it when the test
// ends; a test on a machine where the lab cannot run is skipped, saying
// why. It is for tests only.
package labtest

import (
	"context"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/lab"
)

// Up brings the standard topology up for one test and removes it when the
// test and its subtests end.
func Up(t testing.TB) *lab.Lab {
	t.Helper()
	if err := lab.CheckPrivileges(); err != nil {
		t.Skipf("skipping lab test: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := lab.Up(ctx, lab.Standard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Down() })
	return l
}
