package lab

import (
	"bytes"
	_ "embed"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/rampart-fw/rampart/config"
	"github.com/rampart-fw/rampart/srcpos"
)

// Topology is a lab network: bridged segments and the hosts attached to them.
type Topology struct {
	Networks []Network `yaml:"networks"`
	Hosts    []Host    `yaml:"hosts"`
}

// Network is one layer-2 segment, a Linux bridge in a namespace of its own.
// Prefixes lists the subnets that may be used on it; every interface address
// on the segment must lie in one of them.
type Network struct {
	Name     string          `yaml:"name"`
	Prefixes []config.Prefix `yaml:"prefixes"`
	Pos      srcpos.Pos      `yaml:"-"`
}

// Host is one network namespace.
type Host struct {
	Name string `yaml:"name"`
	// Role is free text shown in the topology table (client, dns, web ...).
	Role string `yaml:"role"`
	// Forward turns on IPv4 and IPv6 forwarding (a router or gateway).
	Forward bool `yaml:"forward"`
	// Bridge joins all the host's interfaces in a Linux bridge: a layer-2
	// bump in the wire. Scenarios replace it with rampart's gateway, which
	// bridges the same interfaces through the firewall.
	Bridge     bool        `yaml:"bridge"`
	Interfaces []Interface `yaml:"interfaces"`
	Routes     []Route     `yaml:"routes"`
	Pos        srcpos.Pos  `yaml:"-"`
}

// Interface attaches a host to a network.
type Interface struct {
	Name      string          `yaml:"name"`
	Network   string          `yaml:"network"`
	Addresses []config.Prefix `yaml:"addresses"`
	Pos       srcpos.Pos      `yaml:"-"`
}

// Route is a static route in a host. To is a prefix or "default"; Via must be
// an address that the lab assigns to another host on a directly attached
// network, so no route can lead out of the lab.
type Route struct {
	To  string      `yaml:"to"`
	Via config.Addr `yaml:"via"`
	Pos srcpos.Pos  `yaml:"-"`

	dst netip.Prefix
}

// Destination returns the prefix the route covers; "default" is the default
// route of Via's address family.
func (r Route) Destination() netip.Prefix { return r.dst }

func (n *Network) UnmarshalYAML(v *yaml.Node) error {
	type plain Network
	n.Pos = config.PosOf(v)
	return v.Decode((*plain)(n))
}

func (h *Host) UnmarshalYAML(v *yaml.Node) error {
	type plain Host
	h.Pos = config.PosOf(v)
	return v.Decode((*plain)(h))
}

func (i *Interface) UnmarshalYAML(v *yaml.Node) error {
	type plain Interface
	i.Pos = config.PosOf(v)
	return v.Decode((*plain)(i))
}

func (r *Route) UnmarshalYAML(v *yaml.Node) error {
	type plain Route
	r.Pos = config.PosOf(v)
	return v.Decode((*plain)(r))
}

//go:embed topology/standard.yaml
var standardTopology []byte

// Standard returns the standard lab: an inside network with clients and a
// DNS server, a gateway host between inside and outside, and an outside
// network with a web server, DNS root, TLD and authoritative servers and an
// attacker.
func Standard() *Topology {
	t, err := ParseTopology("standard.yaml", standardTopology)
	if err != nil {
		panic("lab: embedded standard topology is invalid: " + err.Error())
	}
	return t
}

// StandardYAML returns the text of the standard topology, a starting point
// for custom ones.
func StandardYAML() []byte { return bytes.Clone(standardTopology) }

