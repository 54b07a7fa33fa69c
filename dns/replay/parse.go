package replay

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/rrtext"
	"github.com/rampart-fw/rampart/srcpos"
)

// Bounds on untrusted scenario input.
const (
	// MaxFileSize is the largest scenario Parse reads. The largest
	// scenarios in Unbound's and Deckard's suites are well under 1 MiB.
	MaxFileSize = 16 << 20
	// MaxLineLength is the longest line Parse accepts (testbound: 10240).
	MaxLineLength = 64 << 10
	// maxMessageSize bounds a HEX or RAW packet, as the wire does.
	maxMessageSize = dns.MaxMsgSize
	// maxStepNumber keeps step and range numbers in testbound's int range.
	maxStepNumber = math.MaxInt32
	// maxElapse bounds one TIME_PASSES; beyond it the clock would overflow
	// long before any TTL matters.
	maxElapse = 100 * 365 * 24 * time.Hour
	// defaultTTL is testbound's $TTL before the file sets one.
	defaultTTL = 3600
	// replyUDPSize is the OPT payload size of scripted packets, as in
	// current testbound.
	replyUDPSize = 1232
)

// parseError reports malformed scenario text at line and col (1-based;
// col 0 when the problem is not at a particular column).
func parseError(file string, line, col int, format string, args ...any) *srcpos.Error {
	return srcpos.Pos{File: file, Line: line, Column: col}.Errorf(format, args...)
}

// Parse reads a scenario. file names the input in error messages. Parse
// never panics on malformed input; the error is a *srcpos.Error naming
// file:line[:col] of the first problem.
func Parse(file string, r io.Reader) (*Scenario, error) {
	lr := newLineReader(file, r)
	p := &parser{
		lr:         lr,
		file:       file,
		sc:         &Scenario{File: file},
		origin:     ".",
		defaultTTL: defaultTTL,
		lastStep:   -1,
	}
	p.cp = configParser{cfg: &p.sc.Config, file: file}
	if err := p.parse(); err != nil {
		return nil, err
	}
	return p.sc, nil
}

type parser struct {
	lr         *lineReader
	file       string
	sc         *Scenario
	cp         configParser
	origin     string
	defaultTTL uint32
	lastStep   int
}

func (p *parser) errorf(line, col int, format string, args ...any) error {
	return parseError(p.file, line, col, format, args...)
}

// token is a word of a keyword line and its 1-based column.
type token struct {
	s   string
	col int
}

// tokenize splits a keyword line into words. A ';' ends the line anywhere,
// a '#' ends it at the start of a word, as in testbound's keyword parser.
func tokenize(line string) []token {
	var toks []token
	i := 0
	for i < len(line) {
		c := line[i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			i++
			continue
		}
		if c == ';' || c == '#' {
			break
		}
		start := i
		for i < len(line) && line[i] != ' ' && line[i] != '\t' && line[i] != '\r' && line[i] != '\n' && line[i] != ';' {
			i++
		}
		toks = append(toks, token{s: line[start:i], col: start + 1})
	}
	return toks
}

// isComment reports whether a trimmed line is empty or a comment.
func isComment(t string) bool {
	return t == "" || t[0] == ';' || t[0] == '#'
}

// restAfter returns the raw text after tok, trimmed.
func restAfter(line string, tok token) string {
	end := tok.col - 1 + len(tok.s)
	if end > len(line) {
		return ""
	}
	return strings.TrimSpace(line[end:])
}

