package policy

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/rampart-fw/rampart/srcpos"
)

// Bounds on what Parse accepts, so that a hostile or broken file costs
// bounded memory and time.
const (
	MaxFileSize    = 8 << 20 // bytes
	MaxRules       = 65536
	MaxSets        = 4096
	MaxSetElements = 65536 // per set, after nested sets are expanded
	// MaxElements bounds the addresses and ports of the whole policy: set
	// elements, plus those of every rule, a set counting again at each use.
	// Without it nested sets and rules that use them could make a small file
	// expand into gigabytes.
	MaxElements = 1 << 20
	MaxErrors   = srcpos.MaxErrors // Parse stops reporting after this many
	MaxPortList = 15               // ports in an inline list, a range counting as two (ufw, iptables multiport)
	MaxComment  = 256              // bytes
	maxNameLen  = 64
	maxIfaceLen = 15 // IFNAMSIZ - 1
)

// Parse reads a rule file. name is used in error messages. An empty file is
// a valid policy with the defaults only. On failure the error is a
// srcpos.List holding every problem found, in file order, up to MaxErrors.
func Parse(name string, src []byte) (*Policy, error) {
	p := &parser{
		name: name,
		lx:   lexer{src: src, line: 1},
		pol: &Policy{
			Name:     name,
			Defaults: [NumDirections]Action{In: Deny, Out: Allow, Routed: Deny},
			Logging:  LoggingLow,
			ICMPEcho: Allow,
		},
		sets: make(map[string]*Set),
	}
	if len(src) > MaxFileSize {
		p.errs.Add(srcpos.Pos{File: name, Line: 1, Column: 1}.Errorf("file is %d bytes, more than the limit of %d", len(src), MaxFileSize))
		return nil, p.errs
	}
	p.file()
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	p.pol.Implicit = implicitRules(p.pol.ICMPEcho)
	p.pol.Before = []string{
		"allow established,related (connection tracking, before all rules)",
		"drop invalid (connection tracking, before all rules)",
	}
	return p.pol, nil
}

type parser struct {
	name    string
	lx      lexer
	peeked  token
	hasPeek bool
	// buf holds the tokens of the current line; statements copy what they
	// keep, so it is reused from line to line.
	buf  []token
	errs srcpos.List
	pol  *Policy
	sets map[string]*Set

	// resync tells the statement loop that the failed statement already
	// stopped at the start of the next one.
	resync bool

	elements int // towards MaxElements

	defaultLine [NumDirections]int
	loggingLine int
	echoLine    int
}

func (p *parser) next() token {
	if p.hasPeek {
		p.hasPeek = false
		return p.peeked
	}
	return p.lx.next()
}

func (p *parser) peek() token {
	if !p.hasPeek {
		p.peeked, p.hasPeek = p.lx.next(), true
	}
	return p.peeked
}

func (p *parser) errorf(t token, format string, args ...any) *srcpos.Error {
	return p.errorAt(t, 0, format, args...)
}

// errorAt locates an error at a byte offset inside a word token, for
// problems with one element of a comma list.
func (p *parser) errorAt(t token, off int, format string, args ...any) *srcpos.Error {
	return srcpos.Pos{File: p.name, Line: t.line, Column: t.col + off}.Errorf(format, args...)
}

// charge counts n elements towards MaxElements.
func (p *parser) charge(t token, n int) *srcpos.Error {
	p.elements += n
	if p.elements > MaxElements {
		return p.errorf(t, "the policy holds more than %d addresses and ports in total (a set counts again at each use)", MaxElements)
	}
	return nil
}

// skipLine discards tokens up to and including the next newline.
func (p *parser) skipLine() {
	for {
		t := p.next()
		if t.kind == tNewline || t.kind == tEOF {
			return
		}
	}
}

func (p *parser) file() {
	for {
		t := p.next()
		var err *srcpos.Error
		switch t.kind {
		case tEOF:
			return
		case tNewline:
			continue
		case tErr:
			err = p.errorf(t, "%s", t.text)
		case tWord:
			err = p.statement(t)
		default:
			err = p.errorf(t, "unexpected %s at the start of a statement", t.describe())
		}
		if err != nil {
			if !p.errs.Add(err) {
				return
			}
			if p.resync {
				p.resync = false
				continue
			}
			p.skipLine()
		}
	}
}

