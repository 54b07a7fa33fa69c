package resolver

import (
	"bufio"
	"bytes"
	_ "embed"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/miekg/dns"

	"github.com/rampart-fw/rampart/srcpos"
)

// namedRoot is IANA's root hints file (named.root), unchanged since the
// renumbering of b.root-servers.net in November 2023.
//
//go:embed named.root
var namedRoot []byte

var defaultHints = sync.OnceValues(func() ([]dns.RR, error) {
	return ParseRootHints("named.root", bytes.NewReader(namedRoot))
})

// DefaultRootHints returns IANA's root hints (a. to m.root-servers.net with
// their IPv4 and IPv6 addresses), as a fresh slice the caller may modify.
func DefaultRootHints() []dns.RR {
	rrs, err := defaultHints()
	if err != nil {
		// The embedded file is tested; this cannot happen in a released
		// build, and New reports empty hints as an error.
		return nil
	}
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Copy(rr)
	}
	return out
}

// maxHintsLine bounds one line of a hints file; real ones are under 80 bytes.
const maxHintsLine = 4096

// ParseRootHints reads root hints in the named.root format: master-file
// records "owner [ttl] [class] type rdata", one per line, with ';' comments.
// Only NS records owned by the root and A and AAAA records for their targets
// are allowed; a line that starts with blank space reuses the previous owner.
// Every name server must have at least one address. Names are returned in
// lowercase. On failure the error is a srcpos.List of every problem, each
// at its name:line:col.
func ParseRootHints(name string, r io.Reader) ([]dns.RR, error) {
	p := hintsParser{file: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), maxHintsLine)
	for sc.Scan() && !p.errs.Full() {
		p.line++
		if err := p.parseLine(sc.Text()); err != nil {
			p.errs.Add(err)
		}
	}
	if err := sc.Err(); err != nil {
		p.errs.Add(srcpos.Pos{File: name, Line: p.line + 1}.Errorf("%w", err))
	}
	p.finish()
	if err := p.errs.Err(); err != nil {
		return nil, err
	}
	return p.rrs, nil
}

type hintsParser struct {
	file      string
	line      int
	owner     string
	rrs       []dns.RR
	nsLine    map[string]int // name server -> line of its NS record
	addressed map[string]bool
	errs      srcpos.List
}

type hintsField struct {
	text string
	col  int // 1-based byte column
}

func (p *hintsParser) errorf(col int, format string, args ...any) error {
	return srcpos.Pos{File: p.file, Line: p.line, Column: col}.Errorf(format, args...)
}

