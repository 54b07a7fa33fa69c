package gateway

import (
	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/firewall/policy"
	"github.com/rampart-fw/rampart/guard"
	"github.com/rampart-fw/rampart/ids"
	"github.com/rampart-fw/rampart/ids/defrag"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
	"github.com/rampart-fw/rampart/router"
)

// Worker runs the engine for one datapath worker: it owns its decoding
// structs and its buffers, so the per-frame path allocates nothing.
// Nothing in it is shared: one goroutine uses a Worker, and the Engine
// behind it is what workers share.
type Worker struct {
	e     *Engine
	p     packet.Parsed
	whole packet.Parsed // a reassembled datagram
	frag  packet.Parsed // a fragment of it being translated
	// wbuf holds the reassembled datagram that whole decodes: the largest
	// IP packet behind a link-layer header.
	wbuf []byte
	// cut cuts a reassembled datagram too large for a bridge's link
	// into cbuf, one fragment at a time (ForwardReassembled).
	cut   packet.Fragmenter
	cbuf  []byte
	reply []byte
	// fw routes in router mode (Config.Router set), nil in bridge mode;
	// hop is where Ingress routed the frame being handled.
	fw  *router.Forwarder
	hop router.Hop
	// idsw inspects what the firewall forwards; nil without an IDS.
	idsw *ids.Worker
	out  emit // the SYN proxy's frames
	// onward decodes the SYN proxy's onward frame in router mode.
	onward packet.Parsed
	// OnDecision, when set, sees every decision (tests and inspect): for
	// a fragment that is held or refused, the fragment and that; for a
	// reassembled datagram, the datagram and its verdict.
	OnDecision func(p *packet.Parsed, d Decision)
}

// NewWorker returns a datapath.Handler over e.
func (e *Engine) NewWorker() *Worker {
	w := &Worker{e: e, reply: make([]byte, 0, 2048), wbuf: make([]byte, 0, 65535+64),
		cbuf: make([]byte, 0, 65535+64),
		out:  emit{back: make([]byte, 0, 128), on: make([]byte, 0, 128)}}
	if e.cfg.Router != nil {
		w.fw = e.cfg.Router.NewForwarder()
	}
	if e.cfg.IDS != nil {
		w.idsw = e.cfg.IDS.NewWorker()
	}
	return w
}

// decode decodes frame as its link type says (datapath.Decode): live
// ports carry Ethernet or raw IP, captures any link type the readers
// accept. For link types other than Ethernet p.Buf starts at the IP
// header, inside frame.
func decode(p *packet.Parsed, frame []byte, ci *datapath.CaptureInfo) {
	if ci == nil {
		p.Decode(frame)
		return
	}
	datapath.Decode(p, frame, ci.LinkType)
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
//
// In router mode the router sees the frame first (router.Forwarder.Ingress):
// it answers and consumes ARP, neighbour discovery and what is addressed
// to the gateway itself, drops what is never routed, and chooses the route
// of the rest. The pipeline then judges the packet exactly as in bridge
// mode, and a packet it forwards leaves through the router (pass).
func (w *Worker) handle(frame []byte, ci *datapath.CaptureInfo, in datapath.Side, out sender) {
	if w.fw != nil {
		h, ok := w.fw.Ingress(&w.p, in, out)
		if !ok {
			return
		}
		if h.Local && (w.e.cfg.NAT == nil || !w.e.cfg.NAT.Claims(&w.p)) {
			// Addressed to the gateway itself, and not to a mapping or a
			// port forward of its address: the router answers it.
			w.fw.Deliver(&w.p, in, out)
			return
		}
		// A packet the NAT claims goes through the pipeline like any
		// other; the translation rewrites its destination, and Forward
		// routes it by the new one.
		w.hop = h
	}
	if w.p.IsFragment {
		w.fragment(frame, ci, in, out)
		return
	}
	d := w.e.decide(&w.p, in, ci != nil && ci.ChecksumOffloaded(), &w.out)
	w.inspect(&w.p, &d)
	w.e.count(d)
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
		w.pass(frame, ci, in, out)
	case Reject:
		if b := w.rejection(&w.p, d); len(b) > 0 {
			_ = out.Send(in, b)
		}
	}
}

