package replay

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Config is the scenario's configuration section: the Unbound-style
// "key: value" lines before CONFIG_END (Deckard uses the same layout with its
// own keys). Every line is kept in Options; the keys a resolver commonly
// needs are also decoded into typed fields.
type Config struct {
	// Options holds every "key: value" line in file order, including the
	// ones decoded below.
	Options []Option
	// StubZones come from stub-zone clauses; Deckard's top-level stub-addr
	// is recorded as a stub zone for ".".
	StubZones []Zone
	// ForwardZones come from forward-zone clauses.
	ForwardZones []Zone
	// TrustAnchors holds trust-anchor values (presentation-format DS or
	// DNSKEY records), unquoted.
	TrustAnchors []string
	// TrustAnchorFiles holds trust-anchor-file, auto-trust-anchor-file and
	// trusted-keys-file values.
	TrustAnchorFiles []string
	// DomainInsecure holds domain-insecure values (negative trust anchors).
	DomainInsecure []string
	// QNameMinimisation is qname-minimisation (Unbound) or
	// query-minimization (Deckard); nil when the scenario does not say.
	QNameMinimisation *bool
	// ValOverrideDate is val-override-date (YYYYMMDDhhmmss, UTC) or Deckard's
	// val-override-timestamp; zero when absent or disabled ("-1").
	ValOverrideDate time.Time
	// Harden maps each harden-* option present (for example "harden-glue",
	// "harden-dnssec-stripped", "harden-below-nxdomain",
	// "harden-referral-path", "harden-algo-downgrade") to its value.
	Harden map[string]bool
	// RootName is Deckard's stub-name: the name of the root server whose
	// address is stub-addr (Deckard's default is k.root-servers.net.);
	// empty when the scenario does not say.
	RootName string
	// DoIP4 and DoIP6 are do-ip4 and do-ip6: whether the resolver may
	// send queries over IPv4 and IPv6; nil when the scenario does not say
	// (both on).
	DoIP4, DoIP6 *bool
	// CacheMinTTL and CacheMaxTTL bound the TTLs of cached records, in
	// seconds: Unbound's cache-min-ttl and cache-max-ttl, or the min_ttl
	// and max_ttl of Deckard's features line; nil when not set.
	CacheMinTTL, CacheMaxTTL *uint32
	// Features holds Deckard's "features: key = value; key = value"
	// pairs, every one, whether or not it is decoded above.
	Features map[string]string
	// Files are testbound's AUTOTRUST_FILE and TEMPFILE_CONTENTS blocks,
	// in file order.
	Files []File
	// CommandLine is testbound's COMMANDLINE argument string, if any.
	CommandLine string
}

// Option is one configuration line.
type Option struct {
	// Clause is the enclosing clause ("server", "stub-zone", ...); empty for
	// lines before any clause (Deckard).
	Clause string
	Key    string
	// Value is unquoted and stripped of trailing comments.
	Value string
	Line  int
}

// Zone is a stub-zone or forward-zone clause.
type Zone struct {
	// Name is fully qualified.
	Name string
	// Addrs are stub-addr or forward-addr values; the port defaults to 53.
	Addrs []netip.AddrPort
	// Hosts are stub-host or forward-host values.
	Hosts []string
	// Prime is stub-prime; First is stub-first or forward-first.
	Prime, First bool
	Line         int
}

// File is a named block of lines from the configuration section.
type File struct {
	Name  string
	Lines []string
	Line  int
}

// Get returns the value of the last option named key.
func (c *Config) Get(key string) (string, bool) {
	for i := len(c.Options) - 1; i >= 0; i-- {
		if c.Options[i].Key == key {
			return c.Options[i].Value, true
		}
	}
	return "", false
}

// RootHints returns the addresses of the stub zone for the root, which is
// how scenarios name their root servers. It returns nil when the scenario
// has none; the resolver then uses its built-in hints.
func (c *Config) RootHints() []netip.AddrPort {
	for _, z := range c.StubZones {
		if z.Name == "." && len(z.Addrs) > 0 {
			return append([]netip.AddrPort(nil), z.Addrs...)
		}
	}
	return nil
}

// NeedsDNSSEC reports whether the scenario configures trust anchors, that
// is, whether its expected answers depend on DNSSEC validation.
func (c *Config) NeedsDNSSEC() bool {
	return len(c.TrustAnchors) > 0 || len(c.TrustAnchorFiles) > 0
}

// configParser decodes configuration lines one at a time.
type configParser struct {
	cfg    *Config
	clause string
	zone   *Zone // the stub-zone or forward-zone being filled
	file   string
}

func (cp *configParser) errorf(line, col int, format string, args ...any) error {
	return parseError(cp.file, line, col, format, args...)
}

