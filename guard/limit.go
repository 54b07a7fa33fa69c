package guard

import (
	"errors"
	"hash/maphash"
	"math"
	"net/netip"
	"sync/atomic"
	"time"
)

// Limit is a token bucket: Rate events per second on average, Burst at
// once. The zero Limit is no limit.
type Limit struct {
	Rate  float64
	Burst int
}

// Limits are the guard's rate limits; a zero Limit is off.
type Limits struct {
	// NewConnectionsPerSource bounds the new connections one source
	// address may open (the policy's allowed ones, and SYNs the proxy
	// answers).
	NewConnectionsPerSource Limit
	// ICMPPerSource bounds the ICMP and ICMPv6 messages one source may
	// send through, neighbour discovery and multicast listener messages
	// excepted.
	ICMPPerSource Limit
	// SYNPerDestination bounds the SYNs one destination address receives
	// (those the proxy answers included).
	SYNPerDestination Limit
}

// IsZero reports whether l is no limit.
func (l Limit) IsZero() bool { return l.Rate == 0 && l.Burst == 0 }

func (l Limit) check() error {
	if !(l.Rate > 0) || math.IsInf(l.Rate, 0) || l.Rate > 1e9 {
		return errors.New("the rate must be above 0 and at most 1e9 per second")
	}
	if l.Burst < 1 || l.Burst > 1<<30 {
		return errors.New("the burst must be 1 to 1073741824")
	}
	return nil
}

// Sketch sizes: per-source limits see whatever addresses an attacker
// forges, so their rows are large enough that a flood from random sources
// spreads thin (at 2^16 buckets a row, a million packets per second of
// random sources put 15 a second into each); destinations are the
// network's own hosts.
const (
	sourceSketchRows = 1 << 16
	destSketchRows   = 1 << 12
)

// sketch is a rate limiter keyed by address whose memory is fixed: two
// rows of GCRA buckets (each a theoretical arrival time, one atomic word),
// an address hashing to one bucket in each, in the manner of a count-min
// sketch. An address's state is the less loaded of its two buckets, so it
// is limited only when both are over the rate: another address in one of
// them (by chance; the hash is keyed) does not limit it alone. A flood of
// forged sources costs no memory, only the even load it spreads.
type sketch struct {
	rows     [2][]atomic.Int64 // theoretical arrival times, Unix nanoseconds; atomic, no lock
	mask     uint64            // immutable
	seed     maphash.Seed      // immutable
	interval int64             // immutable: nanoseconds per event at the rate
	tau      int64             // immutable: how far ahead of now a bucket may run, (burst-1) intervals
}

func newSketch(l Limit, rows int) *sketch {
	s := &sketch{mask: uint64(rows - 1), seed: maphash.MakeSeed()}
	s.interval = max(int64(float64(time.Second)/l.Rate), 1)
	s.tau = int64(l.Burst-1) * s.interval
	for i := range s.rows {
		s.rows[i] = make([]atomic.Int64, rows)
	}
	return s
}

// allow counts one event for a at now (Unix nanoseconds) and reports
// whether it is within the limit. Refused events are not counted, so a
// source over its rate regains its tokens at the rate (GCRA), whatever it
// keeps sending.
func (s *sketch) allow(a netip.Addr, now int64) bool {
	b := a.As16()
	h := maphash.Bytes(s.seed, b[:])
	b0 := &s.rows[0][h&s.mask]
	b1 := &s.rows[1][(h>>32)&s.mask]
	t0, t1 := b0.Load(), b1.Load()
	tat := max(min(t0, t1), now)
	if tat-now > s.tau {
		return false
	}
	next := tat + s.interval
	// Conservative update: raise each bucket to next, never lower one.
	for _, c := range [2]*atomic.Int64{b0, b1} {
		for {
			cur := c.Load()
			if cur >= next || c.CompareAndSwap(cur, next) {
				break
			}
		}
	}
	return true
}

// bucket is one GCRA bucket for a single key (a feature rule).
type bucket struct {
	tat      atomic.Int64
	interval int64 // immutable
	tau      int64 // immutable
}

func newBucket(l Limit) *bucket {
	b := &bucket{interval: max(int64(float64(time.Second)/l.Rate), 1)}
	b.tau = int64(l.Burst-1) * b.interval
	return b
}

func (b *bucket) allow(now int64) bool {
	for {
		cur := b.tat.Load()
		tat := max(cur, now)
		if tat-now > b.tau {
			return false
		}
		if b.tat.CompareAndSwap(cur, tat+b.interval) {
			return true
		}
	}
}
