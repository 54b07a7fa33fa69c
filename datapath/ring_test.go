package datapath

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

// ringFrame describes one frame as the kernel would lay it out in a
// TPACKET_V3 block.
type ringFrame struct {
	data     []byte
	wirelen  int // 0 means len(data)
	status   uint32
	pkttype  PacketType
	vlanTCI  uint32
	vlanTPID uint16
	sec      uint32
	nsec     uint32
	ifindex  int32
	vnet     VNetHeader // written before the frame in a vnet block
}

// ringMac is where the kernel puts the frame for SOCK_RAW with
// PACKET_RESERVE 4: TPACKET_ALIGN(68+16) + 4 - 14.
const ringMac = 86

// ringMacVNet is the same with PACKET_VNET_HDR: the 10-byte header moves
// the frame on, TPACKET_ALIGN(68+16) + 4 + 10 - 14.
const ringMacVNet = 96

func tpacketAlign(n int) int { return (n + 15) &^ 15 }

// buildBlock lays frames out the way tpacket_rcv does.
func buildBlock(size int, frames []ringFrame) []byte {
	return buildBlockAt(size, ringMac, false, frames)
}

// buildVNetBlock lays frames out as for a socket with PACKET_VNET_HDR.
func buildVNetBlock(size int, frames []ringFrame) []byte {
	return buildBlockAt(size, ringMacVNet, true, frames)
}

func buildBlockAt(size, ringMac int, vnet bool, frames []ringFrame) []byte {
	b := make([]byte, size)
	ne := binary.NativeEndian
	ne.PutUint32(b[blockStatusOff:], tpStatusUser)
	ne.PutUint32(b[blockNumPktsOff:], uint32(len(frames)))
	ne.PutUint32(b[blockFirstPktOff:], blockDescLen)
	off := blockDescLen
	for i, f := range frames {
		h := b[off:]
		next := tpacketAlign(ringMac + len(f.data))
		if i < len(frames)-1 {
			ne.PutUint32(h[hdrNextOff:], uint32(next))
		}
		ne.PutUint32(h[hdrSecOff:], f.sec)
		ne.PutUint32(h[hdrNsecOff:], f.nsec)
		ne.PutUint32(h[hdrSnaplenOff:], uint32(len(f.data)))
		wl := f.wirelen
		if wl == 0 {
			wl = len(f.data)
		}
		ne.PutUint32(h[hdrLenOff:], uint32(wl))
		ne.PutUint32(h[hdrStatusOff:], f.status|tpStatusUser)
		ne.PutUint16(h[hdrMacOff:], uint16(ringMac))
		ne.PutUint32(h[hdrVLANTCIOff:], f.vlanTCI)
		ne.PutUint16(h[hdrVLANTPIDOff:], f.vlanTPID)
		ne.PutUint32(h[sllIfindexOff:], uint32(f.ifindex))
		h[sllPkttypeOff] = byte(f.pkttype)
		copy(h[ringMac:], f.data)
		if vnet {
			v := f.vnet
			h[ringMac-10], h[ringMac-9] = v.Flags, v.GSOType
			ne.PutUint16(h[ringMac-8:], v.HdrLen)
			ne.PutUint16(h[ringMac-6:], v.GSOSize)
			ne.PutUint16(h[ringMac-4:], v.CsumStart)
			ne.PutUint16(h[ringMac-2:], v.CsumOffset)
		}
		off += next
	}
	return b
}

func walkBlock(block []byte) (frames [][]byte, infos []CaptureInfo, c blockCursor) {
	return walkBlockMode(block, false)
}

func walkBlockMode(block []byte, vnet bool) (frames [][]byte, infos []CaptureInfo, c blockCursor) {
	c.reset(block, LinkTypeEthernet, 3, vnet)
	for {
		var ci CaptureInfo
		f, ok := c.next(&ci)
		if !ok {
			return frames, infos, c
		}
		frames = append(frames, bytes.Clone(f))
		infos = append(infos, ci)
	}
}