func (p *parser) parse() error {
	lr := p.lr
	inConfig := true
	begun, ended := false, false
	for !ended && lr.next() {
		raw := lr.text
		t := strings.TrimSpace(raw)
		if isComment(t) {
			continue
		}
		toks := tokenize(raw)
		if len(toks) == 0 {
			continue
		}
		kw := toks[0]
		if inConfig {
			switch kw.s {
			case "CONFIG_END":
				inConfig = false
				continue
			case "SCENARIO_BEGIN":
				inConfig = false
			case "AUTOTRUST_FILE", "TEMPFILE_CONTENTS":
				end := "AUTOTRUST_END"
				if kw.s == "TEMPFILE_CONTENTS" {
					end = "TEMPFILE_END"
				}
				if err := p.configFile(restAfter(raw, kw), end); err != nil {
					return err
				}
				continue
			case "TEMPFILE_NAME":
				p.sc.Config.Options = append(p.sc.Config.Options, Option{Key: kw.s, Value: restAfter(raw, kw), Line: lr.line})
				continue
			case "COMMANDLINE":
				p.sc.Config.CommandLine = restAfter(raw, kw)
				continue
			default:
				if err := p.cp.line(raw, lr.line); err != nil {
					return err
				}
				continue
			}
		}
		switch kw.s {
		case "SCENARIO_BEGIN":
			if begun {
				return p.errorf(lr.line, kw.col, "second SCENARIO_BEGIN")
			}
			title := restAfter(raw, kw)
			if title == "" {
				return p.errorf(lr.line, kw.col, "SCENARIO_BEGIN needs a title")
			}
			p.sc.Title = title
			begun = true
			continue
		case "$ORIGIN", "$TTL":
			if err := p.directive(toks); err != nil {
				return err
			}
			continue
		}
		if !begun {
			return p.errorf(lr.line, kw.col, "expected SCENARIO_BEGIN, got %q", kw.s)
		}
		switch kw.s {
		case "RANGE_BEGIN":
			if err := p.parseRange(toks); err != nil {
				return err
			}
		case "STEP":
			if err := p.parseStep(raw, toks); err != nil {
				return err
			}
		case "SCENARIO_END":
			ended = true
		default:
			return p.errorf(lr.line, kw.col, "unexpected %q (want RANGE_BEGIN, STEP or SCENARIO_END)", kw.s)
		}
	}
	if err := lr.err(); err != nil {
		return err
	}
	if !begun {
		return p.errorf(lr.line+1, 0, "missing SCENARIO_BEGIN")
	}
	if !ended {
		return p.errorf(lr.line+1, 0, "missing SCENARIO_END")
	}
	return nil
}

// configFile reads an AUTOTRUST_FILE or TEMPFILE_CONTENTS block.
func (p *parser) configFile(name, end string) error {
	start := p.lr.line
	f := File{Name: name, Line: start}
	for p.lr.next() {
		if strings.HasPrefix(strings.TrimSpace(p.lr.text), end) {
			p.sc.Config.Files = append(p.sc.Config.Files, f)
			return nil
		}
		f.Lines = append(f.Lines, strings.TrimRight(p.lr.text, " \t\r"))
	}
	if err := p.lr.err(); err != nil {
		return err
	}
	return p.errorf(start, 0, "block has no %s", end)
}

// directive handles $ORIGIN and $TTL, which may appear anywhere.
func (p *parser) directive(toks []token) error {
	line := p.lr.line
	if len(toks) != 2 {
		return p.errorf(line, toks[0].col, "%s takes one argument", toks[0].s)
	}
	arg := toks[1]
	switch toks[0].s {
	case "$ORIGIN":
		name := p.absolute(arg.s)
		if _, ok := dns.IsDomainName(name); !ok {
			return p.errorf(line, arg.col, "$ORIGIN %q is not a domain name", arg.s)
		}
		p.origin = name
	case "$TTL":
		n, err := strconv.ParseUint(arg.s, 10, 32)
		if err != nil {
			return p.errorf(line, arg.col, "$TTL %q is not a number of seconds", arg.s)
		}
		p.defaultTTL = uint32(n)
	}
	return nil
}

// absolute makes name fully qualified against the current $ORIGIN.
func (p *parser) absolute(name string) string {
	if name == "@" {
		return p.origin
	}
	if dns.IsFqdn(name) {
		return name
	}
	if p.origin == "." {
		return name + "."
	}
	return name + "." + p.origin
}

func parseStepNumber(s string) (int, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > maxStepNumber {
		return 0, false
	}
	return int(n), true
}

func (p *parser) parseRange(toks []token) error {
	line := p.lr.line
	if len(toks) < 3 || len(toks) > 4 {
		return p.errorf(line, toks[0].col, "RANGE_BEGIN wants a start step, an end step and optionally an address")
	}
	start, ok := parseStepNumber(toks[1].s)
	if !ok {
		return p.errorf(line, toks[1].col, "RANGE_BEGIN start %q is not a step number", toks[1].s)
	}
	end, ok := parseStepNumber(toks[2].s)
	if !ok {
		return p.errorf(line, toks[2].col, "RANGE_BEGIN end %q is not a step number", toks[2].s)
	}
	if start > end {
		return p.errorf(line, toks[1].col, "RANGE_BEGIN start %d is after end %d", start, end)
	}
	rng := &Range{Start: start, End: end, Line: line}
	if len(toks) == 4 {
		ap, err := parseServerAddr(toks[3].s)
		if err != nil {
			return p.errorf(line, toks[3].col, "RANGE_BEGIN: %v", err)
		}
		rng.Addrs = append(rng.Addrs, ap)
	}
	for p.lr.next() {
		raw := p.lr.text
		if isComment(strings.TrimSpace(raw)) {
			continue
		}
		toks := tokenize(raw)
		if len(toks) == 0 {
			continue
		}
		switch toks[0].s {
		case "ADDRESS":
			if len(toks) != 2 {
				return p.errorf(p.lr.line, toks[0].col, "ADDRESS takes one address")
			}
			ap, err := parseServerAddr(toks[1].s)
			if err != nil {
				return p.errorf(p.lr.line, toks[1].col, "ADDRESS: %v", err)
			}
			rng.Addrs = append(rng.Addrs, ap)
		case "ENTRY_BEGIN":
			e, err := p.parseEntry(p.lr.line)
			if err != nil {
				return err
			}
			rng.Entries = append(rng.Entries, e)
		case "RANGE_END":
			p.sc.Ranges = append(p.sc.Ranges, rng)
			return nil
		case "$ORIGIN", "$TTL":
			if err := p.directive(toks); err != nil {
				return err
			}
		default:
			return p.errorf(p.lr.line, toks[0].col, "unexpected %q in RANGE (want ADDRESS, ENTRY_BEGIN or RANGE_END)", toks[0].s)
		}
	}
	if err := p.lr.err(); err != nil {
		return err
	}
	return p.errorf(line, toks[0].col, "RANGE_BEGIN has no RANGE_END")
}

