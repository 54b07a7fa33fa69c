// Package cleantmp gives a test binary a temporary folder of its own and
// fails the run when the tests leave anything in it.
//
// Main points TMPDIR at a new folder for the whole run, so t.TempDir,
// os.MkdirTemp and every process the tests start (the rampart binary of a
// lab demo, say) write there and nowhere else in the system's temporary
// directory; other test runs on the same machine do not disturb the count.
// It knows nothing of what the tests do.
package cleantmp

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var dir string

// Dir is the run's temporary folder, once Main has made it.
func Dir() string { return dir }

// Main is a TestMain: it makes the run's folder, sets TMPDIR to it, runs
// setup (when not nil) and the tests, and then fails the run, naming them,
// when entries other than those in keep are left in the folder, whether
// the tests passed or not. It removes the folder in every case and returns
// the exit code for os.Exit. keep names what setup or the tests put in
// the folder on purpose for the whole run (a binary built once).
func Main(m *testing.M, setup func(dir string) error, keep ...string) int {
	d, err := os.MkdirTemp("", "rampart-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cleantmp:", err)
		return 1
	}
	defer os.RemoveAll(d)
	dir = d
	old, had := os.LookupEnv("TMPDIR")
	os.Setenv("TMPDIR", d)
	defer func() {
		if had {
			os.Setenv("TMPDIR", old)
		} else {
			os.Unsetenv("TMPDIR")
		}
	}()
	if setup != nil {
		if err := setup(d); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	code := m.Run()
	if left := Left(d, keep...); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the tests left %d entries in the temporary folder (%s): %v\n", len(left), d, left)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Left lists the entries of dir whose names are not in keep.
func Left(dir string, keep ...string) []string {
	ents, _ := os.ReadDir(dir)
	var left []string
	for _, e := range ents {
		if !slices.Contains(keep, e.Name()) {
			left = append(left, filepath.Join(dir, e.Name()))
		}
	}
	return left
}
