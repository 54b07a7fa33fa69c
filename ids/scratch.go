package ids

import (
	"time"

	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ids/applayer"
	"github.com/rampart-fw/rampart/ids/buffer"
	"github.com/rampart-fw/rampart/ids/detect"
	"github.com/rampart-fw/rampart/ids/rules"
	"github.com/rampart-fw/rampart/ids/stream"
	"github.com/rampart-fw/rampart/packet"
)

// flowState is what the engine keeps per flow, TCP or not: its name, its
// application-layer state and its flowbits. A TCP flow's hangs off
// stream.Flow.User; the others' live in the flow table.
type flowState struct {
	id          uint64
	key         flow.Key // client to server: the side that sent first
	app         *applayer.Flow
	bits        detect.Bits
	established bool
	closed      [2]bool // the application layer was told the direction ended
	// block is set when a stream chunk or transaction matched a
	// blocking rule in prevention mode: the flow's next packet, and every
	// later one, is dropped.
	block Verdict
	// done says the flow ended (stream.Consumer.End) while a packet was
	// being processed; its packet callback may still follow, with the
	// application layer already released: proto is what it detected.
	done  bool
	proto buffer.App
	// tail is each direction's context for the next stream chunk.
	tail [2]streamTail

	// The flow table's (other protocols than TCP).
	prev, next *flowState
	last       int64  // unix nanoseconds of the latest packet
	touch      uint64 // the shard's count of packets at the latest
	seen       [2]bool
	class      uint8 // time-out class, the list it is on
	tcp        bool
}

// keyOf returns the flow's key as data in direction dir travels.
func (fs *flowState) keyOf(dir buffer.Direction) flow.Key {
	if dir == buffer.ToClient {
		return fs.key.Reverse()
	}
	return fs.key
}

// view is the flow as detection sees it during one inspection.
type view struct {
	fs  *flowState
	dir buffer.Direction
}

func (v *view) Direction() buffer.Direction { return v.dir }
func (v *view) Established() bool           { return v.fs.established }
func (v *view) Bits() *detect.Bits          { return &v.fs.bits }

// scratch is the working memory of one goroutine's inspections: a
// Worker's, or the sweeper's. It is the stream Consumer and the
// applayer Handler of its goroutine's calls.
type scratch struct {
	e       *Engine
	det     *detect.Scratch
	app     *applayer.Worker
	view    view
	in      detect.Input
	win     []byte // a stream chunk after its direction's tail
	now     time.Time
	frame   uint64     // the frame being processed, counted from 1 by Process; 0 for none
	fs      *flowState // the flow whose bytes the parsers are given
	verdict Verdict    // the packet's, in prevention mode
	// ended are the TCP flows that ended during the packet being
	// processed, kept until ProcessWith returns (a Worker's scratch; the
	// sweeper's frees them at once).
	ended   []*flowState
	sweeper bool
}

func (e *Engine) newScratch() *scratch {
	sc := &scratch{e: e}
	if e.rules != nil {
		sc.det = e.rules.NewScratch()
	}
	if e.app != nil {
		sc.app = e.app.NewWorker()
	}
	e.mu.Lock()
	e.scratchs = append(e.scratchs, sc)
	e.mu.Unlock()
	return sc
}

// newState returns the state of a new flow.
func (e *Engine) newState(key flow.Key, id uint64, tcp bool) *flowState {
	e.mu.Lock()
	var fs *flowState
	if n := len(e.free); n > 0 {
		fs = e.free[n-1]
		e.free = e.free[:n-1]
	}
	e.mu.Unlock()
	if fs == nil {
		fs = &flowState{}
	}
	fs.bits.Reset()
	bits, tail := fs.bits, fs.tail
	for d := range tail {
		tail[d].reset()
	}
	*fs = flowState{id: id, key: key, bits: bits, tail: tail, tcp: tcp}
	fs.app = e.app.NewFlow(key)
	return fs
}

// maxFree bounds the flow states kept for reuse.
const maxFree = 4096

// endState tells the parsers that both directions ended and keeps fs for
// reuse.
func (sc *scratch) endState(fs *flowState) {
	sc.endApp(fs)
	sc.free(fs)
}

// endApp tells the parsers that both directions ended and releases
// them.
func (sc *scratch) endApp(fs *flowState) {
	for d := range fs.closed {
		if !fs.closed[d] {
			fs.closed[d] = true
			sc.fs = fs
			sc.app.Close(fs.app, buffer.Direction(d+1), sc)
		}
	}
	fs.proto = fs.app.App()
	sc.e.app.Release(fs.app)
	fs.app = nil
	fs.done = true
}

// appProto returns the flow's application protocol as detected.
func (fs *flowState) appProto() buffer.App {
	if fs.app == nil {
		return fs.proto
	}
	return fs.app.App()
}

// free keeps fs for reuse.
func (sc *scratch) free(fs *flowState) {
	e := sc.e
	e.mu.Lock()
	if len(e.free) < maxFree {
		e.free = append(e.free, fs)
	}
	e.mu.Unlock()
}

// tcpState returns the state of a TCP flow, made on its first callback.
func (sc *scratch) tcpState(f *stream.Flow) *flowState {
	if fs, ok := f.User.(*flowState); ok {
		return fs
	}
	fs := sc.e.newState(f.Key(), f.ID(), true)
	f.User = fs
	return fs
}