var stepKinds = map[string]StepKind{}

func init() {
	for k, name := range stepKindNames {
		stepKinds[name] = StepKind(k)
	}
}

func (p *parser) parseStep(raw string, toks []token) error {
	line := p.lr.line
	if len(toks) < 3 {
		return p.errorf(line, toks[0].col, "STEP wants a number and an event type")
	}
	num, ok := parseStepNumber(toks[1].s)
	if !ok {
		return p.errorf(line, toks[1].col, "STEP number %q is not a step number", toks[1].s)
	}
	if num <= p.lastStep {
		return p.errorf(line, toks[1].col, "STEP %d does not follow STEP %d: steps must increase", num, p.lastStep)
	}
	kind, ok := stepKinds[toks[2].s]
	if !ok {
		return p.errorf(line, toks[2].col, "unknown STEP event %q", toks[2].s)
	}
	st := &Step{Number: num, Kind: kind, Line: line}
	args := toks[3:]
	switch kind {
	case StepAssign, StepInfraRTT, StepCheckAutotrust, StepCheckTempfile:
		st.Args = restAfter(raw, toks[2])
		args = nil
	case StepFlushMessage, StepExpireMessage:
		q, err := p.question(args, raw)
		if err != nil {
			return err
		}
		st.Question = q
		args = nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a.s == "ADDRESS" && i+1 < len(args):
			ap, err := parseServerAddr(args[i+1].s)
			if err != nil {
				return p.errorf(line, args[i+1].col, "ADDRESS: %v", err)
			}
			st.Addr = ap
			i++
		case a.s == "ELAPSE" && kind == StepTimePasses && i+1 < len(args):
			d, err := parseElapse(args[i+1].s)
			if err != nil {
				return p.errorf(line, args[i+1].col, "ELAPSE: %v", err)
			}
			st.Elapse = d
			i++
		case a.s == "EVAL" && kind == StepTimePasses:
			st.Eval = restAfter(raw, a)
			p.sc.Unsupported = append(p.sc.Unsupported, fmt.Sprintf("%s:%d: TIME_PASSES EVAL (testbound macro)", p.file, line))
			i = len(args)
		default:
			return p.errorf(line, a.col, "unexpected %q after STEP %d %s", a.s, num, kind)
		}
	}
	if kind == StepAssign {
		p.sc.Unsupported = append(p.sc.Unsupported, fmt.Sprintf("%s:%d: ASSIGN (testbound macro)", p.file, line))
	}
	if kind.needsEntry() {
		e, err := p.expectEntry(num, kind)
		if err != nil {
			return err
		}
		st.Entry = e
	}
	if kind == StepCheckAutotrust || kind == StepCheckTempfile {
		lines, err := p.fileBlock()
		if err != nil {
			return err
		}
		st.File = lines
	}
	p.lastStep = num
	p.sc.Steps = append(p.sc.Steps, st)
	return nil
}

func parseElapse(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxElapse.Seconds() {
		return 0, errorString("want seconds between 0 and " + strconv.FormatFloat(maxElapse.Seconds(), 'f', 0, 64) + ", got " + strconv.Quote(s))
	}
	return time.Duration(math.Round(f * float64(time.Second))), nil
}

// expectEntry reads the ENTRY block that follows a STEP line.
func (p *parser) expectEntry(num int, kind StepKind) (*Entry, error) {
	for p.lr.next() {
		raw := p.lr.text
		if isComment(strings.TrimSpace(raw)) {
			continue
		}
		toks := tokenize(raw)
		if len(toks) == 0 {
			continue
		}
		switch toks[0].s {
		case "ENTRY_BEGIN":
			return p.parseEntry(p.lr.line)
		case "$ORIGIN", "$TTL":
			if err := p.directive(toks); err != nil {
				return nil, err
			}
			continue
		}
		return nil, p.errorf(p.lr.line, toks[0].col, "STEP %d %s needs an ENTRY_BEGIN block, got %q", num, kind, toks[0].s)
	}
	if err := p.lr.err(); err != nil {
		return nil, err
	}
	return nil, p.errorf(p.lr.line+1, 0, "STEP %d %s needs an ENTRY_BEGIN block, got end of file", num, kind)
}

