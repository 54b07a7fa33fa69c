package guard

import (
	"crypto/rand"
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-fw/rampart/internal/siphash"
)

// SYN cookies (RFC 4987 section 3.6), in the manner of Linux's
// syncookies and nf_synproxy, with a stronger MAC: the proxy's initial
// sequence number is
//
//	bits 31..3  29 bits of SipHash-2-4 over the four-tuple, the client's
//	            ISN, the time counter, the MSS index and the option bits
//	bit  2      the time counter's parity
//	bits 1..0   the index of the client's MSS in the MSS table
//
// The time counter advances every cookiePeriod; each period has a key of
// its own from crypto/rand, and a cookie is accepted during its own period
// and the next (64 to 128 s), as Linux accepts its cookies for two
// minutes. The parity bit says which of the two it was made in, so a
// check costs one hash.
//
// A cookie alone has no room for the client's window scale, SACK and ECN.
// When the client sent timestamps the proxy's SYN/ACK carries them in the
// six low bits of its timestamp value, which the client echoes (Linux's
// TSBITS): the window shift (15 for none), SACK-permitted, ECN. Unlike
// Linux, those bits are covered by the MAC too: a forged echo changes
// the options the server sees, so it fails the check.
const (
	cookiePeriod = 64 * time.Second
	cookieMACBit = 3
	tsOptBits    = 6
	tsNoWScale   = 0xf
	tsSACK       = 1 << 4
	tsECN        = 1 << 5
)

// The MSS values a cookie can name, Linux's msstab and msstab6: the
// client's MSS is rounded down to one of them.
var (
	mssTable4 = [4]uint16{536, 1300, 1440, 1460}
	mssTable6 = [4]uint16{1280 - 60, 1480 - 60, 1500 - 60, 9000 - 60}
)

// mssIndex is the index of the largest table entry at most mss.
func mssIndex(mss uint16, v6 bool) uint8 {
	tab := &mssTable4
	if v6 {
		tab = &mssTable6
	}
	for i := len(tab) - 1; i > 0; i-- {
		if mss >= tab[i] {
			return uint8(i)
		}
	}
	return 0
}

func mssOf(idx uint8, v6 bool) uint16 {
	if v6 {
		return mssTable6[idx&3]
	}
	return mssTable4[idx&3]
}

// cookieKeys are the keys of two consecutive time counters.
type cookieKeys struct {
	t   uint64         // the newer counter
	key [2]siphash.Key // by counter parity: key[t&1] is t's, key[(t-1)&1] is t-1's
}

// jar makes and checks cookies. Its keys rotate with the time counter; a
// rotation takes mu and publishes a new cookieKeys, so the packet path
// reads them with one atomic load.
type jar struct {
	mu   sync.Mutex                 // serialises rotations
	keys atomic.Pointer[cookieKeys] // swapped whole by rotate
	// tsBase is a random origin of the proxy's timestamp clock, so that
	// its values reveal nothing of the machine's uptime.
	tsBase uint32 // immutable after newJar
}

func newJar(now time.Time) *jar {
	j := &jar{}
	var b [4]byte
	_, _ = rand.Read(b[:])
	j.tsBase = binary.LittleEndian.Uint32(b[:])
	t := counter(now)
	k := &cookieKeys{t: t}
	k.key[0], k.key[1] = randomKey(), randomKey()
	j.keys.Store(k)
	return j
}

func randomKey() siphash.Key {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return siphash.KeyFrom(&b)
}

func counter(now time.Time) uint64 { return uint64(now.UnixNano()) / uint64(cookiePeriod) }

// current returns the keys with now's counter as the newer one, rotating
// if the counter has moved on.
func (j *jar) current(now time.Time) *cookieKeys {
	k := j.keys.Load()
	if t := counter(now); t > k.t {
		return j.rotate(t)
	}
	return k
}

// rotate moves the keys on to counter t: the key of t-1 is kept if it is
// the newer one now, every other key is new.
func (j *jar) rotate(t uint64) *cookieKeys {
	j.mu.Lock()
	defer j.mu.Unlock()
	old := j.keys.Load()
	if old.t >= t {
		return old
	}
	k := &cookieKeys{t: t}
	k.key[t&1] = randomKey()
	if old.t == t-1 {
		k.key[(t-1)&1] = old.key[old.t&1]
	} else {
		k.key[(t-1)&1] = randomKey()
	}
	j.keys.Store(k)
	return k
}

// tuple is what a cookie is bound to: the connection's ends, as the
// client's SYN names them.
type tuple struct {
	src, dst netip.AddrPort
}

// mac is the cookie's MAC for counter t: 29 bits.
func mac(key siphash.Key, tp *tuple, isn uint32, t uint64, info uint32) uint32 {
	var m [6]uint64
	s, d := tp.src.Addr().As16(), tp.dst.Addr().As16()
	m[0] = binary.LittleEndian.Uint64(s[:8])
	m[1] = binary.LittleEndian.Uint64(s[8:])
	m[2] = binary.LittleEndian.Uint64(d[:8])
	m[3] = binary.LittleEndian.Uint64(d[8:])
	m[4] = uint64(tp.src.Port())<<48 | uint64(tp.dst.Port())<<32 | uint64(isn)
	m[5] = t<<32 | uint64(info)
	return uint32(siphash.Sum64Words(key, m[:])) >> cookieMACBit
}

// cookieInfo is what a cookie encodes beside its MAC: the MSS index, and
// with timestamps the option bits (0 without them).
type cookieInfo struct {
	mssIdx uint8
	ts     bool
	opts   uint8 // tsOptBits bits: window shift or tsNoWScale, tsSACK, tsECN
}

func (ci cookieInfo) word() uint32 {
	w := uint32(ci.mssIdx) | uint32(ci.opts)<<8
	if ci.ts {
		w |= 1 << 16
	}
	return w
}

// make returns the cookie for a SYN from tp with initial sequence number
// isn, made at now.
func (j *jar) make(now time.Time, tp *tuple, isn uint32, ci cookieInfo) uint32 {
	k := j.current(now)
	t := k.t
	m := mac(k.key[t&1], tp, isn, t, ci.word())
	return m<<cookieMACBit | uint32(t&1)<<2 | uint32(ci.mssIdx&3)
}

// check reports whether cookie was made for a SYN from tp with initial
// sequence number isn, during now's counter or the one before, with the
// option bits opts (when ts). It returns the MSS index the cookie holds.
func (j *jar) check(now time.Time, tp *tuple, isn, cookie uint32, ts bool, opts uint8) (uint8, bool) {
	k := j.current(now)
	t := k.t
	if uint64(cookie>>2&1) != t&1 {
		if t == 0 {
			return 0, false
		}
		t--
	}
	ci := cookieInfo{mssIdx: uint8(cookie & 3), ts: ts, opts: opts}
	if mac(k.key[t&1], tp, isn, t, ci.word()) != cookie>>cookieMACBit {
		return 0, false
	}
	return ci.mssIdx, true
}

// tsval is the proxy's timestamp value at now carrying opts in its low
// bits: a millisecond clock from a random origin, rounded down so that it
// is never ahead of the clock.
func (j *jar) tsval(now time.Time, opts uint8) uint32 {
	ms := j.tsBase + uint32(now.UnixMilli())
	return ms&^(1<<tsOptBits-1) | uint32(opts)
}
