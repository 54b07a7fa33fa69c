package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/packet"
)

// readFrames reads a capture until it ends and returns its frames and the
// error it ended with (io.EOF at a clean end).
func readFrames(t *testing.T, path string) ([][]byte, error) {
	t.Helper()
	r, err := datapath.OpenCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out [][]byte
	for {
		f, _, err := r.Next()
		if err != nil {
			return out, err
		}
		out = append(out, bytes.Clone(f))
	}
}

func testCapture(name string) string { return filepath.Join("..", "..", "datapath", "testdata", name) }

// TestInspectCutShort: a capture whose last record is cut short (as when
// tcpdump is killed) is reported up to that record, with a warning naming
// its offset, exit 0, and a --out file that reads to its end and holds the
// frames before the cut.
func TestInspectCutShort(t *testing.T) {
	for _, tc := range []struct {
		file   string
		offset string
	}{
		{"tcp-cut.pcap", "offset 252"},
		{"tcp-cut.pcapng", "offset 324"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			in := testCapture(tc.file)
			out := filepath.Join(t.TempDir(), "out.pcap")
			code, stdout, stderr := runCLI("inspect", "--policy", "testdata/gateway.rules", "--out", out, in)
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			wantOut := "3 frames (180 bytes), 3 forwarded, from 2023-11-14T22:13:20Z to 2023-11-14T22:13:20.002Z\n\n" +
				"RULE                    LINE  NEW CONNECTIONS\n" +
				"default allow outgoing  -     1\n\n" +
				"VERDICT/REASON       FRAMES\n" +
				"forward/default      1\n" +
				"forward/established  2\n"
			if stdout != wantOut {
				t.Errorf("stdout:\n%s\nwant:\n%s", stdout, wantOut)
			}
			wantErr := "warning: " + in + ": the capture ends in the middle of the record at " + tc.offset +
				" (truncated: packet data: have 50 of 154 bytes): reported the 3 frames before it\n"
			if stderr != wantErr {
				t.Errorf("stderr %q, want %q", stderr, wantErr)
			}
			want, err := readFrames(t, in)
			if !errors.Is(err, datapath.ErrTruncated) || len(want) != 3 {
				t.Fatalf("the input: %d frames, then %v; want 3 and a cut record", len(want), err)
			}
			got, err := readFrames(t, out)
			if err != io.EOF {
				t.Errorf("--out does not read to its end: %v", err)
			}
			if len(got) != len(want) {
				t.Fatalf("--out holds %d frames, want the %d forwarded", len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Errorf("--out frame %d differs from the input's", i)
				}
			}
		})
	}
}

// TestInspectNoPackets: a capture with a header and no packets says so,
// with no year-1 dates, and its --out file is a well-formed empty capture.
func TestInspectNoPackets(t *testing.T) {
	for _, file := range []string{"header-only.pcap", "header-only.pcapng"} {
		t.Run(file, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.pcap")
			code, stdout, stderr := runCLI("inspect", "--policy", "testdata/gateway.rules", "--out", out, testCapture(file))
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			if stdout != "0 frames: no packets in the capture\n" || strings.Contains(stdout, "0001-01-01") {
				t.Errorf("stdout %q", stdout)
			}
			if got, err := readFrames(t, out); len(got) != 0 || err != io.EOF {
				t.Errorf("--out: %d frames, then %v; want none and a clean end", len(got), err)
			}
		})
	}
}

// A record that is malformed, not cut short, is an error (exit 1), not a
// warning.
func TestInspectMalformedRecord(t *testing.T) {
	b, err := os.ReadFile(testCapture("tcp-cut.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	// After three good records, one whose captured length is absurd.
	bad := append(b[:252:252], 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 60, 0, 0, 0)
	bad = append(bad, make([]byte, 60)...)
	in := filepath.Join(t.TempDir(), "bad.pcap")
	if err := os.WriteFile(in, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI("inspect", "--policy", "testdata/gateway.rules", in)
	want := in + ": offset 260 (after 3 packets): malformed: captured length 2147483647 exceeds 262144"
	if code != 1 || stdout != "" || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, stdout, stderr, want)
	}
}

// TestInspectChecksums: a capture taken on a sender with checksum offload
// shows the pseudo-header sum in its outgoing TCP checksums. By default
// (and as gateway.checksums: verify) such frames are dropped as
// bad_checksum; --checksums offload forwards them but still drops a wrong
// checksum; --checksums ignore forwards all three; a mode that does not
// exist is a usage error.
func TestInspectChecksums(t *testing.T) {
	frames, err := readFrames(t, testCapture("tcp-cut.pcap"))
	if len(frames) == 0 {
		t.Fatal(err)
	}
	// Three SYNs from three ports: correct, left to offload, corrupt.
	var out [][]byte
	for i := range 3 {
		b := bytes.Clone(frames[0])
		var p packet.Parsed
		p.Decode(b)
		if p.TCPFlags != packet.TCPSYN {
			t.Fatalf("the capture's first frame is not a SYN: %v", p.TCPFlags)
		}
		if err := p.SetSrc(netip.AddrPortFrom(p.Src.Addr(), p.Src.Port()+uint16(i)+1)); err != nil {
			t.Fatal(err)
		}
		csum := b[p.L4Off+16:]
		switch i {
		case 1:
			ph := packet.PseudoHeaderChecksum(p.Proto, p.Src.Addr(), p.Dst.Addr(), uint16(len(p.Buf)-p.L4Off))
			binary.BigEndian.PutUint16(csum, uint16(ph))
		case 2:
			csum[0] ^= 0x5a
		}
		out = append(out, b)
	}
	in := filepath.Join(t.TempDir(), "offload.pcap")
	w, err := datapath.CreatePcap(in, datapath.PcapWriterOptions{LinkType: datapath.LinkTypeEthernet})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range out {
		if err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args      []string
		forwarded string
	}{
		{nil, "1 forwarded"},
		{[]string{"--checksums", "verify"}, "1 forwarded"},
		{[]string{"--checksums", "offload"}, "2 forwarded"},
		{[]string{"--checksums", "ignore"}, "3 forwarded"},
	} {
		args := append(append([]string{"inspect", "--policy", "testdata/gateway.rules"}, c.args...), in)
		code, stdout, stderr := runCLI(args...)
		if code != 0 || !strings.Contains(stdout, ", "+c.forwarded+",") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %s", c.args, code, stdout, stderr, c.forwarded)
		}
		if c.forwarded != "3 forwarded" && !strings.Contains(stdout, "drop/bad_checksum") {
			t.Errorf("%v: no bad_checksum drops in %q", c.args, stdout)
		}
	}
	code, _, stderr := runCLI("inspect", "--policy", "testdata/gateway.rules", "--checksums", "auto", in)
	if code != 2 || !strings.Contains(stderr, `--checksums: unknown checksum mode "auto" (want verify, offload or ignore)`) {
		t.Errorf("--checksums auto: exit %d, stderr %q", code, stderr)
	}
}
