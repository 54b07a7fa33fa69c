package datapath

import (
	"encoding/binary"
	"time"
)

// TPACKET_V3 layout (linux/if_packet.h). The walker is plain byte parsing,
// kept free of syscalls so that it is tested and fuzzed on any OS.
const (
	tpStatusKernel       = 0
	tpStatusUser         = 1 << 0
	tpStatusLosing       = 1 << 2
	tpStatusCsumNotReady = 1 << 3
	tpStatusVLANValid    = 1 << 4
	tpStatusVLANTPID     = 1 << 6
	tpStatusCsumValid    = 1 << 7

	// struct tpacket_block_desc with its tpacket_hdr_v1.
	blockStatusOff   = 8
	blockNumPktsOff  = 12
	blockFirstPktOff = 16
	blockDescLen     = 48

	// struct tpacket3_hdr, followed by a struct sockaddr_ll at
	// TPACKET_ALIGN(sizeof(struct tpacket3_hdr)).
	hdrNextOff     = 0
	hdrSecOff      = 4
	hdrNsecOff     = 8
	hdrSnaplenOff  = 12
	hdrLenOff      = 16
	hdrStatusOff   = 20
	hdrMacOff      = 24
	hdrVLANTCIOff  = 32
	hdrVLANTPIDOff = 36
	tpacket3HdrLen = 48
	sllIfindexOff  = tpacket3HdrLen + 4
	sllPkttypeOff  = tpacket3HdrLen + 10
	sllEnd         = tpacket3HdrLen + 20

	vlanTagLen = 4
	etherTPID  = 0x8100
)

// blockCursor walks the frames of one TPACKET_V3 block. The kernel fills
// the block, but the walker still checks every offset against the block's
// bounds: a bad offset ends the block instead of faulting the process.
type blockCursor struct {
	block []byte
	off   int // offset of the next frame header
	left  int // frames not yet walked
	link  LinkType
	queue int
	// vnet: the socket has PACKET_VNET_HDR, so a struct virtio_net_hdr
	// sits right before every frame (tpacket_rcv writes it at
	// tp_mac - sizeof(struct virtio_net_hdr)).
	vnet bool

	// Per-block counts, folded into the queue's counters once per block.
	frames, bytes, outgoing, truncated, corrupt uint64
}

func (c *blockCursor) reset(block []byte, link LinkType, queue int, vnet bool) {
	*c = blockCursor{block: block, link: link, queue: queue, vnet: vnet}
	if len(block) < blockDescLen {
		c.corrupt++
		return
	}
	c.left = int(binary.NativeEndian.Uint32(block[blockNumPktsOff:]))
	c.off = int(binary.NativeEndian.Uint32(block[blockFirstPktOff:]))
}

// next returns the next frame of the block and fills ci; ok is false when
// the block is done. Frames the host sent itself are skipped (they reach
// the ring only where PACKET_IGNORE_OUTGOING is missing). Frames that were
// truncated are returned: ci says so and the caller decides.
func (c *blockCursor) next(ci *CaptureInfo) (frame []byte, ok bool) {
	for c.left > 0 {
		b := c.block
		off := c.off
		if off < blockDescLen || off > len(b)-sllEnd {
			c.corrupt++
			c.left = 0
			return nil, false
		}
		h := b[off:]
		next := int(binary.NativeEndian.Uint32(h[hdrNextOff:]))
		snaplen := int(binary.NativeEndian.Uint32(h[hdrSnaplenOff:]))
		wirelen := int(binary.NativeEndian.Uint32(h[hdrLenOff:]))
		status := binary.NativeEndian.Uint32(h[hdrStatusOff:])
		mac := int(binary.NativeEndian.Uint16(h[hdrMacOff:]))
		c.left--
		if c.left > 0 {
			// The last frame's next offset is 0; others must move forward.
			if next <= 0 || next > len(b)-off {
				c.corrupt++
				c.left = 0
			} else {
				c.off = off + next
			}
		}
		minMac := sllEnd
		if c.vnet {
			minMac += VNetHeaderLen
		}
		if mac < minMac || snaplen > len(h)-mac {
			c.corrupt++
			c.left = 0
			return nil, false
		}
		if PacketType(h[sllPkttypeOff]) == PacketOutgoing {
			c.outgoing++
			continue
		}
		start, end := off+mac, off+mac+snaplen
		*ci = CaptureInfo{
			Timestamp:      time.Unix(int64(binary.NativeEndian.Uint32(h[hdrSecOff:])), int64(binary.NativeEndian.Uint32(h[hdrNsecOff:]))),
			CaptureLength:  snaplen,
			Length:         max(wirelen, snaplen),
			InterfaceIndex: int(int32(binary.NativeEndian.Uint32(h[sllIfindexOff:]))),
			LinkType:       c.link,
			PacketType:     PacketType(h[sllPkttypeOff]),
			Queue:          c.queue,
		}
		if c.vnet {
			// Read before a VLAN tag is restored: the tag's MAC
			// addresses move into the header's last bytes.
			ci.VNet.unmarshal(h[mac-VNetHeaderLen : mac])
		}
		// With a vnet header the kernel completes the checksum when the
		// frame leaves; a handler filling it in as well would break the
		// partial sum the header promises.
		if status&tpStatusCsumNotReady != 0 && !ci.VNet.NeedsChecksum() {
			ci.Flags |= FlagChecksumNotReady
		}
		if status&tpStatusCsumValid != 0 {
			ci.Flags |= FlagChecksumValid
		}
		if status&tpStatusLosing != 0 {
			ci.Flags |= FlagRingLosing
		}
		// The kernel strips the 802.1Q tag before packet sockets see the
		// frame. Put it back in place: shift the two MAC addresses into
		// the headroom the ring leaves before every frame (at least
		// PACKET_RESERVE bytes) and write the tag after them.
		if status&tpStatusVLANValid != 0 && c.link == LinkTypeEthernet && snaplen >= 12 && mac-vlanTagLen >= sllEnd {
			tpid := uint16(etherTPID)
			if status&tpStatusVLANTPID != 0 {
				tpid = binary.NativeEndian.Uint16(h[hdrVLANTPIDOff:])
			}
			tci := uint16(binary.NativeEndian.Uint32(h[hdrVLANTCIOff:]))
			copy(b[start-vlanTagLen:start+8], b[start:start+12])
			start -= vlanTagLen
			binary.BigEndian.PutUint16(b[start+12:], tpid)
			binary.BigEndian.PutUint16(b[start+14:], tci)
			ci.CaptureLength += vlanTagLen
			ci.Length += vlanTagLen
			ci.VLAN = tci
			ci.Flags |= FlagVLANRestored
			ci.VNet.shift(vlanTagLen)
		}
		if ci.CaptureLength < ci.Length {
			c.truncated++
		}
		c.frames++
		c.bytes += uint64(ci.CaptureLength)
		return b[start:end:end], true
	}
	return nil, false
}
