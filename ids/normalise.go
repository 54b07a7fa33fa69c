package ids

import (
	"encoding/binary"

	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// Normalised counts the header fields prevention rewrote, after Handley,
// Paxson and Kreibich's IP and TCP normalisations (and Snort's
// normalizer): fields a host may or may not honour, so that the engine
// cannot know what the host makes of them.
type Normalised struct {
	// IPv4Reserved: the reserved flag ("evil bit"), which some stacks
	// drop packets for and others ignore, cleared.
	IPv4Reserved uint64
	// IPv4Options: options, which hosts and routers honour unevenly
	// (source routes, timestamps, router alert), overwritten with NOPs,
	// as Snort's normalizer does; the header keeps its length, so nothing
	// after it moves.
	IPv4Options uint64
	// TCPReserved: the three reserved bits of the TCP header cleared (the
	// fourth, once ECN's nonce sum, is AccECN's AE now and kept).
	TCPReserved uint64
}

// tcpReservedBits are the bits of byte 12 of a TCP header between the
// data offset and the AE flag.
const tcpReservedBits = 0x0e

// normalise rewrites, in prevention mode, the header fields of a packet
// that goes out as p.Buf holds it whose effect on the host is uncertain,
// each checksum adjusted incrementally (a wrong checksum stays wrong, so
// a packet the host would drop still is).
func (e *Engine) normalise(p *packet.Parsed) {
	if p.IPVersion == 4 {
		ip := p.Buf[p.L3Off:]
		if ip[6]&0x80 != 0 {
			old := binary.BigEndian.Uint16(ip[6:])
			binary.BigEndian.PutUint16(ip[6:], old&^0x8000)
			c := packet.UpdateChecksum16(binary.BigEndian.Uint16(ip[10:]), old, old&^0x8000)
			binary.BigEndian.PutUint16(ip[10:], c)
			e.c.normIPv4Reserved.Add(1)
		}
		if p.IPHeaderLen > 20 && nopOptions(ip[:p.IPHeaderLen]) {
			e.c.normIPv4Options.Add(1)
		}
	}
	if p.Proto == ipproto.TCP && p.HasL4 {
		h := p.Buf[p.L4Off:]
		if h[12]&tcpReservedBits != 0 {
			old := binary.BigEndian.Uint16(h[12:])
			binary.BigEndian.PutUint16(h[12:], old&^(tcpReservedBits<<8))
			c := packet.UpdateChecksum16(binary.BigEndian.Uint16(h[16:]), old, old&^(tcpReservedBits<<8))
			binary.BigEndian.PutUint16(h[16:], c)
			e.c.normTCPReserved.Add(1)
		}
	}
}

// nopOptions overwrites the options of the IPv4 header ip with NOPs,
// adjusting its checksum, and reports whether any byte changed.
func nopOptions(ip []byte) bool {
	opts := ip[20:]
	changed := false
	for _, b := range opts {
		if b != 1 {
			changed = true
			break
		}
	}
	if !changed {
		return false
	}
	// The options start at an even offset and are a multiple of 4
	// bytes: their one's complement sum is a sum of whole words.
	before := ^packet.Checksum(opts, 0)
	for i := range opts {
		opts[i] = 1
	}
	after := ^packet.Checksum(opts, 0)
	c := packet.UpdateChecksum16(binary.BigEndian.Uint16(ip[10:]), before, after)
	binary.BigEndian.PutUint16(ip[10:], c)
	return true
}
