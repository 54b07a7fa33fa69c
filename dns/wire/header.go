package wire

import "encoding/binary"

// HeaderLen is the size of the message header.
const HeaderLen = 12

// Header is the message header (RFC 1035 §4.1.1) at the start of a
// message, read and written in place. Its accessors need HeaderLen octets:
// check the length before the conversion.
type Header []byte

// ID is the query identifier.
func (h Header) ID() uint16 { return binary.BigEndian.Uint16(h[0:2]) }

// SetID sets the query identifier.
func (h Header) SetID(id uint16) { binary.BigEndian.PutUint16(h[0:2], id) }

// Flags is the second word of the header: QR, opcode, AA, TC, RD, RA, Z,
// AD, CD and RCODE.
func (h Header) Flags() Flags { return Flags(binary.BigEndian.Uint16(h[2:4])) }

// SetFlags sets the second word of the header.
func (h Header) SetFlags(f Flags) { binary.BigEndian.PutUint16(h[2:4], uint16(f)) }

// Count is the number of entries the header announces in section s.
func (h Header) Count(s Section) uint16 {
	return binary.BigEndian.Uint16(h[4+2*int(s&3):])
}

// SetCount sets the number of entries in section s.
func (h Header) SetCount(s Section, n uint16) {
	binary.BigEndian.PutUint16(h[4+2*int(s&3):], n)
}

// QDCount is the number of questions.
func (h Header) QDCount() uint16 { return binary.BigEndian.Uint16(h[4:6]) }

// ANCount is the number of answer records.
func (h Header) ANCount() uint16 { return binary.BigEndian.Uint16(h[6:8]) }

// NSCount is the number of authority records.
func (h Header) NSCount() uint16 { return binary.BigEndian.Uint16(h[8:10]) }

// ARCount is the number of additional records.
func (h Header) ARCount() uint16 { return binary.BigEndian.Uint16(h[10:12]) }

// Flags is the header's flags word. The single-bit flags are constants of
// this type; the opcode and RCODE are read with Opcode and Rcode.
type Flags uint16

// The bits of the flags word (RFC 1035 §4.1.1, RFC 4035 §3.2).
const (
	QR         Flags = 1 << 15 // a response
	OpcodeMask Flags = 0xF << 11
	AA         Flags = 1 << 10 // authoritative answer
	TC         Flags = 1 << 9  // truncated
	RD         Flags = 1 << 8  // recursion desired
	RA         Flags = 1 << 7  // recursion available
	Z          Flags = 1 << 6  // reserved, zero
	AD         Flags = 1 << 5  // authentic data
	CD         Flags = 1 << 4  // checking disabled
	RcodeMask  Flags = 0xF
)

// Opcodes and RCODEs this package's users name (RFC 1035 §4.1.1, RFC
// 6895); untyped, so that they compare with Flags.Rcode, miekg/dns's ints
// and plain ints alike.
const (
	OpcodeQuery = 0

	RcodeSuccess  = 0
	RcodeFormErr  = 1
	RcodeServFail = 2
	RcodeNXDomain = 3
	RcodeNotImp   = 4
	RcodeRefused  = 5
)

// Opcode is the kind of query (4 bits).
func (f Flags) Opcode() uint8 { return uint8(f>>11) & 0xF }

// Rcode is the response code (the low 4 bits; an OPT record extends it).
func (f Flags) Rcode() uint8 { return uint8(f & RcodeMask) }

// WithRcode returns f with the response code rcode (its low 4 bits).
func (f Flags) WithRcode(rcode uint8) Flags { return f&^RcodeMask | Flags(rcode)&RcodeMask }
