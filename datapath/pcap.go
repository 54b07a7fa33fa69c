package datapath

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

const (
	pcapMagicMicro = 0xa1b2c3d4
	pcapMagicNano  = 0xa1b23c4d

	pcapFileHeaderLen   = 24
	pcapRecordHeaderLen = 16

	readBufferSize = 64 << 10
)

// PcapReader reads a classic pcap file. It is not safe for concurrent use.
type PcapReader struct {
	br      *bufio.Reader
	name    string
	big     bool
	nano    bool
	link    LinkType
	snaplen uint32
	off     int64
	packets uint64
	err     error
	hdr     [pcapFileHeaderLen]byte
	buf     []byte
}

// NewPcapReader reads the file header from r. name is used in errors only.
func NewPcapReader(r io.Reader, name string) (*PcapReader, error) {
	p := &PcapReader{name: name}
	if err := p.Reset(r); err != nil {
		return nil, err
	}
	return p, nil
}

// Reset starts reading a new file from r, keeping the buffers: a consumer
// that loops over many files allocates nothing per file.
func (p *PcapReader) Reset(r io.Reader) error {
	if p.br == nil {
		p.br = bufio.NewReaderSize(r, readBufferSize)
	} else {
		p.br.Reset(r)
	}
	p.off, p.packets, p.err = 0, 0, nil
	p.err = p.readFileHeader()
	return p.err
}

func (p *PcapReader) fail(off int64, err error) error {
	return &FileError{File: p.name, Offset: off, Packets: p.packets, Err: err}
}

func (p *PcapReader) readFileHeader() error {
	h := p.hdr[:pcapFileHeaderLen]
	n, err := io.ReadFull(p.br, h)
	p.off += int64(n)
	if err != nil {
		if n == 0 && err == io.EOF {
			return p.fail(0, fmt.Errorf("%w: empty file", ErrNotCapture))
		}
		if n < 4 {
			return p.fail(0, fmt.Errorf("%w: file header: have %d of %d bytes", ErrTruncated, n, pcapFileHeaderLen))
		}
	}
	switch {
	case binary.LittleEndian.Uint32(h) == pcapMagicMicro:
		p.big, p.nano = false, false
	case binary.LittleEndian.Uint32(h) == pcapMagicNano:
		p.big, p.nano = false, true
	case binary.BigEndian.Uint32(h) == pcapMagicMicro:
		p.big, p.nano = true, false
	case binary.BigEndian.Uint32(h) == pcapMagicNano:
		p.big, p.nano = true, true
	default:
		return p.fail(0, fmt.Errorf("%w: pcap magic %#08x", ErrNotCapture, binary.BigEndian.Uint32(h)))
	}
	if err != nil {
		return p.fail(0, fmt.Errorf("%w: file header: have %d of %d bytes", ErrTruncated, n, pcapFileHeaderLen))
	}
	if major := p.u16(h[4:]); major != 2 {
		return p.fail(4, fmt.Errorf("%w: pcap version %d.%d", ErrMalformed, major, p.u16(h[6:])))
	}
	p.snaplen = p.u32(h[16:])
	// The upper bits hold the FCS length flag (bits 26-31); the link type
	// proper is the low 16 bits. An FCS, when present, stays on the frame.
	p.link = LinkType(p.u32(h[20:]) & 0xffff)
	if !p.link.Supported() {
		return p.fail(20, &LinkTypeError{LinkType: p.link, Interface: -1})
	}
	return nil
}

