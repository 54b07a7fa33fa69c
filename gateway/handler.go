package gateway

import (
	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/firewall/policy"
	"github.com/rampart-fw/rampart/guard"
	"github.com/rampart-fw/rampart/ids/defrag"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// Worker runs the engine for one datapath worker: it owns its decoding
// structs and its buffers, so the per-frame path allocates nothing.
// Nothing in it is shared: one goroutine uses a Worker, and the Engine
// behind it is what workers share.
type Worker struct {
	e     *Engine
	p     packet.Parsed
	whole packet.Parsed // a reassembled datagram
	// wbuf holds the reassembled datagram that whole decodes: the largest
	// IP packet behind a link-layer header.
	wbuf  []byte
	reply []byte
	out   emit // the SYN proxy's frames
	// OnDecision, when set, sees every decision (tests and inspect): for
	// a fragment that is held or refused, the fragment and that; for a
	// reassembled datagram, the datagram and its verdict.
	OnDecision func(p *packet.Parsed, d Decision)
}

// NewWorker returns a datapath.Handler over e.
func (e *Engine) NewWorker() *Worker {
	return &Worker{e: e, reply: make([]byte, 0, 2048), wbuf: make([]byte, 0, 65535+64),
		out: emit{back: make([]byte, 0, 128), on: make([]byte, 0, 128)}}
}

// decode decodes frame as its link type says: live ports and most
// captures carry Ethernet, raw-IP captures start at the IP header.
func decode(p *packet.Parsed, frame []byte, ci *datapath.CaptureInfo) {
	if ci != nil && (ci.LinkType == datapath.LinkTypeRaw || ci.LinkType == datapath.LinkTypeIPv4 || ci.LinkType == datapath.LinkTypeIPv6) {
		p.DecodeIP(frame)
		return
	}
	p.Decode(frame)
}

// sender is where a Worker's frames go: a datapath.Sender live, the
// inspect run's sink offline.
type sender interface {
	Send(to datapath.Side, frame []byte) error
}

// Handle implements datapath.Handler.
func (w *Worker) Handle(frame []byte, ci *datapath.CaptureInfo, in datapath.Side, out *datapath.Sender) {
	decode(&w.p, frame, ci)
	w.handle(frame, ci, in, out)
}

// handle runs the pipeline over frame, already decoded into w.p.
func (w *Worker) handle(frame []byte, ci *datapath.CaptureInfo, in datapath.Side, out sender) {
	if w.p.IsFragment {
		w.fragment(frame, ci, in, out)
		return
	}
	d := w.e.process(&w.p, in, ci != nil && ci.ChecksumOffloaded(), &w.out)
	if w.OnDecision != nil {
		w.OnDecision(&w.p, d)
	}
	switch d.Verdict {
	case Proxy:
		w.sendProxied(in, out)
	case Forward:
		if ci != nil && ci.Flags&datapath.FlagChecksumNotReady != 0 {
			// A local sender left the checksum to offload; the receiver
			// behind us would drop the frame without it.
			w.p.FillChecksum()
		}
		_ = out.Send(in.Other(), frame)
	case Reject:
		if b := w.rejection(&w.p); len(b) > 0 {
			_ = out.Send(in, b)
		}
	}
}

// fragment hands a fragment to the defragmenter. Nothing of the datagram
// leaves before it is complete; then it is decoded and judged whole (so
// connection tracking sees the whole segment and the policy the real
// ports), and if it passes, its original fragments go out unchanged in the
// order they came, which keeps the bridge transparent. The defragmenter's
// copies are the frames sent: the ring slots of the earlier fragments
// were reused long ago.
func (w *Worker) fragment(frame []byte, ci *datapath.CaptureInfo, in datapath.Side, out sender) {
	p := &w.p
	d := Decision{Rule: -1, Dir: dirOf(in), Reason: ReasonFragment}
	// Reassembly rewrites the IPv4 header and its checksum: a fragment
	// with a wrong one, which the receiver would have discarded, must not
	// get that far. (The transport checksum is checked on the whole.)
	if w.e.cfg.Checksums != ChecksumsIgnore && p.CheckChecksums(false) != packet.ChecksumOK {
		d.Verdict, d.Reason = Drop, ReasonBadChecksum
		w.e.count(d)
		if w.OnDecision != nil {
			w.OnDecision(p, d)
		}
		return
	}
	// A spoofed source, a LAND or source-routed fragment costs no
	// reassembly memory.
	if r := w.e.guard.CheckSource(p, in); r != guard.Pass {
		d.Verdict, d.Reason, d.Guard = Drop, guardDrop(r), r
		w.e.count(d)
		if w.OnDecision != nil {
			w.OnDecision(p, d)
		}
		return
	}
	// Fragments seen on different ports or VLANs never make one datagram.
	zone := zoneOf(p)<<1 | uint32(in&1)
	r := w.e.frags.Add(frame, p.L3Off, zone, w.e.clock.Now())
	switch r.Status {
	case defrag.Held:
		d.Verdict = Hold
	case defrag.Dropped:
		d.Verdict = Drop
		// Ping of death, teardrop and tiny first fragments are the
		// guard's to count as attacks.
		d.Guard = w.e.guard.FragmentRefused(r.Kind)
	case defrag.NotFragment:
		// The decoder and the defragmenter disagree (a malformed header
		// the decoder half-read): the engine judges the frame as it is
		// (and it is counted once, below).
		d = w.e.decide(p, in, ci != nil && ci.ChecksumOffloaded(), &w.out)
		if d.Verdict == Proxy {
			w.sendProxied(in, out)
		}
	case defrag.Complete:
		w.datagram(r.Datagram, ci, in, out)
		return
	}
	w.e.count(d)
	if w.OnDecision != nil {
		w.OnDecision(p, d)
	}
}

// datagram judges a reassembled datagram and sends its fragments on, or
// the answer to a rejection back.
func (w *Worker) datagram(dg *defrag.Datagram, ci *datapath.CaptureInfo, in datapath.Side, out sender) {
	defer w.e.frags.Release(dg)
	var err error
	if w.wbuf, err = dg.AppendPacket(w.wbuf[:0]); err != nil {
		return
	}
	decode(&w.whole, w.wbuf, ci)
	w.out.rewritten = false
	d := w.e.decide(&w.whole, in, false, &w.out)
	if d.Verdict == Forward && w.out.rewritten && !translateFragments(&w.whole, dg, &w.p) {
		// The translation cannot reach the fragments: better lost (the
		// sender retransmits) than delivered in the wrong numbers.
		d.Verdict, d.Reason = Drop, ReasonInvalid
	}
	w.e.count(d)
	if w.OnDecision != nil {
		w.OnDecision(&w.whole, d)
	}
	switch d.Verdict {
	case Proxy:
		w.sendProxied(in, out)
	case Forward:
		for i := range dg.NumFragments() {
			_ = out.Send(in.Other(), dg.Fragment(i))
		}
	case Reject:
		if b := w.rejection(&w.whole); len(b) > 0 {
			_ = out.Send(in, b)
		}
	}
}

// sendProxied sends the SYN proxy's frames for the packet that arrived on
// in.
func (w *Worker) sendProxied(in datapath.Side, out sender) {
	if len(w.out.back) > 0 {
		_ = out.Send(in, w.out.back)
	}
	if len(w.out.on) > 0 {
		_ = out.Send(in.Other(), w.out.on)
	}
	w.out.back, w.out.on = w.out.back[:0], w.out.on[:0]
}

// dirOf is the policy's direction of a frame that arrived on in.
func dirOf(in datapath.Side) policy.Direction {
	if in == datapath.LAN {
		return policy.Out
	}
	return policy.In
}

// rejection builds the answer to a rejected packet, as ufw's reject does:
// a TCP RST for TCP, ICMP port unreachable for UDP, administratively
// prohibited for the rest. The builders refuse to answer what must not be
// answered (RSTs, ICMP errors, broadcasts), returning nothing.
func (w *Worker) rejection(p *packet.Parsed) []byte {
	switch p.Proto {
	case ipproto.TCP:
		return packet.AppendTCPReset(w.reply[:0], p)
	case ipproto.UDP:
		return packet.AppendICMPUnreachable(w.reply[:0], p, packet.UnreachablePort)
	}
	return packet.AppendICMPUnreachable(w.reply[:0], p, packet.UnreachableAdmin)
}
