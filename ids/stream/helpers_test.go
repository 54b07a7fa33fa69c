package stream

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

var (
	cli4 = netip.MustParseAddrPort("192.0.2.10:40000")
	srv4 = netip.MustParseAddrPort("198.51.100.20:80")
	cli6 = netip.MustParseAddrPort("[2001:db8::10]:40000")
	srv6 = netip.MustParseAddrPort("[2001:db8::20]:80")
	t0   = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
)

// tcpSeg describes one hand-built TCP segment.
type tcpSeg struct {
	src, dst netip.AddrPort
	flags    packet.TCPFlags
	seq, ack uint32
	win      uint16
	wscale   int // -1: no option
	ts       bool
	tsval    uint32
	tsecr    uint32
	tfo      bool // a Fast Open option with an 8-byte cookie
	urg      uint16
	data     []byte
}

// build returns the IP packet of s, checksums filled.
func (s tcpSeg) build() []byte {
	var opts []byte
	if s.wscale >= 0 {
		opts = append(opts, 3, 3, byte(s.wscale))
	}
	if s.ts {
		opts = append(opts, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0)
		binary.BigEndian.PutUint32(opts[len(opts)-8:], s.tsval)
		binary.BigEndian.PutUint32(opts[len(opts)-4:], s.tsecr)
	}
	if s.tfo {
		opts = append(opts, 34, 10, 1, 2, 3, 4, 5, 6, 7, 8)
	}
	for len(opts)%4 != 0 {
		opts = append(opts, 1)
	}
	tl := 20 + len(opts)
	t := make([]byte, tl+len(s.data))
	binary.BigEndian.PutUint16(t[0:], s.src.Port())
	binary.BigEndian.PutUint16(t[2:], s.dst.Port())
	binary.BigEndian.PutUint32(t[4:], s.seq)
	binary.BigEndian.PutUint32(t[8:], s.ack)
	t[12] = byte(tl/4) << 4
	t[13] = byte(s.flags)
	binary.BigEndian.PutUint16(t[14:], s.win)
	binary.BigEndian.PutUint16(t[18:], s.urg)
	copy(t[20:], opts)
	copy(t[tl:], s.data)
	binary.BigEndian.PutUint16(t[16:], packet.Checksum(t, packet.PseudoHeaderChecksum(ipproto.TCP, s.src.Addr(), s.dst.Addr(), uint16(len(t)))))
	if s.src.Addr().Is4() {
		ip := make([]byte, 20, 20+len(t))
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(t)))
		ip[8] = 64
		ip[9] = byte(ipproto.TCP)
		copy(ip[12:], s.src.Addr().AsSlice())
		copy(ip[16:], s.dst.Addr().AsSlice())
		binary.BigEndian.PutUint16(ip[10:], packet.Checksum(ip, 0))
		return append(ip, t...)
	}
	ip := make([]byte, 40, 40+len(t))
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(t)))
	ip[6] = byte(ipproto.TCP)
	ip[7] = 64
	copy(ip[8:], s.src.Addr().AsSlice())
	copy(ip[24:], s.dst.Addr().AsSlice())
	return append(ip, t...)
}

// tb is what the helpers need of a test: testing.TB or rapid's T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
}

// flowRec is what a recorder saw of one flow.
type flowRec struct {
	data   [2][]byte // data and gaps ('?' per missing byte), in order
	next   [2]uint64 // offset of the next chunk
	gaps   [2]uint64
	fin    [2]bool
	chunks [2]int
	ended  bool
	why    EndReason
}

// recorder is a Consumer that keeps everything and checks the contract:
// chunks contiguous and in order, nothing after a FIN or the end.
type recorder struct {
	t       tb
	flows   map[uint64]*flowRec
	order   []uint64
	packets int
	onPkt   func(f *Flow, p *packet.Parsed, r *Result)
	depth   uint64 // a FIN may come past this offset
}

func newRecorder(t tb) *recorder {
	return &recorder{t: t, flows: map[uint64]*flowRec{}, depth: DefaultDepth}
}

