package cache

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/wire"
)

// RRset entries follow the key header and owner name with
//
//	[2]  number of records n
//	then n times   [rdlength 2][rdata]   the records
//	then until end [rdlength 2][rdata]   the covering RRSIGs
//
// Owner, type, class and TTL are shared by every record, so a cached A
// record costs its 4 octets of address plus 2 of length.

// RRset is a cached RRset as returned by LookupRRset. The records are fresh
// copies the caller may modify.
type RRset struct {
	// RRs are the records, their TTL set to the remaining TTL.
	RRs []dns.RR
	// Sigs are the RRSIGs covering RRs, with the same TTL; empty if none
	// were stored.
	Sigs []dns.RR
	// Rank is the credibility the set was stored with.
	Rank Rank
	// TTL is the remaining TTL in seconds (StaleTTL for a stale set).
	TTL uint32
	// Stale is set when the set expired and was returned because the
	// lookup allowed stale data and Config.ServeStale is on.
	Stale bool
	// Prefetch is set on the first hit within the last 10% of the set's
	// TTL, telling the caller to refresh it in the background.
	Prefetch bool
}

// PutRRset stores one RRset: records sharing owner name (compared without
// case), type and class, optionally with RRSIGs that cover that type. The
// TTL of the set is the smallest TTL among the records and signatures,
// clamped to [MinTTL, MaxTTL] and then to the time left before the earliest
// signature expiry (RFC 4035 §5.3.3). Duplicate records are stored once.
//
// An unexpired cached set of higher Rank is kept and ErrLowerRank returned.
// Storing a set also removes cached negative entries for the same owner
// (NXDOMAIN) or owner and type (NODATA) whose rank is not higher, since the
// data now exists. A zero now means the configured clock.
func (c *Cache) PutRRset(rrs []dns.RR, rank Rank, now time.Time) error {
	if !rank.Valid() {
		return fmt.Errorf("cache: PutRRset: invalid rank %v", rank)
	}
	if len(rrs) == 0 {
		return errors.New("cache: PutRRset: empty RRset")
	}
	if len(rrs) > math.MaxUint16 {
		return fmt.Errorf("%w: RRset of %d records", ErrNotCacheable, len(rrs))
	}
	var set *dns.RR_Header
	for i, rr := range rrs {
		if rr == nil {
			return fmt.Errorf("cache: PutRRset: record %d is nil", i)
		}
		h := rr.Header()
		if !dns.IsFqdn(h.Name) {
			return fmt.Errorf("cache: PutRRset: record %d: owner %q is not fully qualified", i, h.Name)
		}
		if set == nil && h.Rrtype != dns.TypeRRSIG {
			set = h
		}
	}
	if set == nil {
		return errors.New("cache: PutRRset: only RRSIGs, no RRset they cover")
	}
	qtype, qclass := set.Rrtype, set.Class
	if isMetaType(qtype) {
		return fmt.Errorf("cache: PutRRset: %s is a meta type, not data", dns.TypeToString[qtype])
	}
	t := c.nanos(now)

	bp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(bp)
	packed, err := packUncompressed(rrs, *bp)
	if err != nil {
		return fmt.Errorf("cache: PutRRset: %s %s: %w", set.Name, dns.TypeToString[qtype], err)
	}

	recs := make([]wire.RR, 0, len(rrs))
	var owner []byte
	ttl := uint32(math.MaxUint32)
	sigLeft := int64(math.MaxInt64)
	nrec, size := 0, 0
	rd := wire.NewReader(packed)
	for i := range rrs {
		r, ok := rd.Next()
		if !ok {
			return fmt.Errorf("cache: PutRRset: record %d: %w", i, rd.Err())
		}
		name := packed[r.Off:r.NameEnd]
		if owner == nil {
			owner = name
		} else if !wire.EqualFold(name, owner) {
			return fmt.Errorf("cache: PutRRset: record %d: owner %s differs from %s", i, rrs[i].Header().Name, set.Name)
		}
		if r.Class() != qclass {
			return fmt.Errorf("cache: PutRRset: record %d: class %d differs from %d", i, r.Class(), qclass)
		}
		rdata := r.RData(packed)
		isSig := r.Type() == dns.TypeRRSIG
		switch {
		case isSig:
			left, err := rrsigRemaining(rdata, t)
			if err != nil {
				return fmt.Errorf("cache: PutRRset: record %d: %w", i, err)
			}
			if covered := getU16(rdata); covered != qtype {
				return fmt.Errorf("cache: PutRRset: record %d: RRSIG covers %s, not %s", i, dns.TypeToString[covered], dns.TypeToString[qtype])
			}
			sigLeft = min(sigLeft, left)
		case r.Type() != qtype:
			return fmt.Errorf("cache: PutRRset: record %d: type %s differs from %s", i, dns.TypeToString[r.Type()], dns.TypeToString[qtype])
		}
		// miekg/dns packs some malformed records (an SOA with empty
		// names, for one) into rdata it cannot parse back; refuse them
		// here rather than store an entry every lookup would miss.
		if err := checkUnpack(packed, r); err != nil {
			return fmt.Errorf("cache: PutRRset: record %d: %w", i, err)
		}
		rt := r.TTL()
		if rt > math.MaxInt32 {
			// RFC 2181 §8: a TTL with the top bit set means zero.
			rt = 0
		}
		ttl = min(ttl, rt)
		if isDuplicate(packed, recs, r, isSig) {
			continue
		}
		recs = append(recs, r)
		if !isSig {
			nrec++
		}
		size += 2 + len(rdata)
	}

	ttl = clampTTL(ttl, c.set.minTTL, c.set.maxTTL)
	if sigLeft < int64(ttl) {
		ttl = uint32(max(sigLeft, 0))
	}
	if ttl == 0 {
		return fmt.Errorf("%w: %s %s has TTL 0", ErrNotCacheable, set.Name, dns.TypeToString[qtype])
	}

	data := make([]byte, keyHeaderLen+len(owner)+2+size)
	data[0] = byte(len(owner))
	putU16(data[2:], qtype)
	putU16(data[4:], qclass)
	p := keyHeaderLen + copy(data[keyHeaderLen:], owner)
	putU16(data[p:], uint16(nrec))
	p += 2
	for _, sigs := range [2]bool{false, true} {
		for _, r := range recs {
			if (r.Type() == dns.TypeRRSIG) != sigs {
				continue
			}
			rdata := r.RData(packed)
			putU16(data[p:], uint16(len(rdata)))
			p += 2 + copy(data[p+2:], rdata)
		}
	}

	var lbuf [wire.MaxNameLen]byte
	lname := lbuf[:copy(lbuf[:], owner)]
	wire.CopyLower(lname, lname)
	nh := c.nameHash(lname)
	k := key{kind: kindRRset, qtype: qtype, qclass: qclass, name: lname}
	h := keyHash(nh, k.kind, 0, qtype, qclass)
	expire := t + int64(ttl)*int64(time.Second)

	s := c.shardFor(nh)
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.find(h, &k)
	if i != 0 {
		e := &s.slots[i]
		if t < e.expire && rank.Compare(e.rank) < 0 {
			s.ctr.rankRejects.Add(1)
			return fmt.Errorf("%w: %s %s cached at %v, offered at %v", ErrLowerRank, set.Name, dns.TypeToString[qtype], e.rank, rank)
		}
	}
	if !s.store(h, i, kindRRset, data, expire, ttl, rank, t) {
		return fmt.Errorf("%w: %s %s needs %d bytes, more than a shard holds", ErrNotCacheable, set.Name, dns.TypeToString[qtype], len(data))
	}
	// The data exists now: negative entries saying otherwise are wrong,
	// unless they are more credible than this set.
	for _, nk := range [2]key{
		{kind: kindNoData, qtype: qtype, qclass: qclass, name: lname},
		{kind: kindNXDomain, qclass: qclass, name: lname},
	} {
		if i := s.find(keyHash(nh, nk.kind, 0, nk.qtype, nk.qclass), &nk); i != 0 {
			e := &s.slots[i]
			if t >= e.expire || rank.Compare(e.rank) >= 0 {
				s.remove(i)
			}
		}
	}
	return nil
}