// fileBlock reads the FILE_BEGIN..FILE_END block of CHECK_AUTOTRUST and
// CHECK_TEMPFILE, which testbound expects on the very next line.
func (p *parser) fileBlock() ([]string, error) {
	if !p.lr.next() {
		if err := p.lr.err(); err != nil {
			return nil, err
		}
		return nil, p.errorf(p.lr.line+1, 0, "FILE_BEGIN expected, got end of file")
	}
	if !strings.HasPrefix(p.lr.text, "FILE_BEGIN") {
		return nil, p.errorf(p.lr.line, 1, "FILE_BEGIN expected")
	}
	start := p.lr.line
	var lines []string
	for p.lr.next() {
		if strings.HasPrefix(p.lr.text, "FILE_END") {
			return lines, nil
		}
		lines = append(lines, strings.TrimRight(p.lr.text, " \t\r"))
	}
	if err := p.lr.err(); err != nil {
		return nil, err
	}
	return nil, p.errorf(start, 0, "FILE_BEGIN has no FILE_END")
}

// Section indexes while an entry is read.
const (
	secQuestion = iota
	secAnswer
	secAuthority
	secAdditional
)

// packetBuilder accumulates one packet of an entry.
type packetBuilder struct {
	msg      *dns.Msg
	do       bool
	edns     *ednsSpec
	raw      []byte
	rawOnly  bool
	ednsData []byte
	sleep    time.Duration
	line     int
}

type ednsSpec struct {
	version uint8
	udpSize uint16
	off     bool
	options []dns.EDNS0
}

func newPacketBuilder(line int) *packetBuilder {
	return &packetBuilder{msg: new(dns.Msg), line: line}
}

// hexBlock collects the lines of a HEX_*_BEGIN block.
type hexBlock struct {
	start int
	end   string
	lines []string
	nums  []int
	edns  bool
}

func (p *parser) parseEntry(begin int) (*Entry, error) {
	e := &Entry{Line: begin}
	b := newPacketBuilder(begin)
	section := secQuestion
	var hb *hexBlock
	rawPending := 0 // line of a RAW keyword whose hex line is still to come
	for p.lr.next() {
		raw := p.lr.text
		line := p.lr.line
		t := strings.TrimSpace(raw)
		if hb != nil {
			if strings.HasPrefix(t, hb.end) {
				data, err := p.parseHex(hb.lines, hb.nums)
				if err != nil {
					return nil, err
				}
				if hb.edns {
					b.ednsData = data
				} else {
					b.raw = data
				}
				hb = nil
				continue
			}
			hb.lines = append(hb.lines, raw)
			hb.nums = append(hb.nums, line)
			continue
		}
		if isComment(t) {
			continue
		}
		if rawPending != 0 {
			data, err := p.parseHex([]string{raw}, []int{line})
			if err != nil {
				return nil, err
			}
			b.raw, b.rawOnly = data, true
			rawPending = 0
			continue
		}
		toks := tokenize(raw)
		if len(toks) == 0 {
			continue
		}
		kw := toks[0]
		switch kw.s {
		case "MATCH":
			if err := p.matchLine(e, toks[1:]); err != nil {
				return nil, err
			}
		case "REPLY", "FLAGS":
			if err := p.replyLine(b, toks[1:]); err != nil {
				return nil, err
			}
		case "ADJUST":
			if err := p.adjustLine(e, b, toks[1:]); err != nil {
				return nil, err
			}
		case "EXTRA_PACKET":
			pkt, err := p.finishPacket(b)
			if err != nil {
				return nil, err
			}
			e.Packets = append(e.Packets, pkt)
			b = newPacketBuilder(line)
			section = secQuestion
		case "SECTION":
			if len(toks) != 2 {
				return nil, p.errorf(line, kw.col, "SECTION wants one of QUESTION, ANSWER, AUTHORITY, ADDITIONAL")
			}
			switch strings.ToUpper(toks[1].s) {
			case "QUESTION":
				section = secQuestion
			case "ANSWER":
				section = secAnswer
			case "AUTHORITY":
				section = secAuthority
			case "ADDITIONAL":
				section = secAdditional
			default:
				return nil, p.errorf(line, toks[1].col, "bad section %q", toks[1].s)
			}
		case "HEX_ANSWER_BEGIN":
			hb = &hexBlock{start: line, end: "HEX_ANSWER_END"}
		case "HEX_EDNSDATA_BEGIN", "HEX_EDNS_BEGIN":
			// testpkts.h documents HEX_EDNS_BEGIN; the code reads HEX_EDNSDATA_BEGIN.
			hb = &hexBlock{start: line, end: strings.Replace(kw.s, "_BEGIN", "_END", 1), edns: true}
		case "HEX_ANSWER_END", "HEX_EDNSDATA_END", "HEX_EDNS_END":
			return nil, p.errorf(line, kw.col, "%s without its BEGIN", kw.s)
		case "RAW":
			rawPending = line
		case "MANDATORY":
			e.Mandatory = true
		case "TSIG":
			if len(toks) != 3 {
				return nil, p.errorf(line, kw.col, "TSIG wants a key name and a secret")
			}
			e.TSIGKey, e.TSIGSecret = toks[1].s, toks[2].s
			p.sc.Unsupported = append(p.sc.Unsupported, fmt.Sprintf("%s:%d: TSIG", p.file, line))
		case "EDNS":
			spec, err := p.ednsLine(toks[1:])
			if err != nil {
				return nil, err
			}
			b.edns = spec
		case "ENTRY_END":
			pkt, err := p.finishPacket(b)
			if err != nil {
				return nil, err
			}
			e.Packets = append(e.Packets, pkt)
			return e, nil
		case "ENTRY_BEGIN":
			return nil, p.errorf(line, kw.col, "ENTRY_BEGIN inside the entry that began at line %d", begin)
		case "$ORIGIN", "$TTL":
			if err := p.directive(toks); err != nil {
				return nil, err
			}
		default:
			if strings.HasPrefix(kw.s, "$") {
				return nil, p.errorf(line, kw.col, "directive %s is not supported", kw.s)
			}
			if err := p.record(b, section, raw); err != nil {
				return nil, err
			}
		}
	}
	if err := p.lr.err(); err != nil {
		return nil, err
	}
	switch {
	case hb != nil:
		return nil, p.errorf(hb.start, 0, "%s has no end before end of file", strings.Replace(hb.end, "_END", "_BEGIN", 1))
	case rawPending != 0:
		return nil, p.errorf(rawPending, 0, "RAW has no hex data before end of file")
	}
	return nil, p.errorf(begin, 0, "ENTRY_BEGIN has no ENTRY_END")
}

