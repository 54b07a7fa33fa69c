package server

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/internal/siphash"
)

// DNS cookies, RFC 7873, with the interoperable server cookie of RFC 9018.
const (
	optionCookie = 10 // EDNS option code of COOKIE
	typeOPT      = 41
	optRRLen     = 11 // root owner, type, class, TTL, RDLENGTH

	clientCookieLen = 8
	serverCookieLen = 16 // RFC 9018: version, reserved, timestamp, hash
	// cookieReplyLen is the COOKIE option data every cookie response carries.
	cookieReplyLen = clientCookieLen + serverCookieLen
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
	copy(sc[:], reply[clientCookieLen:])
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
func (j *cookieJar) verdict(c []byte, found bool, client netip.Addr, reply *[cookieReplyLen]byte) CookieVerdict {
	if !found {
		return CookieNone
	}
	l := len(c)
	if l != clientCookieLen && (l < clientCookieLen+8 || l > clientCookieLen+32) {
		return CookieMalformed
	}
	copy(reply[:clientCookieLen], c)
	keys := j.keys.Load()
	now := uint32(j.clock.Now().Unix())
	v := CookieClientOnly
	if l > clientCookieLen {
		v = CookieInvalid
		if l == cookieReplyLen && c[8] == cookieVersion {
			// Serial number arithmetic (RFC 1982): the 32-bit timestamp
			// wraps in 2106.
			age := int32(now - binary.BigEndian.Uint32(c[12:]))
			if age <= cookieLifetime && age >= -cookieSkew {
				mac := binary.LittleEndian.Uint64(c[16:])
				switch {
				case cookieHash(c, &keys.cur, client) == mac:
					v = CookieValid
					if age <= cookieRefresh {
						copy(reply[clientCookieLen:], c[clientCookieLen:])
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

// queryEDNS is what the server needs from a query's OPT record.
type queryEDNS struct {
	udpSize     int    // the client's UDP payload size, at least 512; 0 without OPT
	cookie      []byte // the COOKIE option's data (the first one)
	cookieFound bool
}

var (
	errTruncatedRecord = errors.New("record runs past the end of the message")
	errTwoOPT          = errors.New("more than one OPT record") // FORMERR, RFC 6891 §6.1.1
)

// scanEDNS walks the records after the question, which ends at off, to the
// OPT record and its COOKIE option. It reads names only to skip them
// (pointers end a name, and are never followed), so it cannot loop, and it
// never reads outside q. Errors name the offset.
func scanEDNS(q []byte, off int) (queryEDNS, error) {
	var e queryEDNS
	if len(q) < headerLen || off < headerLen {
		return e, fmt.Errorf("offset %d: %w", max(off, 0), errTruncatedRecord)
	}
	an := int(binary.BigEndian.Uint16(q[6:]))
	ns := int(binary.BigEndian.Uint16(q[8:]))
	ar := int(binary.BigEndian.Uint16(q[10:]))
	for i := 0; i < an+ns+ar; i++ {
		start := off
		for {
			if off >= len(q) {
				return e, fmt.Errorf("offset %d: %w", start, errTruncatedRecord)
			}
			l := int(q[off])
			if l&0xC0 != 0 {
				off += 2
				break
			}
			off += 1 + l
			if l == 0 {
				break
			}
		}
		if off+10 > len(q) {
			return e, fmt.Errorf("offset %d: %w", start, errTruncatedRecord)
		}
		typ := binary.BigEndian.Uint16(q[off:])
		class := int(binary.BigEndian.Uint16(q[off+2:]))
		rdata := off + 10
		end := rdata + int(binary.BigEndian.Uint16(q[off+8:]))
		if end > len(q) {
			return e, fmt.Errorf("offset %d: %w", start, errTruncatedRecord)
		}
		off = end
		if typ != typeOPT || i < an+ns {
			continue
		}
		if e.udpSize != 0 {
			return e, fmt.Errorf("offset %d: %w", start, errTwoOPT)
		}
		e.udpSize = max(class, 512)
		for p := rdata; p < end; {
			if p+4 > end {
				return e, fmt.Errorf("offset %d: EDNS option header: %w", p, errTruncatedRecord)
			}
			code := binary.BigEndian.Uint16(q[p:])
			olen := int(binary.BigEndian.Uint16(q[p+2:]))
			if p+4+olen > end {
				return e, fmt.Errorf("offset %d: EDNS option %d: %w", p, code, errTruncatedRecord)
			}
			if code == optionCookie && !e.cookieFound {
				e.cookie = q[p+4 : p+4+olen]
				e.cookieFound = true
			}
			p += 4 + olen
		}
	}
	return e, nil
}

// appendCookieOption adds a COOKIE option with data reply to the OPT
// record that ends the response resp[:n], and returns the new length; 0
// when resp[:n] does not end in an option-less OPT record or resp has no
// room. The cache puts its OPT record last and without options, which is
// what makes this append in place possible.
func appendCookieOption(resp []byte, n int, reply *[cookieReplyLen]byte) int {
	if n < headerLen+optRRLen || n > len(resp) || len(resp)-n < cookieOptionLen {
		return 0
	}
	opt := resp[n-optRRLen : n]
	if opt[0] != 0 || binary.BigEndian.Uint16(opt[1:]) != typeOPT || binary.BigEndian.Uint16(opt[9:]) != 0 ||
		binary.BigEndian.Uint16(resp[10:]) == 0 {
		return 0
	}
	binary.BigEndian.PutUint16(opt[9:], cookieOptionLen)
	o := resp[n : n+cookieOptionLen]
	binary.BigEndian.PutUint16(o, optionCookie)
	binary.BigEndian.PutUint16(o[2:], cookieReplyLen)
	copy(o[4:], reply[:])
	return n + cookieOptionLen
}

// sipHash24 is SipHash-2-4 with a 128-bit key, returning the 64-bit
// output whose little-endian octets are the reference implementation's
// output.
func sipHash24(key *[CookieSecretLen]byte, m []byte) uint64 {
	return siphash.Sum64(siphash.KeyFrom(key), m)
}
