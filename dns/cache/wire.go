package cache

import (
	"encoding/binary"

	"github.com/rampart-fw/rampart/dns/wire"
)

const (
	minUDPSize = 512
	maxMsgSize = 65535
)

// wireQuery is what the hit path needs from a client query.
type wireQuery struct {
	nameLen int // QNAME in wire form, root included; it starts at offset 12
	qtype   uint16
	qclass  uint16
	edns    bool
	do      bool
	udpSize uint16
}

// parseQuery reads a client query the hit path can answer into q and
// writes the lowercased QNAME into lname. It accepts only the plain case:
// QR, TC, Z and RCODE clear, opcode QUERY, one question with an
// uncompressed name, no answer or authority records, and nothing in the
// additional section but one version-0 OPT record with well-formed options.
// Anything else returns false so that the slow path, which can build proper
// error responses, sees it. It never reads outside b, and fills q in place
// (a struct of its size returned by value is copied through memory).
func parseQuery(b []byte, lname *[wire.MaxNameLen]byte, q *wireQuery) bool {
	*q = wireQuery{}
	if len(b) < wire.HeaderLen+5 {
		return false
	}
	h := wire.Header(b)
	if h.Flags()&(wire.QR|wire.OpcodeMask|wire.TC|wire.Z|wire.RcodeMask) != 0 {
		return false
	}
	arcount := h.ARCount()
	if h.QDCount() != 1 || h.ANCount() != 0 || h.NSCount() != 0 || arcount > 1 {
		return false
	}
	var r wire.Reader
	question, ok := r.OneQuestion(b)
	if !ok {
		return false
	}
	q.nameLen = wire.CopyLower(lname[:], question.Name(b))
	q.qtype, q.qclass = question.Type(), question.Class()
	if arcount == 0 {
		return question.End() == len(b)
	}
	// The one record is the OPT, owned by the root, and ends the query.
	// Extended RCODE must be 0 in a query; other versions get BADVERS from
	// the slow path (RFC 6891 §6.1.3).
	rr, ok := r.Next()
	opt := wire.OPT(rr)
	if !ok || rr.Type() != wire.TypeOPT || rr.NameEnd != rr.Off+1 || rr.End != len(b) ||
		opt.Version() != 0 || opt.ExtRcode() != 0 || !opt.Options(b).Valid() {
		return false
	}
	q.edns, q.do, q.udpSize = true, opt.DO(), opt.UDPSize()
	return true
}

// HitFlags describe a hit on the wire path.
type HitFlags uint8

const (
	// HitStale: the answer expired and was served stale (RFC 8767); the
	// caller should refresh it.
	HitStale HitFlags = 1 << iota
	// HitPrefetch: the answer is in the last 10% of its TTL and this is
	// the one hit told so; the caller should refresh it in the background.
	HitPrefetch
)

// WireOptions adjust AnswerFromWireOpts.
type WireOptions struct {
	// MaxSize caps the response size. Zero applies the UDP rule: the
	// client's EDNS UDP size (at least 512), or 512 without EDNS. Servers
	// answering over TCP pass 65535.
	MaxSize int
	// AllowStale permits an expired answer when Config.ServeStale is on.
	AllowStale bool
	// JustStored says the caller answers from an entry it has just
	// stored: the lookup is neither a hit nor a miss in the counters, and
	// not an access that keeps the entry in the cache.
	JustStored bool
}

// AnswerFromWire answers a raw UDP query from the answer cache. On a hit it
// writes the response into resp and returns its length and true. It
// returns false, and the caller takes the slow path, when the query is not
// a plain one (see below), nothing is cached for it, the answer has
// expired, or the answer does not fit in resp or the client's UDP size (so
// the slow path can truncate).
//
// The response is the stored one with the query's ID, the query's question
// name bytes exactly as sent (0x20 mixed case is echoed, and so is the case
// of answer owners compressed against the question), every TTL counted down
// to the remaining TTL, RD and CD copied from the query, AD kept only if the
// query set DO or AD, and an OPT record (UDP size Config.EDNSUDPSize, DO as
// in the query, no options) last in the additional section if and only if
// the query had one. The query's EDNS options are not echoed.
//
// Plain means: opcode QUERY, QR/TC/Z/RCODE clear, one question, no answer or
// authority records, and at most one additional record which is an EDNS
// version-0 OPT. AnswerFromWire allocates nothing and takes only a shard's
// read lock, for a few loads.
func (c *Cache) AnswerFromWire(query, resp []byte) (int, bool) {
	n, _, ok := c.AnswerFromWireOpts(query, resp, WireOptions{})
	return n, ok
}

