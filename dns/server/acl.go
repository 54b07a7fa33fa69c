package server

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/gaissmai/bart"
)

// ACL decides which clients may query. Clients outside it get REFUSED, so
// that rampart is never an open resolver. It is immutable after NewACL and
// read by every socket's goroutine without a lock.
type ACL struct {
	allow bart.Lite
	list  []netip.Prefix
}

// NewACL builds an ACL from allowed prefixes.
func NewACL(prefixes []netip.Prefix) *ACL {
	a := &ACL{}
	for _, p := range prefixes {
		p = p.Masked()
		a.allow.Insert(p)
		a.list = append(a.list, p)
	}
	return a
}

// Allowed reports whether addr may query.
func (a *ACL) Allowed(addr netip.Addr) bool {
	return a.allow.Contains(addr.Unmap())
}

// Prefixes returns the allowed prefixes.
func (a *ACL) Prefixes() []netip.Prefix { return a.list }

func (a *ACL) String() string {
	s := make([]string, len(a.list))
	for i, p := range a.list {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// DefaultACL allows loopback and the private networks (RFC 1918, RFC 4193)
// that this machine's own interfaces are on, and nothing else.
func DefaultACL() (*ACL, error) {
	prefixes := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces for the default ACL: %w", err)
	}
	for _, ifc := range ifaces {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			if !ip.IsPrivate() {
				continue
			}
			bits, _ := ipn.Mask.Size()
			prefixes = append(prefixes, netip.PrefixFrom(ip, bits).Masked())
		}
	}
	return NewACL(prefixes), nil
}
