package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Vars are the rule variables: $HOME_NET and the like, each an address or
// port specification in the rule language ("[10.0.0.0/8,!10.1.0.0/16]",
// "!$HOME_NET", "[80,8080:8090]"). Names are without the $.
type Vars map[string]string

// DefaultVars returns the variables of Suricata's suricata.yaml: what a
// configuration without ids.vars, or without one of them, gets.
func DefaultVars() Vars {
	return Vars{
		"HOME_NET":        "[192.168.0.0/16,10.0.0.0/8,172.16.0.0/12]",
		"EXTERNAL_NET":    "!$HOME_NET",
		"HTTP_SERVERS":    "$HOME_NET",
		"SMTP_SERVERS":    "$HOME_NET",
		"SQL_SERVERS":     "$HOME_NET",
		"DNS_SERVERS":     "$HOME_NET",
		"TELNET_SERVERS":  "$HOME_NET",
		"AIM_SERVERS":     "$EXTERNAL_NET",
		"DC_SERVERS":      "$HOME_NET",
		"DNP3_SERVER":     "$HOME_NET",
		"DNP3_CLIENT":     "$HOME_NET",
		"MODBUS_CLIENT":   "$HOME_NET",
		"MODBUS_SERVER":   "$HOME_NET",
		"ENIP_CLIENT":     "$HOME_NET",
		"ENIP_SERVER":     "$HOME_NET",
		"HTTP_PORTS":      "80",
		"SHELLCODE_PORTS": "!80",
		"ORACLE_PORTS":    "1521",
		"SSH_PORTS":       "22",
		"DNP3_PORTS":      "20000",
		"MODBUS_PORTS":    "502",
		"FILE_DATA_PORTS": "[$HTTP_PORTS,110,143]",
		"FTP_PORTS":       "21",
		"GENEVE_PORTS":    "6081",
		"VXLAN_PORTS":     "4789",
		"TEREDO_PORTS":    "3544",
		"SIP_PORTS":       "[5060,5061]",
	}
}

// withDefaults returns v over the defaults: every default the caller did
// not set is added.
func (v Vars) withDefaults() Vars {
	out := DefaultVars()
	for k, val := range v {
		out[k] = val
	}
	return out
}

// Check parses every variable as an address or a port specification and
// returns the errors, one per variable that is neither, naming it.
func (v Vars) Check() error {
	all := v.withDefaults()
	var errs []string
	for _, name := range slices.Sorted(mapKeys(v)) {
		_, aerr := parseAddrSpec(v[name], all, nil)
		_, perr := parsePortSpec(v[name], all, nil)
		if aerr != nil && perr != nil {
			errs = append(errs, fmt.Sprintf("variable %s: %v", name, aerr))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func mapKeys(v Vars) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range v {
			if !yield(k) {
				return
			}
		}
	}
}

// point is what an interval set is made of: netip.Addr, or a port.
type point[T any] interface {
	Compare(T) int
	Next() T
}

type interval[T point[T]] struct{ lo, hi T }

// ivset is a set of points as sorted, disjoint, non-adjacent intervals.
type ivset[T point[T]] []interval[T]

// normalize sorts s and merges overlapping and adjacent intervals; max is
// the largest point (whose Next does not exist).
func normalize[T point[T]](s ivset[T], max T) ivset[T] {
	slices.SortFunc(s, func(a, b interval[T]) int { return a.lo.Compare(b.lo) })
	out := s[:0]
	for _, iv := range s {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if last.hi.Compare(max) == 0 || iv.lo.Compare(last.hi.Next()) <= 0 {
				if iv.hi.Compare(last.hi) > 0 {
					last.hi = iv.hi
				}
				continue
			}
		}
		out = append(out, iv)
	}
	return out
}

// minus returns a minus b; both normalized.
func minus[T point[T]](a, b ivset[T], max T, prev func(T) T) ivset[T] {
	var out ivset[T]
	for _, iv := range a {
		lo, hi := iv.lo, iv.hi
		alive := true
		for _, cut := range b {
			if !alive {
				break
			}
			if cut.hi.Compare(lo) < 0 || cut.lo.Compare(hi) > 0 {
				continue
			}
			if cut.lo.Compare(lo) > 0 {
				out = append(out, interval[T]{lo, prev(cut.lo)})
			}
			if cut.hi.Compare(hi) >= 0 {
				alive = false
			} else {
				lo = cut.hi.Next()
			}
		}
		if alive {
			out = append(out, interval[T]{lo, hi})
		}
	}
	return normalize(out, max)
}

