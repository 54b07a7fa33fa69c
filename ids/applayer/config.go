package applayer

import "fmt"

// Config bounds the parsers. Zero fields take the defaults, which are
// Suricata's where it has one (its libhtp section's names in brackets).
type Config struct {
	// RequestBodyLimit is how much of a request body (de-chunked and
	// decompressed) is inspected as http.request_body; the rest is
	// framed and skipped [100 KiB] (request-body-limit).
	RequestBodyLimit int
	// ResponseBodyLimit is the same for a response body, file.data
	// [100 KiB] (response-body-limit).
	ResponseBodyLimit int
	// MaxLine bounds one request, status, header or chunk-size line;
	// longer lines are cut to it and reported (KindLineTooLong) [18000]
	// (libhtp's field limit).
	MaxLine int
	// MaxHeaders bounds the header lines of one message (trailers
	// included) [1024] (libhtp's headers limit).
	MaxHeaders int
	// MaxHeadSize bounds the bytes of one message's head (start line and
	// headers) that a flow holds [64 KiB].
	MaxHeadSize int
	// MaxPending bounds the requests of a flow whose responses have not
	// come yet (pipelining); a flow with more has its request parser
	// disabled (KindTooManyPending) [32].
	MaxPending int
	// DecompressLayers is how many stacked content codings are undone
	// (Content-Encoding: gzip, gzip) [2]
	// (response-body-decompress-layer-limit).
	DecompressLayers int
	// BombRatio and BombLimit: a body that decompresses to more than
	// BombLimit bytes at more than BombRatio times its compressed size
	// is reported as a decompression bomb [2048, 1 MiB] (libhtp's bomb
	// ratio and compression-bomb-limit). Only the body limit is kept;
	// past it, decompression goes on (into a scratch buffer) to the bomb
	// limit only when the ratio so far is already over an eighth of
	// BombRatio.
	BombRatio int
	BombLimit int
	// MaxClientHello bounds the TLS ClientHello a flow reassembles
	// [32 KiB].
	MaxClientHello int
	// ProbeLimit is how many bytes of each direction protocol detection
	// looks at before it gives up [2048].
	ProbeLimit int
	// Memcap bounds the bytes that all flows together hold in parser
	// buffers; a buffer the cap refuses truncates a body or disables a
	// parser (KindMemcap) [64 MiB].
	Memcap int64
}

// Defaults of Config.
const (
	DefaultRequestBodyLimit  = 100 << 10
	DefaultResponseBodyLimit = 100 << 10
	DefaultMaxLine           = 18000
	DefaultMaxHeaders        = 1024
	DefaultMaxHeadSize       = 64 << 10
	DefaultMaxPending        = 32
	DefaultDecompressLayers  = 2
	DefaultBombRatio         = 2048
	DefaultBombLimit         = 1 << 20
	DefaultMaxClientHello    = 32 << 10
	DefaultProbeLimit        = 2048
	DefaultMemcap            = 64 << 20
)

// Limits that keep the configuration sane.
const (
	maxDecompressLayers = 4
	minProbeLimit       = 64 // a DNS header behind its length, an HTTP method, a TLS record header
)

func (c *Config) setDefaults() error {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.RequestBodyLimit, DefaultRequestBodyLimit)
	def(&c.ResponseBodyLimit, DefaultResponseBodyLimit)
	def(&c.MaxLine, DefaultMaxLine)
	def(&c.MaxHeaders, DefaultMaxHeaders)
	def(&c.MaxHeadSize, DefaultMaxHeadSize)
	def(&c.MaxPending, DefaultMaxPending)
	def(&c.DecompressLayers, DefaultDecompressLayers)
	def(&c.BombRatio, DefaultBombRatio)
	def(&c.BombLimit, DefaultBombLimit)
	def(&c.MaxClientHello, DefaultMaxClientHello)
	def(&c.ProbeLimit, DefaultProbeLimit)
	if c.Memcap <= 0 {
		c.Memcap = DefaultMemcap
	}
	switch {
	case c.DecompressLayers > maxDecompressLayers:
		return fmt.Errorf("applayer: decompress layers %d: at most %d", c.DecompressLayers, maxDecompressLayers)
	case c.ProbeLimit < minProbeLimit:
		return fmt.Errorf("applayer: probe limit %d: at least %d bytes", c.ProbeLimit, minProbeLimit)
	case c.MaxLine > c.MaxHeadSize:
		return fmt.Errorf("applayer: max line %d is more than max head size %d", c.MaxLine, c.MaxHeadSize)
	case c.MaxClientHello < 64:
		return fmt.Errorf("applayer: max client hello %d: at least 64 bytes", c.MaxClientHello)
	}
	return nil
}
