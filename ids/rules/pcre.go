package rules

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Regexp is a pcre keyword's pattern translated to Go's regexp (RE2) so
// that it matches exactly what PCRE2 matches in Suricata: bytes, not
// UTF-8 (every byte one character, \xff the byte 0xff), ASCII-only case
// folding, \s with vertical tab, \h \v \R \N, the x flag, and $ (and \Z)
// also before a final newline. A pattern whose PCRE meaning Go cannot
// reproduce is refused by CompilePCRE with the reason; it is never run
// with another meaning.
//
// A Regexp is safe for concurrent use; the byte buffer passed to the
// match methods is the caller's scratch space.
type Regexp struct {
	re *regexp.Regexp
	// from matches with a start offset as PCRE2's start_offset does:
	// the characters before it are seen by \b and multiline ^.
	from *regexp.Regexp
	// dollarNL: the pattern has a $ or \Z that PCRE lets match before a
	// final newline; the matcher also tries the buffer without it.
	dollarNL bool
	src      string
}

// String returns the translated Go pattern.
func (r *Regexp) String() string { return r.re.String() }

// Source returns the PCRE pattern as the rule wrote it.
func (r *Regexp) Source() string { return r.src }

// latin1 returns b as UTF-8 with every byte one rune (ISO 8859-1), in
// *scratch, or b itself when b is ASCII.
func latin1(b []byte, scratch *[]byte) ([]byte, bool) {
	i := 0
	for i < len(b) && b[i] < utf8.RuneSelf {
		i++
	}
	if i == len(b) {
		return b, false
	}
	out := append((*scratch)[:0], b[:i]...)
	for _, c := range b[i:] {
		if c < utf8.RuneSelf {
			out = append(out, c)
		} else {
			out = append(out, 0xc0|c>>6, 0x80|c&0x3f)
		}
	}
	*scratch = out
	return out, true
}

// Match reports whether the pattern matches b. It allocates nothing once
// scratch has grown to the size of the largest buffer.
func (r *Regexp) Match(b []byte, scratch *[]byte) bool {
	t, _ := latin1(b, scratch)
	if r.re.Match(t) {
		return true
	}
	if r.dollarNL && len(b) > 0 && b[len(b)-1] == '\n' {
		return r.re.Match(t[:len(t)-1])
	}
	return false
}

// Find returns the leftmost match in b that starts at or after from, as
// PCRE2 with start_offset from finds it, with its start and end offsets.
func (r *Regexp) Find(b []byte, from int, scratch *[]byte) (start, end int, ok bool) {
	if from > len(b) {
		return 0, 0, false
	}
	t, wide := latin1(b, scratch)
	tfrom := from
	if wide {
		tfrom = from + highBytes(b[:from])
	}
	s, e, ok := r.find(t, tfrom)
	if r.dollarNL && len(b) > 0 && b[len(b)-1] == '\n' {
		s2, e2, ok2 := r.find(t[:len(t)-1], tfrom)
		if ok2 && (!ok || s2 < s) {
			s, e, ok = s2, e2, true
		}
	}
	if !ok {
		return 0, 0, false
	}
	if wide {
		s, e = utf8.RuneCount(t[:s]), utf8.RuneCount(t[:e])
	}
	return s, e, true
}

// highBytes counts the bytes of b that take two bytes in Latin-1's UTF-8.
func highBytes(b []byte) int {
	n := 0
	for _, c := range b {
		if c >= utf8.RuneSelf {
			n++
		}
	}
	return n
}

func (r *Regexp) find(t []byte, from int) (int, int, bool) {
	if from == 0 {
		loc := r.re.FindIndex(t)
		if loc == nil {
			return 0, 0, false
		}
		return loc[0], loc[1], true
	}
	if from > len(t) {
		return 0, 0, false
	}
	// The character before from is consumed by the prefix, so that
	// assertions see it; the pattern's own match is group 1.
	_, size := utf8.DecodeLastRune(t[:from])
	base := from - size
	loc := r.from.FindSubmatchIndex(t[base:])
	if loc == nil {
		return 0, 0, false
	}
	return base + loc[2], base + loc[3], true
}

