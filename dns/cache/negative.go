package cache

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/wire"
)

// Negative entries follow the key header and name with
//
//	[2]  number of authority records
//	then the records, each uncompressed in full wire form
//
// The key type is the query type for NODATA and 0 for NXDOMAIN, which
// covers every type of the name.

// Negative is a cached negative answer as returned by LookupNegative.
type Negative struct {
	// NXDomain is true for a name that does not exist, false for NODATA
	// (the name exists but has no data of the type).
	NXDomain bool
	// Authority holds the SOA and any NSEC, NSEC3 and RRSIG records stored
	// with the answer, for the authority section of a reply, each with TTL
	// set to the remaining negative TTL as RFC 2308 §5 requires.
	Authority []dns.RR
	Rank      Rank
	// TTL is the remaining negative TTL in seconds.
	TTL      uint32
	Stale    bool
	Prefetch bool
}

// PutNegative caches a negative answer for (name, qtype, qclass): NXDOMAIN
// when nxdomain is set (qtype is then ignored and the entry covers every
// type), NODATA otherwise. authority must hold exactly one SOA (RFC 2308 §5:
// negative answers without one are not cached) and may hold NSEC/NSEC3
// records and RRSIGs. The TTL is the smallest of min(SOA TTL, SOA MINIMUM)
// and the TTLs of the other records, clamped to [MinNegativeTTL,
// MaxNegativeTTL] and to the earliest signature expiry.
//
// A NODATA entry replaces a cached RRset of the same type when its rank is
// not lower. A zero now means the configured clock.
func (c *Cache) PutNegative(name string, qtype, qclass uint16, nxdomain bool, authority []dns.RR, rank Rank, now time.Time) error {
	if !rank.Valid() {
		return fmt.Errorf("cache: PutNegative: invalid rank %v", rank)
	}
	kd := kindNoData
	if nxdomain {
		kd, qtype = kindNXDomain, 0
	} else if isMetaType(qtype) {
		return fmt.Errorf("cache: PutNegative: %s: type %d is not a data type", name, qtype)
	}
	var obuf [wire.MaxNameLen]byte
	nlen, err := nameToWire(name, &obuf)
	if err != nil {
		return fmt.Errorf("cache: PutNegative: %w", err)
	}
	owner := obuf[:nlen]
	if len(authority) == 0 {
		return fmt.Errorf("%w: negative answer for %s without SOA", ErrNotCacheable, name)
	}
	if len(authority) > math.MaxUint16 {
		return fmt.Errorf("%w: %d authority records", ErrNotCacheable, len(authority))
	}
	for i, rr := range authority {
		if rr == nil {
			return fmt.Errorf("cache: PutNegative: authority record %d is nil", i)
		}
		if !dns.IsFqdn(rr.Header().Name) {
			return fmt.Errorf("cache: PutNegative: authority record %d: owner %q is not fully qualified", i, rr.Header().Name)
		}
		if isMetaType(rr.Header().Rrtype) {
			return fmt.Errorf("cache: PutNegative: authority record %d: meta type %d", i, rr.Header().Rrtype)
		}
	}
	t := c.nanos(now)

	bp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(bp)
	packed, err := packUncompressed(authority, *bp)
	if err != nil {
		return fmt.Errorf("cache: PutNegative: %s: %w", name, err)
	}
	ttl := uint32(math.MaxUint32)
	sigLeft := int64(math.MaxInt64)
	soas := 0
	r := wire.NewReader(packed)
	for i := range authority {
		rr, ok := r.Next()
		if !ok {
			return fmt.Errorf("cache: PutNegative: authority record %d: %w", i, r.Err())
		}
		if err := checkUnpack(packed, rr); err != nil {
			return fmt.Errorf("cache: PutNegative: authority record %d: %w", i, err)
		}
		if rr.Class() != qclass {
			return fmt.Errorf("cache: PutNegative: authority record %d: class %d differs from query class %d", i, rr.Class(), qclass)
		}
		rt := rr.TTL()
		if rt > math.MaxInt32 {
			rt = 0
		}
		rdata := rr.RData(packed)
		switch rr.Type() {
		case dns.TypeSOA:
			soas++
			if len(rdata) < 22 {
				return fmt.Errorf("cache: PutNegative: authority record %d: SOA rdata of %d octets", i, len(rdata))
			}
			rt = min(rt, binary.BigEndian.Uint32(rdata[len(rdata)-4:]))
		case dns.TypeRRSIG:
			left, err := rrsigRemaining(rdata, t)
			if err != nil {
				return fmt.Errorf("cache: PutNegative: authority record %d: %w", i, err)
			}
			sigLeft = min(sigLeft, left)
		}
		ttl = min(ttl, rt)
	}
	if soas != 1 {
		return fmt.Errorf("%w: negative answer for %s with %d SOA records", ErrNotCacheable, name, soas)
	}
	ttl = clampTTL(ttl, c.set.minNegTTL, c.set.maxNegTTL)
	if sigLeft < int64(ttl) {
		ttl = uint32(max(sigLeft, 0))
	}
	if ttl == 0 {
		return fmt.Errorf("%w: negative answer for %s has TTL 0", ErrNotCacheable, name)
	}

	recs := packed[wire.HeaderLen:r.Offset()]
	data := make([]byte, keyHeaderLen+len(owner)+2+len(recs))
	data[0] = byte(len(owner))
	putU16(data[2:], qtype)
	putU16(data[4:], qclass)
	p := keyHeaderLen + copy(data[keyHeaderLen:], owner)
	putU16(data[p:], uint16(len(authority)))
	copy(data[p+2:], recs)

	var lbuf [wire.MaxNameLen]byte
	lname := lbuf[:copy(lbuf[:], owner)]
	wire.CopyLower(lname, lname)
	nh := c.nameHash(lname)
	k := key{kind: kd, qtype: qtype, qclass: qclass, name: lname}
	h := keyHash(nh, kd, 0, qtype, qclass)
	expire := t + int64(ttl)*int64(time.Second)

	s := c.shardFor(nh)
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.find(h, &k)
	if i != 0 {
		e := &s.slots[i]
		if t < e.expire && rank.Compare(e.rank) < 0 {
			s.ctr.rankRejects.Add(1)
			return fmt.Errorf("%w: negative answer for %s cached at %v, offered at %v", ErrLowerRank, name, e.rank, rank)
		}
	}
	if !s.store(h, i, kd, data, expire, ttl, rank, t) {
		return fmt.Errorf("%w: negative answer for %s needs %d bytes, more than a shard holds", ErrNotCacheable, name, len(data))
	}
	if kd == kindNoData {
		pk := key{kind: kindRRset, qtype: qtype, qclass: qclass, name: lname}
		if i := s.find(keyHash(nh, kindRRset, 0, qtype, qclass), &pk); i != 0 {
			e := &s.slots[i]
			if t >= e.expire || rank.Compare(e.rank) >= 0 {
				s.remove(i)
			}
		}
	}
	return nil
}

