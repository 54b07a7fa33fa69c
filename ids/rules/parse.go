package rules

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/rampart-fw/rampart/ids/buffer"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
	"github.com/rampart-fw/rampart/srcpos"
)

// posMap maps offsets in a rule's text (its lines joined) back to the
// file: each segment is a run of the text that came from one line.
type posMap struct {
	file string
	segs []segment
}

type segment struct {
	off       int // offset in the joined text where the segment starts
	line, col int // where that is in the file
}

func (m *posMap) at(off int) srcpos.Pos {
	if m == nil || len(m.segs) == 0 {
		return srcpos.Pos{Line: 1, Column: off + 1}
	}
	s := m.segs[0]
	for _, t := range m.segs[1:] {
		if t.off > off {
			break
		}
		s = t
	}
	return srcpos.Pos{File: m.file, Line: s.line, Column: s.col + off - s.off}
}

// ParseRule parses one rule, written on one line, with the variables vars
// (nil for DefaultVars). Errors are positioned at line 1.
func ParseRule(text string, vars Vars) (*Rule, error) {
	if vars == nil {
		vars = DefaultVars()
	} else {
		vars = vars.withDefaults()
	}
	r, err := parseRule(text, &posMap{segs: []segment{{0, 1, 1}}}, vars)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// parser holds the state of one rule's parse.
type parser struct {
	text string
	pm   *posMap
	vars Vars
	r    *Rule

	sticky      buffer.ID // the sticky buffer in force; Payload when none
	items       []placed  // payload keywords in rule order, with their buffers
	lastContent int       // index in items of the last content; -1 when none
	lastMod     buffer.ID // content modifier already applied to the last content
	fastPattern bool
	threshold   bool
}

type placed struct {
	buf  buffer.ID
	item Item
	off  int // offset of the keyword in the text
}

// option is one "name:value" of a rule, with offsets into the text.
type option struct {
	name, value     string
	nameOff, valOff int
	hasValue        bool
}

func (p *parser) errAt(off int, format string, args ...any) *srcpos.Error {
	return p.pm.at(off).Errorf(format, args...)
}

// parseRule parses the joined text of one rule.
func parseRule(text string, pm *posMap, vars Vars) (*Rule, *srcpos.Error) {
	p := &parser{text: text, pm: pm, vars: vars, lastContent: -1,
		r: &Rule{Pos: pm.at(0), Text: text, GID: 1}}
	open, err := p.header()
	if err != nil {
		return nil, err
	}
	opts, err := p.splitOptions(open)
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		if err := p.option(o); err != nil {
			return nil, err
		}
	}
	if err := p.finish(); err != nil {
		return nil, err
	}
	return p.r, nil
}