// line collects the remaining tokens of the current line; the newline is
// consumed. A lexical error on the line is returned as the error.
func (p *parser) line() ([]token, *srcpos.Error) {
	ts := p.buf[:0]
	defer func() { p.buf = ts[:0] }()
	for {
		t := p.peek()
		switch t.kind {
		case tNewline, tEOF:
			return ts, nil
		case tErr:
			return nil, p.errorf(t, "%s", t.text)
		}
		ts = append(ts, p.next())
	}
}

var statementKeywords = map[string]bool{
	"default": true, "logging": true, "icmp-echo": true, "set": true,
	"route": true, "allow": true, "deny": true, "reject": true, "limit": true,
}

func (p *parser) statement(first token) *srcpos.Error {
	switch first.text {
	case "default":
		return p.defaultStmt(first)
	case "logging":
		return p.loggingStmt(first)
	case "icmp-echo":
		return p.echoStmt(first)
	case "set":
		return p.setStmt(first)
	case "route":
		return p.ruleStmt(first, true)
	case "allow", "deny", "reject", "limit":
		return p.ruleStmt(first, false)
	}
	return p.errorf(first, "unknown statement %q (want default, logging, icmp-echo, set, route, allow, deny, reject or limit)", first.text)
}

func (p *parser) defaultStmt(first token) *srcpos.Error {
	ts, err := p.line()
	if err != nil {
		return err
	}
	if len(ts) == 0 {
		return p.errorf(first, "default needs an action: allow, deny or reject")
	}
	var act Action
	switch ts[0].text {
	case "allow":
		act = Allow
	case "deny":
		act = Deny
	case "reject":
		act = Reject
	default:
		return p.errorf(ts[0], "default action must be allow, deny or reject, not %s", ts[0].describe())
	}
	dir := In
	if len(ts) > 1 {
		switch ts[1].text {
		case "incoming", "in":
			dir = In
		case "outgoing", "out":
			dir = Out
		case "routed":
			dir = Routed
		default:
			return p.errorf(ts[1], "default direction must be incoming, outgoing or routed, not %s", ts[1].describe())
		}
	}
	if len(ts) > 2 {
		return p.errorf(ts[2], "unexpected %s after default", ts[2].describe())
	}
	if l := p.defaultLine[dir]; l != 0 {
		return p.errorf(first, "default for %s already set at line %d", dir, l)
	}
	p.defaultLine[dir] = first.line
	p.pol.Defaults[dir] = act
	return nil
}

func (p *parser) loggingStmt(first token) *srcpos.Error {
	ts, err := p.line()
	if err != nil {
		return err
	}
	if len(ts) != 1 {
		if len(ts) == 0 {
			return p.errorf(first, "logging needs a level: off, on, low, medium, high or full")
		}
		return p.errorf(ts[1], "unexpected %s after logging level", ts[1].describe())
	}
	var lvl LogLevel
	switch ts[0].text {
	case "off":
		lvl = LoggingOff
	case "on", "low":
		lvl = LoggingLow
	case "medium":
		lvl = LoggingMedium
	case "high":
		lvl = LoggingHigh
	case "full":
		lvl = LoggingFull
	default:
		return p.errorf(ts[0], "logging level must be off, on, low, medium, high or full, not %s", ts[0].describe())
	}
	if p.loggingLine != 0 {
		return p.errorf(first, "logging already set at line %d", p.loggingLine)
	}
	p.loggingLine = first.line
	p.pol.Logging = lvl
	return nil
}

func (p *parser) echoStmt(first token) *srcpos.Error {
	ts, err := p.line()
	if err != nil {
		return err
	}
	if len(ts) != 1 {
		if len(ts) == 0 {
			return p.errorf(first, "icmp-echo needs allow or deny")
		}
		return p.errorf(ts[1], "unexpected %s after icmp-echo", ts[1].describe())
	}
	var act Action
	switch ts[0].text {
	case "allow":
		act = Allow
	case "deny":
		act = Deny
	default:
		return p.errorf(ts[0], "icmp-echo must be allow or deny, not %s", ts[0].describe())
	}
	if p.echoLine != 0 {
		return p.errorf(first, "icmp-echo already set at line %d", p.echoLine)
	}
	p.echoLine = first.line
	p.pol.ICMPEcho = act
	return nil
}

