package resolver

import "github.com/miekg/dns"

// Domain names in this package are in miekg/dns presentation form: fully
// qualified, with bytes outside the letter-digit-hyphen set escaped. Unpacked
// names never contain raw non-ASCII bytes, so ASCII case folding is exact.
// These helpers exist because dns.IsSubDomain and dns.CanonicalName allocate,
// and they run for every record of every upstream response.

// lowerASCII returns s with ASCII letters lowercased. It returns s itself,
// without allocating, when s holds no upper-case letter.
func lowerASCII(s string) string {
	i := 0
	for ; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			break
		}
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if c := b[i]; c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// equalName reports whether two names are equal ignoring ASCII case.
func equalName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if ca >= 'A' && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if cb >= 'A' && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}

// isSubDomain reports whether child is parent or below it. Both must be fully
// qualified. A suffix match only counts when it starts at a label boundary,
// that is after a dot that is not itself escaped ("x\.example.lab." is not
// below "example.lab.").
func isSubDomain(child, parent string) bool {
	if parent == "." {
		return true
	}
	if len(child) < len(parent) {
		return false
	}
	off := len(child) - len(parent)
	if !equalName(child[off:], parent) {
		return false
	}
	if off == 0 {
		return true
	}
	if child[off-1] != '.' {
		return false
	}
	// The dot before the suffix ends a label only if an even number of
	// backslashes precede it.
	n := 0
	for i := off - 2; i >= 0 && child[i] == '\\'; i-- {
		n++
	}
	return n%2 == 0
}

// isProperSubDomain reports whether child is strictly below parent.
func isProperSubDomain(child, parent string) bool {
	return len(child) > len(parent) && isSubDomain(child, parent)
}

// parentName returns the name with its first label removed; the parent of the
// root is the root.
func parentName(s string) string {
	if s == "." || s == "" {
		return "."
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++ // skip the escaped byte; a \DDD escape has no dot in it
		case '.':
			if i+1 >= len(s) {
				return "."
			}
			return s[i+1:]
		}
	}
	return "."
}

// labelCount returns the number of labels of a fully qualified name, not
// counting the root.
func labelCount(s string) int {
	if s == "." || s == "" {
		return 0
	}
	n := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '.':
			n++
		}
	}
	return n
}

// suffixLabels returns the last n labels of s as a fully qualified name.
func suffixLabels(s string, n int) string {
	total := labelCount(s)
	if n >= total {
		return s
	}
	if n <= 0 {
		return "."
	}
	for skip := total - n; skip > 0; skip-- {
		s = parentName(s)
	}
	return s
}

// caseRestorer puts back the spelling of the query name into the names of
// an upstream response that echo its 0x20 case. Servers that compress
// names against the question (NSD does, for RDATA too) write every name
// ending in the query name, or in one of its parent names, as a pointer to
// the question, so "example.lab MX" asked as "eXampLE.LAb." comes back as
// "10 mail.eXampLE.LAb.". The client must never see the randomisation
// (Unbound restores the name in the wire response before reading it), so
// every name that ends, at a label boundary, in a suffix of sent spelled
// exactly as sent has that suffix replaced by the same labels of orig.
// Names the zone spells some other way are left alone, and so is a suffix
// without letters the randomisation changed.
type caseRestorer struct {
	sent, orig string // the same name: as sent, and as the resolver spells it
}

// restore returns n with the echoed spelling replaced, or n itself, without
// allocating, when there is none.
func (cr caseRestorer) restore(n string) string {
	s := cr.sent
	for i := 0; i < len(s); {
		suffix := s[i:]
		if len(n) >= len(suffix) && n[len(n)-len(suffix):] == suffix && (len(n) == len(suffix) || labelEndsAt(n, len(n)-len(suffix)-1)) {
			if suffix == cr.orig[i:] {
				return n // the randomisation left this part as it was
			}
			return n[:len(n)-len(suffix)] + cr.orig[i:]
		}
		// On to the next label of s.
		for i < len(s) && s[i] != '.' {
			if s[i] == '\\' {
				i++
			}
			i++
		}
		i++
	}
	return n
}

// labelEndsAt reports whether the byte of n at dot is a dot that ends a
// label (not an escaped one).
func labelEndsAt(n string, dot int) bool {
	if n[dot] != '.' {
		return false
	}
	k := 0
	for i := dot - 1; i >= 0 && n[i] == '\\'; i-- {
		k++
	}
	return k%2 == 0
}

// restoreCase applies cr to the owner names of every section but the
// question (which the matching checks against the query as sent) and to the
// names inside the RDATA of the types whose names servers compress or may
// compress (RFC 3597 section 4, RFC 2782's SRV, and the other types whose
// RDATA names RFC 4034 section 6.2 lowercases for signatures, so that
// changing their case never breaks a signature). NSEC next names and RRSIG
// signer names are never compressed and are left as signed.
func (cr caseRestorer) restoreCase(m *dns.Msg) {
	if cr.sent == cr.orig {
		return
	}
	for _, sec := range [...][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			h := rr.Header()
			if h.Rrtype == dns.TypeOPT {
				continue
			}
			h.Name = cr.restore(h.Name)
			switch rr := rr.(type) {
			case *dns.NS:
				rr.Ns = cr.restore(rr.Ns)
			case *dns.CNAME:
				rr.Target = cr.restore(rr.Target)
			case *dns.DNAME:
				rr.Target = cr.restore(rr.Target)
			case *dns.PTR:
				rr.Ptr = cr.restore(rr.Ptr)
			case *dns.MX:
				rr.Mx = cr.restore(rr.Mx)
			case *dns.SOA:
				rr.Ns, rr.Mbox = cr.restore(rr.Ns), cr.restore(rr.Mbox)
			case *dns.SRV:
				rr.Target = cr.restore(rr.Target)
			case *dns.NAPTR:
				rr.Replacement = cr.restore(rr.Replacement)
			case *dns.KX:
				rr.Exchanger = cr.restore(rr.Exchanger)
			case *dns.AFSDB:
				rr.Hostname = cr.restore(rr.Hostname)
			case *dns.RT:
				rr.Host = cr.restore(rr.Host)
			case *dns.PX:
				rr.Map822, rr.Mapx400 = cr.restore(rr.Map822), cr.restore(rr.Mapx400)
			case *dns.MINFO:
				rr.Rmail, rr.Email = cr.restore(rr.Rmail), cr.restore(rr.Email)
			case *dns.RP:
				rr.Mbox, rr.Txt = cr.restore(rr.Mbox), cr.restore(rr.Txt)
			case *dns.MB:
				rr.Mb = cr.restore(rr.Mb)
			case *dns.MD:
				rr.Md = cr.restore(rr.Md)
			case *dns.MF:
				rr.Mf = cr.restore(rr.Mf)
			case *dns.MG:
				rr.Mg = cr.restore(rr.Mg)
			case *dns.MR:
				rr.Mr = cr.restore(rr.Mr)
			}
		}
	}
}
