package wire

import "encoding/binary"

// TypeOPT is the type of the OPT pseudo-record (RFC 6891 §6.1.1).
const TypeOPT = 41

// OPTLen is the size of an OPT record without options: the root, TYPE,
// CLASS (the UDP payload size), TTL (extended RCODE, version, flags) and
// RDLENGTH.
const OPTLen = 11

// OPT is an OPT record located in a message, read as what it says (RFC
// 6891 §6.1.2, §6.1.3): its CLASS is the sender's UDP payload size and its
// TTL the extended RCODE, the version and the flags.
type OPT RR

// DO is the DNSSEC OK flag of OPT.Flags (RFC 3225).
const DO = 1 << 15

// UDPSize is the sender's UDP payload size.
func (o OPT) UDPSize() uint16 { return RR(o).Class() }

// ExtRcode is the upper 8 bits of the 12-bit RCODE.
func (o OPT) ExtRcode() uint8 { return uint8(RR(o).TTL() >> 24) }

// Version is the EDNS version.
func (o OPT) Version() uint8 { return uint8(RR(o).TTL() >> 16) }

// Flags are the EDNS flags: DO, and bits that must be zero.
func (o OPT) Flags() uint16 { return uint16(RR(o).TTL()) }

// DO reports whether the sender wants DNSSEC records (RFC 3225).
func (o OPT) DO() bool { return o.Flags()&DO != 0 }

// Options is the record's RDATA in msg, its options.
func (o OPT) Options(msg []byte) Options { return Options(RR(o).RData(msg)) }

// PutOPT writes into b[:OPTLen] an OPT record without options with the
// given UDP payload size and DO flag (version 0, extended RCODE 0).
func PutOPT(b []byte, udpSize uint16, do bool) {
	_ = b[OPTLen-1]
	b[0] = 0
	binary.BigEndian.PutUint16(b[1:], TypeOPT)
	binary.BigEndian.PutUint16(b[3:], udpSize)
	flags := uint16(0)
	if do {
		flags = DO
	}
	binary.BigEndian.PutUint32(b[5:], uint32(flags))
	binary.BigEndian.PutUint16(b[9:], 0)
}

// Options is the RDATA of an OPT record: EDNS options, each a 16-bit
// code, a 16-bit length and that many octets of data.
type Options []byte

// Next returns the option at off, which must be below len(o), and the
// offset of the one after it; err names an option that runs past the
// record.
func (o Options) Next(off int) (code uint16, data []byte, next int, err error) {
	if off < 0 || off+4 > len(o) {
		return 0, nil, off, fault(off, ErrTruncated)
	}
	code = binary.BigEndian.Uint16(o[off:])
	next = off + 4 + int(binary.BigEndian.Uint16(o[off+2:]))
	if next > len(o) {
		return 0, nil, off, fault(off, ErrTruncated)
	}
	return code, o[off+4 : next], next, nil
}

// Find returns the data of the first option with code, having checked
// that every option fits in the record; valid is false when one does not
// (offsets are Next's to report).
func (o Options) Find(code uint16) (data []byte, found, valid bool) {
	for off := 0; off < len(o); {
		if off+4 > len(o) {
			return nil, false, false
		}
		c := binary.BigEndian.Uint16(o[off:])
		next := off + 4 + int(binary.BigEndian.Uint16(o[off+2:]))
		if next > len(o) {
			return nil, false, false
		}
		if c == code && !found {
			data, found = o[off+4:next], true
		}
		off = next
	}
	return data, found, true
}

// Valid reports whether every option fits in the record.
func (o Options) Valid() bool {
	off := 0
	for off+4 <= len(o) {
		off += 4 + int(binary.BigEndian.Uint16(o[off+2:]))
	}
	return off == len(o)
}

// AppendOption adds an option with code and data to the OPT record that
// ends msg[:n], in place, and returns the new length of the message; 0 when
// msg has no room for it or msg[:n] does not end in an OPT record without
// options. msg[:n] must be a message whose last record is its OPT record,
// as a writer that puts the OPT last (PutOPT) knows: AppendOption checks
// the record's fixed fields at the end of msg[:n] and the additional
// count, not the records before it, so that adding a cookie to a cached
// answer costs no walk of the answer.
func AppendOption(msg []byte, n int, code uint16, data []byte) int {
	if n < HeaderLen+OPTLen || n > len(msg) || len(data) > 0xFFFF-4 || len(msg)-n < 4+len(data) || Header(msg).ARCount() == 0 {
		return 0
	}
	opt := msg[n-OPTLen : n]
	if opt[0] != 0 || binary.BigEndian.Uint16(opt[1:]) != TypeOPT || binary.BigEndian.Uint16(opt[9:]) != 0 {
		return 0
	}
	binary.BigEndian.PutUint16(opt[9:], uint16(4+len(data)))
	PutOptionHeader(msg[n:], code, uint16(len(data)))
	copy(msg[n+4:], data)
	return n + 4 + len(data)
}

// PutOptionHeader writes the code and data length of an option into
// b[:4].
func PutOptionHeader(b []byte, code, length uint16) {
	binary.BigEndian.PutUint16(b[0:], code)
	binary.BigEndian.PutUint16(b[2:], length)
}

// DNS cookies (RFC 7873 §4).
const (
	// OptionCookie is the code of the COOKIE option.
	OptionCookie = 10
	// ClientCookieLen is the size of a client cookie.
	ClientCookieLen = 8
	// MinServerCookieLen and MaxServerCookieLen bound a server cookie.
	MinServerCookieLen = 8
	MaxServerCookieLen = 32
)

// Cookie is the data of a COOKIE option: a client cookie, followed by a
// server cookie once the server has sent one.
type Cookie []byte

// Valid reports whether c has a length a cookie can have: a client cookie
// alone, or with a server cookie of 8 to 32 octets. A query with any other
// gets FORMERR (RFC 7873 §5.2.2).
func (c Cookie) Valid() bool {
	l := len(c)
	return l == ClientCookieLen || (l >= ClientCookieLen+MinServerCookieLen && l <= ClientCookieLen+MaxServerCookieLen)
}

// Client is the client cookie; nil when c is shorter than one.
func (c Cookie) Client() []byte {
	if len(c) < ClientCookieLen {
		return nil
	}
	return c[:ClientCookieLen]
}

// Server is the server cookie; empty when there is none.
func (c Cookie) Server() []byte {
	if len(c) < ClientCookieLen {
		return nil
	}
	return c[ClientCookieLen:]
}
