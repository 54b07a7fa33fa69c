package resolver

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// The infra cache remembers, per upstream server, how fast it answers and
// whether it answers at all, and per server and zone whether it is lame. It
// is modelled on Unbound's infra cache: RFC 6298 smoothing of round-trip
// times, a retransmission time-out that doubles on every loss, and servers
// that keep timing out set aside until a probe is due.
const (
	// initialRTO is assumed for servers never measured; Unbound's value, a
	// little under the minimum per-try time-out so that unknown servers are
	// tried before servers known to be slow.
	initialRTO = 376 * time.Millisecond
	minRTO     = 50 * time.Millisecond
	maxRTO     = 120 * time.Second
	// blockAfter consecutive time-outs set a server aside until its probe
	// time; until then it is asked only when no other server is left.
	blockAfter = 3
	// scoreDecay is applied to the selection score of every measured server
	// not chosen, so that a slow server is probed again now and then and a
	// server that became fast is noticed.
	scoreDecayNum, scoreDecayDen = 49, 50
)

type hostInfo struct {
	srtt, rttvar time.Duration
	rto          time.Duration
	score        time.Duration // what selection compares; see scoreDecay
	sampled      bool
	timeouts     int // consecutive
	probeAfter   time.Time
	// noEDNSUntil: the server answered FORMERR to a query with EDNS and
	// then answered without it, so queries to it go without EDNS until
	// then. The mark lasts the cache's TTL from when it was set and is not
	// extended by later answers (as Unbound's edns_lame entry), so that a
	// busy server is probed with EDNS again: a server that learnt EDNS,
	// or one marked by mistake, does not stay without it (and without
	// DNSSEC for every zone on it) for as long as it keeps answering.
	noEDNSUntil time.Time
	// noCaseUntil: the server answered over TCP with the query name in
	// another case, so it does not preserve case and 0x20 is off for it
	// until then. Only TCP can set it: a forged UDP answer in the wrong case
	// is a near miss and never switches 0x20 off, and the fallback expires
	// (with the entry at the latest) so that a fixed server is used with
	// 0x20 again.
	noCaseUntil time.Time
	nearMisses  uint64
	// cookie is the server cookie last received (RFC 7873), cookieLen its
	// length; 0 means the server has not shown cookie support.
	cookie    [maxServerCookie]byte
	cookieLen uint8
	expires   time.Time
}

type lameKey struct {
	addr netip.Addr
	zone string
}

// infraCache is shared by every resolution. Its entries (hostInfo values
// in hosts, expiries in lame) are guarded by mu; callers get copies.
type infraCache struct {
	mu    sync.Mutex
	ttl   time.Duration              // immutable after newInfraCache
	hosts *lru[netip.Addr, hostInfo] // guarded by mu
	lame  *lru[lameKey, time.Time]   // guarded by mu; value: expiry

	evictions atomic.Uint64 // no lock
}

func newInfraCache(maxHosts int, ttl time.Duration) *infraCache {
	return &infraCache{
		ttl:   ttl,
		hosts: newLRU[netip.Addr, hostInfo](maxHosts),
		lame:  newLRU[lameKey, time.Time](maxHosts),
	}
}

// host returns the live entry for addr or nil. c.mu must be held.
func (c *infraCache) host(addr netip.Addr, now time.Time) *hostInfo {
	h := c.hosts.peek(addr)
	if h == nil {
		return nil
	}
	if !now.Before(h.expires) {
		c.hosts.remove(addr)
		return nil
	}
	return h
}

// hostForUpdate returns the entry for addr, creating it. c.mu must be held.
func (c *infraCache) hostForUpdate(addr netip.Addr, now time.Time) *hostInfo {
	if h := c.host(addr, now); h != nil {
		c.hosts.get(addr) // mark recently used
		h.expires = now.Add(c.ttl)
		return h
	}
	h, _, evicted := c.hosts.put(addr)
	if evicted {
		c.evictions.Add(1)
	}
	*h = hostInfo{rto: initialRTO, expires: now.Add(c.ttl)}
	return h
}

