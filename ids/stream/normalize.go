package stream

import (
	"encoding/binary"

	"github.com/rampart-fw/rampart/packet"
)

// rewritePayload makes pay[i:i+len(want)] equal to want and adjusts the
// TCP checksum in csum (the header's two bytes) incrementally, by RFC 1624:
// the change of the one's complement sum of the rewritten words stands for
// the change of one word. pay must start at an even offset from the TCP
// header, as a payload does (the header is a multiple of 4 bytes), so that
// byte i of it is the high byte of a checksum word when i is even; the
// range is widened to start on such a byte. A last byte that is the high
// byte of a word counts as that word with a zero low byte in both sums,
// which changes the difference not at all.
func rewritePayload(pay []byte, i int, want []byte, csum []byte) {
	j := i + len(want)
	a := i &^ 1
	before := ^packet.Checksum(pay[a:j], 0)
	copy(pay[i:j], want)
	after := ^packet.Checksum(pay[a:j], 0)
	old := binary.BigEndian.Uint16(csum)
	binary.BigEndian.PutUint16(csum, packet.UpdateChecksum16(old, before, after))
}

// clearUrgent clears the URG flag and the urgent pointer of the TCP
// header of p in place, adjusting the checksum, and reports whether
// anything changed.
func clearUrgent(p *packet.Parsed) bool {
	h := p.Buf[p.L4Off:]
	oldFlags := binary.BigEndian.Uint16(h[12:]) // data offset, reserved bits, flags
	newFlags := oldFlags &^ uint16(packet.TCPURG)
	oldPtr := binary.BigEndian.Uint16(h[18:])
	if oldFlags == newFlags && oldPtr == 0 {
		return false
	}
	c := binary.BigEndian.Uint16(h[16:])
	c = packet.UpdateChecksum16(c, oldFlags, newFlags)
	c = packet.UpdateChecksum16(c, oldPtr, 0)
	binary.BigEndian.PutUint16(h[12:], newFlags)
	binary.BigEndian.PutUint16(h[16:], c)
	binary.BigEndian.PutUint16(h[18:], 0)
	p.TCPFlags &^= packet.TCPURG
	p.TCPUrgent = 0
	return true
}
