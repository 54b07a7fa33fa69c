package resolver

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// SpoofReason says why a response from the address and port a query went to
// was not taken as its answer: a near miss, the mark of an attacker who
// guessed the source port and is now guessing the rest.
type SpoofReason uint8

// The near-miss reasons.
const (
	SpoofNone     SpoofReason = iota
	SpoofID                   // the ID differs
	SpoofQuestion             // the question differs (name, type or class)
	SpoofCase                 // the name differs only in case (0x20)
	SpoofCookie               // the client cookie echoed is not ours
	// SpoofNoCookie: a server that has given us a cookie answered without
	// one (RFC 7873 §5.3 says to discard such a response).
	SpoofNoCookie
	spoofReasons
)

var spoofReasonNames = [...]string{"none", "id", "question", "case", "cookie", "no-cookie"}

func (r SpoofReason) String() string {
	if int(r) < len(spoofReasonNames) {
		return spoofReasonNames[r]
	}
	return "reason?"
}

// ErrSpoofSuspected is what a *SpoofError wraps.
var ErrSpoofSuspected = errors.New("resolver: spoofed response suspected")

// SpoofError is returned by a Transport that received a near miss: a
// well-formed response from the server's address and port that does not
// answer the query. The resolver then drops the UDP attempt and asks over TCP.
type SpoofError struct {
	Server netip.AddrPort
	Reason SpoofReason
}

func (e *SpoofError) Error() string {
	return fmt.Sprintf("near miss from %s: wrong %s", e.Server, e.Reason)
}

// Unwrap makes errors.Is(err, ErrSpoofSuspected) hold.
func (e *SpoofError) Unwrap() error { return ErrSpoofSuspected }

// suspects remembers the query names under attack. While a name is suspect,
// its upstream queries go over TCP and nothing learnt over UDP for it is
// cached, so that an attacker who keeps guessing wins nothing by guessing
// right once. The table is bounded: when full, the entry closest to expiry
// goes (an attacker flooding it with names costs only TCP queries).
type suspects struct {
	mu      sync.Mutex
	max     int                 // immutable after newSuspects
	hold    time.Duration       // immutable after newSuspects
	entries map[string]*suspect // guarded by mu, and so are the suspects in it
	live    atomic.Int64        // len(entries), stored under mu, read without it on the hot path
	dropped atomic.Uint64       // no lock
}

type suspect struct {
	until  time.Time
	counts [spoofReasons]uint32
}

func newSuspects(max int, hold time.Duration) *suspects {
	return &suspects{max: max, hold: hold, entries: make(map[string]*suspect)}
}

// note records a near miss for name and returns the counts so far and
// whether the name was not under suspicion before.
func (s *suspects) note(name string, why SpoofReason, now time.Time) (counts [spoofReasons]uint32, fresh bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[name]
	if e != nil && !now.Before(e.until) {
		delete(s.entries, name)
		e = nil
	}
	if e == nil {
		if len(s.entries) >= s.max {
			s.evict(now)
		}
		e = &suspect{}
		s.entries[name] = e
		fresh = true
	}
	e.until = now.Add(s.hold)
	if e.counts[why] < ^uint32(0) {
		e.counts[why]++
	}
	s.live.Store(int64(len(s.entries)))
	return e.counts, fresh
}

// evict drops expired entries, or failing that the one closest to expiry.
// s.mu must be held.
func (s *suspects) evict(now time.Time) {
	var victim string
	var first time.Time
	for k, e := range s.entries {
		if !now.Before(e.until) {
			delete(s.entries, k)
			continue
		}
		if victim == "" || e.until.Before(first) {
			victim, first = k, e.until
		}
	}
	if len(s.entries) >= s.max && victim != "" {
		delete(s.entries, victim)
		s.dropped.Add(1)
	}
}

// has reports whether name is under suspicion. It takes no lock while the
// table is empty, which is nearly always.
func (s *suspects) has(name string, now time.Time) bool {
	if s.live.Load() == 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[name]
	return e != nil && now.Before(e.until)
}