func (p *PcapReader) u16(b []byte) uint16 {
	if p.big {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (p *PcapReader) u32(b []byte) uint32 {
	if p.big {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

// LinkType returns the file's link type.
func (p *PcapReader) LinkType() LinkType { return p.link }

// SnapLen returns the snapshot length from the file header.
func (p *PcapReader) SnapLen() int { return int(p.snaplen) }

// Nanosecond reports whether timestamps have nanosecond resolution.
func (p *PcapReader) Nanosecond() bool { return p.nano }

// Next returns the next frame, valid until the next call. It returns io.EOF
// after the last record; every other error is a *FileError and sticks.
func (p *PcapReader) Next() ([]byte, CaptureInfo, error) {
	if p.err != nil {
		return nil, CaptureInfo{}, p.err
	}
	if frame, ci, ok := p.peekRecord(); ok {
		return frame, ci, nil
	}
	start := p.off
	h := p.hdr[:pcapRecordHeaderLen]
	n, err := io.ReadFull(p.br, h)
	p.off += int64(n)
	if err != nil {
		if n == 0 && err == io.EOF {
			p.err = io.EOF
		} else {
			p.err = p.fail(start, p.ioError(err, "record header", n, pcapRecordHeaderLen))
		}
		return nil, CaptureInfo{}, p.err
	}
	caplen := p.u32(h[8:])
	if caplen > MaxCaptureLength {
		p.err = p.fail(start+8, fmt.Errorf("%w: captured length %d exceeds %d", ErrMalformed, caplen, MaxCaptureLength))
		return nil, CaptureInfo{}, p.err
	}
	if cap(p.buf) < int(caplen) {
		p.buf = make([]byte, caplen, max(caplen, 2048))
	}
	frame := p.buf[:caplen]
	n, err = io.ReadFull(p.br, frame)
	p.off += int64(n)
	if err != nil {
		p.err = p.fail(start, p.ioError(err, "packet data", n, int(caplen)))
		return nil, CaptureInfo{}, p.err
	}
	p.packets++
	return frame, p.info(h), nil
}

// peekRecord is the fast path for a well-formed record that is already in
// the read buffer. Anything unusual returns ok=false and Next's careful
// path, which reports errors precisely, takes over at the same position.
func (p *PcapReader) peekRecord() ([]byte, CaptureInfo, bool) {
	h, err := p.br.Peek(pcapRecordHeaderLen)
	if err != nil {
		return nil, CaptureInfo{}, false
	}
	caplen := p.u32(h[8:])
	if caplen > MaxCaptureLength || int(caplen) > p.br.Buffered()-pcapRecordHeaderLen {
		return nil, CaptureInfo{}, false
	}
	rec, _ := p.br.Peek(pcapRecordHeaderLen + int(caplen))
	ci := p.info(rec)
	if cap(p.buf) < int(caplen) {
		p.buf = make([]byte, caplen, max(caplen, 2048))
	}
	frame := p.buf[:caplen]
	copy(frame, rec[pcapRecordHeaderLen:])
	p.br.Discard(len(rec))
	p.off += int64(len(rec))
	p.packets++
	return frame, ci, true
}

func (p *PcapReader) info(h []byte) CaptureInfo {
	sec, frac := p.u32(h[0:]), p.u32(h[4:])
	caplen, origlen := p.u32(h[8:]), p.u32(h[12:])
	nsec := int64(frac)
	if !p.nano {
		nsec *= 1000
	}
	return CaptureInfo{
		Timestamp:     time.Unix(int64(sec), nsec),
		CaptureLength: int(caplen),
		Length:        int(max(origlen, caplen)),
		LinkType:      p.link,
	}
}

func (p *PcapReader) ioError(err error, what string, have, want int) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %s: have %d of %d bytes", ErrTruncated, what, have, want)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// PcapWriterOptions configure a PcapWriter.
type PcapWriterOptions struct {
	// LinkType of the frames; zero means Ethernet.
	LinkType LinkType
	// SnapLen truncates longer frames (the original length is kept in the
	// record); zero means MaxCaptureLength.
	SnapLen int
	// Nanosecond writes nanosecond timestamps (magic 0xa1b23c4d) instead of
	// the more widely read microsecond format.
	Nanosecond bool
}

// PcapWriter writes a classic pcap file. It is safe for concurrent use, so
// several workers can share one capture of, say, dropped frames.
type PcapWriter struct {
	mu      sync.Mutex
	w       *bufio.Writer
	c       io.Closer
	snaplen int
	nano    bool
	hdr     [pcapRecordHeaderLen]byte
	err     error
}

// NewPcapWriter writes a file header to w. The header is buffered: call
// Flush or Close.
func NewPcapWriter(w io.Writer, o PcapWriterOptions) (*PcapWriter, error) {
	if o.LinkType == 0 {
		o.LinkType = LinkTypeEthernet
	}
	if !o.LinkType.Supported() {
		return nil, fmt.Errorf("datapath: pcap writer: %w %d (%s)", ErrUnsupportedLinkType, uint32(o.LinkType), o.LinkType)
	}
	if o.SnapLen == 0 {
		o.SnapLen = MaxCaptureLength
	}
	if o.SnapLen < 0 || o.SnapLen > MaxCaptureLength {
		return nil, fmt.Errorf("datapath: pcap writer: snap length %d outside 1..%d", o.SnapLen, MaxCaptureLength)
	}
	pw := &PcapWriter{w: bufio.NewWriterSize(w, readBufferSize), snaplen: o.SnapLen, nano: o.Nanosecond}
	var h [pcapFileHeaderLen]byte
	magic := uint32(pcapMagicMicro)
	if o.Nanosecond {
		magic = pcapMagicNano
	}
	binary.LittleEndian.PutUint32(h[0:], magic)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], uint32(o.SnapLen))
	binary.LittleEndian.PutUint32(h[20:], uint32(o.LinkType))
	if _, err := pw.w.Write(h[:]); err != nil {
		return nil, fmt.Errorf("datapath: pcap writer: %w", err)
	}
	return pw, nil
}

// CreatePcap creates (or truncates) the file at path and writes a header.
// Close flushes and closes the file.
func CreatePcap(path string, o PcapWriterOptions) (*PcapWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("datapath: %w", err)
	}
	pw, err := NewPcapWriter(f, o)
	if err != nil {
		f.Close()
		return nil, err
	}
	pw.c = f
	return pw, nil
}

// Write records frame with the current time: the Sink for a pipeline that
// just wants a copy of what went by.
func (w *PcapWriter) Write(frame []byte) error {
	return w.write(frame, time.Now(), len(frame))
}

// WritePacket records frame with the timestamp and original length of ci,
// so a replayed capture keeps its timing.
func (w *PcapWriter) WritePacket(frame []byte, ci *CaptureInfo) error {
	return w.write(frame, ci.Timestamp, ci.Length)
}

func (w *PcapWriter) write(frame []byte, ts time.Time, origlen int) error {
	if len(frame) > MaxCaptureLength {
		return fmt.Errorf("datapath: pcap writer: %w: %d bytes", ErrFrameTooLarge, len(frame))
	}
	origlen = max(origlen, len(frame))
	caplen := min(len(frame), w.snaplen)
	frac := int64(ts.Nanosecond())
	if !w.nano {
		frac /= 1000
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	h := w.hdr[:]
	binary.LittleEndian.PutUint32(h[0:], uint32(ts.Unix()))
	binary.LittleEndian.PutUint32(h[4:], uint32(frac))
	binary.LittleEndian.PutUint32(h[8:], uint32(caplen))
	binary.LittleEndian.PutUint32(h[12:], uint32(origlen))
	if _, err := w.w.Write(h); err != nil {
		w.err = fmt.Errorf("datapath: pcap writer: %w", err)
		return w.err
	}
	if _, err := w.w.Write(frame[:caplen]); err != nil {
		w.err = fmt.Errorf("datapath: pcap writer: %w", err)
		return w.err
	}
	return nil
}

// Flush writes buffered records to the underlying writer.
func (w *PcapWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if err := w.w.Flush(); err != nil {
		w.err = fmt.Errorf("datapath: pcap writer: %w", err)
	}
	return w.err
}

// Close flushes, and closes the file if the writer came from CreatePcap.
// Later writes fail with ErrClosed.
func (w *PcapWriter) Close() error {
	err := w.Flush()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.c != nil {
		if cerr := w.c.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("datapath: pcap writer: %w", cerr)
		}
		w.c = nil
	}
	if w.err == nil {
		w.err = ErrClosed
	}
	return err
}
