package datapath

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"
	"time"
)

// The builders write capture files field by field, independently of the
// readers under test, in either byte order.

type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

func order(big bool) byteOrder {
	if big {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// testFrame is a recognisable Ethernet frame of n bytes: broadcast
// destination, a source MAC that carries seed, EtherType 0x88b5 (local
// experimental), and a payload pattern derived from seed.
func testFrame(n int, seed byte) []byte {
	f := make([]byte, n)
	for i := range f {
		f[i] = seed + byte(i*7)
	}
	if n >= 14 {
		copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, seed, 0x88, 0xb5})
	}
	return f
}

type pcapRecord struct {
	sec, frac uint32
	data      []byte
	origlen   uint32 // 0 means len(data)
	caplen    int    // -1 means len(data); lets tests lie about the length
}

func buildPcap(big, nano bool, link uint32, snaplen uint32, recs ...pcapRecord) []byte {
	o := order(big)
	var b bytes.Buffer
	magic := uint32(pcapMagicMicro)
	if nano {
		magic = pcapMagicNano
	}
	w32 := func(v uint32) { b.Write(o.AppendUint32(nil, v)) }
	w16 := func(v uint16) { b.Write(o.AppendUint16(nil, v)) }
	w32(magic)
	w16(2)
	w16(4)
	w32(0)
	w32(0)
	w32(snaplen)
	w32(link)
	for _, r := range recs {
		caplen := uint32(len(r.data))
		if r.caplen >= 0 && r.caplen != len(r.data) {
			caplen = uint32(r.caplen)
		}
		orig := r.origlen
		if orig == 0 {
			orig = uint32(len(r.data))
		}
		w32(r.sec)
		w32(r.frac)
		w32(caplen)
		w32(orig)
		b.Write(r.data)
	}
	return b.Bytes()
}

type ngBuilder struct {
	big bool
	b   bytes.Buffer
}

func (n *ngBuilder) o() byteOrder { return order(n.big) }

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// block writes a block with a correct length in both places.
func (n *ngBuilder) block(typ uint32, body []byte) *ngBuilder {
	body = pad4(body)
	l := uint32(12 + len(body))
	n.b.Write(n.o().AppendUint32(nil, typ))
	n.b.Write(n.o().AppendUint32(nil, l))
	n.b.Write(body)
	n.b.Write(n.o().AppendUint32(nil, l))
	return n
}

func (n *ngBuilder) shb(opts ...[]byte) *ngBuilder {
	o := n.o()
	body := o.AppendUint32(nil, ngByteOrderMagic)
	body = o.AppendUint16(body, 1)
	body = o.AppendUint16(body, 0)
	body = o.AppendUint64(body, ^uint64(0))
	for _, op := range opts {
		body = append(body, op...)
	}
	return n.block(ngBlockSHB, body)
}

func (n *ngBuilder) opt(code uint16, val []byte) []byte {
	o := n.o()
	b := o.AppendUint16(nil, code)
	b = o.AppendUint16(b, uint16(len(val)))
	return pad4(append(b, val...))
}

func (n *ngBuilder) idb(link uint16, snaplen uint32, opts ...[]byte) *ngBuilder {
	o := n.o()
	body := o.AppendUint16(nil, link)
	body = o.AppendUint16(body, 0)
	body = o.AppendUint32(body, snaplen)
	for _, op := range opts {
		body = append(body, op...)
	}
	if len(opts) > 0 {
		body = append(body, 0, 0, 0, 0) // opt_endofopt
	}
	return n.block(ngBlockIDB, body)
}

func (n *ngBuilder) epb(iface uint32, ts uint64, data []byte, origlen uint32, opts ...[]byte) *ngBuilder {
	o := n.o()
	if origlen == 0 {
		origlen = uint32(len(data))
	}
	body := o.AppendUint32(nil, iface)
	body = o.AppendUint32(body, uint32(ts>>32))
	body = o.AppendUint32(body, uint32(ts))
	body = o.AppendUint32(body, uint32(len(data)))
	body = o.AppendUint32(body, origlen)
	body = pad4(append(body, data...))
	for _, op := range opts {
		body = append(body, op...)
	}
	return n.block(ngBlockEPB, body)
}

func (n *ngBuilder) opb(iface uint16, ts uint64, data []byte) *ngBuilder {
	o := n.o()
	body := o.AppendUint16(nil, iface)
	body = o.AppendUint16(body, 0)
	body = o.AppendUint32(body, uint32(ts>>32))
	body = o.AppendUint32(body, uint32(ts))
	body = o.AppendUint32(body, uint32(len(data)))
	body = o.AppendUint32(body, uint32(len(data)))
	return n.block(ngBlockOPB, append(body, data...))
}

func (n *ngBuilder) spb(data []byte, origlen uint32) *ngBuilder {
	body := n.o().AppendUint32(nil, origlen)
	return n.block(ngBlockSPB, append(body, data...))
}

func (n *ngBuilder) bytes() []byte { return bytes.Clone(n.b.Bytes()) }

// wantPacket is what a reader should return for one packet.
type wantPacket struct {
	data   []byte
	ts     time.Time // zero: don't check
	length int
	iface  int
	link   LinkType
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
