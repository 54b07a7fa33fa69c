package datapath

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func TestPcapngRead(t *testing.T) {
	f1, f2, f3 := testFrame(60, 1), testFrame(1514, 2), testFrame(42, 3)
	ts := uint64(1700000000)*1e6 + 250000 // µs, the default resolution
	tsTime := time.Unix(1700000000, 250000000)
	tests := []struct {
		name string
		file func() []byte
		want []wantPacket
	}{
		{
			name: "little-endian",
			file: func() []byte {
				n := &ngBuilder{}
				return n.shb().idb(1, 65535).epb(0, ts, f1, 0).epb(0, ts+1, f2, 0).bytes()
			},
			want: []wantPacket{
				{data: f1, ts: tsTime, length: 60, link: LinkTypeEthernet},
				{data: f2, ts: tsTime.Add(time.Microsecond), length: 1514, link: LinkTypeEthernet},
			},
		},
		{
			name: "big-endian",
			file: func() []byte {
				n := &ngBuilder{big: true}
				return n.shb().idb(1, 0).epb(0, ts, f1, 0).bytes()
			},
			want: []wantPacket{{data: f1, ts: tsTime, length: 60, link: LinkTypeEthernet}},
		},
		{
			name: "nanosecond-resolution-and-offset",
			file: func() []byte {
				n := &ngBuilder{}
				off := n.o().AppendUint64(nil, 100)
				return n.shb().idb(101, 0, n.opt(ngOptTSResol, []byte{9}), n.opt(ngOptTSOffset, off)).
					epb(0, 1_500_000_001, f3, 0).bytes()
			},
			want: []wantPacket{{data: f3, ts: time.Unix(101, 500000001), length: 42, link: LinkTypeRaw}},
		},
		{
			name: "binary-resolution",
			file: func() []byte {
				n := &ngBuilder{}
				// 2^-10 s: 1024 units per second; 3.5 s is 3584 units.
				return n.shb().idb(1, 0, n.opt(ngOptTSResol, []byte{0x80 | 10})).epb(0, 3584, f1, 0).bytes()
			},
			want: []wantPacket{{data: f1, ts: time.Unix(3, 500000000), length: 60, link: LinkTypeEthernet}},
		},
		{
			name: "coarse-resolution",
			file: func() []byte {
				n := &ngBuilder{}
				return n.shb().idb(1, 0, n.opt(ngOptTSResol, []byte{0})).epb(0, 77, f1, 0).bytes()
			},
			want: []wantPacket{{data: f1, ts: time.Unix(77, 0), length: 60, link: LinkTypeEthernet}},
		},
		{
			name: "two-interfaces",
			file: func() []byte {
				n := &ngBuilder{}
				return n.shb().idb(1, 0).idb(229, 0).epb(1, ts, f3, 0).epb(0, ts, f1, 0).bytes()
			},
			want: []wantPacket{
				{data: f3, ts: tsTime, length: 42, iface: 1, link: LinkTypeIPv6},
				{data: f1, ts: tsTime, length: 60, iface: 0, link: LinkTypeEthernet},
			},
		},
		{
			name: "simple-obsolete-and-skipped-blocks",
			file: func() []byte {
				n := &ngBuilder{}
				n.shb(n.opt(2, []byte("some hardware")), []byte{0, 0, 0, 0}).idb(1, 50)
				n.block(4, []byte{1, 0, 4, 0, 10, 0, 0, 1, 'h', 0, 0, 0, 0, 0, 0, 0}) // name resolution
				n.spb(f1[:50], 60)                                                    // cut to the snap length
				n.block(0x40000bad, bytes.Repeat([]byte{0xee}, 37))                   // custom block
				n.opb(0, ts, f3)
				n.block(5, make([]byte, 12)) // interface statistics
				return n.epb(0, ts, f2[:50], 1514, n.opt(1, []byte("a comment")), []byte{0, 0, 0, 0}).bytes()
			},
			want: []wantPacket{
				{data: f1[:50], length: 60, link: LinkTypeEthernet},
				{data: f3, ts: tsTime, length: 42, link: LinkTypeEthernet},
				{data: f2[:50], ts: tsTime, length: 1514, link: LinkTypeEthernet},
			},
		},
		{
			name: "sections-reset-interfaces",
			file: func() []byte {
				le := &ngBuilder{}
				le.shb().idb(1, 0).epb(0, ts, f1, 0)
				be := &ngBuilder{big: true}
				be.shb().idb(101, 0, be.opt(ngOptTSResol, []byte{3})).epb(0, 2500, f3, 0)
				return append(le.bytes(), be.bytes()...)
			},
			want: []wantPacket{
				{data: f1, ts: tsTime, length: 60, link: LinkTypeEthernet},
				{data: f3, ts: time.Unix(2, 500000000), length: 42, link: LinkTypeRaw},
			},
		},
		{
			name: "empty-packet",
			file: func() []byte {
				n := &ngBuilder{}
				return n.shb().idb(1, 0).epb(0, ts, nil, 0).bytes()
			},
			want: []wantPacket{{data: []byte{}, ts: tsTime, link: LinkTypeEthernet}},
		},
		{
			name: "no-packets",
			file: func() []byte { n := &ngBuilder{}; return n.shb().idb(1, 0).bytes() },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewCaptureReader(bytes.NewReader(tt.file()), tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if r.ng == nil {
				t.Fatal("not detected as pcapng")
			}
			gotF, gotI := readAll(t, r)
			checkPackets(t, gotF, gotI, tt.want)
		})
	}
}