// PCREError is a reason CompilePCRE refuses a pattern, at a byte offset
// of the pattern when the reason has a place.
type PCREError struct {
	Offset int
	Msg    string
}

func (e *PCREError) Error() string { return "pcre: " + e.Msg }

// pcreFlags are the pattern flags in force at a point of the pattern.
type pcreFlags struct {
	caseless, dotall, multiline, extended, ungreedy, dollarEndOnly bool
}

// pcreError is a reason a pattern is refused, at a byte offset of it.
type pcreError struct {
	off int
	msg string
}

func (e *pcreError) Error() string { return e.msg }

type pcreTranslator struct {
	src      string
	i        int
	out      strings.Builder
	dollarNL bool // a $ or \Z that may match before a final newline
	endText  bool // a \z, or $ under the E flag
	depth    int
}

func (t *pcreTranslator) fail(off int, format string, args ...any) *pcreError {
	return &pcreError{off: off, msg: fmt.Sprintf(format, args...)}
}

// CompilePCRE translates a PCRE pattern with its flags (the letters after
// the closing slash that change the pattern: i, s, m, x, A, E, G) into a
// Regexp, or returns why it cannot: a construct RE2 does not have
// (backreferences, lookaround, atomic groups, possessive quantifiers,
// \K, \G, recursion, conditionals), or one whose meaning would differ.
func CompilePCRE(pattern string, flags string) (*Regexp, error) {
	var f pcreFlags
	anchored := false
	for _, c := range flags {
		switch c {
		case 'i':
			f.caseless = true
		case 's':
			f.dotall = true
		case 'm':
			f.multiline = true
		case 'x':
			f.extended = true
		case 'E':
			f.dollarEndOnly = true
		case 'G':
			f.ungreedy = true
		case 'A':
			anchored = true
		default:
			return nil, fmt.Errorf("unknown pcre flag %q", c)
		}
	}
	t := &pcreTranslator{src: pattern}
	if anchored {
		t.out.WriteString(`\A(?:`)
	}
	if err := t.alternation(f); err != nil {
		return nil, &PCREError{Offset: err.off, Msg: err.msg}
	}
	if t.i < len(pattern) {
		return nil, &PCREError{Offset: t.i, Msg: "unmatched )"}
	}
	if anchored {
		t.out.WriteString(`)`)
	}
	if t.dollarNL && t.endText {
		return nil, fmt.Errorf("pcre mixes $ or \\Z with \\z (or the E flag): not supported")
	}
	goPat := t.out.String()
	tree, err := syntax.Parse(goPat, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("pcre not supported by RE2: %v", err)
	}
	if msg := checkAnchors(tree, 0, false, t.dollarNL); msg != "" {
		return nil, fmt.Errorf("pcre %s", msg)
	}
	re, err := regexp.Compile(goPat)
	if err != nil {
		return nil, fmt.Errorf("pcre not supported by RE2: %v", err)
	}
	from, err := regexp.Compile(`\A(?s:.)(?s:.)*?(` + goPat + `)`)
	if err != nil {
		return nil, fmt.Errorf("pcre not supported by RE2: %v", err)
	}
	return &Regexp{re: re, from: from, dollarNL: t.dollarNL, src: pattern}, nil
}

