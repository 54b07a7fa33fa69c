package content

// maxStrips bounds the scripts stripped from one body, so that a page of
// a million matching scripts costs a bounded amount of work; past it the
// body is blocked.
const maxStrips = 1000

// stripScripts removes from html, in place, every <script> element that
// holds a match. It returns the body and the number of elements removed;
// or blocked, the index of a pattern found outside any script element
// (or past maxStrips), and -1 when there is none.
func stripScripts(html []byte, m Matcher) (out []byte, n, blocked int) {
	from := 0
	for {
		at, p := m.Find(html[from:])
		if at < 0 {
			return html, n, -1
		}
		at += from
		start, end, ok := scriptAround(html, at)
		if !ok || n == maxStrips {
			return nil, n, p
		}
		html = append(html[:start], html[end:]...)
		n++
		from = start
	}
}

// scriptAround finds the <script> element around offset at: from its
// "<script" to the end of its "</script>" (or of the document, where a
// browser's script also ends when it is not closed).
func scriptAround(b []byte, at int) (start, end int, ok bool) {
	start = -1
	for i := at; i > 0; {
		j := lastIndexFold(b[:i], "<script")
		if j < 0 {
			break
		}
		if k := j + len("<script"); k >= len(b) || isTagEnd(b[k]) {
			start = j
			break
		}
		i = j
	}
	if start < 0 {
		return 0, 0, false
	}
	if c := lastIndexFold(b[:at], "</script"); c > start {
		return 0, 0, false // the last script closed before the match
	}
	close := indexFold(b[at:], "</script")
	if close < 0 {
		return start, len(b), true
	}
	close += at
	for end = close; end < len(b) && b[end] != '>'; end++ {
	}
	return start, min(end+1, len(b)), true
}

func isTagEnd(c byte) bool {
	return c == '>' || c == '/' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// hasFold reports whether b starts with the lowercase ASCII pat, ignoring
// case.
func hasFold(b []byte, pat string) bool {
	if len(b) < len(pat) {
		return false
	}
	for i := 0; i < len(pat); i++ {
		if lower(b[i]) != pat[i] {
			return false
		}
	}
	return true
}

func indexFold(b []byte, pat string) int {
	for i := 0; i+len(pat) <= len(b); i++ {
		if b[i] == '<' && hasFold(b[i:], pat) {
			return i
		}
	}
	return -1
}

func lastIndexFold(b []byte, pat string) int {
	for i := len(b) - len(pat); i >= 0; i-- {
		if b[i] == '<' && hasFold(b[i:], pat) {
			return i
		}
	}
	return -1
}
