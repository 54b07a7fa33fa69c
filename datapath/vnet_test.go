package datapath

import (
	"bytes"
	"context"
	"io"
	"testing"
)

func TestVNetHeaderWire(t *testing.T) {
	tests := []struct {
		name string
		h    VNetHeader
		n    int // frame length
		want VNetHeader
	}{
		{"tso", VNetHeader{VNetNeedsChecksum, VNetGSOTCPv4 | VNetGSOECN, 66, 1448, 34, 16}, 60000, VNetHeader{VNetNeedsChecksum, VNetGSOTCPv4 | VNetGSOECN, 66, 1448, 34, 16}},
		{"data-valid-dropped", VNetHeader{Flags: VNetDataValid | VNetNeedsChecksum, CsumStart: 34, CsumOffset: 6}, 100, VNetHeader{Flags: VNetNeedsChecksum, CsumStart: 34, CsumOffset: 6}},
		{"hdr-len-clamped", VNetHeader{GSOType: VNetGSOUDPL4, HdrLen: 200, GSOSize: 1400}, 120, VNetHeader{GSOType: VNetGSOUDPL4, HdrLen: 120, GSOSize: 1400}},
		{"zero", VNetHeader{}, 60, VNetHeader{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b [VNetHeaderLen]byte
			tt.h.marshalTx(b[:], tt.n)
			var got VNetHeader
			got.unmarshal(b[:])
			if got != tt.want {
				t.Errorf("round trip %+v, want %+v", got, tt.want)
			}
		})
	}
	h := VNetHeader{GSOType: VNetGSOECN}
	if h.IsGSO() || h.NeedsChecksum() {
		t.Error("an ECN bit alone is not GSO")
	}
	h = VNetHeader{GSOType: VNetGSOTCPv6, Flags: VNetNeedsChecksum}
	if !h.IsGSO() || !h.NeedsChecksum() {
		t.Error("TCPv6 GSO with NEEDS_CSUM not seen")
	}
}

// recorder is a transmitter that keeps what it was given.
type recorder struct {
	frames [][]byte
	hdrs   []*VNetHeader
}

func (r *recorder) transmit(frame []byte, h *VNetHeader) error {
	r.frames = append(r.frames, bytes.Clone(frame))
	r.hdrs = append(r.hdrs, h)
	return nil
}

// TestSenderCarriesVNet: the frame being handled leaves with its header,
// rewritten in place or not; frames the handler built leave without.
func TestSenderCarriesVNet(t *testing.T) {
	var lan, wan recorder
	s := &Sender{out: [2]transmitter{&lan, &wan}}
	frame := testFrame(1514, 7)
	ci := &CaptureInfo{VNet: VNetHeader{Flags: VNetNeedsChecksum, GSOType: VNetGSOTCPv4, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}}
	reply := make([]byte, 60)
	h := HandlerFunc(func(frame []byte, ci *CaptureInfo, in Side, out *Sender) {
		frame[0] ^= 1 // rewritten in place: still the same frame
		out.Forward(frame)
		out.Send(in, reply)
		out.Send(in, frame[14:]) // not the frame as received
	})
	s.in = LAN
	s.handling(frame, ci)
	h.Handle(frame, ci, LAN, s)
	if len(wan.hdrs) != 1 || wan.hdrs[0] == nil || *wan.hdrs[0] != ci.VNet {
		t.Fatalf("forwarded frame's header %v, want %+v", wan.hdrs, ci.VNet)
	}
	if len(lan.hdrs) != 2 || lan.hdrs[0] != nil || lan.hdrs[1] != nil {
		t.Errorf("built frames went with headers %v", lan.hdrs)
	}
	// Replay never sets a current frame: capture sinks get bare frames.
	var out recorder
	rs := &Sender{out: [2]transmitter{&out, &out}}
	rs.Forward(frame)
	if out.hdrs[0] != nil {
		t.Error("a Sender with no frame in hand attached a header")
	}
}

// TestReplayWritesBareFrames: pcap output of a replay holds the frames
// alone, whatever header a CaptureInfo carries.
func TestReplayWritesBareFrames(t *testing.T) {
	frame := testFrame(200, 3)
	src := &vnetSource{frame: frame, ci: CaptureInfo{CaptureLength: len(frame), Length: len(frame), LinkType: LinkTypeEthernet,
		VNet: VNetHeader{Flags: VNetNeedsChecksum, CsumStart: 34, CsumOffset: 6}}}
	var buf bytes.Buffer
	w, _ := NewPcapWriter(&buf, PcapWriterOptions{})
	if n, err := Replay(context.Background(), src, ForwardAll{}, ReplayConfig{WAN: w}); err != nil || n != 1 {
		t.Fatalf("Replay: %d, %v", n, err)
	}
	w.Flush()
	got, _ := readAll(t, mustReader(t, buf.Bytes()))
	if len(got) != 1 || !bytes.Equal(got[0], frame) {
		t.Errorf("pcap holds %x, want %x", got, frame)
	}
}

type vnetSource struct {
	frame []byte
	ci    CaptureInfo
	done  bool
}

func (s *vnetSource) Next() ([]byte, CaptureInfo, error) {
	if s.done {
		return nil, CaptureInfo{}, io.EOF
	}
	s.done = true
	return s.frame, s.ci, nil
}

// TestChecksumOffloaded: a transport checksum is the kernel's business
// when the sender left it to offload, the frame is a super-frame, or the
// device verified it; a frame from a file carries none of these.
func TestChecksumOffloaded(t *testing.T) {
	tests := []struct {
		name string
		ci   CaptureInfo
		want bool
	}{
		{"file", CaptureInfo{}, false},
		{"ring losing", CaptureInfo{Flags: FlagRingLosing | FlagVLANRestored}, false},
		{"not ready", CaptureInfo{Flags: FlagChecksumNotReady}, true},
		{"verified by the device", CaptureInfo{Flags: FlagChecksumValid}, true},
		{"vnet needs checksum", CaptureInfo{VNet: VNetHeader{Flags: VNetNeedsChecksum, CsumStart: 34, CsumOffset: 16}}, true},
		{"vnet data valid", CaptureInfo{VNet: VNetHeader{Flags: VNetDataValid}}, true},
		{"vnet gso", CaptureInfo{VNet: VNetHeader{GSOType: VNetGSOTCPv4, GSOSize: 1448}}, true},
		{"vnet ecn bit alone", CaptureInfo{VNet: VNetHeader{GSOType: VNetGSOECN}}, false},
	}
	for _, tt := range tests {
		if got := tt.ci.ChecksumOffloaded(); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