// AnswerFromWireOpts is AnswerFromWire with a size limit for TCP, serving of
// stale answers, and the hit flags that ask the caller for a refresh.
func (c *Cache) AnswerFromWireOpts(query, resp []byte, o WireOptions) (int, HitFlags, bool) {
	var lname [wire.MaxNameLen]byte
	var q wireQuery
	if !parseQuery(query, &lname, &q) {
		c.declined(query)
		return 0, 0, false
	}
	name := lname[:q.nameLen]
	var flags uint8
	if q.do {
		flags |= flagDO
	}
	qh := wire.Header(query)
	qflags := qh.Flags()
	if qflags&wire.CD != 0 {
		flags |= flagCD
	}
	nh := c.nameHash(name)
	k := key{kind: kindAnswer, flags: flags, qtype: q.qtype, qclass: q.qclass, name: name}
	now := c.set.clock.Now().UnixNano()
	h, ok := c.get(nh, &k, now, o.AllowStale, o.JustStored)
	if !ok {
		if !o.JustStored {
			c.count(nh, statAnswer, false)
		}
		return 0, 0, false
	}

	d := h.data
	msgLen := int(getU16(d[6:]))
	nTTL := int(getU16(d[8:]))
	size := msgLen
	if q.edns {
		size += wire.OPTLen
	}
	limit := o.MaxSize
	if limit <= 0 {
		limit = minUDPSize
		if q.edns && int(q.udpSize) > limit {
			limit = int(q.udpSize)
		}
	}
	if size > limit || size > len(resp) || size > maxMsgSize {
		if !o.JustStored {
			c.declined(query)
		}
		return 0, 0, false
	}

	// Everything needed from the query is read before resp is written, so
	// a server may pass the same buffer for both.
	id := qh.ID()
	var qname [wire.MaxNameLen]byte
	copy(qname[:q.nameLen], query[wire.HeaderLen:])

	msg := d[answerMsgOffset : answerMsgOffset+msgLen]
	copy(resp, msg)
	rh := wire.Header(resp)
	rh.SetID(id)
	// RD and CD as the query has them; AD kept only for a client that
	// asked for it with DO or AD (RFC 6840 §5.8).
	mflags := wire.Header(msg).Flags()
	f := mflags&^(wire.RD|wire.AD|wire.CD) | qflags&(wire.RD|wire.CD)
	if mflags&wire.AD != 0 && (q.do || qflags&wire.AD != 0) {
		f |= wire.AD
	}
	rh.SetFlags(f)
	copy(resp[wire.HeaderLen:wire.HeaderLen+q.nameLen], qname[:q.nameLen])

	offs := d[answerMsgOffset+msgLen:]
	ttls := offs[2*nTTL:]
	elapsed := h.elapsed(now)
	for i := 0; i < nTTL; i++ {
		o := int(getU16(offs[2*i:]))
		var v uint32
		if h.stale {
			v = c.set.staleTTL
		} else if orig := int64(binary.BigEndian.Uint32(ttls[4*i:])); orig > elapsed {
			v = uint32(orig - elapsed)
		}
		binary.BigEndian.PutUint32(resp[o:], v)
	}

	if !o.JustStored {
		c.count(nh, statAnswer, true)
	}
	var hf HitFlags
	if h.stale {
		hf |= HitStale
	}
	if h.prefetch {
		hf |= HitPrefetch
	}
	if !q.edns {
		return msgLen, hf, true
	}
	rh.SetCount(wire.SectionAdditional, wire.Header(msg).ARCount()+1)
	wire.PutOPT(resp[msgLen:msgLen+wire.OPTLen], c.set.ednsUDPSize, q.do)
	return size, hf, true
}

// declined counts a query left to the slow path, on a shard picked by the
// query ID so that a flood of odd queries does not contend on one counter.
func (c *Cache) declined(query []byte) {
	i := 0
	if len(query) >= wire.HeaderLen {
		i = int(wire.Header(query).ID()) & int(c.mask)
	}
	c.shards[i].ctr.wireDeclined.Add(1)
}
