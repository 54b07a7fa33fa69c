package packet

import (
	"encoding/binary"

	"github.com/rampart-fw/rampart/ipproto"
)

// DCCP packet types (RFC 4340 5.1); 10 to 15 are reserved.
const (
	DCCPRequest uint8 = iota
	DCCPResponse
	DCCPData
	DCCPAck
	DCCPDataAck
	DCCPCloseReq
	DCCPClose
	DCCPReset
	DCCPSync
	DCCPSyncAck
	numDCCPTypes
)

// DCCPInfo is what the decoder reads of a DCCP header (RFC 4340 5).
type DCCPInfo struct {
	Type uint8
	// Extended: 48-bit sequence numbers (X=1). Only Data, Ack and
	// DataAck may use 24-bit ones.
	Extended bool
	HasAck   bool   // every type but Request and Data carries an acknowledgement number
	CsCov    uint8  // checksum coverage: 0 the whole packet, else the header and (CsCov-1)*4 bytes of data
	Seq      uint64 // sequence number, 48 or 24 bits
	Ack      uint64 // acknowledgement number when HasAck
}

const (
	dccpShortHeader = 12 // generic header with 24-bit sequence numbers
	dccpLongHeader  = 16 // with 48-bit ones
)

// dccpHeaderLen is the length of the generic header, the acknowledgement
// subheader and the fixed part each type adds (service code, reset code).
func dccpHeaderLen(typ uint8, x bool) int {
	l, ack := dccpShortHeader, 4
	if x {
		l, ack = dccpLongHeader, 8
	}
	if typ != DCCPRequest && typ != DCCPData {
		l += ack
	}
	switch typ {
	case DCCPRequest, DCCPResponse, DCCPReset:
		l += 4
	}
	return l
}

func (p *Parsed) decodeDCCP() {
	off := p.L4Off
	seg := p.Buf[off:]
	if len(seg) < dccpShortHeader {
		p.truncated(InvalidDCCPTruncated, off)
		return
	}
	typ, x := seg[8]>>1&0x0f, seg[8]&1 != 0
	if typ >= numDCCPTypes || (!x && typ != DCCPData && typ != DCCPAck && typ != DCCPDataAck) {
		p.fail(InvalidDCCPHeader, off+8)
		return
	}
	hl := dccpHeaderLen(typ, x)
	if len(seg) < hl {
		p.truncated(InvalidDCCPTruncated, off)
		return
	}
	doff := int(seg[4]) * 4
	if doff < hl {
		p.fail(InvalidDCCPHeader, off+4)
		return
	}
	if doff > len(seg) {
		p.truncated(InvalidDCCPHeader, off+4)
		return
	}
	// RFC 4340 9.2: coverage beyond the packet means drop. Only a whole
	// datagram's length is known.
	if cov := int(seg[5] & 0x0f); cov != 0 && !p.IsFragment && doff+(cov-1)*4 > len(seg) {
		p.fail(InvalidDCCPHeader, off+5)
		return
	}
	p.setTransport(seg, doff)
}

// DCCP reads the DCCP header of p, which Decode checked. It is the zero
// DCCPInfo unless p holds a decoded DCCP header.
func (p *Parsed) DCCP() DCCPInfo {
	var d DCCPInfo
	if !p.HasL4 || p.Proto != ipproto.DCCP {
		return d
	}
	seg := p.Buf[p.L4Off:]
	d.Type = seg[8] >> 1 & 0x0f
	d.Extended = seg[8]&1 != 0
	d.CsCov = seg[5] & 0x0f
	d.HasAck = d.Type != DCCPRequest && d.Type != DCCPData
	if d.Extended {
		d.Seq = uint64(binary.BigEndian.Uint16(seg[10:]))<<32 | uint64(binary.BigEndian.Uint32(seg[12:]))
		if d.HasAck {
			d.Ack = uint64(binary.BigEndian.Uint16(seg[18:]))<<32 | uint64(binary.BigEndian.Uint32(seg[20:]))
		}
	} else {
		d.Seq = uint64(seg[9])<<16 | uint64(binary.BigEndian.Uint16(seg[10:]))
		if d.HasAck {
			d.Ack = uint64(seg[13])<<16 | uint64(binary.BigEndian.Uint16(seg[14:]))
		}
	}
	return d
}

// dccpCoverage is how many bytes of the DCCP packet seg its checksum
// covers.
func dccpCoverage(seg []byte) int {
	cov := seg[5] & 0x0f
	if cov == 0 {
		return len(seg)
	}
	return min(int(seg[4])*4+(int(cov)-1)*4, len(seg))
}