// header parses the seven header fields and returns the offset of the
// options' opening parenthesis.
func (p *parser) header() (int, *srcpos.Error) {
	type tok struct {
		s   string
		off int
	}
	var toks []tok
	i := 0
	for {
		for i < len(p.text) && isBlank(p.text[i]) {
			i++
		}
		if i >= len(p.text) {
			return 0, p.errAt(i, "rule has no options: missing (")
		}
		if p.text[i] == '(' {
			break
		}
		start, depth := i, 0
		for i < len(p.text) {
			c := p.text[i]
			if c == '[' {
				depth++
			} else if c == ']' {
				depth--
			} else if depth <= 0 && (isBlank(c) || c == '(') {
				break
			}
			i++
		}
		toks = append(toks, tok{p.text[start:i], start})
	}
	if len(toks) != 7 {
		return 0, p.errAt(0, "rule header has %d fields, want 7: action protocol source port direction destination port", len(toks))
	}
	r := p.r
	switch toks[0].s {
	case "alert":
		r.Action = Alert
	case "pass":
		r.Action = Pass
	case "drop":
		r.Action = Drop
	case "reject":
		r.Action = Reject
	case "rejectsrc":
		r.Action = RejectSrc
	case "rejectdst":
		r.Action = RejectDst
	case "rejectboth":
		r.Action = RejectBoth
	default:
		return 0, p.errAt(toks[0].off, "unknown action %q", toks[0].s)
	}
	if err := p.protocol(toks[1].s, toks[1].off); err != nil {
		return 0, err
	}
	var serr *specError
	if r.Src, serr = parseAddrSpec(toks[2].s, p.vars, nil); serr != nil {
		return 0, p.errAt(toks[2].off+serr.off, "source address: %s", serr.msg)
	}
	if r.SrcPorts, serr = parsePortSpec(toks[3].s, p.vars, nil); serr != nil {
		return 0, p.errAt(toks[3].off+serr.off, "source port: %s", serr.msg)
	}
	switch toks[4].s {
	case "->":
	case "<>":
		r.Bidirectional = true
	case "<-":
		return 0, p.errAt(toks[4].off, "direction <- is not valid: write the rule with ->")
	default:
		return 0, p.errAt(toks[4].off, "unknown direction %q, want -> or <>", toks[4].s)
	}
	if r.Dst, serr = parseAddrSpec(toks[5].s, p.vars, nil); serr != nil {
		return 0, p.errAt(toks[5].off+serr.off, "destination address: %s", serr.msg)
	}
	if r.DstPorts, serr = parsePortSpec(toks[6].s, p.vars, nil); serr != nil {
		return 0, p.errAt(toks[6].off+serr.off, "destination port: %s", serr.msg)
	}
	return i, nil
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// protocol sets the rule's protocols from the header's protocol field.
func (p *parser) protocol(s string, off int) *srcpos.Error {
	r := p.r
	switch strings.ToLower(s) {
	case "ip", "pkthdr":
		for i := range r.Protos {
			r.Protos[i] = ^uint64(0)
		}
	case "tcp":
		r.Protos.add(ipproto.TCP)
	case "tcp-pkt":
		r.Protos.add(ipproto.TCP)
		r.PacketOnly = true
	case "tcp-stream":
		r.Protos.add(ipproto.TCP)
		r.StreamOnly = true
	case "udp":
		r.Protos.add(ipproto.UDP)
	case "icmp":
		r.Protos.add(ipproto.ICMP, ipproto.ICMPv6) // as Suricata: both families
	case "icmpv4":
		r.Protos.add(ipproto.ICMP)
	case "icmpv6":
		r.Protos.add(ipproto.ICMPv6)
	case "sctp":
		r.Protos.add(ipproto.SCTP)
	case "http", "http1":
		r.Protos.add(ipproto.TCP)
		r.App = buffer.AppHTTP
	case "tls":
		r.Protos.add(ipproto.TCP)
		r.App = buffer.AppTLS
	case "dns":
		r.Protos.add(ipproto.TCP, ipproto.UDP)
		r.App = buffer.AppDNS
	default:
		if unsupportedApps[strings.ToLower(s)] {
			return p.errAt(off, "application protocol %q is not supported (http, dns and tls are)", s)
		}
		return p.errAt(off, "unknown protocol %q", s)
	}
	return nil
}

// unsupportedApps are Suricata's application-layer protocols that
// rampart has no parser for.
var unsupportedApps = map[string]bool{
	"http2": true, "ftp": true, "ftp-data": true, "smtp": true, "ssh": true, "smb": true,
	"dcerpc": true, "nfs": true, "imap": true, "pop3": true, "krb5": true, "ntp": true,
	"dhcp": true, "snmp": true, "sip": true, "rfb": true, "mqtt": true, "rdp": true,
	"modbus": true, "dnp3": true, "enip": true, "ike": true, "tftp": true, "telnet": true,
	"quic": true, "bittorrent-dht": true, "websocket": true, "ldap": true, "pgsql": true,
	"doh2": true, "template": true, "irc": true,
}

// splitOptions splits the text after the opening parenthesis at open
// into options at unescaped semicolons.
func (p *parser) splitOptions(open int) ([]option, *srcpos.Error) {
	end := len(p.text)
	for end > open && isBlank(p.text[end-1]) {
		end--
	}
	if end <= open+1 || p.text[end-1] != ')' {
		return nil, p.errAt(end, "options not closed by )")
	}
	body := p.text[:end-1]
	var opts []option
	start := open + 1
	for i := start; i <= len(body); i++ {
		if i < len(body) && body[i] == '\\' {
			i++
			continue
		}
		if i < len(body) && body[i] != ';' {
			continue
		}
		raw := body[start:i]
		off := start
		start = i + 1
		lead := len(raw) - len(strings.TrimLeft(raw, " \t\r\n"))
		raw = strings.TrimSpace(raw)
		off += lead
		if raw == "" {
			if i < len(body) {
				return nil, p.errAt(off, "empty option")
			}
			continue
		}
		o := option{name: raw, nameOff: off}
		if k := strings.IndexByte(raw, ':'); k >= 0 {
			o.name = strings.TrimSpace(raw[:k])
			v := raw[k+1:]
			vlead := len(v) - len(strings.TrimLeft(v, " \t\r\n"))
			o.value = strings.TrimSpace(v)
			o.valOff = off + k + 1 + vlead
			o.hasValue = true
		}
		opts = append(opts, o)
	}
	return opts, nil
}

// keyword handles one option.
type keyword func(p *parser, o option) *srcpos.Error

var keywords map[string]keyword

func init() {
	keywords = map[string]keyword{
		"msg":              (*parser).msg,
		"sid":              func(p *parser, o option) *srcpos.Error { return p.uint32Opt(o, &p.r.SID, 1) },
		"rev":              func(p *parser, o option) *srcpos.Error { return p.uint32Opt(o, &p.r.Rev, 0) },
		"gid":              func(p *parser, o option) *srcpos.Error { return p.uint32Opt(o, &p.r.GID, 0) },
		"classtype":        (*parser).classtype,
		"priority":         (*parser).priority,
		"reference":        (*parser).reference,
		"metadata":         (*parser).metadata,
		"content":          (*parser).content,
		"nocase":           (*parser).nocase,
		"offset":           (*parser).placement,
		"depth":            (*parser).placement,
		"distance":         (*parser).placement,
		"within":           (*parser).placement,
		"startswith":       (*parser).startsEnds,
		"endswith":         (*parser).startsEnds,
		"fast_pattern":     (*parser).fastPatternOpt,
		"rawbytes":         (*parser).rawbytes,
		"pcre":             (*parser).pcre,
		"byte_test":        (*parser).byteTest,
		"isdataat":         (*parser).isDataAt,
		"flow":             (*parser).flow,
		"flowbits":         (*parser).flowbits,
		"noalert":          func(p *parser, o option) *srcpos.Error { p.r.NoAlert = true; return p.noValue(o) },
		"dsize":            func(p *parser, o option) *srcpos.Error { return p.intOpt(o, &p.r.Dsize, 0xffff) },
		"ttl":              func(p *parser, o option) *srcpos.Error { return p.intOpt(o, &p.r.TTL, 0xff) },
		"itype":            func(p *parser, o option) *srcpos.Error { return p.intOpt(o, &p.r.IType, 0xff) },
		"icode":            func(p *parser, o option) *srcpos.Error { return p.intOpt(o, &p.r.ICode, 0xff) },
		"flags":            (*parser).tcpFlags,
		"tcp.flags":        (*parser).tcpFlags,
		"threshold":        (*parser).thresholdOpt,
		"detection_filter": (*parser).thresholdOpt,
		"pkt_data":         (*parser).stickyOpt,
		"file_data":        (*parser).stickyOpt,
	}
	for id := buffer.ID(1); id < buffer.Count; id++ {
		keywords[id.String()] = (*parser).stickyOpt
	}
	for name := range stickyAliases {
		keywords[name] = (*parser).stickyOpt
	}
	for name := range contentModifiers {
		keywords[name] = (*parser).contentModifier
	}
}

// stickyAliases are older names of sticky buffers.
var stickyAliases = map[string]buffer.ID{
	"pkt_data":  buffer.Payload,
	"file_data": buffer.FileData,
	"dns_query": buffer.DNSQuery,
	"tls_sni":   buffer.TLSSNI,
}

// contentModifiers are the older forms that move the preceding content
// into a buffer.
var contentModifiers = map[string]buffer.ID{
	"http_method":      buffer.HTTPMethod,
	"http_uri":         buffer.HTTPURI,
	"http_raw_uri":     buffer.HTTPURIRaw,
	"http_host":        buffer.HTTPHost,
	"http_raw_host":    buffer.HTTPHostRaw,
	"http_header":      buffer.HTTPHeader,
	"http_raw_header":  buffer.HTTPHeaderRaw,
	"http_cookie":      buffer.HTTPCookie,
	"http_user_agent":  buffer.HTTPUserAgent,
	"http_client_body": buffer.HTTPRequestBody,
	"http_stat_code":   buffer.HTTPStatCode,
	"http_stat_msg":    buffer.HTTPStatMsg,
}

func (p *parser) option(o option) *srcpos.Error {
	if kw, ok := keywords[o.name]; ok {
		return kw(p, o)
	}
	if Unsupported[o.name] {
		return p.errAt(o.nameOff, "keyword %q is not supported", o.name)
	}
	return p.errAt(o.nameOff, "unknown keyword %q", o.name)
}

func (p *parser) noValue(o option) *srcpos.Error {
	if o.hasValue {
		return p.errAt(o.valOff, "%s takes no value", o.name)
	}
	return nil
}

func (p *parser) needValue(o option) *srcpos.Error {
	if !o.hasValue || o.value == "" {
		return p.errAt(o.nameOff, "%s needs a value", o.name)
	}
	return nil
}

// unquote strips the quotes of a quoted value and resolves \" \; \\.
func (p *parser) unquote(o option, s string, off int) (string, *srcpos.Error) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return "", p.errAt(off, "%s: value must be in double quotes", o.name)
	}
	in := s[1 : len(s)-1]
	var b strings.Builder
	for i := 0; i < len(in); i++ {
		c := in[i]
		if c == '\\' && i+1 < len(in) {
			i++
			b.WriteByte(in[i])
			continue
		}
		if c == '"' {
			return "", p.errAt(off+1+i, "%s: unescaped \" inside the value", o.name)
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

func (p *parser) msg(o option) *srcpos.Error {
	if err := p.needValue(o); err != nil {
		return err
	}
	s := o.value
	if strings.HasPrefix(s, "\"") {
		var err *srcpos.Error
		if s, err = p.unquote(o, s, o.valOff); err != nil {
			return err
		}
	}
	p.r.Msg = s
	return nil
}

func (p *parser) uint32Opt(o option, dst *uint32, min uint64) *srcpos.Error {
	if err := p.needValue(o); err != nil {
		return err
	}
	v, err := strconv.ParseUint(o.value, 10, 32)
	if err != nil || v < min {
		return p.errAt(o.valOff, "%s: bad value %q", o.name, o.value)
	}
	*dst = uint32(v)
	return nil
}

func (p *parser) classtype(o option) *srcpos.Error {
	if err := p.needValue(o); err != nil {
		return err
	}
	c, ok := classtypes[o.value]
	if !ok {
		return p.errAt(o.valOff, "unknown classtype %q", o.value)
	}
	p.r.Classtype, p.r.Category = c.Name, c.Description
	if p.r.Priority == 0 {
		p.r.Priority = -c.Priority // a priority keyword overrides it
	}
	return nil
}

func (p *parser) priority(o option) *srcpos.Error {
	if err := p.needValue(o); err != nil {
		return err
	}
	v, err := strconv.Atoi(o.value)
	if err != nil || v < 1 || v > 255 {
		return p.errAt(o.valOff, "priority: bad value %q, want 1-255", o.value)
	}
	p.r.Priority = v
	return nil
}

func (p *parser) reference(o option) *srcpos.Error {
	if err := p.needValue(o); err != nil {
		return err
	}
	sys, id, ok := strings.Cut(o.value, ",")
	if !ok || strings.TrimSpace(sys) == "" || strings.TrimSpace(id) == "" {
		return p.errAt(o.valOff, "reference: want system,id")
	}
	p.r.References = append(p.r.References, Reference{strings.TrimSpace(sys), strings.TrimSpace(id)})
	return nil
}

func (p *parser) metadata(o option) *srcpos.Error {
	if err := p.needValue(o); err != nil {
		return err
	}
	for _, m := range strings.Split(o.value, ",") {
		if m = strings.TrimSpace(m); m != "" {
			p.r.Metadata = append(p.r.Metadata, m)
		}
	}
	return nil
}

// place appends a payload keyword in the buffer it inspects.
func (p *parser) place(buf buffer.ID, it Item, off int) {
	p.items = append(p.items, placed{buf, it, off})
}

func (p *parser) content(o option) *srcpos.Error {
	if err := p.needValue(o); err != nil {
		return err
	}
	s, off := o.value, o.valOff
	c := &Content{Pos: p.pm.at(o.nameOff)}
	if strings.HasPrefix(s, "!") {
		c.Negated = true
		s = strings.TrimLeft(s[1:], " \t")
		off = o.valOff + len(o.value) - len(s)
	}
	pat, err := p.contentBytes(s, off)
	if err != nil {
		return err
	}
	c.Pattern = pat
	p.place(p.sticky, c, o.nameOff)
	p.lastContent = len(p.items) - 1
	p.lastMod = buffer.Payload
	return nil
}

// contentBytes decodes a quoted content value: escapes \" \; \\ \: and
// |hex| runs.
func (p *parser) contentBytes(s string, off int) ([]byte, *srcpos.Error) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return nil, p.errAt(off, "content must be in double quotes")
	}
	in := s[1 : len(s)-1]
	var out []byte
	hex := false
	hexStart := 0
	var nib []byte
	for i := 0; i < len(in); i++ {
		c := in[i]
		at := off + 1 + i
		if hex {
			switch {
			case c == '|':
				if len(nib)%2 != 0 {
					return nil, p.errAt(off+1+hexStart, "odd number of hex digits in |...|")
				}
				hex = false
			case c == ' ' || c == '\t':
			case isHex(c):
				nib = append(nib, c)
				if len(nib) == 2 {
					v, _ := strconv.ParseUint(string(nib), 16, 8)
					out = append(out, byte(v))
					nib = nib[:0]
				}
			default:
				return nil, p.errAt(at, "bad character %q in |hex|", c)
			}
			continue
		}
		switch c {
		case '|':
			hex, hexStart, nib = true, i, nib[:0]
		case '\\':
			if i+1 >= len(in) {
				return nil, p.errAt(at, "content ends with a backslash")
			}
			i++
			switch e := in[i]; e {
			case '\\', '"', ';', ':':
				out = append(out, e)
			default:
				return nil, p.errAt(at, "bad escape \\%c in content (only \\\" \\; \\\\ \\: )", e)
			}
		case '"':
			return nil, p.errAt(at, "unescaped \" inside content")
		default:
			out = append(out, c)
		}
	}
	if hex {
		return nil, p.errAt(off+1+hexStart, "|hex| not closed by |")
	}
	if len(out) == 0 {
		return nil, p.errAt(off, "empty content")
	}
	return out, nil
}