func TestBlockCursor(t *testing.T) {
	f1, f2 := testFrame(60, 1), testFrame(1514, 2)
	tagged := func(tpid uint16, tci uint16, f []byte) []byte {
		out := append([]byte{}, f[:12]...)
		out = binary.BigEndian.AppendUint16(out, tpid)
		out = binary.BigEndian.AppendUint16(out, tci)
		return append(out, f[12:]...)
	}
	tests := []struct {
		name      string
		frames    []ringFrame
		corrupt   func(b []byte)
		want      [][]byte
		check     func(t *testing.T, infos []CaptureInfo)
		outgoing  uint64
		truncated uint64
		bad       uint64
	}{
		{
			name:   "plain",
			frames: []ringFrame{{data: f1, sec: 10, nsec: 20, ifindex: 7, pkttype: PacketOtherHost}, {data: f2, status: tpStatusCsumNotReady}},
			want:   [][]byte{f1, f2},
			check: func(t *testing.T, infos []CaptureInfo) {
				ci := infos[0]
				if !ci.Timestamp.Equal(time.Unix(10, 20)) || ci.InterfaceIndex != 7 || ci.PacketType != PacketOtherHost ||
					ci.Queue != 3 || ci.LinkType != LinkTypeEthernet || ci.Length != 60 || ci.Flags != 0 {
					t.Errorf("first frame info %+v", ci)
				}
				if infos[1].Flags != FlagChecksumNotReady {
					t.Errorf("second frame flags %b", infos[1].Flags)
				}
			},
		},
		{
			name:     "outgoing-skipped",
			frames:   []ringFrame{{data: f1, pkttype: PacketOutgoing}, {data: f2}, {data: f1, pkttype: PacketOutgoing}},
			want:     [][]byte{f2},
			outgoing: 2,
		},
		{
			name:   "vlan-restored",
			frames: []ringFrame{{data: f1, status: tpStatusVLANValid, vlanTCI: 0x2064}, {data: f2, status: tpStatusVLANValid | tpStatusVLANTPID, vlanTCI: 7, vlanTPID: 0x88a8}},
			want:   [][]byte{tagged(0x8100, 0x2064, f1), tagged(0x88a8, 7, f2)},
			check: func(t *testing.T, infos []CaptureInfo) {
				if ci := infos[0]; ci.VLAN != 0x2064 || ci.Flags&FlagVLANRestored == 0 || ci.Length != 64 || ci.CaptureLength != 64 {
					t.Errorf("vlan frame info %+v", ci)
				}
			},
		},
		{
			name:   "vlan-priority-tag-zero",
			frames: []ringFrame{{data: f1, status: tpStatusVLANValid}},
			want:   [][]byte{tagged(0x8100, 0, f1)},
		},
		{
			name:      "truncated-returned-and-counted",
			frames:    []ringFrame{{data: f1, wirelen: 65000, status: tpStatusLosing}},
			want:      [][]byte{f1},
			truncated: 1,
			check: func(t *testing.T, infos []CaptureInfo) {
				if !infos[0].Truncated() || infos[0].Flags&FlagRingLosing == 0 {
					t.Errorf("info %+v", infos[0])
				}
			},
		},
		{
			name:    "next-offset-past-block",
			frames:  []ringFrame{{data: f1}, {data: f2}},
			corrupt: func(b []byte) { binary.NativeEndian.PutUint32(b[blockDescLen+hdrNextOff:], 1<<30) },
			want:    [][]byte{f1},
			bad:     1,
		},
		{
			name:    "next-offset-zero",
			frames:  []ringFrame{{data: f1}, {data: f2}},
			corrupt: func(b []byte) { binary.NativeEndian.PutUint32(b[blockDescLen+hdrNextOff:], 0) },
			want:    [][]byte{f1},
			bad:     1,
		},
		{
			name:    "snaplen-past-block",
			frames:  []ringFrame{{data: f1}},
			corrupt: func(b []byte) { binary.NativeEndian.PutUint32(b[blockDescLen+hdrSnaplenOff:], 1<<20) },
			bad:     1,
		},
		{
			name:    "mac-inside-header",
			frames:  []ringFrame{{data: f1}},
			corrupt: func(b []byte) { binary.NativeEndian.PutUint16(b[blockDescLen+hdrMacOff:], 10) },
			bad:     1,
		},
		{
			name:    "first-offset-past-block",
			frames:  []ringFrame{{data: f1}},
			corrupt: func(b []byte) { binary.NativeEndian.PutUint32(b[blockFirstPktOff:], 1<<30) },
			bad:     1,
		},
		{
			name:    "more-packets-claimed",
			frames:  []ringFrame{{data: f1}},
			corrupt: func(b []byte) { binary.NativeEndian.PutUint32(b[blockNumPktsOff:], 2) },
			want:    [][]byte{f1},
			bad:     1,
		},
		{
			name:   "empty-block",
			frames: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := buildBlock(8192, tt.frames)
			if tt.corrupt != nil {
				tt.corrupt(b)
			}
			frames, infos, c := walkBlock(b)
			if len(frames) != len(tt.want) {
				t.Fatalf("%d frames, want %d", len(frames), len(tt.want))
			}
			for i := range frames {
				if !bytes.Equal(frames[i], tt.want[i]) {
					t.Errorf("frame %d:\n got %x\nwant %x", i, frames[i], tt.want[i])
				}
				if infos[i].CaptureLength != len(frames[i]) {
					t.Errorf("frame %d: CaptureLength %d, len %d", i, infos[i].CaptureLength, len(frames[i]))
				}
			}
			if tt.check != nil && len(infos) > 0 {
				tt.check(t, infos)
			}
			if c.outgoing != tt.outgoing || c.truncated != tt.truncated || c.corrupt != tt.bad || c.frames != uint64(len(tt.want)) {
				t.Errorf("counts: frames %d outgoing %d truncated %d corrupt %d; want %d %d %d %d",
					c.frames, c.outgoing, c.truncated, c.corrupt, len(tt.want), tt.outgoing, tt.truncated, tt.bad)
			}
		})
	}
}

