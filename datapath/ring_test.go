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
}

// ringMac is where the kernel puts the frame for SOCK_RAW with
// PACKET_RESERVE 4: TPACKET_ALIGN(68+16) + 4 - 14.
const ringMac = 86

func tpacketAlign(n int) int { return (n + 15) &^ 15 }

// buildBlock lays frames out the way tpacket_rcv does.
func buildBlock(size int, frames []ringFrame) []byte {
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
		ne.PutUint16(h[hdrMacOff:], ringMac)
		ne.PutUint32(h[hdrVLANTCIOff:], f.vlanTCI)
		ne.PutUint16(h[hdrVLANTPIDOff:], f.vlanTPID)
		ne.PutUint32(h[sllIfindexOff:], uint32(f.ifindex))
		h[sllPkttypeOff] = byte(f.pkttype)
		copy(h[ringMac:], f.data)
		off += next
	}
	return b
}

func walkBlock(block []byte) (frames [][]byte, infos []CaptureInfo, c blockCursor) {
	c.reset(block, LinkTypeEthernet, 3)
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
	c.reset(make([]byte, 10), LinkTypeEthernet, 0)
	var ci CaptureInfo
	if _, ok := c.next(&ci); ok || c.corrupt != 1 {
		t.Errorf("short block: ok=%v corrupt=%d", ok, c.corrupt)
	}
}
