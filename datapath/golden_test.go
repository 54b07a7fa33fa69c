package datapath

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

var update = flag.Bool("update", false, "rewrite the capture files in testdata")

// goldenFiles are the capture files in testdata: readers must keep reading
// them the same way, and the fuzz targets start from them. `go test
// -run TestGoldenFiles -update` regenerates them.
var goldenFiles = []struct {
	name    string
	build   func(t *testing.T) []byte
	packets int
	bytes   int
	first   time.Time // timestamp of the first packet; zero: don't check
	err     error     // after the packets
	offset  int64
}{
	{"ethernet.pcap", buildEthernetPcap, 3, 60 + 1514 + 342, time.Unix(1700000000, 1000), nil, 0},
	{"rawip-be-nano.pcap", func(*testing.T) []byte {
		return buildPcap(true, true, 101, 65535,
			pcapRecord{sec: 1, frac: 2, data: testFrame(40, 1), caplen: -1},
			pcapRecord{sec: 3, frac: 4, data: testFrame(60, 2), caplen: -1})
	}, 2, 100, time.Unix(1, 2), nil, 0},
	{"multi.pcapng", func(*testing.T) []byte {
		le := &ngBuilder{}
		le.shb(le.opt(3, []byte("linux")), []byte{0, 0, 0, 0}).idb(1, 0, le.opt(ngOptTSResol, []byte{9})).idb(101, 80)
		le.epb(0, 1_700_000_000_000_000_123, testFrame(60, 1), 0).epb(1, 5, testFrame(80, 2), 1400)
		le.block(5, make([]byte, 24)).spb(testFrame(70, 3), 70).opb(1, 6, testFrame(30, 4))
		be := &ngBuilder{big: true}
		be.shb().idb(229, 0).epb(0, 7_000_000, testFrame(90, 5), 0)
		return append(le.bytes(), be.bytes()...)
	}, 5, 60 + 80 + 70 + 30 + 90, time.Unix(1700000000, 123), nil, 0},
	{"pcapgo.pcapng", buildPcapgoNg, 4, 64 + 128 + 256 + 512, time.Unix(1600000000, 0), nil, 0},
	{"truncated.pcap", func(t *testing.T) []byte { b := buildEthernetPcap(t); return b[:len(b)-100] },
		2, 60 + 1514, time.Unix(1700000000, 1000), ErrTruncated, 24 + 16 + 60 + 16 + 1514},
	{"truncated.pcapng", func(t *testing.T) []byte { b := buildPcapgoNg(t); return b[:len(b)-300] },
		3, 64 + 128 + 256, time.Unix(1600000000, 0), ErrTruncated, -1},
	{"linux-sll.pcap", func(*testing.T) []byte {
		return buildPcap(false, false, 113, 65535, pcapRecord{data: testFrame(60, 1), caplen: -1})
	}, 0, 0, time.Time{}, ErrUnsupportedLinkType, 20},
}

func buildEthernetPcap(t *testing.T) []byte {
	var buf bytes.Buffer
	w, err := NewPcapWriter(&buf, PcapWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range []int{60, 1514, 342} {
		ci := CaptureInfo{Timestamp: time.Unix(1700000000, int64(i+1)*1000)}
		if err := w.WritePacket(testFrame(n, byte(i)), &ci); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func buildPcapgoNg(t *testing.T) []byte {
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range []int{64, 128, 256, 512} {
		ts := time.Unix(1600000000, int64(i)*1e6)
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: n, Length: n}, testFrame(n, byte(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGoldenFiles(t *testing.T) {
	for _, g := range goldenFiles {
		t.Run(g.name, func(t *testing.T) {
			path := filepath.Join("testdata", g.name)
			if *update {
				if err := os.WriteFile(path, g.build(t), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r, err := OpenCapture(path)
			packets, total := 0, 0
			var first time.Time
			if err == nil {
				defer r.Close()
				for {
					var f []byte
					var ci CaptureInfo
					f, ci, err = r.Next()
					if err != nil {
						break
					}
					if packets == 0 {
						first = ci.Timestamp
					}
					packets++
					total += len(f)
				}
			}
			if packets != g.packets || total != g.bytes {
				t.Errorf("read %d packets, %d bytes; want %d, %d", packets, total, g.packets, g.bytes)
			}
			if !g.first.IsZero() && !first.Equal(g.first) {
				t.Errorf("first timestamp %v, want %v", first, g.first)
			}
			if g.err == nil {
				if err != io.EOF {
					t.Errorf("ended with %v, want io.EOF", err)
				}
				return
			}
			var fe *FileError
			if !errors.Is(err, g.err) || !errors.As(err, &fe) || fe.File != path || fe.Packets != uint64(g.packets) {
				t.Fatalf("ended with %v, want %v in %s after %d packets", err, g.err, path, g.packets)
			}
			if g.offset >= 0 && fe.Offset != g.offset {
				t.Errorf("error at offset %d, want %d", fe.Offset, g.offset)
			}
		})
	}
}