func contains[T point[T]](s ivset[T], x T) bool {
	i, found := slices.BinarySearchFunc(s, x, func(iv interval[T], x T) int {
		if iv.hi.Compare(x) < 0 {
			return -1
		}
		if iv.lo.Compare(x) > 0 {
			return 1
		}
		return 0
	})
	_ = i
	return found
}

var (
	min4 = netip.AddrFrom4([4]byte{})
	max4 = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	min6 = netip.IPv6Unspecified()
	max6 = netip.AddrFrom16([16]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
)

// AddrSet is a compiled address specification: the set of IPv4 and IPv6
// addresses it admits, as sorted ranges, so that a lookup is a binary
// search and nothing is parsed per packet. The zero value is empty.
type AddrSet struct {
	v4, v6 ivset[netip.Addr]
	any    bool
}

// AnyAddr is the set of every address.
func AnyAddr() AddrSet {
	return AddrSet{v4: ivset[netip.Addr]{{min4, max4}}, v6: ivset[netip.Addr]{{min6, max6}}, any: true}
}

// Contains reports whether a is in the set. An IPv4-mapped IPv6 address
// is looked up as IPv4.
func (s *AddrSet) Contains(a netip.Addr) bool {
	if s.any {
		return true
	}
	a = a.Unmap()
	if a.Is4() {
		return contains(s.v4, a)
	}
	return contains(s.v6, a.WithZone(""))
}

// IsAny reports whether the set holds every address.
func (s *AddrSet) IsAny() bool { return s.any }

// IsEmpty reports whether the set holds no address.
func (s *AddrSet) IsEmpty() bool { return len(s.v4) == 0 && len(s.v6) == 0 }

func (s *AddrSet) union(o AddrSet) {
	s.v4 = normalize(append(s.v4, o.v4...), max4)
	s.v6 = normalize(append(s.v6, o.v6...), max6)
	s.fix()
}

func (s *AddrSet) minus(o AddrSet) {
	s.v4 = minus(s.v4, o.v4, max4, netip.Addr.Prev)
	s.v6 = minus(s.v6, o.v6, max6, netip.Addr.Prev)
	s.fix()
}

func (s *AddrSet) fix() {
	s.any = len(s.v4) == 1 && s.v4[0] == interval[netip.Addr]{min4, max4} &&
		len(s.v6) == 1 && s.v6[0] == interval[netip.Addr]{min6, max6}
}

// String renders the set as ranges: "10.0.0.0-10.255.255.255,..." or "any".
func (s *AddrSet) String() string {
	if s.any {
		return "any"
	}
	var b strings.Builder
	for _, iv := range slices.Concat(s.v4, s.v6) {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(iv.lo.String())
		if iv.lo != iv.hi {
			b.WriteByte('-')
			b.WriteString(iv.hi.String())
		}
	}
	return b.String()
}

// port is a port number as a point of an interval set.
type port uint16

func (p port) Compare(q port) int { return int(p) - int(q) }
func (p port) Next() port         { return p + 1 }
func portPrev(p port) port        { return p - 1 }

// PortSet is a compiled port specification: the ports it admits, as
// sorted ranges. The zero value is empty.
type PortSet struct {
	r   ivset[port]
	any bool
}

// AnyPort is the set of every port.
func AnyPort() PortSet { return PortSet{r: ivset[port]{{0, 65535}}, any: true} }

// Contains reports whether p is in the set.
func (s *PortSet) Contains(p uint16) bool { return s.any || contains(s.r, port(p)) }

// IsAny reports whether the set holds every port.
func (s *PortSet) IsAny() bool { return s.any }

// Ports returns the ports of the set when it holds at most max of them.
func (s *PortSet) Ports(max int) ([]uint16, bool) {
	n := 0
	for _, iv := range s.r {
		n += int(iv.hi) - int(iv.lo) + 1
		if n > max {
			return nil, false
		}
	}
	out := make([]uint16, 0, n)
	for _, iv := range s.r {
		for p := int(iv.lo); p <= int(iv.hi); p++ {
			out = append(out, uint16(p))
		}
	}
	return out, true
}

func (s *PortSet) union(o PortSet) {
	s.r = normalize(append(s.r, o.r...), 65535)
	s.fix()
}

func (s *PortSet) minus(o PortSet) {
	s.r = minus(s.r, o.r, 65535, portPrev)
	s.fix()
}

func (s *PortSet) fix() { s.any = len(s.r) == 1 && s.r[0] == interval[port]{0, 65535} }

// String renders the set: "80,8000-8080" or "any".
func (s *PortSet) String() string {
	if s.any {
		return "any"
	}
	var b strings.Builder
	for _, iv := range s.r {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(iv.lo)))
		if iv.lo != iv.hi {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(int(iv.hi)))
		}
	}
	return b.String()
}

