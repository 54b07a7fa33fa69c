package classify

import (
	"hash/maphash"
	"net/netip"
	"time"

	"github.com/rampart-fw/rampart/clock"
)

// LimiterConfig configures a Limiter. The zero value gives ufw's limit:
// a source that opens its sixth connection within 30 seconds is denied.
type LimiterConfig struct {
	// Sources is the number of source addresses tracked at once; 0 means
	// 65536. It is rounded up to a multiple of the table's associativity.
	Sources int
	// Hits is the number of new connections within Window that gets a
	// source denied, this one included; 0 means 6.
	Hits int
	// Window is the time over which connections count; 0 means 30s.
	Window time.Duration
	// Clock tells the time; nil means the system clock. Tests and offline
	// replay (capture timestamps) inject their own. Allow reads it once.
	Clock clock.Clock
}

// LimiterStats counts what a Limiter did.
type LimiterStats struct {
	Allowed, Denied uint64
	// Evictions counts sources forgotten to make room while their window
	// was still open: each one is a source whose count restarted early.
	Evictions uint64
}

// ways is the associativity of the Limiter's table: a new source replaces
// the stalest of the entries in its set.
const ways = 8

type limiterEntry struct {
	addr  netip.Addr
	last  time.Duration // newest connection
	next  uint8         // ring position of the next timestamp
	count uint8         // timestamps held, up to Hits
}

// Limiter keeps the rate state behind the Limit action, as ufw's limit rules
// do with iptables' recent module: every new connection from a source is
// recorded, and the source is denied while Hits or more fall within Window.
// Memory is fixed at creation: a set-associative table of Sources entries
// with Hits timestamps each; when a set is full, the entry whose last
// connection is oldest is evicted and counted. A Limiter is not safe for
// concurrent use; the gateway gives each worker its own, since a flow's
// packets go to one worker.
type Limiter struct {
	cfg   LimiterConfig
	clock clock.Clock
	// Timestamps are durations since origin, the time of the first Allow
	// (not of NewLimiter: a capture's clock tells no time before its first
	// packet). On the system clock both readings carry the monotonic clock,
	// so a step of the wall clock does not move them.
	origin  time.Time
	started bool
	// system: clock is the system clock, whose elapsed time time.Since
	// reads from the monotonic clock alone, at half the cost of Now and
	// Sub.
	system  bool
	seed    maphash.Seed
	sets    uint64 // number of sets, a power of two
	entries []limiterEntry
	stamps  []time.Duration // Hits per entry, a ring
	stats   LimiterStats
}

// NewLimiter returns a Limiter with cfg's defaults filled in.
func NewLimiter(cfg LimiterConfig) *Limiter {
	if cfg.Sources <= 0 {
		cfg.Sources = 65536
	}
	if cfg.Hits <= 0 {
		cfg.Hits = 6
	}
	if cfg.Hits > 255 {
		cfg.Hits = 255
	}
	if cfg.Window <= 0 {
		cfg.Window = 30 * time.Second
	}
	clk := clock.Or(cfg.Clock)
	_, system := clk.(clock.System)
	sets := uint64(1)
	for sets*ways < uint64(cfg.Sources) {
		sets <<= 1
	}
	n := int(sets) * ways
	return &Limiter{
		cfg:     cfg,
		clock:   clk,
		system:  system,
		seed:    maphash.MakeSeed(),
		sets:    sets,
		entries: make([]limiterEntry, n),
		stamps:  make([]time.Duration, n*cfg.Hits),
	}
}

// Allow records a new connection from src and reports whether it may
// proceed. It allocates nothing.
func (l *Limiter) Allow(src netip.Addr) bool {
	now := l.elapsed()
	src = src.WithZone("")
	b := src.As16()
	set := int(maphash.Bytes(l.seed, b[:])&(l.sets-1)) * ways
	victim := set
	for i := set; i < set+ways; i++ {
		e := &l.entries[i]
		if e.count > 0 && e.addr == src {
			return l.record(i, now)
		}
		if l.staler(e, &l.entries[victim], now) {
			victim = i
		}
	}
	v := &l.entries[victim]
	if l.live(v, now) {
		l.stats.Evictions++
	}
	*v = limiterEntry{addr: src}
	return l.record(victim, now)
}

// elapsed reads the clock as a timestamp: the time since origin.
func (l *Limiter) elapsed() time.Duration {
	if l.started && l.system {
		return time.Since(l.origin)
	}
	t := l.clock.Now()
	if !l.started {
		l.origin, l.started = t, true
	}
	return t.Sub(l.origin)
}

// live reports whether e holds a source whose window is still open.
func (l *Limiter) live(e *limiterEntry, now time.Duration) bool {
	return e.count > 0 && now-e.last < l.cfg.Window
}

// staler reports whether a is a better entry to reuse than b: free or
// expired entries first, then the one whose source was seen longest ago.
func (l *Limiter) staler(a, b *limiterEntry, now time.Duration) bool {
	la, lb := l.live(a, now), l.live(b, now)
	if la != lb {
		return !la
	}
	return la && a.last < b.last
}

// record adds a connection at now to entry i and decides.
func (l *Limiter) record(i int, now time.Duration) bool {
	e := &l.entries[i]
	hits := l.cfg.Hits
	ring := l.stamps[i*hits : (i+1)*hits]
	ring[e.next] = now
	e.next = uint8((int(e.next) + 1) % hits)
	if int(e.count) < hits {
		e.count++
	}
	e.last = now
	recent := 0
	for _, t := range ring[:e.count] {
		if now-t < l.cfg.Window {
			recent++
		}
	}
	if recent >= hits {
		l.stats.Denied++
		return false
	}
	l.stats.Allowed++
	return true
}

// Stats returns the counters.
func (l *Limiter) Stats() LimiterStats { return l.stats }

// Capacity returns the number of sources the table holds.
func (l *Limiter) Capacity() int { return len(l.entries) }
