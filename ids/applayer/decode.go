package applayer

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"

	"github.com/andybalholm/brotli"
)

// coding is one HTTP content coding the parsers undo.
type coding uint8

const (
	codingGzip coding = iota + 1
	codingDeflate
	codingBrotli
	codingUnknown // a coding named but not known: the body is inspected as it is
)

// codings is a message's Content-Encoding, in the order listed (applied
// by the sender first to last, undone last to first).
type codings struct {
	c [maxDecompressLayers]coding
	n uint8
	// over says more codings were listed than the parsers undo.
	over bool
}

func (cs *codings) add(c coding) {
	if int(cs.n) == len(cs.c) {
		cs.over = true
		return
	}
	cs.c[cs.n] = c
	cs.n++
}

// codingOf names a Content-Encoding token; 0 for identity.
func codingOf(tok []byte) coding {
	switch {
	case eqFold(tok, "gzip"), eqFold(tok, "x-gzip"):
		return codingGzip
	case eqFold(tok, "deflate"):
		return codingDeflate
	case eqFold(tok, "br"):
		return codingBrotli
	case eqFold(tok, "identity"), len(tok) == 0:
		return 0
	}
	return codingUnknown
}

// decoder undoes content codings into a bounded buffer. It keeps its
// decompressors between bodies, so that gzip and deflate cost no
// allocation once warm (brotli's decoder allocates its window per
// stream).
type decoder struct {
	src  bytes.Reader
	gz   [maxDecompressLayers]*gzip.Reader
	zl   [maxDecompressLayers]io.ReadCloser
	fl   [maxDecompressLayers]io.ReadCloser
	br   [maxDecompressLayers]*brotli.Reader
	bufs [maxDecompressLayers]*bufio.Reader // byte readers between layers
	sink []byte                             // output past the limit, read only to measure a bomb
}

// maxStalls bounds the reads that return nothing and no error, which
// io.Reader permits.
const maxStalls = 16

// decodeResult says how decoding went.
type decodeResult uint8

const (
	decodeOK     decodeResult = iota
	decodeFailed              // the data is not what its codings say
	decodeBomb                // the output exceeds the bomb ratio
)

// decode appends to dst (up to limit bytes) the body in undone by its
// codings cs (at most layers of them: more are left alone); complete says
// in is the whole body (so that running out of it is an error). A body
// that decompresses to more than bombLimit bytes at more than ratio times
// its compressed size is a bomb, as libhtp judges it.
func (d *decoder) decode(dst, in []byte, cs codings, layers, limit, ratio, bombLimit int, complete bool) ([]byte, decodeResult) {
	n := int(cs.n)
	if n == 0 || cs.over || n > layers {
		return append(dst, in[:min(len(in), limit)]...), decodeOK
	}
	for i := range n {
		if cs.c[i] == codingUnknown {
			return append(dst, in[:min(len(in), limit)]...), decodeOK
		}
	}
	d.src.Reset(in)
	var r io.Reader = &d.src
	var err error
	for layer := range n {
		c := cs.c[n-1-layer]
		if layer > 0 {
			if d.bufs[layer] == nil {
				d.bufs[layer] = bufio.NewReaderSize(r, 4096)
			} else {
				d.bufs[layer].Reset(r)
			}
			r = d.bufs[layer]
		}
		r, err = d.layer(layer, c, r, in[:min(2, len(in))])
		if err != nil {
			if complete || !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
				return dst, decodeFailed
			}
			return dst, decodeOK
		}
	}
	start := len(dst)
	eof := false
	for stalls := 0; len(dst)-start < limit && stalls < maxStalls; {
		if cap(dst) == len(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		m, err := r.Read(dst[len(dst):min(cap(dst), start+limit)])
		dst = dst[:len(dst)+m]
		if m == 0 {
			stalls++
		}
		if err != nil {
			eof = true
			if err == io.EOF {
				break
			}
			if complete || !errors.Is(err, io.ErrUnexpectedEOF) {
				return dst, decodeFailed
			}
			break
		}
	}
	out := len(dst) - start
	used := len(in) - d.src.Len()
	if !eof && out > ratio/8*used {
		// The output filled the limit at a suspicious ratio: go on
		// (discarding) up to the bomb limit to measure it, as libhtp
		// measures the whole body. Ordinary compressed text (5-20x)
		// never gets here.
		if d.sink == nil {
			d.sink = make([]byte, 32<<10)
		}
		for stalls := 0; out <= bombLimit && stalls < maxStalls; {
			m, err := r.Read(d.sink)
			out += m
			if m == 0 {
				stalls++
			}
			if err != nil {
				break
			}
		}
		used = len(in) - d.src.Len()
	}
	if out > bombLimit && out > ratio*used {
		return dst, decodeBomb
	}
	return dst, decodeOK
}

// layer returns a reader undoing coding c over r.
func (d *decoder) layer(i int, c coding, r io.Reader, peek []byte) (io.Reader, error) {
	switch c {
	case codingGzip:
		if d.gz[i] == nil {
			z, err := gzip.NewReader(r)
			if err != nil {
				return nil, err
			}
			d.gz[i] = z
		} else if err := d.gz[i].Reset(r); err != nil {
			return nil, err
		}
		return d.gz[i], nil
	case codingDeflate:
		// "deflate" is zlib (RFC 9110 8.4.1.2), but servers send raw
		// deflate too; the first two bytes tell, as libhtp decides.
		var head []byte
		if i == 0 {
			head = peek
		} else {
			head, _ = d.bufs[i].Peek(2)
		}
		if len(head) == 2 && head[0]&0x0f == 8 && head[0]>>4 <= 7 && (uint16(head[0])<<8|uint16(head[1]))%31 == 0 {
			return d.zlib(i, r)
		}
		if d.fl[i] == nil {
			d.fl[i] = flate.NewReader(r)
		} else if err := d.fl[i].(flate.Resetter).Reset(r, nil); err != nil {
			return nil, err
		}
		return d.fl[i], nil
	case codingBrotli:
		if d.br[i] == nil {
			d.br[i] = brotli.NewReader(r)
		} else {
			_ = d.br[i].Reset(r)
		}
		return d.br[i], nil
	}
	return r, nil
}

func (d *decoder) zlib(i int, r io.Reader) (io.Reader, error) {
	if d.zl[i] == nil {
		z, err := zlib.NewReader(r)
		if err != nil {
			return nil, err
		}
		d.zl[i] = z
		return z, nil
	}
	if err := d.zl[i].(zlib.Resetter).Reset(r, nil); err != nil {
		return nil, err
	}
	return d.zl[i], nil
}

func eqFold(b []byte, s string) bool { return eqFoldPrefix(b, s) }
