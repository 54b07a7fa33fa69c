package policy

import "strconv"

type tokKind uint8

const (
	tEOF tokKind = iota
	tNewline
	tWord
	tString // quoted; text holds the contents without quotes
	tLBrace
	tRBrace
	tEq
	tErr // text holds the message
)

type token struct {
	kind      tokKind
	text      string
	off, end  int // byte offsets of the token in the source
	line, col int
}

func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of file"
	case tNewline:
		return "end of line"
	case tString:
		return "string " + strconv.Quote(t.text)
	case tLBrace:
		return `"{"`
	case tRBrace:
		return `"}"`
	case tEq:
		return `"="`
	}
	return strconv.Quote(t.text)
}

// lexer produces tokens on demand, so that memory stays proportional to one
// statement rather than to the file.
type lexer struct {
	src       []byte
	off       int
	line      int
	lineStart int
}

func isSpecial(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '#', '{', '}', '=', '\'', '"':
		return true
	}
	return c < 0x20 || c == 0x7f
}

func (lx *lexer) next() token {
	for lx.off < len(lx.src) {
		c := lx.src[lx.off]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			lx.off++
		case c == '#':
			for lx.off < len(lx.src) && lx.src[lx.off] != '\n' {
				lx.off++
			}
		default:
			return lx.token(c)
		}
	}
	return token{kind: tEOF, off: lx.off, end: lx.off, line: lx.line, col: lx.off - lx.lineStart + 1}
}

func (lx *lexer) token(c byte) token {
	t := token{off: lx.off, line: lx.line, col: lx.off - lx.lineStart + 1}
	switch c {
	case '\n':
		lx.off++
		lx.line++
		lx.lineStart = lx.off
		t.kind = tNewline
	case '{':
		lx.off++
		t.kind = tLBrace
	case '}':
		lx.off++
		t.kind = tRBrace
	case '=':
		lx.off++
		t.kind = tEq
	case '\'', '"':
		t.kind = tString
		i := lx.off + 1
		for ; i < len(lx.src) && lx.src[i] != c; i++ {
			if b := lx.src[i]; b == '\n' || (b < 0x20 && b != '\t') || b == 0x7f {
				break
			}
		}
		if i >= len(lx.src) || lx.src[i] != c {
			t.kind, t.text = tErr, "unterminated string"
			// Resume at the offending byte so that the line still ends.
			lx.off = i
			t.end = i
			return t
		}
		t.text = string(lx.src[lx.off+1 : i])
		lx.off = i + 1
	default:
		if c < 0x20 || c == 0x7f {
			lx.off++
			t.kind, t.text = tErr, "invalid character "+strconv.QuoteRune(rune(c))
			break
		}
		i := lx.off
		for i < len(lx.src) && !isSpecial(lx.src[i]) {
			i++
		}
		t.kind, t.text = tWord, string(lx.src[lx.off:i])
		lx.off = i
	}
	t.end = lx.off
	return t
}
