package datapath

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// CaptureReader reads a pcap or pcapng file, whichever the magic number
// says. It is the Source for offline runs.
type CaptureReader struct {
	f    *os.File
	pcap *PcapReader
	ng   *PcapngReader
}

// OpenCapture opens the capture file at path.
func OpenCapture(path string) (*CaptureReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("datapath: %w", err)
	}
	c, err := NewCaptureReader(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	c.f = f
	return c, nil
}

// NewCaptureReader reads a pcap or pcapng stream from r. name is used in
// errors only.
func NewCaptureReader(r io.Reader, name string) (*CaptureReader, error) {
	br := bufio.NewReaderSize(r, readBufferSize)
	magic, err := br.Peek(4)
	if err != nil && len(magic) == 0 {
		return nil, &FileError{File: name, Err: fmt.Errorf("%w: empty file", ErrNotCapture)}
	}
	// The readers wrap br again; bufio hands back the same reader when it
	// is already big enough, so nothing is buffered twice.
	if len(magic) == 4 && binary.LittleEndian.Uint32(magic) == ngBlockSHB {
		ng, err := NewPcapngReader(br, name)
		if err != nil {
			return nil, err
		}
		return &CaptureReader{ng: ng}, nil
	}
	p, err := NewPcapReader(br, name)
	if err != nil {
		return nil, err
	}
	return &CaptureReader{pcap: p}, nil
}

// Next returns the next frame, valid until the next call, or io.EOF.
func (c *CaptureReader) Next() ([]byte, CaptureInfo, error) {
	if c.ng != nil {
		return c.ng.Next()
	}
	return c.pcap.Next()
}

// Close closes the file if the reader came from OpenCapture.
func (c *CaptureReader) Close() error {
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	return err
}