func (p *parser) matchLine(e *Entry, toks []token) error {
	line := p.lr.line
	for _, t := range toks {
		s := t.s
		if k, v, ok := cutAssign(s); ok && (strings.EqualFold(k, "serial") || strings.EqualFold(k, "ede")) {
			if strings.EqualFold(k, "serial") {
				n, err := strconv.ParseUint(v, 10, 32)
				if err != nil {
					return p.errorf(line, t.col, "MATCH serial %q is not a 32-bit number", v)
				}
				e.Match |= MatchSerial
				e.Serial = uint32(n)
				continue
			}
			e.Match |= MatchEDE
			if strings.EqualFold(v, "any") {
				e.EDEAny = true
				continue
			}
			n, err := strconv.ParseUint(v, 10, 16)
			if err != nil {
				return p.errorf(line, t.col, "MATCH ede %q is neither a 16-bit number nor any", v)
			}
			e.EDE = uint16(n)
			continue
		}
		found := false
		for _, n := range matchNames {
			if strings.EqualFold(n.name, s) {
				e.Match |= n.m
				found = true
				break
			}
		}
		if !found {
			return p.errorf(line, t.col, "unknown MATCH criterion %q", s)
		}
	}
	return nil
}

// cutAssign splits "key=value" or "key:value".
func cutAssign(s string) (string, string, bool) {
	i := strings.IndexAny(s, "=:")
	if i <= 0 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

var opcodes = map[string]int{
	"QUERY":  dns.OpcodeQuery,
	"IQUERY": dns.OpcodeIQuery,
	"STATUS": dns.OpcodeStatus,
	"NOTIFY": dns.OpcodeNotify,
	"UPDATE": dns.OpcodeUpdate,
}

func rcodeByName(s string) (int, bool) {
	if s == "BADVERS" {
		return dns.RcodeBadVers, true
	}
	rc, ok := dns.StringToRcode[s]
	return rc, ok
}

func (p *parser) replyLine(b *packetBuilder, toks []token) error {
	m := b.msg
	for _, t := range toks {
		s := strings.ToUpper(t.s)
		switch s {
		case "QR":
			m.Response = true
		case "AA":
			m.Authoritative = true
		case "TC":
			m.Truncated = true
		case "RD":
			m.RecursionDesired = true
		case "RA":
			m.RecursionAvailable = true
		case "AD":
			m.AuthenticatedData = true
		case "CD":
			m.CheckingDisabled = true
		case "DO":
			b.do = true
		default:
			if op, ok := opcodes[s]; ok {
				m.Opcode = op
			} else if rc, ok := rcodeByName(s); ok {
				m.Rcode = rc
			} else {
				return p.errorf(p.lr.line, t.col, "unknown REPLY flag, opcode or rcode %q", t.s)
			}
		}
	}
	return nil
}

func (p *parser) adjustLine(e *Entry, b *packetBuilder, toks []token) error {
	line := p.lr.line
	for _, t := range toks {
		if k, v, ok := cutAssign(t.s); ok && (k == "sleep" || k == "packet_sleep") {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return p.errorf(line, t.col, "ADJUST %s %q is not a number of seconds", k, v)
			}
			d := time.Duration(n) * time.Second
			if k == "sleep" {
				e.Sleep = d
			} else {
				b.sleep = d
			}
			continue
		}
		found := false
		for _, n := range adjustNames {
			if n.name == t.s {
				e.Adjust |= n.a
				found = true
				break
			}
		}
		if !found {
			return p.errorf(line, t.col, "unknown ADJUST action %q", t.s)
		}
	}
	return nil
}