// last returns the content the modifier o applies to.
func (p *parser) last(o option) (*Content, *srcpos.Error) {
	if p.lastContent < 0 {
		return nil, p.errAt(o.nameOff, "%s needs a preceding content", o.name)
	}
	return p.items[p.lastContent].item.(*Content), nil
}

func (p *parser) nocase(o option) *srcpos.Error {
	c, err := p.last(o)
	if err != nil {
		return err
	}
	if c.Nocase {
		return p.errAt(o.nameOff, "nocase given twice for one content")
	}
	c.Nocase = true
	return p.noValue(o)
}

func (p *parser) rawbytes(o option) *srcpos.Error {
	// Snort's rawbytes: Suricata inspects raw bytes anyway.
	if _, err := p.last(o); err != nil {
		return err
	}
	return p.noValue(o)
}

func (p *parser) placement(o option) *srcpos.Error {
	c, err := p.last(o)
	if err != nil {
		return err
	}
	if err := p.needValue(o); err != nil {
		return err
	}
	v, perr := strconv.Atoi(o.value)
	if perr != nil {
		if isVarChar(o.value[0]) && !isDigit(o.value[0]) {
			return p.errAt(o.valOff, "%s: byte_extract variables are not supported", o.name)
		}
		return p.errAt(o.valOff, "%s: bad value %q", o.name, o.value)
	}
	if v < -65535 || v > 65535 || v < 0 && o.name != "distance" {
		return p.errAt(o.valOff, "%s: value %d out of range", o.name, v)
	}
	if c.StartsWith {
		return p.errAt(o.nameOff, "%s cannot be combined with startswith", o.name)
	}
	relative := o.name == "distance" || o.name == "within"
	if relative && (c.HasOffset || c.HasDepth) || !relative && c.Relative() {
		return p.errAt(o.nameOff, "%s cannot be combined with %s on one content", o.name,
			map[bool]string{true: "offset/depth", false: "distance/within"}[relative])
	}
	dup := func(b *bool) *srcpos.Error {
		if *b {
			return p.errAt(o.nameOff, "%s given twice for one content", o.name)
		}
		*b = true
		return nil
	}
	switch o.name {
	case "offset":
		if err := dup(&c.HasOffset); err != nil {
			return err
		}
		c.Offset = v
	case "depth":
		if err := dup(&c.HasDepth); err != nil {
			return err
		}
		if v < len(c.Pattern) {
			return p.errAt(o.valOff, "depth %d is less than the content's length %d", v, len(c.Pattern))
		}
		c.Depth = v
	case "distance":
		if err := dup(&c.HasDistance); err != nil {
			return err
		}
		c.Distance = v
	case "within":
		if err := dup(&c.HasWithin); err != nil {
			return err
		}
		if v < len(c.Pattern) {
			return p.errAt(o.valOff, "within %d is less than the content's length %d", v, len(c.Pattern))
		}
		c.Within = v
	}
	return nil
}

