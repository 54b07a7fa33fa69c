package datapath

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"net"
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
	// A TCP handshake and a data segment cut short, as a capture ends when
	// tcpdump is killed: the reader returns the handshake, then ErrTruncated
	// at the cut record's offset.
	{"tcp-cut.pcap", func(t *testing.T) []byte {
		var buf bytes.Buffer
		w, err := NewPcapWriter(&buf, PcapWriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range tcpFrames(t) {
			ci := CaptureInfo{Timestamp: time.Unix(1700000000, int64(i)*1e6)}
			if err := w.WritePacket(f, &ci); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()[:tcpCutPcap+16+50]
	}, 3, 3 * 60, time.Unix(1700000000, 0), ErrTruncated, tcpCutPcap},
	{"tcp-cut.pcapng", func(t *testing.T) []byte {
		n := (&ngBuilder{}).shb().idb(1, 0)
		for i, f := range tcpFrames(t) {
			n.epb(0, 1_700_000_000_000_000+uint64(i)*1000, f, 0)
		}
		return n.bytes()[:tcpCutPcapng+8+20+50]
	}, 3, 3 * 60, time.Unix(1700000000, 0), ErrTruncated, tcpCutPcapng},
	// Captures of a link where nothing went by: a header and no packets.
	{"header-only.pcap", func(*testing.T) []byte { return buildPcap(false, false, 1, 65535) }, 0, 0, time.Time{}, nil, 0},
	{"header-only.pcapng", func(*testing.T) []byte { return (&ngBuilder{}).shb().idb(1, 0).bytes() }, 0, 0, time.Time{}, nil, 0},
	// 802.11 with radiotap headers: a link type the pipeline does not
	// decode.
	{"radiotap.pcap", func(*testing.T) []byte {
		return buildPcap(false, false, 127, 65535, pcapRecord{data: testFrame(60, 1), caplen: -1})
	}, 0, 0, time.Time{}, ErrUnsupportedLinkType, 20},
}

// The offsets of the cut record in tcp-cut.pcap (file header, then three
// records of 60-byte frames: Ethernet's minimum) and tcp-cut.pcapng
// (section and interface blocks, then three packet blocks).
const (
	tcpCutPcap   = 24 + 3*(16+60)
	tcpCutPcapng = 28 + 20 + 3*(32+60)
)

// tcpFrames are an outgoing TCP connection: the handshake from
// 10.10.0.11:40000 to 203.0.113.80:80 and a 100-byte request.
func tcpFrames(t *testing.T) [][]byte {
	client, server := net.IP{10, 10, 0, 11}, net.IP{203, 0, 113, 80}
	cmac, smac := net.HardwareAddr{2, 0, 0, 0, 0, 11}, net.HardwareAddr{2, 0, 0, 0, 0, 1}
	type seg struct {
		out      bool
		seq, ack uint32
		syn, psh bool
		payload  int
	}
	var frames [][]byte
	for _, sg := range []seg{{true, 1000, 0, true, false, 0}, {false, 5000, 1001, true, false, 0}, {true, 1001, 5001, false, false, 0}, {true, 1001, 5001, false, true, 100}} {
		eth := &layers.Ethernet{SrcMAC: cmac, DstMAC: smac, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: client, DstIP: server}
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: sg.seq, Ack: sg.ack, SYN: sg.syn, ACK: sg.ack != 0, PSH: sg.psh, Window: 65535}
		if !sg.out {
			eth.SrcMAC, eth.DstMAC = smac, cmac
			ip.SrcIP, ip.DstIP = server, client
			tcp.SrcPort, tcp.DstPort = 80, 40000
		}
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			eth, ip, tcp, gopacket.Payload(bytes.Repeat([]byte("x"), sg.payload))); err != nil {
			t.Fatal(err)
		}
		frames = append(frames, bytes.Clone(buf.Bytes()))
	}
	return frames
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