// checkAnchors refuses the two places where PCRE and RE2 differ on
// anchors that translation cannot fix: a $ (with dollarNL) that
// something consuming may follow (PCRE's $ before a final newline lets
// the newline be matched next), and a multiline ^ that may end the match
// (PCRE's multiline ^ never matches after a final newline, RE2's does).
// follow is the least number of characters the rest of the pattern
// consumes after re, consume whether it can consume any.
func checkAnchors(re *syntax.Regexp, follow int, consume bool, dollarNL bool) string {
	switch re.Op {
	case syntax.OpEndText:
		if dollarNL && consume {
			return "$ or \\Z followed by more pattern: PCRE's match before a final newline cannot be reproduced"
		}
	case syntax.OpBeginLine:
		if follow == 0 {
			return "multiline ^ at the end of a match: PCRE and RE2 differ after a final newline"
		}
	case syntax.OpConcat:
		for i, sub := range re.Sub {
			f, c := follow, consume
			for _, next := range re.Sub[i+1:] {
				f += minLen(next)
				c = c || canConsume(next)
			}
			if msg := checkAnchors(sub, f, c, dollarNL); msg != "" {
				return msg
			}
		}
	case syntax.OpStar, syntax.OpPlus, syntax.OpRepeat:
		c := consume
		if re.Op != syntax.OpRepeat || re.Max != 1 {
			c = c || canConsume(re.Sub[0])
		}
		return checkAnchors(re.Sub[0], follow, c, dollarNL)
	default:
		for _, sub := range re.Sub {
			if msg := checkAnchors(sub, follow, consume, dollarNL); msg != "" {
				return msg
			}
		}
	}
	return ""
}

func minLen(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune)
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return 1
	case syntax.OpCapture, syntax.OpPlus:
		return minLen(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min * minLen(re.Sub[0])
	case syntax.OpConcat:
		n := 0
		for _, s := range re.Sub {
			n += minLen(s)
		}
		return n
	case syntax.OpAlternate:
		n := -1
		for _, s := range re.Sub {
			if m := minLen(s); n < 0 || m < n {
				n = m
			}
		}
		return max(n, 0)
	}
	return 0
}

func canConsume(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune) > 0
	case syntax.OpCharClass:
		return len(re.Rune) > 0
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return true
	case syntax.OpRepeat:
		return re.Max != 0 && canConsume(re.Sub[0])
	}
	for _, s := range re.Sub {
		if canConsume(s) {
			return true
		}
	}
	return false
}

// alternation translates up to an unmatched ) or the end.
func (t *pcreTranslator) alternation(f pcreFlags) *pcreError {
	if t.depth++; t.depth > 200 {
		return t.fail(t.i, "groups nested too deeply")
	}
	defer func() { t.depth-- }()
	atomEnd := -1 // output length before the last atom; -1: no atom to quantify
	for t.i < len(t.src) {
		c := t.src[t.i]
		if f.extended {
			if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' {
				t.i++
				continue
			}
			if c == '#' {
				for t.i < len(t.src) && t.src[t.i] != '\n' {
					t.i++
				}
				continue
			}
		}
		start := t.out.Len()
		switch c {
		case ')':
			return nil
		case '|':
			t.i++
			t.out.WriteByte('|')
			atomEnd = -1
			continue
		case '^':
			t.i++
			if f.multiline {
				t.out.WriteString(`(?m:^)`)
			} else {
				t.out.WriteString(`\A`)
			}
			atomEnd = -1
			continue
		case '$':
			t.i++
			switch {
			case f.multiline:
				t.out.WriteString(`(?m:$)`)
			case f.dollarEndOnly:
				t.endText = true
				t.out.WriteString(`\z`)
			default:
				t.dollarNL = true
				t.out.WriteString(`\z`)
			}
			atomEnd = -1
			continue
		case '*', '+', '?':
			if atomEnd < 0 {
				return t.fail(t.i, "quantifier %q without anything to repeat", c)
			}
			if err := t.quantifier(f, string(c)); err != nil {
				return err
			}
			atomEnd = -1
			continue
		case '{':
			if q, ok := t.braceQuantifier(); ok {
				if atomEnd < 0 {
					return t.fail(t.i, "quantifier %s without anything to repeat", q)
				}
				if err := t.quantifier(f, q); err != nil {
					return err
				}
				atomEnd = -1
				continue
			}
			if strings.HasPrefix(t.src[t.i:], "{,") {
				return t.fail(t.i, "{,n} is a quantifier in newer PCRE2 and a literal in older: write {0,n} or \\{")
			}
			t.i++
			t.literal(f, '{')
		case '(':
			if err := t.group(&f); err != nil {
				return err
			}
			if t.out.Len() == start { // a flag setting or comment: nothing to repeat
				atomEnd = -1
				continue
			}
		case '[':
			if err := t.class(f); err != nil {
				return err
			}
		case '.':
			t.i++
			if f.dotall {
				t.out.WriteString(`[\x00-\x{ff}]`)
			} else {
				t.out.WriteString(`[^\n]`)
			}
		case '\\':
			isAtom, err := t.escape(f)
			if err != nil {
				return err
			}
			if !isAtom {
				atomEnd = -1
				continue
			}
		default:
			t.i++
			t.literal(f, c)
		}
		atomEnd = start
	}
	return nil
}