func (p *parser) startsEnds(o option) *srcpos.Error {
	c, err := p.last(o)
	if err != nil {
		return err
	}
	if o.name == "startswith" {
		if c.HasOffset || c.HasDepth || c.Relative() {
			return p.errAt(o.nameOff, "startswith cannot be combined with offset, depth, distance or within")
		}
		c.StartsWith = true
	} else {
		c.EndsWith = true
	}
	return p.noValue(o)
}

func (p *parser) fastPatternOpt(o option) *srcpos.Error {
	c, err := p.last(o)
	if err != nil {
		return err
	}
	if p.fastPattern {
		return p.errAt(o.nameOff, "fast_pattern given twice in one rule")
	}
	p.fastPattern = true
	c.FastPattern = true
	if !o.hasValue {
		return nil
	}
	if o.value == "only" {
		if c.Negated {
			return p.errAt(o.valOff, "fast_pattern:only on a negated content")
		}
		c.FastPatternOnly = true
		return nil
	}
	a, b, ok := strings.Cut(o.value, ",")
	off, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || off < 0 || n <= 0 {
		return p.errAt(o.valOff, "fast_pattern: want only or offset,length")
	}
	if off+n > len(c.Pattern) {
		return p.errAt(o.valOff, "fast_pattern %d,%d goes past the content's %d bytes", off, n, len(c.Pattern))
	}
	c.FastPatternOff, c.FastLen, c.HasFastPatternChop = off, n, true
	return nil
}

