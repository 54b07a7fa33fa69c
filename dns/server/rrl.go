package server

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rampart-fw/rampart/dns/wire"
)

// RRLConfig configures response rate limiting (RRL), BIND's defence
// against reflection: a spoofed query names a victim's address as its
// source, and without a limit every answer, larger than the query, lands
// on the victim. Zero values take the defaults in brackets.
//
// An account is a client network (IPv4PrefixLength or IPv6PrefixLength
// bits) and a response: for an answer its query name and type; for NODATA
// and NXDOMAIN the zone whose SOA proves it (so that random names under one
// zone share one account); for any other RCODE the client network alone.
// Each account earns ResponsesPerSecond credits a second, holds at most
// that many, and owes at most Window seconds of them. A response that
// finds the account's credit spent is limited: every Slip-th limited
// answer goes out truncated (TC set, no records: a real client asks again
// over TCP, which RRL never limits and a spoofed source cannot complete),
// every Slip-th limited error goes out as it is (an error is no larger
// than its query), and the rest are dropped. A query whose server cookie
// proves its address is never limited, nor is anything over TCP, nor a
// client of Exempt (loopback).
type RRLConfig struct {
	// ResponsesPerSecond is each account's rate [0: RRL off].
	ResponsesPerSecond int
	// Slip: one limited response in Slip is sent truncated (or, for an
	// error, as it is) [2]. Negative: none, every limited response is
	// dropped (the file's slip 0). 1 truncates every one.
	Slip int
	// IPv4PrefixLength and IPv6PrefixLength make one client of an
	// account [24 and 56].
	IPv4PrefixLength, IPv6PrefixLength int
	// Window is how far an account may fall behind: a client that stops
	// flooding is answered again about Window later [15s].
	Window time.Duration
	// TableSize bounds the accounts remembered [32768]; the oldest of a
	// full set of the table is forgotten for a new one (counted).
	TableSize int
	// Exempt are the clients never limited [loopback: 127.0.0.0/8 and
	// ::1/128, which no packet from the network can claim as its source,
	// and where a local forwarder asks for many]. A non-nil empty list
	// exempts none.
	Exempt []netip.Prefix
}

// Bounds of the RRL settings: beyond them a value is a typo.
const (
	MaxRRLRate   = 1 << 20
	MaxRRLSlip   = 10 // BIND's bound
	MaxRRLWindow = time.Hour
	maxRRLTable  = 1 << 24
)

