package policy

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
	"github.com/rampart-fw/rampart/srcpos"
)

var ruleActions = map[string]Action{"allow": Allow, "deny": Deny, "reject": Reject, "limit": Limit}

// addrClause is a parsed "from X" or "to X".
type addrClause struct {
	kw    token // the "from" or "to"
	tok   token
	addrs []netip.Prefix // nil for any
	set   string
	fam   Family
}

// portClause is a parsed port specification: an inline list or a $set.
type portClause struct {
	tok     token
	ranges  []PortRange
	set     string
	named   bool  // some element named a service
	protos  uint8 // intersection of the named services' protocols
	numeric bool  // some element was a number or a range
	multi   bool  // more than one element, or a range: ufw wants a protocol
	count   int   // multiport slots: a range takes two
	// services and their offsets, to point at the one that conflicts with
	// the rule's protocol
	svcNames []string
	svcProto []uint8
	svcOff   []int
}

func validIface(s string) bool {
	if s == "" || len(s) > maxIfaceLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_' || c == '.' || c == '-' || c == '@' || c == '+':
		default:
			return false
		}
	}
	return true
}

// ruleState gathers the clauses of one rule before they are checked
// against each other.
type ruleState struct {
	r                          Rule
	dirTok, inTok, outTok      *token
	logTok, protoTok, flagsTok *token
	typeKw, typeTok, codeTok   *token
	commentTok, simpleTok      *token
	from, to                   *addrClause
	fromPort, toPort           *portClause
	simplePort                 *portClause
	simpleProto                *token // the "/tcp" of a short form, as a token of its own

	// Where ruleClauses is: the rule's tokens, the one being read, and
	// where a "port" goes: "from" or "to", the nearest before it.
	ts       []token
	i        int
	portName string
}

func (p *parser) ruleStmt(first token, route bool) *srcpos.Error {
	ts, err := p.line()
	if err != nil {
		return err
	}
	actTok := first
	if route {
		if len(ts) == 0 {
			return p.errorf(first, "route needs an action: allow, deny, reject or limit")
		}
		actTok, ts = ts[0], ts[1:]
	}
	act, ok := ruleActions[actTok.text]
	if !ok || actTok.kind != tWord {
		return p.errorf(actTok, "expected allow, deny, reject or limit, found %s", actTok.describe())
	}
	if len(p.pol.Rules) >= MaxRules {
		return p.errorf(first, "too many rules (limit %d)", MaxRules)
	}
	last := actTok
	if len(ts) > 0 {
		last = ts[len(ts)-1]
	}
	st := &ruleState{r: Rule{
		Line: first.line, Col: first.col,
		Text:   string(p.lx.src[first.off:last.end]),
		Action: act, Route: route, Dir: In, Proto: ProtoAny,
		ICMPType: AnyICMP, ICMPCode: AnyICMP,
	}}
	if route {
		st.r.Dir = Routed
	}
	if err := p.ruleClauses(st, actTok, ts); err != nil {
		return err
	}
	if err := p.ruleResolve(st); err != nil {
		return err
	}
	n := len(st.r.From.Addrs) + len(st.r.To.Addrs) + len(st.r.From.Ports) + len(st.r.To.Ports)
	if err := p.charge(first, n); err != nil {
		return err
	}
	p.pol.Rules = append(p.pol.Rules, st.r)
	return nil
}

// ruleClauses reads the clauses of a rule in any order, as ufw does.
// Each kind of clause has a method of its own, which leaves st.i on the
// last token it used.
func (p *parser) ruleClauses(st *ruleState, actTok token, ts []token) *srcpos.Error {
	st.ts = ts
	for st.i = 0; st.i < len(ts); st.i++ {
		if err := p.clause(st, ts[st.i]); err != nil {
			return err
		}
	}
	if st.simpleTok == nil && st.protoTok == nil && st.from == nil && st.to == nil &&
		st.r.InIface == "" && st.r.OutIface == "" && st.flagsTok == nil && st.typeTok == nil {
		return p.errorf(actTok, "incomplete rule: give a port or service, or from, to, proto or \"in on IFACE\"")
	}
	return nil
}

