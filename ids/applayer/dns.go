package applayer

import (
	"encoding/binary"

	"github.com/rampart-fw/rampart/ids/buffer"
)

// DNS: one message per UDP datagram, or behind a 2-byte length on TCP
// (RFC 1035 4.2.2; several per chunk, or one split across chunks). Each
// question of a request is one transaction whose dns.query is the
// question's name, dotted, without the final dot, its bytes as sent
// (Suricata's rendering; the root is empty). A response is one
// transaction without dns.query, which, as in Suricata, matches requests
// only: a dns.query rule alerts once per question, not again on the
// answer. Names are read in place, with compression pointers followed;
// nothing is allocated.

const (
	dnsHeaderLen = 12
	maxName      = 255 // RFC 1035 2.3.4: octets of a name on the wire
	maxQuestions = 16  // beyond this a message is not a query anyone answers
)

// dnsStream is one TCP direction's framing state.
type dnsStream struct {
	lenBuf [2]byte
	lenN   int    // bytes of the length read
	need   int    // bytes of the message still to come
	buf    []byte // a message split across chunks
	start  uint64 // stream offset of the message's length prefix
	bad    int    // malformed messages in a row
}

// maxMalformed is how many malformed messages in a row make a direction
// garbage: its parser is disabled.
const maxMalformed = 3

// malformed reports a malformed message, and disables the direction at
// the maxMalformed-th in a row.
func (w *Worker) malformed(f *Flow, h Handler, d int, off uint64) {
	s := &f.dns[d]
	s.bad++
	w.event(f, h, d, KindDNSMalformed, off, s.bad >= maxMalformed)
}

// dnsHeaderSane checks what every DNS message's header has: a defined
// opcode (QUERY, IQUERY, STATUS, NOTIFY, UPDATE, DSO), a question count
// a message could carry, and counts that fit a 64 KiB message.
func dnsHeaderSane(b []byte) bool {
	switch (b[2] >> 3) & 0x0f {
	case 0, 1, 2, 4, 5, 6:
	default:
		return false
	}
	qd := binary.BigEndian.Uint16(b[4:])
	an := binary.BigEndian.Uint16(b[6:])
	ns := binary.BigEndian.Uint16(b[8:])
	ar := binary.BigEndian.Uint16(b[10:])
	if qd > maxQuestions {
		return false
	}
	// A record takes at least 11 bytes: 65535 bytes hold 5957.
	return int(an)+int(ns)+int(ar) <= 65535/11
}

// dnsStrict reports whether msg is a whole DNS message with one question
// that parses, for detection away from port 53.
func dnsStrict(msg []byte) bool {
	if len(msg) < dnsHeaderLen || !dnsHeaderSane(msg) || binary.BigEndian.Uint16(msg[4:]) != 1 {
		return false
	}
	var name [maxName]byte
	_, end, ok := readName(msg, dnsHeaderLen, name[:0])
	if !ok || end+4 > len(msg) {
		return false
	}
	switch binary.BigEndian.Uint16(msg[end+2:]) { // class
	case 1, 3, 4, 254, 255:
	default:
		return false
	}
	rest := len(msg) - end - 4
	an := binary.BigEndian.Uint16(msg[6:])
	ns := binary.BigEndian.Uint16(msg[8:])
	ar := binary.BigEndian.Uint16(msg[10:])
	if msg[2]&0x80 == 0 && (msg[2]>>3)&0x0f == 0 {
		// A query: no answers, and no more than its additional records.
		if an != 0 || ns != 0 {
			return false
		}
		if ar == 0 {
			return rest == 0
		}
	}
	return rest >= 11*(int(an)+int(ns)+int(ar))
}

