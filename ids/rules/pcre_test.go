package rules

import (
	"strings"
	"testing"
)

// TestPCRESemantics checks translated patterns against what PCRE2 (as
// Suricata runs it: no UTF, default tables) matches.
func TestPCRESemantics(t *testing.T) {
	tests := []struct {
		pat, flags string
		in         string
		want       bool
	}{
		{`abc`, "", "xxabcxx", true},
		{`ABC`, "i", "xAbCx", true},
		{`\xe9`, "i", "\xc9", false}, // ASCII-only folding
		{`[\xe0-\xef]`, "i", "\xc9", false},
		{`[a-c]`, "i", "B", true},
		{`[^a]`, "i", "A", false},
		{`\xff\xfe`, "", "\xff\xfe", true},
		{`\xff\xfe`, "", "\xc3\xbf\xc3\xbe", false},
		{`^.{3}$`, "", "\xc3\xa9x", true}, // three bytes, not two characters
		{`.`, "", "\n", false},
		{`.`, "s", "\n", true},
		{`\s`, "", "\x0b", true}, // PCRE2's \s has VT
		{`\h`, "", "\xa0", true},
		{`\v`, "", "\x85", true},
		{`\v`, "", "v", false},
		{`\R`, "", "\r\n", true},
		{`\N`, "", "\n", false},
		{`a b # comment`, "x", "ab", true},
		{`a\ b`, "x", "a b", true},
		{`[ ]`, "x", " ", true},
		{`^b`, "m", "a\nb", true},
		{`^b`, "", "a\nb", false},
		{`a$`, "", "a\n", true},
		{`a$`, "E", "a\n", false},
		{`a$`, "m", "a\nb", true},
		{`a\Z`, "", "a\n", true},
		{`a\z`, "", "a\n", false},
		{`a+?b`, "G", "aab", true},
		{`\Qa.b\E`, "", "a.b", true},
		{`\Qa.b\E`, "", "axb", false},
		{`\101\x41\x{41}\o{101}`, "", "AAAA", true},
		{`\cA`, "", "\x01", true},
		{`[[:upper:]]`, "i", "a", true},
		{`[[:^digit:]]`, "", "5", false},
		{`[]a]`, "", "]", true},
		{`[a-]`, "", "-", true},
		{`[\d-z]`, "", "-", true},
		{`(?i)abc`, "", "ABC", true},
		{`a(?i:b)c`, "", "aBc", true},
		{`a(?i:b)c`, "", "aBC", false},
		{`(?P<n>ab)+`, "", "abab", true},
		{`x{2,3}`, "", "xx", true},
		{`x{a}`, "", "x{a}", true}, // not a quantifier: literal
		{`\bfoo\b`, "", "a foo b", true},
		{`(?#comment)z`, "", "z", true},
		{`\C`, "", "\xff", true},
	}
	for _, tt := range tests {
		re, err := CompilePCRE(tt.pat, tt.flags)
		if err != nil {
			t.Errorf("/%s/%s: %v", tt.pat, tt.flags, err)
			continue
		}
		var buf []byte
		if got := re.Match([]byte(tt.in), &buf); got != tt.want {
			t.Errorf("/%s/%s on %q = %v, want %v (Go pattern %s)", tt.pat, tt.flags, tt.in, got, tt.want, re)
		}
		if _, _, got := re.Find([]byte(tt.in), 0, &buf); got != tt.want {
			t.Errorf("/%s/%s on %q: Find = %v, want %v", tt.pat, tt.flags, tt.in, got, tt.want)
		}
	}
}

// TestPCREFind checks match offsets, in bytes of the original buffer,
// and searches from a start offset that see the bytes before it.
func TestPCREFind(t *testing.T) {
	tests := []struct {
		pat, flags string
		in         string
		from       int
		start, end int
		ok         bool
	}{
		{`b+`, "", "aabbb", 0, 2, 5, true},
		{`\xff.`, "s", "\xe9\xe9\xff\x00z", 0, 2, 4, true},
		{`\bfoo`, "", "xfoo foo", 1, 5, 8, true}, // \b sees the x before offset 1
		{`^a`, "", "aa", 1, 0, 0, false},         // ^ only at the start of the subject
		{`^a`, "m", "b\na", 1, 2, 3, true},
		{`a`, "", "abca", 1, 3, 4, true},
		{`c$`, "", "abc\n", 0, 2, 3, true},
	}
	for _, tt := range tests {
		re, err := CompilePCRE(tt.pat, tt.flags)
		if err != nil {
			t.Fatalf("/%s/: %v", tt.pat, err)
		}
		var buf []byte
		s, e, ok := re.Find([]byte(tt.in), tt.from, &buf)
		if ok != tt.ok || ok && (s != tt.start || e != tt.end) {
			t.Errorf("/%s/%s on %q from %d = %d,%d,%v, want %d,%d,%v", tt.pat, tt.flags, tt.in, tt.from, s, e, ok, tt.start, tt.end, tt.ok)
		}
	}
}

func TestPCRERefused(t *testing.T) {
	for _, tt := range []struct{ pat, flags, reason string }{
		{`(a)\1`, "", "backreference"},
		{`(?<n>a)\k<n>`, "", "backreference"},
		{`a(?=b)`, "", "lookaround"},
		{`a(?!b)`, "", "lookaround"},
		{`(?<=a)b`, "", "lookaround"},
		{`(?<!a)b`, "", "lookaround"},
		{`(?>a+)b`, "", "atomic"},
		{`a*+`, "", "possessive"},
		{`a{2}+`, "", "possessive"},
		{`a\Kb`, "", `\K`},
		{`\Ga`, "", `\G`},
		{`(a|(?R))`, "", "recursion"},
		{`(?(1)a|b)`, "", "conditional"},
		{`(*UTF)a`, "", "verb"},
		{`\p{L}`, "", "Unicode"},
		{`\x{100}`, "", "too large"},
		{`a{,3}`, "", "{,n}"},
		{`a$b`, "", "followed by more"},
		{`(a$)+`, "", "followed by more"},
		{`a$|b\z`, "", "mixes"},
		{`^$`, "m", "multiline ^"},
		{`a{1001}`, "", "RE2"},
		{`(a`, "", "not closed"},
		{`a)`, "", "unmatched"},
		{`[a`, "", "not closed"},
	} {
		_, err := CompilePCRE(tt.pat, tt.flags)
		if err == nil || !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("/%s/%s: error %v, want one about %q", tt.pat, tt.flags, err, tt.reason)
		}
	}
}
