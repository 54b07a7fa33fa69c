package authoritative

import (
	"fmt"
	"maps"
	"slices"

	"github.com/miekg/dns"
)

// Store is a set of zones with distinct origins. It is immutable: a reload
// builds a new Store and swaps it in whole.
type Store struct {
	zones map[string]*Zone
}

// NewStore collects zones, refusing two zones with one origin.
func NewStore(zones ...*Zone) (*Store, error) {
	s := &Store{zones: make(map[string]*Zone, len(zones))}
	for _, z := range zones {
		if z == nil {
			return nil, fmt.Errorf("authoritative: nil zone")
		}
		if prev := s.zones[z.origin]; prev != nil {
			return nil, fmt.Errorf("authoritative: zone %s loaded twice (%s and %s)", z.origin, prev.file, z.file)
		}
		s.zones[z.origin] = z
	}
	return s, nil
}

// Zones returns the zones in origin order.
func (s *Store) Zones() []*Zone {
	out := make([]*Zone, 0, len(s.zones))
	for _, name := range slices.Sorted(maps.Keys(s.zones)) {
		out = append(out, s.zones[name])
	}
	return out
}

// Find returns the zone whose origin is the longest suffix of name, or nil
// when no zone encloses name.
func (s *Store) Find(name string) *Zone {
	return s.find(canonicalName(name))
}

func (s *Store) find(name string) *Zone {
	if len(s.zones) == 0 {
		return nil
	}
	if name == "." {
		return s.zones["."]
	}
	for off, end := 0, false; !end; off, end = dns.NextLabel(name, off) {
		if z := s.zones[name[off:]]; z != nil {
			return z
		}
	}
	return s.zones["."]
}

// zoneFor picks the zone that answers a query. A DS RRset lives on the
// parent side of a cut (RFC 4035 section 3.1.4.1), so a DS query for a
// zone's apex goes to the parent when this server also serves that.
func (s *Store) zoneFor(name string, qtype uint16) *Zone {
	z := s.find(name)
	if z != nil && qtype == dns.TypeDS && z.origin == name && name != "." {
		if p := s.find(parentName(name)); p != nil {
			return p
		}
	}
	return z
}