// ParseTopology decodes and validates a topology; errors name name:line:col.
func ParseTopology(name string, data []byte) (*Topology, error) {
	var t Topology
	if err := config.Decode(name, data, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9]*$`)

// Limits that follow from Linux: interface names have at most 15 bytes, and
// the switch-side veth names are derived from indexes.
const (
	maxHostName  = 12
	maxIfaceName = 15
	maxNetworks  = 16
	maxHosts     = 64
)

// Validate checks the whole topology; nothing is created from a topology
// that fails it.
func (t *Topology) Validate() error {
	if len(t.Hosts) == 0 {
		return fmt.Errorf("topology has no hosts")
	}
	if len(t.Networks) > maxNetworks {
		return t.Networks[maxNetworks].Pos.Errorf("too many networks (at most %d)", maxNetworks)
	}
	if len(t.Hosts) > maxHosts {
		return t.Hosts[maxHosts].Pos.Errorf("too many hosts (at most %d)", maxHosts)
	}
	// Every problem is reported, each once: a second definition, or an
	// address found bad, is left out of what later checks look at, so its
	// consequences (a route via an address that was refused) are not
	// reported as problems of their own.
	var errs srcpos.List
	nets := map[string]*Network{}
	for i := range t.Networks {
		n := &t.Networks[i]
		if !nameRE.MatchString(n.Name) || len(n.Name) > maxHostName {
			errs.Add(n.Pos.Errorf("network name %q: use 1 to %d lower-case letters and digits, starting with a letter", n.Name, maxHostName))
		} else if nets[n.Name] != nil {
			errs.Add(n.Pos.Errorf("network %q defined twice (first at line %d)", n.Name, nets[n.Name].Pos.Line))
			continue
		}
		nets[n.Name] = n
		if len(n.Prefixes) == 0 {
			errs.Add(n.Pos.Errorf("network %q has no prefixes", n.Name))
		}
		for _, p := range n.Prefixes {
			if p.Prefix != p.Masked() {
				errs.Add(p.Pos.Errorf("network prefix %s has host bits set (did you mean %s?)", p.Prefix, p.Masked()))
			}
		}
	}
	hosts := map[string]*Host{}
	assigned := map[netip.Addr]string{}
	for i := range t.Hosts {
		h := &t.Hosts[i]
		if !nameRE.MatchString(h.Name) || len(h.Name) > maxHostName {
			errs.Add(h.Pos.Errorf("host name %q: use 1 to %d lower-case letters and digits, starting with a letter", h.Name, maxHostName))
		} else if hosts[h.Name] != nil {
			errs.Add(h.Pos.Errorf("host %q defined twice (first at line %d)", h.Name, hosts[h.Name].Pos.Line))
			continue
		} else if nets[h.Name] != nil {
			errs.Add(h.Pos.Errorf("host %q has the name of a network", h.Name))
		}
		hosts[h.Name] = h
		if h.Bridge {
			t.validateBridge(h, &errs)
		}
		ifnames := map[string]bool{}
		for j := range h.Interfaces {
			ifc := &h.Interfaces[j]
			if !nameRE.MatchString(ifc.Name) || len(ifc.Name) > maxIfaceName || ifc.Name == "lo" {
				errs.Add(ifc.Pos.Errorf("interface name %q: use 1 to %d lower-case letters and digits, starting with a letter", ifc.Name, maxIfaceName))
			} else if ifnames[ifc.Name] {
				errs.Add(ifc.Pos.Errorf("host %q has two interfaces named %q", h.Name, ifc.Name))
			}
			ifnames[ifc.Name] = true
			n := nets[ifc.Network]
			if n == nil {
				errs.Add(ifc.Pos.Errorf("interface %s.%s: unknown network %q", h.Name, ifc.Name, ifc.Network))
				continue
			}
			for _, a := range ifc.Addresses {
				switch other, dup := assigned[a.Addr()]; {
				case !inAny(a.Addr(), n.Prefixes):
					errs.Add(a.Pos.Errorf("address %s of %s.%s is outside network %q (%s)", a.Prefix, h.Name, ifc.Name, n.Name, prefixList(n.Prefixes)))
				case a.Addr() == a.Masked().Addr() && a.Bits() < a.Addr().BitLen()-1:
					errs.Add(a.Pos.Errorf("address %s of %s.%s is the network address", a.Prefix, h.Name, ifc.Name))
				case dup:
					errs.Add(a.Pos.Errorf("address %s of %s.%s is already assigned to %s", a.Addr(), h.Name, ifc.Name, other))
				default:
					assigned[a.Addr()] = h.Name + "." + ifc.Name
				}
			}
		}
	}
	for i := range t.Hosts {
		h := &t.Hosts[i]
		for j := range h.Routes {
			errs.Add(h.validateRoute(&h.Routes[j], assigned))
		}
	}
	errs.Sort()
	return errs.Err()
}

// validateBridge adds the problems of bridge host h to errs.
func (t *Topology) validateBridge(h *Host, errs *srcpos.List) {
	if h.Forward {
		errs.Add(h.Pos.Errorf("host %q: bridge and forward exclude each other", h.Name))
	}
	if len(h.Interfaces) < 2 {
		errs.Add(h.Pos.Errorf("host %q: a bridge needs at least two interfaces", h.Name))
	}
	if len(h.Routes) > 0 {
		errs.Add(h.Pos.Errorf("host %q: a bridge has no routes", h.Name))
	}
	for _, ifc := range h.Interfaces {
		if len(ifc.Addresses) > 0 {
			errs.Add(ifc.Pos.Errorf("interface %s.%s: a bridge's interfaces carry no addresses", h.Name, ifc.Name))
		}
	}
}

// validateRoute checks route r of h and sets its destination; assigned maps
// every address the lab gives out to "host.interface".
func (h *Host) validateRoute(r *Route, assigned map[netip.Addr]string) error {
	if !r.Via.IsValid() {
		return r.Pos.Errorf("route of host %q needs a via address", h.Name)
	}
	switch {
	case r.To == "default":
		if r.Via.Is4() {
			r.dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		} else {
			r.dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		}
	default:
		p, err := netip.ParsePrefix(r.To)
		if err != nil {
			return r.Pos.Errorf("route of host %q: invalid destination %q: expected a prefix or \"default\"", h.Name, r.To)
		}
		if p != p.Masked() {
			return r.Pos.Errorf("route destination %s has host bits set", p)
		}
		if p.Addr().Is4() != r.Via.Is4() {
			return r.Pos.Errorf("route %s via %s mixes IPv4 and IPv6", p, r.Via.Addr)
		}
		r.dst = p
	}
	owner, ok := assigned[r.Via.Addr]
	if !ok {
		return r.Via.Pos.Errorf("route of host %q goes via %s, which no lab host has: lab routes may only use lab addresses", h.Name, r.Via.Addr)
	}
	if strings.HasPrefix(owner, h.Name+".") {
		return r.Via.Pos.Errorf("route of host %q goes via its own address %s", h.Name, r.Via.Addr)
	}
	if !h.attached(r.Via.Addr) {
		return r.Via.Pos.Errorf("route of host %q goes via %s, which is not on a network the host is attached to", h.Name, r.Via.Addr)
	}
	return nil
}

// attached reports whether a lies in a prefix configured on one of h's
// interfaces.
func (h *Host) attached(a netip.Addr) bool {
	for _, ifc := range h.Interfaces {
		for _, p := range ifc.Addresses {
			if p.Masked().Contains(a) {
				return true
			}
		}
	}
	return false
}

func inAny(a netip.Addr, ps []config.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func prefixList(ps []config.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// Host returns the host named name, or nil.
func (t *Topology) Host(name string) *Host {
	for i := range t.Hosts {
		if t.Hosts[i].Name == name {
			return &t.Hosts[i]
		}
	}
	return nil
}

// Addr returns the first address of the given family (4 or 6) on host
// name, the zero Addr if there is none.
func (t *Topology) Addr(host string, family int) netip.Addr {
	h := t.Host(host)
	if h == nil {
		return netip.Addr{}
	}
	for _, ifc := range h.Interfaces {
		for _, p := range ifc.Addresses {
			if (family == 4) == p.Addr().Is4() {
				return p.Addr()
			}
		}
	}
	return netip.Addr{}
}

// Table writes the topology as a table: one line per interface.
// tableAddrWidth is the width of the ADDRESSES column of Table.
const tableAddrWidth = 40

func (t *Topology) Table(prefix string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-10s %-10s %-16s %-6s %-9s %s\n", "HOST", "ROLE", "NAMESPACE", "IFACE", "NETWORK", "ADDRESSES")
	for _, h := range t.Hosts {
		for i, ifc := range h.Interfaces {
			name, role, ns := "", "", ""
			if i == 0 {
				name, role, ns = h.Name, h.Role, prefix+"-"+h.Name
			}
			// Addresses wrap onto lines of their own, so that the table
			// stays within the demo report's 100 columns.
			lines := []string{""}
			for _, a := range ifc.Addresses {
				cur := &lines[len(lines)-1]
				switch {
				case *cur == "":
					*cur = a.String()
				case len(*cur)+1+len(a.String()) <= tableAddrWidth:
					*cur += " " + a.String()
				default:
					lines = append(lines, a.String())
				}
			}
			iface, network := ifc.Name, ifc.Network
			for _, addrs := range lines {
				line := fmt.Sprintf("%-10s %-10s %-16s %-6s %-9s %s", name, role, ns, iface, network, addrs)
				b.WriteString(strings.TrimRight(line, " ") + "\n")
				name, role, ns, iface, network = "", "", "", "", ""
			}
		}
	}
	var routes []string
	for _, h := range t.Hosts {
		for _, r := range h.Routes {
			routes = append(routes, fmt.Sprintf("  %-10s %-20s via %s", h.Name, r.dst, r.Via.Addr))
		}
	}
	sort.Strings(routes)
	if len(routes) > 0 {
		b.WriteString("\nROUTES\n")
		b.WriteString(strings.Join(routes, "\n"))
		b.WriteByte('\n')
	}
	return b.String()
}
