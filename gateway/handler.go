package gateway

import (
	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// Worker runs the engine for one datapath worker: it owns its decoding
// struct and its reply buffer, so the per-frame path allocates nothing.
// Nothing in it is shared: one goroutine uses a Worker, and the Engine
// behind it is what workers share.
type Worker struct {
	e     *Engine
	p     packet.Parsed
	reply []byte
	// OnDecision, when set, sees every decision (tests and inspect).
	OnDecision func(p *packet.Parsed, d Decision)
}

// NewWorker returns a datapath.Handler over e.
func (e *Engine) NewWorker() *Worker {
	return &Worker{e: e, reply: make([]byte, 0, 2048)}
}

// Handle implements datapath.Handler.
func (w *Worker) Handle(frame []byte, ci *datapath.CaptureInfo, in datapath.Side, out *datapath.Sender) {
	w.p.Decode(frame)
	d := w.e.Process(&w.p, in)
	if w.OnDecision != nil {
		w.OnDecision(&w.p, d)
	}
	switch d.Verdict {
	case Forward:
		if ci != nil && ci.Flags&datapath.FlagChecksumNotReady != 0 {
			// A local sender left the checksum to offload; the receiver
			// behind us would drop the frame without it.
			w.p.FillChecksum()
		}
		_ = out.Forward(frame)
	case Reject:
		if b := w.rejection(); len(b) > 0 {
			_ = out.Send(in, b)
		}
	}
}

// rejection builds the answer to a rejected packet, as ufw's reject does:
// a TCP RST for TCP, ICMP port unreachable for UDP, administratively
// prohibited for the rest. The builders refuse to answer what must not be
// answered (RSTs, ICMP errors, broadcasts), returning nothing.
func (w *Worker) rejection() []byte {
	p := &w.p
	switch p.Proto {
	case ipproto.TCP:
		return packet.AppendTCPReset(w.reply[:0], p)
	case ipproto.UDP:
		return packet.AppendICMPUnreachable(w.reply[:0], p, packet.UnreachablePort)
	}
	return packet.AppendICMPUnreachable(w.reply[:0], p, packet.UnreachableAdmin)
}