// clause reads the clause that starts with t.
func (p *parser) clause(st *ruleState, t token) *srcpos.Error {
	if t.kind != tWord {
		if t.kind == tString {
			return p.errorf(t, "unexpected %s: only comment takes a quoted string", t.describe())
		}
		return p.errorf(t, "unexpected %s in rule", t.describe())
	}
	switch t.text {
	case "in", "out":
		return p.clauseDirection(st, t)
	case "on":
		return p.errorf(t, "\"on\" must follow \"in\" or \"out\"")
	case "log", "log-all":
		return p.clauseLog(st, t)
	case "proto":
		return p.clauseProto(st, t)
	case "from", "to":
		return p.clauseAddress(st, t)
	case "port":
		return p.clausePort(st, t)
	case "flags":
		return p.clauseFlags(st, t)
	case "type":
		return p.clauseType(st, t)
	case "code":
		return p.errorf(t, "code must follow \"type TYPE\"")
	case "comment":
		return p.clauseComment(st, t)
	case "app":
		return p.errorf(t, "application profiles are not supported; name the ports or a service")
	}
	return p.clauseShortForm(st, t)
}

// value returns the word after ts[i], the value of keyword ts[i].
func (p *parser) value(st *ruleState, i int, what string) (token, *srcpos.Error) {
	if i+1 >= len(st.ts) {
		return token{}, p.errorf(st.ts[i], "%s needs %s", st.ts[i].text, what)
	}
	v := st.ts[i+1]
	if v.kind != tWord {
		return token{}, p.errorf(v, "expected %s after %s, found %s", what, st.ts[i].text, v.describe())
	}
	return v, nil
}

// next reports whether the token after the current one is the word w.
func (st *ruleState) next(w string) bool {
	return st.i+1 < len(st.ts) && st.ts[st.i+1].kind == tWord && st.ts[st.i+1].text == w
}

func (p *parser) dup(prev *token, t token) *srcpos.Error {
	return p.errorf(t, "duplicate %q (first at column %d)", t.text, prev.col)
}

// clauseDirection reads "in|out [on IFACE]": a rule has one direction, a route
// rule one interface of each kind, which it must name.
func (p *parser) clauseDirection(st *ruleState, t token) *srcpos.Error {
	r := &st.r
	isIn := t.text == "in"
	if r.Route {
		if isIn && st.inTok != nil {
			return p.dup(st.inTok, t)
		}
		if !isIn && st.outTok != nil {
			return p.dup(st.outTok, t)
		}
	} else if st.dirTok != nil {
		if st.dirTok.text == t.text {
			return p.dup(st.dirTok, t)
		}
		return p.errorf(t, "a rule has one direction, and %q came first; use a route rule for in and out", st.dirTok.text)
	}
	if isIn {
		st.inTok = &t
	} else {
		st.outTok = &t
	}
	if !r.Route {
		st.dirTok = &t
		if !isIn {
			r.Dir = Out
		}
	}
	if !st.next("on") {
		if r.Route {
			return p.errorf(t, "route rules need \"%s on IFACE\"", t.text)
		}
		return nil
	}
	v, err := p.value(st, st.i+1, "an interface name")
	if err != nil {
		return err
	}
	if !validIface(v.text) {
		return p.errorf(v, "invalid interface name %q", v.text)
	}
	if isIn {
		r.InIface = v.text
	} else {
		r.OutIface = v.text
	}
	st.i += 2
	return nil
}

func (p *parser) clauseLog(st *ruleState, t token) *srcpos.Error {
	if st.logTok != nil {
		return p.dup(st.logTok, t)
	}
	st.logTok = &t
	st.r.Log = LogNew
	if t.text == "log-all" {
		st.r.Log = LogAll
	}
	return nil
}

func (p *parser) clauseProto(st *ruleState, t token) *srcpos.Error {
	if st.protoTok != nil {
		return p.dup(st.protoTok, t)
	}
	if s := st.simpleTok; s != nil {
		return p.errorf(t, "proto cannot follow the short form %q; write \"to any port %s proto ...\" or %s/tcp", s.text, s.text, s.text)
	}
	v, err := p.value(st, st.i, "a protocol")
	if err != nil {
		return err
	}
	pr, ok := parseProto(v.text)
	if !ok {
		return p.errorf(v, "unknown protocol %q (want %s)", v.text, protoChoices)
	}
	st.protoTok = &t
	st.r.Proto = pr
	st.i++
	return nil
}