func validSetName(s string) bool {
	if len(s) < 2 || len(s) > maxNameLen+1 || s[0] != '$' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case i > 1 && (c == '-' || c >= '0' && c <= '9'):
		default:
			return false
		}
	}
	return true
}

// setStmt parses "set $name = { elem, ... }", where the body may span lines.
func (p *parser) setStmt(first token) *srcpos.Error {
	nameTok := p.next()
	if nameTok.kind != tWord || !validSetName(nameTok.text) {
		if nameTok.kind == tErr {
			return p.errorf(nameTok, "%s", nameTok.text)
		}
		return p.errorf(nameTok, "set needs a name like $web, not %s", nameTok.describe())
	}
	if t := p.next(); t.kind != tEq {
		return p.errorf(t, "expected \"=\" after set %s, found %s", nameTok.text, t.describe())
	}
	if t := p.next(); t.kind != tLBrace {
		return p.errorf(t, "expected \"{\" to open set %s, found %s", nameTok.text, t.describe())
	}
	s := &Set{Name: nameTok.text[1:], Line: nameTok.line, Col: nameTok.col}
	var perr *srcpos.Error
	for {
		t := p.next()
		switch t.kind {
		case tNewline:
			// A statement keyword at the start of a line means the "}" was
			// forgotten; say so rather than read the rest of the file as
			// set elements.
			if n := p.peek(); n.kind == tWord && statementKeywords[n.text] {
				p.resync = true
				return p.errorf(nameTok, "set %s is not closed: \"}\" missing before line %d", nameTok.text, n.line)
			}
			continue
		case tRBrace:
		case tEOF:
			if perr == nil {
				perr = p.errorf(nameTok, "set %s is never closed with \"}\"", nameTok.text)
			}
			return perr
		case tWord:
			if perr == nil {
				perr = p.setWord(s, t)
			}
			continue
		case tErr:
			if perr == nil {
				perr = p.errorf(t, "%s", t.text)
			}
			continue
		default:
			if perr == nil {
				perr = p.errorf(t, "unexpected %s in set %s", t.describe(), nameTok.text)
			}
			continue
		}
		break
	}
	if perr != nil {
		return perr
	}
	if t := p.peek(); t.kind != tNewline && t.kind != tEOF {
		return p.errorf(t, "unexpected %s after set %s", t.describe(), nameTok.text)
	}
	if s.elems == 0 {
		return p.errorf(nameTok, "set %s is empty", nameTok.text)
	}
	if old, ok := p.sets[s.Name]; ok {
		return p.errorf(nameTok, "duplicate set %s (first defined at line %d)", nameTok.text, old.Line)
	}
	if len(p.pol.Sets) >= MaxSets {
		return p.errorf(nameTok, "too many sets (limit %d)", MaxSets)
	}
	if s.Kind == PortSet && s.named && s.protos == 0 {
		return p.errorf(nameTok, "the services in set %s share no protocol", nameTok.text)
	}
	if err := p.charge(nameTok, s.elems); err != nil {
		return err
	}
	p.sets[s.Name] = s
	p.pol.Sets = append(p.pol.Sets, s)
	return nil
}

// setWord adds the comma-separated elements of one word to s.
func (p *parser) setWord(s *Set, t token) *srcpos.Error {
	text := t.text
	for off := 0; off < len(text); {
		end := strings.IndexByte(text[off:], ',')
		if end < 0 {
			end = len(text)
		} else {
			end += off
		}
		if elem := text[off:end]; elem != "" {
			if err := p.setElem(s, t, off, elem); err != nil {
				return err
			}
		}
		off = end + 1
	}
	return nil
}

