package applayer

import (
	"sync"
	"sync/atomic"

	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ids/buffer"
)

// Parsers is the shared part of the application layer: the
// configuration, the memory cap all flows draw on, and pools of flow
// state. It is safe for concurrent use; each worker goroutine has its
// own Worker, and each flow is handled by one worker at a time.
type Parsers struct {
	cfg   Config
	used  atomic.Int64 // bytes held in flows' buffers, charged against cfg.Memcap
	flows sync.Pool    // *Flow, with small buffers kept
}

// Stats are a worker's counters. Each worker counts its own (no counter
// is shared between cores); the caller sums them.
type Stats struct {
	// Flows counts flows by the protocol detection settled on
	// (buffer.AppNone: given up).
	Flows [numApps]uint64
	// Transactions counts the transactions handed to Handlers, by
	// protocol.
	Transactions [numApps]uint64
	// Events counts events by kind.
	Events [NumKinds]uint64
	// Bytes counts the bytes given to parsers (after detection), by
	// protocol.
	Bytes [numApps]uint64
}

// Add adds o's counts to s.
func (s *Stats) Add(o *Stats) {
	for i := range s.Flows {
		s.Flows[i] += o.Flows[i]
		s.Transactions[i] += o.Transactions[i]
		s.Bytes[i] += o.Bytes[i]
	}
	for i := range s.Events {
		s.Events[i] += o.Events[i]
	}
}

const numApps = 4 // buffer.AppNone .. buffer.AppTLS

// New returns Parsers for cfg; it fails on an inconsistent configuration.
func New(cfg Config) (*Parsers, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	return &Parsers{cfg: cfg}, nil
}

// Config returns the configuration with its defaults filled in.
func (p *Parsers) Config() Config { return p.cfg }

// MemoryInUse returns the bytes the flows' buffers hold.
func (p *Parsers) MemoryInUse() int64 { return p.used.Load() }

// charge reserves n bytes of the memory cap.
func (p *Parsers) charge(n int) bool {
	if p.used.Add(int64(n)) > p.cfg.Memcap {
		p.used.Add(-int64(n))
		return false
	}
	return true
}

// Handler receives what the parsers find in a flow. Its methods are
// called synchronously from the Worker's methods and must not call the
// Worker; the Tx, its Buffers and everything they refer to are valid
// only during the call.
type Handler interface {
	// Transaction is called once per completed request, response, DNS
	// question of a request, DNS response or ClientHello.
	Transaction(f *Flow, tx *Tx)
	// Event reports an anomaly.
	Event(f *Flow, ev Event)
}

// Tx is one transaction handed to detection: the buffers of a request,
// of a response together with its request's, of a DNS question (a DNS
// response has none: dns.query is the request's), or of a ClientHello,
// and a few facts the buffers do not carry.
type Tx struct {
	App buffer.App
	Dir buffer.Direction // the side that sent it: ToServer for requests, queries, ClientHellos
	// Buffers holds the transaction's inspection buffers. For an HTTP
	// response they include its request's (method, URI, host,
	// user agent, request body), as package ids/detect expects; the
	// header and cookie buffers are then the response's.
	Buffers *buffer.Set
	// Seq numbers the flow's transactions of one protocol: an HTTP
	// response has its request's number; DNS messages and ClientHellos
	// count up by one each.
	Seq uint64
	// Off is the offset in the direction's stream at which the message
	// starts (0 for a datagram).
	Off uint64

	HTTP HTTPInfo
	DNS  DNSInfo
	TLS  TLSInfo
}

// HTTPInfo describes an HTTP transaction.
type HTTPInfo struct {
	// Version is the message's: 9 (HTTP/0.9), 10, 11; 0 when unknown.
	Version uint8
	// Status is a response's status code (0 for a request, or an
	// HTTP/0.9 response, which has none).
	Status int
	// BodyLen is the body's length as framed (before decompression):
	// all of it when the message was read to its end; for a message
	// delivered early, the bytes up to the first one past the body limit
	// (so more than the limit), or those held when the memory cap
	// refused more.
	BodyLen uint64
	// Truncated says the inspected body is not all of it: the body
	// limit, a gap, the memory cap or the end of the stream cut it.
	Truncated bool
	// Paired says a response's request buffers are in Buffers.
	Paired bool
}

// DNSInfo describes a DNS message.
type DNSInfo struct {
	ID       uint16
	Response bool
	Opcode   uint8
	Rcode    uint8
	QType    uint16
	QClass   uint16
}

// TLSInfo describes a ClientHello.
type TLSInfo struct {
	// Version is the legacy_version the client offered (0x0303 for TLS
	// 1.2 and 1.3 alike).
	Version uint16
	// SupportsTLS13 says the supported_versions extension lists 0x0304.
	SupportsTLS13 bool
}