func (c *RRLConfig) setDefaults() error {
	if c.ResponsesPerSecond < 0 || c.ResponsesPerSecond > MaxRRLRate {
		return fmt.Errorf("server: RRL ResponsesPerSecond %d outside 0..%d", c.ResponsesPerSecond, MaxRRLRate)
	}
	if c.Slip == 0 {
		c.Slip = 2
	}
	if c.Slip > MaxRRLSlip {
		return fmt.Errorf("server: RRL Slip %d above %d", c.Slip, MaxRRLSlip)
	}
	if c.IPv4PrefixLength == 0 {
		c.IPv4PrefixLength = 24
	}
	if c.IPv6PrefixLength == 0 {
		c.IPv6PrefixLength = 56
	}
	if c.IPv4PrefixLength < 0 || c.IPv4PrefixLength > 32 {
		return fmt.Errorf("server: RRL IPv4PrefixLength %d outside 1..32", c.IPv4PrefixLength)
	}
	if c.IPv6PrefixLength < 0 || c.IPv6PrefixLength > 128 {
		return fmt.Errorf("server: RRL IPv6PrefixLength %d outside 1..128", c.IPv6PrefixLength)
	}
	if c.Window == 0 {
		c.Window = 15 * time.Second
	}
	if c.Window < time.Second || c.Window > MaxRRLWindow {
		return fmt.Errorf("server: RRL Window %v outside 1s..%v", c.Window, MaxRRLWindow)
	}
	if c.TableSize == 0 {
		c.TableSize = 32768
	}
	if c.Exempt == nil {
		c.Exempt = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	if c.TableSize < rrlShards*rrlWays || c.TableSize > maxRRLTable {
		return fmt.Errorf("server: RRL TableSize %d outside %d..%d", c.TableSize, rrlShards*rrlWays, maxRRLTable)
	}
	return nil
}

// rrlVerdict is what becomes of one response.
type rrlVerdict uint8

const (
	rrlSend rrlVerdict = iota // within the account's rate
	rrlSlip                   // limited: sent truncated (an error: sent as it is)
	rrlDrop                   // limited: not sent
)

// rrlClass is the kind of response an account counts.
type rrlClass uint8

const (
	rrlAnswer rrlClass = iota + 1
	rrlNoData
	rrlNXDomain
	rrlError
)

const (
	// rrlShards is the number of independently locked parts of the
	// table: the readers of every core consult it once per answer.
	rrlShards = 32
	// rrlWays is the entries of one set: a new account takes the set's
	// empty or least recently used entry.
	rrlWays = 8
)

// rrlEntry is one account. key is its hash with the low bit set, so that
// 0 marks an empty entry.
type rrlEntry struct {
	key     uint64
	stamp   uint32 // seconds since the table's epoch, of the last response
	balance int32  // credits: at most rate, at least -window·rate
	slips   uint32 // limited responses since the last slipped one
}

type rrlShard struct {
	mu      sync.Mutex
	entries []rrlEntry // guarded by mu; sets of rrlWays entries
	_       [40]byte   // the next shard's lock on another cache line
}

// rateLimiter is the RRL table: a fixed number of entries allocated once,
// set-associative, keyed by a hash under a per-process random seed (so
// that nobody can aim many accounts at one set), never grown by what
// clients send. It allocates nothing per response.
type rateLimiter struct {
	rate, floor  int32          // immutable: credits a second, and -window·rate
	window       uint32         // immutable: seconds
	slip         int            // immutable: <= 0 never
	bits4, bits6 int            // immutable
	setsPerShard uint64         // immutable
	exempt       []netip.Prefix // immutable
	seed         maphash.Seed
	epoch        time.Time // immutable: second 0 of the stamps
	// clock is the time in whole seconds since epoch; tests replace it
	// before the server starts. Immutable after that.
	clock func() uint32
	// evicted counts live accounts (younger than the window) forgotten
	// for new ones: each is a client whose limit started over.
	evicted prometheus.Counter
	shards  [rrlShards]rrlShard
}

func newRateLimiter(c RRLConfig, evicted prometheus.Counter) *rateLimiter {
	l := &rateLimiter{rate: int32(c.ResponsesPerSecond), window: uint32(c.Window / time.Second), slip: c.Slip,
		bits4: c.IPv4PrefixLength, bits6: c.IPv6PrefixLength, seed: maphash.MakeSeed(), epoch: time.Now(), evicted: evicted,
		exempt: c.Exempt}
	l.clock = func() uint32 { return uint32(time.Since(l.epoch) / time.Second) }
	l.floor = -int32(min(int64(l.window)*int64(l.rate), 1<<30))
	l.setsPerShard = uint64(max(c.TableSize/(rrlShards*rrlWays), 1))
	for i := range l.shards {
		l.shards[i].entries = make([]rrlEntry, l.setsPerShard*rrlWays)
	}
	return l
}

// now is the table's clock: whole seconds since it was made.
func (l *rateLimiter) now() uint32 { return l.clock() }

// account charges one response to the account key at second now and
// returns its verdict.
func (l *rateLimiter) account(key uint64, now uint32) rrlVerdict {
	key |= 1
	sh := &l.shards[key>>59&(rrlShards-1)]
	set := (key >> 1) % l.setsPerShard * rrlWays
	sh.mu.Lock()
	v, evicted := l.charge(sh.entries[set:set+rrlWays], key, now)
	sh.mu.Unlock()
	if evicted {
		l.evicted.Inc()
	}
	return v
}

// charge is account within one set of entries, under its shard's lock;
// evicted reports that a live account was forgotten for this one.
func (l *rateLimiter) charge(ents []rrlEntry, key uint64, now uint32) (v rrlVerdict, evicted bool) {
	var e *rrlEntry
	victim := 0
	for i := range ents {
		if ents[i].key == key {
			e = &ents[i]
			break
		}
		if ents[i].key == 0 || (ents[victim].key != 0 && ents[i].stamp < ents[victim].stamp) {
			victim = i
		}
	}
	if e == nil {
		e = &ents[victim]
		evicted = e.key != 0 && e.stamp+l.window >= now
		*e = rrlEntry{key: key, stamp: now, balance: l.rate}
	} else if now > e.stamp {
		// Credit for the seconds that passed, capped before the
		// multiplication can overflow. A reader whose clock was read
		// before another's stamp (now < stamp) earns nothing: the
		// readers read the clock once per batch, each at its own time.
		credit := int64(min(now-e.stamp, l.window+1)) * int64(l.rate)
		e.balance = int32(min(int64(e.balance)+credit, int64(l.rate)))
		e.stamp = now
	}
	e.balance--
	if e.balance >= 0 {
		return rrlSend, evicted
	}
	if e.balance < l.floor {
		e.balance = l.floor
	}
	e.slips++
	if l.slip > 0 && e.slips >= uint32(l.slip) {
		e.slips = 0
		return rrlSlip, evicted
	}
	return rrlDrop, evicted
}

// rrlKeyLen is the most octets an account's key material takes: the
// class, the prefix length, the network (16 octets), the query type and a
// name.
const rrlKeyLen = 1 + 1 + 16 + 2 + wire.MaxNameLen

// key returns the account of response resp (n octets) to query q from
// src, and the kind of response it is. It reads only what the fast path
// has already checked (one well-formed question) and, for a negative
// answer, walks the response to its SOA; a response it cannot walk counts
// as an error.
func (l *rateLimiter) key(q, resp []byte, src netip.Addr) (uint64, rrlClass) {
	var b [rrlKeyLen]byte
	p := clientPrefix(src, l.bits4, l.bits6)
	a := p.Addr().As16()
	b[1] = byte(p.Bits())
	if p.Addr().Is4() {
		b[1] |= 0x80
	}
	copy(b[2:18], a[:])
	n := 18
	class := rrlError
	h := wire.Header(resp)
	var r wire.Reader
	question, ok := r.OneQuestion(q)
	switch rcode := h.Flags().Rcode(); {
	case !ok:
	case rcode == wire.RcodeSuccess && h.ANCount() > 0:
		class = rrlAnswer
		binary.BigEndian.PutUint16(b[n:], question.Type())
		n += 2
		n += wire.CopyLower(b[n:], question.Name(q))
	case rcode == wire.RcodeSuccess || rcode == wire.RcodeNXDomain:
		class = rrlNoData
		if rcode == wire.RcodeNXDomain {
			class = rrlNXDomain
		}
		// The zone: the owner of the SOA in the authority section, else
		// (a negative answer without one) the query name.
		var zone [wire.MaxNameLen]byte
		if zn, found := soaOwner(resp, &zone); found {
			n += wire.CopyLower(b[n:], zone[:zn])
		} else {
			n += wire.CopyLower(b[n:], question.Name(q))
		}
	}
	b[0] = byte(class)
	return maphash.Bytes(l.seed, b[:n]), class
}

// soaOwner copies into zone the owner name of the first SOA record of
// resp's authority section and returns its length.
func soaOwner(resp []byte, zone *[wire.MaxNameLen]byte) (int, bool) {
	r := wire.NewReader(resp)
	for {
		rr, ok := r.Next()
		if !ok || r.Section() == wire.SectionAdditional {
			return 0, false
		}
		if r.Section() == wire.SectionAuthority && rr.Type() == dns.TypeSOA {
			n, _, err := wire.ReadName(resp, rr.Off, zone)
			return n, err == nil
		}
	}
}

// judge decides response resp[:n] to UDP query q from src, whose cookie
// verdict is v, at second now: it returns the length to send from resp,
// the response itself, a truncated one written over it in place (the
// header, the question and a bare OPT when the query had one), or 0 to
// send nothing; and counts what it did in t.
func (l *rateLimiter) judge(q, resp []byte, n int, src netip.Addr, v CookieVerdict, now uint32, ednsSize uint16, t *tally) int {
	if v.AddressProven() || n < wire.HeaderLen || l.exempted(src) {
		return n
	}
	key, class := l.key(q, resp[:n], src)
	switch l.account(key, now) {
	case rrlSend:
		return n
	case rrlSlip:
		t.rrlLimited++
		t.rrlSlipped++
		if class == rrlError {
			return n
		}
		return slipResponse(q, resp, n, ednsSize)
	}
	t.rrlLimited++
	t.rrlDropped++
	return 0
}

// exempted reports whether src is a client RRL never limits.
func (l *rateLimiter) exempted(src netip.Addr) bool {
	src = src.Unmap().WithZone("")
	for _, p := range l.exempt {
		if p.Contains(src) {
			return true
		}
	}
	return false
}

// slipResponse rewrites resp[:n] in place into the truncated form of
// itself: its header with TC set and no records, its question, and a bare
// OPT record when query q had one. The result is never longer than q, so
// a slipped answer amplifies nothing. It returns the new length, 0 when
// resp holds no question to keep.
func slipResponse(q, resp []byte, n int, ednsSize uint16) int {
	var r wire.Reader
	question, ok := r.OneQuestion(resp[:n])
	if !ok {
		return 0
	}
	end := question.End()
	h := wire.Header(resp)
	h.SetFlags(h.Flags() | wire.TC)
	h.SetCount(wire.SectionAnswer, 0)
	h.SetCount(wire.SectionAuthority, 0)
	h.SetCount(wire.SectionAdditional, 0)
	var qr wire.Reader
	qr.OneQuestion(q)
	if opt, found := qr.OPT(); found && end+wire.OPTLen <= len(resp) {
		wire.PutOPT(resp[end:], ednsSize, opt.DO())
		h.SetCount(wire.SectionAdditional, 1)
		end += wire.OPTLen
	}
	return end
}
