package ids

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/ids/internal/traffic"
	"github.com/rampart-fw/rampart/ipproto"
)

var update = flag.Bool("update", false, "rewrite testdata/sample.pcap and testdata/mix.pcap")

// The hosts of the sample capture.
var (
	client   = netip.MustParseAddr("10.10.0.11")
	web      = netip.MustParseAddrPort("203.0.113.80:80")
	resolver = netip.MustParseAddrPort("203.0.113.10:53")
	tlsSrv   = netip.MustParseAddrPort("203.0.113.90:443")
	attacker = netip.MustParseAddr("198.51.100.66")
	// The overlap's two targets: the configuration gives vistaHost the
	// vista policy (the first segment wins), bsdHost the default (bsd).
	vistaHost = netip.MustParseAddrPort("10.10.7.10:9000")
	bsdHost   = netip.MustParseAddrPort("10.10.7.20:9000")
	// The fragment overlap's targets: bsdHost's address (bsd keeps the
	// fragment held first at an equal offset) and linuxHost (linux
	// takes the later one).
	linuxHost = netip.MustParseAddr("10.10.7.30")
	sampleT0  = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
)

// sampleCapture builds the frames of testdata/sample.pcap: HTTP (a
// benign request, and one from sqlmap for /admin.php answered 200), a
// DNS query for a malware domain, a TLS ClientHello for a blocked host,
// and the overlap evasion sent to two hosts of different policies.
func sampleCapture() []traffic.Frame {
	c := traffic.NewCapture(sampleT0)
	cli := func(port uint16) netip.AddrPort { return netip.AddrPortFrom(client, port) }

	h := c.TCP(cli(40000), web)
	h.Send(0, []byte("GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: curl/8.5.0\r\n\r\n"), 1460)
	h.Send(1, []byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), 1460)
	h.Close()

	// The request is cut over two segments; the user agent spans them.
	h = c.TCP(cli(40001), web)
	h.Send(0, []byte("GET /admin.php?id=1%27%20OR%201=1 HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: sqlm"+
		"ap/1.7.2#stable (https://sqlmap.org)\r\nAccept: */*\r\n\r\n"), 60)
	h.Send(1, []byte("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 13\r\n\r\n<p>admin</p>\n"), 1460)
	h.Close()

	c.UDP(cli(33333), resolver, traffic.DNSQuery(0x4242, "update.malware.example.net"))
	c.UDP(cli(33334), resolver, traffic.DNSQuery(0x4343, "www.example.com"))

	h = c.TCP(cli(40003), tlsSrv)
	h.Send(0, traffic.ClientHello("bad.example.org"), 1460)
	h.Close()
	h = c.TCP(cli(40004), tlsSrv)
	h.Send(0, traffic.ClientHello("good.example.org"), 1460)
	h.Close()

	// The evasion: "EVIL" at 0, "XXX" at 4, then "LCMD!" at 3, which
	// overlaps the end of the first and all of the second. A host that
	// keeps the earlier bytes (vista) reads EVILXXX!; one where a segment
	// that starts earlier wins (bsd) reads EVILCMD!. No packet holds the
	// pattern whole.
	for i, dst := range []netip.AddrPort{vistaHost, bsdHost} {
		h = c.TCP(netip.AddrPortFrom(attacker, uint16(41000+i)), dst)
		h.Segment(0, 0, []byte("EVIL"))
		h.Segment(0, 4, []byte("XXX"))
		h.Segment(0, 3, []byte("LCMD!"))
		h.Ack(1)
		h.Close()
	}

	// The same trick with IP fragments of a UDP datagram: the first
	// fragment has the UDP header and "AAAAAAAA", the second "XXXXXXXX"
	// at 16, the third "FRAGATTACK......" at 16 too, and last. Where
	// the later fragment wins at an equal offset (linux) the datagram
	// holds FRAGATTACK; where the earlier one does (bsd, windows,
	// first) it holds XXXXXXXXCK.
	for i, dst := range []netip.Addr{bsdHost.Addr(), linuxHost} {
		src := netip.AddrPortFrom(attacker, uint16(42000+i))
		to := netip.AddrPortFrom(dst, 5555)
		payload := []byte("AAAAAAAAFRAGATTACK......")
		udp := append(traffic.UDPHeader(src, to, payload), payload[:8]...)
		id := uint16(0x7000 + i)
		c.Fragment(attacker, dst, ipproto.UDP, id, 0, true, udp)
		c.Fragment(attacker, dst, ipproto.UDP, id, 16, true, []byte("XXXXXXXX"))
		c.Fragment(attacker, dst, ipproto.UDP, id, 16, false, payload[8:])
	}
	return c.Frames
}

// TestSampleCapture keeps testdata/sample.pcap, which the command's test
// (cmd/rampart) inspects, equal to what sampleCapture builds; -update
// rewrites it.
func TestSampleCapture(t *testing.T) {
	checkCapture(t, "testdata/sample.pcap", sampleCapture(), "TestSampleCapture")
}

// checkCapture compares the capture at path with frames written as a
// pcap file; -update rewrites it. test names the test that does.
func checkCapture(t *testing.T, path string, frames []traffic.Frame, test string) {
	var buf bytes.Buffer
	w, err := datapath.NewPcapWriter(&buf, datapath.PcapWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		ci := datapath.CaptureInfo{Timestamp: f.Time, Length: len(f.Data)}
		if err := w.WritePacket(f.Data, &ci); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, buf.Bytes()) {
		t.Errorf("%s differs from the frames generated (go test -run %s -update)", path, test)
	}
}