func TestBlockCursorShortBlock(t *testing.T) {
	var c blockCursor
	c.reset(make([]byte, 10), LinkTypeEthernet, 0, false)
	var ci CaptureInfo
	if _, ok := c.next(&ci); ok || c.corrupt != 1 {
		t.Errorf("short block: ok=%v corrupt=%d", ok, c.corrupt)
	}
}

func TestBlockCursorVNet(t *testing.T) {
	f1, f2 := testFrame(60, 1), testFrame(1514, 2)
	tso := VNetHeader{Flags: VNetNeedsChecksum, GSOType: VNetGSOTCPv4, HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	csum := VNetHeader{Flags: VNetNeedsChecksum, CsumStart: 34, CsumOffset: 6}
	tests := []struct {
		name    string
		frames  []ringFrame
		corrupt func(b []byte)
		want    []VNetHeader
		flags   []CaptureFlags
		bad     uint64
	}{
		{
			name:   "gso-and-plain",
			frames: []ringFrame{{data: f2, vnet: tso, status: tpStatusCsumNotReady}, {data: f1}},
			want:   []VNetHeader{tso, {}},
			// The header carries the checksum job: no flag asks the
			// handler to do it as well.
			flags: []CaptureFlags{0, 0},
		},
		{
			name:   "data-valid",
			frames: []ringFrame{{data: f1, vnet: VNetHeader{Flags: VNetDataValid}, status: tpStatusCsumValid}},
			want:   []VNetHeader{{Flags: VNetDataValid}},
			flags:  []CaptureFlags{FlagChecksumValid},
		},
		{
			name:   "not-ready-without-header-flag",
			frames: []ringFrame{{data: f1, status: tpStatusCsumNotReady}},
			want:   []VNetHeader{{}},
			flags:  []CaptureFlags{FlagChecksumNotReady},
		},
		{
			// The restored tag moves the L4 header by 4 bytes; the
			// header's offsets follow it.
			name:   "vlan-shifts-offsets",
			frames: []ringFrame{{data: f2, vnet: tso, status: tpStatusVLANValid, vlanTCI: 5}, {data: f1, vnet: csum, status: tpStatusVLANValid}},
			want: []VNetHeader{
				{Flags: VNetNeedsChecksum, GSOType: VNetGSOTCPv4, HdrLen: 70, GSOSize: 1448, CsumStart: 38, CsumOffset: 16},
				{Flags: VNetNeedsChecksum, CsumStart: 38, CsumOffset: 6},
			},
			flags: []CaptureFlags{FlagVLANRestored, FlagVLANRestored},
		},
		{
			name:    "no-room-for-header",
			frames:  []ringFrame{{data: f1, vnet: csum}},
			corrupt: func(b []byte) { binary.NativeEndian.PutUint16(b[blockDescLen+hdrMacOff:], sllEnd+2) },
			bad:     1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := buildVNetBlock(8192, tt.frames)
			if tt.corrupt != nil {
				tt.corrupt(b)
			}
			frames, infos, c := walkBlockMode(b, true)
			if len(frames) != len(tt.want) || c.corrupt != tt.bad {
				t.Fatalf("%d frames, %d corrupt; want %d, %d", len(frames), c.corrupt, len(tt.want), tt.bad)
			}
			for i, ci := range infos {
				if ci.VNet != tt.want[i] {
					t.Errorf("frame %d: VNet %+v, want %+v", i, ci.VNet, tt.want[i])
				}
				if ci.Flags != tt.flags[i] {
					t.Errorf("frame %d: flags %b, want %b", i, ci.Flags, tt.flags[i])
				}
				want := tt.frames[i].data
				if ci.Flags&FlagVLANRestored != 0 {
					want = append(append(append([]byte{}, want[:12]...), 0x81, 0, 0, byte(tt.frames[i].vlanTCI)), want[12:]...)
				}
				if !bytes.Equal(frames[i], want) {
					t.Errorf("frame %d differs:\n got %x\nwant %x", i, frames[i], want)
				}
			}
		})
	}
	// A block from a socket without vnet headers leaves VNet zero.
	_, infos, _ := walkBlockMode(buildBlock(8192, []ringFrame{{data: f1, status: tpStatusCsumNotReady}}), false)
	if infos[0].VNet != (VNetHeader{}) || infos[0].Flags != FlagChecksumNotReady {
		t.Errorf("without vnet: %+v", infos[0])
	}
}