// isDuplicate reports whether r repeats a record already kept. RRsets are
// small, so a linear scan beats building a set.
func isDuplicate(msg []byte, kept []wire.RR, r wire.RR, isSig bool) bool {
	for _, k := range kept {
		if (k.Type() == dns.TypeRRSIG) == isSig && bytes.Equal(k.RData(msg), r.RData(msg)) {
			return true
		}
	}
	return false
}

// GetRRset returns copies of the cached RRset for (name, qtype, qclass)
// with TTLs set to the remaining TTL, and the rank it was stored with. It
// never returns stale data; RRSIGs and the prefetch signal are available
// through LookupRRset. A zero now means the configured clock.
func (c *Cache) GetRRset(name string, qtype, qclass uint16, now time.Time) ([]dns.RR, Rank, bool) {
	set, ok := c.LookupRRset(name, qtype, qclass, now, false)
	return set.RRs, set.Rank, ok
}

// LookupRRset returns the cached RRset for (name, qtype, qclass), its
// covering RRSIGs, and whether it is stale or due for prefetch. With
// allowStale and Config.ServeStale, an RRset expired less than StaleMaxAge
// ago is returned with Stale set and every TTL set to StaleTTL.
func (c *Cache) LookupRRset(name string, qtype, qclass uint16, now time.Time, allowStale bool) (RRset, bool) {
	var buf [wire.MaxNameLen]byte
	lname, nh, err := c.lookupName(name, &buf)
	if err != nil {
		return RRset{}, false
	}
	k := key{kind: kindRRset, qtype: qtype, qclass: qclass, name: lname}
	t := c.nanos(now)
	h, ok := c.get(nh, &k, t, allowStale, false)
	if ok {
		var set RRset
		set, ok = c.decodeRRset(&h, qtype, qclass, t)
		c.count(nh, statRRset, ok)
		return set, ok
	}
	c.count(nh, statRRset, false)
	return RRset{}, false
}

