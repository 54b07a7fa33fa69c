package main

import (
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// tcpFrame returns an Ethernet frame of an IPv4 TCP segment from src to
// dst, its checksums computed.
func tcpFrame(src, dst netip.AddrPort, flags packet.TCPFlags, seq, ack uint32, data []byte) []byte {
	tcp := make([]byte, 20, 20+len(data))
	binary.BigEndian.PutUint16(tcp[0:], src.Port())
	binary.BigEndian.PutUint16(tcp[2:], dst.Port())
	binary.BigEndian.PutUint32(tcp[4:], seq)
	binary.BigEndian.PutUint32(tcp[8:], ack)
	tcp[12] = 5 << 4
	tcp[13] = byte(flags)
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	tcp = append(tcp, data...)
	binary.BigEndian.PutUint16(tcp[16:], packet.Checksum(tcp, packet.PseudoHeaderChecksum(ipproto.TCP, src.Addr(), dst.Addr(), uint16(len(tcp)))))
	ip := make([]byte, 20, 20+len(tcp))
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(tcp)))
	ip[8] = 64
	ip[9] = byte(ipproto.TCP)
	copy(ip[12:], src.Addr().AsSlice())
	copy(ip[16:], dst.Addr().AsSlice())
	binary.BigEndian.PutUint16(ip[10:], packet.Checksum(ip, 0))
	eth := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00}
	return append(append(eth, ip...), tcp...)
}

// TestInspectSplitPattern: a client sends "GET /etc/pas", the server
// acknowledges it, then "swd HTTP/1.0": `rampart inspect` finds the
// pattern that straddles the two acknowledged segments, once, on the
// frame that acknowledged its end.
func TestInspectSplitPattern(t *testing.T) {
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "split.rules")
	if err := os.WriteFile(rulesPath, []byte(`alert tcp any any -> any 8080 (msg:"passwd on the stream"; content:"/etc/passwd"; sid:9100001; rev:1;)`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cli, srv := netip.MustParseAddrPort("10.10.0.11:40000"), netip.MustParseAddrPort("203.0.113.80:8080")
	const c0, s0 = 1000, 5000 // initial sequence numbers
	first, second := []byte("GET /etc/pas"), []byte("swd HTTP/1.0\r\n\r\n")
	n1, n2 := uint32(len(first)), uint32(len(first)+len(second))
	frames := [][]byte{
		tcpFrame(cli, srv, packet.TCPSYN, c0, 0, nil),
		tcpFrame(srv, cli, packet.TCPSYN|packet.TCPACK, s0, c0+1, nil),
		tcpFrame(cli, srv, packet.TCPACK, c0+1, s0+1, nil),
		tcpFrame(cli, srv, packet.TCPACK|packet.TCPPSH, c0+1, s0+1, first),
		tcpFrame(srv, cli, packet.TCPACK, s0+1, c0+1+n1, nil),
		tcpFrame(cli, srv, packet.TCPACK|packet.TCPPSH, c0+1+n1, s0+1, second),
		tcpFrame(srv, cli, packet.TCPACK, s0+1, c0+1+n2, nil), // frame 7: the pattern's end acknowledged
		tcpFrame(cli, srv, packet.TCPFIN|packet.TCPACK, c0+1+n2, s0+1, nil),
		tcpFrame(srv, cli, packet.TCPFIN|packet.TCPACK, s0+1, c0+2+n2, nil),
		tcpFrame(cli, srv, packet.TCPACK, c0+2+n2, s0+2, nil),
	}
	capture := filepath.Join(dir, "split.pcap")
	w, err := datapath.CreatePcap(capture, datapath.PcapWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for i, f := range frames {
		if err := w.WritePacket(f, &datapath.CaptureInfo{Timestamp: ts.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	eve := filepath.Join(dir, "eve.json")
	code, _, stderr := runCLI("inspect", "--rules", rulesPath, "--eve", eve, capture)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	want := []string{"9100001 TCP 10.10.0.11:40000 -> 203.0.113.80:8080 http allowed #7"}
	if got := alertLines(readEVE(t, eve)); !slices.Equal(got, want) {
		t.Errorf("alerts %q, want %q", got, want)
	}
}
