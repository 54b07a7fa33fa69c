package wire

import (
	"encoding/binary"
	"math/bits"
)

// Section is one of the four parts of a message after the header.
type Section uint8

const (
	SectionQuestion Section = iota
	SectionAnswer
	SectionAuthority
	SectionAdditional
)

var sectionNames = [...]string{"question", "answer", "authority", "additional"}

func (s Section) String() string {
	if int(s) < len(sectionNames) {
		return sectionNames[s]
	}
	return "no section"
}

// Question is a question entry located in a message (RFC 1035 §4.1.2).
// It has four fields, so that the compiler keeps it in registers (a
// larger struct is copied through memory, which cost a hit path more than
// the walk itself); QTYPE and QCLASS are read once, together, and given
// by methods.
type Question struct {
	Off     int // where the name starts
	NameEnd int // just after the name: QTYPE
	fixed   uint32
	pointer bool
}

// Type is the QTYPE.
func (q Question) Type() uint16 { return uint16(q.fixed >> 16) }

// Class is the QCLASS.
func (q Question) Class() uint16 { return uint16(q.fixed) }

// Compressed reports whether the name ends in a compression pointer.
func (q Question) Compressed() bool { return q.pointer }

// Name is the name as written in msg, a compression pointer included.
func (q Question) Name(msg []byte) []byte { return msg[q.Off:q.NameEnd] }

// End is the offset just after the entry.
func (q Question) End() int { return q.NameEnd + 4 }

// RR is a resource record located in a message (RFC 1035 §4.1.3). Like
// Question it has four fields; TYPE, CLASS and TTL, read with one load,
// are given by methods.
type RR struct {
	Off     int // where the owner name starts
	NameEnd int // just after the owner name: TYPE
	End     int // just after the RDATA
	fixed   uint64
}

// Type is the record's TYPE.
func (r RR) Type() uint16 { return uint16(r.fixed >> 48) }

// Class is the record's CLASS.
func (r RR) Class() uint16 { return uint16(r.fixed >> 32) }

// TTL is the record's TTL.
func (r RR) TTL() uint32 { return uint32(r.fixed) }

// TTLOff is the offset of the TTL field.
func (r RR) TTLOff() int { return r.NameEnd + 4 }

// RDataOff is the offset of the RDATA.
func (r RR) RDataOff() int { return r.NameEnd + 10 }

// RData is the record's RDATA in msg.
func (r RR) RData(msg []byte) []byte { return msg[r.NameEnd+10 : r.End] }

// SetRDLength writes n into the record's RDLENGTH field in msg, for a
// writer that grows (or shrinks) the RDATA in place; the RR value keeps
// the old End.
func (r RR) SetRDLength(msg []byte, n uint16) { binary.BigEndian.PutUint16(msg[r.NameEnd+8:], n) }

// ReadRR locates the record whose owner name starts at off.
func ReadRR(msg []byte, off int) (RR, error) {
	r := Reader{msg: msg, off: off, sec: SectionAdditional, left: 1}
	rr, ok := r.Next()
	if !ok {
		return rr, r.Err()
	}
	return rr, nil
}

// ReadQuestion locates the question entry whose name starts at off.
func ReadQuestion(msg []byte, off int) (Question, error) {
	r := Reader{msg: msg, off: off, sec: SectionQuestion, left: 1}
	q, ok := r.Question()
	if !ok {
		return q, r.Err()
	}
	return q, nil
}

// Reader walks the entries of a message in order: the questions, then the
// records of the answer, authority and additional sections, as many as the
// header announces. It stops at the first fault, which it keeps as a
// Reason and an offset (allocating nothing) until Err is called. A Reader
// is a value that belongs to one goroutine.
type Reader struct {
	msg    []byte
	off    int    // the next entry's offset
	left   int    // entries of sec not read yet
	at     int    // the fault's offset
	counts uint64 // the header's four counts, QDCOUNT in the top 16 bits
	sec    Section
	last   Section // the section of the entry last returned
	fault  Reason
}

// OneQuestion starts r over at msg and reads its question, which must be
// the only one (QDCOUNT 1) and have an uncompressed name: so it is in
// every query, and in every response that echoes one, since nothing comes
// before it for a pointer to point to. ok is false otherwise; r.Reason
// tells whether a fault stopped the walk. r is left after the question.
func (r *Reader) OneQuestion(msg []byte) (q Question, ok bool) {
	r.Reset(msg)
	q, ok = r.Question()
	return q, ok && !q.pointer && r.counts>>48 == 1
}

// NewReader returns a Reader at the first question of msg.
func NewReader(msg []byte) Reader {
	var r Reader
	r.Reset(msg)
	return r
}