// recordRTT feeds a measured round trip into the server's estimate.
func (c *infraCache) recordRTT(addr netip.Addr, rtt time.Duration, now time.Time) {
	if rtt < 0 {
		rtt = 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.hostForUpdate(addr, now)
	if !h.sampled {
		h.srtt, h.rttvar, h.sampled = rtt, rtt/2, true
	} else {
		diff := h.srtt - rtt
		if diff < 0 {
			diff = -diff
		}
		h.rttvar = (3*h.rttvar + diff) / 4
		h.srtt = (7*h.srtt + rtt) / 8
	}
	h.rto = min(max(h.srtt+4*h.rttvar, minRTO), maxRTO)
	h.score = h.srtt
	h.timeouts = 0
	h.probeAfter = time.Time{}
}

// recordTimeout notes a query the server did not answer in time.
func (c *infraCache) recordTimeout(addr netip.Addr, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.hostForUpdate(addr, now)
	h.timeouts++
	h.rto = min(2*max(h.rto, initialRTO), maxRTO)
	h.score = h.rto
	if h.timeouts >= blockAfter {
		h.probeAfter = now.Add(h.rto)
	}
}

// tryTimeout is how long to wait for addr on one try.
func (c *infraCache) tryTimeout(addr netip.Addr, now time.Time, lo, hi time.Duration) time.Duration {
	c.mu.Lock()
	rto := initialRTO
	if h := c.host(addr, now); h != nil {
		rto = h.rto
	}
	c.mu.Unlock()
	return min(max(rto, lo), hi)
}

func (c *infraCache) markLame(addr netip.Addr, zone string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, _, evicted := c.lame.put(lameKey{addr, lowerASCII(zone)})
	if evicted {
		c.evictions.Add(1)
	}
	*exp = now.Add(c.ttl)
}

// isLame needs c.mu held.
func (c *infraCache) isLame(addr netip.Addr, zone string, now time.Time) bool {
	k := lameKey{addr, zone}
	exp := c.lame.peek(k)
	if exp == nil {
		return false
	}
	if !now.Before(*exp) {
		c.lame.remove(k)
		return false
	}
	return true
}

// setNoEDNS sends queries to addr without EDNS until now+ttl (see
// hostInfo.noEDNSUntil).
func (c *infraCache) setNoEDNS(addr netip.Addr, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hostForUpdate(addr, now).noEDNSUntil = now.Add(c.ttl)
}

// hostQueryState is what building and sending a query to a server needs to
// know, read under one acquisition of the lock that every upstream query
// takes.
type hostQueryState struct {
	noEDNS    bool
	noCase    bool
	rto       time.Duration
	cookie    [maxServerCookie]byte
	cookieLen uint8
}

func (c *infraCache) queryState(addr netip.Addr, now time.Time) hostQueryState {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.host(addr, now)
	if h == nil {
		return hostQueryState{rto: initialRTO}
	}
	return hostQueryState{noEDNS: now.Before(h.noEDNSUntil), noCase: now.Before(h.noCaseUntil), rto: h.rto, cookie: h.cookie, cookieLen: h.cookieLen}
}

// setNoCase turns 0x20 off for addr until now+ttl (see hostInfo.noCaseUntil).
func (c *infraCache) setNoCase(addr netip.Addr, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hostForUpdate(addr, now).noCaseUntil = now.Add(c.ttl)
}

// setCookie remembers the server cookie of addr; nil forgets it.
func (c *infraCache) setCookie(addr netip.Addr, cookie []byte, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.hostForUpdate(addr, now)
	h.cookieLen = uint8(copy(h.cookie[:], cookie))
}

// noteNearMiss counts a near miss from addr and returns the count.
func (c *infraCache) noteNearMiss(addr netip.Addr, now time.Time) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.hostForUpdate(addr, now)
	h.nearMisses++
	return h.nearMisses
}