func (p *parser) contentModifier(o option) *srcpos.Error {
	c, err := p.last(o)
	if err != nil {
		return err
	}
	if err := p.noValue(o); err != nil {
		return err
	}
	if p.sticky != buffer.Payload {
		return p.errAt(o.nameOff, "%s cannot follow the sticky buffer %s", o.name, p.sticky)
	}
	if p.lastMod != buffer.Payload {
		return p.errAt(o.nameOff, "%s: the content already has the modifier for %s", o.name, p.lastMod)
	}
	id := contentModifiers[o.name]
	p.items[p.lastContent].buf = id
	p.lastMod = id
	_ = c
	return nil
}

func (p *parser) stickyOpt(o option) *srcpos.Error {
	if err := p.noValue(o); err != nil {
		return err
	}
	id, ok := stickyAliases[o.name]
	if !ok {
		id, _ = buffer.Lookup(o.name)
	}
	p.sticky = id
	// Modifiers after a sticky buffer belong to the contents after it.
	p.lastContent = -1
	return nil
}

// pcreBuffers are the pcre flags that choose a buffer.
var pcreBuffers = map[byte]buffer.ID{
	'U': buffer.HTTPURI, 'I': buffer.HTTPURIRaw, 'P': buffer.HTTPRequestBody, 'Q': buffer.FileData,
	'H': buffer.HTTPHeader, 'D': buffer.HTTPHeaderRaw, 'M': buffer.HTTPMethod, 'C': buffer.HTTPCookie,
	'S': buffer.HTTPStatCode, 'Y': buffer.HTTPStatMsg, 'V': buffer.HTTPUserAgent, 'W': buffer.HTTPHost,
	'Z': buffer.HTTPHostRaw,
}

func (p *parser) pcre(o option) *srcpos.Error {
	if err := p.needValue(o); err != nil {
		return err
	}
	s, off := o.value, o.valOff
	pc := &PCRE{Pos: p.pm.at(o.nameOff), Source: o.value}
	if strings.HasPrefix(s, "!") {
		pc.Negated = true
		s = s[1:]
		off++
	}
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return p.errAt(off, "pcre must be in double quotes")
	}
	s = s[1 : len(s)-1]
	off++
	if len(s) < 2 || s[0] != '/' {
		return p.errAt(off, "pcre must be /pattern/flags")
	}
	end := strings.LastIndexByte(s, '/')
	if end == 0 {
		return p.errAt(off, "pcre must be /pattern/flags")
	}
	pat, flags := s[1:end], s[end+1:]
	buf := p.sticky
	var reFlags []byte
	for i := 0; i < len(flags); i++ {
		f := flags[i]
		switch f {
		case 'i', 's', 'm', 'x', 'A', 'E', 'G':
			reFlags = append(reFlags, f)
		case 'R':
			pc.Relative = true
		case 'B', 'O':
			// rawbytes and the match-limit override: no meaning here (RE2
			// runs in linear time, there is no match limit to raise).
		default:
			id, ok := pcreBuffers[f]
			if !ok {
				return p.errAt(off+end+1+i, "unknown pcre flag %q", f)
			}
			if buf != buffer.Payload {
				return p.errAt(off+end+1+i, "pcre flag %q conflicts with the buffer %s", f, buf)
			}
			buf = id
		}
	}
	re, err := CompilePCRE(pat, string(reFlags))
	if err != nil {
		if pe, ok := err.(*PCREError); ok {
			return p.errAt(off+1+pe.Offset, "%v", err)
		}
		return p.errAt(off, "%v", err)
	}
	pc.Re = re
	p.place(buf, pc, o.nameOff)
	return nil
}

// params splits a comma list into trimmed parameters with offsets.
func params(s string, off int) (vals []string, offs []int) {
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != ',' {
			continue
		}
		raw := s[start:i]
		lead := len(raw) - len(strings.TrimLeft(raw, " \t"))
		vals = append(vals, strings.TrimSpace(raw))
		offs = append(offs, off+start+lead)
		start = i + 1
	}
	return vals, offs
}

// parseNumber reads a decimal or 0x hexadecimal unsigned number.
func parseNumber(s string) (uint64, error) {
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		return strconv.ParseUint(s[2:], 16, 64)
	}
	return strconv.ParseUint(s, 10, 64)
}