// braceQuantifier reads {n}, {n,} or {n,m} at t.i; it does not move when
// the brace does not start one (PCRE then takes it literally).
func (t *pcreTranslator) braceQuantifier() (string, bool) {
	j := t.i + 1
	digits := func() int {
		k := j
		for j < len(t.src) && t.src[j] >= '0' && t.src[j] <= '9' {
			j++
		}
		return j - k
	}
	if digits() == 0 {
		return "", false
	}
	if j < len(t.src) && t.src[j] == ',' {
		j++
		digits()
	}
	if j >= len(t.src) || t.src[j] != '}' {
		return "", false
	}
	q := t.src[t.i : j+1]
	t.i = j + 1
	return q, true
}

// quantifier writes q, having read it (for * + ? t.i is still on it),
// with its lazy suffix; possessive ones are refused.
func (t *pcreTranslator) quantifier(f pcreFlags, q string) *pcreError {
	if len(q) == 1 {
		t.i++
	}
	lazy := false
	if t.i < len(t.src) {
		switch t.src[t.i] {
		case '+':
			return t.fail(t.i, "possessive quantifier %s+ is not supported by RE2", q)
		case '?':
			lazy = true
			t.i++
		}
	}
	if f.ungreedy {
		lazy = !lazy
	}
	t.out.WriteString(q)
	if lazy {
		t.out.WriteByte('?')
	}
	return nil
}