// Reset starts r over at the first question of msg. On a hot path
// `var r Reader; r.Reset(msg)` builds the Reader where it is, where
// NewReader's result is copied, which costs more than reading a question.
func (r *Reader) Reset(msg []byte) {
	r.msg, r.off, r.left, r.at, r.counts, r.sec, r.last, r.fault = msg, HeaderLen, 0, 0, 0, SectionQuestion, SectionQuestion, 0
	if len(msg) < HeaderLen {
		r.off, r.fault = 0, ErrShort
		return
	}
	r.counts = binary.BigEndian.Uint64(msg[4:HeaderLen])
	r.left = int(r.counts >> 48)
}

// Question returns the next question entry; false when the questions are
// all read or on a fault.
func (r *Reader) Question() (Question, bool) {
	if r.fault != 0 || r.sec != SectionQuestion || r.left == 0 {
		return Question{}, false
	}
	msg, off := r.msg, r.off
	end, pointer, reason := skipName(msg, off)
	if reason == 0 && end+4 > len(msg) {
		end, reason = off, ErrTruncated
	}
	if reason != 0 {
		r.fault, r.at = reason, end
		return Question{}, false
	}
	r.off = end + 4
	r.left--
	r.last = SectionQuestion
	return Question{Off: off, NameEnd: end, fixed: binary.BigEndian.Uint32(msg[end:]), pointer: pointer}, true
}

// Next returns the next record, after any questions not read yet; false
// when every record the header announces is read, or on a fault.
func (r *Reader) Next() (RR, bool) {
	for r.sec == SectionQuestion && r.left > 0 && r.fault == 0 {
		r.Question()
	}
	sec, left := r.sec, r.left
	if left == 0 {
		// The next section with records left, without a loop: the
		// counts of the sections after sec, at the top of rest, and the
		// leading zero words skip the empty ones. This runs on every
		// query, whose one record (an OPT) is in the last section.
		rest := r.counts << (16 * (uint(sec) + 1))
		if rest == 0 {
			r.sec = SectionAdditional
			return RR{}, false
		}
		skip := uint(bits.LeadingZeros64(rest)) / 16
		sec += Section(1 + skip)
		left = int(rest << (16 * skip) >> 48)
		r.sec, r.left = sec, left
	}
	if r.fault != 0 {
		return RR{}, false
	}
	// The root owner (an OPT's) is read without a call.
	msg, off := r.msg, r.off
	var end int
	var reason Reason
	if uint(off) < uint(len(msg)) && msg[off] == 0 {
		end = off + 1
	} else {
		end, _, reason = skipName(msg, off)
	}
	if reason == 0 && end+10 > len(msg) {
		end, reason = off, ErrTruncated
	}
	if reason != 0 {
		r.fault, r.at = reason, end
		return RR{}, false
	}
	rr := RR{Off: off, NameEnd: end, End: end + 10 + int(binary.BigEndian.Uint16(msg[end+8:])), fixed: binary.BigEndian.Uint64(msg[end:])}
	if rr.End > len(msg) {
		r.fault, r.at = ErrTruncated, off
		return RR{}, false
	}
	r.off = rr.End
	r.left--
	r.last = sec
	return rr, true
}

// Section is the section of the entry last returned.
func (r *Reader) Section() Section { return r.last }

// Offset is where the next entry starts: after the last entry once every
// entry is read, so that Offset() < len(msg) means trailing octets.
func (r *Reader) Offset() int { return r.off }

// Reason is the fault that stopped the walk, 0 if none; it allocates
// nothing.
func (r *Reader) Reason() Reason { return r.fault }

// Err is the fault that stopped the walk, with its offset; nil if none.
func (r *Reader) Err() error {
	if r.fault == 0 {
		return nil
	}
	return &Error{Offset: r.at, Reason: r.fault}
}

// OPT walks the rest of the message and returns its OPT record (RFC 6891
// §6.1): the one in the additional section; OPT records in other sections
// are not EDNS and are passed over. A second OPT record (ErrTwoOPT) or one
// not owned by the root (ErrOPTOwner) is a fault, as is any fault of the
// walk. found is false when the message has no OPT record or on a fault.
func (r *Reader) OPT() (opt OPT, found bool) {
	for {
		// The end, seen without a call to Next: a query's OPT is its
		// last record.
		if r.left == 0 && r.sec != SectionQuestion && r.counts<<(16*(uint(r.sec)+1)) == 0 {
			return opt, found && r.fault == 0
		}
		rr, ok := r.Next()
		if !ok {
			return opt, found && r.fault == 0
		}
		if rr.Type() != TypeOPT || r.last != SectionAdditional {
			continue
		}
		switch {
		case found:
			r.fault, r.at = ErrTwoOPT, rr.Off
			return OPT{}, false
		case rr.NameEnd != rr.Off+1: // the root is the one-octet name
			r.fault, r.at = ErrOPTOwner, rr.Off
			return OPT{}, false
		}
		opt, found = OPT(rr), true
	}
}
