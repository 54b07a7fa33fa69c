package server

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/dns/wire"
	"github.com/rampart-fw/rampart/internal/siphash"
)

// DNS cookies, RFC 7873, with the interoperable server cookie of RFC 9018.
const (
	serverCookieLen = 16 // RFC 9018: version, reserved, timestamp, hash
	// cookieReplyLen is the COOKIE option data every cookie response carries.
	cookieReplyLen = wire.ClientCookieLen + serverCookieLen
	// cookieOptionLen is what the option adds to an OPT record.
	cookieOptionLen = 4 + cookieReplyLen

	cookieVersion = 1
	// A server cookie is accepted for an hour and replaced once it is more
	// than half an hour old, so a client that asks at least every half
	// hour never presents an expired one; 5 minutes of clock skew between
	// the servers of an anycast set are tolerated (RFC 9018 §4.3).
	cookieLifetime = 3600
	cookieRefresh  = 1800
	cookieSkew     = 300
)

// CookieSecretLen is the size of the server secret that keys SipHash-2-4.
const CookieSecretLen = 16

// CookieVerdict is what the COOKIE option of a query proves.
type CookieVerdict uint8

const (
	// CookieNone: the query has no COOKIE option.
	CookieNone CookieVerdict = iota
	// CookieClientOnly: a client cookie without a server cookie, the
	// first query of a client or one whose server cookie we never saw.
	CookieClientOnly
	// CookieValid: a server cookie we issued to this address in the last
	// hour (RFC 7873 §5.2.4).
	CookieValid
	// CookieInvalid: a server cookie that fails verification: forged, from
	// another address, under another secret, expired or of another
	// version. The query is answered all the same (RFC 7873 §5.2.3).
	CookieInvalid
	// CookieMalformed: an option length that no cookie has (RFC 7873
	// §5.2.2); the query gets FORMERR.
	CookieMalformed
)

var cookieVerdictNames = [...]string{"none", "client_only", "valid", "invalid", "malformed"}

func (v CookieVerdict) String() string {
	if int(v) < len(cookieVerdictNames) {
		return cookieVerdictNames[v]
	}
	return "unknown"
}

// AddressProven reports whether the client showed that it receives what is
// sent to its source address: only then is it not a spoofed victim, whose
// answers a response rate limiter may let through (RFC 7873 §5.3).
func (v CookieVerdict) AddressProven() bool { return v == CookieValid }

// cookieKeys is the secret in use and the one it replaced, which still
// verifies cookies issued before a rotation (RFC 9018 §4.4).
type cookieKeys struct {
	cur, prev [CookieSecretLen]byte
	hasPrev   bool
}

// cookieJar issues and verifies server cookies. Readers load the keys with
// one atomic pointer load, so the hit path takes no lock; the keys a
// pointer leads to are never modified.
type cookieJar struct {
	keys atomic.Pointer[cookieKeys] // read without a lock; stored under rotateMu (or by newCookieJar)
	// rotateMu serialises rotations, each of which reads the keys and
	// stores their successor: two at once would both keep the same
	// previous secret, and the cookies issued under the first new secret
	// would fail as soon as the second was installed.
	rotateMu sync.Mutex
	clock    clock.Clock // immutable after newCookieJar
}

func newCookieJar(secret []byte) (*cookieJar, error) {
	j := &cookieJar{clock: clock.System{}}
	k := new(cookieKeys)
	if err := fillSecret(&k.cur, secret); err != nil {
		return nil, err
	}
	j.keys.Store(k)
	return j, nil
}

// fillSecret copies secret into dst, or draws one from crypto/rand when it
// is nil: a guessable secret would let anyone mint valid cookies for any
// address.
func fillSecret(dst *[CookieSecretLen]byte, secret []byte) error {
	if secret == nil {
		if _, err := rand.Read(dst[:]); err != nil {
			return fmt.Errorf("server: cookie secret: %w", err)
		}
		return nil
	}
	if len(secret) != CookieSecretLen {
		return fmt.Errorf("server: cookie secret of %d bytes, want %d", len(secret), CookieSecretLen)
	}
	copy(dst[:], secret)
	return nil
}