// group translates a parenthesised construct at t.i; a flag setting
// (?i) changes *f for the rest of the enclosing group.
func (t *pcreTranslator) group(f *pcreFlags) *pcreError {
	start := t.i
	rest := t.src[t.i:]
	inner := *f
	switch {
	case strings.HasPrefix(rest, "(*"):
		return t.fail(start, "PCRE verb %s is not supported", cut(rest, ')'))
	case strings.HasPrefix(rest, "(?#"):
		end := strings.IndexByte(rest, ')')
		if end < 0 {
			return t.fail(start, "comment (?# not closed")
		}
		t.i += end + 1
		return nil
	case strings.HasPrefix(rest, "(?=") || strings.HasPrefix(rest, "(?!") ||
		strings.HasPrefix(rest, "(?<=") || strings.HasPrefix(rest, "(?<!") ||
		strings.HasPrefix(rest, "(*pla") || strings.HasPrefix(rest, "(*nla"):
		return t.fail(start, "lookaround %s is not supported by RE2", cut(rest, ')'))
	case strings.HasPrefix(rest, "(?>"):
		return t.fail(start, "atomic group (?> is not supported by RE2")
	case strings.HasPrefix(rest, "(?|"):
		return t.fail(start, "branch reset group (?| is not supported by RE2")
	case strings.HasPrefix(rest, "(?("):
		return t.fail(start, "conditional group (?( is not supported by RE2")
	case strings.HasPrefix(rest, "(?P=") || strings.HasPrefix(rest, "(?P>") || strings.HasPrefix(rest, "(?&") ||
		strings.HasPrefix(rest, "(?R") || strings.HasPrefix(rest, "(?C") ||
		len(rest) > 2 && rest[1] == '?' && (rest[2] >= '0' && rest[2] <= '9' || rest[2] == '+' || rest[2] == '-' && len(rest) > 3 && rest[3] >= '0' && rest[3] <= '9'):
		return t.fail(start, "backreference, recursion or callout %s is not supported by RE2", cut(rest, ')'))
	case strings.HasPrefix(rest, "(?P<") || strings.HasPrefix(rest, "(?<") || strings.HasPrefix(rest, "(?'"):
		open := 3
		closer := byte('>')
		if rest[2] == 'P' {
			open = 4
		} else if rest[2] == '\'' {
			closer = '\''
		}
		end := strings.IndexByte(rest[open:], closer)
		if end <= 0 {
			return t.fail(start, "bad group name")
		}
		name := rest[open : open+end]
		for _, c := range []byte(name) {
			if !isVarChar(c) {
				return t.fail(start, "bad group name %q", name)
			}
		}
		t.i += open + end + 1
		t.out.WriteString("(?P<" + name + ">")
	case strings.HasPrefix(rest, "(?"):
		// Flags: (?imsx-imsx) or (?imsx-imsx: ... ).
		j := 2
		on := true
		for ; j < len(rest) && rest[j] != ')' && rest[j] != ':'; j++ {
			switch rest[j] {
			case '-':
				on = false
			case 'i':
				inner.caseless = on
			case 'm':
				inner.multiline = on
			case 's':
				inner.dotall = on
			case 'x':
				inner.extended = on
			case 'U':
				inner.ungreedy = on
			case 'J':
			default:
				return t.fail(start+j, "group flag %q is not supported", rest[j])
			}
		}
		if j >= len(rest) {
			return t.fail(start, "group not closed by )")
		}
		t.i += j + 1
		if rest[j] == ')' {
			*f = inner
			return nil
		}
		t.out.WriteString("(?:")
	default:
		t.i++
		t.out.WriteByte('(')
	}
	if err := t.alternation(inner); err != nil {
		return err
	}
	if t.i >= len(t.src) || t.src[t.i] != ')' {
		return t.fail(start, "group not closed by )")
	}
	t.i++
	t.out.WriteByte(')')
	return nil
}

// captureGroups counts the capturing groups of a PCRE pattern, roughly:
// the opening parentheses not escaped, not in a class, not followed by
// ? or *, plus the named ones.
func captureGroups(p string) int {
	n, class := 0, false
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '\\':
			i++
		case class:
			class = c != ']'
		case c == '[':
			class = true
		case c == '(':
			if i+1 < len(p) && (p[i+1] != '?' && p[i+1] != '*' || strings.HasPrefix(p[i+1:], "?P<") ||
				strings.HasPrefix(p[i+1:], "?<") && !strings.HasPrefix(p[i+1:], "?<=") && !strings.HasPrefix(p[i+1:], "?<!") ||
				strings.HasPrefix(p[i+1:], "?'")) {
				n++
			}
		}
	}
	return n
}

func cut(s string, c byte) string {
	if i := strings.IndexByte(s, c); i >= 0 {
		return s[:i+1]
	}
	return s
}

