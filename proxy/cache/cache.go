package cache

import (
	"hash/maphash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-fw/rampart/clock"
)

// Entry is one stored response. It is read-only once stored: an update
// after a 304 stores a new Entry in its place, so that a reader holding
// the old one is never disturbed.
type Entry struct {
	Key    string
	Status int
	Header http.Header
	Body   []byte
	// Head is what the proxy writes before the body on a hit (status line
	// and fields, without Age and the connection's own fields); the cache
	// keeps it and counts it, and never reads it.
	Head []byte

	// RequestTime and ResponseTime are when the request that fetched the
	// response went out and when its response came in; Date and AgeValue
	// are the response's Date and Age fields (RFC 9111 §4.2.3).
	RequestTime, ResponseTime, Date time.Time
	AgeValue                        time.Duration
	// Lifetime is the freshness lifetime (RFC 9111 §4.2.1); Heuristic says
	// it was guessed from Last-Modified.
	Lifetime  time.Duration
	Heuristic bool
	// NoCache: every use must be revalidated; MustRevalidate: a stale
	// entry must not be served without revalidation, whatever the client
	// allows.
	NoCache, MustRevalidate bool
	ETag, LastModified      string

	// vary holds the names of the fields Vary lists (canonical) and the
	// request's values of them when the response was stored.
	varyNames, varyValues []string

	size       int64
	prev, next *Entry // the shard's LRU list, guarded by the shard's mu
}

// Age is the entry's current age at now (RFC 9111 §4.2.3).
func (e *Entry) Age(now time.Time) time.Duration {
	apparent := max(0, e.ResponseTime.Sub(e.Date))
	if e.Date.IsZero() {
		apparent = 0
	}
	delay := e.ResponseTime.Sub(e.RequestTime)
	initial := max(apparent, e.AgeValue+delay)
	return initial + max(0, now.Sub(e.ResponseTime))
}

// Fresh reports whether the entry may be served at now without
// revalidation to a request with directives req, and its age.
func (e *Entry) Fresh(now time.Time, req Directives) (age time.Duration, fresh bool) {
	age = e.Age(now)
	if e.NoCache || req.NoCache {
		return age, false
	}
	lifetime := e.Lifetime
	if req.MaxAge >= 0 && req.MaxAge < lifetime {
		lifetime = req.MaxAge
	}
	if req.MinFresh > 0 {
		age += req.MinFresh
	}
	if age < lifetime {
		return age, true
	}
	if e.MustRevalidate {
		return age, false
	}
	// The client accepts a stale response (max-stale), which a cache may
	// then serve (RFC 9111 §4.2.4).
	if req.MaxStaleAny || (req.MaxStale >= 0 && age-lifetime <= req.MaxStale) {
		return age, true
	}
	return age, false
}

// Config is the cache's configuration.
type Config struct {
	// MaxBytes bounds the memory the entries take (bodies, fields, keys
	// and a fixed overhead each).
	MaxBytes int64
	// MaxObject bounds one entry; 0 means MaxBytes/64, at least 64 KiB.
	MaxObject int64
	Clock     clock.Clock
}

const (
	// maxShards bounds the lock shards; a shard holds at least
	// minShardBytes, because each shard is an LRU of its own: shards too
	// small make the least recently used entry of the whole cache a poor
	// guess (a 1 MiB cache in 16 shards keeps six 10 KiB bodies a shard,
	// and an entry in constant use falls out when a seventh lands beside
	// it).
	maxShards     = 16
	minShardBytes = 4 << 20
	// entryOverhead is a guess of an entry's fixed cost in memory.
	entryOverhead = 256
	// maxVariants bounds the stored variants of one URL.
	maxVariants = 8
	// maxHeuristic caps a lifetime guessed from Last-Modified.
	maxHeuristic = 24 * time.Hour
)

// Cache is a memory-bounded shared cache, safe for concurrent use.
type Cache struct {
	clock     clock.Clock
	maxObject int64
	seed      maphash.Seed
	shards    []shard // fixed at New; each guards its own entries

	hits, misses, stores, updates, evictions atomic.Uint64
}

type shard struct {
	mu      sync.Mutex
	entries map[string][]*Entry // guarded by mu: variants of a key
	head    *Entry              // guarded by mu: most recently used
	tail    *Entry              // guarded by mu: least recently used
	bytes   int64               // guarded by mu
	max     int64
}

// New returns an empty cache.
func New(cfg Config) *Cache {
	c := &Cache{clock: clock.Or(cfg.Clock), seed: maphash.MakeSeed(), maxObject: cfg.MaxObject}
	if c.maxObject <= 0 {
		c.maxObject = max(cfg.MaxBytes/64, 64<<10)
	}
	n := int(min(max(cfg.MaxBytes/minShardBytes, 1), maxShards))
	per := cfg.MaxBytes / int64(n)
	c.maxObject = min(c.maxObject, per)
	c.shards = make([]shard, n)
	for i := range c.shards {
		c.shards[i] = shard{entries: map[string][]*Entry{}, max: per}
	}
	return c
}

// MaxObject is the largest body the cache stores.
func (c *Cache) MaxObject() int64 { return c.maxObject }