// line decodes one "key: value" line. raw is the untrimmed text.
func (cp *configParser) line(raw string, lineno int) error {
	// Deckard's features line uses ';' between its pairs; everywhere
	// else a ';' starts a comment.
	semicolon := !strings.HasPrefix(strings.TrimSpace(raw), "features:")
	text := stripConfigComment(raw, semicolon)
	trimmed := strings.TrimSpace(text)
	if trimmed == "" {
		return nil
	}
	lead := strings.Index(text, trimmed) + 1
	colon := strings.IndexByte(trimmed, ':')
	if colon <= 0 {
		return cp.errorf(lineno, lead, "config: expected \"key: value\", got %q", trimmed)
	}
	key := strings.TrimSpace(trimmed[:colon])
	rest := trimmed[colon+1:]
	value := strings.TrimSpace(rest)
	valCol := lead + colon + 1 + (len(rest) - len(strings.TrimLeft(rest, " \t")))
	if value == "" {
		cp.clause = key
		cp.zone = nil
		switch key {
		case "stub-zone":
			cp.cfg.StubZones = append(cp.cfg.StubZones, Zone{Line: lineno})
			cp.zone = &cp.cfg.StubZones[len(cp.cfg.StubZones)-1]
		case "forward-zone":
			cp.cfg.ForwardZones = append(cp.cfg.ForwardZones, Zone{Line: lineno})
			cp.zone = &cp.cfg.ForwardZones[len(cp.cfg.ForwardZones)-1]
		}
		return nil
	}
	value = unquote(value)
	cp.cfg.Options = append(cp.cfg.Options, Option{Clause: cp.clause, Key: key, Value: value, Line: lineno})
	return cp.decode(key, value, lineno, valCol)
}

func (cp *configParser) decode(key, value string, lineno, col int) error {
	c := cp.cfg
	switch {
	case cp.zone != nil && key == "name":
		if _, ok := dns.IsDomainName(value); !ok {
			return cp.errorf(lineno, col, "config: %s name %q is not a domain name", cp.clause, value)
		}
		cp.zone.Name = dns.Fqdn(strings.ToLower(value))
	case cp.zone != nil && (key == "stub-addr" || key == "forward-addr"):
		ap, err := parseServerAddr(value)
		if err != nil {
			return cp.errorf(lineno, col, "config: %s: %v", key, err)
		}
		cp.zone.Addrs = append(cp.zone.Addrs, ap)
	case cp.zone != nil && (key == "stub-host" || key == "forward-host"):
		cp.zone.Hosts = append(cp.zone.Hosts, value)
	case cp.zone != nil && key == "stub-prime":
		b, err := parseBool(value)
		if err != nil {
			return cp.errorf(lineno, col, "config: %s: %v", key, err)
		}
		cp.zone.Prime = b
	case cp.zone != nil && (key == "stub-first" || key == "forward-first"):
		b, err := parseBool(value)
		if err != nil {
			return cp.errorf(lineno, col, "config: %s: %v", key, err)
		}
		cp.zone.First = b
	case key == "stub-addr":
		// Deckard names the root server with a top-level stub-addr.
		ap, err := parseServerAddr(value)
		if err != nil {
			return cp.errorf(lineno, col, "config: %s: %v", key, err)
		}
		root := -1
		for i := range c.StubZones {
			if c.StubZones[i].Name == "." {
				root = i
			}
		}
		if root < 0 {
			c.StubZones = append(c.StubZones, Zone{Name: ".", Line: lineno})
			root = len(c.StubZones) - 1
		}
		c.StubZones[root].Addrs = append(c.StubZones[root].Addrs, ap)
	case key == "qname-minimisation" || key == "qname-minimization" || key == "query-minimization":
		b, err := parseBool(value)
		if err != nil {
			return cp.errorf(lineno, col, "config: %s: %v", key, err)
		}
		c.QNameMinimisation = &b
	case key == "trust-anchor":
		c.TrustAnchors = append(c.TrustAnchors, value)
	case key == "trust-anchor-file" || key == "auto-trust-anchor-file" || key == "trusted-keys-file":
		c.TrustAnchorFiles = append(c.TrustAnchorFiles, value)
	case key == "domain-insecure":
		c.DomainInsecure = append(c.DomainInsecure, value)
	case key == "val-override-date":
		if value == "-1" || value == "0" {
			c.ValOverrideDate = time.Time{}
			return nil
		}
		t, err := time.Parse("20060102150405", value)
		if err != nil {
			return cp.errorf(lineno, col, "config: val-override-date %q: want YYYYMMDDhhmmss", value)
		}
		if !clockReads(t) {
			return cp.errorf(lineno, col, "config: val-override-date %q: the scenario clock reads only %s to %s", value, clockMin.Format(time.RFC3339), clockMax.Format(time.RFC3339))
		}
		c.ValOverrideDate = t.UTC()
	case key == "val-override-timestamp":
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n < 0 {
			return cp.errorf(lineno, col, "config: val-override-timestamp %q: want seconds since 1970", value)
		}
		if n > clockMax.Unix() {
			return cp.errorf(lineno, col, "config: val-override-timestamp %q: the scenario clock reads only up to %d (%s)", value, clockMax.Unix(), clockMax.Format(time.RFC3339))
		}
		c.ValOverrideDate = time.Unix(n, 0).UTC()
	case key == "stub-name":
		if _, ok := dns.IsDomainName(value); !ok {
			return cp.errorf(lineno, col, "config: stub-name %q is not a domain name", value)
		}
		c.RootName = dns.Fqdn(strings.ToLower(value))
	case key == "do-ip4" || key == "do-ip6":
		b, err := parseBool(value)
		if err != nil {
			return cp.errorf(lineno, col, "config: %s: %v", key, err)
		}
		if key == "do-ip4" {
			c.DoIP4 = &b
		} else {
			c.DoIP6 = &b
		}
	case key == "cache-min-ttl" || key == "cache-max-ttl":
		return cp.cacheTTL(key == "cache-min-ttl", key, value, lineno, col)
	case key == "features":
		return cp.features(value, lineno, col)
	case strings.HasPrefix(key, "harden-"):
		b, err := parseBool(value)
		if err != nil {
			return cp.errorf(lineno, col, "config: %s: %v", key, err)
		}
		if c.Harden == nil {
			c.Harden = make(map[string]bool)
		}
		c.Harden[key] = b
	}
	return nil
}