func TestPcapngErrors(t *testing.T) {
	f1 := testFrame(60, 1)
	good := func() *ngBuilder { n := &ngBuilder{}; n.shb().idb(1, 0); return n }
	// SHB is 28 bytes, IDB 20: the first packet block starts at 48.
	const first = 48
	epbLen := int64(32 + 60)
	twoPackets := good().epb(0, 1, f1, 0).epb(0, 2, f1, 0).epb(0, 3, f1, 0).bytes()
	patch := func(b []byte, off int, v ...byte) []byte { b = bytes.Clone(b); copy(b[off:], v); return b }
	tests := []struct {
		name     string
		data     []byte
		err      error
		offset   int64
		packets  uint64
		contains []string
	}{
		{"empty", nil, ErrNotCapture, 0, 0, []string{"empty"}},
		{"not-a-section", (&ngBuilder{}).idb(1, 0).bytes(), ErrNotCapture, 0, 0, []string{"not a section header"}},
		{"short-section-header", good().bytes()[:9], ErrTruncated, 0, 0, []string{"have 9 of 12"}},
		{"byte-order-magic", patch(good().bytes(), 8, 0xde, 0xad, 0xbe, 0xef), ErrMalformed, 8, 0, []string{"byte-order magic"}},
		{"version", patch(good().bytes(), 12, 2), ErrMalformed, 12, 0, []string{"version 2.0"}},
		{"section-length-odd", patch(good().bytes(), 4, 29), ErrMalformed, 4, 0, []string{"length 29"}},
		{"radiotap", (&ngBuilder{}).shb().idb(1, 0).idb(127, 0).bytes(), ErrUnsupportedLinkType, 56, 0, []string{"interface 1", "127", "IEEE802_11_RADIOTAP"}},
		{"unknown-interface", good().epb(1, 0, f1, 0).bytes(), ErrMalformed, first + 8, 0, []string{"interface 1, section has 1"}},
		{"trailer-mismatch", patch(good().epb(0, 0, f1, 0).bytes(), first+int(epbLen)-4, 0x99), ErrMalformed, first + epbLen - 4, 0, []string{"trailer length 153"}},
		{"block-length-small", patch(good().epb(0, 0, f1, 0).bytes(), first+4, 8, 0, 0, 0), ErrMalformed, first + 4, 0, []string{"length 8"}},
		{"block-length-huge", patch(good().epb(0, 0, f1, 0).bytes(), first+4, 0, 0, 0, 0x7f), ErrMalformed, first + 4, 0, []string{"length"}},
		{"caplen-overruns", patch(good().epb(0, 0, f1, 0).bytes(), first+20, 200), ErrMalformed, first + 20, 0, []string{"overruns"}},
		{"tsresol-out-of-range", func() []byte {
			n := &ngBuilder{}
			return n.shb().idb(1, 0, n.opt(ngOptTSResol, []byte{20})).bytes()
		}(), ErrMalformed, 44, 0, []string{"10^-20"}},
		{"option-overrun", func() []byte {
			n := &ngBuilder{}
			return patch(n.shb().idb(1, 0, n.opt(2, []byte("eth0"))).bytes(), 46, 200)
		}(), ErrMalformed, 44, 0, []string{"overruns"}},
		{"interface-of-old-section", func() []byte {
			b := good().epb(0, 0, f1, 0).bytes()
			n := &ngBuilder{}
			return append(b, n.shb().epb(0, 0, f1, 0).bytes()...)
		}(), ErrMalformed, first + epbLen + 28 + 8, 1, []string{"section has 0"}},
		{"simple-packet-without-interface", (&ngBuilder{}).shb().spb(f1, 60).bytes(), ErrMalformed, 28 + 8, 0, []string{"section has 0"}},
		{"cut-in-block-header", twoPackets[:first+2*epbLen+5], ErrTruncated, first + 2*epbLen, 2, []string{"block header: have 5 of 8"}},
		{"cut-in-packet-data", twoPackets[:first+2*epbLen+28+30], ErrTruncated, first + 2*epbLen, 2, []string{"packet data: have 30 of 60"}},
		{"cut-in-trailer", twoPackets[:first+epbLen-2], ErrTruncated, first, 0, []string{"block trailer: have 2 of 4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewPcapngReader(bytes.NewReader(tt.data), "in.pcapng")
			if err == nil {
				for err == nil {
					_, _, err = r.Next()
				}
				if _, _, again := r.Next(); again != err {
					t.Errorf("second Next: %v, want the same error %v", again, err)
				}
			}
			checkFileError(t, err, tt.err, tt.offset, tt.packets, append(tt.contains, "in.pcapng")...)
		})
	}
}

// pcapgo's writer is an independent implementation: what it writes, we
// must read back exactly.
func TestPcapngFromPcapgo(t *testing.T) {
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2025, 1, 2, 3, 4, 5, 678901234, time.UTC)
	var want []wantPacket
	for i := range 20 {
		f := testFrame(60+i*71, byte(i))
		ts := base.Add(time.Duration(i) * 1234567 * time.Nanosecond)
		ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(f), Length: len(f) + i}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
		want = append(want, wantPacket{data: f, ts: ts, length: len(f) + i, link: LinkTypeEthernet})
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	r, err := NewCaptureReader(&buf, "pcapgo")
	if err != nil {
		t.Fatal(err)
	}
	gotF, gotI := readAll(t, r)
	checkPackets(t, gotF, gotI, want)
	if _, _, err := r.Next(); err != io.EOF {
		t.Errorf("after the last packet: %v", err)
	}
}
