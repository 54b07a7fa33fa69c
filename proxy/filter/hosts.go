package filter

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/rampart-fw/rampart/srcpos"
)

// HostSet is a set of host names from one source (a configuration key or
// a list file): exact names, and suffixes written with a leading dot that
// match the name itself and every name under it (".ads.test" matches
// ads.test and x.ads.test, not badads.test). Names are compared without
// case and without a trailing dot. It is read-only once built, and safe
// for concurrent lookups.
type HostSet struct {
	// Name is the source, as block pages name it: "block.hosts", or the
	// list file's path.
	Name string
	// File is the path of the list file the set was read from; empty for
	// a configuration key.
	File   string
	exact  map[string]int32 // name -> line (files) or index (keys)
	suffix map[string]int32 // name without its leading dot
}

// NewHostSet returns an empty set named name.
func NewHostSet(name string) *HostSet {
	return &HostSet{Name: name, exact: map[string]int32{}, suffix: map[string]int32{}}
}

// Len is the number of entries.
func (s *HostSet) Len() int { return len(s.exact) + len(s.suffix) }

// Add adds an entry: a host name or IP address, or ".name" for the name
// and everything under it. ref is what Match returns for it: a line of
// a list file, or the index of the entry in a configuration list.
func (s *HostSet) Add(entry string, ref int32) error {
	e := strings.ToLower(strings.TrimSuffix(entry, "."))
	suffix := strings.HasPrefix(e, ".")
	if suffix {
		e = e[1:]
	}
	if msg := checkHost(e); msg != "" {
		return fmt.Errorf("%q: %s", entry, msg)
	}
	if suffix {
		if _, ok := s.suffix[e]; !ok {
			s.suffix[e] = ref
		}
		return nil
	}
	if _, ok := s.exact[e]; !ok {
		s.exact[e] = ref
	}
	return nil
}

// maxName is the longest host name (RFC 1035, without the trailing dot).
const maxName = 253

// checkHost says what is wrong with a lowercase host name or IP address,
// or "" when nothing is.
func checkHost(h string) string {
	if h == "" {
		return "empty host name"
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return ""
	}
	if len(h) > maxName {
		return "host name longer than 253 bytes"
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" {
			return "empty label in host name"
		}
		if len(label) > 63 {
			return "label longer than 63 bytes"
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Sprintf("%q is not allowed in a host name (letters, digits, '-' and '_'; IDNs in their xn-- form)", string(rune(c)))
			}
		}
	}
	return ""
}

// Hit is the entry of a HostSet that matched a host.
type Hit struct {
	Ref    int32  // the reference given to Add
	Entry  string // the name, without the leading dot of a suffix
	Suffix bool
}

// Match reports whether host is in the set, and which entry matched; an
// exact entry wins over a suffix. host must be lowercase, without a port,
// brackets or trailing dot, as CanonicalHost returns it. It does not
// allocate.
func (s *HostSet) Match(host string) (Hit, bool) {
	if ref, ok := s.exact[host]; ok {
		return Hit{Ref: ref, Entry: host}, true
	}
	for h := host; ; {
		if ref, ok := s.suffix[h]; ok {
			return Hit{Ref: ref, Entry: h, Suffix: true}, true
		}
		i := strings.IndexByte(h, '.')
		if i < 0 {
			return Hit{}, false
		}
		h = h[i+1:]
	}
}

// Describe names an entry Match found, after key (the configuration key
// of the set): "block.hosts: .ads.test", or for a list file
// "block.lists: LIST:12: ads.example".
func (s *HostSet) Describe(key string, h Hit) string {
	e := h.Entry
	if h.Suffix {
		e = "." + e
	}
	if s.File != "" {
		return key + ": " + s.File + ":" + strconv.Itoa(int(h.Ref)) + ": " + e
	}
	return key + ": " + e
}

// CanonicalHost returns host as Match wants it: lowercase, without a port,
// brackets or a trailing dot. It allocates only when host has capitals.
func CanonicalHost(host string) string {
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i > 0 {
			host = host[1:i]
		}
	} else if i := strings.LastIndexByte(host, ':'); i >= 0 && strings.IndexByte(host, ':') == i {
		host = host[:i]
	}
	host = strings.TrimSuffix(host, ".")
	for i := 0; i < len(host); i++ {
		if c := host[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(host)
		}
	}
	return host
}

