package datapath

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
)

// readAll drains a Source, failing the test on anything but io.EOF.
func readAll(t *testing.T, src Source) (frames [][]byte, infos []CaptureInfo) {
	t.Helper()
	for {
		f, ci, err := src.Next()
		if err == io.EOF {
			return frames, infos
		}
		if err != nil {
			t.Fatalf("Next after %d packets: %v", len(frames), err)
		}
		if len(f) != ci.CaptureLength {
			t.Fatalf("packet %d: len(frame) %d != CaptureLength %d", len(frames), len(f), ci.CaptureLength)
		}
		frames = append(frames, bytes.Clone(f))
		infos = append(infos, ci)
	}
}

func checkPackets(t *testing.T, gotF [][]byte, gotI []CaptureInfo, want []wantPacket) {
	t.Helper()
	if len(gotF) != len(want) {
		t.Fatalf("got %d packets, want %d", len(gotF), len(want))
	}
	for i, w := range want {
		if !bytes.Equal(gotF[i], w.data) {
			t.Errorf("packet %d: data %x, want %x", i, gotF[i], w.data)
		}
		ci := gotI[i]
		if !w.ts.IsZero() && !ci.Timestamp.Equal(w.ts) {
			t.Errorf("packet %d: timestamp %v, want %v", i, ci.Timestamp.UTC(), w.ts.UTC())
		}
		if w.length != 0 && ci.Length != w.length {
			t.Errorf("packet %d: length %d, want %d", i, ci.Length, w.length)
		}
		if ci.InterfaceIndex != w.iface {
			t.Errorf("packet %d: interface %d, want %d", i, ci.InterfaceIndex, w.iface)
		}
		if ci.LinkType != w.link {
			t.Errorf("packet %d: link type %v, want %v", i, ci.LinkType, w.link)
		}
	}
}

