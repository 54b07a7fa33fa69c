package main

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/rampart-fw/rampart/dns/replay"
)

// deckardDir finds CZ-NIC's Deckard scenarios: $RAMPART_DECKARD, else
// shared/deckard beside the repository (../shared/deckard from the module
// root), where CI and the developers' machines keep them. The scenarios
// are never copied into the repository.
func deckardDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("RAMPART_DECKARD"); d != "" {
		return d
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("the module root is not at ../..: %v", err)
	}
	return filepath.Join(root, "..", "shared", "deckard")
}

// expectedFailure is one line of testdata/deckard-expected-failures.txt.
type expectedFailure struct {
	reason string
	line   int
}

// readExpectedFailures reads the list of Deckard scenarios rampart does
// not pass, each with the reason (docs/deckard.md says more): "NAME.rpl:
// reason" lines, '#' comments.
func readExpectedFailures(t *testing.T, path string) map[string]expectedFailure {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]expectedFailure{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, reason, ok := strings.Cut(line, ":")
		reason = strings.TrimSpace(reason)
		switch {
		case !ok || !strings.HasSuffix(name, ".rpl") || reason == "":
			t.Fatalf("%s:%d: want \"NAME.rpl: reason\", got %q", path, n, line)
		case out[name].line != 0:
			t.Fatalf("%s:%d: %s is listed twice (first at line %d)", path, n, name, out[name].line)
		}
		out[name] = expectedFailure{reason: reason, line: n}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDeckardScenarios runs every iter_ and val_ scenario of Deckard (the
// suite Unbound's testbound and Knot Resolver run) against the resolver,
// cache, validator and response path of `rampart resolver`, as `rampart
// resolver replay` does. A scenario that does not pass must be on the
// expected-failure list with its reason, and a listed scenario that
// passes, or that no longer exists, fails the test too, so that the list
// cannot outlive what it describes.
func TestDeckardScenarios(t *testing.T) {
	dir := deckardDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "iter_*.rpl"))
	val, _ := filepath.Glob(filepath.Join(dir, "val_*.rpl"))
	files = append(files, val...)
	if len(files) == 0 {
		t.Skipf("skipping: no Deckard scenarios in %s (they live in shared/deckard beside the repository; RAMPART_DECKARD names another folder)", dir)
	}
	const listFile = "testdata/deckard-expected-failures.txt"
	expected := readExpectedFailures(t, listFile)
	seen := map[string]bool{}
	var unexpected, fixed []string
	passed := 0
	for _, path := range files {
		name := filepath.Base(path)
		seen[name] = true
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		res := replay.Run(context.Background(), name, f, replayFactory)
		f.Close()
		exp, listed := expected[name]
		switch {
		case res.Status == replay.Passed && listed:
			fixed = append(fixed, name+" passes: take it off "+listFile+" (line "+strconv.Itoa(exp.line)+")")
		case res.Status == replay.Passed:
			passed++
		case !listed:
			unexpected = append(unexpected, name+": "+res.String())
		}
	}
	for name, exp := range expected {
		if !seen[name] {
			fixed = append(fixed, name+" is no scenario in "+dir+": take it off "+listFile+" (line "+strconv.Itoa(exp.line)+")")
		}
	}
	sort.Strings(unexpected)
	sort.Strings(fixed)
	for _, s := range unexpected {
		t.Errorf("%s", s)
	}
	for _, s := range fixed {
		t.Errorf("%s", s)
	}
	t.Logf("%d of %d scenarios passed, %d expected to fail", passed, len(files), len(expected))
}
