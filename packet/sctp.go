package packet

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/rampart-fw/rampart/ipproto"
)

// SCTP chunk types (RFC 9260 3.2) that SCTPInfo distinguishes.
const (
	SCTPData             uint8 = 0
	SCTPInit             uint8 = 1
	SCTPInitAck          uint8 = 2
	SCTPSACK             uint8 = 3
	SCTPHeartbeat        uint8 = 4
	SCTPHeartbeatAck     uint8 = 5
	SCTPAbort            uint8 = 6
	SCTPShutdown         uint8 = 7
	SCTPShutdownAck      uint8 = 8
	SCTPError            uint8 = 9
	SCTPCookieEcho       uint8 = 10
	SCTPCookieAck        uint8 = 11
	SCTPECNE             uint8 = 12
	SCTPCWR              uint8 = 13
	SCTPShutdownComplete uint8 = 14
)

// SCTPFlagT is the T bit of ABORT and SHUTDOWN COMPLETE: the sender had
// no association and reflected the verification tag it received.
const SCTPFlagT uint8 = 0x01

// MaxSCTPControl is how many control chunks SCTPInfo lists in order.
const MaxSCTPControl = 8

const (
	sctpHeaderLen      = 12
	sctpChunkHeaderLen = 4
	sctpInitLen        = 20 // chunk header, Initiate Tag, a_rwnd, streams, initial TSN
)

// SCTPChunk is the type and flags of one chunk.
type SCTPChunk struct {
	Type, Flags uint8
}

// SCTPInfo summarises an SCTP packet (RFC 9260): the common header's
// verification tag and what a connection tracker needs of its chunks,
// which the decoder has walked with every length checked.
type SCTPInfo struct {
	VTag uint32 // the common header's verification tag
	// InitTag is the Initiate Tag of the packet's INIT or INIT ACK chunk
	// (the first one, if a malformed packet bundles several).
	InitTag   uint32
	NumChunks uint16 // chunks of every type
	// Types has bit t set when a chunk of type t (below 16) is present.
	Types uint16
	First uint8 // the first chunk's type
	// Control lists, in packet order, the first MaxSCTPControl chunks
	// that open, close or probe an association: every type from INIT (1)
	// to SHUTDOWN COMPLETE (14) but SACK, ECNE and CWR. NumControl counts
	// all of them, saturating at 255.
	NumControl uint8
	Control    [MaxSCTPControl]SCTPChunk
}

// SCTP summarises the SCTP packet p: its verification tag and its chunks,
// walked again (Decode checked them). It is the zero SCTPInfo unless p
// holds a decoded SCTP header; for a first fragment it covers the chunks
// the fragment holds.
func (p *Parsed) SCTP() SCTPInfo {
	var s SCTPInfo
	if !p.HasL4 || p.Proto != ipproto.SCTP {
		return s
	}
	s.walk(p.Buf[p.L4Off:])
	return s
}

// Has reports whether a chunk of type t (below 16) is present.
func (s SCTPInfo) Has(t uint8) bool { return t < 16 && s.Types&(1<<t) != 0 }

// sctpControl reports the chunk types SCTPInfo.Control lists.
func sctpControl(t uint8) bool {
	return t >= SCTPInit && t <= SCTPShutdownComplete && t != SCTPSACK && t != SCTPECNE && t != SCTPCWR
}

func (p *Parsed) decodeSCTP() {
	off := p.L4Off
	seg := p.Buf[off:]
	if len(seg) < sctpHeaderLen {
		p.truncated(InvalidSCTPTruncated, off)
		return
	}
	// The chunks of a first fragment run past what it holds; the
	// reassembled datagram is walked whole.
	if !p.IsFragment {
		var s SCTPInfo
		if bad := s.walk(seg); bad >= 0 {
			p.fail(InvalidSCTPChunk, off+bad)
			return
		}
	}
	p.setTransport(seg, sctpHeaderLen)
}

// walk reads the chunks of the SCTP packet seg. It returns the offset in
// seg of the first malformed chunk (or of the end, for a packet without
// chunks), or -1.
func (s *SCTPInfo) walk(seg []byte) int {
	s.VTag = binary.BigEndian.Uint32(seg[4:])
	i := sctpHeaderLen
	seenInit := false
	for i < len(seg) {
		if len(seg)-i < sctpChunkHeaderLen {
			return i
		}
		typ, flags := seg[i], seg[i+1]
		l := int(binary.BigEndian.Uint16(seg[i+2:]))
		if l < sctpChunkHeaderLen || l > len(seg)-i {
			return i
		}
		if s.NumChunks == 0 {
			s.First = typ
		}
		s.NumChunks++
		if typ < 16 {
			s.Types |= 1 << typ
		}
		if typ == SCTPInit || typ == SCTPInitAck {
			if l < sctpInitLen {
				return i
			}
			if !seenInit {
				s.InitTag = binary.BigEndian.Uint32(seg[i+4:])
				seenInit = true
			}
		}
		if sctpControl(typ) {
			if int(s.NumControl) < len(s.Control) {
				s.Control[s.NumControl] = SCTPChunk{Type: typ, Flags: flags}
			}
			if s.NumControl < 255 {
				s.NumControl++
			}
		}
		// Chunks are padded to 4 bytes; the last one's padding may be
		// all that is missing.
		i += (l + 3) &^ 3
	}
	if s.NumChunks == 0 {
		return len(seg)
	}
	return -1
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// sctpZeroSum stands in for the checksum field. It is a package variable
// because crc32.Update lets its argument escape: a local would be
// allocated on every call.
var sctpZeroSum [4]byte

// sctpChecksum returns the CRC32c of the SCTP packet seg with its checksum
// field taken as zero (RFC 9260 appendix A). The field holds it least
// significant byte first, as the CRC's bit-reflected arithmetic produces
// it.
func sctpChecksum(seg []byte) uint32 {
	c := crc32.Update(0, castagnoli, seg[:8])
	c = crc32.Update(c, castagnoli, sctpZeroSum[:])
	return crc32.Update(c, castagnoli, seg[12:])
}
