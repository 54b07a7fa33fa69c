package datapath

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"time"
)

const (
	ngBlockSHB = 0x0a0d0d0a
	ngBlockIDB = 0x00000001
	ngBlockOPB = 0x00000002 // obsolete Packet Block, still written by old tools
	ngBlockSPB = 0x00000003
	ngBlockEPB = 0x00000006

	ngByteOrderMagic = 0x1a2b3c4d

	ngOptEnd      = 0
	ngOptTSResol  = 9
	ngOptTSOffset = 14

	// ngMaxBlock bounds any block; larger ones are corrupt. Blocks we skip
	// are discarded, not buffered, so this bounds time, not memory.
	ngMaxBlock = 16 << 20
	// ngMaxMeta bounds the buffered body of SHB and IDB blocks (options).
	ngMaxMeta = 1 << 20
	// ngMaxInterfaces bounds the per-section interface table.
	ngMaxInterfaces = 4096
)

type ngInterface struct {
	link     LinkType
	snaplen  uint32
	units    uint64 // timestamp units per second
	tsOffset int64  // seconds added to every timestamp
}

// timestamp converts a pcapng timestamp. bits.Div64 needs hi < units,
// which holds because rem < units.
func (f *ngInterface) timestamp(ts uint64) time.Time {
	sec, rem := ts/f.units, ts%f.units
	hi, lo := bits.Mul64(rem, 1e9)
	nsec, _ := bits.Div64(hi, lo, f.units)
	return time.Unix(int64(sec)+f.tsOffset, int64(nsec))
}

// PcapngReader reads a pcapng file: every section, every interface, and the
// Enhanced, Simple and obsolete Packet blocks; other blocks are skipped. It
// is not safe for concurrent use.
type PcapngReader struct {
	br      *bufio.Reader
	name    string
	big     bool
	off     int64
	packets uint64
	err     error
	ifaces  []ngInterface
	hdr     [28]byte
	tr      [4]byte // trailer scratch: a local array would escape into io.ReadFull
	meta    []byte
	buf     []byte
}

// NewPcapngReader reads the first Section Header Block from r. name is used
// in errors only.
func NewPcapngReader(r io.Reader, name string) (*PcapngReader, error) {
	p := &PcapngReader{name: name}
	if err := p.Reset(r); err != nil {
		return nil, err
	}
	return p, nil
}

// Reset starts reading a new file from r, keeping the buffers.
func (p *PcapngReader) Reset(r io.Reader) error {
	if p.br == nil {
		p.br = bufio.NewReaderSize(r, readBufferSize)
	} else {
		p.br.Reset(r)
	}
	p.off, p.packets, p.err = 0, 0, nil
	p.ifaces = p.ifaces[:0]
	n, err := io.ReadFull(p.br, p.hdr[:12])
	p.off += int64(n)
	switch {
	case n == 0 && err == io.EOF:
		p.err = p.fail(0, fmt.Errorf("%w: empty file", ErrNotCapture))
	case n >= 4 && binary.LittleEndian.Uint32(p.hdr[:]) != ngBlockSHB:
		p.err = p.fail(0, fmt.Errorf("%w: first block type %#08x is not a section header", ErrNotCapture, binary.LittleEndian.Uint32(p.hdr[:])))
	case err != nil:
		p.err = p.fail(0, p.ioError(err, "section header block", n, 12))
	default:
		p.err = p.readSHB(0)
	}
	return p.err
}

func (p *PcapngReader) fail(off int64, err error) error {
	return &FileError{File: p.name, Offset: off, Packets: p.packets, Err: err}
}

