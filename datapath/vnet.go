package datapath

import "encoding/binary"

// VNetHeaderLen is the size of struct virtio_net_hdr, the header a packet
// socket with PACKET_VNET_HDR puts before every frame it hands over and
// expects before every frame it is given.
const VNetHeaderLen = 10

// VNetHeader flags (virtio_net_hdr.flags).
const (
	// VNetNeedsChecksum: the L4 checksum field holds only the
	// pseudo-header sum; the sum over CsumStart..end must be folded into
	// the field at CsumStart+CsumOffset before the frame reaches a wire.
	VNetNeedsChecksum uint8 = 1
	// VNetDataValid: the device verified the checksum (receive only).
	VNetDataValid uint8 = 2
)

// VNetHeader GSO types (virtio_net_hdr.gso_type).
const (
	VNetGSONone  uint8 = 0
	VNetGSOTCPv4 uint8 = 1
	VNetGSOUDP   uint8 = 3 // UFO: IPv4 fragmentation of one datagram
	VNetGSOTCPv6 uint8 = 4
	VNetGSOUDPL4 uint8 = 5 // UDP_SEGMENT: one datagram per segment
	// VNetGSOECN is or'ed into a TCP type: the segments carry CWR.
	VNetGSOECN uint8 = 0x80
)

// VNetHeader is the kernel's offload description of one frame (struct
// virtio_net_hdr): whether it is a GSO super-frame to be cut into GSOSize
// segments, and whether its L4 checksum is still to be completed. A live
// port reads it from the ring with every frame; the bridge hands it back
// to the kernel when the same frame is sent on, so super-frames leave as
// they came and the kernel (or the egress device) segments them and fills
// checksums. The zero value describes an ordinary, complete frame.
//
// Offsets are from the start of the frame as handed out, including an
// 802.1Q tag the receive path restored.
type VNetHeader struct {
	Flags   uint8
	GSOType uint8
	// HdrLen is the length of the headers before the payload (a hint for
	// how much of the frame the kernel keeps linear).
	HdrLen     uint16
	GSOSize    uint16
	CsumStart  uint16
	CsumOffset uint16
}

// NeedsChecksum reports whether the L4 checksum is left to be completed.
func (h *VNetHeader) NeedsChecksum() bool { return h.Flags&VNetNeedsChecksum != 0 }

// IsGSO reports whether the frame is a super-frame the kernel will
// segment on transmit.
func (h *VNetHeader) IsGSO() bool { return h.GSOType&^VNetGSOECN != VNetGSONone }

// ChecksumOffloaded reports whether the kernel says that the frame's
// transport (TCP, UDP) checksum is not for a filter to judge, because an
// offload owns it: the local sender left it to be completed (the vnet
// header's NEEDS_CSUM, or TP_STATUS_CSUMNOTREADY on a port without vnet
// headers: the field holds only the pseudo-header sum), the frame is a GSO
// super-frame whose checksums are made when it is cut into segments, or
// the device or GRO has already verified it (DATA_VALID,
// TP_STATUS_CSUM_VALID; Linux's CHECKSUM_UNNECESSARY, which its own
// conntrack trusts too). The IPv4 header checksum is never offloaded: the
// stack computes it for every packet, super-frames included.
func (ci *CaptureInfo) ChecksumOffloaded() bool {
	return ci.Flags&(FlagChecksumNotReady|FlagChecksumValid) != 0 ||
		ci.VNet.Flags&(VNetNeedsChecksum|VNetDataValid) != 0 || ci.VNet.IsGSO()
}

// The kernel reads and writes a legacy virtio_net_hdr in host byte order
// (vio_le() in af_packet.c is virtio_legacy_is_little_endian()).
func (h *VNetHeader) unmarshal(b []byte) {
	_ = b[VNetHeaderLen-1]
	ne := binary.NativeEndian
	*h = VNetHeader{
		Flags:      b[0],
		GSOType:    b[1],
		HdrLen:     ne.Uint16(b[2:]),
		GSOSize:    ne.Uint16(b[4:]),
		CsumStart:  ne.Uint16(b[6:]),
		CsumOffset: ne.Uint16(b[8:]),
	}
}

// marshalTx writes h as a transmit header for a frame of n bytes.
// DataValid means nothing on transmit and is dropped; the header length is
// a hint the kernel rejects (EINVAL) when it exceeds the frame, so it is
// clamped for a frame a handler shortened.
func (h *VNetHeader) marshalTx(b []byte, n int) {
	_ = b[VNetHeaderLen-1]
	ne := binary.NativeEndian
	b[0] = h.Flags &^ VNetDataValid
	b[1] = h.GSOType
	ne.PutUint16(b[2:], uint16(min(int(h.HdrLen), n)))
	ne.PutUint16(b[4:], h.GSOSize)
	ne.PutUint16(b[6:], h.CsumStart)
	ne.PutUint16(b[8:], h.CsumOffset)
}

// shift moves the header's offsets by n bytes, for a tag inserted before
// the network header.
func (h *VNetHeader) shift(n uint16) {
	if h.Flags&VNetNeedsChecksum != 0 {
		h.CsumStart += n
	}
	if h.HdrLen != 0 {
		h.HdrLen += n
	}
}
