package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/wire"
)

// Answer entries follow the key header (whose name length, flags, type and
// class describe the question) with
//
//	[6:8]    length of the stored message L
//	[8:10]   number of TTL fields N
//	[10:10+L] the response without OPT, ID 0, question name lowercased,
//	          compressed; the key's name is the question name inside it
//	then N   [2] offset of a TTL field within the message
//	then N   [4] that field's TTL when stored
//
// The hit path copies the message, then rewrites the ID, the question name,
// a few header bits and the N TTL fields, and appends an OPT record.
const answerMsgOffset = 10

// Answer key flags: responses differ with the client's DO and CD bits
// (RRSIGs included or not; bogus data allowed or not).
const (
	flagDO uint8 = 1 << iota
	flagCD
)

// PutAnswer stores msg, the final response to a client query, for the hit
// path. msg must be a response to a standard query with exactly one
// question and RCODE NOERROR or NXDOMAIN; truncated responses, responses
// signed with TSIG, and negative responses without an SOA (RFC 2308 §5) are
// declined with ErrNotCacheable.
//
// The key is the question (name compared without case) and the DO bit of
// msg's OPT record and its CD bit, which a response copies from its query.
// The AD bit should say whether the data validated: the hit path keeps it
// only for clients that set DO or AD (RFC 6840 §5.8). msg is not modified.
//
// TTLs are clamped as for RRsets; an SOA in the authority section counts
// with min(TTL, MINIMUM) clamped as a negative TTL. The entry expires when
// its smallest TTL does. A zero now means the configured clock.
func (c *Cache) PutAnswer(msg *dns.Msg, now time.Time) error {
	if msg == nil {
		return errors.New("cache: PutAnswer: nil message")
	}
	if !msg.Response {
		return errors.New("cache: PutAnswer: message is a query, not a response")
	}
	if len(msg.Question) != 1 {
		return fmt.Errorf("cache: PutAnswer: %d questions, want 1", len(msg.Question))
	}
	q := msg.Question[0]
	if !dns.IsFqdn(q.Name) {
		return fmt.Errorf("cache: PutAnswer: question name %q is not fully qualified", q.Name)
	}
	switch {
	case msg.Opcode != dns.OpcodeQuery:
		return fmt.Errorf("%w: opcode %s", ErrNotCacheable, dns.OpcodeToString[msg.Opcode])
	case msg.Truncated:
		return fmt.Errorf("%w: truncated response for %s", ErrNotCacheable, q.Name)
	case msg.Rcode != dns.RcodeSuccess && msg.Rcode != dns.RcodeNameError:
		return fmt.Errorf("%w: rcode %s for %s", ErrNotCacheable, dns.RcodeToString[msg.Rcode], q.Name)
	case q.Qtype != dns.TypeANY && isMetaType(q.Qtype):
		return fmt.Errorf("%w: meta query type %d", ErrNotCacheable, q.Qtype)
	}
	var flags uint8
	if msg.CheckingDisabled {
		flags |= flagCD
	}
	extra := make([]dns.RR, 0, len(msg.Extra))
	opts := 0
	for _, rr := range msg.Extra {
		if rr == nil {
			return errors.New("cache: PutAnswer: nil record in additional section")
		}
		switch rr.Header().Rrtype {
		case dns.TypeOPT:
			opts++
			if opt, ok := rr.(*dns.OPT); ok && opt.Do() {
				flags |= flagDO
			}
			continue
		case dns.TypeTSIG, dns.TypeSIG:
			return fmt.Errorf("%w: transaction-signed response for %s", ErrNotCacheable, q.Name)
		}
		extra = append(extra, rr)
	}
	if opts > 1 {
		return fmt.Errorf("cache: PutAnswer: %d OPT records", opts)
	}
	if len(msg.Answer)+len(msg.Ns)+len(extra) == 0 {
		return fmt.Errorf("%w: empty %s response for %s", ErrNotCacheable, dns.RcodeToString[msg.Rcode], q.Name)
	}

	m := &dns.Msg{MsgHdr: msg.MsgHdr, Compress: true, Question: []dns.Question{q}}
	m.Id = 0
	var err error
	if m.Answer, err = withQname(msg.Answer, q.Name); err != nil {
		return err
	}
	if m.Ns, err = withQname(msg.Ns, q.Name); err != nil {
		return err
	}
	if m.Extra, err = withQname(extra, q.Name); err != nil {
		return err
	}
	packed, err := m.Pack()
	if err != nil {
		return fmt.Errorf("cache: PutAnswer: %s: %w", q.Name, err)
	}
	if len(packed) > math.MaxUint16 {
		return fmt.Errorf("%w: response of %d octets", ErrNotCacheable, len(packed))
	}
	t := c.nanos(now)

	r := wire.NewReader(packed)
	question, ok := r.Question()
	if !ok {
		return fmt.Errorf("cache: PutAnswer: question: %w", r.Err())
	}
	total := len(m.Answer) + len(m.Ns) + len(m.Extra)
	ttlOffs := make([]uint16, 0, total)
	ttls := make([]uint32, 0, total)
	entryTTL := uint32(math.MaxUint32)
	sigLeft := int64(math.MaxInt64)
	soa := false
	for rr, ok := r.Next(); ok; rr, ok = r.Next() {
		// miekg/dns packs some malformed records (an SOA with empty
		// names, for one) into bytes it cannot parse back; never serve
		// such bytes. The walk has read the header, the question and
		// every record's owner and lengths.
		if err := checkUnpack(packed, rr); err != nil {
			return fmt.Errorf("cache: PutAnswer: %s: record %d: %w", q.Name, len(ttls), err)
		}
		rt := rr.TTL()
		if rt > math.MaxInt32 {
			rt = 0
		}
		rdata := rr.RData(packed)
		switch {
		case rr.Type() == dns.TypeSOA && r.Section() == wire.SectionAuthority:
			soa = true
			if len(rdata) >= 22 {
				rt = min(rt, binary.BigEndian.Uint32(rdata[len(rdata)-4:]))
			}
			rt = clampTTL(rt, c.set.minNegTTL, c.set.maxNegTTL)
		default:
			rt = clampTTL(rt, c.set.minTTL, c.set.maxTTL)
		}
		if rr.Type() == dns.TypeRRSIG {
			if left, err := rrsigRemaining(rdata, t); err == nil {
				sigLeft = min(sigLeft, left)
			}
		}
		binary.BigEndian.PutUint32(packed[rr.TTLOff():], rt)
		ttlOffs = append(ttlOffs, uint16(rr.TTLOff()))
		ttls = append(ttls, rt)
		entryTTL = min(entryTTL, rt)
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("cache: PutAnswer: record %d: %w", len(ttls), err)
	}
	if off := r.Offset(); off != len(packed) {
		return fmt.Errorf("cache: PutAnswer: offset %d: %d trailing octets after the records", off, len(packed)-off)
	}
	if (msg.Rcode == dns.RcodeNameError || len(m.Answer) == 0) && !soa {
		return fmt.Errorf("%w: negative response for %s without SOA", ErrNotCacheable, q.Name)
	}
	if sigLeft < int64(entryTTL) {
		entryTTL = uint32(max(sigLeft, 0))
	}
	if entryTTL == 0 {
		return fmt.Errorf("%w: response for %s has TTL 0", ErrNotCacheable, q.Name)
	}

	lname := question.Name(packed)
	wire.CopyLower(lname, lname)
	data := make([]byte, answerMsgOffset+len(packed)+6*len(ttls))
	data[0] = byte(len(lname))
	data[1] = flags
	putU16(data[2:], q.Qtype)
	putU16(data[4:], q.Qclass)
	putU16(data[6:], uint16(len(packed)))
	putU16(data[8:], uint16(len(ttls)))
	p := answerMsgOffset + copy(data[answerMsgOffset:], packed)
	for _, o := range ttlOffs {
		putU16(data[p:], o)
		p += 2
	}
	for _, v := range ttls {
		binary.BigEndian.PutUint32(data[p:], v)
		p += 4
	}

	nh := c.nameHash(lname)
	h := keyHash(nh, kindAnswer, flags, q.Qtype, q.Qclass)
	expire := t + int64(entryTTL)*int64(time.Second)
	s := c.shardFor(nh)
	k := key{kind: kindAnswer, flags: flags, qtype: q.Qtype, qclass: q.Qclass, name: lname}
	s.mu.Lock()
	stored := s.store(h, s.find(h, &k), kindAnswer, data, expire, entryTTL, RankNone, t)
	s.mu.Unlock()
	if !stored {
		return fmt.Errorf("%w: response for %s needs %d bytes, more than a shard holds", ErrNotCacheable, q.Name, len(data))
	}
	return nil
}

// withQname returns rrs with every owner name equal to qname (ignoring
// case) spelled exactly as qname, copying only the records it changes (and
// the slice, when it changes one).
// miekg/dns compresses names case-sensitively; with one spelling those
// owners become pointers to the question, which the hit path overwrites
// with the client's spelling, so 0x20 case is echoed in the answer too.
func withQname(rrs []dns.RR, qname string) ([]dns.RR, error) {
	out := rrs // copied on the first change: usually there is none
	for i, rr := range rrs {
		if rr == nil {
			return nil, fmt.Errorf("cache: PutAnswer: nil record %d", i)
		}
		if n := rr.Header().Name; n != qname && asciiEqualFold(n, qname) {
			if &out[0] == &rrs[0] {
				out = append([]dns.RR(nil), rrs...)
			}
			rr = dns.Copy(rr)
			rr.Header().Name = qname
			out[i] = rr
		}
	}
	return out, nil
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if wire.LowerByte(a[i]) != wire.LowerByte(b[i]) {
			return false
		}
	}
	return true
}
