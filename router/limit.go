package router

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// peerSlots is the number of per-destination budgets. Destinations share
// a slot when their keyed hashes collide, which bounds the memory whatever
// the number of destinations; the key keeps an outsider from choosing
// whose budget his packets spend.
const peerSlots = 4096

// icmpLimiter keeps the budgets of what the router originates, as Linux's
// icmp_global_allow and inet_peer_xrlim_allow do: one global token bucket
// for every message, and for errors a bucket per destination whose tokens
// are time (an error costs PeerInterval, PeerBurst of them may be saved).
// It is shared by the workers behind one mutex, taken only when the
// router is about to answer.
type icmpLimiter struct {
	cfg  ICMPConfig
	seed maphash.Seed

	mu     sync.Mutex
	credit int64             // guarded by mu; global tokens, in ns of time at PerSecond
	last   int64             // guarded by mu
	peers  [peerSlots]bucket // guarded by mu
}

// bucket is a per-destination budget: tokens in ns, and when it was last
// topped up.
type bucket struct {
	tokens, last int64
}

func newICMPLimiter(cfg ICMPConfig) *icmpLimiter {
	return &icmpLimiter{cfg: cfg, seed: maphash.MakeSeed(), credit: int64(cfg.Burst) * int64(time.Second) / int64(cfg.PerSecond)}
}

// allow reports whether a message may go to dst now; perPeer says it is
// an error, which the destination's own budget bounds as well.
func (l *icmpLimiter) allow(dst netip.Addr, now int64, perPeer bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	unit := int64(time.Second) / int64(l.cfg.PerSecond)
	l.credit = min(l.credit+now-l.last, int64(l.cfg.Burst)*unit)
	l.last = now
	if l.credit < unit {
		return false
	}
	if perPeer {
		a := dst.As16()
		b := &l.peers[maphash.Bytes(l.seed, a[:])%peerSlots]
		iv := int64(l.cfg.PeerInterval)
		if b.last == 0 {
			b.tokens = iv * int64(l.cfg.PeerBurst)
		} else {
			b.tokens = min(b.tokens+now-b.last, iv*int64(l.cfg.PeerBurst))
		}
		b.last = now
		if b.tokens < iv {
			return false
		}
		b.tokens -= iv
	}
	l.credit -= unit
	return true
}