// specError is an error at an offset of a specification.
type specError struct {
	off int
	msg string
}

func (e *specError) Error() string { return e.msg }

// maxVarDepth bounds variable expansion: a variable that refers to
// itself, directly or not, is an error rather than a loop.
const maxVarDepth = 16

// specParser parses one address or port specification. Errors inside a
// variable's value are reported at the variable's use.
type specParser struct {
	s     string
	i     int
	vars  Vars
	depth int
	seen  []string // variables being expanded, for the error message
}

func (p *specParser) errf(off int, format string, args ...any) *specError {
	return &specError{off: off, msg: fmt.Sprintf(format, args...)}
}

func (p *specParser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// set is a parsed item: an address or a port set.
type set[S any] interface {
	*S
	union(S)
	minus(S)
}

// itemParser parses the leaf items of a specification.
type itemParser[S any] struct {
	any  func() S
	leaf func(tok string) (S, error)
	kind string // "address" or "port"
}

// parseList parses elem (',' elem)* up to ']' or the end, returning the
// set: the union of the positive elements (every value when there is
// none) minus the union of the negated ones.
func parseSpec[S any, PS set[S]](p *specParser, ip *itemParser[S], inList bool) (S, *specError) {
	var pos, neg S
	havePos := false
	for {
		p.skipSpace()
		start := p.i
		negated := false
		for p.i < len(p.s) && p.s[p.i] == '!' {
			negated = !negated
			p.i++
		}
		item, err := parseElem[S, PS](p, ip)
		if err != nil {
			return pos, err
		}
		if negated {
			PS(&neg).union(item)
		} else {
			PS(&pos).union(item)
			havePos = true
		}
		_ = start
		p.skipSpace()
		if !inList {
			break
		}
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
			continue
		}
		break
	}
	if !havePos {
		pos = ip.any()
	}
	PS(&pos).minus(neg)
	return pos, nil
}

func parseElem[S any, PS set[S]](p *specParser, ip *itemParser[S]) (S, *specError) {
	var zero S
	p.skipSpace()
	if p.i >= len(p.s) {
		return zero, p.errf(p.i, "missing %s", ip.kind)
	}
	start := p.i
	switch p.s[p.i] {
	case '[':
		p.i++
		if p.depth++; p.depth > 64 {
			return zero, p.errf(start, "lists nested too deeply")
		}
		v, err := parseSpec[S, PS](p, ip, true)
		p.depth--
		if err != nil {
			return zero, err
		}
		p.skipSpace()
		if p.i >= len(p.s) || p.s[p.i] != ']' {
			return zero, p.errf(start, "list not closed by ]")
		}
		p.i++
		return v, nil
	case '$':
		p.i++
		for p.i < len(p.s) && isVarChar(p.s[p.i]) {
			p.i++
		}
		name := p.s[start+1 : p.i]
		if name == "" {
			return zero, p.errf(start, "missing variable name after $")
		}
		val, ok := p.vars[name]
		if !ok {
			return zero, p.errf(start, "undefined variable $%s", name)
		}
		if slices.Contains(p.seen, name) || len(p.seen) >= maxVarDepth {
			return zero, p.errf(start, "variable $%s refers to itself", name)
		}
		sub := &specParser{s: val, vars: p.vars, seen: append(p.seen, name)}
		v, err := parseSpec[S, PS](sub, ip, false)
		if err == nil {
			sub.skipSpace()
			if sub.i < len(sub.s) {
				err = sub.errf(sub.i, "unexpected %q", sub.s[sub.i:])
			}
		}
		if err != nil {
			return zero, p.errf(start, "in $%s (%q): %s", name, val, err.msg)
		}
		return v, nil
	}
	for p.i < len(p.s) && !strings.ContainsRune(",]![ \t", rune(p.s[p.i])) {
		p.i++
	}
	tok := p.s[start:p.i]
	if tok == "" {
		return zero, p.errf(start, "unexpected %q where an %s belongs", p.s[start:start+1], ip.kind)
	}
	if tok == "any" {
		return ip.any(), nil
	}
	v, err := ip.leaf(tok)
	if err != nil {
		return zero, p.errf(start, "%v", err)
	}
	return v, nil
}

