package validate

import (
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/dnssec"
)

// finding is what the chain walk learnt about one name below a secure zone.
type finding uint8

const (
	// zoneSecure: a zone cut with a validated DNSKEY RRset (keys).
	zoneSecure finding = iota + 1
	// zoneInsecure: the chain of trust provably ends here: a delegation
	// without DS, or keys of algorithms this validator cannot use.
	zoneInsecure
	// notACut: the name exists inside its parent's zone; the walk goes on
	// below it with the parent's keys.
	notACut
	// nonexistent: the name provably does not exist, nor anything below.
	nonexistent
	// zoneBogus: the DS or DNSKEY RRset did not validate; kept for
	// Config.BogusTTL so that a broken zone does not cost a fetch and a
	// signature check per client query.
	zoneBogus
)

// link is one entry of the key cache: what is known about a name and for
// how long.
type link struct {
	kind    finding
	keys    dnssec.KeySet
	result  dnssec.Result // why, for zoneInsecure and zoneBogus
	expires time.Time
}

type cacheEntry[K comparable] struct {
	name       K
	link       link
	prev, next *cacheEntry[K]
}

// keyCache is a bounded LRU map from a key to a link: from canonical name
// for what the chain walk learnt, from name and type for the answers found
// bogus (answerKey). Lookups of a hit allocate nothing, which the
// benchmark checks.
type keyCache[K comparable] struct {
	mu        sync.Mutex
	max       int                  // immutable
	entries   map[K]*cacheEntry[K] // guarded by mu, and so are the entries
	head      cacheEntry[K]        // guarded by mu; sentinel: head.next is the most recently used
	hits      uint64               // guarded by mu
	misses    uint64               // guarded by mu
	evictions uint64               // guarded by mu
	expired   uint64               // guarded by mu
}

// answerKey is the key of an answer: canonical name and type.
type answerKey struct {
	name  string
	qtype uint16
}

func newKeyCache[K comparable](max int) *keyCache[K] {
	c := &keyCache[K]{max: max, entries: make(map[K]*cacheEntry[K], min(max, 1024))}
	c.head.prev, c.head.next = &c.head, &c.head
	return c
}

func (c *keyCache[K]) unlink(e *cacheEntry[K]) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (c *keyCache[K]) pushFront(e *cacheEntry[K]) {
	e.prev, e.next = &c.head, c.head.next
	c.head.next.prev = e
	c.head.next = e
}

// get returns the live link of name, whose names must be canonical (lower
// case, fully qualified).
func (c *keyCache[K]) get(name K, now time.Time) (link, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[name]
	if e == nil {
		c.misses++
		return link{}, false
	}
	if !now.Before(e.link.expires) {
		c.unlink(e)
		delete(c.entries, name)
		c.expired++
		c.misses++
		return link{}, false
	}
	c.unlink(e)
	c.pushFront(e)
	c.hits++
	return e.link, true
}

// put stores l for name, evicting the least recently used entry when the
// cache is full. A link whose TTL is already over is not stored.
func (c *keyCache[K]) put(name K, l link, now time.Time) {
	if !now.Before(l.expires) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[name]; e != nil {
		e.link = l
		c.unlink(e)
		c.pushFront(e)
		return
	}
	for len(c.entries) >= c.max {
		old := c.head.prev
		c.unlink(old)
		delete(c.entries, old.name)
		c.evictions++
	}
	e := &cacheEntry[K]{name: name, link: l}
	c.entries[name] = e
	c.pushFront(e)
}

// flush forgets everything, for an operator who replaced a zone's keys.
func (c *keyCache[K]) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
	c.head.prev, c.head.next = &c.head, &c.head
}

type keyCacheStats struct {
	Entries                          int
	Hits, Misses, Evictions, Expired uint64
}

func (c *keyCache[K]) stats() keyCacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return keyCacheStats{Entries: len(c.entries), Hits: c.hits, Misses: c.misses, Evictions: c.evictions, Expired: c.expired}
}

// canonicalName lowers ASCII letters and makes name fully qualified,
// without allocating when it already is both.
func canonicalName(name string) string {
	name = dns.Fqdn(name)
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' {
			b := []byte(name)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return name
}