// Flow is the application-layer state of one flow: protocol detection
// and the parsers of both directions. Get one from Parsers.NewFlow and
// give it back with Parsers.Release when the flow ends.
type Flow struct {
	// User is the caller's, for its own per-flow state; never read here.
	User any

	p     *Parsers
	key   flow.Key // client to server
	app   buffer.App
	final bool // detection is over: app is settled (possibly AppNone)

	probe    [2]probe
	checked  [2]bool   // the direction's first bytes were compared with the decided protocol
	off      [2]uint64 // bytes of each direction given so far (gaps included)
	disabled [2]bool
	closed   [2]bool
	held     int // bytes of the memory cap this flow's buffers hold

	http *httpFlow
	dns  [2]dnsStream
	tls  [2]tlsDir
	seq  uint64 // transactions numbered, for DNS and TLS
}

// dirIndex maps a direction to 0 (to server) or 1 (to client); ok is
// false for buffer.Both, which no stream has.
func dirIndex(d buffer.Direction) (int, bool) {
	switch d {
	case buffer.ToServer:
		return 0, true
	case buffer.ToClient:
		return 1, true
	}
	return 0, false
}

func dirOf(i int) buffer.Direction {
	if i == 1 {
		return buffer.ToClient
	}
	return buffer.ToServer
}

// NewFlow returns the state of a new flow; key names it from client to
// server (its protocol and ports steer detection: DNS is looked for on
// port 53 first).
func (p *Parsers) NewFlow(key flow.Key) *Flow {
	f, _ := p.flows.Get().(*Flow)
	if f == nil {
		f = &Flow{}
	}
	f.p = p
	f.key = key
	// The buffers a pooled flow kept count against the cap again.
	if n := f.capacity(); n > 0 && !p.charge(n) {
		f.dropBuffers()
	}
	f.held = f.capacity()
	return f
}

// Release gives back a flow's state; f must not be used afterwards.
func (p *Parsers) Release(f *Flow) {
	if f.p != p {
		return
	}
	p.used.Add(-int64(f.held))
	f.trimBuffers()
	f.reset()
	p.flows.Put(f)
}

// keepCap is the largest buffer a pooled flow keeps: enough for the
// heads and bodies of ordinary transactions, so that a new flow
// allocates nothing, and small enough that idle pooled flows hold little.
const keepCap = 4 << 10

// capacity returns the bytes the flow's buffers hold.
func (f *Flow) capacity() int {
	n := 0
	for i := range f.probe {
		n += cap(f.probe[i].buf)
		n += cap(f.dns[i].buf)
		n += cap(f.tls[i].hs)
	}
	if f.http != nil {
		n += f.http.capacity()
	}
	return n
}

func trim(b *[]byte) {
	if cap(*b) > keepCap {
		*b = nil
	}
	*b = (*b)[:0]
}

func (f *Flow) trimBuffers() {
	for i := range f.probe {
		trim(&f.probe[i].buf)
		trim(&f.dns[i].buf)
		trim(&f.tls[i].hs)
	}
	if f.http != nil {
		f.http.trim()
	}
}

func (f *Flow) dropBuffers() {
	for i := range f.probe {
		f.probe[i].buf = nil
		f.dns[i].buf = nil
		f.tls[i].hs = nil
	}
	if f.http != nil {
		f.http.drop()
	}
}

// reset clears the flow's state, keeping its buffers' storage.
func (f *Flow) reset() {
	h := f.http
	if h != nil {
		h.reset()
	}
	for i := range f.probe {
		f.probe[i] = probe{buf: f.probe[i].buf[:0]}
		f.dns[i] = dnsStream{buf: f.dns[i].buf[:0]}
		f.tls[i] = tlsDir{hs: f.tls[i].hs[:0]}
	}
	*f = Flow{probe: f.probe, dns: f.dns, tls: f.tls, http: h}
}

// App returns the flow's protocol as detected so far (AppNone while
// detection goes on, or when it gave up).
func (f *Flow) App() buffer.App { return f.app }

// Detected reports whether protocol detection is over: App is then final.
func (f *Flow) Detected() bool { return f.final }

// gather copies into dst, of which *have bytes are filled, what data
// has of the rest: a fixed-size header split across chunks. It returns
// the bytes taken.
func gather(dst []byte, have *int, data []byte) int {
	n := copy(dst[*have:], data)
	*have += n
	return n
}

// grow makes room for n more bytes in *b, charging the memory cap for
// what it adds; false when the cap refuses (the caller reports it). It
// never grows past limit bytes of capacity.
func (f *Flow) grow(b *[]byte, n, limit int) bool {
	need := len(*b) + n
	if need <= cap(*b) {
		return true
	}
	if need > limit {
		return false
	}
	c := min(max(need, 2*cap(*b), 512), limit)
	if !f.p.charge(c - cap(*b)) {
		return false
	}
	f.held += c - cap(*b)
	nb := make([]byte, len(*b), c)
	copy(nb, *b)
	*b = nb
	return true
}

