package datapath

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"
)

// sideBySeed puts frames with an odd source-MAC seed on WAN.
func sideBySeed(frame []byte, _ *CaptureInfo) Side {
	if len(frame) > 11 && frame[11]&1 == 1 {
		return WAN
	}
	return LAN
}

func TestReplay(t *testing.T) {
	var recs []pcapRecord
	for i := range 12 {
		recs = append(recs, pcapRecord{sec: uint32(i), data: testFrame(60+i, byte(i)), caplen: -1})
	}
	input := buildPcap(false, false, 1, 65535, recs...)

	// LAN frames are forwarded; WAN frames with a seed divisible by 3 are
	// dropped, the others answered on WAN from a reused scratch buffer.
	scratch := make([]byte, 0, 128)
	h := HandlerFunc(func(frame []byte, ci *CaptureInfo, in Side, out *Sender) {
		if out.In() != in {
			t.Errorf("Sender.In %v, handler told %v", out.In(), in)
		}
		seed := frame[11]
		switch {
		case in == LAN:
			out.Forward(frame)
		case seed%3 == 0:
		default:
			scratch = append(scratch[:0], frame...)
			scratch[0] = 0xaa
			out.Send(WAN, scratch)
			scratch[0] = 0xbb // the sink must have taken its copy already
		}
	})
	var lanBuf, wanBuf bytes.Buffer
	lanW, _ := NewPcapWriter(&lanBuf, PcapWriterOptions{})
	wanW, _ := NewPcapWriter(&wanBuf, PcapWriterOptions{})
	src, err := NewCaptureReader(bytes.NewReader(input), "replay")
	if err != nil {
		t.Fatal(err)
	}
	n, err := Replay(context.Background(), src, h, ReplayConfig{Side: sideBySeed, LAN: lanW, WAN: wanW})
	if err != nil || n != 12 {
		t.Fatalf("Replay: %d frames, %v", n, err)
	}
	lanW.Flush()
	wanW.Flush()
	lanOut, _ := readAll(t, mustReader(t, lanBuf.Bytes()))
	wanOut, _ := readAll(t, mustReader(t, wanBuf.Bytes()))
	// Even seeds came in on LAN and went out on WAN.
	var wantWAN, wantLAN [][]byte
	for i := range 12 {
		f := testFrame(60+i, byte(i))
		switch {
		case i%2 == 0:
			wantWAN = append(wantWAN, f)
		case i%3 != 0:
			f[0] = 0xaa
			wantWAN = append(wantWAN, f)
		}
	}
	// Replies and forwards interleave in input order on WAN.
	if len(lanOut) != len(wantLAN) {
		t.Errorf("LAN got %d frames, want %d", len(lanOut), len(wantLAN))
	}
	if len(wanOut) != len(wantWAN) {
		t.Fatalf("WAN got %d frames, want %d", len(wanOut), len(wantWAN))
	}
	for i := range wanOut {
		if !bytes.Equal(wanOut[i], wantWAN[i]) {
			t.Errorf("WAN frame %d: %x, want %x", i, wanOut[i], wantWAN[i])
		}
	}
}

func mustReader(t *testing.T, b []byte) *CaptureReader {
	t.Helper()
	r, err := NewCaptureReader(bytes.NewReader(b), "out")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReplayErrors(t *testing.T) {
	t.Run("source-error", func(t *testing.T) {
		r, err := OpenCapture("testdata/truncated.pcap")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		n, err := Replay(context.Background(), r, ForwardAll{}, ReplayConfig{})
		if n != 2 || !errors.Is(err, ErrTruncated) {
			t.Errorf("Replay: %d frames, %v; want 2 and ErrTruncated", n, err)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		r, err := OpenCapture("testdata/ethernet.pcap")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		n, err := Replay(ctx, r, ForwardAll{}, ReplayConfig{})
		if n != 0 || !errors.Is(err, context.Canceled) {
			t.Errorf("Replay: %d frames, %v", n, err)
		}
	})
	t.Run("empty-frame-to-sink", func(t *testing.T) {
		r := mustReader(t, buildPcap(false, false, 1, 65535, pcapRecord{data: nil, caplen: -1}))
		var got error
		h := HandlerFunc(func(frame []byte, _ *CaptureInfo, _ Side, out *Sender) { got = out.Forward(frame) })
		w, _ := NewPcapWriter(&bytes.Buffer{}, PcapWriterOptions{})
		if _, err := Replay(context.Background(), r, h, ReplayConfig{WAN: w}); err != nil {
			t.Fatal(err)
		}
		if !errors.Is(got, ErrEmptyFrame) {
			t.Errorf("Forward of an empty frame: %v", got)
		}
	})
}

func TestOpenCaptureErrors(t *testing.T) {
	if _, err := OpenCapture("testdata/does-not-exist.pcap"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	_, err := OpenCapture("testdata/radiotap.pcap")
	checkFileError(t, err, ErrUnsupportedLinkType, 20, 0, "testdata/radiotap.pcap", "IEEE802_11_RADIOTAP")
	_, err = NewCaptureReader(bytes.NewReader(nil), "empty")
	checkFileError(t, err, ErrNotCapture, 0, 0, "empty")
}

func TestSideAndLinkTypeNames(t *testing.T) {
	tests := []struct{ got, want string }{
		{LAN.String(), "lan"}, {WAN.String(), "wan"}, {Side(7).String(), "side(7)"},
		{LAN.Other().String(), "wan"}, {WAN.Other().String(), "lan"},
		{LinkTypeEthernet.String(), "ETHERNET"}, {LinkType(113).String(), "LINUX_SLL"},
		{LinkType(4242).String(), "LINKTYPE_4242"},
		{(&LinkTypeError{LinkType: 113, Interface: 2}).Error(), "interface 2: unsupported link type 113 (LINUX_SLL)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	ci := CaptureInfo{Timestamp: time.Unix(0, 0), CaptureLength: 10, Length: 20}
	if !ci.Truncated() {
		t.Error("10 of 20 bytes is truncated")
	}
}