// clauseAddress reads "from ADDR" or "to ADDR"; a "port" after it belongs to it.
func (p *parser) clauseAddress(st *ruleState, t token) *srcpos.Error {
	isFrom := t.text == "from"
	if isFrom && st.from != nil {
		return p.dup(&st.from.kw, t)
	}
	if !isFrom && st.to != nil {
		return p.dup(&st.to.kw, t)
	}
	if s := st.simpleTok; s != nil {
		return p.errorf(t, "%s cannot follow the short form %q; write \"to any port %s\"", t.text, s.text, s.text)
	}
	v, err := p.value(st, st.i, "an address, any or a $set")
	if err != nil {
		return err
	}
	ac, err := p.addrValue(v)
	if err != nil {
		return err
	}
	ac.kw = t
	if isFrom {
		st.from, st.portName = ac, "from"
	} else {
		st.to, st.portName = ac, "to"
	}
	st.i++
	return nil
}

// clausePort reads "port PORTS", which binds to the nearest from or to
// before it.
func (p *parser) clausePort(st *ruleState, t token) *srcpos.Error {
	// A pointer into st kept in st would make it escape to the heap.
	port := &st.toPort
	switch st.portName {
	case "":
		return p.errorf(t, "port must follow \"from ADDR\" or \"to ADDR\"")
	case "from":
		port = &st.fromPort
	}
	if *port != nil {
		return p.errorf(t, "duplicate port for %q (first at column %d)", st.portName, (*port).tok.col)
	}
	v, err := p.value(st, st.i, "a port, a list, a range, a service or a $set")
	if err != nil {
		return err
	}
	pc, err := p.portValue(v, v.text)
	if err != nil {
		return err
	}
	*port = pc
	st.i++
	return nil
}

func (p *parser) clauseFlags(st *ruleState, t token) *srcpos.Error {
	if st.flagsTok != nil {
		return p.dup(st.flagsTok, t)
	}
	v, err := p.value(st, st.i, "TCP flags like S/SA")
	if err != nil {
		return err
	}
	f, err := p.flagsValue(v)
	if err != nil {
		return err
	}
	st.flagsTok = &t
	st.r.Flags = f
	st.i++
	return nil
}

// clauseType reads "type TYPE [code N]"; ruleResolve checks them against
// the protocol.
func (p *parser) clauseType(st *ruleState, t token) *srcpos.Error {
	if st.typeKw != nil {
		return p.dup(st.typeKw, t)
	}
	st.typeKw = &t
	v, err := p.value(st, st.i, "an ICMP type")
	if err != nil {
		return err
	}
	st.typeTok = &v
	st.i++
	if st.next("code") {
		code, err := p.value(st, st.i+1, "an ICMP code")
		if err != nil {
			return err
		}
		st.codeTok = &code
		st.i += 2
	}
	return nil
}

func (p *parser) clauseComment(st *ruleState, t token) *srcpos.Error {
	if st.commentTok != nil {
		return p.dup(st.commentTok, t)
	}
	if st.i+1 >= len(st.ts) {
		return p.errorf(t, "comment needs a text, like comment 'web server'")
	}
	v := st.ts[st.i+1]
	if v.kind != tString && v.kind != tWord {
		return p.errorf(v, "expected a quoted text after comment, found %s", v.describe())
	}
	if len(v.text) > MaxComment {
		return p.errorf(v, "comment is %d bytes, more than %d", len(v.text), MaxComment)
	}
	if !utf8.ValidString(v.text) {
		return p.errorf(v, "comment is not valid UTF-8")
	}
	st.commentTok = &t
	st.r.Comment = v.text
	st.i++
	return nil
}

// clauseShortForm reads a word that is no keyword: the PORTS[/PROTO] of the
// short form ("allow 80/tcp"), which excludes the extended clauses.
func (p *parser) clauseShortForm(st *ruleState, t token) *srcpos.Error {
	if s := st.simpleTok; s != nil {
		return p.errorf(t, "unexpected %q after the port %q", t.text, s.text)
	}
	if e := st.extended(); e != nil {
		return p.errorf(t, "unexpected %q: after %q, ports go in \"port ...\" after from or to", t.text, e.text)
	}
	st.simpleTok = &t
	return p.simpleValue(st, t)
}

// extended returns the first clause of the extended form the rule has,
// or nil.
func (st *ruleState) extended() *token {
	switch {
	case st.protoTok != nil:
		return st.protoTok
	case st.from != nil:
		return &st.from.kw
	case st.to != nil:
		return &st.to.kw
	}
	return nil
}

// portProtos names the protocols whose rules may have ports, for error
// messages.
const portProtos = "tcp, udp, udplite, sctp or dccp"