// fragment hands a fragment to the defragmenter. Nothing of the datagram
// leaves before it is complete; then it is decoded and judged whole (so
// connection tracking sees the whole segment and the policy the real
// ports), and if it passes, what goes out is as Config.FragmentForward
// says: its original fragments unchanged in the order they came, which
// keeps the bridge transparent (the defragmenter's copies are the frames
// sent: the ring slots of the earlier fragments were reused long ago), or
// the datagram judged.
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
	// A fragment that expires before its destination (the IDS knows
	// the hops; in router mode the router's own hop takes a TTL of 1)
	// would make the reassembly the IDS inspects differ from what the
	// host receives: it takes no part in it, and since it would expire
	// on the way it is dropped, in either mode.
	if w.idsw != nil && !w.idsw.Fragment(p, w.e.clock.Now()) {
		d.Verdict, d.Reason = Drop, ReasonIDS
		w.e.count(d)
		if w.OnDecision != nil {
			w.OnDecision(p, d)
		}
		return
	}
	// Fragments seen on different ports or VLANs never make one datagram.
	zone := zoneOf(p)<<1 | uint32(in&1)
	// p.Buf lies inside frame: after the link-layer header of a capture's
	// cooked or loopback frame, at its start for Ethernet.
	l3 := cap(frame) - cap(p.Buf) + p.L3Off
	r := w.e.frags.Add(frame, l3, zone, w.e.clock.Now())
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

// datagram judges a reassembled datagram and sends it on, as its
// fragments or whole (Config.FragmentForward), or the answer to a
// rejection back.
func (w *Worker) datagram(dg *defrag.Datagram, ci *datapath.CaptureInfo, in datapath.Side, out sender) {
	defer w.e.frags.Release(dg)
	var err error
	if w.wbuf, err = dg.AppendPacket(w.wbuf[:0]); err != nil {
		return
	}
	decode(&w.whole, w.wbuf, ci)
	src, dst := w.whole.Src, w.whole.Dst
	whole := w.e.cfg.FragmentForward == ForwardReassembled && cuttable(&w.whole)
	w.out.rewritten = false
	d := w.e.decide(&w.whole, in, false, &w.out)
	if d.Verdict == Forward && w.out.rewritten && !whole && !translateFragments(&w.whole, dg, &w.p) {
		// The translation cannot reach the fragments: better lost (the
		// sender retransmits) than delivered in the wrong numbers.
		d.Verdict, d.Reason = Drop, ReasonInvalid
	}
	// The IDS inspects the whole datagram. Forwarded whole, it carries
	// what the normaliser rewrote in prevention mode; forwarded as its
	// original fragments, it does not: fragmented TCP is then inspected,
	// not normalised.
	w.inspect(&w.whole, &d)
	w.e.count(d)
	if w.OnDecision != nil {
		w.OnDecision(&w.whole, d)
	}
	switch d.Verdict {
	case Proxy:
		w.sendProxied(in, out)
	case Forward:
		// The NAT rewrote w.whole itself: what goes out is that. (In
		// bridge mode, where there is no NAT, a datagram the link's MTU
		// does not let be cut goes out as its original fragments.)
		if whole && w.sendWhole(dg, in, out) {
			return
		}
		// A translated datagram's fragments are translated alike.
		nat := w.whole.Src != src || w.whole.Dst != dst
		for i := range dg.NumFragments() {
			if nat && !w.translateFragment(dg.Fragment(i), ci) {
				return
			}
		}
		for i := range dg.NumFragments() {
			if w.fw == nil {
				_ = out.Send(in.Other(), dg.Fragment(i))
				continue
			}
			// Each fragment is routed as it is: the datagram's verdict,
			// the fragment's own TTL and size.
			decode(&w.p, dg.Fragment(i), ci)
			w.fw.Forward(&w.p, in, w.hop, router.Frame{}, out)
		}
	case Reject:
		if b := w.rejection(&w.whole, d); len(b) > 0 {
			_ = out.Send(in, b)
		}
	}
}

// cuttable reports whether a reassembled datagram can be cut into
// fragments here (packet.Fragmenter), and so be forwarded whole: not IPv4
// with DF set (a sender's fragments normally have it clear; with it set,
// the datagram could neither be cut nor answered with fragmentation
// needed, its fragments having fitted), not IPv6 with extension headers.
func cuttable(p *packet.Parsed) bool {
	if p.Invalid != packet.Valid {
		return false
	}
	if p.IPVersion == 4 {
		return !p.DontFragment
	}
	return p.NumExt == 0
}