// literal writes byte c, folding ASCII case under the i flag.
func (t *pcreTranslator) literal(f pcreFlags, c byte) {
	if f.caseless && isASCIILetter(c) {
		fmt.Fprintf(&t.out, "[%c%c]", c|0x20, c&^0x20)
		return
	}
	writeByte(&t.out, c)
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func writeByte(b *strings.Builder, c byte) {
	if c >= '0' && c <= '9' || isASCIILetter(c) || c == '_' {
		b.WriteByte(c)
		return
	}
	fmt.Fprintf(b, `\x{%02x}`, c)
}

// byteSet is a set of bytes: a PCRE character class in byte mode.
type byteSet [256]bool

func (s *byteSet) addRange(lo, hi byte) {
	for c := int(lo); c <= int(hi); c++ {
		s[c] = true
	}
}

func (s *byteSet) addFunc(in func(byte) bool, negate bool) {
	for c := range 256 {
		if in(byte(c)) != negate {
			s[c] = true
		}
	}
}

// write writes the set as a Go class, folding ASCII case when caseless.
func (s *byteSet) write(b *strings.Builder, caseless, negate bool) {
	set := *s
	if caseless {
		for c := 'A'; c <= 'Z'; c++ {
			if set[c] || set[c|0x20] {
				set[c], set[c|0x20] = true, true
			}
		}
	}
	if negate {
		for c := range set {
			set[c] = !set[c]
		}
	}
	n := 0
	for _, in := range set {
		if in {
			n++
		}
	}
	if n == 0 {
		b.WriteString(`[^\x00-\x{10FFFF}]`)
		return
	}
	b.WriteByte('[')
	for c := 0; c < 256; {
		if !set[c] {
			c++
			continue
		}
		e := c
		for e+1 < 256 && set[e+1] {
			e++
		}
		fmt.Fprintf(b, `\x{%02x}`, c)
		if e > c {
			fmt.Fprintf(b, `-\x{%02x}`, e)
		}
		c = e + 1
	}
	b.WriteByte(']')
}

func isSpace(c byte) bool  { return c == ' ' || c >= '\t' && c <= '\r' }
func isHSpace(c byte) bool { return c == ' ' || c == '\t' || c == 0xa0 }
func isVSpace(c byte) bool { return c >= '\n' && c <= '\r' || c == 0x85 }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isWord(c byte) bool   { return isDigit(c) || isASCIILetter(c) || c == '_' }

// classEscapes are the escapes that stand for a set of bytes.
var classEscapes = map[byte]struct {
	in     func(byte) bool
	negate bool
}{
	'd': {isDigit, false}, 'D': {isDigit, true},
	'w': {isWord, false}, 'W': {isWord, true},
	's': {isSpace, false}, 'S': {isSpace, true},
	'h': {isHSpace, false}, 'H': {isHSpace, true},
	'v': {isVSpace, false}, 'V': {isVSpace, true},
}

var posixClasses = map[string]func(byte) bool{
	"alnum":  func(c byte) bool { return isDigit(c) || isASCIILetter(c) },
	"alpha":  isASCIILetter,
	"ascii":  func(c byte) bool { return c < 0x80 },
	"blank":  func(c byte) bool { return c == ' ' || c == '\t' },
	"cntrl":  func(c byte) bool { return c < 0x20 || c == 0x7f },
	"digit":  isDigit,
	"graph":  func(c byte) bool { return c > 0x20 && c < 0x7f },
	"lower":  func(c byte) bool { return c >= 'a' && c <= 'z' },
	"print":  func(c byte) bool { return c >= 0x20 && c < 0x7f },
	"punct":  func(c byte) bool { return c > 0x20 && c < 0x7f && !isDigit(c) && !isASCIILetter(c) },
	"space":  isSpace,
	"upper":  func(c byte) bool { return c >= 'A' && c <= 'Z' },
	"word":   isWord,
	"xdigit": func(c byte) bool { return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'f' },
}

// escape translates the escape at t.i (a backslash); isAtom is false for
// zero-width ones (assertions), which cannot be quantified.
func (t *pcreTranslator) escape(f pcreFlags) (isAtom bool, err *pcreError) {
	start := t.i
	if t.i+1 >= len(t.src) {
		return false, t.fail(start, "pattern ends with a backslash")
	}
	c := t.src[t.i+1]
	if ce, ok := classEscapes[c]; ok {
		t.i += 2
		var s byteSet
		s.addFunc(ce.in, ce.negate)
		s.write(&t.out, false, false)
		return true, nil
	}
	switch c {
	case 'b', 'B':
		t.i += 2
		t.out.WriteString(`\` + string(c))
		return false, nil
	case 'A':
		t.i += 2
		t.out.WriteString(`\A`)
		return false, nil
	case 'z':
		t.i += 2
		t.endText = true
		t.out.WriteString(`\z`)
		return false, nil
	case 'Z':
		t.i += 2
		t.dollarNL = true
		t.out.WriteString(`\z`)
		return false, nil
	case 'G':
		return false, t.fail(start, `\G is not supported by RE2`)
	case 'K':
		return false, t.fail(start, `\K is not supported by RE2`)
	case 'g', 'k':
		return false, t.fail(start, `backreference \%c is not supported by RE2`, c)
	case 'X':
		return false, t.fail(start, `\X is not supported`)
	case 'p', 'P':
		return false, t.fail(start, `Unicode property \%c is not supported on bytes`, c)
	case 'R':
		t.i += 2
		t.out.WriteString(`(?:\x{0d}\x{0a}|[\x{0a}-\x{0d}\x{85}])`)
		return true, nil
	case 'N':
		t.i += 2
		t.out.WriteString(`[^\n]`)
		return true, nil
	case 'C':
		t.i += 2
		t.out.WriteString(`[\x00-\x{ff}]`)
		return true, nil
	case 'Q':
		t.i += 2
		end := strings.Index(t.src[t.i:], `\E`)
		lit := t.src[t.i:]
		if end >= 0 {
			lit = lit[:end]
			t.i += end + 2
		} else {
			t.i = len(t.src)
		}
		if lit == "" {
			return false, nil
		}
		t.out.WriteString("(?:")
		for i := range len(lit) {
			t.literal(f, lit[i])
		}
		t.out.WriteString(")")
		return true, nil
	case 'E':
		t.i += 2
		return false, nil
	}
	if c >= '1' && c <= '9' {
		// PCRE reads \NNN as a backreference when the number is below
		// 10, starts with 8 or 9, or there are that many groups;
		// otherwise as up to three octal digits.
		j := t.i + 1
		for j < len(t.src) && isDigit(t.src[j]) {
			j++
		}
		n, _ := strconv.Atoi(t.src[t.i+1 : j])
		if n < 10 || c >= '8' || n <= captureGroups(t.src) {
			return false, t.fail(start, `backreference \%s is not supported by RE2`, t.src[t.i+1:j])
		}
		k := t.i + 1
		for k < len(t.src) && k < t.i+4 && t.src[k] >= '0' && t.src[k] <= '7' {
			k++
		}
		v, _ := strconv.ParseUint(t.src[t.i+1:k], 8, 16)
		t.i = k
		if v > 0xff {
			return false, t.fail(start, `octal escape above \377 is not a byte`)
		}
		t.literal(f, byte(v))
		return true, nil
	}
	v, err := t.charEscape()
	if err != nil {
		return false, err
	}
	t.literal(f, v)
	return true, nil
}

// charEscape reads an escape that stands for one byte.
func (t *pcreTranslator) charEscape() (byte, *pcreError) {
	start := t.i
	c := t.src[t.i+1]
	t.i += 2
	switch c {
	case 'a':
		return 7, nil
	case 'e':
		return 0x1b, nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'c':
		if t.i >= len(t.src) || t.src[t.i] >= 0x80 {
			return 0, t.fail(start, `\c at the end of the pattern`)
		}
		x := t.src[t.i]
		t.i++
		if x >= 'a' && x <= 'z' {
			x -= 0x20
		}
		return x ^ 0x40, nil
	case '0':
		j := t.i
		for j < len(t.src) && j < t.i+2 && t.src[j] >= '0' && t.src[j] <= '7' {
			j++
		}
		v, _ := strconv.ParseUint("0"+t.src[t.i:j], 8, 16)
		t.i = j
		return byte(v), nil
	case 'o':
		if t.i >= len(t.src) || t.src[t.i] != '{' {
			return 0, t.fail(start, `\o needs {digits}`)
		}
		end := strings.IndexByte(t.src[t.i:], '}')
		if end < 0 {
			return 0, t.fail(start, `\o{ not closed`)
		}
		v, err := strconv.ParseUint(t.src[t.i+1:t.i+end], 8, 32)
		if err != nil || v > 0xff {
			return 0, t.fail(start, `bad or too large octal escape (bytes only)`)
		}
		t.i += end + 1
		return byte(v), nil
	case 'x':
		if t.i < len(t.src) && t.src[t.i] == '{' {
			end := strings.IndexByte(t.src[t.i:], '}')
			if end < 0 {
				return 0, t.fail(start, `\x{ not closed`)
			}
			v, err := strconv.ParseUint(t.src[t.i+1:t.i+end], 16, 32)
			if err != nil || v > 0xff {
				return 0, t.fail(start, `bad or too large hex escape (bytes only)`)
			}
			t.i += end + 1
			return byte(v), nil
		}
		j := t.i
		for j < len(t.src) && j < t.i+2 && isHex(t.src[j]) {
			j++
		}
		v, _ := strconv.ParseUint("0"+t.src[t.i:j], 16, 16)
		t.i = j
		return byte(v), nil
	}
	if isWord(c) || c >= 0x80 {
		return 0, t.fail(start, `unknown escape \%c`, c)
	}
	return c, nil
}

func isHex(c byte) bool { return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'f' }

// class translates a character class at t.i.
func (t *pcreTranslator) class(f pcreFlags) *pcreError {
	start := t.i
	t.i++
	negate := false
	if t.i < len(t.src) && t.src[t.i] == '^' {
		negate = true
		t.i++
	}
	var set byteSet
	first := true
	for {
		if t.i >= len(t.src) {
			return t.fail(start, "character class not closed by ]")
		}
		c := t.src[t.i]
		if c == ']' && !first {
			t.i++
			break
		}
		first = false
		if c == '[' && t.i+1 < len(t.src) && t.src[t.i+1] == ':' {
			end := strings.Index(t.src[t.i+2:], ":]")
			if end < 0 {
				return t.fail(t.i, "POSIX class not closed by :]")
			}
			end += 2
			name := t.src[t.i+2 : t.i+end]
			neg := strings.HasPrefix(name, "^")
			fn, ok := posixClasses[strings.TrimPrefix(name, "^")]
			if !ok {
				return t.fail(t.i, "unknown POSIX class [:%s:]", name)
			}
			set.addFunc(fn, neg)
			t.i += end + 2
			continue
		}
		lo, isSet, err := t.classAtom(&set)
		if err != nil {
			return err
		}
		if isSet {
			continue
		}
		// A range lo-hi, unless the - ends the class or hi is a set.
		if t.i+1 < len(t.src) && t.src[t.i] == '-' && t.src[t.i+1] != ']' {
			save := t.i
			t.i++
			var probe byteSet
			hi, hiSet, err := t.classAtom(&probe)
			if err != nil {
				return err
			}
			if hiSet {
				set[lo], set['-'] = true, true
				for c, in := range probe {
					set[c] = set[c] || in
				}
				continue
			}
			if hi < lo {
				return t.fail(save, "class range out of order")
			}
			set.addRange(lo, hi)
			continue
		}
		set[lo] = true
	}
	set.write(&t.out, f.caseless, negate)
	return nil
}

// classAtom reads one member of a class: a byte (returned) or a set
// escape (added to set, isSet true).
func (t *pcreTranslator) classAtom(set *byteSet) (byte, bool, *pcreError) {
	c := t.src[t.i]
	if c != '\\' {
		t.i++
		return c, false, nil
	}
	if t.i+1 >= len(t.src) {
		return 0, false, t.fail(t.i, "pattern ends with a backslash")
	}
	e := t.src[t.i+1]
	if ce, ok := classEscapes[e]; ok {
		t.i += 2
		set.addFunc(ce.in, ce.negate)
		return 0, true, nil
	}
	switch e {
	case 'b':
		t.i += 2
		return 8, false, nil
	case 'Q', 'E', 'N', 'R', 'X', 'p', 'P', 'g', 'k', 'K', 'G', 'A', 'z', 'Z', 'B', 'C':
		return 0, false, t.fail(t.i, `\%c in a character class is not supported`, e)
	}
	if e >= '1' && e <= '9' {
		// In a class PCRE reads \1-\7 as octal; refuse the ambiguity.
		return 0, false, t.fail(t.i, `\%c in a character class is not supported`, e)
	}
	v, err := t.charEscape()
	return v, false, err
}