func (p *hintsParser) parseLine(line string) error {
	if i := strings.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	var fields []hintsField
	for i := 0; i < len(line); {
		if line[i] == ' ' || line[i] == '\t' || line[i] == '\r' {
			i++
			continue
		}
		j := i
		for j < len(line) && line[j] != ' ' && line[j] != '\t' && line[j] != '\r' {
			j++
		}
		fields = append(fields, hintsField{line[i:j], i + 1})
		i = j
	}
	if len(fields) == 0 {
		return nil
	}
	if strings.HasPrefix(fields[0].text, "$") {
		return p.errorf(fields[0].col, "directive %s is not allowed in root hints", fields[0].text)
	}
	if strings.ContainsAny(line, "()\"") {
		return p.errorf(strings.IndexAny(line, "()\"")+1, "parentheses and quotes are not allowed in root hints")
	}
	owner := p.owner
	if line[0] != ' ' && line[0] != '\t' {
		o, err := p.name(fields[0])
		if err != nil {
			return err
		}
		owner = o
		fields = fields[1:]
	} else if owner == "" {
		return p.errorf(1, "record without an owner name")
	}
	p.owner = owner

	ttl := uint32(0)
	haveTTL, haveClass := false, false
	for len(fields) > 0 {
		f := fields[0]
		if !haveTTL && f.text[0] >= '0' && f.text[0] <= '9' {
			v, err := strconv.ParseUint(f.text, 10, 32)
			if err != nil {
				return p.errorf(f.col, "bad TTL %q", f.text)
			}
			ttl, haveTTL = uint32(v), true
			fields = fields[1:]
			continue
		}
		if !haveClass && strings.EqualFold(f.text, "IN") {
			haveClass = true
			fields = fields[1:]
			continue
		}
		break
	}
	if len(fields) == 0 {
		return p.errorf(len(line)+1, "missing record type")
	}
	typ := fields[0]
	switch strings.ToUpper(typ.text) {
	case "NS", "A", "AAAA":
	default:
		return p.errorf(typ.col, "record type %q is not allowed in root hints (NS, A, AAAA)", typ.text)
	}
	if len(fields) < 2 {
		return p.errorf(len(line)+1, "missing data for %s record", typ.text)
	}
	if len(fields) > 2 {
		return p.errorf(fields[2].col, "unexpected %q after the record data", fields[2].text)
	}
	data := fields[1]
	hdr := dns.RR_Header{Name: owner, Class: dns.ClassINET, Ttl: ttl}
	switch strings.ToUpper(typ.text) {
	case "NS":
		if owner != "." {
			return p.errorf(typ.col, "NS record for %s: root hints hold only the root's name servers", owner)
		}
		target, err := p.name(data)
		if err != nil {
			return err
		}
		if p.nsLine == nil {
			p.nsLine = make(map[string]int)
		}
		if _, dup := p.nsLine[target]; !dup {
			p.nsLine[target] = p.line
		}
		hdr.Rrtype = dns.TypeNS
		p.rrs = append(p.rrs, &dns.NS{Hdr: hdr, Ns: target})
	case "A", "AAAA":
		addr, err := netip.ParseAddr(data.text)
		if err != nil || addr.Zone() != "" {
			return p.errorf(data.col, "bad address %q", data.text)
		}
		if _, ok := p.nsLine[owner]; !ok {
			return p.errorf(1, "address for %s, which is not a root name server named above", owner)
		}
		if p.addressed == nil {
			p.addressed = make(map[string]bool)
		}
		p.addressed[owner] = true
		if strings.EqualFold(typ.text, "A") {
			if !addr.Is4() {
				return p.errorf(data.col, "A record with non-IPv4 address %q", data.text)
			}
			hdr.Rrtype = dns.TypeA
			p.rrs = append(p.rrs, &dns.A{Hdr: hdr, A: addr.AsSlice()})
		} else {
			if !addr.Is6() || addr.Is4In6() {
				return p.errorf(data.col, "AAAA record with non-IPv6 address %q", data.text)
			}
			hdr.Rrtype = dns.TypeAAAA
			p.rrs = append(p.rrs, &dns.AAAA{Hdr: hdr, AAAA: addr.AsSlice()})
		}
	}
	return nil
}

// name validates a domain name field and returns it lowercase and fully
// qualified; hints are relative to the root.
func (p *hintsParser) name(f hintsField) (string, error) {
	if _, ok := dns.IsDomainName(f.text); !ok {
		return "", p.errorf(f.col, "bad domain name %q", f.text)
	}
	return lowerASCII(dns.Fqdn(f.text)), nil
}

// finish adds the problems of the file as a whole: no root name servers,
// or one without an address (reported at its NS record, once). When lines
// were refused it adds nothing: what looks missing may be on those lines.
func (p *hintsParser) finish() {
	if len(p.errs) > 0 {
		return
	}
	if len(p.nsLine) == 0 {
		p.errs.Add(srcpos.Pos{File: p.file}.Errorf("no NS records for the root"))
		return
	}
	reported := map[string]bool{}
	for _, rr := range p.rrs {
		ns, ok := rr.(*dns.NS)
		if ok && !p.addressed[ns.Ns] && !reported[ns.Ns] {
			reported[ns.Ns] = true
			p.errs.Add(srcpos.Pos{File: p.file, Line: p.nsLine[ns.Ns]}.Errorf("name server %s has no address", ns.Ns))
		}
	}
}
