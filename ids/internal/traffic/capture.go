package traffic

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// Frame is one Ethernet frame of a generated capture, with its time.
type Frame struct {
	Time time.Time
	Data []byte
}

// Capture builds the frames of TCP connections and UDP exchanges, as a
// capture on the wire between the hosts would hold them: IPv4 over
// Ethernet, checksums right, a millisecond between frames.
type Capture struct {
	Frames []Frame
	now    time.Time
}

// NewCapture starts a capture whose first frame is at start.
func NewCapture(start time.Time) *Capture { return &Capture{now: start} }

func (c *Capture) add(ip []byte) {
	eth := make([]byte, 14, 14+len(ip))
	copy(eth, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(eth[12:], packet.EtherTypeIPv4)
	c.Frames = append(c.Frames, Frame{Time: c.now, Data: append(eth, ip...)})
	c.now = c.now.Add(time.Millisecond)
}

// SetTTL sets the TTL of the last frame added, its header checksum
// adjusted: a packet that expires before it reaches a host further away
// (TTL evasion).
func (c *Capture) SetTTL(ttl uint8) {
	packet.SetTTL(c.Frames[len(c.Frames)-1].Data[14:], ttl)
}

// ipv4 wraps an upper-layer packet in an IPv4 header.
func ipv4(src, dst netip.Addr, proto ipproto.Proto, id uint16, l4 []byte) []byte {
	ip := make([]byte, 20, 20+len(l4))
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
	binary.BigEndian.PutUint16(ip[4:], id)
	ip[8] = 64
	ip[9] = byte(proto)
	copy(ip[12:], src.AsSlice())
	copy(ip[16:], dst.AsSlice())
	binary.BigEndian.PutUint16(ip[10:], packet.Checksum(ip, 0))
	return append(ip, l4...)
}

// Fragment adds one IPv4 fragment of datagram id: data at byte offset
// off (a multiple of 8) of the datagram's payload, more saying further
// fragments follow.
func (c *Capture) Fragment(src, dst netip.Addr, proto ipproto.Proto, id uint16, off int, more bool, data []byte) {
	ip := ipv4(src, dst, proto, id, data)
	fo := uint16(off / 8)
	if more {
		fo |= 0x2000
	}
	binary.BigEndian.PutUint16(ip[6:], fo)
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], packet.Checksum(ip[:20], 0))
	c.add(ip)
}

// UDPHeader returns the header of a UDP datagram carrying payload, its
// checksum computed.
func UDPHeader(src, dst netip.AddrPort, payload []byte) []byte {
	u := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(u[0:], src.Port())
	binary.BigEndian.PutUint16(u[2:], dst.Port())
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	sum := packet.Checksum(append(u, payload...), packet.PseudoHeaderChecksum(ipproto.UDP, src.Addr(), dst.Addr(), uint16(8+len(payload))))
	if sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:], sum)
	return u
}

// ICMPEcho adds an ICMP echo request (type 8) with identifier id and
// data.
func (c *Capture) ICMPEcho(src, dst netip.Addr, id, seq uint16, data []byte) {
	m := []byte{8, 0, 0, 0, byte(id >> 8), byte(id), byte(seq >> 8), byte(seq)}
	m = append(m, data...)
	binary.BigEndian.PutUint16(m[2:], packet.Checksum(m, 0))
	c.add(ipv4(src, dst, ipproto.ICMP, uint16(len(c.Frames)), m))
}

// UDP adds one datagram.
func (c *Capture) UDP(src, dst netip.AddrPort, payload []byte) {
	u := append(UDPHeader(src, dst, payload), payload...)
	c.add(ipv4(src.Addr(), dst.Addr(), ipproto.UDP, uint16(len(c.Frames)), u))
}

// TCPConn is one TCP connection of a Capture.
type TCPConn struct {
	c        *Capture
	ends     [2]netip.AddrPort // client, server
	isn      [2]uint32
	next     [2]uint32 // offset of the next byte each side sends
	received [2]uint32 // what each side has acknowledged of the other's
}

// TCP opens a connection from cli to srv with a three-way handshake.
func (c *Capture) TCP(cli, srv netip.AddrPort) *TCPConn {
	t := &TCPConn{c: c, ends: [2]netip.AddrPort{cli, srv}, isn: [2]uint32{1000, 5000}}
	t.segment(0, packet.TCPSYN, t.isn[0], 0, nil)
	t.segment(1, packet.TCPSYN|packet.TCPACK, t.isn[1], t.isn[0]+1, nil)
	t.segment(0, packet.TCPACK, t.isn[0]+1, t.isn[1]+1, nil)
	return t
}

