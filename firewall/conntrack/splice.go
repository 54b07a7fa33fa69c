package conntrack

import (
	"net/netip"

	"github.com/rampart-fw/rampart/ipproto"
)

// Splice is what a connection spliced by a SYN proxy carries for its whole
// life, as Linux keeps it in the seqadj and synproxy extensions of the
// conntrack entry: the proxy answered the client's SYN itself (with a
// SYN cookie as its initial sequence number), and opened the server's
// side only once the client's ACK proved the client real, so the two ends
// chose different initial sequence numbers, timestamp clocks and window
// scales, and every segment between them is translated.
//
// The table tracks both directions in their senders' own numbers, as
// Linux's seqadj does: the client's acknowledgements of the server's data
// are in the client's view of the server's numbers, so the table takes
// SeqDelta off them (and off the SACK edge) before it checks them, and
// gives the client's windows the shift OrigWinShift (see below) that the
// proxy's rewrite gives them. It reads nothing else of a Splice; the rest
// is the proxy's, kept here so that the proxy itself keeps no state.
//
// A Splice can be stored only in a table made with Config.Splices.
type Splice struct {
	// Active is set once the server's SYN/ACK has been seen and the
	// translation below applies. Until then the entry waits for it (in
	// SYN_SENT), and the proxy's notes say what to send when it comes.
	Active bool

	// The proxy's notes of the handshake it held with the client, set
	// when it opens the server's side.
	ISN       uint32 // the proxy's initial sequence number: the cookie the client acknowledged
	ClientISN uint32 // the client's
	ProxyTS   uint32 // the proxy's timestamp value the client echoed (with SpliceTS)
	ClientTS  uint32 // the client's timestamp value (with SpliceTS)
	Window    uint16 // the window of the client's ACK, as sent
	MSS       uint16 // the client's MSS, as the cookie held it
	WScale    uint8  // the client's window scale (with SpliceWScale)
	Options   uint8  // SpliceWScale, SpliceSACK, SpliceTS, SpliceECN: what the client offered

	// The translation, set when the server's SYN/ACK is seen.
	//
	// SeqDelta is added to the server's sequence numbers on their way to
	// the client (the proxy's ISN less the server's) and taken off the
	// client's acknowledgements and SACK blocks on their way back.
	SeqDelta uint32
	// TSDelta is taken off the server's timestamp values on their way to
	// the client (the server's clock less the proxy's) and added to the
	// client's echo replies.
	TSDelta uint32
	// ReplyWinFrom and ReplyWinTo rescale the server's windows: scaled by
	// the server's shift (0 when it refused scaling), read by the client
	// with the proxy's (0 when the client did not offer scaling).
	ReplyWinFrom, ReplyWinTo uint8
	// OrigWinShift scales the client's windows up for a server that
	// refused window scaling the client had asked for (and the proxy
	// granted): the client scales them down by it.
	OrigWinShift uint8
}

// The client's offered options, in Splice.Options.
const (
	SpliceWScale uint8 = 1 << iota
	SpliceSACK
	SpliceTS
	SpliceECN
)

// Splice returns the splice of entry id, if it exists and has one.
func (t *Table) Splice(id ID) (Splice, bool) {
	s, slot, ok := t.decode(id)
	if !ok || s.splices == nil {
		return Splice{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.holds(slot, id) || s.entries[slot].status&stSpliced == 0 {
		return Splice{}, false
	}
	return s.splices[slot], true
}

// SetSplice replaces the splice of entry id, which must have one (Create
// gave it one); it reports whether it did.
func (t *Table) SetSplice(id ID, sp Splice) bool {
	s, slot, ok := t.decode(id)
	if !ok || s.splices == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.holds(slot, id) || s.entries[slot].status&stSpliced == 0 {
		return false
	}
	s.splices[slot] = sp
	return true
}

// spliceSegment puts the client's segment sg of a spliced entry in the
// server's numbers, as the proxy's rewrite will.
func (s *shard) spliceSegment(idx int32, sg *segment) {
	sp := &s.splices[idx]
	if !sp.Active {
		return
	}
	sg.ack -= sp.SeqDelta
	sg.sackRight -= sp.SeqDelta
	if sp.OrigWinShift > 0 {
		sg.win = min(sg.win<<sp.OrigWinShift, 0xffff)
	}
}

// HalfOpen counts, for each of dsts, the TCP connections to an address in
// it that are half open: their SYN was let through (SYN_SENT) or answered
// (SYN_RECV), and the client's ACK has not been seen. It adds to counts,
// which must be as long as dsts. It walks every entry, a shard at a time
// under the shard's lock, copying nothing: for a SYN proxy's auto mode,
// a second or so apart (pf's adaptive syncookies count half-open states
// too).
func (t *Table) HalfOpen(dsts []netip.Prefix, counts []int) {
	for si := range t.shards {
		s := &t.shards[si]
		s.mu.Lock()
		for j := range s.entries {
			e := &s.entries[j]
			if e.status&stLive == 0 || e.orig.proto != ipproto.TCP {
				continue
			}
			if st := TCPState(e.tcp.state); st != TCPSynSent && st != TCPSynRecv {
				continue
			}
			dst := addrOf(&e.orig.dst, e.orig.v4)
			for i, p := range dsts {
				if p.Contains(dst) {
					counts[i]++
					break
				}
			}
		}
		s.mu.Unlock()
	}
}