// readName reads the name at off in msg, appending its dotted form to
// dst; it returns the name, the offset after it where it sits in the
// message (after the first pointer, if any), and whether it is valid.
func readName(msg []byte, off int, dst []byte) ([]byte, int, bool) {
	end := -1
	wire := 0 // octets of the name as RFC 1035 counts them
	for hops := 0; ; {
		if off >= len(msg) {
			return dst, 0, false
		}
		l := int(msg[off])
		switch l & 0xc0 {
		case 0x00:
			if l == 0 {
				if end < 0 {
					end = off + 1
				}
				return dst, end, true
			}
			if off+1+l > len(msg) {
				return dst, 0, false
			}
			if wire += l + 1; wire+1 > maxName {
				return dst, 0, false
			}
			if len(dst) > 0 {
				dst = append(dst, '.')
			}
			dst = append(dst, msg[off+1:off+1+l]...)
			off += 1 + l
		case 0xc0:
			if off+2 > len(msg) {
				return dst, 0, false
			}
			if end < 0 {
				end = off + 2
			}
			// A name's pointers may not outnumber its possible labels:
			// that bounds a loop.
			if hops++; hops > maxName/2 {
				return dst, 0, false
			}
			off = int(binary.BigEndian.Uint16(msg[off:]) & 0x3fff)
		default:
			return dst, 0, false // extended label types (RFC 6891 obsoleted them)
		}
	}
}

// dnsMessage parses one message and hands a transaction per question.
func (w *Worker) dnsMessage(f *Flow, d int, msg []byte, off uint64, h Handler) {
	if len(msg) < dnsHeaderLen {
		w.malformed(f, h, d, off)
		return
	}
	info := DNSInfo{
		ID:       binary.BigEndian.Uint16(msg),
		Response: msg[2]&0x80 != 0,
		Opcode:   (msg[2] >> 3) & 0x0f,
		Rcode:    msg[3] & 0x0f,
	}
	qd := int(binary.BigEndian.Uint16(msg[4:]))
	if qd == 0 {
		f.dns[d].bad = 0
		// A message without a question (an UPDATE's zone is one; a
		// NOTIFY may have none): a transaction without dns.query.
		w.set.Reset()
		w.tx = Tx{App: buffer.AppDNS, Dir: dirOf(d), Seq: f.seq, Off: off, DNS: info}
		f.seq++
		w.deliver(f, h)
		return
	}
	pos := dnsHeaderLen
	for range min(qd, maxQuestions) {
		name, end, ok := readName(msg, pos, w.name[:0])
		if !ok || end+4 > len(msg) {
			w.malformed(f, h, d, off)
			return
		}
		f.dns[d].bad = 0
		info.QType = binary.BigEndian.Uint16(msg[end:])
		info.QClass = binary.BigEndian.Uint16(msg[end+2:])
		pos = end + 4
		w.set.Reset()
		if !info.Response {
			w.set.Put(buffer.DNSQuery, name)
		}
		w.tx = Tx{App: buffer.AppDNS, Dir: dirOf(d), Seq: f.seq, Off: off, DNS: info}
		f.seq++
		w.deliver(f, h)
		if info.Response {
			break // one transaction per answer, its first question's type
		}
	}
	if qd > maxQuestions {
		w.malformed(f, h, d, off)
	}
}

// dnsStream frames DNS messages on a TCP direction.
func (w *Worker) dnsStream(f *Flow, d int, data []byte, h Handler) {
	s := &f.dns[d]
	for len(data) > 0 && !f.disabled[d] {
		if s.need == 0 {
			if s.lenN == 0 {
				s.start = f.off[d]
			}
			// The length prefix, possibly split.
			n := gather(s.lenBuf[:], &s.lenN, data)
			data = data[n:]
			f.off[d] += uint64(n)
			if s.lenN < len(s.lenBuf) {
				break
			}
			s.lenN = 0
			s.need = int(binary.BigEndian.Uint16(s.lenBuf[:]))
			if s.need < dnsHeaderLen {
				w.event(f, h, d, KindDNSMalformed, s.start, true)
				s.need = 0
				break
			}
			continue
		}
		if len(s.buf) == 0 && len(data) >= s.need {
			// Whole in this chunk: parsed in place.
			msg := data[:s.need]
			data = data[s.need:]
			f.off[d] += uint64(len(msg))
			s.need = 0
			w.dnsMessage(f, d, msg, s.start, h)
			continue
		}
		// Split: held until complete.
		want := s.need - len(s.buf)
		take := data[:min(len(data), want)]
		if !f.grow(&s.buf, len(take), 0xffff) {
			w.event(f, h, d, KindMemcap, s.start, true)
			break
		}
		s.buf = append(s.buf, take...)
		data = data[len(take):]
		f.off[d] += uint64(len(take))
		if len(s.buf) == s.need {
			s.need = 0
			w.dnsMessage(f, d, s.buf, s.start, h)
			s.buf = s.buf[:0]
		}
	}
	f.off[d] += uint64(len(data))
}