// side is 0 for the client, 1 for the server.
func (t *TCPConn) segment(side int, flags packet.TCPFlags, seq, ack uint32, data []byte) {
	src, dst := t.ends[side], t.ends[1-side]
	h := make([]byte, 20, 20+len(data))
	binary.BigEndian.PutUint16(h[0:], src.Port())
	binary.BigEndian.PutUint16(h[2:], dst.Port())
	binary.BigEndian.PutUint32(h[4:], seq)
	binary.BigEndian.PutUint32(h[8:], ack)
	h[12] = 5 << 4
	h[13] = byte(flags)
	binary.BigEndian.PutUint16(h[14:], 65535)
	h = append(h, data...)
	binary.BigEndian.PutUint16(h[16:], packet.Checksum(h, packet.PseudoHeaderChecksum(ipproto.TCP, src.Addr(), dst.Addr(), uint16(len(h)))))
	t.c.add(ipv4(src.Addr(), dst.Addr(), ipproto.TCP, uint16(len(t.c.Frames)), h))
}

func (t *TCPConn) seq(side int, off uint32) uint32 { return t.isn[side] + 1 + off }

// Send sends data from one side (0 client, 1 server) in segments of at
// most mss bytes, and the other side acknowledges it.
func (t *TCPConn) Send(side int, data []byte, mss int) {
	for len(data) > 0 {
		n := min(mss, len(data))
		t.Segment(side, t.next[side], data[:n])
		data = data[n:]
	}
	t.Ack(1 - side)
}

// Segment sends data from side at stream offset off (0 is the byte after
// the SYN), without an acknowledgement: overlapping and out-of-order
// segments are made with it.
func (t *TCPConn) Segment(side int, off uint32, data []byte) {
	t.segment(side, packet.TCPACK|packet.TCPPSH, t.seq(side, off), t.seq(1-side, t.next[1-side]), data)
	t.next[side] = max(t.next[side], off+uint32(len(data)))
}

// Ack makes side acknowledge everything the other side has sent.
func (t *TCPConn) Ack(side int) {
	t.received[side] = t.next[1-side]
	t.segment(side, packet.TCPACK, t.seq(side, t.next[side]), t.seq(1-side, t.received[side]), nil)
}

// Close closes the connection: the client's FIN, the server's FIN and
// the client's last acknowledgement.
func (t *TCPConn) Close() {
	t.segment(0, packet.TCPFIN|packet.TCPACK, t.seq(0, t.next[0]), t.seq(1, t.next[1]), nil)
	t.segment(1, packet.TCPFIN|packet.TCPACK, t.seq(1, t.next[1]), t.seq(0, t.next[0])+1, nil)
	t.segment(0, packet.TCPACK, t.seq(0, t.next[0])+1, t.seq(1, t.next[1])+1, nil)
}

// DNSQuery returns a DNS query for name (dotted), of type A.
func DNSQuery(id uint16, name string) []byte {
	b := binary.BigEndian.AppendUint16(nil, id)
	b = append(b, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0)
	start := 0
	for i := 0; i <= len(name); i++ {
		if i == len(name) || name[i] == '.' {
			b = append(b, byte(i-start))
			b = append(b, name[start:i]...)
			start = i + 1
		}
	}
	return append(b, 0, 0, 1, 0, 1)
}

// ClientHello returns a TLS record holding a ClientHello for sni, with a
// fixed random: the same bytes every time.
func ClientHello(sni string) []byte {
	ext := appendSNI(nil, sni)
	hello := []byte{0x03, 0x03}
	for i := range 32 {
		hello = append(hello, byte(i))
	}
	hello = append(hello, 0)                            // no session id
	hello = append(hello, 0, 4, 0x13, 0x01, 0xc0, 0x2f) // two cipher suites
	hello = append(hello, 1, 0)                         // null compression
	hello = binary.BigEndian.AppendUint16(hello, uint16(len(ext)))
	hello = append(hello, ext...)
	hs := append([]byte{1, 0, byte(len(hello) >> 8), byte(len(hello))}, hello...)
	return append([]byte{0x16, 0x03, 0x01, byte(len(hs) >> 8), byte(len(hs))}, hs...)
}

// appendSNI appends a server_name extension naming sni (RFC 6066).
func appendSNI(ext []byte, sni string) []byte {
	ext = binary.BigEndian.AppendUint16(ext, 0)
	ext = binary.BigEndian.AppendUint16(ext, uint16(len(sni)+5))
	ext = binary.BigEndian.AppendUint16(ext, uint16(len(sni)+3))
	ext = append(ext, 0)
	ext = binary.BigEndian.AppendUint16(ext, uint16(len(sni)))
	return append(ext, sni...)
}