// simpleValue parses the short form's PORTS[/PROTO].
func (p *parser) simpleValue(st *ruleState, t token) *srcpos.Error {
	text := t.text
	if i := strings.LastIndexByte(text, '/'); i >= 0 {
		name := text[i+1:]
		pr, ok := parseProto(name)
		switch {
		case !ok:
			return p.errorAt(t, i+1, "unknown protocol %q after the port", name)
		case !pr.HasPorts():
			return p.errorAt(t, i+1, "ports need %s, not %s", portProtos, name)
		}
		pt := token{kind: tWord, text: name, line: t.line, col: t.col + i + 1}
		st.simpleProto = &pt
		st.r.Proto = pr
		text = text[:i]
	}
	if strings.HasPrefix(text, "$") {
		return p.errorf(t, "the short form takes ports, not a set; write \"to any port %s\"", text)
	}
	pc, err := p.portValue(t, text)
	if err != nil {
		return err
	}
	st.simplePort = pc
	return nil
}

// addrValue parses the value of from or to.
func (p *parser) addrValue(v token) (*addrClause, *srcpos.Error) {
	ac := &addrClause{tok: v, fam: FamilyBoth}
	switch {
	case v.text == "any":
	case strings.HasPrefix(v.text, "$"):
		s := p.sets[v.text[1:]]
		if s == nil {
			return nil, p.errorf(v, "unknown set %s", v.text)
		}
		if s.Kind != AddrSet {
			return nil, p.errorf(v, "set %s holds ports, not addresses", v.text)
		}
		ac.addrs, ac.set, ac.fam = s.Addrs, s.Name, s.Family
	default:
		pfx, msg := parseAddr(v.text)
		if msg != "" {
			return nil, p.errorf(v, "%s", msg)
		}
		ac.addrs, ac.fam = []netip.Prefix{pfx}, familyOf(pfx)
	}
	return ac, nil
}

// portValue parses a port list (text is t's text, or a prefix of it for the
// short form) or a $set. Only inline lists have ufw's limit of 15 ports:
// it comes from iptables' multiport match, which sets do not go through.
func (p *parser) portValue(t token, text string) (*portClause, *srcpos.Error) {
	pc := &portClause{tok: t, protos: protoBoth}
	if strings.HasPrefix(text, "$") {
		s := p.sets[text[1:]]
		if s == nil {
			return nil, p.errorf(t, "unknown set %s", text)
		}
		if s.Kind != PortSet {
			return nil, p.errorf(t, "set %s holds addresses, not ports", text)
		}
		pc.ranges, pc.set = s.Ports, s.Name
		pc.named, pc.protos = s.named, s.protos
		pc.numeric = true
		pc.multi = len(s.Ports) > 1 || (len(s.Ports) == 1 && s.Ports[0].Lo != s.Ports[0].Hi)
		if s.named {
			pc.svcNames = append(pc.svcNames, "$"+s.Name)
			pc.svcProto = append(pc.svcProto, s.protos)
			pc.svcOff = append(pc.svcOff, 0)
		}
		return pc, nil
	}
	elems := 0
	for off := 0; off <= len(text); {
		end := strings.IndexByte(text[off:], ',')
		if end < 0 {
			end = len(text)
		} else {
			end += off
		}
		elem := text[off:end]
		if elem == "" {
			return nil, p.errorAt(t, off, "empty port in list %q", text)
		}
		if elem[0] == '$' {
			return nil, p.errorAt(t, off, "a set cannot be part of a port list")
		}
		e, msg := parsePortElem(elem)
		if msg != "" {
			return nil, p.errorAt(t, off, "%s", msg)
		}
		elems++
		pc.ranges = append(pc.ranges, e.r)
		if e.service != "" {
			pc.named = true
			pc.protos &= e.protos
			pc.svcNames = append(pc.svcNames, e.service)
			pc.svcProto = append(pc.svcProto, e.protos)
			pc.svcOff = append(pc.svcOff, off)
			pc.count++
		} else {
			pc.numeric = true
			if e.isRange {
				pc.multi = true
				pc.count += 2
			} else {
				pc.count++
			}
		}
		if pc.count > MaxPortList {
			return nil, p.errorAt(t, off, "too many ports in %q: at most %d, a range counting as two", text, MaxPortList)
		}
		off = end + 1
	}
	if elems > 1 {
		pc.multi = true
	}
	if pc.named && pc.protos == 0 {
		return nil, p.errorf(t, "the services in %q share no protocol", text)
	}
	return pc, nil
}