// ednsLine reads the early Deckard "EDNS [version] [payload] [option...]"
// line; payload 0 removes EDNS.
func (p *parser) ednsLine(toks []token) (*ednsSpec, error) {
	line := p.lr.line
	spec := &ednsSpec{udpSize: 4096}
	i := 0
	if i < len(toks) && isDigits(toks[i].s) {
		n, err := strconv.ParseUint(toks[i].s, 10, 8)
		if err != nil {
			return nil, p.errorf(line, toks[i].col, "EDNS version %q out of range", toks[i].s)
		}
		spec.version = uint8(n)
		i++
	}
	if i < len(toks) && isDigits(toks[i].s) {
		n, err := strconv.ParseUint(toks[i].s, 10, 16)
		if err != nil {
			return nil, p.errorf(line, toks[i].col, "EDNS payload size %q out of range", toks[i].s)
		}
		spec.udpSize = uint16(n)
		spec.off = n == 0
		i++
	}
	for ; i < len(toks); i++ {
		t := toks[i]
		k, v, hasValue := strings.Cut(t.s, "=")
		switch strings.ToLower(k) {
		case "nsid":
			nsid := ""
			if hasValue {
				nsid = hex.EncodeToString([]byte(v))
			}
			spec.options = append(spec.options, &dns.EDNS0_NSID{Code: dns.EDNS0NSID, Nsid: nsid})
		case "subnet":
			opt, err := subnetOption(v)
			if !hasValue || err != nil {
				return nil, p.errorf(line, t.col, "EDNS subnet %q: want address/prefix", v)
			}
			spec.options = append(spec.options, opt)
		default:
			return nil, p.errorf(line, t.col, "unknown EDNS option %q", t.s)
		}
	}
	return spec, nil
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

func subnetOption(v string) (*dns.EDNS0_SUBNET, error) {
	pfx, err := netip.ParsePrefix(v)
	if err != nil {
		a, aerr := netip.ParseAddr(v)
		if aerr != nil {
			return nil, err
		}
		pfx = netip.PrefixFrom(a, a.BitLen())
	}
	pfx = pfx.Masked()
	family := uint16(1)
	if pfx.Addr().Is6() {
		family = 2
	}
	return &dns.EDNS0_SUBNET{
		Code:          dns.EDNS0SUBNET,
		Family:        family,
		SourceNetmask: uint8(pfx.Bits()),
		Address:       net.IP(pfx.Addr().AsSlice()),
	}, nil
}

// record adds one presentation-format RR (or question) to the packet.
func (p *parser) record(b *packetBuilder, section int, raw string) error {
	line := p.lr.line
	text := strings.TrimSpace(raw)
	col0 := strings.Index(raw, text) + 1
	if section == secQuestion {
		q, err := p.question(tokenize(raw), raw)
		if err != nil {
			return err
		}
		b.msg.Question = append(b.msg.Question, q)
		return nil
	}
	zp := dns.NewZoneParser(strings.NewReader(text), p.origin, "")
	zp.SetDefaultTTL(p.defaultTTL)
	zp.SetIncludeAllowed(false)
	rr, ok := zp.Next()
	if err := zp.Err(); err != nil {
		if strings.Contains(text, "${") {
			p.sc.Unsupported = append(p.sc.Unsupported, fmt.Sprintf("%s:%d: testbound macro in a record", p.file, line))
			return nil
		}
		msg, col := splitZoneError(err, text)
		if !strings.HasPrefix(msg, "bad ") {
			msg = "bad record: " + msg
		}
		return p.errorf(line, col0+col-1, "%s", msg)
	}
	if !ok || rr == nil {
		return p.errorf(line, col0, "no record in %q", text)
	}
	if _, more := zp.Next(); more {
		return p.errorf(line, col0, "more than one record on the line")
	}
	if rr.Header().Rrtype == dns.TypeOPT {
		return p.errorf(line, col0, "OPT records are written as REPLY DO, EDNS or HEX_EDNSDATA, not as records")
	}
	if !normalise(rr) {
		return p.errorf(line, col0, "bad %s record: its base64 data does not decode", dns.Type(rr.Header().Rrtype))
	}
	switch section {
	case secAnswer:
		b.msg.Answer = append(b.msg.Answer, rr)
	case secAuthority:
		b.msg.Ns = append(b.msg.Ns, rr)
	default:
		b.msg.Extra = append(b.msg.Extra, rr)
	}
	if len(b.msg.Answer)+len(b.msg.Ns)+len(b.msg.Extra) > math.MaxUint16 {
		return p.errorf(line, col0, "more than 65535 records in a packet")
	}
	return nil
}

// normalise puts into the form miekg/dns packs what Deckard's parser
// (dnspython) takes as written: type bitmaps of NSEC, NSEC3 and CSYNC
// records in any order (they are sets: sorted here, duplicates dropped),
// and base64 with superfluous padding ("UNUSABLE==", a signature meant not
// to verify). It reports false for base64 that does not decode at all.
func normalise(rr dns.RR) bool {
	switch rr := rr.(type) {
	case *dns.NSEC:
		rr.TypeBitMap = typeSet(rr.TypeBitMap)
	case *dns.NSEC3:
		rr.TypeBitMap = typeSet(rr.TypeBitMap)
	case *dns.CSYNC:
		rr.TypeBitMap = typeSet(rr.TypeBitMap)
	case *dns.RRSIG:
		return canonicalBase64(&rr.Signature)
	case *dns.DNSKEY:
		return canonicalBase64(&rr.PublicKey)
	}
	return true
}

func typeSet(types []uint16) []uint16 {
	slices.Sort(types)
	return slices.Compact(types)
}

// canonicalBase64 rewrites *s in standard padded base64 when it decodes
// only once its padding is ignored.
func canonicalBase64(s *string) bool {
	if _, err := base64.StdEncoding.DecodeString(*s); err == nil {
		return true
	}
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(*s, "="))
	if err != nil {
		return false
	}
	*s = base64.StdEncoding.EncodeToString(b)
	return true
}