// features decodes Deckard's "features: k = v; k = v" line. The pairs
// the replayed resolver can act on are min_ttl and max_ttl (Knot
// Resolver's cache.min_ttl and cache.max_ttl, Unbound's cache-min-ttl and
// cache-max-ttl); every pair is kept in Features. An item of several words
// without '=' ("min_ttl = 5 ; default in kresd") is a comment.
func (cp *configParser) features(value string, lineno, col int) error {
	c := cp.cfg
	if c.Features == nil {
		c.Features = make(map[string]string)
	}
	for _, item := range strings.Split(value, ";") {
		k, v, pair := strings.Cut(item, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == "" || !pair && strings.ContainsAny(k, " \t") {
			continue
		}
		c.Features[k] = v
		if k == "min_ttl" || k == "max_ttl" {
			if err := cp.cacheTTL(k == "min_ttl", "features: "+k, v, lineno, col); err != nil {
				return err
			}
		}
	}
	return nil
}

// cacheTTL decodes a cache TTL bound in seconds into CacheMinTTL (lower) or
// CacheMaxTTL (otherwise); what names it in errors.
func (cp *configParser) cacheTTL(lower bool, what, value string, lineno, col int) error {
	n, err := strconv.ParseUint(value, 10, 32)
	if err != nil {
		return cp.errorf(lineno, col, "config: %s %q: want a number of seconds", what, value)
	}
	ttl := uint32(n)
	if lower {
		cp.cfg.CacheMinTTL = &ttl
	} else {
		cp.cfg.CacheMaxTTL = &ttl
	}
	return nil
}

// stripConfigComment removes comments from a configuration line: with
// semicolon, a ';' anywhere outside quotes (the comment of every other
// line of a scenario, so that "query-minimization: off ; why" reads
// "off"), and a '#' that starts a word outside quotes (the rule of
// Unbound's configuration lexer, so that values such as
// "1.2.3.4@853#dns.example" survive).
func stripConfigComment(s string, semicolon bool) string {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case ';':
			if semicolon && !quoted {
				return s[:i]
			}
		case '#':
			if !quoted && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t') {
				return s[:i]
			}
		}
	}
	return s
}

func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
		return v[1 : len(v)-1]
	}
	return v
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "yes", "true", "on", "1":
		return true, nil
	case "no", "false", "off", "0":
		return false, nil
	}
	return false, errorString("want yes or no, got " + strconv.Quote(v))
}

// parseServerAddr reads Unbound's "ip[@port][#tls-name]" form.
func parseServerAddr(s string) (netip.AddrPort, error) {
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	host, port := s, uint16(53)
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		host = s[:i]
		p, err := strconv.ParseUint(s[i+1:], 10, 16)
		if err != nil || p == 0 {
			return netip.AddrPort{}, errorString("bad port in " + strconv.Quote(s))
		}
		port = uint16(p)
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, errorString("bad address " + strconv.Quote(host))
	}
	return netip.AddrPortFrom(a.Unmap(), port), nil
}

// errorString is a plain error without the fmt machinery.
type errorString string

func (e errorString) Error() string { return string(e) }
