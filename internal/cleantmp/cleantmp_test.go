package cleantmp

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(Main(m, nil)) }

// The run's folder is TMPDIR, and Left names what is in it but kept.
func TestLeft(t *testing.T) {
	if os.TempDir() != Dir() || Dir() == "" {
		t.Fatalf("os.TempDir() = %q, want the run's folder %q", os.TempDir(), Dir())
	}
	d := t.TempDir()
	if filepath.Dir(filepath.Dir(d)) != Dir() {
		t.Errorf("t.TempDir() = %s, not in %s", d, Dir())
	}
	for _, n := range []string{"bin", "rampart-demo-1", "x.pcap"} {
		if err := os.WriteFile(filepath.Join(d, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{filepath.Join(d, "rampart-demo-1"), filepath.Join(d, "x.pcap")}
	if got := Left(d, "bin"); !slices.Equal(got, want) {
		t.Errorf("Left = %v, want %v", got, want)
	}
	if got := Left(filepath.Join(d, "missing")); got != nil {
		t.Errorf("Left of a missing folder = %v", got)
	}
}