// flagsValue parses pf's "VALUE/MASK", "/MASK", "VALUE" (exact) or "any".
func (p *parser) flagsValue(v token) (TCPFlags, *srcpos.Error) {
	if v.text == "any" {
		return TCPFlags{}, nil
	}
	parse := func(s string, off int) (packet.TCPFlags, *srcpos.Error) {
		var b packet.TCPFlags
		for i := 0; i < len(s); i++ {
			j := strings.IndexByte(flagLetters, s[i])
			if j < 0 {
				return 0, p.errorAt(v, off+i, "unknown TCP flag %q (want letters of %s)", s[i:i+1], flagLetters)
			}
			b |= 1 << j
		}
		return b, nil
	}
	valText, maskText, hasMask := strings.Cut(v.text, "/")
	val, err := parse(valText, 0)
	if err != nil {
		return TCPFlags{}, err
	}
	mask := packet.TCPFlags(0xff)
	if hasMask {
		if maskText == "" {
			return TCPFlags{}, p.errorAt(v, len(valText)+1, "empty flag mask in %q", v.text)
		}
		mask, err = parse(maskText, len(valText)+1)
		if err != nil {
			return TCPFlags{}, err
		}
	} else if valText == "" {
		return TCPFlags{}, p.errorf(v, "empty flags")
	}
	if val&^mask != 0 {
		return TCPFlags{}, p.errorf(v, "flags %s can never match: %s is outside the mask %s", v.text, flagString(val&^mask), maskText)
	}
	return TCPFlags{Value: val, Mask: mask}, nil
}

// ruleResolve checks the clauses against each other and fills in the rule.
func (p *parser) ruleResolve(st *ruleState) *srcpos.Error {
	r := &st.r

	// Families: each side narrows them; the protocol may too.
	fam := FamilyBoth
	var famTok *token
	for _, ac := range []*addrClause{st.from, st.to} {
		if ac == nil || ac.addrs == nil {
			continue
		}
		if fam&ac.fam == 0 {
			return p.errorf(ac.tok, "from is %s but to is %s: a rule cannot mix IPv4 and IPv6", st.from.fam, st.to.fam)
		}
		fam &= ac.fam
		famTok = &ac.tok
	}
	var protoFam Family
	switch r.Proto {
	case ipproto.ICMP, ipproto.IPv6:
		protoFam = FamilyIPv4
	case ipproto.ICMPv6:
		protoFam = FamilyIPv6
	}
	if protoFam != 0 {
		if fam&protoFam == 0 {
			return p.errorf(*famTok, "proto %s needs %s addresses, and %s is %s", r.Proto, protoFam, famTok.text, fam)
		}
		fam &= protoFam
	}
	r.Family = fam
	if st.from != nil {
		r.From.Addrs, r.From.AddrSet = filterFamily(st.from.addrs, fam), st.from.set
	}
	if st.to != nil {
		r.To.Addrs, r.To.AddrSet = filterFamily(st.to.addrs, fam), st.to.set
	}

	// Ports: ufw's protocol rules, with service names settling the protocol.
	fromPort, toPort := st.fromPort, st.toPort
	if st.simplePort != nil {
		toPort = st.simplePort
	}
	var ports []*portClause
	for _, pc := range []*portClause{fromPort, toPort} {
		if pc != nil {
			ports = append(ports, pc)
		}
	}
	if len(ports) > 0 {
		protoTok := st.protoTok
		if protoTok == nil {
			protoTok = st.simpleProto
		}
		mask := protoBoth
		for _, pc := range ports {
			mask &= pc.protos
		}
		switch r.Proto {
		case ipproto.TCP, ipproto.UDP, ipproto.UDPLite, ipproto.SCTP, ipproto.DCCP:
			// UDP-Lite uses UDP's port numbers (RFC 3828 5); the
			// services known here have no SCTP or DCCP ports.
			bit := protoTCP
			switch r.Proto {
			case ipproto.UDP, ipproto.UDPLite:
				bit = protoUDP
			case ipproto.SCTP, ipproto.DCCP:
				bit = 0
			}
			for _, pc := range ports {
				for i, svc := range pc.svcNames {
					if pc.svcProto[i]&bit == 0 {
						if bit == 0 {
							return p.errorAt(pc.tok, pc.svcOff[i], "service %s has no %s port; give the port number", svc, r.Proto)
						}
						return p.errorAt(pc.tok, pc.svcOff[i], "service %s has no %s port", svc, r.Proto)
					}
				}
			}
		case ProtoAny:
			switch {
			case mask == 0:
				return p.errorf(ports[len(ports)-1].tok, "the services on from and to share no protocol")
			case mask == protoTCP:
				r.Proto = ipproto.TCP
			case mask == protoUDP:
				r.Proto = ipproto.UDP
			default:
				for _, pc := range ports {
					if pc.multi && pc.numeric {
						return p.errorf(pc.tok, "multiple ports or a range need proto tcp or udp (as in ufw): %s", pc.tok.text)
					}
				}
			}
		default:
			return p.errorf(*protoTok, "proto %s has no ports; ports need %s", r.Proto, portProtos)
		}
		if fromPort != nil {
			r.From.Ports, r.From.PortSet = fromPort.ranges, fromPort.set
		}
		if toPort != nil {
			r.To.Ports, r.To.PortSet = toPort.ranges, toPort.set
		}
	}

	if st.flagsTok != nil && !r.Flags.Any() && r.Proto != ipproto.TCP {
		return p.errorf(*st.flagsTok, "flags need proto tcp")
	}

	if st.typeTok != nil {
		names := icmpTypes
		switch r.Proto {
		case ipproto.ICMP:
		case ipproto.ICMPv6:
			names = icmpv6Types
		default:
			return p.errorf(*st.typeTok, "an ICMP type needs proto icmp or icmpv6")
		}
		typ, ok := names[st.typeTok.text]
		if !ok {
			n, err := strconv.ParseUint(st.typeTok.text, 10, 8)
			if err != nil {
				return p.errorf(*st.typeTok, "unknown %s type %q", r.Proto, st.typeTok.text)
			}
			typ = uint8(n)
		}
		r.ICMPType = int16(typ)
		if st.codeTok != nil {
			n, err := strconv.ParseUint(st.codeTok.text, 10, 8)
			if err != nil {
				return p.errorf(*st.codeTok, "ICMP code must be a number from 0 to 255, not %q", st.codeTok.text)
			}
			r.ICMPCode = int16(n)
		}
	}
	return nil
}