func (c *Cache) shard(key string) *shard {
	return &c.shards[maphash.String(c.seed, key)%uint64(len(c.shards))]
}

// Lookup returns the stored variant of key whose Vary fields match req,
// or nil. It does not allocate.
func (c *Cache) Lookup(key string, req http.Header) *Entry {
	s := c.shard(key)
	s.mu.Lock()
	for _, e := range s.entries[key] {
		if e.varyMatches(req) {
			s.touch(e)
			s.mu.Unlock()
			c.hits.Add(1)
			return e
		}
	}
	s.mu.Unlock()
	c.misses.Add(1)
	return nil
}

func (e *Entry) varyMatches(req http.Header) bool {
	for i, name := range e.varyNames {
		if fieldValue(req[name]) != e.varyValues[i] {
			return false
		}
	}
	return true
}

// fieldValue joins a field's lines as a recipient may (RFC 9110 §5.3);
// for the usual single line it does not allocate.
func fieldValue(v []string) string {
	switch len(v) {
	case 0:
		return ""
	case 1:
		return strings.TrimSpace(v[0])
	}
	return strings.TrimSpace(strings.Join(v, ", "))
}

// heuristicStatus are the status codes cacheable by default (RFC 9110
// §15.1) that the cache stores.
var heuristicStatus = map[int]bool{200: true, 203: true, 204: true, 300: true, 301: true, 308: true, 404: true, 405: true, 410: true, 414: true, 501: true}

// Storable reports whether a response to a request may be stored by a
// shared cache (RFC 9111 §3), with the reason when it may not. Beyond the
// RFC, a response that sets a cookie is not stored: serving one client's
// cookie to another is the classic shared-cache leak.
func Storable(method string, reqHeader http.Header, status int, respHeader http.Header) (bool, string) {
	if method != http.MethodGet {
		return false, "method " + method
	}
	if !heuristicStatus[status] {
		return false, "status " + strconv.Itoa(status)
	}
	req, resp := ParseDirectives(reqHeader), ParseDirectives(respHeader)
	switch {
	case req.NoStore || resp.NoStore:
		return false, "no-store"
	case resp.Private:
		return false, "private"
	case reqHeader.Get("Authorization") != "" && !resp.Public && resp.SMaxAge < 0 && !resp.MustRevalidate:
		return false, "authorization"
	case len(respHeader["Set-Cookie"]) > 0:
		return false, "set-cookie"
	}
	for _, v := range respHeader["Vary"] {
		if strings.Contains(v, "*") {
			return false, "vary *"
		}
	}
	if resp.MaxAge >= 0 || resp.SMaxAge >= 0 || respHeader.Get("Expires") != "" || resp.NoCache ||
		respHeader.Get("Last-Modified") != "" || respHeader.Get("ETag") != "" || resp.Public {
		return true, ""
	}
	return false, "no freshness or validator"
}

// Store keeps a response for key (the caller has checked Storable) and
// returns the new entry, or nil when the body is too large. head is the
// proxy's serialised header (Entry.Head).
func (c *Cache) Store(key string, reqHeader http.Header, status int, respHeader http.Header, body, head []byte, reqTime, respTime time.Time) *Entry {
	if int64(len(body)) > c.maxObject {
		return nil
	}
	e := newEntry(key, reqHeader, status, respHeader, body, head, reqTime, respTime)
	c.put(e)
	c.stores.Add(1)
	return e
}

// Update freshens a stored entry after a 304 response (RFC 9111 §4.3.4):
// merged (MergeHeader of the stored fields and the 304's) replaces the
// stored fields, the body is kept. It returns the new entry, which has
// taken old's place. head is the serialised header of merged.
func (c *Cache) Update(old *Entry, reqHeader, merged http.Header, head []byte, reqTime, respTime time.Time) *Entry {
	e := newEntry(old.Key, reqHeader, old.Status, merged, old.Body, head, reqTime, respTime)
	c.put(e)
	c.updates.Add(1)
	return e
}

// MergeHeader is a stored header updated by a 304's fields (RFC 9111
// §3.2): each field the 304 has replaces the stored one, except those
// that describe the body.
func MergeHeader(stored, notModified http.Header) http.Header {
	h := stored.Clone()
	for k, v := range notModified {
		switch k {
		case "Content-Length", "Content-Encoding", "Transfer-Encoding", "Content-Range":
			continue
		}
		h[k] = v
	}
	return h
}

