package packet

import "encoding/binary"

// DecrementTTL lowers the TTL (IPv4) or hop limit (IPv6) of the IP packet
// that starts at ip[0] by one, as a router does before it forwards a
// packet (RFC 1812 5.3.1, RFC 8200 3), and for IPv4 adjusts the header
// checksum incrementally (RFC 1624 equation 3): the TTL shares a 16-bit
// word with the protocol, so one word of the sum changes. The transport
// checksum covers no TTL and stays as it is.
//
// It reports false and changes nothing when ip is too short to be an IP
// header or the TTL is 0 or 1: such a packet must not be forwarded, and a
// router answers it with an ICMP time exceeded instead.
func DecrementTTL(ip []byte) bool {
	if len(ip) == 0 {
		return false
	}
	var at int
	switch ip[0] >> 4 {
	case 4:
		at = 8
	case 6:
		at = 7
	default:
		return false
	}
	if len(ip) <= at || ip[at] <= 1 {
		return false
	}
	return SetTTL(ip, ip[at]-1)
}

// SetTTL sets the TTL (IPv4) or hop limit (IPv6) of the IP packet that
// starts at ip[0] to ttl, for IPv4 adjusting the header checksum
// incrementally (RFC 1624 equation 3), as DecrementTTL does: a normaliser
// in line raises the TTL of what it forwards so that every packet it
// inspected reaches its destination. It reports false and changes nothing
// when ip is too short to be an IP header.
func SetTTL(ip []byte, ttl uint8) bool {
	if len(ip) == 0 {
		return false
	}
	switch ip[0] >> 4 {
	case 4:
		if len(ip) < ipv4MinHeader {
			return false
		}
		old := binary.BigEndian.Uint16(ip[8:])
		ip[8] = ttl
		c := UpdateChecksum16(binary.BigEndian.Uint16(ip[10:]), old, binary.BigEndian.Uint16(ip[8:]))
		binary.BigEndian.PutUint16(ip[10:], c)
		return true
	case 6:
		if len(ip) < ipv6HeaderLen {
			return false
		}
		ip[7] = ttl
		return true
	}
	return false
}

// DecrementTTL is DecrementTTL on p's IP header, keeping p.TTL in step.
func (p *Parsed) DecrementTTL() bool {
	if p.Invalid != Valid || p.IPVersion == 0 || !DecrementTTL(p.Buf[p.L3Off:]) {
		return false
	}
	p.TTL--
	return true
}

// SetEthernet writes the destination and source Ethernet addresses of
// frame, as a router does to every packet it forwards: the next hop's
// address and its own.
func SetEthernet(frame []byte, dst, src [6]byte) {
	if len(frame) < ethHeaderLen {
		return
	}
	copy(frame[0:6], dst[:])
	copy(frame[6:12], src[:])
}

// SetEthernet is SetEthernet on p's frame, keeping p.EthDst and p.EthSrc
// in step; a packet decoded without its link layer is left alone.
func (p *Parsed) SetEthernet(dst, src [6]byte) {
	if !p.HasEthernet {
		return
	}
	SetEthernet(p.Buf, dst, src)
	p.EthDst, p.EthSrc = dst, src
}

// SetTTL is SetTTL on p's IP header, keeping p.TTL in step.
func (p *Parsed) SetTTL(ttl uint8) bool {
	if p.Invalid != Valid || p.IPVersion == 0 || !SetTTL(p.Buf[p.L3Off:], ttl) {
		return false
	}
	p.TTL = ttl
	return true
}