func TestPcapRoundTrip(t *testing.T) {
	base := time.Date(2024, 5, 17, 10, 20, 30, 123456789, time.UTC)
	frames := []struct {
		data    []byte
		ts      time.Time
		origlen int
	}{
		{testFrame(60, 1), base, 0},
		{testFrame(1514, 2), base.Add(1500 * time.Microsecond), 0},
		{testFrame(0, 3), base.Add(time.Second), 0},
		{testFrame(9000, 4), base.Add(2 * time.Second), 0},
		{testFrame(100, 5), base.Add(3 * time.Second), 4000}, // captured short
	}
	tests := []struct {
		name string
		opts PcapWriterOptions
	}{
		{"ethernet-micro", PcapWriterOptions{}},
		{"ethernet-nano", PcapWriterOptions{Nanosecond: true}},
		{"raw-nano", PcapWriterOptions{LinkType: LinkTypeRaw, Nanosecond: true}},
		{"ipv6-snaplen-1000", PcapWriterOptions{LinkType: LinkTypeIPv6, SnapLen: 1000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tt.name+".pcap")
			w, err := CreatePcap(path, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			link := tt.opts.LinkType
			if link == 0 {
				link = LinkTypeEthernet
			}
			snap := tt.opts.SnapLen
			if snap == 0 {
				snap = MaxCaptureLength
			}
			var want []wantPacket
			for _, f := range frames {
				ci := CaptureInfo{Timestamp: f.ts, Length: f.origlen}
				if err := w.WritePacket(f.data, &ci); err != nil {
					t.Fatal(err)
				}
				ts := f.ts
				if !tt.opts.Nanosecond {
					ts = ts.Truncate(time.Microsecond)
				}
				data := f.data[:min(len(f.data), snap)]
				want = append(want, wantPacket{data: data, ts: ts, length: max(len(f.data), f.origlen), link: link})
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if err := w.Write(frames[0].data); !errors.Is(err, ErrClosed) {
				t.Errorf("Write after Close: %v, want ErrClosed", err)
			}

			r, err := OpenCapture(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			gotF, gotI := readAll(t, r)
			checkPackets(t, gotF, gotI, want)

			// An independent reader must agree on every byte.
			raw := readFile(t, path)
			pr, err := pcapgo.NewReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("pcapgo: %v", err)
			}
			for i, w := range want {
				data, ci, err := pr.ReadPacketData()
				if err != nil {
					t.Fatalf("pcapgo packet %d: %v", i, err)
				}
				if !bytes.Equal(data, w.data) || !ci.Timestamp.Equal(w.ts) || ci.Length != w.length {
					t.Errorf("pcapgo packet %d: %d bytes at %v len %d, want %d bytes at %v len %d",
						i, len(data), ci.Timestamp, ci.Length, len(w.data), w.ts, w.length)
				}
			}
			if uint32(pr.LinkType()) != uint32(link) {
				t.Errorf("pcapgo link type %d, want %d", pr.LinkType(), link)
			}
		})
	}
}

func TestPcapRead(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want []wantPacket
	}{
		{
			name: "little-endian-micro",
			data: buildPcap(false, false, 1, 65535,
				pcapRecord{sec: 1700000000, frac: 999999, data: testFrame(64, 1), caplen: -1},
				pcapRecord{sec: 1700000001, frac: 0, data: testFrame(14, 2), caplen: -1}),
			want: []wantPacket{
				{data: testFrame(64, 1), ts: time.Unix(1700000000, 999999000), length: 64, link: LinkTypeEthernet},
				{data: testFrame(14, 2), ts: time.Unix(1700000001, 0), length: 14, link: LinkTypeEthernet},
			},
		},
		{
			name: "big-endian-nano-raw",
			data: buildPcap(true, true, 101, 262144,
				pcapRecord{sec: 5, frac: 123456789, data: testFrame(40, 9), origlen: 1500, caplen: -1}),
			want: []wantPacket{{data: testFrame(40, 9), ts: time.Unix(5, 123456789), length: 1500, link: LinkTypeRaw}},
		},
		{
			name: "fcs-bits-in-link-type",
			data: buildPcap(false, false, 1|1<<26|4<<27, 65535, pcapRecord{data: testFrame(64, 3), caplen: -1}),
			want: []wantPacket{{data: testFrame(64, 3), ts: time.Unix(0, 0), length: 64, link: LinkTypeEthernet}},
		},
		{
			name: "no-packets",
			data: buildPcap(false, true, 229, 65535),
		},
		{
			name: "empty-record",
			data: buildPcap(false, false, 228, 65535, pcapRecord{data: nil, caplen: -1, origlen: 20}),
			want: []wantPacket{{data: []byte{}, length: 20, link: LinkTypeIPv4}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewCaptureReader(bytes.NewReader(tt.data), tt.name)
			if err != nil {
				t.Fatal(err)
			}
			gotF, gotI := readAll(t, r)
			checkPackets(t, gotF, gotI, tt.want)
			if _, _, err := r.Next(); err != io.EOF {
				t.Errorf("Next after EOF: %v", err)
			}
		})
	}
}

func TestPcapErrors(t *testing.T) {
	two := buildPcap(false, false, 1, 65535,
		pcapRecord{data: testFrame(60, 1), caplen: -1},
		pcapRecord{data: testFrame(100, 2), caplen: -1})
	rec2 := int64(24 + 16 + 60)
	tests := []struct {
		name     string
		data     []byte
		err      error
		offset   int64
		packets  uint64
		contains []string
	}{
		{"empty", nil, ErrNotCapture, 0, 0, []string{"empty file"}},
		{"short-garbage", []byte{1, 2}, ErrTruncated, 0, 0, []string{"have 2 of 24"}},
		{"bad-magic", bytes.Repeat([]byte{0x42}, 24), ErrNotCapture, 0, 0, []string{"0x42424242"}},
		{"header-cut", two[:10], ErrTruncated, 0, 0, []string{"file header: have 10 of 24 bytes"}},
		{"version", func() []byte { b := bytes.Clone(two); b[4] = 3; return b }(), ErrMalformed, 4, 0, []string{"version 3.4"}},
		{"radiotap", buildPcap(false, false, 127, 65535), ErrUnsupportedLinkType, 20, 0, []string{"127", "IEEE802_11_RADIOTAP"}},
		{"ieee802.11", buildPcap(true, false, 105, 65535), ErrUnsupportedLinkType, 20, 0, []string{"105", "IEEE802_11"}},
		{"caplen-too-large", buildPcap(false, false, 1, 65535, pcapRecord{data: testFrame(10, 1), caplen: MaxCaptureLength + 1}),
			ErrMalformed, 32, 0, []string{"262145"}},
		{"record-header-cut", two[:rec2+7], ErrTruncated, rec2, 1, []string{"record header: have 7 of 16 bytes"}},
		{"data-cut", two[:rec2+16+50], ErrTruncated, rec2, 1, []string{"packet data: have 50 of 100 bytes"}},
		{"first-data-cut", two[:24+16+1], ErrTruncated, 24, 0, []string{"have 1 of 60 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			r, err := NewPcapReader(bytes.NewReader(tt.data), "in.pcap")
			if err == nil {
				for err == nil {
					_, _, err = r.Next()
				}
				// Errors stick.
				if _, _, again := r.Next(); again != err {
					t.Errorf("second Next: %v, want the same error %v", again, err)
				}
			}
			checkFileError(t, err, tt.err, tt.offset, tt.packets, append(tt.contains, "in.pcap")...)
		})
	}
}