func (c *Cache) decodeRRset(h *hit, qtype, qclass uint16, now int64) (RRset, bool) {
	d := h.data
	owner, p, err := dns.UnpackDomainName(d, keyHeaderLen)
	if err != nil {
		return RRset{}, false
	}
	n := int(getU16(d[p:]))
	p += 2
	set := RRset{Rank: h.rank, TTL: h.remaining(now, c.set.staleTTL), Stale: h.stale, Prefetch: h.prefetch}
	set.RRs = make([]dns.RR, 0, n)
	for i := 0; p < len(d); i++ {
		rdlen := getU16(d[p:])
		hdr := dns.RR_Header{Name: owner, Rrtype: qtype, Class: qclass, Ttl: set.TTL, Rdlength: rdlen}
		if i >= n {
			hdr.Rrtype = dns.TypeRRSIG
		}
		end := p + 2 + int(rdlen)
		if end > len(d) {
			return RRset{}, false
		}
		// The buffer ends with the record: miekg/dns reads a type bitmap
		// (NSEC, NSEC3) to the end of what it is given.
		rr, end, err := dns.UnpackRRWithHeader(hdr, d[:end], p+2)
		if err != nil {
			return RRset{}, false
		}
		p = end
		if i < n {
			set.RRs = append(set.RRs, rr)
		} else {
			set.Sigs = append(set.Sigs, rr)
		}
	}
	return set, true
}

