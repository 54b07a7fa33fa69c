package cache

import (
	"fmt"
	"math"
	"time"

	"github.com/rampart-fw/rampart/clock"
)

// Defaults, chosen to match Unbound where Unbound has an equivalent.
const (
	DefaultMaxBytes       = 64 << 20
	DefaultMaxTTL         = 86400 * time.Second // cache-max-ttl
	DefaultMaxNegativeTTL = 3600 * time.Second  // cache-max-negative-ttl
	DefaultStaleTTL       = 30 * time.Second    // serve-expired-reply-ttl, RFC 8767 §4
	DefaultStaleMaxAge    = 86400 * time.Second // serve-expired-ttl
	DefaultEDNSUDPSize    = 1232                // DNS flag day 2020
	maxShards             = 4096
	// minShardBytes keeps shards large enough to hold a full-sized UDP
	// answer several times over; below it, per-shard imbalance would
	// waste much of a small budget.
	minShardBytes = 4 << 10
	// autoShardBytes is the smallest shard the default shard count
	// produces: 256 shards at the default 64 MiB.
	autoShardBytes = 256 << 10
	autoMaxShards  = 256
	// maxTTLLimit is the largest TTL RFC 2181 §8 allows.
	maxTTLLimit = math.MaxInt32 * time.Second
)

// Config sets the limits and the clock of a Cache. The zero value is valid
// and means the defaults above.
type Config struct {
	// MaxBytes bounds the memory of stored entries, overhead included.
	// Zero means DefaultMaxBytes.
	MaxBytes int64
	// Shards is the number of independently locked parts, a power of two.
	// Zero picks one shard per 256 KiB of MaxBytes, between 1 and 256.
	Shards int

	// MinTTL raises smaller TTLs of positive data (default 0: keep them).
	MinTTL time.Duration
	// MaxTTL caps TTLs of positive data. Zero means DefaultMaxTTL.
	MaxTTL time.Duration
	// MinNegativeTTL raises smaller negative TTLs (default 0).
	MinNegativeTTL time.Duration
	// MaxNegativeTTL caps negative TTLs. Zero means DefaultMaxNegativeTTL.
	MaxNegativeTTL time.Duration

	// ServeStale lets lookups that ask for it return expired data
	// (RFC 8767). Off by default.
	ServeStale bool
	// StaleTTL is the TTL put on stale records. Zero means DefaultStaleTTL.
	StaleTTL time.Duration
	// StaleMaxAge is how long after expiry data may still be served stale.
	// Zero means DefaultStaleMaxAge.
	StaleMaxAge time.Duration

	// EDNSUDPSize is the UDP payload size advertised in the OPT record of
	// answers built by AnswerFromWire. Zero means DefaultEDNSUDPSize.
	EDNSUDPSize uint16

	// Clock is read where no time is passed in (AnswerFromWire, a zero now
	// argument). Nil means the system clock.
	Clock clock.Clock
}

// settings is a validated Config converted to the units the hot paths use.
// It is immutable once New returns, and read without a lock.
type settings struct {
	maxBytes    int64
	shards      int
	minTTL      uint32
	maxTTL      uint32
	minNegTTL   uint32
	maxNegTTL   uint32
	serveStale  bool
	staleTTL    uint32
	staleMaxAge int64 // nanoseconds
	ednsUDPSize uint16
	clock       clock.Clock
}

func (cfg Config) settings() (settings, error) {
	s := settings{
		maxBytes:    cfg.MaxBytes,
		shards:      cfg.Shards,
		serveStale:  cfg.ServeStale,
		ednsUDPSize: cfg.EDNSUDPSize,
		clock:       clock.Or(cfg.Clock),
	}
	if s.maxBytes < 0 {
		return s, fmt.Errorf("cache: config: MaxBytes %d is negative", s.maxBytes)
	}
	if s.maxBytes == 0 {
		s.maxBytes = DefaultMaxBytes
	}
	if s.shards < 0 || s.shards > maxShards || s.shards&(s.shards-1) != 0 {
		return s, fmt.Errorf("cache: config: Shards %d is not a power of two between 1 and %d", s.shards, maxShards)
	}
	if s.shards == 0 {
		s.shards = 1
		for s.shards < autoMaxShards && s.maxBytes/int64(s.shards*2) >= autoShardBytes {
			s.shards *= 2
		}
	}
	if s.maxBytes/int64(s.shards) < minShardBytes {
		return s, fmt.Errorf("cache: config: MaxBytes %d over %d shards leaves less than %d bytes per shard", s.maxBytes, s.shards, minShardBytes)
	}

	durations := []struct {
		name string
		in   time.Duration
		def  time.Duration
		out  *uint32
	}{
		{"MinTTL", cfg.MinTTL, 0, &s.minTTL},
		{"MaxTTL", cfg.MaxTTL, DefaultMaxTTL, &s.maxTTL},
		{"MinNegativeTTL", cfg.MinNegativeTTL, 0, &s.minNegTTL},
		{"MaxNegativeTTL", cfg.MaxNegativeTTL, DefaultMaxNegativeTTL, &s.maxNegTTL},
		{"StaleTTL", cfg.StaleTTL, DefaultStaleTTL, &s.staleTTL},
	}
	for _, d := range durations {
		v := d.in
		if v < 0 {
			return s, fmt.Errorf("cache: config: %s %v is negative", d.name, v)
		}
		if v == 0 {
			v = d.def
		}
		if v > maxTTLLimit {
			return s, fmt.Errorf("cache: config: %s %v exceeds the RFC 2181 TTL limit of %v", d.name, v, maxTTLLimit)
		}
		if v%time.Second != 0 {
			return s, fmt.Errorf("cache: config: %s %v is not a whole number of seconds", d.name, v)
		}
		*d.out = uint32(v / time.Second)
	}
	if s.minTTL > s.maxTTL {
		return s, fmt.Errorf("cache: config: MinTTL %ds exceeds MaxTTL %ds", s.minTTL, s.maxTTL)
	}
	if s.minNegTTL > s.maxNegTTL {
		return s, fmt.Errorf("cache: config: MinNegativeTTL %ds exceeds MaxNegativeTTL %ds", s.minNegTTL, s.maxNegTTL)
	}

	age := cfg.StaleMaxAge
	if age < 0 {
		return s, fmt.Errorf("cache: config: StaleMaxAge %v is negative", age)
	}
	if age == 0 {
		age = DefaultStaleMaxAge
	}
	s.staleMaxAge = int64(age)

	if s.ednsUDPSize == 0 {
		s.ednsUDPSize = DefaultEDNSUDPSize
	}
	if s.ednsUDPSize < 512 {
		return s, fmt.Errorf("cache: config: EDNSUDPSize %d is below the 512 octets every DNS client accepts", s.ednsUDPSize)
	}
	return s, nil
}
