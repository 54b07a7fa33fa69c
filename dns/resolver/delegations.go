package resolver

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// delegations remembers, for the zones findServers found in the cache,
// the servers it built from them: the addresses of the zone's name
// servers and the names still without one. Building them takes the zone's
// NS set and both address sets of each name server from the cache,
// decoded into records every time, which was a tenth of the work of a
// name asked for the first time under a zone already known. The memory
// never outlives what it was built from: it expires with the first of
// those sets to expire, and it is dropped as soon as the resolver stores
// a new NS set for the zone or new addresses for one of its name servers,
// and when the cache is flushed at or above the zone (Forget). It is
// bounded; when full, an arbitrary zone is forgotten.
type delegations struct {
	mu    sync.Mutex
	max   int                    // immutable after newDelegations
	zones map[string]*delegation // guarded by mu
	// byNS lists, for each name server name, the zones whose entry
	// depends on its addresses. Guarded by mu.
	byNS    map[string][]string
	evicted atomic.Uint64 // no lock
}

// delegation is immutable once put stores it, so get reads it under the
// lock but hands out its pending slice, which callers only reslice.
type delegation struct {
	addrs   []candidate
	pending []string
	ns      []string // lower case
	expires time.Time
}

func newDelegations(max int) *delegations {
	return &delegations{max: max, zones: map[string]*delegation{}, byNS: map[string][]string{}}
}

// get returns the servers of zone, fresh for one resolution step, if they
// are remembered and have not expired at now.
func (d *delegations) get(zone string, now time.Time) (*zoneServers, bool) {
	d.mu.Lock()
	e := d.zones[zone]
	if e == nil {
		d.mu.Unlock()
		return nil, false
	}
	if !now.Before(e.expires) {
		d.drop(zone, e)
		d.mu.Unlock()
		return nil, false
	}
	zs := &zoneServers{zone: zone, pending: e.pending}
	if len(e.addrs) > 0 {
		zs.cands = append(make([]candidate, 0, len(e.addrs)), e.addrs...)
	}
	d.mu.Unlock()
	return zs, true
}

// put remembers the servers zs of its zone, built from the NS set naming
// ns and the address sets of those names, until expires.
func (d *delegations) put(zs *zoneServers, ns []string, expires time.Time) {
	e := &delegation{addrs: append([]candidate(nil), zs.cands...), pending: zs.pending, ns: ns, expires: expires}
	d.mu.Lock()
	defer d.mu.Unlock()
	if old := d.zones[zs.zone]; old != nil {
		d.drop(zs.zone, old)
	}
	if len(d.zones) >= d.max {
		for z, victim := range d.zones {
			d.drop(z, victim)
			d.evicted.Add(1)
			break
		}
	}
	d.zones[zs.zone] = e
	for _, n := range ns {
		d.byNS[n] = append(d.byNS[n], zs.zone)
	}
}

// drop forgets zone; the caller holds d.mu.
func (d *delegations) drop(zone string, e *delegation) {
	delete(d.zones, zone)
	for _, n := range e.ns {
		zones := d.byNS[n]
		for i, z := range zones {
			if z == zone {
				zones[i] = zones[len(zones)-1]
				zones = zones[:len(zones)-1]
				break
			}
		}
		if len(zones) == 0 {
			delete(d.byNS, n)
		} else {
			d.byNS[n] = zones
		}
	}
}

// rememberUntil is how long servers built from sets with ttl seconds left
// are remembered: nine tenths of it, so that the cache is asked again
// before the sets expire, in time for their refresh in the last tenth of
// their TTL (see dns/cache.ResolverView.LookupRRset).
func rememberUntil(now time.Time, ttl uint32) time.Time {
	return now.Add(time.Duration(ttl) * time.Second * 9 / 10)
}

// nsNames returns the lower-case names of the NS records among rrs.
func nsNames(rrs []dns.RR) []string {
	names := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		if ns, ok := rr.(*dns.NS); ok {
			names = append(names, lowerASCII(ns.Ns))
		}
	}
	return names
}

// nsStored takes note of a new NS set rrs for zone, that lives until
// expires. The same names as remembered (a server that puts its NS set in
// every answer's authority section) keep the entry, which never outlives
// the new set; other names drop it.
func (d *delegations) nsStored(zone string, rrs []dns.RR, expires time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.zones[zone]
	if e == nil {
		return
	}
	if !sameNames(e.ns, nsNames(rrs)) {
		d.drop(zone, e)
		return
	}
	if expires.Before(e.expires) {
		e.expires = expires
	}
}

// sameNames reports whether a and b hold the same names, in any order.
func sameNames(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		found := false
		for _, y := range b {
			if x == y {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	for _, y := range b {
		found := false
		for _, x := range a {
			if x == y {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// forgetServer drops the zones that name server name serves, whose
// addresses are being replaced.
func (d *delegations) forgetServer(name string) {
	d.mu.Lock()
	for len(d.byNS[name]) > 0 {
		z := d.byNS[name][0]
		d.drop(z, d.zones[z])
	}
	d.mu.Unlock()
}

// forgetBelow drops every zone at or below name, and every zone with a
// name server at or below it.
func (d *delegations) forgetBelow(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for z, e := range d.zones {
		if isSubDomain(z, name) {
			d.drop(z, e)
			continue
		}
		for _, n := range e.ns {
			if isSubDomain(n, name) {
				d.drop(z, e)
				break
			}
		}
	}
}

func (d *delegations) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.zones)
}