func (p *parser) byteTest(o option) *srcpos.Error {
	if err := p.needValue(o); err != nil {
		return err
	}
	v, offs := params(o.value, o.valOff)
	if len(v) < 4 {
		return p.errAt(o.valOff, "byte_test: want bytes, operator, value, offset[, options]")
	}
	bt := &ByteTest{Pos: p.pm.at(o.nameOff)}
	n, err := strconv.Atoi(v[0])
	if err != nil {
		return p.errAt(offs[0], "byte_test: bad byte count %q (byte_extract variables are not supported)", v[0])
	}
	bt.NBytes = n
	op := v[1]
	if strings.HasPrefix(op, "!") {
		bt.Negated = true
		op = strings.TrimSpace(op[1:])
	}
	switch op {
	case "<":
		bt.Op = OpLT
	case ">":
		bt.Op = OpGT
	case "=":
		bt.Op = OpEQ
	case "<=":
		bt.Op = OpLE
	case ">=":
		bt.Op = OpGE
	case "&":
		bt.Op = OpAND
	case "^":
		bt.Op = OpXOR
	default:
		return p.errAt(offs[1], "byte_test: unknown operator %q", v[1])
	}
	if bt.Value, err = parseNumber(v[2]); err != nil {
		return p.errAt(offs[2], "byte_test: bad value %q (byte_extract variables are not supported)", v[2])
	}
	if bt.Offset, err = strconv.Atoi(v[3]); err != nil || bt.Offset < -65535 || bt.Offset > 65535 {
		return p.errAt(offs[3], "byte_test: bad offset %q", v[3])
	}
	endian := false
	for i := 4; i < len(v); i++ {
		name, arg, _ := strings.Cut(v[i], " ")
		switch name {
		case "relative":
			bt.Relative = true
		case "big", "little":
			if endian {
				return p.errAt(offs[i], "byte_test: endianness given twice")
			}
			endian = true
			bt.LittleEndian = name == "little"
		case "string":
			bt.String = true
			if i+1 >= len(v) {
				return p.errAt(offs[i], "byte_test: string needs hex, dec or oct")
			}
			i++
			switch v[i] {
			case "hex":
				bt.Base = 16
			case "dec":
				bt.Base = 10
			case "oct":
				bt.Base = 8
			default:
				return p.errAt(offs[i], "byte_test: string needs hex, dec or oct, not %q", v[i])
			}
		case "bitmask":
			m, err := parseNumber(strings.TrimSpace(arg))
			if err != nil || m == 0 {
				return p.errAt(offs[i], "byte_test: bad bitmask %q", arg)
			}
			bt.Bitmask, bt.HasBitmask = m, true
		case "dce":
			return p.errAt(offs[i], "byte_test: dce is not supported (no DCE/RPC parser)")
		default:
			return p.errAt(offs[i], "byte_test: unknown option %q", v[i])
		}
	}
	maxN := 8
	if bt.String {
		maxN = 23
		if endian {
			return p.errAt(o.valOff, "byte_test: string cannot be combined with big or little")
		}
	}
	if n < 1 || n > maxN {
		return p.errAt(offs[0], "byte_test: byte count %d out of range 1-%d", n, maxN)
	}
	p.placeRelative(bt, bt.Relative, o.nameOff)
	return nil
}

// placeRelative places byte_test and isdataat: in the sticky buffer, or,
// when relative, in the buffer of the last content or pcre (as Suricata
// does), else in the payload.
func (p *parser) placeRelative(it Item, relative bool, off int) {
	buf := p.sticky
	if buf == buffer.Payload && relative {
		for i := len(p.items) - 1; i >= 0; i-- {
			switch p.items[i].item.(type) {
			case *Content, *PCRE:
				buf = p.items[i].buf
			default:
				continue
			}
			break
		}
	}
	p.place(buf, it, off)
}

func (p *parser) isDataAt(o option) *srcpos.Error {
	if err := p.needValue(o); err != nil {
		return err
	}
	v, offs := params(o.value, o.valOff)
	d := &IsDataAt{Pos: p.pm.at(o.nameOff)}
	n := v[0]
	if strings.HasPrefix(n, "!") {
		d.Negated = true
		n = strings.TrimSpace(n[1:])
	}
	x, err := strconv.Atoi(n)
	if err != nil || x < 0 || x > 65535 {
		return p.errAt(offs[0], "isdataat: bad value %q (byte_extract variables are not supported)", v[0])
	}
	d.N = x
	for i := 1; i < len(v); i++ {
		switch v[i] {
		case "relative":
			d.Relative = true
		case "rawbytes":
		default:
			return p.errAt(offs[i], "isdataat: unknown option %q", v[i])
		}
	}
	p.placeRelative(d, d.Relative, o.nameOff)
	return nil
}

func (p *parser) flow(o option) *srcpos.Error {
	if err := p.needValue(o); err != nil {
		return err
	}
	f := &p.r.Flow
	v, offs := params(o.value, o.valOff)
	for i, s := range v {
		switch s {
		case "established":
			f.Established = true
		case "not_established":
			f.NotEstablished = true
		case "stateless":
		case "to_server", "from_client":
			f.ToServer = true
		case "to_client", "from_server":
			f.ToClient = true
		case "only_stream":
			f.OnlyStream = true
		case "no_stream":
			f.NoStream = true
		case "only_frag", "no_frag":
			return p.errAt(offs[i], "flow: %s is not supported", s)
		default:
			return p.errAt(offs[i], "flow: unknown option %q", s)
		}
	}
	switch {
	case f.Established && f.NotEstablished:
		return p.errAt(o.valOff, "flow: established and not_established together")
	case f.ToServer && f.ToClient:
		return p.errAt(o.valOff, "flow: to_server and to_client together")
	case f.OnlyStream && f.NoStream:
		return p.errAt(o.valOff, "flow: only_stream and no_stream together")
	}
	return nil
}

