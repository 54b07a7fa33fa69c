// Package mpmtest holds what the tests of the multi-pattern matchers
// (ids/mpm, ids/mpm/hyperscan) share: the naive reference they are
// compared with, the hand-made cases of testdata/scan.txt, and the
// random pattern sets and inputs of their property tests. It does not
// import ids/mpm, whose own tests use it; patterns are traffic.Pattern,
// the same shape as mpm.Pattern.
package mpmtest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rampart-fw/rampart/ids/internal/traffic"
	"pgregory.net/rapid"
)

// lower returns b with the ASCII letters in lower case: mpm.LowerASCII,
// written again so that the reference shares no code with the matchers.
func lower(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

// Naive returns the IDs of the patterns in data, ascending: every
// pattern searched for separately.
func Naive(pats []traffic.Pattern, data []byte) []int32 {
	lowered := lower(data)
	var out []int32
	for id, p := range pats {
		if len(p.Bytes) == 0 {
			continue
		}
		if p.Nocase && bytes.Contains(lowered, lower(p.Bytes)) || !p.Nocase && bytes.Contains(data, p.Bytes) {
			out = append(out, int32(id))
		}
	}
	return out
}

// Sorted returns a sorted copy of ids, for comparing with Naive.
func Sorted(ids []int32) []int32 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// Case is one scan of testdata/scan.txt.
type Case struct {
	Line int
	Data []byte
	Want []int32 // ascending
}

// Cases reads a file of patterns and scans (the format is in
// ids/mpm/testdata/scan.txt).
func Cases(path string) ([]traffic.Pattern, []Case, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var pats []traffic.Pattern
	var cases []Case
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		kind, rest, _ := strings.Cut(strings.TrimSpace(text), " ")
		if kind == "" {
			continue
		}
		q, err := strconv.QuotedPrefix(strings.TrimSpace(rest))
		if err != nil {
			return nil, nil, fmt.Errorf("%s:%d: %s: %v", path, line, kind, err)
		}
		s, _ := strconv.Unquote(q)
		args := strings.Fields(strings.TrimSpace(rest)[len(q):])
		switch kind {
		case "pattern":
			p := traffic.Pattern{Bytes: []byte(s)}
			if len(args) == 1 && args[0] == "nocase" {
				p.Nocase = true
			} else if len(args) > 0 {
				return nil, nil, fmt.Errorf("%s:%d: pattern: %q after the pattern, want nocase or nothing", path, line, args)
			}
			pats = append(pats, p)
		case "scan":
			c := Case{Line: line, Data: []byte(s), Want: []int32{}}
			for _, a := range args {
				id, err := strconv.Atoi(a)
				if err != nil || id < 0 || id >= len(pats) {
					return nil, nil, fmt.Errorf("%s:%d: scan: %q is not a pattern's ID", path, line, a)
				}
				c.Want = append(c.Want, int32(id))
			}
			cases = append(cases, c)
		default:
			return nil, nil, fmt.Errorf("%s:%d: %q: want pattern or scan", path, line, kind)
		}
	}
	return pats, cases, sc.Err()
}

// alphabet is small so that random patterns occur in random inputs,
// share prefixes and windows, and differ in case; '@' and '`' fold onto
// each other as ids/mpm's filter folds case.
const alphabet = "aAbBzZ\x00\xff-@`"

// Bytes draws a string of min to max bytes over the property tests'
// alphabet.
func Bytes(min, max int) *rapid.Generator[[]byte] {
	return rapid.Custom(func(t *rapid.T) []byte {
		b := make([]byte, rapid.IntRange(min, max).Draw(t, "n"))
		for i := range b {
			b[i] = alphabet[rapid.IntRange(0, len(alphabet)-1).Draw(t, "c")]
		}
		return b
	})
}

// Patterns draws up to 40 patterns of up to maxLen bytes over the same
// alphabet, some empty, half nocase.
func Patterns(maxLen int) *rapid.Generator[[]traffic.Pattern] {
	return rapid.SliceOfN(rapid.Custom(func(t *rapid.T) traffic.Pattern {
		return traffic.Pattern{Bytes: Bytes(0, maxLen).Draw(t, "p"), Nocase: rapid.Bool().Draw(t, "nocase")}
	}), 0, 40)
}

// Corpus returns the benchmark's traffic and a pattern set to check on
// it: 2,000 patterns of the benchmark's shapes and 40 taken from the
// traffic itself, so that there are matches to find.
func Corpus() ([][]byte, []traffic.Pattern) {
	payloads := traffic.Corpus(300, 7)
	pats := traffic.Patterns(2000, 7)
	for i, p := range payloads[:40] {
		off := i % max(1, len(p)-20)
		pats = append(pats, traffic.Pattern{Bytes: p[off : off+min(len(p)-off, 1+i%20)], Nocase: i%2 == 0})
	}
	return payloads, pats
}

// AllocsPerPass returns the allocations of a pass of scan over 50
// payloads of the benchmark's traffic, reset first, once a first pass
// has grown what the matcher keeps.
func AllocsPerPass(reset func(), scan func(data []byte)) float64 {
	payloads := traffic.Corpus(50, 3)
	for _, p := range payloads {
		scan(p)
	}
	return testing.AllocsPerRun(20, func() {
		reset()
		for _, p := range payloads {
			scan(p)
		}
	})
}