func filterFamily(addrs []netip.Prefix, fam Family) []netip.Prefix {
	if addrs == nil {
		return nil
	}
	keep := 0
	for _, a := range addrs {
		if fam&familyOf(a) != 0 {
			keep++
		}
	}
	if keep == len(addrs) {
		// Rules share their set's slice; nothing modifies either.
		return addrs
	}
	out := make([]netip.Prefix, 0, keep)
	for _, a := range addrs {
		if fam&familyOf(a) != 0 {
			out = append(out, a)
		}
	}
	return out
}

// implicitRules builds the rules that follow the file's rules, after ufw's
// before.rules and before6.rules.
func implicitRules(echo Action) []Rule {
	type icmp struct {
		proto ipproto.Proto
		typ   uint8
		why   string
	}
	list := []icmp{
		{ipproto.ICMP, 3, "needed for path MTU discovery and fast failure"},
		{ipproto.ICMP, 11, "needed by traceroute and loop diagnosis"},
		{ipproto.ICMP, 12, "reports malformed headers"},
		{ipproto.ICMP, 8, "ping"},
		{ipproto.ICMPv6, 1, "fast failure"},
		{ipproto.ICMPv6, 2, "IPv6 path MTU discovery cannot work without it (RFC 4890)"},
		{ipproto.ICMPv6, 3, "needed by traceroute and loop diagnosis"},
		{ipproto.ICMPv6, 4, "reports malformed headers"},
		{ipproto.ICMPv6, 128, "ping"},
		{ipproto.ICMPv6, 133, "neighbour discovery (RFC 4861)"},
		{ipproto.ICMPv6, 134, "neighbour discovery (RFC 4861)"},
		{ipproto.ICMPv6, 135, "neighbour discovery (RFC 4861)"},
		{ipproto.ICMPv6, 136, "neighbour discovery (RFC 4861)"},
	}
	var out []Rule
	for _, ic := range list {
		if echo == Deny && (ic.typ == 8 && ic.proto == ipproto.ICMP || ic.typ == 128 && ic.proto == ipproto.ICMPv6) {
			continue
		}
		fam := FamilyIPv4
		if ic.proto == ipproto.ICMPv6 {
			fam = FamilyIPv6
		}
		out = append(out, Rule{
			Text:     fmt.Sprintf("allow proto %s type %s", ic.proto, ICMPTypeName(ic.proto, ic.typ)),
			Action:   Allow,
			Implicit: true,
			Dir:      In,
			Proto:    ic.proto,
			Family:   fam,
			ICMPType: int16(ic.typ),
			ICMPCode: AnyICMP,
			Comment:  "implicit: " + ic.why,
		})
	}
	return out
}