func isBitName(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !isVarChar(c) && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

func (p *parser) flowbits(o option) *srcpos.Error {
	if err := p.needValue(o); err != nil {
		return err
	}
	cmd, names, _ := strings.Cut(o.value, ",")
	cmd, names = strings.TrimSpace(cmd), strings.TrimSpace(names)
	fb := Flowbit{Pos: p.pm.at(o.nameOff)}
	switch cmd {
	case "noalert":
		if names != "" {
			return p.errAt(o.valOff, "flowbits:noalert takes no name")
		}
		p.r.NoAlert = true
		return nil
	case "set":
		fb.Op = BitSet
	case "unset":
		fb.Op = BitUnset
	case "toggle":
		fb.Op = BitToggle
	case "isset":
		fb.Op = BitIsSet
	case "isnotset":
		fb.Op = BitIsNotSet
	default:
		return p.errAt(o.valOff, "flowbits: unknown command %q", cmd)
	}
	sep := ""
	switch {
	case strings.Contains(names, "|"):
		sep, fb.Any = "|", true
	case strings.Contains(names, "&"):
		sep = "&"
	}
	if sep != "" && fb.Op != BitIsSet && fb.Op != BitIsNotSet {
		return p.errAt(o.valOff, "flowbits: %s takes one name", cmd)
	}
	list := []string{names}
	if sep != "" {
		list = strings.Split(names, sep)
	}
	for _, n := range list {
		n = strings.TrimSpace(n)
		if !isBitName(n) {
			return p.errAt(o.valOff, "flowbits: bad name %q", n)
		}
		fb.Names = append(fb.Names, n)
	}
	p.r.Flowbits = append(p.r.Flowbits, fb)
	return nil
}

// parseIntTest parses Suricata's integer syntax: [=]a, !a, !=a, <a, <=a,
// >a, >=a, a<>b, a-b (exclusive), !a<>b, &mask=v, &mask!=v.
func parseIntTest(s string, max uint64) (*IntTest, error) {
	s = strings.TrimSpace(s)
	num := func(t string) (uint64, error) {
		v, err := parseNumber(strings.TrimSpace(t))
		if err != nil || v > max {
			return 0, fmt.Errorf("bad number %q (0-%d)", strings.TrimSpace(t), max)
		}
		return v, nil
	}
	if rest, ok := strings.CutPrefix(s, "&"); ok {
		neg := false
		m, v, found := strings.Cut(rest, "!=")
		if found {
			neg = true
		} else if m, v, found = strings.Cut(rest, "="); !found {
			return nil, fmt.Errorf("bitmask form is &mask=value")
		}
		a, err := num(m)
		if err != nil {
			return nil, err
		}
		b, err := num(v)
		if err != nil {
			return nil, err
		}
		if b&a != b {
			return nil, fmt.Errorf("value %d has bits outside the mask %d: can never match", b, a)
		}
		if neg {
			return &IntTest{Mode: IntNotMask, A: a, B: b}, nil
		}
		return &IntTest{Mode: IntMask, A: a, B: b}, nil
	}
	body, neg := s, false
	if strings.HasPrefix(body, "!") && !strings.HasPrefix(body, "!=") {
		body, neg = body[1:], true
	}
	for _, sep := range []string{"<>", "-"} {
		if a, b, ok := strings.Cut(body, sep); ok && a != "" && !strings.ContainsAny(a, "<>=!") {
			x, err := num(a)
			if err != nil {
				return nil, err
			}
			y, err := num(b)
			if err != nil {
				return nil, err
			}
			if y <= x+1 {
				return nil, fmt.Errorf("range %d%s%d is empty: its bounds are excluded", x, sep, y)
			}
			if neg {
				return &IntTest{Mode: IntNotRange, A: x, B: y}, nil
			}
			return &IntTest{Mode: IntRange, A: x, B: y}, nil
		}
	}
	modes := []struct {
		prefix string
		mode   IntMode
	}{{">=", IntGE}, {"<=", IntLE}, {">", IntGT}, {"<", IntLT}, {"!=", IntNE}, {"!", IntNE}, {"=", IntEQ}, {"", IntEQ}}
	for _, m := range modes {
		if rest, ok := strings.CutPrefix(s, m.prefix); ok {
			v, err := num(rest)
			if err != nil {
				return nil, err
			}
			switch {
			case m.mode == IntLT && v == 0, m.mode == IntGT && v == max,
				m.mode == IntLE && v == max, m.mode == IntGE && v == 0:
				return nil, fmt.Errorf("%q is always or never true", s)
			}
			return &IntTest{Mode: m.mode, A: v}, nil
		}
	}
	return nil, fmt.Errorf("bad value %q", s)
}

func (p *parser) intOpt(o option, dst **IntTest, max uint64) *srcpos.Error {
	if err := p.needValue(o); err != nil {
		return err
	}
	if *dst != nil {
		return p.errAt(o.nameOff, "%s given twice", o.name)
	}
	t, err := parseIntTest(o.value, max)
	if err != nil {
		return p.errAt(o.valOff, "%s: %v", o.name, err)
	}
	*dst = t
	return nil
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 0x20
	}
	return c
}

// flagLetters are the letters of the flags keyword, with Snort's old
// digits for the ECN bits.
var flagLetters = map[byte]uint64{
	'F': uint64(packet.TCPFIN), 'S': uint64(packet.TCPSYN), 'R': uint64(packet.TCPRST), 'P': uint64(packet.TCPPSH),
	'A': uint64(packet.TCPACK), 'U': uint64(packet.TCPURG), 'E': uint64(packet.TCPECE), 'C': uint64(packet.TCPCWR),
	'2': uint64(packet.TCPECE), '1': uint64(packet.TCPCWR),
}

// tcpFlags parses flags:[modifier]FLAGS[,IGNORED], or the numeric form.
func (p *parser) tcpFlags(o option) *srcpos.Error {
	if err := p.needValue(o); err != nil {
		return err
	}
	if p.r.TCPFlags != nil {
		return p.errAt(o.nameOff, "%s given twice", o.name)
	}
	if t, err := parseIntTest(o.value, 0xff); err == nil {
		p.r.TCPFlags = t
		return nil
	}
	var set, mask uint64 = 0, 0xff
	mod := byte(0)
	ignoring := false
	s := strings.ReplaceAll(o.value, " ", "")
	for i := range len(s) {
		c := s[i]
		at := o.valOff + i
		switch {
		case c == ',':
			if ignoring {
				return p.errAt(at, "flags: too many commas")
			}
			if mod != 0 {
				return p.errAt(at, "flags: ignored flags only go with an exact match (no modifier)")
			}
			ignoring = true
		case c == '0' && !ignoring:
			// No flags: the set stays empty.
		case flagLetters[upper(c)] != 0:
			bit := flagLetters[upper(c)]
			if ignoring {
				mask &^= bit
			} else {
				if set&bit != 0 {
					return p.errAt(at, "flags: %c given twice", c)
				}
				set |= bit
			}
		case c == '+' || c == '*' || c == '!':
			if mod != 0 || ignoring {
				return p.errAt(at, "flags: more than one modifier")
			}
			mod = c
		default:
			return p.errAt(at, "flags: unknown flag %q", c)
		}
	}
	t := &IntTest{}
	switch mod {
	case 0:
		t.Mode, t.A, t.B = IntMask, mask, set&mask
	case '+':
		t.Mode, t.A, t.B = IntMask, set, set
	case '*':
		t.Mode, t.A, t.B = IntNotMask, set, 0
	case '!':
		t.Mode, t.A, t.B = IntNotMask, set, set
	}
	p.r.TCPFlags = t
	return nil
}