// rotate installs a new secret and keeps the current one for verification.
func (j *cookieJar) rotate(secret []byte) error {
	j.rotateMu.Lock()
	defer j.rotateMu.Unlock()
	old := j.keys.Load()
	k := &cookieKeys{prev: old.cur, hasPrev: true}
	if err := fillSecret(&k.cur, secret); err != nil {
		return err
	}
	j.keys.Store(k)
	return nil
}

// ServerCookie computes the RFC 9018 server cookie for a client cookie and
// a client address at a time (seconds since the epoch, modulo 2^32):
// version 1, three reserved zero octets, the timestamp, and SipHash-2-4,
// keyed by secret, of all that after the client cookie and followed by the
// client's address (4 octets for IPv4, including IPv4-mapped IPv6, else
// 16).
func ServerCookie(secret [16]byte, clientCookie [8]byte, client netip.Addr, timestamp uint32) [16]byte {
	var reply [cookieReplyLen]byte
	copy(reply[:], clientCookie[:])
	makeServerCookie(&reply, &secret, client, timestamp)
	var sc [serverCookieLen]byte
	copy(sc[:], reply[wire.ClientCookieLen:])
	return sc
}

// makeServerCookie fills reply[8:] with a server cookie for the client
// cookie in reply[:8].
func makeServerCookie(reply *[cookieReplyLen]byte, secret *[CookieSecretLen]byte, client netip.Addr, ts uint32) {
	reply[8] = cookieVersion
	reply[9], reply[10], reply[11] = 0, 0, 0
	binary.BigEndian.PutUint32(reply[12:], ts)
	binary.LittleEndian.PutUint64(reply[16:], cookieHash(reply[:16], secret, client))
}

// cookieHash is SipHash-2-4 of the first 16 octets of a cookie followed by
// the client's address.
func cookieHash(head []byte, secret *[CookieSecretLen]byte, client netip.Addr) uint64 {
	var msg [16 + 16]byte
	n := copy(msg[:], head[:16])
	client = client.Unmap()
	if client.Is4() {
		a := client.As4()
		n += copy(msg[n:], a[:])
	} else if client.Is6() {
		a := client.As16()
		n += copy(msg[n:], a[:])
	}
	return sipHash24(secret, msg[:n])
}

// verdict judges the cookie option data c (found says there is one) of a
// query from client and writes into reply the option data of the answer:
// the client cookie and the server cookie to return, fresh or echoed. reply
// is set for CookieClientOnly, CookieValid and CookieInvalid.
func (j *cookieJar) verdict(c wire.Cookie, found bool, client netip.Addr, reply *[cookieReplyLen]byte) CookieVerdict {
	if !found {
		return CookieNone
	}
	if !c.Valid() {
		return CookieMalformed
	}
	copy(reply[:wire.ClientCookieLen], c.Client())
	keys := j.keys.Load()
	now := uint32(j.clock.Now().Unix())
	v := CookieClientOnly
	if len(c) > wire.ClientCookieLen {
		v = CookieInvalid
		if len(c) == cookieReplyLen && c[8] == cookieVersion {
			// Serial number arithmetic (RFC 1982): the 32-bit timestamp
			// wraps in 2106.
			age := int32(now - binary.BigEndian.Uint32(c[12:]))
			if age <= cookieLifetime && age >= -cookieSkew {
				mac := binary.LittleEndian.Uint64(c[16:])
				switch {
				case cookieHash(c, &keys.cur, client) == mac:
					v = CookieValid
					if age <= cookieRefresh {
						copy(reply[wire.ClientCookieLen:], c.Server())
						return v
					}
				case keys.hasPrev && cookieHash(c, &keys.prev, client) == mac:
					// Valid, but reissued under the new secret.
					v = CookieValid
				}
			}
		}
	}
	makeServerCookie(reply, &keys.cur, client, now)
	return v
}

// sipHash24 is SipHash-2-4 (Aumasson and Bernstein, 2012) with a 128-bit
// key, returning the 64-bit output whose little-endian octets are the
// reference implementation's output.
func sipHash24(key *[CookieSecretLen]byte, m []byte) uint64 {
	return siphash.Sum64(siphash.KeyFrom(key), m)
}
