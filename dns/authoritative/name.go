package authoritative

import (
	"strings"

	"github.com/miekg/dns"
)

// lower folds ASCII only: DNS names compare case-insensitively for ASCII
// letters and byte-exactly for everything else (RFC 4343).
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// canonicalName is the key for every name-indexed map in this package.
func canonicalName(s string) string { return lower(dns.Fqdn(s)) }

// wireLabels returns the labels of name as raw octets, lowercased, most
// significant (rightmost) first, which is the order RFC 4034 section 6.1
// compares them in. Presentation escapes such as \. and \065 are undone
// by packing the name, so "a\.b" sorts as one label.
func wireLabels(name string) [][]byte {
	var buf [256]byte
	n, err := dns.PackDomainName(dns.Fqdn(name), buf[:], 0, nil, false)
	if err != nil {
		return nil
	}
	var labels [][]byte
	for off := 0; off < n; {
		l := int(buf[off])
		if l == 0 {
			break
		}
		lab := make([]byte, l)
		for i := 0; i < l; i++ {
			c := buf[off+1+i]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			lab[i] = c
		}
		labels = append(labels, lab)
		off += 1 + l
	}
	for i, j := 0, len(labels)-1; i < j; i, j = i+1, j-1 {
		labels[i], labels[j] = labels[j], labels[i]
	}
	return labels
}

// compareLabels orders two names given by wireLabels in DNSSEC canonical
// order.
func compareLabels(a, b [][]byte) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := compareOctets(a[i], b[i]); c != 0 {
			return c
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

func compareOctets(a, b []byte) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

// parentName strips the leftmost label; the root is its own parent.
func parentName(name string) string {
	off, end := dns.NextLabel(name, 0)
	if end {
		return "."
	}
	return name[off:]
}

// nextCloser returns the ancestor of name (itself included) that has
// exactly one label more than encloser, which must be an ancestor of name.
func nextCloser(name, encloser string) string {
	want := dns.CountLabel(encloser) + 1
	for dns.CountLabel(name) > want {
		name = parentName(name)
	}
	return name
}