func (p *parser) thresholdOpt(o option) *srcpos.Error {
	if err := p.needValue(o); err != nil {
		return err
	}
	if p.threshold {
		return p.errAt(o.nameOff, "only one threshold or detection_filter per rule")
	}
	p.threshold = true
	t := &Threshold{Pos: p.pm.at(o.nameOff)}
	if o.name == "detection_filter" {
		t.Type = ThresholdDetection
	}
	v, offs := params(o.value, o.valOff)
	var haveCount, haveSeconds bool
	for i, s := range v {
		key, val, _ := strings.Cut(s, " ")
		val = strings.TrimSpace(val)
		switch key {
		case "type":
			if o.name == "detection_filter" {
				return p.errAt(offs[i], "detection_filter takes no type")
			}
			switch val {
			case "limit":
				t.Type = ThresholdLimit
			case "threshold":
				t.Type = ThresholdThreshold
			case "both":
				t.Type = ThresholdBoth
			default:
				return p.errAt(offs[i], "%s: unknown type %q", o.name, val)
			}
		case "track":
			switch val {
			case "by_src":
				t.Track = BySrc
			case "by_dst":
				t.Track = ByDst
			case "by_rule":
				t.Track = ByRule
			case "by_both":
				t.Track = ByBoth
			default:
				return p.errAt(offs[i], "%s: track %q is not supported (by_src, by_dst, by_rule, by_both are)", o.name, val)
			}
		case "count", "seconds":
			n, err := strconv.ParseUint(val, 10, 32)
			if err != nil || key == "seconds" && n == 0 {
				return p.errAt(offs[i], "%s: bad %s %q", o.name, key, val)
			}
			if key == "count" {
				t.Count, haveCount = uint32(n), true
			} else {
				t.Seconds, haveSeconds = uint32(n), true
			}
		default:
			return p.errAt(offs[i], "%s: unknown option %q", o.name, key)
		}
	}
	switch {
	case t.Type == 0:
		return p.errAt(o.valOff, "threshold needs a type")
	case t.Track == 0:
		return p.errAt(o.valOff, "%s needs track", o.name)
	case !haveCount || !haveSeconds:
		return p.errAt(o.valOff, "%s needs count and seconds", o.name)
	case t.Count == 0 && t.Type != ThresholdDetection:
		return p.errAt(o.valOff, "%s: count must be at least 1", o.name)
	}
	if t.Type == ThresholdDetection {
		p.r.DetectionFilter = t
	} else {
		p.r.Threshold = t
	}
	return nil
}

// finish checks the rule as a whole and groups its payload keywords.
func (p *parser) finish() *srcpos.Error {
	r := p.r
	if r.SID == 0 {
		return p.errAt(0, "rule has no sid")
	}
	switch {
	case r.Priority < 0:
		r.Priority = -r.Priority
	case r.Priority == 0:
		r.Priority = DefaultPriority
	}
	// The application protocol the buffers need.
	for _, it := range p.items {
		app := it.buf.App()
		if app == buffer.AppNone {
			continue
		}
		if r.App != buffer.AppNone && r.App != app {
			return p.errAt(it.off, "%s needs %s, but the rule is for %s", it.buf, app, r.App)
		}
		if !r.Protos.Has(ipproto.TCP) && (app == buffer.AppHTTP || app == buffer.AppTLS) ||
			app == buffer.AppDNS && !r.Protos.Has(ipproto.TCP) && !r.Protos.Has(ipproto.UDP) {
			return p.errAt(it.off, "%s needs %s, which the rule's protocol cannot carry", it.buf, app)
		}
		r.App = app
		if c, ok := it.item.(*Content); ok && it.buf == buffer.HTTPHost && !c.Nocase &&
			!bytes.Equal(c.Pattern, bytes.ToLower(c.Pattern)) {
			return p.errAt(it.off, "http.host is lower case: a content with upper case letters never matches it (use nocase or lower case)")
		}
	}
	if r.Dsize != nil && len(p.items) > 0 {
		for _, it := range p.items {
			if it.buf != buffer.Payload {
				return p.errAt(it.off, "dsize cannot be combined with application-layer buffers")
			}
		}
	}
	// Group by buffer, in order of first use.
	index := map[buffer.ID]int{}
	for _, it := range p.items {
		i, ok := index[it.buf]
		if !ok {
			i = len(r.Lists)
			index[it.buf] = i
			r.Lists = append(r.Lists, List{Buffer: it.buf})
		}
		r.Lists[i].Items = append(r.Lists[i].Items, it.item)
	}
	// Mark the contents and pcres whose successors are relative to them,
	// as Suricata's within, distance and relative flags mark the previous
	// content or pcre of their buffer.
	for _, l := range r.Lists {
		var prevContent *Content
		var prevPCRE *PCRE
		for _, it := range l.Items {
			relative, within := false, false
			switch v := it.(type) {
			case *Content:
				relative, within = v.Relative(), v.HasWithin
			case *PCRE:
				relative = v.Relative
			case *ByteTest:
				relative = v.Relative
			case *IsDataAt:
				relative = v.Relative
			}
			if relative {
				if prevContent != nil {
					prevContent.relativeNext = true
					prevContent.withinNext = prevContent.withinNext || within
				}
				if prevPCRE != nil {
					prevPCRE.relativeNext = true
				}
			}
			switch v := it.(type) {
			case *Content:
				prevContent, prevPCRE = v, nil
			case *PCRE:
				prevContent, prevPCRE = nil, v
			}
		}
	}
	return nil
}