func (p *PcapngReader) ioError(err error, what string, have, want int) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: %s: have %d of %d bytes", ErrTruncated, what, have, want)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (p *PcapngReader) u16(b []byte) uint16 {
	if p.big {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (p *PcapngReader) u32(b []byte) uint32 {
	if p.big {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (p *PcapngReader) u64(b []byte) uint64 {
	if p.big {
		return binary.BigEndian.Uint64(b)
	}
	return binary.LittleEndian.Uint64(b)
}

// read fills b from the file; start and what name the block in errors.
func (p *PcapngReader) read(b []byte, start int64, what string) error {
	n, err := io.ReadFull(p.br, b)
	p.off += int64(n)
	if err != nil {
		return p.fail(start, p.ioError(err, what, n, len(b)))
	}
	return nil
}

func (p *PcapngReader) discard(n int, start int64, what string) error {
	d, err := p.br.Discard(n)
	p.off += int64(d)
	if err != nil {
		return p.fail(start, p.ioError(err, what, d, n))
	}
	return nil
}

// trailer checks the block's closing copy of its length.
func (p *PcapngReader) trailer(start int64, blockLen uint32) error {
	t := p.tr[:]
	if err := p.read(t, start, "block trailer"); err != nil {
		return err
	}
	if got := p.u32(t); got != blockLen {
		return p.fail(p.off-4, fmt.Errorf("%w: block trailer length %d, header says %d", ErrMalformed, got, blockLen))
	}
	return nil
}

// readSHB parses a Section Header Block whose first 12 bytes (type, length,
// byte-order magic) are in p.hdr. A new section forgets all interfaces.
func (p *PcapngReader) readSHB(start int64) error {
	switch {
	case binary.LittleEndian.Uint32(p.hdr[8:]) == ngByteOrderMagic:
		p.big = false
	case binary.BigEndian.Uint32(p.hdr[8:]) == ngByteOrderMagic:
		p.big = true
	default:
		return p.fail(start+8, fmt.Errorf("%w: byte-order magic %#08x", ErrMalformed, binary.BigEndian.Uint32(p.hdr[8:])))
	}
	blockLen := p.u32(p.hdr[4:])
	if blockLen < 28 || blockLen%4 != 0 || blockLen > ngMaxMeta {
		return p.fail(start+4, fmt.Errorf("%w: section header block length %d", ErrMalformed, blockLen))
	}
	if err := p.read(p.hdr[12:16], start, "section header block"); err != nil {
		return err
	}
	if major := p.u16(p.hdr[12:]); major != 1 {
		return p.fail(start+12, fmt.Errorf("%w: pcapng version %d.%d", ErrMalformed, major, p.u16(p.hdr[14:])))
	}
	// Section length (8 bytes) and options: nothing we need.
	if err := p.discard(int(blockLen)-16-4, start, "section header block"); err != nil {
		return err
	}
	if err := p.trailer(start, blockLen); err != nil {
		return err
	}
	p.ifaces = p.ifaces[:0]
	return nil
}

func (p *PcapngReader) readIDB(start int64, blockLen uint32) error {
	if blockLen < 20 || blockLen > ngMaxMeta {
		return p.fail(start+4, fmt.Errorf("%w: interface description block length %d", ErrMalformed, blockLen))
	}
	if len(p.ifaces) >= ngMaxInterfaces {
		return p.fail(start, fmt.Errorf("%w: more than %d interfaces in a section", ErrMalformed, ngMaxInterfaces))
	}
	body := int(blockLen) - 12
	if cap(p.meta) < body {
		p.meta = make([]byte, body)
	}
	b := p.meta[:body]
	if err := p.read(b, start, "interface description block"); err != nil {
		return err
	}
	id := len(p.ifaces)
	f := ngInterface{link: LinkType(p.u16(b[0:])), snaplen: p.u32(b[4:]), units: 1e6}
	if !f.link.Supported() {
		return p.fail(start+8, &LinkTypeError{LinkType: f.link, Interface: id})
	}
	opts := b[8:]
	for pos := 0; len(opts)-pos >= 4; {
		code, olen := p.u16(opts[pos:]), int(p.u16(opts[pos+2:]))
		vstart := pos + 4
		optOff := start + 16 + int64(pos)
		if olen > len(opts)-vstart {
			return p.fail(optOff, fmt.Errorf("%w: interface %d: option %d length %d overruns the block", ErrMalformed, id, code, olen))
		}
		v := opts[vstart : vstart+olen]
		switch code {
		case ngOptEnd:
			pos = len(opts)
			continue
		case ngOptTSResol:
			if olen != 1 {
				return p.fail(optOff, fmt.Errorf("%w: interface %d: if_tsresol length %d", ErrMalformed, id, olen))
			}
			exp := uint(v[0] & 0x7f)
			if v[0]&0x80 != 0 {
				if exp > 63 {
					return p.fail(optOff, fmt.Errorf("%w: interface %d: if_tsresol 2^-%d", ErrMalformed, id, exp))
				}
				f.units = 1 << exp
			} else {
				if exp > 19 {
					return p.fail(optOff, fmt.Errorf("%w: interface %d: if_tsresol 10^-%d", ErrMalformed, id, exp))
				}
				f.units = 1
				for range exp {
					f.units *= 10
				}
			}
		case ngOptTSOffset:
			if olen != 8 {
				return p.fail(optOff, fmt.Errorf("%w: interface %d: if_tsoffset length %d", ErrMalformed, id, olen))
			}
			f.tsOffset = int64(p.u64(v))
		}
		pos = vstart + (olen+3)&^3
	}
	if err := p.trailer(start, blockLen); err != nil {
		return err
	}
	p.ifaces = append(p.ifaces, f)
	return nil
}

// Next returns the next frame, valid until the next call. It returns io.EOF
// at the end of the file; every other error is a *FileError and sticks.
func (p *PcapngReader) Next() ([]byte, CaptureInfo, error) {
	for p.err == nil {
		frame, ci, ok := p.block()
		if ok {
			return frame, ci, nil
		}
	}
	return nil, CaptureInfo{}, p.err
}

// block reads one block; ok is true if it was a packet.
func (p *PcapngReader) block() (frame []byte, ci CaptureInfo, ok bool) {
	start := p.off
	n, err := io.ReadFull(p.br, p.hdr[:8])
	p.off += int64(n)
	if err != nil {
		if n == 0 && err == io.EOF {
			p.err = io.EOF
		} else {
			p.err = p.fail(start, p.ioError(err, "block header", n, 8))
		}
		return nil, ci, false
	}
	typ := p.u32(p.hdr[0:])
	if typ == ngBlockSHB {
		if p.err = p.read(p.hdr[8:12], start, "section header block"); p.err == nil {
			p.err = p.readSHB(start)
		}
		return nil, ci, false
	}
	blockLen := p.u32(p.hdr[4:])
	if blockLen < 12 || blockLen%4 != 0 || blockLen > ngMaxBlock {
		p.err = p.fail(start+4, fmt.Errorf("%w: block type %#x length %d", ErrMalformed, typ, blockLen))
		return nil, ci, false
	}
	switch typ {
	case ngBlockIDB:
		p.err = p.readIDB(start, blockLen)
		return nil, ci, false
	case ngBlockEPB, ngBlockOPB:
		if frame, ci, ok := p.peekPacket(typ, blockLen); ok {
			return frame, ci, true
		}
		return p.readPacket(start, typ, blockLen)
	case ngBlockSPB:
		return p.readSimple(start, blockLen)
	}
	if p.err = p.discard(int(blockLen)-12, start, "block"); p.err == nil {
		p.err = p.trailer(start, blockLen)
	}
	return nil, ci, false
}

func (p *PcapngReader) iface(start int64, id uint32) (*ngInterface, error) {
	if id >= uint32(len(p.ifaces)) {
		return nil, p.fail(start+8, fmt.Errorf("%w: packet for interface %d, section has %d", ErrMalformed, id, len(p.ifaces)))
	}
	return &p.ifaces[id], nil
}

func (p *PcapngReader) data(start int64, caplen, body int) ([]byte, error) {
	if caplen > MaxCaptureLength {
		return nil, p.fail(start, fmt.Errorf("%w: captured length %d exceeds %d", ErrMalformed, caplen, MaxCaptureLength))
	}
	if cap(p.buf) < caplen {
		p.buf = make([]byte, caplen, max(caplen, 2048))
	}
	frame := p.buf[:caplen]
	if err := p.read(frame, start, "packet data"); err != nil {
		return nil, err
	}
	// Padding and options follow the data; we need neither.
	if err := p.discard(body-caplen, start, "packet block"); err != nil {
		return nil, err
	}
	return frame, nil
}

// peekPacket is the fast path for a well-formed packet block that fits in
// the read buffer: one Peek, one copy, one Discard instead of five reads.
// Anything unusual returns ok=false, and readPacket, which reports errors
// precisely, takes over at the same position.
func (p *PcapngReader) peekPacket(typ, blockLen uint32) ([]byte, CaptureInfo, bool) {
	rest := int(blockLen) - 8
	if rest < 24 || rest > p.br.Size() {
		return nil, CaptureInfo{}, false
	}
	b, err := p.br.Peek(rest)
	if err != nil {
		return nil, CaptureInfo{}, false
	}
	var id uint32
	if typ == ngBlockEPB {
		id = p.u32(b[0:])
	} else {
		id = uint32(p.u16(b[0:]))
	}
	caplen, origlen := p.u32(b[12:]), p.u32(b[16:])
	if id >= uint32(len(p.ifaces)) || caplen > uint32(rest-24) || caplen > MaxCaptureLength || p.u32(b[rest-4:]) != blockLen {
		return nil, CaptureInfo{}, false
	}
	f := &p.ifaces[id]
	ts := uint64(p.u32(b[4:]))<<32 | uint64(p.u32(b[8:]))
	if cap(p.buf) < int(caplen) {
		p.buf = make([]byte, caplen, max(caplen, 2048))
	}
	frame := p.buf[:caplen]
	copy(frame, b[20:])
	if _, err := p.br.Discard(rest); err != nil {
		// Peek just saw these bytes; Discard can't fail on them.
		return nil, CaptureInfo{}, false
	}
	p.off += int64(rest)
	p.packets++
	return frame, CaptureInfo{
		Timestamp:      f.timestamp(ts),
		CaptureLength:  int(caplen),
		Length:         int(max(origlen, caplen)),
		InterfaceIndex: int(id),
		LinkType:       f.link,
	}, true
}

func (p *PcapngReader) readPacket(start int64, typ, blockLen uint32) ([]byte, CaptureInfo, bool) {
	const fixed = 20
	if blockLen < 12+fixed {
		p.err = p.fail(start+4, fmt.Errorf("%w: packet block length %d", ErrMalformed, blockLen))
		return nil, CaptureInfo{}, false
	}
	h := p.hdr[8 : 8+fixed]
	if p.err = p.read(h, start, "packet block"); p.err != nil {
		return nil, CaptureInfo{}, false
	}
	var id uint32
	if typ == ngBlockEPB {
		id = p.u32(h[0:])
	} else {
		id = uint32(p.u16(h[0:]))
	}
	f, err := p.iface(start, id)
	if err != nil {
		p.err = err
		return nil, CaptureInfo{}, false
	}
	ts := uint64(p.u32(h[4:]))<<32 | uint64(p.u32(h[8:]))
	caplen, origlen := p.u32(h[12:]), p.u32(h[16:])
	body := int(blockLen) - 12 - fixed
	if caplen > uint32(body) {
		p.err = p.fail(start+20, fmt.Errorf("%w: captured length %d overruns block length %d", ErrMalformed, caplen, blockLen))
		return nil, CaptureInfo{}, false
	}
	frame, err := p.data(start, int(caplen), body)
	if err == nil {
		err = p.trailer(start, blockLen)
	}
	if err != nil {
		p.err = err
		return nil, CaptureInfo{}, false
	}
	p.packets++
	return frame, CaptureInfo{
		Timestamp:      f.timestamp(ts),
		CaptureLength:  int(caplen),
		Length:         int(max(origlen, caplen)),
		InterfaceIndex: int(id),
		LinkType:       f.link,
	}, true
}

// readSimple reads a Simple Packet Block: interface 0, no timestamp, and a
// captured length implied by the block and the interface's snap length.
func (p *PcapngReader) readSimple(start int64, blockLen uint32) ([]byte, CaptureInfo, bool) {
	if blockLen < 16 {
		p.err = p.fail(start+4, fmt.Errorf("%w: simple packet block length %d", ErrMalformed, blockLen))
		return nil, CaptureInfo{}, false
	}
	f, err := p.iface(start, 0)
	if err != nil {
		p.err = err
		return nil, CaptureInfo{}, false
	}
	if p.err = p.read(p.hdr[8:12], start, "simple packet block"); p.err != nil {
		return nil, CaptureInfo{}, false
	}
	origlen := p.u32(p.hdr[8:])
	body := int(blockLen) - 16
	caplen := min(int64(origlen), int64(body))
	if f.snaplen != 0 {
		caplen = min(caplen, int64(f.snaplen))
	}
	frame, err := p.data(start, int(caplen), body)
	if err == nil {
		err = p.trailer(start, blockLen)
	}
	if err != nil {
		p.err = err
		return nil, CaptureInfo{}, false
	}
	p.packets++
	return frame, CaptureInfo{
		CaptureLength: int(caplen),
		Length:        int(max(int64(origlen), caplen)),
		LinkType:      f.link,
	}, true
}