func checkFileError(t *testing.T, err, want error, offset int64, packets uint64, contains ...string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
	var fe *FileError
	if !errors.As(err, &fe) {
		t.Fatalf("error %T %v is not a *FileError", err, err)
	}
	if fe.Offset != offset || fe.Packets != packets {
		t.Errorf("error at offset %d after %d packets, want offset %d after %d: %v", fe.Offset, fe.Packets, offset, packets, err)
	}
	for _, s := range contains {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

func TestPcapWriterOptions(t *testing.T) {
	tests := []struct {
		name string
		opts PcapWriterOptions
		ok   bool
	}{
		{"defaults", PcapWriterOptions{}, true},
		{"ipv4", PcapWriterOptions{LinkType: LinkTypeIPv4}, true},
		{"radiotap", PcapWriterOptions{LinkType: 127}, false},
		{"negative-snaplen", PcapWriterOptions{SnapLen: -1}, false},
		{"huge-snaplen", PcapWriterOptions{SnapLen: MaxCaptureLength + 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewPcapWriter(io.Discard, tt.opts)
			if (err == nil) != tt.ok {
				t.Errorf("NewPcapWriter: %v, want ok=%v", err, tt.ok)
			}
		})
	}
	w, _ := NewPcapWriter(io.Discard, PcapWriterOptions{})
	if err := w.Write(make([]byte, MaxCaptureLength+1)); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("oversized frame: %v, want ErrFrameTooLarge", err)
	}
}

// Several workers share one writer; every record must come out whole.
func TestPcapWriterConcurrent(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewPcapWriter(&buf, PcapWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 4, 200
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			f := testFrame(60+g, byte(g))
			for range each {
				if err := w.Write(f); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	r, err := NewPcapReader(&buf, "concurrent")
	if err != nil {
		t.Fatal(err)
	}
	frames, _ := readAll(t, r)
	if len(frames) != workers*each {
		t.Fatalf("%d records, want %d", len(frames), workers*each)
	}
	for i, f := range frames {
		g := len(f) - 60
		if g < 0 || g >= workers || !bytes.Equal(f, testFrame(60+g, byte(g))) {
			t.Fatalf("record %d is garbled: %x", i, f)
		}
	}
}

// The offline hot path must not allocate per packet.
func TestReaderAllocs(t *testing.T) {
	var ng ngBuilder
	ng.shb().idb(1, 0)
	var recs []pcapRecord
	for i := range 64 {
		recs = append(recs, pcapRecord{sec: uint32(i), data: testFrame(60+i*20, byte(i)), caplen: -1})
		ng.epb(0, uint64(i), testFrame(60+i*20, byte(i)), 0)
	}
	files := map[string][]byte{"pcap": buildPcap(false, false, 1, 65535, recs...), "pcapng": ng.bytes()}
	for name, data := range files {
		t.Run(name, func(t *testing.T) {
			br := bytes.NewReader(data)
			r, err := NewCaptureReader(br, name)
			if err != nil {
				t.Fatal(err)
			}
			// Warm up: the frame buffer grows to the largest frame once.
			readAll(t, r)
			reset := func() {
				br.Reset(data)
				var err error
				if r.ng != nil {
					err = r.ng.Reset(br)
				} else {
					err = r.pcap.Reset(br)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			reset()
			allocs := testing.AllocsPerRun(200, func() {
				if _, _, err := r.Next(); err == io.EOF {
					reset()
				}
			})
			if allocs != 0 {
				t.Errorf("%v allocations per packet, want 0", allocs)
			}
		})
	}
}
