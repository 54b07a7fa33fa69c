package ids

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// synFrame builds an Ethernet frame of a TCP SYN from attacker:41200 to
// ttlTarget with the given IPv4 flags word, IPv4 options, and byte 12 of
// the TCP header; every checksum computed from scratch.
func synFrame(flags uint16, opts []byte, tcp12 byte) []byte {
	src, dst := netip.AddrPortFrom(attacker, 41200), ttlTarget
	ihl := 20 + len(opts)
	f := make([]byte, 14+ihl+20)
	binary.BigEndian.PutUint16(f[12:], packet.EtherTypeIPv4)
	ip := f[14:]
	ip[0] = 0x40 | byte(ihl/4)
	binary.BigEndian.PutUint16(ip[2:], uint16(ihl+20))
	binary.BigEndian.PutUint16(ip[4:], 0x1234)
	binary.BigEndian.PutUint16(ip[6:], flags)
	ip[8] = 64
	ip[9] = byte(ipproto.TCP)
	copy(ip[12:], src.Addr().AsSlice())
	copy(ip[16:], dst.Addr().AsSlice())
	copy(ip[20:], opts)
	binary.BigEndian.PutUint16(ip[10:], packet.Checksum(ip[:ihl], 0))
	h := ip[ihl:]
	binary.BigEndian.PutUint16(h[0:], src.Port())
	binary.BigEndian.PutUint16(h[2:], dst.Port())
	binary.BigEndian.PutUint32(h[4:], 7000)
	h[12] = tcp12
	h[13] = byte(packet.TCPSYN)
	binary.BigEndian.PutUint16(h[14:], 65535)
	binary.BigEndian.PutUint16(h[16:], packet.Checksum(h, packet.PseudoHeaderChecksum(ipproto.TCP, src.Addr(), dst.Addr(), 20)))
	return f
}

// TestNormalise: in prevention mode the IPv4 reserved flag is cleared,
// IPv4 options become NOPs and the TCP reserved bits are cleared, in the
// frame that goes out, each checksum adjusted: the result is the frame
// built with those fields from the start. Detection changes nothing.
func TestNormalise(t *testing.T) {
	routerAlert := []byte{0x94, 0x04, 0x00, 0x00}
	nops := []byte{1, 1, 1, 1}
	for _, tc := range []struct {
		name      string
		in, want  []byte
		wantCount Normalised
	}{
		{"evil bit", synFrame(0xc000, nil, 0x50), synFrame(0x4000, nil, 0x50), Normalised{IPv4Reserved: 1}},
		{"options", synFrame(0x4000, routerAlert, 0x50), synFrame(0x4000, nops, 0x50), Normalised{IPv4Options: 1}},
		{"tcp reserved", synFrame(0, nil, 0x5e), synFrame(0, nil, 0x50), Normalised{TCPReserved: 1}},
		{"ae kept", synFrame(0, nil, 0x51), synFrame(0, nil, 0x51), Normalised{}},
		{"all", synFrame(0x8000, routerAlert, 0x5f), synFrame(0, nops, 0x51), Normalised{IPv4Reserved: 1, IPv4Options: 1, TCPReserved: 1}},
		{"nops already", synFrame(0, nops, 0x50), synFrame(0, nops, 0x50), Normalised{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, mode := range []Mode{Detect, Prevent} {
				e, err := New(Config{Mode: mode})
				if err != nil {
					t.Fatal(err)
				}
				frame := bytes.Clone(tc.in)
				var p packet.Parsed
				p.Decode(frame)
				if v := e.NewWorker().Inspect(&p, sampleT0); v != Pass {
					t.Fatalf("%s: verdict %s", mode, v)
				}
				want, count := tc.want, tc.wantCount
				if mode == Detect {
					want, count = tc.in, Normalised{}
				}
				if !bytes.Equal(frame, want) {
					t.Errorf("%s: frame\n%x\nwant\n%x", mode, frame, want)
				}
				if got := e.Stats().Normalised; got != count {
					t.Errorf("%s: counted %+v, want %+v", mode, got, count)
				}
			}
		})
	}
	// A wrong header checksum stays wrong: the host drops the packet
	// whatever the engine rewrites.
	bad := synFrame(0x8000, nil, 0x50)
	bad[14+10] ^= 0x55
	e, err := New(Config{Mode: Prevent})
	if err != nil {
		t.Fatal(err)
	}
	var p packet.Parsed
	p.Decode(bad)
	e.NewWorker().Inspect(&p, sampleT0)
	if packet.Checksum(bad[14:34], 0) == 0 || bad[14+6]&0x80 != 0 {
		t.Errorf("a wrong checksum was made right, or the bit not cleared: %x", bad[14:34])
	}
}
