package gateway

import (
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/packet"
)

// writeCapture writes the frames to a pcap file, 10 ms apart.
func writeCapture(t *testing.T, frames [][]byte) string {
	t.Helper()
	at := make([]time.Duration, len(frames))
	for i := range at {
		at[i] = time.Duration(i) * 10 * time.Millisecond
	}
	return writeCaptureAt(t, frames, at)
}

// writeCaptureAt writes the frames to a pcap file, frame i at offset at[i]
// from a fixed start.
func writeCaptureAt(t *testing.T, frames [][]byte, at []time.Duration) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in.pcap")
	w, err := datapath.CreatePcap(path, datapath.PcapWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)
	for i, f := range frames {
		ci := datapath.CaptureInfo{Timestamp: start.Add(at[i]), CaptureLength: len(f), Length: len(f), LinkType: datapath.LinkTypeEthernet}
		if err := w.WritePacket(f, &ci); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestInspect(t *testing.T) {
	frames := [][]byte{
		tcpFrame(t, seg{client, web, "S", 1000, 0, 0}),
		tcpFrame(t, seg{web, client, "SA", 5000, 1001, 0}),
		tcpFrame(t, seg{client, web, "A", 1001, 5001, 0}),
		tcpFrame(t, seg{remote, server, "S", 7, 0, 0}),                   // allow ssh
		tcpFrame(t, seg{remote, "10.10.0.20:23", "S", 7, 0, 0}),          // default deny
		tcpFrame(t, seg{remote, "10.10.0.20:23", "S", 7, 0, 0}),          // retransmitted
		tcpFrame(t, seg{"198.51.100.7:1", "10.10.0.11:2", "A", 1, 1, 0}), // spoofed ACK
		{0x01, 0x02}, // garbage
	}
	in := writeCapture(t, frames)
	outPath := filepath.Join(t.TempDir(), "out.pcap")
	out, err := datapath.CreatePcap(outPath, datapath.PcapWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	src, err := datapath.OpenCapture(in)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	res, err := Inspect(t.Context(), src, mustPolicy(t, testPolicy), InspectConfig{Out: out})
	if err != nil {
		t.Fatal(err)
	}
	out.Close()
	if res.Frames != 8 || res.Forwarded != 4 {
		t.Errorf("%d frames, %d forwarded; want 8 and 4", res.Frames, res.Forwarded)
	}
	want := map[string]uint64{"forward/default": 1, "forward/established": 2, "forward/rule": 1, "drop/default": 2, "drop/invalid": 1, "drop/malformed": 1}
	for k, v := range want {
		if res.Counts[k] != v {
			t.Errorf("count %s = %d, want %d (all: %v)", k, res.Counts[k], v, res.Counts)
		}
	}
	if len(res.Denied) != 2 || res.Denied[0].Packets != 2 || res.Denied[0].Flow.Dst.Port() != 23 {
		t.Errorf("denied flows %+v", res.Denied)
	}
	// What would have been forwarded is in the output capture, in order.
	r, err := datapath.OpenCapture(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []flow.Key
	for {
		f, _, err := r.Next()
		if err != nil {
			break
		}
		var p packet.Parsed
		p.Decode(f)
		got = append(got, p.Flow())
	}
	if len(got) != 4 || got[3].Dst.Port() != 22 {
		t.Errorf("forwarded capture holds %v", got)
	}
}

// TestInspectLimitOnCaptureTime: the limit rule counts connections on the
// capture's clock. Connections 20 s apart never reach 6 in 30 s; a burst
// does. (The limiter's time origin used to be read when the engine was
// built, before the first frame had set the capture clock, so every
// timestamp saturated to the same instant and the sixth connection of the
// whole capture was refused however far apart they were.)
func TestInspectLimitOnCaptureTime(t *testing.T) {
	var frames [][]byte
	var at []time.Duration
	syn := func(port int, when time.Duration) {
		src := netip.AddrPortFrom(netip.MustParseAddr("198.51.100.9"), uint16(port)).String()
		frames = append(frames, tcpFrame(t, seg{src, "10.10.0.20:2222", "S", 1, 0, 0}))
		at = append(at, when)
	}
	for i := range 8 {
		syn(30000+i, time.Duration(i)*20*time.Second)
	}
	burst := 8 * 20 * time.Second
	for i := range 6 {
		syn(31000+i, burst+time.Duration(i)*100*time.Millisecond)
	}
	src, err := datapath.OpenCapture(writeCaptureAt(t, frames, at))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	res, err := Inspect(t.Context(), src, mustPolicy(t, testPolicy), InspectConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// The eight spaced connections and the first four of the burst pass;
	// the last spaced one is 20 s before the burst, so the burst's fifth
	// is the sixth connection in 30 s, and its sixth is over too.
	if res.Forwarded != 12 || res.Counts["drop/limit"] != 2 {
		t.Errorf("forwarded %d, limited %d; want 12 and 2 (counts %v)", res.Forwarded, res.Counts["drop/limit"], res.Counts)
	}
}
