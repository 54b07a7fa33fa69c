package datapath

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/rampart-fw/rampart/packet"
)

// addSeeds feeds the fuzzer the golden files and a few hand-built captures.
func addSeeds(f *testing.F, extra ...[]byte) {
	paths, _ := filepath.Glob("testdata/*.pcap*")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, b := range extra {
		f.Add(b)
	}
}

// drain reads a capture to its end and checks the reader's promises: no
// panic, frames as long as their CaptureInfo says and never longer than
// MaxCaptureLength, and every failure a *FileError.
func drain(t *testing.T, open func() (Source, error)) {
	src, err := open()
	for i := 0; err == nil && i < 100000; i++ {
		var frame []byte
		var ci CaptureInfo
		frame, ci, err = src.Next()
		if err == nil && (len(frame) != ci.CaptureLength || len(frame) > MaxCaptureLength || ci.Length < ci.CaptureLength || !ci.LinkType.Supported()) {
			t.Fatalf("frame of %d bytes with %+v", len(frame), ci)
		}
	}
	if err == nil || err == io.EOF {
		return
	}
	var fe *FileError
	if !errors.As(err, &fe) || fe.File != "fuzz" {
		t.Fatalf("error %T %v is not a *FileError naming the file", err, err)
	}
}

func FuzzPcapReader(f *testing.F) {
	addSeeds(f,
		buildPcap(true, true, 229, 0, pcapRecord{data: testFrame(50, 1), caplen: -1}),
		buildPcap(false, false, 1, 65535, pcapRecord{data: testFrame(20, 1), caplen: 4000}),
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		drain(t, func() (Source, error) { return NewPcapReader(bytes.NewReader(data), "fuzz") })
	})
}

func FuzzPcapngReader(f *testing.F) {
	n := &ngBuilder{big: true}
	n.shb().idb(1, 30, n.opt(ngOptTSResol, []byte{0x80 | 63}), n.opt(ngOptTSOffset, make([]byte, 8))).
		spb(testFrame(40, 1), 40).opb(0, ^uint64(0), testFrame(10, 2)).epb(0, 1, testFrame(14, 3), 0)
	addSeeds(f, n.bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		drain(t, func() (Source, error) { return NewPcapngReader(bytes.NewReader(data), "fuzz") })
		drain(t, func() (Source, error) { return NewCaptureReader(bytes.NewReader(data), "fuzz") })
	})
}

// The ring walker parses what the kernel writes; it is trusted, but a
// corrupt block must end the walk, not the process.
func FuzzBlockCursor(f *testing.F) {
	f.Add(buildBlock(4096, []ringFrame{{data: testFrame(60, 1)}, {data: testFrame(100, 2), status: tpStatusVLANValid}}))
	f.Add(buildBlock(512, []ringFrame{{data: testFrame(14, 1), pkttype: PacketOutgoing}, {data: testFrame(40, 2), wirelen: 9000}}))
	f.Add(buildVNetBlock(4096, []ringFrame{{data: testFrame(1514, 1), status: tpStatusVLANValid | tpStatusCsumNotReady,
		vnet: VNetHeader{Flags: VNetNeedsChecksum, GSOType: VNetGSOTCPv4, HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}}}))
	f.Fuzz(func(t *testing.T, block []byte) {
		for _, m := range []struct {
			link LinkType
			vnet bool
		}{{LinkTypeEthernet, false}, {LinkTypeRaw, false}, {LinkTypeEthernet, true}} {
			link := m.link
			b := bytes.Clone(block)
			var c blockCursor
			c.reset(b, link, 0, m.vnet)
			var ci CaptureInfo
			for i := 0; ; i++ {
				frame, ok := c.next(&ci)
				if !ok {
					break
				}
				if len(frame) != ci.CaptureLength || ci.Length < ci.CaptureLength {
					t.Fatalf("frame %d: %d bytes with %+v", i, len(frame), ci)
				}
			}
		}
	})
}

// FuzzLinkDecode: the link-layer headers of every link type a capture may
// carry (BSD loopback in either byte order, PPP with and without HDLC
// framing and protocol compression, Cisco HDLC, Linux SLL and SLL2, raw
// IP) are read from the network's bytes: an offset past the frame or a
// panic on a cut header would be an attacker's to trigger offline.
func FuzzLinkDecode(f *testing.F) {
	ip := testFrame(40, 1)[14:]
	f.Add(append([]byte{2, 0, 0, 0}, ip...))
	f.Add(append([]byte{0, 0, 0, 30}, ip...))
	f.Add(append([]byte{0xff, 0x03, 0x00, 0x21}, ip...))
	f.Add(append([]byte{0x21}, ip...))
	f.Add(append([]byte{0x0f, 0x00, 0x08, 0x00}, ip...))
	f.Add(append(make([]byte, 14), append([]byte{0x08, 0x00}, ip...)...))
	f.Add(append([]byte{0x08, 0x00}, append(make([]byte, 18), ip...)...))
	f.Fuzz(func(t *testing.T, frame []byte) {
		var p packet.Parsed
		for lt := LinkType(0); lt < 300; lt++ {
			if !lt.Supported() {
				continue
			}
			off, ok := NetworkOffset(lt, frame)
			if ok && (off < 0 || off > len(frame)) {
				t.Fatalf("%v: offset %d of a %d-byte frame", lt, off, len(frame))
			}
			Decode(&p, frame, lt)
			if p.IPVersion != 0 && !ok && lt != LinkTypeEthernet {
				t.Fatalf("%v: decoded IPv%d from a frame NetworkOffset refuses", lt, p.IPVersion)
			}
		}
	})
}