func newEntry(key string, reqHeader http.Header, status int, h http.Header, body, head []byte, reqTime, respTime time.Time) *Entry {
	d := ParseDirectives(h)
	e := &Entry{
		Key: key, Status: status, Header: h, Body: body, Head: head,
		RequestTime: reqTime, ResponseTime: respTime,
		NoCache:        d.NoCache,
		MustRevalidate: d.MustRevalidate || d.ProxyRevalidate || d.SMaxAge >= 0,
		ETag:           h.Get("ETag"),
		LastModified:   h.Get("Last-Modified"),
	}
	if date, err := http.ParseTime(h.Get("Date")); err == nil {
		e.Date = date
	}
	if age, err := strconv.ParseUint(strings.TrimSpace(h.Get("Age")), 10, 64); err == nil {
		e.AgeValue = time.Duration(min(age, maxDelta)) * time.Second
	}
	e.Lifetime, e.Heuristic = lifetime(h, d, e.Date, respTime)
	for _, v := range h["Vary"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				name = http.CanonicalHeaderKey(name)
				e.varyNames = append(e.varyNames, name)
				e.varyValues = append(e.varyValues, fieldValue(reqHeader[name]))
			}
		}
	}
	e.size = entryOverhead + int64(len(key)+len(body)+len(head))
	for k, vs := range h {
		e.size += int64(len(k))
		for _, v := range vs {
			e.size += int64(len(v)) + 16
		}
	}
	return e
}

// lifetime is the freshness lifetime (RFC 9111 §4.2.1) for a shared
// cache: s-maxage, max-age, Expires less Date, else a tenth of the time
// since Last-Modified (at most a day).
func lifetime(h http.Header, d Directives, date, respTime time.Time) (time.Duration, bool) {
	switch {
	case d.SMaxAge >= 0:
		return d.SMaxAge, false
	case d.MaxAge >= 0:
		return d.MaxAge, false
	}
	if v := h.Get("Expires"); v != "" {
		exp, err := http.ParseTime(v)
		if err != nil {
			return 0, false // an invalid Expires is in the past
		}
		base := date
		if base.IsZero() {
			base = respTime
		}
		return max(0, exp.Sub(base)), false
	}
	if lm, err := http.ParseTime(h.Get("Last-Modified")); err == nil {
		base := date
		if base.IsZero() {
			base = respTime
		}
		if since := base.Sub(lm); since > 0 {
			return min(since/10, maxHeuristic), true
		}
	}
	return 0, false
}

// put stores e, replacing the variant with the same Vary values, and
// evicts the least recently used entries of the shard until it fits.
func (c *Cache) put(e *Entry) {
	s := c.shard(e.Key)
	s.mu.Lock()
	defer s.mu.Unlock()
	vs := s.entries[e.Key]
	for i, old := range vs {
		if sameVariant(old, e) {
			s.unlink(old)
			vs = append(vs[:i], vs[i+1:]...)
			break
		}
	}
	if len(vs) >= maxVariants {
		s.unlink(vs[0])
		vs = vs[1:]
	}
	s.entries[e.Key] = append(vs, e)
	s.pushFront(e)
	for s.bytes > s.max && s.tail != nil && s.tail != e {
		victim := s.tail
		s.remove(victim)
		c.evictions.Add(1)
	}
}

func sameVariant(a, b *Entry) bool {
	if len(a.varyNames) != len(b.varyNames) {
		return false
	}
	for i := range a.varyNames {
		if a.varyNames[i] != b.varyNames[i] || a.varyValues[i] != b.varyValues[i] {
			return false
		}
	}
	return true
}

// Remove drops every variant of key (after an unsafe method changed the
// resource, RFC 9111 §4.4).
func (c *Cache) Remove(key string) {
	s := c.shard(key)
	s.mu.Lock()
	for _, e := range s.entries[key] {
		s.unlink(e)
	}
	delete(s.entries, key)
	s.mu.Unlock()
}

// Purge empties the cache (a reload whose content filter changed: stored
// bodies were filtered by the old one).
func (c *Cache) Purge() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.entries = map[string][]*Entry{}
		s.head, s.tail, s.bytes = nil, nil, 0
		s.mu.Unlock()
	}
}

// remove takes e out of the map and the list.
func (s *shard) remove(e *Entry) {
	vs := s.entries[e.Key]
	for i, v := range vs {
		if v == e {
			vs = append(vs[:i:i], vs[i+1:]...)
			break
		}
	}
	if len(vs) == 0 {
		delete(s.entries, e.Key)
	} else {
		s.entries[e.Key] = vs
	}
	s.unlink(e)
}

func (s *shard) pushFront(e *Entry) {
	e.prev, e.next = nil, s.head
	if s.head != nil {
		s.head.prev = e
	}
	s.head = e
	if s.tail == nil {
		s.tail = e
	}
	s.bytes += e.size
}

func (s *shard) unlink(e *Entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else if s.head == e {
		s.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else if s.tail == e {
		s.tail = e.prev
	}
	e.prev, e.next = nil, nil
	s.bytes -= e.size
}

func (s *shard) touch(e *Entry) {
	if s.head == e {
		return
	}
	s.unlink(e)
	s.pushFront(e)
}

// Stats are the cache's counters and sizes.
type Stats struct {
	Hits, Misses, Stores, Updates, Evictions uint64
	Entries                                  int
	Bytes                                    int64
}

// Stats returns the counters and the current size.
func (c *Cache) Stats() Stats {
	st := Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Stores: c.stores.Load(), Updates: c.updates.Load(), Evictions: c.evictions.Load()}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for _, vs := range s.entries {
			st.Entries += len(vs)
		}
		st.Bytes += s.bytes
		s.mu.Unlock()
	}
	return st
}

// Now is the cache's clock.
func (c *Cache) Now() time.Time { return c.clock.Now() }
