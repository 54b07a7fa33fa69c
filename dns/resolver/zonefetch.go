package resolver

import (
	"errors"
	"sync"
	"sync/atomic"
)

// ErrZoneFetchLimit: Config.FetchesPerZone upstream queries to the
// servers of the zone were already in flight; the resolution is answered
// SERVFAIL at once rather than queued behind them.
var ErrZoneFetchLimit = errors.New("resolver: too many upstream queries in flight to the zone")

// zoneFetches bounds the upstream queries in flight to the servers of
// each zone, as BIND's fetches-per-zone and Unbound's ratelimit do: a
// flood of random names under one zone (a "water torture" attack against
// its servers, or a zone whose servers have stopped answering) makes one
// new upstream query per name, each holding a resolution slot until its
// time-out; without a bound per zone those queries would take every
// MaxInFlight slot and starve the names of every other zone. Identical
// queries to one server share one exchange and one count. A zone's entry
// is removed when its count returns to zero, so the table holds no more
// zones than there are queries in flight.
type zoneFetches struct {
	limit   int // immutable: > 0
	mu      sync.Mutex
	n       map[string]int // guarded by mu; never holds a zero count
	limited atomic.Uint64  // no lock: queries refused for the bound
}

// newZoneFetches returns the bound of limit queries per zone, nil for
// none (limit <= 0).
func newZoneFetches(limit int) *zoneFetches {
	if limit <= 0 {
		return nil
	}
	return &zoneFetches{limit: limit, n: make(map[string]int)}
}

// acquire counts one more query to zone's servers when fewer than the
// limit are in flight, and reports whether it did. A nil bound admits all.
func (z *zoneFetches) acquire(zone string) bool {
	if z == nil {
		return true
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	n := z.n[zone]
	if n >= z.limit {
		z.limited.Add(1)
		return false
	}
	z.n[zone] = n + 1
	return true
}

// release gives back what acquire counted.
func (z *zoneFetches) release(zone string) {
	if z == nil {
		return
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if n := z.n[zone]; n > 1 {
		z.n[zone] = n - 1
	} else {
		delete(z.n, zone)
	}
}

// refused is the number of queries acquire refused.
func (z *zoneFetches) refused() uint64 {
	if z == nil {
		return 0
	}
	return z.limited.Load()
}
