package cache

import (
	"encoding/binary"
)

// Header bits, RFC 1035 §4.1.1 and RFC 4035 §3.2 (byte 2 and byte 3).
const (
	bitQR     = 0x80
	maskOp    = 0x78
	bitTC     = 0x02
	bitRD     = 0x01
	bitZ      = 0x40
	bitAD     = 0x20
	bitCD     = 0x10
	maskRcode = 0x0f
)

const (
	headerLen  = 12
	optRRLen   = 11 // root owner, type, class, TTL, RDLENGTH
	typeOPT    = 41
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

// parseQuery reads a client query the hit path can answer and writes the
// lowercased QNAME into lname. It accepts only the plain case: QR, TC, Z and
// RCODE clear, opcode QUERY, one question with an uncompressed name, no
// answer or authority records, and nothing in the additional section but
// one version-0 OPT record with well-formed options. Anything else returns
// false so that the slow path, which can build proper error responses, sees
// it. It never reads outside b.
func parseQuery(b []byte, lname *[maxNameLen]byte) (wireQuery, bool) {
	var q wireQuery
	if len(b) < headerLen+5 {
		return q, false
	}
	if b[2]&(bitQR|maskOp|bitTC) != 0 || b[3]&(bitZ|maskRcode) != 0 {
		return q, false
	}
	if getU16(b[4:]) != 1 || getU16(b[6:]) != 0 || getU16(b[8:]) != 0 {
		return q, false
	}
	arcount := getU16(b[10:])
	if arcount > 1 {
		return q, false
	}
	off := headerLen
	n := 0
	for {
		if off >= len(b) {
			return q, false
		}
		l := int(b[off])
		if l == 0 {
			lname[n] = 0
			n++
			off++
			break
		}
		// Rejects compression pointers and the obsolete label types too:
		// both have a top bit set, so their first octet exceeds 63.
		if l > maxLabelLen || n+l+2 > maxNameLen || off+1+l > len(b) {
			return q, false
		}
		lname[n] = byte(l)
		for i := 1; i <= l; i++ {
			lname[n+i] = lowerByte(b[off+i])
		}
		n += 1 + l
		off += 1 + l
	}
	if off+4 > len(b) {
		return q, false
	}
	q.nameLen = n
	q.qtype = getU16(b[off:])
	q.qclass = getU16(b[off+2:])
	off += 4
	if arcount == 0 {
		return q, off == len(b)
	}
	if off+optRRLen > len(b) || b[off] != 0 || getU16(b[off+1:]) != typeOPT {
		return q, false
	}
	// Extended RCODE must be 0 in a query; other versions get BADVERS from
	// the slow path (RFC 6891 §6.1.3).
	if b[off+5] != 0 || b[off+6] != 0 {
		return q, false
	}
	q.edns = true
	q.udpSize = getU16(b[off+3:])
	q.do = b[off+7]&0x80 != 0
	rdlen := int(getU16(b[off+9:]))
	off += optRRLen
	if off+rdlen != len(b) {
		return q, false
	}
	for p := off; p < len(b); {
		if p+4 > len(b) {
			return q, false
		}
		p += 4 + int(getU16(b[p+2:]))
		if p > len(b) {
			return q, false
		}
	}
	return q, true
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
	var lname [maxNameLen]byte
	q, ok := parseQuery(query, &lname)
	if !ok {
		c.declined(query)
		return 0, 0, false
	}
	name := lname[:q.nameLen]
	var flags uint8
	if q.do {
		flags |= flagDO
	}
	if query[3]&bitCD != 0 {
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
		size += optRRLen
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
	id0, id1, q2, q3 := query[0], query[1], query[2], query[3]
	var qname [maxNameLen]byte
	copy(qname[:q.nameLen], query[headerLen:])

	msg := d[answerMsgOffset : answerMsgOffset+msgLen]
	copy(resp, msg)
	resp[0], resp[1] = id0, id1
	resp[2] = msg[2]&^bitRD | q2&bitRD
	b3 := msg[3] &^ (bitAD | bitCD)
	b3 |= q3 & bitCD
	if msg[3]&bitAD != 0 && (q.do || q3&bitAD != 0) {
		b3 |= bitAD
	}
	resp[3] = b3
	copy(resp[headerLen:headerLen+q.nameLen], qname[:q.nameLen])

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
	putU16(resp[10:], getU16(msg[10:])+1)
	opt := resp[msgLen : msgLen+optRRLen]
	opt[0] = 0
	putU16(opt[1:], typeOPT)
	putU16(opt[3:], c.set.ednsUDPSize)
	opt[5], opt[6] = 0, 0 // extended RCODE, version
	opt[7], opt[8] = 0, 0
	if q.do {
		opt[7] = 0x80
	}
	opt[9], opt[10] = 0, 0
	return size, hf, true
}

// declined counts a query left to the slow path, on a shard picked by the
// query ID so that a flood of odd queries does not contend on one counter.
func (c *Cache) declined(query []byte) {
	i := 0
	if len(query) >= 2 {
		i = int(getU16(query)) & int(c.mask)
	}
	c.shards[i].ctr.wireDeclined.Add(1)
}
