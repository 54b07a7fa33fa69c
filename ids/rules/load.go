package rules

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/rampart-fw/rampart/srcpos"
)

// Set is a loaded rule set: the rules that were understood, in file
// order, and a positioned error for every rule that was not (and for
// every duplicate sid).
type Set struct {
	Rules []*Rule
	// Errors has one entry per rule skipped, in file order, unbounded:
	// a rule file with thousands of rules for keywords rampart lacks
	// reports each of them.
	Errors []*srcpos.Error
}

// Err returns the errors as a srcpos.List (bounded, as lists are, for
// printing), or nil when every rule loaded.
func (s *Set) Err() error {
	var l srcpos.List
	for _, e := range s.Errors {
		if !l.Add(e) {
			break
		}
	}
	return l.Err()
}

// Parse reads the rules of one file's contents. name is the file name the
// positions carry. vars are the variables (nil for DefaultVars; missing
// ones take their defaults). Rules may continue over several lines with
// a backslash at the end of a line; lines starting with # are comments.
// Rules that fail are reported in s.Errors and the rest are kept.
func Parse(name string, src []byte, vars Vars) *Set {
	s := &Set{}
	s.add(name, src, vars.withDefaults())
	s.dedup()
	return s
}

// LoadFiles reads the rule files in order into one Set. A file that
// cannot be read is an error in the set at the file's name; the other
// files still load.
func LoadFiles(paths []string, vars Vars) *Set {
	s := &Set{}
	all := vars.withDefaults()
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			s.Errors = append(s.Errors, &srcpos.Error{Pos: srcpos.Pos{File: p}, Msg: err.Error(), Err: err})
			continue
		}
		s.add(p, src, all)
	}
	s.dedup()
	return s
}

// add parses the rules of one file.
func (s *Set) add(name string, src []byte, vars Vars) {
	lines := bytes.Split(src, []byte("\n"))
	var text strings.Builder
	pm := &posMap{file: name}
	flush := func() {
		if text.Len() == 0 {
			return
		}
		r, err := parseRule(text.String(), pm, vars)
		if err != nil {
			s.Errors = append(s.Errors, err)
		} else {
			s.Rules = append(s.Rules, r)
		}
		text.Reset()
		pm = &posMap{file: name}
	}
	for i, raw := range lines {
		line := string(bytes.TrimRight(raw, "\r"))
		cont := false
		if strings.HasSuffix(line, `\`) {
			line, cont = line[:len(line)-1], true
		}
		col := 1
		if text.Len() == 0 {
			trimmed := strings.TrimLeft(line, " \t")
			col += len(line) - len(trimmed)
			line = trimmed
			if line == "" && !cont || strings.HasPrefix(line, "#") {
				continue
			}
		}
		pm.segs = append(pm.segs, segment{off: text.Len(), line: i + 1, col: col})
		text.WriteString(line)
		if !cont {
			flush()
		}
	}
	flush()
}

// dedup removes rules whose gid and sid an earlier or later rule has:
// the one with the higher rev stays (the first, when the revs are the
// same), as Suricata keeps it, and the other is reported.
func (s *Set) dedup() {
	type key struct{ gid, sid uint32 }
	seen := map[key]int{}
	keep := make([]bool, len(s.Rules))
	for i, r := range s.Rules {
		k := key{r.GID, r.SID}
		j, dup := seen[k]
		if !dup {
			seen[k] = i
			keep[i] = true
			continue
		}
		old := s.Rules[j]
		loser, winner := r, old
		if r.Rev > old.Rev {
			loser, winner = old, r
			keep[j], keep[i] = false, true
			seen[k] = i
		}
		s.Errors = append(s.Errors, loser.Pos.Errorf("duplicate sid %d (gid %d, rev %d): the rule at %s (rev %d) is kept",
			r.SID, r.GID, loser.Rev, winner.Pos, winner.Rev))
	}
	out := s.Rules[:0]
	for i, r := range s.Rules {
		if keep[i] {
			out = append(out, r)
		}
	}
	clear(s.Rules[len(out):])
	s.Rules = out
	rank := map[string]int{}
	for _, e := range s.Errors {
		if _, ok := rank[e.Pos.File]; !ok {
			rank[e.Pos.File] = len(rank)
		}
	}
	slices.SortStableFunc(s.Errors, func(a, b *srcpos.Error) int {
		if c := rank[a.Pos.File] - rank[b.Pos.File]; c != 0 {
			return c
		}
		if c := a.Pos.Line - b.Pos.Line; c != 0 {
			return c
		}
		return a.Pos.Column - b.Pos.Column
	})
}

// String renders the error count for logs: "3 rules skipped".
func (s *Set) String() string {
	return fmt.Sprintf("%d rules loaded, %d skipped", len(s.Rules), len(s.Errors))
}