// candidate is one address of a zone's servers during one resolution step.
type candidate struct {
	addr  netip.Addr
	tries int
	bad   bool // lame or broken for this zone: never asked again in this step
}

// maxTriesPerServer bounds how often one server is asked in one step; a
// second try covers a lost packet when a zone has a single server.
const maxTriesPerServer = 2

// pick chooses the candidate to ask next and returns its index, or -1 when
// none is usable. Servers known lame for zone are skipped (and marked bad),
// servers set aside after repeated time-outs come last, untried servers come
// before retries, and among the rest the lowest score wins, ties broken
// at random so that load spreads over servers never measured. zone must be
// lowercase. It allocates nothing.
func (c *infraCache) pick(zone string, cands []candidate, now time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	best, ties := -1, 0
	var bestKey [3]int64
	for i := range cands {
		cd := &cands[i]
		if cd.bad || cd.tries >= maxTriesPerServer {
			continue
		}
		if c.isLame(cd.addr, zone, now) {
			cd.bad = true
			continue
		}
		// A server never measured scores 0, so that every server of a zone
		// is tried once early and its RTT learnt; otherwise the first
		// server measured below initialRTO would keep all the traffic
		// whether or not it is the fastest. (BIND gives such servers a
		// small random SRTT for the same reason.)
		score, blocked := time.Duration(0), int64(0)
		if h := c.host(cd.addr, now); h != nil {
			score = h.score
			if now.Before(h.probeAfter) {
				blocked = 1
			}
		}
		key := [3]int64{blocked, int64(cd.tries), int64(score)}
		switch {
		case best < 0 || lessKey(key, bestKey):
			best, bestKey, ties = i, key, 1
		case key == bestKey:
			ties++
			if rand.IntN(ties) == 0 {
				best = i
			}
		}
	}
	if best < 0 {
		return -1
	}
	for i := range cands {
		if i == best || cands[i].bad {
			continue
		}
		if h := c.host(cands[i].addr, now); h != nil && h.sampled {
			h.score = h.score * scoreDecayNum / scoreDecayDen
		}
	}
	return best
}

func lessKey(a, b [3]int64) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// ServerInfo is what the infra cache knows about one upstream server.
type ServerInfo struct {
	SRTT     time.Duration // smoothed round-trip time; 0 if never measured
	RTO      time.Duration // current retransmission time-out
	Timeouts int           // consecutive time-outs
	// BlockedUntil is when a server set aside after repeated time-outs may be
	// probed again; zero if it is not set aside.
	BlockedUntil time.Time
	// NoEDNS: the server rejected EDNS with FORMERR, and is asked
	// without it until NoEDNSUntil.
	NoEDNS      bool
	NoEDNSUntil time.Time
	// NoCaseUntil is when 0x20 is used again with a server that answered
	// over TCP without preserving the case of the name; zero if it is on.
	NoCaseUntil time.Time
	NearMisses  uint64 // responses that failed matching (see SpoofReason)
	Cookie      bool   // the server sent a cookie, which it must keep sending
}

func (c *infraCache) info(addr netip.Addr, now time.Time) (ServerInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.host(addr, now)
	if h == nil {
		return ServerInfo{}, false
	}
	si := ServerInfo{SRTT: h.srtt, RTO: h.rto, Timeouts: h.timeouts, BlockedUntil: h.probeAfter,
		NearMisses: h.nearMisses, Cookie: h.cookieLen > 0}
	if now.Before(h.noEDNSUntil) {
		si.NoEDNS, si.NoEDNSUntil = true, h.noEDNSUntil
	}
	if now.Before(h.noCaseUntil) {
		si.NoCaseUntil = h.noCaseUntil
	}
	return si, true
}

func (c *infraCache) isLameLocked(addr netip.Addr, zone string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.isLame(addr, lowerASCII(zone), now)
}

func (c *infraCache) sizes() (hosts, lame int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hosts.len(), c.lame.len()
}