func (p *parser) setElem(s *Set, t token, off int, elem string) *srcpos.Error {
	kind := PortSet
	var nested *Set
	if elem == "any" {
		return p.errorAt(t, off, "any cannot be a set element; use any in the rule instead of the set")
	}
	if elem[0] == '$' {
		nested = p.sets[elem[1:]]
		if nested == nil {
			return p.errorAt(t, off, "unknown set %s", elem)
		}
		kind = nested.Kind
	} else if looksLikeAddr(elem) {
		kind = AddrSet
	}
	if s.Kind == 0 {
		s.Kind = kind
		s.protos = protoBoth
	} else if s.Kind != kind {
		return p.errorAt(t, off, "set $%s mixes addresses and ports at %q", s.Name, elem)
	}
	if nested != nil {
		if s.elems+nested.elems > MaxSetElements {
			return p.errorAt(t, off, "set $%s has more than %d elements", s.Name, MaxSetElements)
		}
		s.elems += nested.elems
		s.Addrs = append(s.Addrs, nested.Addrs...)
		s.Ports = append(s.Ports, nested.Ports...)
		s.Family |= nested.Family
		if nested.named {
			s.named = true
			s.protos &= nested.protos
		}
		return nil
	}
	if s.elems >= MaxSetElements {
		return p.errorAt(t, off, "set $%s has more than %d elements", s.Name, MaxSetElements)
	}
	s.elems++
	if kind == AddrSet {
		pfx, msg := parseAddr(elem)
		if msg != "" {
			return p.errorAt(t, off, "%s", msg)
		}
		s.Addrs = append(s.Addrs, pfx)
		s.Family |= familyOf(pfx)
		return nil
	}
	e, msg := parsePortElem(elem)
	if msg != "" {
		return p.errorAt(t, off, "%s", msg)
	}
	s.Ports = append(s.Ports, e.r)
	if e.service != "" {
		s.named = true
		s.protos &= e.protos
	}
	return nil
}

// looksLikeAddr decides whether a set element is meant as an address: ports
// and service names never contain '.', and only IPv6 addresses contain ':'
// followed by a hex digit that is not part of a numeric range.
func looksLikeAddr(s string) bool {
	if strings.ContainsAny(s, "./") {
		return true
	}
	return strings.Count(s, ":") > 1
}

// parseAddr parses an address or prefix; on failure it returns a message.
func parseAddr(s string) (netip.Prefix, string) {
	var pfx netip.Prefix
	if strings.IndexByte(s, '/') >= 0 {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, "invalid address " + strconv.Quote(s) + ": " + netipReason(err)
		}
		pfx = p
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, "invalid address " + strconv.Quote(s) + ": " + netipReason(err)
		}
		if a.Zone() != "" {
			return netip.Prefix{}, "invalid address " + strconv.Quote(s) + ": zones are not allowed"
		}
		pfx = netip.PrefixFrom(a, a.BitLen())
	}
	if pfx.Addr().Is4In6() {
		return netip.Prefix{}, "IPv4-mapped IPv6 address " + strconv.Quote(s) + " never matches: packets carry plain IPv4, write that"
	}
	return pfx.Masked(), ""
}

// netipReason strips the function name and the echoed input from a net/netip
// error, which the caller already reports.
func netipReason(err error) string {
	msg := err.Error()
	if _, after, ok := strings.Cut(msg, "): "); ok {
		return after
	}
	return msg
}

type portElem struct {
	r       PortRange
	service string // name, when the element named a service
	protos  uint8  // protoTCP/protoUDP of the service
	isRange bool
}

func parsePortNum(s string) (uint16, string) {
	if s == "" {
		return 0, "empty port"
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, "invalid port " + strconv.Quote(s)
		}
		if n <= 65535 {
			n = n*10 + int(c-'0')
		}
	}
	if n == 0 {
		return 0, "port 0 is not a valid port"
	}
	if n > 65535 {
		return 0, "port " + s + " out of range 1-65535"
	}
	return uint16(n), ""
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func parsePortElem(s string) (portElem, string) {
	if lo, hi, ok := strings.Cut(s, ":"); ok {
		if !isDigits(lo) || !isDigits(hi) {
			if lo == "" || hi == "" {
				return portElem{}, "incomplete port range " + strconv.Quote(s)
			}
			return portElem{}, "port ranges must be numeric: " + strconv.Quote(s)
		}
		l, msg := parsePortNum(lo)
		if msg != "" {
			return portElem{}, msg
		}
		h, msg := parsePortNum(hi)
		if msg != "" {
			return portElem{}, msg
		}
		if l > h {
			return portElem{}, "impossible port range " + s + ": " + lo + " is above " + hi
		}
		return portElem{r: PortRange{l, h}, isRange: true}, ""
	}
	if isDigits(s) || s == "" {
		n, msg := parsePortNum(s)
		return portElem{r: PortRange{n, n}}, msg
	}
	if svc, ok := services[s]; ok {
		return portElem{r: PortRange{svc.port, svc.port}, service: s, protos: svc.proto}, ""
	}
	return portElem{}, "unknown service " + strconv.Quote(s)
}