// sendWhole forwards the reassembled datagram in w.whole: in router mode
// through the router, which cuts IPv4 larger than the link's MTU and,
// told the source's fragment size, IPv6; in bridge mode whole when it
// fits the link, cut as the router would otherwise. IPv6 never leaves in
// fragments larger than its source's: the source sized them for the path
// beyond (its path MTU), where no router may cut them again.
//
// It reports false, having sent nothing, only in bridge mode when the
// datagram cannot be cut for the link (an MTU below the minimum of its
// IP version).
func (w *Worker) sendWhole(dg *defrag.Datagram, in datapath.Side, out sender) bool {
	p := &w.whole
	id := dg.Key().ID
	size := 0
	if p.IPVersion == 6 {
		for i := range dg.NumFragments() {
			size = max(size, len(dg.Fragment(i))-dg.FragmentL3(i))
		}
	}
	if w.fw != nil {
		w.fw.Forward(p, in, w.hop, router.Frame{Refragment: size, FragmentID: id}, out)
		return true
	}
	to := in.Other()
	mtu := w.e.cfg.MTU[to&1]
	if mtu <= 0 {
		mtu = 1500
	}
	if size > 0 {
		mtu = min(mtu, max(size, packet.MinMTUv6))
	}
	if len(p.Buf)-p.L3Off <= mtu {
		_ = out.Send(to, w.wbuf)
		return true
	}
	if w.cut.Reset(p, mtu, id) != nil {
		return false
	}
	// A capture's link-layer header other than Ethernet lies before
	// p.Buf (decode): every fragment starts with it too.
	link := w.wbuf[:cap(w.wbuf)-cap(p.Buf)]
	for {
		b, ok := w.cut.Next(append(w.cbuf[:0], link...))
		if !ok {
			return true
		}
		w.cbuf = b
		_ = out.Send(to, b)
	}
}

// pass sends frame, decoded in w.p, which the pipeline let through, on its way: in bridge mode
// out of the other side unchanged; in router mode through the router,
// which decrements the TTL, fragments or refuses what is too large for
// the link, and hands it to its next hop's link-layer address.
func (w *Worker) pass(frame []byte, ci *datapath.CaptureInfo, in datapath.Side, out sender) {
	if w.fw == nil {
		_ = out.Send(in.Other(), frame)
		return
	}
	p := &w.p
	// NAT: the hook for address translation is here, after the verdict
	// of connection tracking and the policy and before the router's
	// rewrite: a translation rewrites w.p (addresses, ports, checksums) in
	// place, and Forward routes the packet again when its destination
	// has changed (a port forward to an inside host).
	var fr router.Frame
	if ci != nil {
		if ci.VNet.IsGSO() {
			fr.GSOSize, fr.HdrLen = int(ci.VNet.GSOSize), int(ci.VNet.HdrLen)
		}
		fr.ChecksumPending = ci.VNet.NeedsChecksum()
	}
	w.fw.Forward(p, in, w.hop, fr, out)
}

// inspect runs the IDS over a packet the firewall forwards: in
// prevention mode a drop or reject rule, or the normaliser, turns the
// decision into a drop or a rejection.
//
// In router mode a packet whose TTL is 1 or less never reaches the IDS:
// the router does not forward it but answers it with time exceeded
// (traceroute's probes), so it is not delivered and must not be inspected
// as if it were. The IDS itself counts the router's hop for the rest
// (ids.Config.Routed).
func (w *Worker) inspect(p *packet.Parsed, d *Decision) {
	if w.idsw == nil || d.Verdict != Forward || w.fw != nil && p.TTL <= 1 {
		return
	}
	switch w.idsw.Inspect(p, w.e.clock.Now()) {
	case ids.Drop:
		d.Verdict, d.Reason = Drop, ReasonIDS
	case ids.Reject:
		d.Verdict, d.Reason = Reject, ReasonIDS
	}
}

// sendProxied sends the SYN proxy's frames for the packet that arrived on
// in.
//
// What goes back to the sender carries the arriving frame's Ethernet
// addresses swapped, right in either mode. What goes on (the SYN that
// opens the server's side, the window update to the client) carries the
// arriving frame's own addresses: right for a bridge; a router sends it
// through Forward, to the next hop the packet's route chose.
func (w *Worker) sendProxied(in datapath.Side, out sender) {
	if len(w.out.back) > 0 {
		_ = out.Send(in, w.out.back)
	}
	if len(w.out.on) > 0 {
		if w.fw == nil {
			_ = out.Send(in.Other(), w.out.on)
		} else {
			w.onward.Decode(w.out.on)
			w.fw.Forward(&w.onward, in, w.hop, router.Frame{}, out)
		}
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
// prohibited for the rest, and for every protocol when the NAT had no
// mapping to give (RFC 5508 REQ-8). The builders refuse to answer what
// must not be answered (RSTs, ICMP errors, broadcasts), returning nothing.
func (w *Worker) rejection(p *packet.Parsed, d Decision) []byte {
	switch {
	case d.Reason == ReasonNAT:
		return packet.AppendICMPUnreachable(w.reply[:0], p, packet.UnreachableAdmin)
	}
	switch p.Proto {
	case ipproto.TCP:
		return packet.AppendTCPReset(w.reply[:0], p)
	case ipproto.UDP:
		return packet.AppendICMPUnreachable(w.reply[:0], p, packet.UnreachablePort)
	}
	return packet.AppendICMPUnreachable(w.reply[:0], p, packet.UnreachableAdmin)
}