// The names hosts files give to this machine and to special addresses,
// which ad-block lists carry at their top and which are not blocked.
var hostsFileSelf = map[string]bool{
	"localhost": true, "localhost.localdomain": true, "local": true, "broadcasthost": true,
	"ip6-localhost": true, "ip6-loopback": true, "ip6-localnet": true, "ip6-mcastprefix": true,
	"ip6-allnodes": true, "ip6-allrouters": true, "ip6-allhosts": true, "0.0.0.0": true,
}

// ParseList reads a list file of host names into a set named name (its
// path), one entry per line, in any of the formats ad-block lists use,
// line by line:
//
//	0.0.0.0 ads.example tracker.example   hosts file: an address, then names (exact)
//	ads.example                           domain list: one name (exact)
//	.ads.example  or  *.ads.example       the name and every name under it
//	||ads.example^                        Adblock Plus: the name and every name under it
//	# comment   ! comment   [Adblock Plus 2.0]
//
// The names a hosts file gives to this machine (localhost and the like)
// are skipped. Every bad line is reported, at its line and column.
func ParseList(name string, data []byte) (*HostSet, error) {
	s := NewHostSet(name)
	s.File = name
	var errs srcpos.List
	line := 0
	for len(data) > 0 {
		line++
		var text []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			text, data = data[:i], data[i+1:]
		} else {
			text, data = data, nil
		}
		if !parseListLine(s, name, line, text, &errs) {
			break
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

// parseListLine adds the entries of one line; it reports whether the
// error list takes more.
func parseListLine(s *HostSet, file string, line int, text []byte, errs *srcpos.List) bool {
	text = bytes.TrimRight(text, "\r")
	if i := bytes.IndexByte(text, '#'); i >= 0 {
		text = text[:i]
	}
	fields := fieldsWithColumns(text)
	if len(fields) == 0 {
		return true
	}
	first := string(fields[0].text)
	at := func(col int, format string, args ...any) bool {
		return errs.Add(srcpos.Pos{File: file, Line: line, Column: col}.Errorf(format, args...))
	}
	switch {
	case strings.HasPrefix(first, "!") || strings.HasPrefix(first, "[Adblock"):
		return true
	case strings.HasPrefix(first, "||"):
		if len(fields) > 1 {
			return at(fields[1].col, "unexpected %q after an Adblock Plus rule", fields[1].text)
		}
		d, ok := strings.CutSuffix(first[2:], "^")
		if !ok || strings.ContainsAny(d, "^/$*|") {
			return at(fields[0].col, "unsupported Adblock Plus rule %q: only ||domain^ is understood", first)
		}
		if err := s.Add("."+d, int32(line)); err != nil {
			return at(fields[0].col+2, "%v", err)
		}
		return true
	}
	if _, err := netip.ParseAddr(first); err == nil {
		if len(fields) == 1 {
			return at(fields[0].col+len(first), "a hosts-file line needs a name after the address")
		}
		for _, f := range fields[1:] {
			n := strings.ToLower(string(f.text))
			if hostsFileSelf[n] {
				continue
			}
			if strings.HasPrefix(n, ".") {
				return at(f.col, "%q: a hosts file names hosts, not suffixes", f.text)
			}
			if err := s.Add(n, int32(line)); err != nil && !at(f.col, "%v", err) {
				return false
			}
		}
		return true
	}
	if len(fields) > 1 {
		return at(fields[1].col, "unexpected %q: a domain list has one name per line (a hosts file starts with an address)", fields[1].text)
	}
	entry := first
	if strings.HasPrefix(entry, "*.") {
		entry = entry[1:]
	}
	if err := s.Add(entry, int32(line)); err != nil {
		return at(fields[0].col, "%v", err)
	}
	return true
}

type field struct {
	text []byte
	col  int
}

// fieldsWithColumns splits a line at spaces and tabs, keeping each
// field's 1-based column.
func fieldsWithColumns(b []byte) []field {
	var out []field
	for i := 0; i < len(b); {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
			i++
		}
		start := i
		for i < len(b) && b[i] != ' ' && b[i] != '\t' {
			i++
		}
		if i > start {
			out = append(out, field{b[start:i], start + 1})
		}
	}
	return out
}
