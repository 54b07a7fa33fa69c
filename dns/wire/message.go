package wire

import "encoding/binary"

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
type Question struct {
	Off     int  // where the name starts
	NameEnd int  // just after the name: QTYPE
	Pointer bool // the name ends in a compression pointer
	Type    uint16
	Class   uint16
}

// Name is the name as written in msg, a compression pointer included.
func (q Question) Name(msg []byte) []byte { return msg[q.Off:q.NameEnd] }

// End is the offset just after the entry.
func (q Question) End() int { return q.NameEnd + 4 }

// RR is a resource record located in a message (RFC 1035 §4.1.3).
type RR struct {
	Off     int // where the owner name starts
	NameEnd int // just after the owner name: TYPE
	Type    uint16
	Class   uint16
	TTL     uint32
	End     int // just after the RDATA
}

// TTLOff is the offset of the TTL field.
func (r RR) TTLOff() int { return r.NameEnd + 4 }

// RDataOff is the offset of the RDATA.
func (r RR) RDataOff() int { return r.NameEnd + 10 }

// RData is the record's RDATA in msg.
func (r RR) RData(msg []byte) []byte { return msg[r.NameEnd+10 : r.End] }

// ReadRR locates the record whose owner name starts at off.
func ReadRR(msg []byte, off int) (RR, error) {
	rr, at, r := readRR(msg, off)
	if r != 0 {
		return rr, fault(at, r)
	}
	return rr, nil
}

func readRR(msg []byte, off int) (RR, int, Reason) {
	end, _, r := skipName(msg, off)
	if r != 0 {
		return RR{}, end, r
	}
	if end+10 > len(msg) {
		return RR{}, off, ErrTruncated
	}
	rr := RR{
		Off:     off,
		NameEnd: end,
		Type:    binary.BigEndian.Uint16(msg[end:]),
		Class:   binary.BigEndian.Uint16(msg[end+2:]),
		TTL:     binary.BigEndian.Uint32(msg[end+4:]),
		End:     end + 10 + int(binary.BigEndian.Uint16(msg[end+8:])),
	}
	if rr.End > len(msg) {
		return RR{}, off, ErrTruncated
	}
	return rr, 0, 0
}

// ReadQuestion locates the question entry whose name starts at off.
func ReadQuestion(msg []byte, off int) (Question, error) {
	q, at, r := readQuestion(msg, off)
	if r != 0 {
		return q, fault(at, r)
	}
	return q, nil
}

func readQuestion(msg []byte, off int) (Question, int, Reason) {
	end, pointer, r := skipName(msg, off)
	if r != 0 {
		return Question{}, end, r
	}
	if end+4 > len(msg) {
		return Question{}, off, ErrTruncated
	}
	return Question{
		Off:     off,
		NameEnd: end,
		Pointer: pointer,
		Type:    binary.BigEndian.Uint16(msg[end:]),
		Class:   binary.BigEndian.Uint16(msg[end+2:]),
	}, 0, 0
}

// Reader walks the entries of a message in order: the questions, then the
// records of the answer, authority and additional sections, as many as the
// header announces. It stops at the first fault, which it keeps as a
// Reason and an offset (allocating nothing) until Err is called. A Reader
// is a value that belongs to one goroutine.
type Reader struct {
	msg   []byte
	off   int     // the next entry's offset
	sec   Section // the section of the next entry
	left  int     // entries of sec not read yet
	count [4]uint16
	last  Section // the section of the entry last returned
	fault Reason
	at    int
}

// NewReader returns a Reader at the first question of msg.
func NewReader(msg []byte) Reader {
	if len(msg) < HeaderLen {
		return Reader{msg: msg, fault: ErrShort}
	}
	h := Header(msg)
	r := Reader{msg: msg, off: HeaderLen}
	r.count = [4]uint16{h.QDCount(), h.ANCount(), h.NSCount(), h.ARCount()}
	r.left = int(r.count[0])
	return r
}

// Question returns the next question entry; false when the questions are
// all read or on a fault.
func (r *Reader) Question() (Question, bool) {
	if r.fault != 0 || r.sec != SectionQuestion || r.left == 0 {
		return Question{}, false
	}
	q, at, reason := readQuestion(r.msg, r.off)
	if reason != 0 {
		r.fault, r.at = reason, at
		return Question{}, false
	}
	r.off = q.End()
	r.left--
	r.last = SectionQuestion
	return q, true
}

// Next returns the next record, after any questions not read yet; false
// when every record the header announces is read, or on a fault.
func (r *Reader) Next() (RR, bool) {
	for r.fault == 0 && r.sec == SectionQuestion && r.left > 0 {
		r.Question()
	}
	for r.left == 0 && r.sec < SectionAdditional {
		r.sec++
		r.left = int(r.count[r.sec])
	}
	if r.fault != 0 || r.left == 0 {
		return RR{}, false
	}
	rr, at, reason := readRR(r.msg, r.off)
	if reason != 0 {
		r.fault, r.at = reason, at
		return RR{}, false
	}
	r.off = rr.End
	r.left--
	r.last = r.sec
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
func (r *Reader) OPT() (opt RR, found bool) {
	for {
		rr, ok := r.Next()
		if !ok {
			return opt, found && r.fault == 0
		}
		if rr.Type != TypeOPT || r.last != SectionAdditional {
			continue
		}
		switch {
		case found:
			r.fault, r.at = ErrTwoOPT, rr.Off
			return RR{}, false
		case rr.NameEnd != rr.Off+1: // the root is the one-octet name
			r.fault, r.at = ErrOPTOwner, rr.Off
			return RR{}, false
		}
		opt, found = rr, true
	}
}