// event reports an event and, when disable is set, stops the direction.
func (w *Worker) event(f *Flow, h Handler, d int, k Kind, off uint64, disable bool) {
	if disable {
		f.disabled[d] = true
	}
	w.stats.Events[k]++
	h.Event(f, Event{Kind: k, App: f.app, Dir: dirOf(d), Off: off, Disabled: disable})
}

// deliver hands w.tx to the handler.
func (w *Worker) deliver(f *Flow, h Handler) {
	w.tx.Buffers = &w.set
	w.stats.Transactions[w.tx.App]++
	h.Transaction(f, &w.tx)
}

// Worker is one goroutine's scratch space: the buffer.Set and Tx handed
// to Handlers, the normalised buffers, decompressors. Its methods feed a
// flow's bytes to its parsers.
type Worker struct {
	p     *Parsers
	set   buffer.Set
	tx    Tx
	stats Stats

	arena []byte   // normalised buffers of the transaction being delivered
	hdrs  []header // a head's headers
	// hdrsOf is the block hdrs was read from, while it may be reused:
	// within one call, until another head is read (a buffer may then
	// be refilled in place).
	hdrsOf []byte
	table  []int32 // header-name hash table for merging repeated headers
	dec    decoder
	body   [2][]byte // decoded bodies: request, response
	name   [maxName]byte
}

// NewWorker returns a worker for one goroutine.
func (p *Parsers) NewWorker() *Worker { return &Worker{p: p} }

// Stats returns the worker's counters. Like the rest of the Worker, it
// is for the worker's own goroutine.
func (w *Worker) Stats() Stats { return w.stats }

// Stream gives the parsers of f the next bytes of one direction of a TCP
// stream, in order and contiguous with the previous ones; chunks may be
// of any size and cut anywhere.
func (w *Worker) Stream(f *Flow, dir buffer.Direction, data []byte, h Handler) {
	w.hdrsOf = nil
	d, ok := dirIndex(dir)
	if !ok || len(data) == 0 || f.closed[d] {
		return
	}
	if !f.checked[d] {
		if !w.detect(f, d, data, h) {
			return // held for detection, or not a protocol we parse
		}
	}
	w.feed(f, d, data, h)
}

// feed hands data to the parser of the flow's protocol.
func (w *Worker) feed(f *Flow, d int, data []byte, h Handler) {
	if f.disabled[d] || len(data) == 0 {
		f.off[d] += uint64(len(data))
		return
	}
	w.stats.Bytes[f.app] += uint64(len(data))
	switch f.app {
	case buffer.AppHTTP:
		w.httpStream(f, d, data, h)
	case buffer.AppTLS:
		w.tlsStream(f, d, data, h)
	case buffer.AppDNS:
		w.dnsStream(f, d, data, h)
	default:
		f.off[d] += uint64(len(data))
	}
}

// Gap tells the parsers that n bytes of a direction were lost (the
// capture missed them, or reassembly gave up a hole). A parser that can
// skip them (inside a body or a TLS record) does; elsewhere it is
// disabled with KindGap.
func (w *Worker) Gap(f *Flow, dir buffer.Direction, n uint64, h Handler) {
	w.hdrsOf = nil
	d, ok := dirIndex(dir)
	if !ok || n == 0 || f.closed[d] {
		return
	}
	if !f.final {
		// Detection cannot look across a hole: the direction gives up.
		w.giveUp(f, d, h)
		f.off[d] += n
		return
	}
	if f.disabled[d] || f.app == buffer.AppNone {
		f.off[d] += n
		return
	}
	switch f.app {
	case buffer.AppHTTP:
		w.httpGap(f, d, n, h)
	case buffer.AppTLS:
		w.tlsGap(f, d, n, h)
	case buffer.AppDNS:
		w.event(f, h, d, KindGap, f.off[d], true)
	}
	f.off[d] += n
}

// Close tells the parsers that a direction ended (FIN, reset, the end of
// a capture): a response whose body runs to the end of the connection is
// delivered, and so is a message cut short, as far as it was read.
func (w *Worker) Close(f *Flow, dir buffer.Direction, h Handler) {
	w.hdrsOf = nil
	d, ok := dirIndex(dir)
	if !ok || f.closed[d] {
		return
	}
	if !f.final {
		w.giveUp(f, d, h)
	}
	if f.app == buffer.AppHTTP && !f.disabled[d] {
		w.httpClose(f, d, h)
	}
	f.closed[d] = true
}

// Datagram gives the parsers of f one UDP datagram's payload.
func (w *Worker) Datagram(f *Flow, dir buffer.Direction, payload []byte, h Handler) {
	w.hdrsOf = nil
	d, ok := dirIndex(dir)
	if !ok {
		return
	}
	if !f.final {
		w.detectDatagram(f, d, payload, h)
	}
	if f.app != buffer.AppDNS || f.disabled[d] {
		return
	}
	w.stats.Bytes[buffer.AppDNS] += uint64(len(payload))
	w.dnsMessage(f, d, payload, 0, h)
}