// CompareRRset looks up the cached RRset of rrs's owner, type and class as
// LookupRRset does (no stale data), and reports the rank it was stored
// with, the seconds it has left, whether it is due for prefetch, and
// whether it holds exactly the records of rrs and the RRSIGs of sigs, TTLs
// aside, compared in wire form (names in RDATA byte for byte, so a change
// of case counts as a change). It decodes nothing: the resolver asks this
// of the NS set and glue that come with every answer, to learn that
// storing them again would change nothing.
func (c *Cache) CompareRRset(rrs, sigs []dns.RR, now time.Time) (rank Rank, left uint32, prefetch, same, ok bool) {
	if len(rrs) == 0 || rrs[0] == nil {
		return RankNone, 0, false, false, false
	}
	set := rrs[0].Header()
	var buf [wire.MaxNameLen]byte
	lname, nh, err := c.lookupName(set.Name, &buf)
	if err != nil {
		return RankNone, 0, false, false, false
	}
	k := key{kind: kindRRset, qtype: set.Rrtype, qclass: set.Class, name: lname}
	t := c.nanos(now)
	h, found := c.get(nh, &k, t, false, false)
	c.count(nh, statRRset, found)
	if !found {
		return RankNone, 0, false, false, false
	}
	same = true
	for _, rr := range rrs[1:] {
		if rr == nil || rr.Header().Rrtype != set.Rrtype || rr.Header().Class != set.Class || !strings.EqualFold(rr.Header().Name, set.Name) {
			same = false
		}
	}
	return h.rank, h.remaining(t, c.set.staleTTL), h.prefetch, same && sameRecords(h.data, rrs, sigs), true
}

// sameRecords reports whether the cached RRset d holds exactly the records
// of rrs and the RRSIGs of sigs, TTLs aside. The cached records are
// distinct (PutRRset drops duplicates), so each of rrs and sigs among
// them and each of them among rrs and sigs means the same set.
func sameRecords(d []byte, rrs, sigs []dns.RR) bool {
	if len(d) < keyHeaderLen {
		return false
	}
	p := keyHeaderLen + int(d[0])
	if p+2 > len(d) {
		return false
	}
	nrec := int(getU16(d[p:]))
	recs := d[p+2:]
	for _, rr := range rrs {
		if rr == nil || rr.Header().Rrtype == dns.TypeRRSIG {
			return false
		}
	}
	for _, rr := range sigs {
		if rr == nil || rr.Header().Rrtype != dns.TypeRRSIG {
			return false
		}
	}
	bp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(bp)
	m := dns.Msg{Answer: rrs, Ns: sigs}
	packed, err := m.PackBuffer(*bp)
	if err != nil {
		return false
	}
	n := len(rrs) + len(sigs)
	rd := wire.NewReader(packed)
	for range n {
		r, ok := rd.Next()
		if !ok || !cachedHas(recs, nrec, r.Type() == dns.TypeRRSIG, r.RData(packed)) {
			return false
		}
	}
	for i, q := 0, 0; q < len(recs); i++ {
		if q+2 > len(recs) {
			return false
		}
		end := q + 2 + int(getU16(recs[q:]))
		if end > len(recs) || !packedHas(packed, n, i >= nrec, recs[q+2:end]) {
			return false
		}
		q = end
	}
	return true
}

// cachedHas reports whether the cached records recs (nrec of them, then
// the RRSIGs) hold one of the kind isSig with this RDATA.
func cachedHas(recs []byte, nrec int, isSig bool, rdata []byte) bool {
	for i, q := 0, 0; q+2 <= len(recs); i++ {
		end := q + 2 + int(getU16(recs[q:]))
		if end > len(recs) {
			return false
		}
		if (i >= nrec) == isSig && bytes.Equal(recs[q+2:end], rdata) {
			return true
		}
		q = end
	}
	return false
}

// packedHas reports whether the n records of the packed message hold one
// of the kind isSig with this RDATA.
func packedHas(packed []byte, n int, isSig bool, rdata []byte) bool {
	rd := wire.NewReader(packed)
	for range n {
		r, ok := rd.Next()
		if !ok {
			return false
		}
		if (r.Type() == dns.TypeRRSIG) == isSig && bytes.Equal(r.RData(packed), rdata) {
			return true
		}
	}
	return false
}
