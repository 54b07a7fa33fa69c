package server

import (
	"hash/maphash"
	"net/netip"
	"sync"
)

// clientShards is the number of independently locked parts of a
// clientCounts: the slow path of both cores takes one lock per query, not
// one lock between them.
const clientShards = 16

// clientCounts counts what each client holds at once (queries waiting for
// resolution, open TCP connections) against a limit. A client is the
// network of its address at bits4 or bits6 bits: a host owns every address
// of its IPv6 /64 and often more, and the hosts of one IPv4 /24 are
// usually one site, so counting per address would give one attacker as
// many allowances as it has addresses to send from. A client's entry is
// removed when its count returns to zero, so the table holds no more
// clients than there are things being counted.
type clientCounts struct {
	bits4, bits6 int          // immutable after newClientCounts
	seed         maphash.Seed // immutable after newClientCounts
	shards       [clientShards]clientShard
}

type clientShard struct {
	mu sync.Mutex
	n  map[netip.Prefix]int // guarded by mu; never holds a zero count
}

func newClientCounts(bits4, bits6 int) *clientCounts {
	c := &clientCounts{bits4: bits4, bits6: bits6, seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].n = make(map[netip.Prefix]int)
	}
	return c
}

// client returns the network a's client is counted as. An IPv4-mapped
// IPv6 address (from a dual-stack socket) is the IPv4 client it maps.
func (c *clientCounts) client(a netip.Addr) netip.Prefix {
	return clientPrefix(a, c.bits4, c.bits6)
}

// clientPrefix is the network of a at bits4 or bits6 bits: the client a
// belongs to. An IPv4-mapped IPv6 address (from a dual-stack socket) is
// the IPv4 client it maps.
func clientPrefix(a netip.Addr, bits4, bits6 int) netip.Prefix {
	a = a.Unmap()
	bits := bits6
	if a.Is4() {
		bits = bits4
	}
	p, _ := a.Prefix(bits) // drops any zone; bits is in range (New checks it)
	return p
}

func (c *clientCounts) shard(p netip.Prefix) *clientShard {
	return &c.shards[maphash.Comparable(c.seed, p)%clientShards]
}

// acquire counts one more for a's client when it holds fewer than limit
// (a negative limit is no limit), and reports whether it did.
func (c *clientCounts) acquire(a netip.Addr, limit int) bool {
	p := c.client(a)
	sh := c.shard(p)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	n := sh.n[p]
	if limit >= 0 && n >= limit {
		return false
	}
	sh.n[p] = n + 1
	return true
}

// release gives back what acquire counted for a's client.
func (c *clientCounts) release(a netip.Addr) {
	p := c.client(a)
	sh := c.shard(p)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	switch n := sh.n[p]; {
	case n > 1:
		sh.n[p] = n - 1
	case n == 1:
		delete(sh.n, p)
	}
}

// held returns what a's client holds now.
func (c *clientCounts) held(a netip.Addr) int {
	p := c.client(a)
	sh := c.shard(p)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.n[p]
}

// admitWait counts a query from src that is about to wait for resolution,
// within its client's wait limit (WaitLimitCookie when the query's cookie
// v proved the address), and reports whether it may wait; a query that
// may not is answered SERVFAIL at once. Every admitted query must be
// handed to doneWaiting when it stops waiting.
func (s *Server) admitWait(src netip.Addr, v CookieVerdict) bool {
	if s.waits == nil || s.waitExempt(src) {
		return true
	}
	limit := s.cfg.WaitLimit
	if v.AddressProven() {
		limit = s.cfg.WaitLimitCookie
	}
	return s.waits.acquire(src, limit)
}

// doneWaiting releases what admitWait counted for a query from src.
func (s *Server) doneWaiting(src netip.Addr) {
	if s.waits == nil || s.waitExempt(src) {
		return
	}
	s.waits.release(src)
}

func (s *Server) waitExempt(src netip.Addr) bool {
	src = src.Unmap().WithZone("")
	for _, p := range s.cfg.WaitLimitExempt {
		if p.Contains(src) {
			return true
		}
	}
	return false
}
