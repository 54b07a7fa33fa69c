package server

import "encoding/binary"

// DNS header layout (RFC 1035 §4.1.1).
const (
	headerLen = 12
	flagQR    = 0x8000
	flagAA    = 0x0400
	flagTC    = 0x0200
	flagRD    = 0x0100
	flagRA    = 0x0080
	flagCD    = 0x0010
	opMask    = 0x7800

	rcodeFormErr  = 1
	rcodeServFail = 2
	rcodeNotImp   = 4
	rcodeRefused  = 5
)

// questionEnd returns the offset just after the first question of msg, or
// -1 if the question is malformed. Compression is not allowed in a query's
// question (there is nothing before it to point to), so a pointer is an
// error too.
func questionEnd(msg []byte) int {
	off := headerLen
	total := 0
	for {
		if off >= len(msg) {
			return -1
		}
		l := int(msg[off])
		if l&0xC0 != 0 {
			return -1
		}
		off++
		if l == 0 {
			break
		}
		total += l + 1
		if total > 254 {
			return -1
		}
		off += l
	}
	off += 4 // type and class
	if off > len(msg) {
		return -1
	}
	return off
}

// errorResponse writes into dst a response to query with the given rcode,
// echoing the question when it is well formed and nothing else, and returns
// its length (0 when query is too short to answer at all). The response is
// never larger than the query, so error replies cannot amplify.
func errorResponse(dst, query []byte, rcode int) int {
	if len(query) < headerLen || len(dst) < headerLen {
		return 0
	}
	flags := binary.BigEndian.Uint16(query[2:])
	qd := binary.BigEndian.Uint16(query[4:])
	n := headerLen
	qdcount := uint16(0)
	if qd == 1 {
		if end := questionEnd(query); end > 0 && end <= len(dst) {
			n = end
			qdcount = 1
		}
	}
	copy(dst[:n], query[:n])
	// Keep ID, opcode, RD and CD; set QR and RA; clear the rest.
	flags = flags&(opMask|flagRD|flagCD) | flagQR | flagRA | uint16(rcode&0xF)
	binary.BigEndian.PutUint16(dst[2:], flags)
	binary.BigEndian.PutUint16(dst[4:], qdcount)
	binary.BigEndian.PutUint16(dst[6:], 0)
	binary.BigEndian.PutUint16(dst[8:], 0)
	binary.BigEndian.PutUint16(dst[10:], 0)
	return n
}