func (r *recorder) get(f *Flow) *flowRec {
	fr := r.flows[f.ID()]
	if fr == nil {
		fr = &flowRec{}
		r.flows[f.ID()] = fr
		r.order = append(r.order, f.ID())
	}
	return fr
}

func (r *recorder) Stream(f *Flow, c Chunk) {
	fr := r.get(f)
	if fr.ended || fr.fin[c.Dir] {
		r.t.Errorf("flow %d %s: chunk at %d after the end", f.ID(), c.Dir, c.Off)
	}
	if c.Off != fr.next[c.Dir] && !(c.FIN && c.Off > fr.next[c.Dir] && fr.next[c.Dir] >= r.depth) {
		r.t.Errorf("flow %d %s: chunk at %d, want %d", f.ID(), c.Dir, c.Off, fr.next[c.Dir])
	}
	switch {
	case c.FIN:
		fr.fin[c.Dir] = true
	case c.Gap > 0:
		if len(c.Data) > 0 {
			r.t.Errorf("flow %d %s: chunk with data and a gap", f.ID(), c.Dir)
		}
		fr.data[c.Dir] = append(fr.data[c.Dir], bytes.Repeat([]byte{'?'}, int(c.Gap))...)
		fr.gaps[c.Dir] += c.Gap
		fr.next[c.Dir] += c.Gap
	case len(c.Data) == 0:
		r.t.Errorf("flow %d %s: empty chunk at %d", f.ID(), c.Dir, c.Off)
	default:
		fr.data[c.Dir] = append(fr.data[c.Dir], c.Data...)
		fr.next[c.Dir] += uint64(len(c.Data))
	}
	fr.chunks[c.Dir]++
}

func (r *recorder) Packet(f *Flow, p *packet.Parsed, res *Result) {
	r.packets++
	if r.onPkt != nil {
		r.onPkt(f, p, res)
	}
}

func (r *recorder) End(f *Flow, why EndReason) {
	fr := r.get(f)
	if fr.ended {
		r.t.Errorf("flow %d ended twice", f.ID())
	}
	fr.ended, fr.why = true, why
}

// only returns the record of the one flow seen.
func (r *recorder) only() *flowRec {
	r.t.Helper()
	if len(r.flows) != 1 {
		r.t.Fatalf("%d flows recorded, want 1", len(r.flows))
	}
	return r.flows[r.order[0]]
}

// conn drives one connection between a client and a server through a
// Table: sequence numbers are given relative to each side's ISN (1 is the
// first data byte).
type conn struct {
	t          tb
	tab        *Table
	rec        *recorder
	cli, srv   netip.AddrPort
	cisn, sisn uint32
	now        time.Time
	events     []Event
	ts         bool // send timestamps
	tsval      [2]uint32
	win        uint16
}

func newConn(t tb, cfg Config) *conn {
	t.Helper()
	c := &conn{t: t, cli: cli4, srv: srv4, cisn: 1000, sisn: 5000, now: t0, win: 65535}
	c.rec = newRecorder(t)
	user := cfg.OnEvent
	cfg.OnEvent = func(e Event) {
		c.events = append(c.events, e)
		if user != nil {
			user(e)
		}
	}
	switch {
	case cfg.Depth == NoDepth:
		c.rec.depth = ^uint64(0)
	case cfg.Depth > 0:
		c.rec.depth = uint64(cfg.Depth)
	}
	tab, err := New(cfg, c.rec)
	if err != nil {
		t.Fatal(err)
	}
	c.tab = tab
	return c
}

func (c *conn) ends(d Dir) (src, dst netip.AddrPort) {
	if d == ToServer {
		return c.cli, c.srv
	}
	return c.srv, c.cli
}

func (c *conn) isn(d Dir) uint32 {
	if d == ToServer {
		return c.cisn
	}
	return c.sisn
}