// Client cookies (RFC 7873 §4.1, RFC 9018): 8 bytes that depend on a secret
// of this resolver, our address and the server's address, so that a server
// sees a stable cookie from us, others cannot compute it, and it changes when
// our address does (no tracking across networks).
const clientCookieLen = 8

// clientCookie derives the cookie for the pair. SHA-256 over a fixed-length
// secret||client||server is a PRF here: the input length never varies, so
// length extension has nothing to extend.
func (r *Resolver) clientCookie(client, server netip.Addr) [clientCookieLen]byte {
	var buf [32 + 16 + 16]byte
	copy(buf[:32], r.cookieSecret[:])
	c, s := client.As16(), server.As16()
	copy(buf[32:48], c[:])
	copy(buf[48:], s[:])
	sum := sha256.Sum256(buf[:])
	var out [clientCookieLen]byte
	copy(out[:], sum[:])
	return out
}

// sourceAddrer is implemented by transports that know the local address of
// queries to a server (NetTransport); others get a cookie keyed by the
// unspecified address.
type sourceAddrer interface {
	SourceAddr(server netip.Addr) netip.Addr
}

func (r *Resolver) sourceAddr(server netip.Addr) netip.Addr {
	if sa, ok := r.transport.(sourceAddrer); ok {
		return sa.SourceAddr(server)
	}
	return netip.IPv6Unspecified()
}

// cookieOption builds the COOKIE option to send: our client cookie, and the
// server cookie last received from the server, if any.
func cookieOption(client [clientCookieLen]byte, server []byte) *dns.EDNS0_COOKIE {
	var buf [clientCookieLen + maxServerCookie]byte
	n := copy(buf[:], client[:])
	n += copy(buf[n:], server)
	return &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: hex.EncodeToString(buf[:n])}
}

// Server cookies are 8 to 32 bytes (RFC 7873 §4.2).
const (
	minServerCookie = 8
	maxServerCookie = 32
)

// responseCookie returns the COOKIE option of m decoded, and whether there
// was one.
func responseCookie(m *dns.Msg) ([]byte, bool) {
	opt := m.IsEdns0()
	if opt == nil {
		return nil, false
	}
	for _, o := range opt.Option {
		if c, ok := o.(*dns.EDNS0_COOKIE); ok {
			b, err := hex.DecodeString(c.Cookie)
			if err != nil {
				return []byte{}, true
			}
			return b, true
		}
	}
	return nil, false
}

// checkCookie verifies the cookie of a response to a query that carried our
// client cookie. It returns the server cookie to remember (nil for none) and
// a near-miss reason. knownServer says the server has sent us a cookie
// before.
func checkCookie(m *dns.Msg, client [clientCookieLen]byte, knownServer bool) (server []byte, why SpoofReason) {
	c, ok := responseCookie(m)
	if !ok {
		if knownServer {
			return nil, SpoofNoCookie
		}
		return nil, SpoofNone
	}
	// A COOKIE option of a length no server sends, or with a client cookie
	// that is not ours, was written by someone who did not see our query.
	if len(c) != clientCookieLen && (len(c) < clientCookieLen+minServerCookie || len(c) > clientCookieLen+maxServerCookie) {
		return nil, SpoofCookie
	}
	if !bytes.Equal(c[:clientCookieLen], client[:]) {
		return nil, SpoofCookie
	}
	if len(c) == clientCookieLen {
		return nil, SpoofNone
	}
	return c[clientCookieLen:], SpoofNone
}

// maxWarnsPerSecond bounds the spoofing warnings logged per second.
const maxWarnsPerSecond = 10

// warnLimiter allows maxWarnsPerSecond events per second of the clock.
type warnLimiter struct {
	mu     sync.Mutex
	second int64 // guarded by mu
	n      int   // guarded by mu
}

func (l *warnLimiter) allow(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := now.Unix(); s != l.second {
		l.second, l.n = s, 0
	}
	l.n++
	return l.n <= maxWarnsPerSecond
}