func isVarChar(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

var addrItems = itemParser[AddrSet]{any: AnyAddr, leaf: parseAddrLeaf, kind: "address"}
var portItems = itemParser[PortSet]{any: AnyPort, leaf: parsePortLeaf, kind: "port"}

// parseAddrSpec parses an address specification. A result that admits no
// address is an error: such a rule could never match.
func parseAddrSpec(s string, vars Vars, seen []string) (AddrSet, *specError) {
	return parseWhole[AddrSet](s, vars, seen, &addrItems, func(v *AddrSet) bool { return v.IsEmpty() })
}

// parsePortSpec parses a port specification.
func parsePortSpec(s string, vars Vars, seen []string) (PortSet, *specError) {
	return parseWhole[PortSet](s, vars, seen, &portItems, func(v *PortSet) bool { return len(v.r) == 0 })
}

// parseWhole parses a whole specification: nothing may follow it, and it
// must admit something.
func parseWhole[S any, PS set[S]](s string, vars Vars, seen []string, ip *itemParser[S], empty func(PS) bool) (S, *specError) {
	p := &specParser{s: s, vars: vars, seen: seen}
	v, err := parseSpec[S, PS](p, ip, false)
	if err != nil {
		return v, err
	}
	p.skipSpace()
	if p.i < len(s) {
		return v, p.errf(p.i, "unexpected %q in %s", s[p.i:], ip.kind)
	}
	if empty(&v) {
		return v, p.errf(0, "%s %q matches no %s", ip.kind, s, ip.kind)
	}
	return v, nil
}

// parseAddrLeaf parses an address, a prefix (host bits ignored, as
// Suricata does) or a range "a-b".
func parseAddrLeaf(tok string) (AddrSet, error) {
	var s AddrSet
	add := func(lo, hi netip.Addr) {
		if lo.Is4() {
			s.v4 = append(s.v4, interval[netip.Addr]{lo, hi})
		} else {
			s.v6 = append(s.v6, interval[netip.Addr]{lo, hi})
		}
	}
	if lo, hi, ok := strings.Cut(tok, "-"); ok {
		a, err1 := netip.ParseAddr(lo)
		b, err2 := netip.ParseAddr(hi)
		if err1 != nil || err2 != nil || a.Is4() != b.Is4() || a.Zone() != "" || b.Zone() != "" {
			return s, fmt.Errorf("bad address range %q", tok)
		}
		if b.Less(a) {
			return s, fmt.Errorf("address range %q ends before it starts", tok)
		}
		add(a.Unmap(), b.Unmap())
		return s, nil
	}
	if strings.Contains(tok, "/") {
		pfx, err := netip.ParsePrefix(tok)
		if err != nil {
			// Suricata also takes a dotted netmask: 10.0.0.0/255.0.0.0.
			addr, mask, _ := strings.Cut(tok, "/")
			a, err1 := netip.ParseAddr(addr)
			m, err2 := netip.ParseAddr(mask)
			if err1 != nil || err2 != nil || !a.Is4() || !m.Is4() || maskBits(m) < 0 {
				return s, fmt.Errorf("bad address %q", tok)
			}
			bits := maskBits(m)
			pfx = netip.PrefixFrom(a, bits)
		}
		pfx = pfx.Masked()
		add(pfx.Addr(), lastAddr(pfx))
		return s, nil
	}
	a, err := netip.ParseAddr(tok)
	if err != nil || a.Zone() != "" {
		return s, fmt.Errorf("bad address %q", tok)
	}
	a = a.Unmap()
	add(a, a)
	return s, nil
}

func maskBits(m netip.Addr) int {
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n := 0
	for v&0x80000000 != 0 {
		n++
		v <<= 1
	}
	if v != 0 {
		return -1
	}
	return n
}

// lastAddr returns the last address of a masked prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr().AsSlice()
	bits := p.Bits()
	for i := range a {
		for j := 7; j >= 0; j-- {
			if i*8+(7-j) >= bits {
				a[i] |= 1 << j
			}
		}
	}
	r, _ := netip.AddrFromSlice(a)
	return r
}

// parsePortLeaf parses a port, a range "a:b", or an open range "a:" or ":b".
func parsePortLeaf(tok string) (PortSet, error) {
	var s PortSet
	num := func(t string, dflt int) (int, error) {
		if t == "" && dflt >= 0 {
			return dflt, nil
		}
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 || n > 65535 || t[0] == '+' {
			return 0, fmt.Errorf("bad port %q", tok)
		}
		return n, nil
	}
	lo, hi, isRange := strings.Cut(tok, ":")
	a, err := num(lo, 0)
	if err != nil {
		return s, err
	}
	b := a
	if isRange {
		if b, err = num(hi, 65535); err != nil {
			return s, err
		}
		if lo == "" && hi == "" {
			return s, fmt.Errorf("bad port range %q", tok)
		}
		if b < a {
			return s, fmt.Errorf("port range %q ends before it starts", tok)
		}
	} else if lo == "" {
		return s, fmt.Errorf("bad port %q", tok)
	}
	s.r = ivset[port]{{port(a), port(b)}}
	s.fix()
	return s, nil
}