// seg returns a segment of direction d with relative sequence number rel
// and relative acknowledgement ack (of the other direction).
func (c *conn) seg(d Dir, flags packet.TCPFlags, rel, ack uint32, data string) tcpSeg {
	src, dst := c.ends(d)
	s := tcpSeg{src: src, dst: dst, flags: flags, seq: c.isn(d) + rel, win: c.win, wscale: -1, data: []byte(data)}
	if flags&packet.TCPACK != 0 {
		s.ack = c.isn(1-d) + ack
	}
	if c.ts {
		c.tsval[d]++
		s.ts, s.tsval = true, c.tsval[d]
	}
	return s
}

// send runs s through the table and returns the result and the packet as
// it would be forwarded.
func (c *conn) send(s tcpSeg) (Result, []byte) {
	c.t.Helper()
	b := s.build()
	var p packet.Parsed
	p.DecodeIP(b)
	if p.Invalid != packet.Valid {
		c.t.Fatalf("built an invalid packet: %v", p.Err())
	}
	r := c.tab.Process(&p, c.now)
	return r, p.Buf
}

// sendRaw runs the IP packet b through the table.
func (c *conn) sendRaw(b []byte) Result {
	c.t.Helper()
	var p packet.Parsed
	p.DecodeIP(append([]byte(nil), b...))
	return c.tab.Process(&p, c.now)
}

// checkTCPChecksum fails t unless the IP packet b carries a correct TCP
// checksum.
func checkTCPChecksum(t testing.TB, b []byte) {
	t.Helper()
	var p packet.Parsed
	p.DecodeIP(b)
	if !p.VerifyChecksums() {
		t.Errorf("bad checksum in % x", b)
	}
}

// payloadOf returns the TCP payload of the IP packet b.
func payloadOf(t testing.TB, b []byte) []byte {
	t.Helper()
	var p packet.Parsed
	p.DecodeIP(b)
	return p.Buf[p.PayloadOff : p.PayloadOff+p.PayloadLen]
}

func (c *conn) handshake() {
	c.t.Helper()
	syn := c.seg(ToServer, packet.TCPSYN, 0, 0, "")
	synack := c.seg(ToClient, packet.TCPSYN|packet.TCPACK, 0, 1, "")
	ack := c.seg(ToServer, packet.TCPACK, 1, 1, "")
	for _, s := range []tcpSeg{syn, synack, ack} {
		if r, _ := c.send(s); r.Flow == nil || r.Verdict != Forward {
			c.t.Fatalf("handshake: %+v", r)
		}
	}
}

// put sends data of direction d at relative sequence number rel, with an
// acknowledgement of nothing new.
func (c *conn) put(d Dir, rel uint32, data string) Result {
	c.t.Helper()
	r, _ := c.send(c.seg(d, packet.TCPACK|packet.TCPPSH, rel, 1, data))
	return r
}

// ackTo makes the receiver of direction d acknowledge d up to relative
// sequence number rel.
func (c *conn) ackTo(d Dir, rel uint32) Result {
	c.t.Helper()
	r, _ := c.send(c.seg(1-d, packet.TCPACK, 1, rel, ""))
	return r
}

func (c *conn) flow() *Flow {
	c.t.Helper()
	tk := keyOf(flowKey(c.cli, c.srv))
	f := c.tab.shardOf(&tk).flows[tk]
	if f == nil {
		c.t.Fatal("no flow")
	}
	return f
}

func (c *conn) kinds() []Kind {
	var k []Kind
	for _, e := range c.events {
		k = append(k, e.Kind)
	}
	return k
}

func (c *conn) count(k Kind) int {
	n := 0
	for _, e := range c.events {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// held renders the bytes direction d holds from its delivery point, a
// hole as '_'.
func held(s *side) string {
	end := s.lastEnd()
	b := bytes.Repeat([]byte{'_'}, int(end-s.dlv))
	for _, iv := range s.have {
		a, z := max(iv.s, s.dlv), iv.e
		if z <= a {
			continue
		}
		copy(b[a-s.dlv:], s.at(a, z))
	}
	return string(b)
}

func flowKey(src, dst netip.AddrPort) flow.Key {
	return flow.Key{Src: src, Dst: dst, Proto: ipproto.TCP}
}