// Stream implements stream.Consumer: the parsers, then detection on the
// stream data.
func (sc *scratch) Stream(f *stream.Flow, c stream.Chunk) {
	fs := sc.tcpState(f)
	if fs.done {
		return
	}
	dir := buffer.Direction(c.Dir + 1)
	sc.fs = fs
	switch {
	case c.Gap > 0:
		fs.tail[c.Dir].reset()
		sc.app.Gap(fs.app, dir, c.Gap, sc)
	case c.FIN:
		if !fs.closed[c.Dir] {
			fs.closed[c.Dir] = true
			sc.app.Close(fs.app, dir, sc)
		}
	default:
		sc.app.Stream(fs.app, dir, c.Data, sc)
		if sc.e.rules == nil {
			return
		}
		t := &fs.tail[c.Dir]
		win, base, fresh := sc.window(t, c)
		in := &sc.in
		sc.view = view{fs: fs, dir: dir}
		*in = detect.Input{Key: fs.keyOf(dir), Time: sc.now, Flow: &sc.view, Stream: win, StreamBase: base, StreamNew: fresh, App: fs.appProto()}
		sc.inspect(fs, in)
		t.keep(win, base, sc.e.context)
	}
}

// Packet implements stream.Consumer: detection on the packet.
func (sc *scratch) Packet(f *stream.Flow, p *packet.Parsed, r *stream.Result) {
	fs := sc.tcpState(f)
	fs.established = f.State() >= stream.StateEstablished
	sc.packet(fs, p, buffer.Direction(r.Dir+1), true)
	if sc.e.cfg.Mode == Prevent {
		if fs.block > sc.verdict {
			sc.verdict = fs.block
		}
		if sc.verdict != Pass {
			r.Verdict = stream.Drop
		}
	}
}

// End implements stream.Consumer. Called while a worker processes a
// packet, the flow's state stays on f until the packet's own callback
// has run (the last acknowledgement of a close ends the flow before
// Packet sees it).
func (sc *scratch) End(f *stream.Flow, _ stream.EndReason) {
	fs, ok := f.User.(*flowState)
	if !ok || fs.done {
		return
	}
	if sc.sweeper {
		f.User = nil
		sc.endState(fs)
		return
	}
	sc.endApp(fs)
	sc.ended = append(sc.ended, fs)
}

// freeEnded frees the flows that ended during a packet.
func (sc *scratch) freeEnded() {
	for i, fs := range sc.ended {
		sc.free(fs)
		sc.ended[i] = nil
	}
	sc.ended = sc.ended[:0]
}

// packet inspects one packet; fs is nil for a packet without a flow.
func (sc *scratch) packet(fs *flowState, p *packet.Parsed, dir buffer.Direction, reassembled bool) {
	if sc.e.rules == nil {
		return
	}
	in := &sc.in
	*in = detect.Input{
		Key: p.Flow(), Time: sc.now, Packet: true, TTL: p.TTL, TCPFlags: uint8(p.TCPFlags),
		ICMPType: p.ICMPType, ICMPCode: p.ICMPCode, Payload: p.Buf[p.PayloadOff : p.PayloadOff+p.PayloadLen],
		Reassembled: reassembled,
	}
	if fs != nil {
		sc.view = view{fs: fs, dir: dir}
		in.Flow = &sc.view
		in.App = fs.appProto()
	}
	sc.inspect(fs, in)
}

// Transaction implements applayer.Handler: detection on the buffers.
func (sc *scratch) Transaction(_ *applayer.Flow, tx *applayer.Tx) {
	fs := sc.fs
	if sc.e.rules == nil || fs == nil {
		return
	}
	in := &sc.in
	sc.view = view{fs: fs, dir: tx.Dir}
	*in = detect.Input{Key: fs.keyOf(tx.Dir), Time: sc.now, Flow: &sc.view, App: tx.App, Buffers: tx.Buffers}
	sc.inspect(fs, in)
}

// Event implements applayer.Handler.
func (sc *scratch) Event(_ *applayer.Flow, ev applayer.Event) {
	e := sc.e
	e.c.events[LayerAppLayer].Add(1)
	out := Event{Time: sc.now, Layer: LayerAppLayer, App: ev.App, Name: ev.Kind.String()}
	if fs := sc.fs; fs != nil {
		out.FlowID = fs.id
		out.Key = fs.keyOf(ev.Dir)
	}
	e.out.Event(out)
}

// inspect runs detection on in and reports what matched.
func (sc *scratch) inspect(fs *flowState, in *detect.Input) {
	e := sc.e
	for _, m := range e.rules.Inspect(sc.det, in) {
		if m.Action == rules.Pass {
			break // the last match: the packet passes, nothing after it counts
		}
		blocked := false
		if e.cfg.Mode == Prevent && m.Action.Blocks() {
			blocked = true
			v := Reject
			if m.Action == rules.Drop {
				v = Drop
			}
			if v > sc.verdict {
				sc.verdict = v
			}
			if fs != nil && v > fs.block {
				fs.block = v
			}
		}
		if !m.Alert {
			continue
		}
		e.c.alerts.Add(1)
		if blocked {
			e.c.blocked.Add(1)
		}
		var id uint64
		if fs != nil {
			id = fs.id
		}
		a := Alert{Time: in.Time, FlowID: id, Key: in.Key, App: in.App, Rule: m.Rule, Blocked: blocked, Frame: sc.frame}
		if in.Packet && in.Key.IsICMP() {
			a.ICMP, a.ICMPType, a.ICMPCode = true, in.ICMPType, in.ICMPCode
		}
		e.out.Alert(a)
	}
}