// splitZoneError separates miekg/dns's position from its message so that
// the column can be reported against the scenario line.
func splitZoneError(err error, text string) (string, int) {
	msg, col := rrtext.PositionInLine(err, text)
	if col < 1 || col > MaxLineLength {
		col = 1
	}
	return msg, col
}

// question reads "name [class] type" (a TTL is tolerated and ignored).
func (p *parser) question(toks []token, raw string) (dns.Question, error) {
	line := p.lr.line
	if len(toks) == 0 {
		return dns.Question{}, p.errorf(line, 1, "question wants a name and a type")
	}
	name := p.absolute(toks[0].s)
	if _, ok := dns.IsDomainName(name); !ok {
		return dns.Question{}, p.errorf(line, toks[0].col, "%q is not a domain name", toks[0].s)
	}
	q := dns.Question{Name: name, Qclass: dns.ClassINET}
	haveType := false
	for _, t := range toks[1:] {
		u := strings.ToUpper(t.s)
		if c, ok := dns.StringToClass[u]; ok {
			q.Qclass = c
		} else if n, ok := numbered(u, "CLASS"); ok {
			q.Qclass = n
		} else if ty, ok := dns.StringToType[u]; ok {
			q.Qtype, haveType = ty, true
		} else if n, ok := numbered(u, "TYPE"); ok {
			q.Qtype, haveType = n, true
		} else if !isDigits(u) {
			return dns.Question{}, p.errorf(line, t.col, "unknown type or class %q", t.s)
		}
	}
	if !haveType {
		return dns.Question{}, p.errorf(line, toks[0].col, "question %q has no type", strings.TrimSpace(raw))
	}
	return q, nil
}

func numbered(s, prefix string) (uint16, bool) {
	if !strings.HasPrefix(s, prefix) {
		return 0, false
	}
	n, err := strconv.ParseUint(s[len(prefix):], 10, 16)
	return uint16(n), err == nil
}

