package datapath

import (
	"bytes"
	"context"
	"io"
	"testing"
)

// benchCapture builds an in-memory capture of n frames of size bytes.
func benchCapture(ng bool, n, size int) []byte {
	if ng {
		b := &ngBuilder{}
		b.shb().idb(1, 0)
		for i := range n {
			b.epb(0, uint64(i), testFrame(size, byte(i)), 0)
		}
		return b.bytes()
	}
	recs := make([]pcapRecord, n)
	for i := range recs {
		recs[i] = pcapRecord{sec: uint32(i), data: testFrame(size, byte(i)), caplen: -1}
	}
	return buildPcap(false, false, 1, 65535, recs...)
}

// benchReader measures Next per packet, rewinding the in-memory file with
// Reset (which keeps the buffers) whenever it runs out.
func benchReader(b *testing.B, ng bool, size int) {
	data := benchCapture(ng, 1000, size)
	br := bytes.NewReader(data)
	r, err := NewCaptureReader(br, "bench")
	if err != nil {
		b.Fatal(err)
	}
	rewind := func() {
		br.Reset(data)
		if r.ng != nil {
			err = r.ng.Reset(br)
		} else {
			err = r.pcap.Reset(br)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, _, err := r.Next(); err != nil {
			if err != io.EOF {
				b.Fatal(err)
			}
			rewind()
		}
	}
}

func BenchmarkPcapReader64(b *testing.B)     { benchReader(b, false, 64) }
func BenchmarkPcapReader1514(b *testing.B)   { benchReader(b, false, 1514) }
func BenchmarkPcapngReader64(b *testing.B)   { benchReader(b, true, 64) }
func BenchmarkPcapngReader1514(b *testing.B) { benchReader(b, true, 1514) }

func BenchmarkPcapWriter(b *testing.B) {
	w, err := NewPcapWriter(io.Discard, PcapWriterOptions{})
	if err != nil {
		b.Fatal(err)
	}
	f := testFrame(1514, 1)
	ci := CaptureInfo{Length: len(f)}
	b.SetBytes(int64(len(f)))
	b.ReportAllocs()
	for range b.N {
		if err := w.WritePacket(f, &ci); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBlockCursor is the live receive path without the kernel: walking
// a full ring block of 1514-byte frames, one frame per op.
func BenchmarkBlockCursor(b *testing.B) {
	benchCursor(b, 0, false)
}

// BenchmarkBlockCursorVLAN adds restoring the 802.1Q tag in place.
func BenchmarkBlockCursorVLAN(b *testing.B) {
	benchCursor(b, tpStatusVLANValid, false)
}

// BenchmarkBlockCursorVNet walks frames that carry a vnet header (a TSO
// super-frame's, with its checksum left to offload) and a VLAN tag.
func BenchmarkBlockCursorVNet(b *testing.B) {
	benchCursor(b, tpStatusVLANValid|tpStatusCsumNotReady, true)
}

func benchCursor(b *testing.B, status uint32, vnet bool) {
	var frames []ringFrame
	for i := range 600 {
		frames = append(frames, ringFrame{data: testFrame(1514, byte(i)), status: status, vlanTCI: 10,
			vnet: VNetHeader{Flags: VNetNeedsChecksum, GSOType: VNetGSOTCPv4, HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}})
	}
	pristine := buildBlock(1<<20, frames)
	if vnet {
		pristine = buildVNetBlock(1<<20, frames)
	}
	block := bytes.Clone(pristine)
	var c blockCursor
	var ci CaptureInfo
	c.reset(block, LinkTypeEthernet, 0, vnet)
	b.SetBytes(1514)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, ok := c.next(&ci); !ok {
			b.StopTimer()
			copy(block, pristine) // restoring tags shifts bytes; start clean
			b.StartTimer()
			c.reset(block, LinkTypeEthernet, 0, vnet)
		}
	}
}

// BenchmarkReplay is the offline pipeline end to end: read, hand to the
// handler, forward into a pcap sink; one op is a file of 1000 frames.
func BenchmarkReplay(b *testing.B) {
	data := benchCapture(false, 1000, 512)
	w, _ := NewPcapWriter(io.Discard, PcapWriterOptions{})
	cfg := ReplayConfig{WAN: w}
	br := bytes.NewReader(data)
	r, err := NewPcapReader(br, "bench")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(512 * 1000)
	b.ReportAllocs()
	for range b.N {
		br.Reset(data)
		if err := r.Reset(br); err != nil {
			b.Fatal(err)
		}
		if n, err := Replay(ctx, r, ForwardAll{}, cfg); err != nil || n != 1000 {
			b.Fatal(n, err)
		}
	}
}
