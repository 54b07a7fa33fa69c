package resolver

import (
	"sync"
	"sync/atomic"
	"time"
)

// zoneCuts remembers the zone cuts the resolver has seen (the owners of
// delegations and of authoritative NS sets) until their NS sets expire. The
// acceptance rules read it to keep one server that serves several zones from
// setting data for a zone other than the one it was asked about (MaginotDNS):
// below a known cut, only the child zone's own servers are believed. It is
// kept apart from the Cache because the Cache may be another package's, whose
// lookups copy records, while this check runs for every answer.
//
// With each cut it keeps the last referral to it (see parentSide.go): the
// parent's NS records and glue, the last resort when the child's own
// servers fail.
type zoneCuts struct {
	mu      sync.Mutex
	cuts    *lru[string, cut] // guarded by mu
	evicted atomic.Uint64     // no lock
}

// cut is what zoneCuts knows of one zone cut.
type cut struct {
	expires  time.Time
	referral referral
}

func newZoneCuts(max int) *zoneCuts {
	return &zoneCuts{cuts: newLRU[string, cut](max)}
}

func (z *zoneCuts) add(name string, ttl uint32, now time.Time) {
	if name == "." || ttl == 0 {
		return
	}
	z.mu.Lock()
	c, _, evicted := z.cuts.put(name)
	c.expires = now.Add(time.Duration(ttl) * time.Second)
	z.mu.Unlock()
	if evicted {
		z.evicted.Add(1)
	}
}

func (z *zoneCuts) has(name string, now time.Time) bool {
	z.mu.Lock()
	defer z.mu.Unlock()
	c := z.cuts.peek(name)
	if c == nil {
		return false
	}
	if !now.Before(c.expires) {
		z.cuts.remove(name)
		return false
	}
	return true
}

// setReferral keeps ref with the cut at name, which add has recorded.
func (z *zoneCuts) setReferral(name string, ref referral) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if c := z.cuts.peek(name); c != nil {
		c.referral = ref
	}
}

// referralTo returns the referral kept with the cut at name, if it lives.
func (z *zoneCuts) referralTo(name string, now time.Time) (referral, bool) {
	z.mu.Lock()
	defer z.mu.Unlock()
	c := z.cuts.peek(name)
	if c == nil || !now.Before(c.referral.expires) {
		return referral{}, false
	}
	return c.referral, true
}

func (z *zoneCuts) len() int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.cuts.len()
}

// cutBetween reports whether a known zone cut lies strictly below zone and at
// or above name: then name belongs to another zone than the one zone's servers
// speak for. When atCutOK, a cut at name itself does not count (the DS set at
// a cut is the parent's data).
func (z *zoneCuts) cutBetween(name, zone string, atCutOK bool, now time.Time) bool {
	for n := name; isProperSubDomain(n, zone); n = parentName(n) {
		if atCutOK && n == name {
			continue
		}
		if z.has(n, now) {
			return true
		}
	}
	return false
}