// parseHex decodes hex digits; ';' or '#' start a comment, blanks separate.
// testbound pads an odd digit count and skips stray characters; both hide
// broken test data, so they are errors here.
func (p *parser) parseHex(lines []string, nums []int) ([]byte, error) {
	var out []byte
	var hi byte
	half := false
	lastLine := p.lr.line
	for li, l := range lines {
		lastLine = nums[li]
	scan:
		for i := 0; i < len(l); i++ {
			c := l[i]
			var n byte
			switch {
			case c >= '0' && c <= '9':
				n = c - '0'
			case c >= 'a' && c <= 'f':
				n = c - 'a' + 10
			case c >= 'A' && c <= 'F':
				n = c - 'A' + 10
			case c == ';' || c == '#':
				break scan
			case c == ' ' || c == '\t' || c == '\r':
				continue
			default:
				return nil, p.errorf(nums[li], i+1, "unexpected %q in hex data", c)
			}
			if !half {
				hi, half = n, true
				continue
			}
			out = append(out, hi<<4|n)
			half = false
			if len(out) > maxMessageSize {
				return nil, p.errorf(nums[li], i+1, "hex data longer than %d bytes", maxMessageSize)
			}
		}
	}
	if half {
		return nil, p.errorf(lastLine, 0, "odd number of hex digits")
	}
	return out, nil
}

// finishPacket adds EDNS to the message and checks that it packs, so that
// a scenario mistake is reported at parse time with its line.
func (p *parser) finishPacket(b *packetBuilder) (*Packet, error) {
	m := b.msg
	pkt := &Packet{Msg: m, Raw: b.raw, RawOnly: b.rawOnly, EDNSData: b.ednsData, Sleep: b.sleep}
	wantOPT := b.do || b.ednsData != nil || m.Rcode > 0xF || (b.edns != nil && !b.edns.off)
	if wantOPT {
		opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: replyUDPSize}}
		if b.edns != nil && !b.edns.off {
			opt.SetUDPSize(b.edns.udpSize)
			opt.SetVersion(b.edns.version)
			opt.Option = append(opt.Option, b.edns.options...)
		}
		if b.do {
			opt.SetDo()
		}
		if b.ednsData != nil {
			opts, err := unpackOptions(b.ednsData)
			if err != nil {
				return nil, p.errorf(b.line, 0, "HEX_EDNSDATA: %v", err)
			}
			opt.Option = append(opt.Option, opts...)
		}
		m.Extra = append(m.Extra, opt)
	}
	if b.raw == nil {
		if _, err := m.Copy().Pack(); err != nil {
			return nil, p.errorf(b.line, 0, "packet of the entry does not pack: %v", err)
		}
	}
	return pkt, nil
}

// unpackOptions decodes raw OPT RDATA by wrapping it in an OPT record.
func unpackOptions(data []byte) ([]dns.EDNS0, error) {
	if len(data) > maxMessageSize-11 {
		return nil, errors.New("option data too long")
	}
	wire := make([]byte, 11+len(data))
	wire[2] = byte(dns.TypeOPT)
	wire[3], wire[4] = byte(replyUDPSize>>8), byte(replyUDPSize&0xff)
	wire[9], wire[10] = byte(len(data)>>8), byte(len(data))
	copy(wire[11:], data)
	rr, _, err := dns.UnpackRR(wire, 0)
	if err != nil {
		return nil, err
	}
	opt, ok := rr.(*dns.OPT)
	if !ok {
		return nil, errors.New("not an OPT record")
	}
	return opt.Option, nil
}

// lineReader reads bounded lines and counts them.
type lineReader struct {
	file string
	sc   *bufio.Scanner
	line int
	text string
}

var errFileTooLarge = errors.New("file too large")

func newLineReader(file string, r io.Reader) *lineReader {
	sc := bufio.NewScanner(&limitReader{r: r, n: MaxFileSize})
	sc.Buffer(make([]byte, 0, 4096), MaxLineLength)
	return &lineReader{file: file, sc: sc}
}

func (lr *lineReader) next() bool {
	if !lr.sc.Scan() {
		return false
	}
	lr.line++
	lr.text = lr.sc.Text()
	return true
}

func (lr *lineReader) err() error {
	err := lr.sc.Err()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bufio.ErrTooLong):
		return parseError(lr.file, lr.line+1, 0, "line longer than %d bytes", MaxLineLength)
	case errors.Is(err, errFileTooLarge):
		return parseError(lr.file, lr.line+1, 0, "file larger than %d bytes", MaxFileSize)
	}
	return parseError(lr.file, lr.line+1, 0, "read: %v", err)
}

// limitReader fails, rather than truncating, past n bytes.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(b []byte) (int, error) {
	if l.n <= 0 {
		var probe [1]byte
		n, err := l.r.Read(probe[:])
		if n > 0 {
			return 0, errFileTooLarge
		}
		return 0, err
	}
	if int64(len(b)) > l.n {
		b = b[:l.n]
	}
	n, err := l.r.Read(b)
	l.n -= int64(n)
	return n, err
}
