package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds rule files to the parser: it must never panic, and
// every error must carry a line and column inside the input.
func FuzzParse(f *testing.F) {
	src, err := os.ReadFile(filepath.Join("testdata", "rules.rules"))
	if err != nil {
		f.Fatal(err)
	}
	for _, line := range strings.Split(string(src), "\n") {
		f.Add(line)
	}
	f.Add("alert tcp any any -> any any (pcre:\"/(?i:a(?#c)b)\\Q.*\\E[[:alpha:]\\d-]{2,3}?/smxG\"; sid:1;)")
	f.Add("alert tcp [1.1.1.1,[!2.2.2.2,[3.3.3.0/24]]] [1:2,!3] -> any any (content:\"|41|\\\\\"; sid:9; \\\n rev:2;)")
	f.Fuzz(func(t *testing.T, text string) {
		s := Parse("fuzz.rules", []byte(text), nil)
		lines := strings.Count(text, "\n") + 1
		for _, e := range s.Errors {
			if e.Pos.File != "fuzz.rules" || e.Pos.Line < 1 || e.Pos.Line > lines || e.Pos.Column < 1 {
				t.Fatalf("error without a position inside the input: %v", e)
			}
		}
		for _, r := range s.Rules {
			if r.SID == 0 || r.Pos.Line < 1 {
				t.Fatalf("rule without sid or position: %+v", r)
			}
			for _, l := range r.Lists {
				for _, it := range l.Items {
					if p, ok := it.(*PCRE); ok {
						var buf []byte
						p.Re.Match([]byte(text), &buf)
						p.Re.Find([]byte(text), len(text)/2, &buf)
					}
				}
			}
		}
	})
}