// GetNegative is LookupNegative without stale data.
func (c *Cache) GetNegative(name string, qtype, qclass uint16, now time.Time) (Negative, bool) {
	return c.LookupNegative(name, qtype, qclass, now, false)
}

// LookupNegative reports whether (name, qtype, qclass) is known not to
// exist: an NXDOMAIN entry for the name is checked first, then NODATA for
// the type. With allowStale and Config.ServeStale, an entry expired less
// than StaleMaxAge ago is returned with Stale set. Positive entries are not
// consulted: a resolver looks up the RRset first.
func (c *Cache) LookupNegative(name string, qtype, qclass uint16, now time.Time, allowStale bool) (Negative, bool) {
	var buf [wire.MaxNameLen]byte
	lname, nh, err := c.lookupName(name, &buf)
	if err != nil {
		return Negative{}, false
	}
	t := c.nanos(now)
	k := key{kind: kindNXDomain, qclass: qclass, name: lname}
	h, ok := c.get(nh, &k, t, allowStale, false)
	if !ok && qtype != 0 {
		k = key{kind: kindNoData, qtype: qtype, qclass: qclass, name: lname}
		h, ok = c.get(nh, &k, t, allowStale, false)
	}
	var neg Negative
	if ok {
		neg, ok = c.decodeNegative(&h, k.kind == kindNXDomain, t)
	}
	c.count(nh, statNegative, ok)
	return neg, ok
}

func (c *Cache) decodeNegative(h *hit, nx bool, now int64) (Negative, bool) {
	d := h.data
	p := keyHeaderLen + int(d[0])
	n := int(getU16(d[p:]))
	p += 2
	neg := Negative{NXDomain: nx, Rank: h.rank, TTL: h.remaining(now, c.set.staleTTL), Stale: h.stale, Prefetch: h.prefetch}
	neg.Authority = make([]dns.RR, 0, n)
	for range n {
		rr, end, err := dns.UnpackRR(d, p)
		if err != nil {
			return Negative{}, false
		}
		p = end
		rr.Header().Ttl = neg.TTL
		neg.Authority = append(neg.Authority, rr)
	}
	return neg, true
}
