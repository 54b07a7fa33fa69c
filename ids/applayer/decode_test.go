package applayer

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/rampart-fw/rampart/ids/buffer"
)

// compress returns b through the writer w makes.
func compress(b []byte, w func(io.Writer) io.WriteCloser) []byte {
	var out bytes.Buffer
	c := w(&out)
	c.Write(b)
	c.Close()
	return out.Bytes()
}

func gz(b []byte) []byte {
	return compress(b, func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) })
}

func zl(b []byte) []byte {
	return compress(b, func(w io.Writer) io.WriteCloser { return zlib.NewWriter(w) })
}

func rawDeflate(b []byte) []byte {
	return compress(b, func(w io.Writer) io.WriteCloser {
		c, _ := flate.NewWriter(w, flate.BestCompression)
		return c
	})
}

func br(b []byte) []byte {
	return compress(b, func(w io.Writer) io.WriteCloser { return brotli.NewWriter(w) })
}

// response renders a response with the given Content-Encoding and body.
func response(enc string, body []byte) []byte {
	h := "HTTP/1.1 200 OK\r\n"
	if enc != "" {
		h += "Content-Encoding: " + enc + "\r\n"
	}
	return append([]byte(fmt.Sprintf("%sContent-Length: %d\r\n\r\n", h, len(body))), body...)
}

// fileData runs a request and the response, and returns file.data and
// the output's event lines.
func fileData(t *testing.T, cfg Config, resp []byte) (string, []string, *Tx) {
	t.Helper()
	p := mustNew(t, cfg)
	w := p.NewWorker()
	f := p.NewFlow(tcpKey)
	var data string
	var events []string
	var last Tx
	h := &funcHandler{
		tx: func(tx *Tx) {
			if v, ok := tx.Buffers.Get(buffer.FileData); ok {
				data = string(v)
				last = *tx
			}
		},
		ev: func(ev Event) { events = append(events, ev.Kind.String()) },
	}
	w.Stream(f, buffer.ToServer, []byte("GET / HTTP/1.1\r\nHost: d.example\r\n\r\n"), h)
	w.Stream(f, buffer.ToClient, resp, h)
	w.Close(f, buffer.ToClient, h)
	p.Release(f)
	return data, events, &last
}

type funcHandler struct {
	tx func(*Tx)
	ev func(Event)
}

func (h *funcHandler) Transaction(f *Flow, tx *Tx) {
	if h.tx != nil {
		h.tx(tx)
	}
}

func (h *funcHandler) Event(f *Flow, ev Event) {
	if h.ev != nil {
		h.ev(ev)
	}
}

func TestDecompression(t *testing.T) {
	page := []byte(strings.Repeat("<p>evil <script>payload()</script></p>\n", 50))
	for _, c := range []struct {
		name, enc string
		body      []byte
	}{
		{"gzip", "gzip", gz(page)},
		{"x-gzip", "x-gzip", gz(page)},
		{"deflate as zlib", "deflate", zl(page)},
		{"deflate raw", "deflate", rawDeflate(page)},
		{"brotli", "br", br(page)},
		{"two layers", "gzip, deflate", zl(gz(page))},
		{"identity and gzip", "identity, gzip", gz(page)},
		{"case", "GZip", gz(page)},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, events, _ := fileData(t, Config{}, response(c.enc, c.body))
			if got != string(page) || len(events) != 0 {
				t.Errorf("file.data %d bytes (want %d), events %v", len(got), len(page), events)
			}
		})
	}
}

func TestDecompressionLimits(t *testing.T) {
	// A bomb: ten megabytes of zeros, compressed twice (one deflate
	// layer cannot pass a ratio of 1032).
	zeros := make([]byte, 10<<20)
	bomb := gz(gz(zeros))
	got, events, tx := fileData(t, Config{}, response("gzip, gzip", bomb))
	if len(got) != DefaultResponseBodyLimit || strings.Count(got, "\x00") != len(got) || !equal(events, "decompression_bomb") {
		t.Errorf("bomb: file.data %d bytes, events %v", len(got), events)
	}
	if tx.HTTP.Truncated {
		t.Error("the compressed body was whole; what was cut is the output")
	}

	// More layers than Config.DecompressLayers: left as they are.
	three := gz(gz(gz([]byte("deep"))))
	got, events, _ = fileData(t, Config{}, response("gzip, gzip, gzip", three))
	if got != string(three) || !equal(events, "decompression_bomb") {
		t.Errorf("three layers: file.data %q, events %v", got, events)
	}

	// Not what it says: inspected as it came.
	got, events, _ = fileData(t, Config{}, response("gzip", []byte("plain text, not gzip")))
	if got != "plain text, not gzip" || !equal(events, "decompression_failed") {
		t.Errorf("corrupt: file.data %q, events %v", got, events)
	}

	// A compressed body over the body limit: what arrived within the
	// limit is decompressed, without a failure for the cut.
	noise := make([]byte, 300<<10)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range noise {
		noise[i] = byte(r.Uint32())
	}
	got, events, tx = fileData(t, Config{ResponseBodyLimit: 100 << 10}, response("gzip", gz(noise)))
	if len(got) == 0 || len(got) > 100<<10 || !bytes.HasPrefix(noise, []byte(got)) || len(events) != 0 || !tx.HTTP.Truncated {
		t.Errorf("over the limit: file.data %d bytes, prefix %v, events %v, truncated %v", len(got), bytes.HasPrefix(noise, []byte(got)), events, tx.HTTP.Truncated)
	}
}

// TestRequestDecompression: a compressed request body is decompressed
// into http.request_body, as Suricata does.
func TestRequestDecompression(t *testing.T) {
	body := gz([]byte("cmd=cat+/etc/passwd"))
	req := append([]byte(fmt.Sprintf("POST /x HTTP/1.1\r\nHost: r.example\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n", len(body))), body...)
	req = append(req, "\r\n0\r\n\r\n"...)
	p := mustNew(t, Config{})
	got := run(t, p, tcpKey, []section{{dir: buffer.ToServer, data: req}}, nil)
	if !strings.Contains(got, `http.request_body "cmd=cat+/etc/passwd"`) {
		t.Errorf("got:\n%s", got)
	}
}

func equal(got []string, want ...string) bool {
	return strings.Join(got, ",") == strings.Join(want, ",")
}
